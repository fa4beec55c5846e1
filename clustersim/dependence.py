"""Revenue by partner: how much of a firm's output goes through one lead (docs/ODD.md §7.13, H6).

Small firms are advised to let no single customer or network take more than about 20-30% of
their output (003:L2277-2282, L4327, F6). To ask whether following that advice helps after a
partner-specific shock, the model records, for every firm, what each lead firm paid it over the
last 12 months, and the firm's output over the same months (its revenue: customer payments it
kept as a lead plus partner payments it received). A firm's share from one lead is the first
over the second; its *dependence* is the largest such share.

With ``firms.dependence_cap`` set, a firm declines a place in a team when what the lead would
then have paid it over 12 months would exceed the cap × its output. Output is measured against
a reference that a newcomer also has: the larger of its 12-month output and what its staff
would earn in a year at the utilisation firms plan for (employees × 12 × target utilisation ×
price), so a firm with no history is not locked out by its first order.

Storage is sparse: per month the (payee, payer) pairs paid and their k€, kept for 12 months,
and rolling sums by pair, in flat arrays (:class:`~clustersim.keyed.KeyedValues`, pairs in the
order they were first paid, as a dict keeps them); the per-order check reads a plain dict
prepared once a month.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from clustersim.keyed import KeyedValues

WINDOW = 12  # months of revenue by partner kept
DEPENDENT_SHARE = 0.3  # a firm taking more than this from one lead counts as dependent (F6)
KEY_BASE = 1 << 32  # the pair (payee, payer) is kept under payee × base + payer
GONE = 1e-9  # a pair whose 12-month sum falls to this (k€) is dropped


class PartnerRevenue:
    """Rolling 12-month revenue of every firm by the lead that paid it, and its output."""

    def __init__(self) -> None:
        self._months: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (pair keys, k€) a month
        self._this_month = KeyedValues()
        self._received = KeyedValues()  # pair key → k€, last 12 months
        self._received_dict: dict[tuple[int, int], float] | None = None
        self._outputs: deque[np.ndarray] = deque()
        self.output = np.zeros(0)  # k€ of revenue per firm over the last 12 months

    def record(self, payer: int, payee: int, amount: float) -> None:
        """A lead paid a partner for its share of a delivered job."""
        self.record_many(np.array([payer]), np.array([payee]), np.array([amount], dtype=float))

    def record_many(self, payer: np.ndarray, payee: np.ndarray, amount: np.ndarray) -> None:
        """Payments in turn, as :meth:`record` one by one."""
        self._this_month.add(np.asarray(payee, dtype=np.int64) * KEY_BASE
                             + np.asarray(payer, dtype=np.int64), amount)

    @property
    def received(self) -> dict[tuple[int, int], float]:
        """(payee, payer) → k€ over the last 12 months, in the order the pairs were first
        paid (built on demand, until the month closes; for reading)."""
        if self._received_dict is None:
            keys, amounts = self._received.items()
            self._received_dict = dict(zip(zip((keys // KEY_BASE).tolist(),
                                               (keys % KEY_BASE).tolist(), strict=True),
                                           amounts.tolist(), strict=True))
        return self._received_dict

    def end_month(self, revenue_month: np.ndarray) -> None:
        """Close the month: add its payments and revenue, drop those 12 months old."""
        month = self._this_month.items()
        self._this_month = KeyedValues()
        self._received.add(*month)
        self._received_dict = None
        self._months.append(month)
        revenue = np.maximum(np.asarray(revenue_month, dtype=float), 0.0)
        self._outputs.append(revenue.copy())
        if len(self.output) < len(revenue):
            self.output = np.concatenate([self.output, np.zeros(len(revenue) - len(self.output))])
        self.output[: len(revenue)] += revenue
        if len(self._months) > WINDOW:
            self._received.take(*self._months.popleft(), GONE)
            old = self._outputs.popleft()
            self.output[: len(old)] -= old
            np.maximum(self.output, 0.0, out=self.output)

    def output_of(self, n: int) -> np.ndarray:
        """12-month output of firms 0..n−1 (0 for firms that entered since the last month)."""
        output = np.zeros(n)
        output[: min(n, len(self.output))] = self.output[:n]
        return output

    def max_share(self, n: int | None = None) -> np.ndarray:
        """Each firm's largest 12-month share of its output that came from one lead (0 without
        output); firms 0..n−1."""
        n = len(self.output) if n is None else n
        best = np.zeros(n)
        if not len(self._received):
            return best
        output = self.output_of(n)
        keys, amount = self._received.items()
        payee = keys // KEY_BASE
        keep = (payee < n)
        payee, amount = payee[keep], amount[keep]
        earning = output[payee] > 0
        np.maximum.at(best, payee[earning], amount[earning] / output[payee[earning]])
        return np.minimum(best, 1.0)

    def paid_out(self, n: int) -> np.ndarray:
        """What each firm paid its partners over the last 12 months (k€): how big a customer."""
        paid = np.zeros(n)
        keys, amount = self._received.items()
        payer = keys % KEY_BASE
        inside = payer < n
        np.add.at(paid, payer[inside], amount[inside])  # in order, as one by one
        return paid

    def dependants(self, payer: int, threshold: float = DEPENDENT_SHARE) -> list[int]:
        """Firms that took more than ``threshold`` of their output from ``payer``."""
        return sorted(payee for (payee, p), amount in self.received.items()
                      if p == payer and self.output[payee] > 0
                      and amount / self.output[payee] > threshold)
