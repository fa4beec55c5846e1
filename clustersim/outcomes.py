"""A run's outcomes: the handful of numbers a sweep keeps per run and analysts compare.

One float per name in :data:`OUTCOMES`, computed from a finished model by
:func:`summarise`. The same dict is what :func:`clustersim.run_scenario` returns (for
EMA Workbench and other tools), what the results store keeps in its ``summaries``
table, and what the report compares between arms. :data:`OUTCOME_INFO` says, for each,
what it means, its unit and whether more is better (for labels and value for money).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clustersim.facts import FACTS, fact_measures

if TYPE_CHECKING:
    import pandas as pd

    from clustersim.model import ClusterModel


@dataclass(frozen=True)
class Outcome:
    label: str
    unit: str
    higher_is_better: bool | None  # None: neither (a count of churn, a spend)
    description: str
    kind: str = "outcome"  # "fact": a stylised-fact measure (clustersim.facts), kept, not compared


# Window after a shock's start over which network growth is summed (H11, docs/ODD.md §7.14).
AFTER_SHOCK_MONTHS = 12

OUTCOME_INFO: dict[str, Outcome] = {
    "innovations": Outcome("Innovations", "count", True,
                           "innovations over the whole run (products new to the cluster)"),
    "initial_cohort_survival": Outcome("Survival", "share", True,
                                       "share of the firms alive at month 0 still alive at the end"),
    "firms_alive": Outcome("Firms alive", "count", True, "firms alive at the end"),
    "employment_change": Outcome("Employment change", "ratio", True,
                                 "employment at the end / employment at month 0"),
    "revenue": Outcome("Revenue", "k€", True, "the cluster's revenue over the whole run"),
    "win_share": Outcome("Orders won", "share", True,
                         "share of the orders offered to the cluster that it won"),
    "entries": Outcome("Entries", "count", None, "new firms (spin-offs) over the run"),
    "exits": Outcome("Exits", "count", None, "firm exits over the run"),
    "mean_degree": Outcome("Mean degree", "ties", None, "trusted ties per firm at the end"),
    "clustering": Outcome("Clustering", "coefficient", None,
                          "clustering coefficient of the trust network at the end"),
    "largest_component_share": Outcome("Largest component", "share", None,
                                       "share of firms in the largest connected component"),
    "mean_trust": Outcome("Mean trust", "0-1", True, "mean trust over ties at the end"),
    "formal_network_share": Outcome("In formal networks", "share", None,
                                    "share of firms in an active formal network at the end"),
    "policy_spend": Outcome("Policy spend", "k€", None, "public money the policies paid out"),
    "shock_depth": Outcome("Shock depth", "share", False,
                           "1 − trough / pre-shock revenue, first shock (NaN without one)"),
    "months_to_recover": Outcome("Months to recover", "months", False,
                                 "months from the first shock's start until revenue is back at "
                                 "95% of its pre-shock level (NaN: no shock, or never)"),
    "recovered": Outcome("Recovered", "share", True,
                         "1 if revenue got back to 95% of its pre-shock level, 0 if not, "
                         "NaN without a shock"),
    "ties_formed_after_shock": Outcome(
        "Ties formed after the shock", "count", None,
        f"ties formed in the {AFTER_SHOCK_MONTHS} months from the first shock's start "
        "(network growth after a crisis or opportunity, H11; NaN without a shock)"),
    "new_ties_per_order_after_shock": Outcome(
        "New ties per order won after the shock", "ties per order", None,
        f"ties formed / orders won in the {AFTER_SHOCK_MONTHS} months from the first shock's "
        "start: how often the teams formed then brought in a stranger (NaN without a shock)"),
    "strangers_searched_after_shock": Outcome(
        "Strangers looked at after the shock", "count", None,
        f"strangers leads looked at in the {AFTER_SHOCK_MONTHS} months from the first "
        "shock's start (NaN without a shock)"),
    "project_success": Outcome(
        "Joint projects succeeding", "share", True,
        "share of the grant-funded joint projects ended by the end of the run that succeeded "
        "(NaN without one; H8)"),
    "prepared_project_success": Outcome(
        "Broker-prepared projects succeeding", "share", True,
        "the same for projects whose consortium a broker proposed (NaN without one; H8)"),
    "unprepared_project_success": Outcome(
        "Other projects succeeding", "share", True,
        "the same for projects whose consortium a lead firm put together (NaN without one; H8)"),
    "export_revenue": Outcome(
        "Export revenue", "k€", True,
        "revenue from export orders over the run (0 without an export market; docs/ODD.md §7.15)"),
    "partner_shock_survival": Outcome(
        "Partners of the hit customer surviving", "share", True,
        "share of the firms the customer hit by a largest_customer supply disruption had paid "
        "in the 12 months before it that are alive at the end (NaN without one; H6)"),
}

# The stylised facts' measures are kept with every run too, for `clustersim facts`.
OUTCOME_INFO.update({
    fact.measure: Outcome(f"{fact.id}: {fact.short}", "", None, fact.label, kind="fact")
    for fact in FACTS})

OUTCOMES: list[str] = list(OUTCOME_INFO)
# The outcomes analysts compare between arms (reports, verdicts), without the fact measures.
COMPARED_OUTCOMES: list[str] = [name for name, info in OUTCOME_INFO.items() if info.kind == "outcome"]


def summarise(model: ClusterModel, timeseries: pd.DataFrame | None = None) -> dict[str, float]:
    """Every outcome of a finished run, as floats (NaN where there is nothing to compute)."""
    from clustersim.resilience import resilience_table

    ts = model.timeseries() if timeseries is None else timeseries
    totals = model.totals()
    last = ts.iloc[-1]
    first_employment = float(ts["employment"].iloc[0])
    orders = totals.get("orders", 0.0)
    out: dict[str, float] = {
        "innovations": totals.get("innovations", 0.0),
        "initial_cohort_survival": float(last["initial_cohort_survival"]),
        "firms_alive": float(last["firms_alive"]),
        "employment_change": (float(last["employment"]) / first_employment
                              if first_employment > 0 else math.nan),
        "revenue": totals.get("revenue", 0.0),
        "win_share": totals.get("orders_won", 0.0) / orders if orders > 0 else math.nan,
        "entries": totals.get("entries", 0.0),
        "exits": totals.get("exits", 0.0),
        "mean_degree": float(last["mean_degree"]),
        "clustering": float(last["clustering"]),
        "largest_component_share": float(last["largest_component_share"]),
        "mean_trust": float(last["mean_trust"]),
        "formal_network_share": float(last["formal_network_share"]),
        "policy_spend": float(last["policy_spend_cum"]),
        "shock_depth": math.nan,
        "months_to_recover": math.nan,
        "recovered": math.nan,
        "ties_formed_after_shock": math.nan,
        "new_ties_per_order_after_shock": math.nan,
        "strangers_searched_after_shock": math.nan,
    }
    if model.scenario.shocks:
        first = resilience_table(model.scenario.shocks[:1], ts).iloc[0]
        recovered = bool(first["recovered"])
        out["shock_depth"] = float(first["depth"])
        out["months_to_recover"] = float(first["months_to_recover"]) if recovered else math.nan
        out["recovered"] = 1.0 if recovered else 0.0
        start = model.scenario.shocks[0].start
        window = ts[(ts["step"] >= start) & (ts["step"] < start + AFTER_SHOCK_MONTHS)]
        out["ties_formed_after_shock"] = float(window["ties_formed"].sum())
        won = float(window["orders_won"].sum())
        out["new_ties_per_order_after_shock"] = (out["ties_formed_after_shock"] / won if won > 0
                                                 else math.nan)
        out["strangers_searched_after_shock"] = float(window["strangers_searched"].sum())
    out["partner_shock_survival"] = _partners_surviving(model)
    out["export_revenue"] = float(ts["export_revenue"].sum()) if "export_revenue" in ts else 0.0
    out.update(_project_success(model))
    out.update(fact_measures(model, ts))
    return {name: float(out[name]) for name in OUTCOMES}


def _partners_surviving(model: ClusterModel) -> float:
    """Share alive at the end of the partners of a hit 'kingdom' customer (H6)."""
    partners = [i for shock in model.shocks for i in (getattr(shock, "partners", None) or [])]
    if not partners:
        return math.nan
    return float(model.firms.alive[partners].mean())


def _project_success(model: ClusterModel) -> dict[str, float]:
    """Share of ended joint projects that succeeded: all, broker-prepared, the others (H8)."""
    ended = [p for p in model.joint_projects if not p.running]

    def rate(projects: list) -> float:
        return (sum(p.outcome == "succeeded" for p in projects) / len(projects) if projects
                else math.nan)

    return {"project_success": rate(ended),
            "prepared_project_success": rate([p for p in ended if p.broker_prepared]),
            "unprepared_project_success": rate([p for p in ended if not p.broker_prepared])}
