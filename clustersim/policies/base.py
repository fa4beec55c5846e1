"""The shared interface of policy instruments and the record of every unit spent.

A policy is configured by one ``[[policies]]`` table (its pydantic config class is
part of the scenario schema) and run by one :class:`Policy` object: ``start`` month,
``duration`` in months (then it stops: sunset), a ``budget`` in k€ per 1,000 firms, and
:meth:`Policy.step`, called once a month while the programme runs. Money leaves a
policy only through :meth:`Policy.pay`, which never lets it spend beyond its budget
and records the payment with the programme owner (:class:`ProgrammeLedger`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from clustersim.config.policies import PolicyConfig

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

# Whom a policy pays: firms (grants), hubs (seed money) or outside the cluster
# (brokers' salaries, campaign costs); the ledger keeps the kind and the id.
RECIPIENT_FIRM = "firm"
RECIPIENT_HUB = "hub"
RECIPIENT_OUTSIDE = "outside"


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment by a policy: when, which programme, to whom, what for, how much."""

    month: int
    policy: str  # e.g. "brokers#0": type and position in the scenario's list
    recipient_kind: str
    recipient: int  # firm index, hub index, or −1 outside the cluster
    purpose: str
    amount: float  # k€
    targeting: str = "open"  # the programme's targeting (clustersim/targeting.py)
    recipient_degree: int = -1  # a firm recipient's ties when paid (−1: not a firm)
    recipient_employees: float = -1.0  # a firm recipient's employees when paid (−1: not a firm)


class ProgrammeLedger:
    """Every unit of policy money, per policy, per month, per recipient."""

    def __init__(self) -> None:
        self.payments: list[Payment] = []
        self.spent_by_policy: dict[str, float] = {}
        self.spent_this_month = 0.0
        self.spent_total = 0.0

    def record(self, payment: Payment) -> None:
        self.payments.append(payment)
        self.spent_by_policy[payment.policy] = self.spent_by_policy.get(payment.policy, 0.0) + payment.amount
        self.spent_this_month += payment.amount
        self.spent_total += payment.amount

    def frame(self) -> Any:
        """All payments as a pandas DataFrame."""
        import pandas as pd

        columns = ["month", "policy", "recipient_kind", "recipient", "purpose", "amount",
                   "targeting", "recipient_degree", "recipient_employees"]
        return pd.DataFrame([[getattr(p, c) for c in columns] for p in self.payments],
                            columns=columns)


class Policy:
    """One running programme of an instrument."""

    type_name: ClassVar[str] = ""
    config_class: ClassVar[type[PolicyConfig]] = PolicyConfig

    def __init__(self, config: PolicyConfig, model: ClusterModel, index: int):
        self.config = config
        self.model = model
        self.name = f"{config.type}#{index}"
        self.start = config.start
        self.duration = config.duration
        self.budget = config.total_budget(model.scenario.firms.count)  # k€, in all
        self.spent = 0.0
        self.targeting = str(getattr(config, "targeting", "open"))  # docs/ODD.md §7.8
        self.supported: set[int] = set()  # firms it has supported (targeting "spread")

    @property
    def remaining(self) -> float:
        return max(0.0, self.budget - self.spent)

    def active(self, month: int) -> bool:
        """Whether the programme runs in ``month`` (it stops after its duration)."""
        return self.start <= month < self.start + self.duration

    def step(self) -> None:
        """One month of the programme's work (only called while it is active)."""
        raise NotImplementedError

    def after_month(self) -> None:
        """Called every month, active or not, after the month's teams and money (optional)."""

    def pay(self, amount: float, recipient_kind: str, recipient: int, purpose: str) -> float:
        """Pay up to ``amount`` from the remaining budget; returns what was paid (k€).

        Firms receive the money in cash and hubs in their income; money paid
        outside the cluster (brokers' salaries, campaigns) leaves it.
        """
        amount = min(max(0.0, amount), self.remaining)
        if amount <= 0.0:
            return 0.0
        self.spent += amount
        model = self.model
        degree, employees = -1, -1.0
        if recipient_kind == RECIPIENT_FIRM:
            degree = len(model.ties.partners.get(recipient, ()))
            employees = float(model.firms.employees[recipient])
        model.institution.ledger.record(
            Payment(model.steps, self.name, recipient_kind, recipient, purpose, amount,
                    self.targeting, degree, employees))
        if recipient_kind == RECIPIENT_FIRM:
            model.firms.cash[recipient] += amount
            model.ledger["policy_payments"] += amount
        elif recipient_kind == RECIPIENT_HUB:
            model.hubs[recipient].receive_seed_money(amount)
        return amount
