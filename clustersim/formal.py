"""Formal networks: groups of three or more firms doing two or more joint activities.

Brokers build them (003:L1668); they persist after the programme that built them
ends, and stay *active* while at least two members worked in one team in the last
12 months (docs/ODD.md §7.10). Firms belong to at most one formal network at a time
(``FirmState.formal_network``); this registry keeps the networks themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ACTIVITIES = ("joint_marketing", "shared_front_office", "joint_production", "joint_rd")
ACTIVE_WINDOW = 12  # months without joint work after which a network counts as inactive


@dataclass
class FormalNetwork:
    """One formal network: its members, joint activities and history."""

    id: int
    members: list[int]
    activities: tuple[str, ...]
    formed: int  # month
    broker: int = -1  # the broker who built it, −1 if none
    last_joint: int = 0  # last month two members worked in one team (formation counts)
    joint_jobs: int = 0
    tags: set[str] = field(default_factory=set)

    def active(self, month: int) -> bool:
        """Whether two members worked together in the last 12 months (and ≥ 2 remain)."""
        return len(self.members) >= 2 and month - self.last_joint < ACTIVE_WINDOW


class FormalNetworks:
    """All formal networks of a run, by id."""

    def __init__(self) -> None:
        self.networks: list[FormalNetwork] = []

    def __len__(self) -> int:
        return len(self.networks)

    def create(self, members: list[int], activities: tuple[str, ...], month: int,
               broker: int = -1) -> FormalNetwork:
        network = FormalNetwork(len(self.networks), list(members), tuple(activities), month,
                                broker, last_joint=month)
        self.networks.append(network)
        return network

    def record_joint_work(self, network_id: int, month: int) -> None:
        network = self.networks[network_id]
        network.last_joint = month
        network.joint_jobs += 1

    def remove_member(self, network_id: int, firm: int) -> None:
        members = self.networks[network_id].members
        if firm in members:
            members.remove(firm)

    def active(self, month: int) -> list[FormalNetwork]:
        return [n for n in self.networks if n.active(month)]
