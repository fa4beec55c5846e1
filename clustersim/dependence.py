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

Storage is sparse: one dict per month of (payee, payer) → k€, kept for 12 months, and rolling
sums; the per-order check reads plain dicts prepared once a month.
"""

from __future__ import annotations

from collections import deque
from operator import itemgetter

import numpy as np

WINDOW = 12  # months of revenue by partner kept
DEPENDENT_SHARE = 0.3  # a firm taking more than this from one lead counts as dependent (F6)


class PartnerRevenue:
    """Rolling 12-month revenue of every firm by the lead that paid it, and its output."""

    def __init__(self) -> None:
        self._months: deque[dict[tuple[int, int], float]] = deque()
        self._this_month: dict[tuple[int, int], float] = {}
        self.received: dict[tuple[int, int], float] = {}  # (payee, payer) → k€, last 12 months
        self._outputs: deque[np.ndarray] = deque()
        self.output = np.zeros(0)  # k€ of revenue per firm over the last 12 months

    def record(self, payer: int, payee: int, amount: float) -> None:
        """A lead paid a partner for its share of a delivered job."""
        key = (payee, payer)
        self._this_month[key] = self._this_month.get(key, 0.0) + amount

    def end_month(self, revenue_month: np.ndarray) -> None:
        """Close the month: add its payments and revenue, drop those 12 months old."""
        month, self._this_month = self._this_month, {}
        for key, amount in month.items():
            self.received[key] = self.received.get(key, 0.0) + amount
        self._months.append(month)
        revenue = np.maximum(np.asarray(revenue_month, dtype=float), 0.0)
        self._outputs.append(revenue.copy())
        if len(self.output) < len(revenue):
            self.output = np.concatenate([self.output, np.zeros(len(revenue) - len(self.output))])
        self.output[: len(revenue)] += revenue
        if len(self._months) > WINDOW:
            for key, amount in self._months.popleft().items():
                left = self.received[key] - amount
                if left <= 1e-9:
                    del self.received[key]
                else:
                    self.received[key] = left
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
        count = len(self.received)
        if not count:
            return best
        output = self.output_of(n)
        payee = np.fromiter(map(itemgetter(0), self.received), dtype=np.int64, count=count)
        amount = np.fromiter(self.received.values(), dtype=np.float64, count=count)
        keep = (payee < n)
        payee, amount = payee[keep], amount[keep]
        earning = output[payee] > 0
        np.maximum.at(best, payee[earning], amount[earning] / output[payee[earning]])
        return np.minimum(best, 1.0)

    def paid_out(self, n: int) -> np.ndarray:
        """What each firm paid its partners over the last 12 months (k€): how big a customer."""
        paid = np.zeros(n)
        for (_payee, payer), amount in self.received.items():
            if payer < n:
                paid[payer] += amount
        return paid

    def dependants(self, payer: int, threshold: float = DEPENDENT_SHARE) -> list[int]:
        """Firms that took more than ``threshold`` of their output from ``payer``."""
        return sorted(payee for (payee, p), amount in self.received.items()
                      if p == payer and self.output[payee] > 0
                      and amount / self.output[payee] > threshold)
