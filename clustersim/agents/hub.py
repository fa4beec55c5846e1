"""Service hubs: factor-creating service centres at a town centre (docs/ODD.md §2).

ERVET's sector centres in Emilia-Romagna (CITER, RESFOR, SVEX) are paid by member
fees plus public seed money and deliver training, market intelligence, a capability
database, shared equipment and export promotion; few ever became self-funding
(003:L1397-1461, L2669; F8). A hub's members are the firms whose ``FirmState.hub``
holds its index: membership lives in that array only. The hub keeps its money (fees,
seed money, spending, a reserve of unspent income) and delivers the services that
touch its members one at a time; the policy in :mod:`clustersim.policies.hubs`
decides who joins and leaves and publishes the effects on firms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


class ServiceHub(mesa.Agent):
    """A service centre: members, services, and a budget that must balance (k€ per month)."""

    def __init__(self, model: ClusterModel, index: int, town: int, x: float, y: float):
        super().__init__(model)
        self.index = index  # position in model.hubs; members have firms.hub == index
        self.town = town
        self.x = x  # km
        self.y = y
        self.fees_month = 0.0  # member fees collected this month
        self.seed_month = 0.0  # public seed money received this month
        self.cost_month = 0.0  # what full service to this month's members costs
        self.income = 0.0  # fees + seed money this month
        self.spent_month = 0.0  # what the hub could pay for: min(cost, income + reserve)
        self.reserve = 0.0  # unspent income carried to later months (never negative)
        self.service_level = 1.0  # share of the full service delivered this month, 0..1
        self.fees_total = 0.0
        self.seed_total = 0.0
        self.spent_total = 0.0

    # ------------------------------------------------------------------ members

    def members(self) -> np.ndarray:
        """Indices of the living firms that are members now."""
        f = self.model.firms
        n = f.n
        return np.flatnonzero(f.alive[:n] & (f.hub[:n] == self.index))

    def member_count(self) -> int:
        f = self.model.firms
        n = f.n
        return int((f.alive[:n] & (f.hub[:n] == self.index)).sum())

    # ------------------------------------------------------------------ money

    def receive_seed_money(self, amount: float) -> None:
        """Public seed money paid by the programme owner (k€); spent in this month's budget."""
        self.seed_month += amount
        self.seed_total += amount

    def collect_fees(self, fee: float) -> np.ndarray:
        """Each member pays ``fee`` k€; a member in the red leaves instead of paying.

        Returns the firms that left. The money leaves firms' cash and is recorded in
        the model's ``fees`` flow, so the firms' money identity holds.
        """
        f = self.model.firms
        members = self.members()
        if len(members) == 0 or fee <= 0.0:
            self.fees_month = 0.0
            return np.zeros(0, dtype=np.int64)
        broke = f.cash[members] < 0.0
        leavers = members[broke]
        f.hub[leavers] = -1
        payers = members[~broke]
        f.cash[payers] -= fee
        collected = fee * len(payers)
        self.model.ledger["fees"] += collected
        self.fees_month = collected
        self.fees_total += collected
        return leavers

    def balance_budget(self, cost: float) -> None:
        """Spend what the month's services cost, or all the hub has if that is less.

        Income is this month's fees plus seed money; unspent income is kept as a
        reserve for leaner months. The service level is the share of the full cost
        the hub can pay: it falls when fees and seed money do not cover costs (F8).
        """
        self.cost_month = cost
        self.income = self.fees_month + self.seed_month
        available = self.income + self.reserve
        spend = min(cost, available)
        self.spent_month = spend
        self.spent_total += spend
        self.reserve = available - spend
        self.service_level = spend / cost if cost > 0.0 else 1.0
        self.seed_month = 0.0

    # ------------------------------------------------------------------ services

    def train_members(self, rate: float, boost: float = 0.0) -> None:
        """Members' capability in their specialty += rate × level × (1 + boost) × (1 − capability)."""
        f = self.model.firms
        members = self.members()
        if len(members) == 0:
            return
        gain = min(1.0, rate * self.service_level * (1.0 + boost))
        spec = f.specialty[members]
        cap = f.capability[members, spec]
        f.capability[members, spec] = cap + gain * (1.0 - cap)

    def transfer_technology(self, rate: float, frontier: np.ndarray, boost: float = 0.0) -> np.ndarray:
        """Members behind their phase's knowledge frontier close ``rate`` × level × (1 + boost)
        of the gap (technology transfer, 003:L1565-1578); returns the members served."""
        f = self.model.firms
        members = self.members()
        if len(members) == 0:
            return members
        gap = frontier[f.specialty[members]] - f.knowledge[members]
        behind = gap > 0
        served = members[behind]
        gain = min(1.0, rate * self.service_level * (1.0 + boost))
        f.knowledge[served] += gain * gap[behind]
        return served

    def share_market_intelligence(self) -> None:
        """Members see the current threat without the usual lag (boiled frog, 003:L3070).

        At a service level below 1 they see part of the way: lagged + level × (current − lagged).
        """
        f = self.model.firms
        members = self.members()
        if len(members) == 0:
            return
        lagged = f.threat_signal[members, 0]
        current = f.threat_signal[members, -1]
        f.threat[members] = lagged + self.service_level * (current - lagged)

    def hold_meetings(self, chance: float, trust: float) -> np.ndarray:
        """Each member meets another member with ``chance`` × level: a weak tie forms or firms up.

        Hub co-membership creates weak ties (docs/ODD.md §2; face-to-face interaction at joint
        activities, 003:L326-330). A new tie starts at ``trust`` (a bit above the ties'
        floor); an existing one gains a twentieth of its distance to 1 (never less than
        ``trust``). Returns the firms that took part (either side of a meeting).
        """
        model = self.model
        members = self.members()
        if len(members) < 2 or chance <= 0.0:
            return np.zeros(0, dtype=np.int64)
        rng = model.rng
        meets = members[rng.random(len(members)) < chance * self.service_level]
        if len(meets) == 0:
            return meets
        # Partner: a uniform other member (shifting by 1..len−1 positions never meets oneself).
        position = np.searchsorted(members, meets)
        other = members[(position + rng.integers(1, len(members), size=len(meets))) % len(members)]
        model.ties.lift(meets, other, 0.05, trust)
        return np.concatenate([meets, other])

    def __repr__(self) -> str:
        return (
            f"ServiceHub(index={self.index}, town={self.town}, members={self.member_count()}, "
            f"service_level={self.service_level:.2f}, reserve={self.reserve:.1f})"
        )
