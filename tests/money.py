"""The money check every mechanism's property test runs (docs/ODD.md §7.8)."""

import math


def step_and_check_money(model, months: int) -> None:
    """Run ``months`` months; each month the change in firms' cash must equal the ledger's net
    flow, and what leads paid partners what partners received."""
    f = model.firms
    before = float(f.cash[: f.n].sum())
    for _ in range(months):
        model.step()
        after = float(f.cash[: f.n].sum())
        assert math.isclose(after - before, model.net_cash_flow(), rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(model.ledger["partner_payments_made"],
                            model.ledger["partner_payments_received"], rel_tol=1e-9, abs_tol=1e-6)
        before = after
