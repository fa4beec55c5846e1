"""Network brokers: Danish-style facilitators who build formal networks (docs/ODD.md §2).

A broker is an impartial facilitator based at a town: it finds participants, sells
them the idea, groups them into networks, builds trust between them and brings
them opportunities; its role is temporary (003:L2915-2950, L3357-3415). It holds at
most ``caseload`` client firms at once. What a broker does each month is driven by
its programme (:class:`clustersim.policies.brokers.BrokersPolicy`), which pays it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


class Broker(mesa.Agent):
    """A facilitator with a caseload of client firms and the formal networks it built."""

    def __init__(
        self,
        model: ClusterModel,
        number: int,
        town: int,
        x: float,
        y: float,
        quality: str,
        caseload: int,
    ):
        super().__init__(model)
        self.number = number  # position in its programme's list of brokers
        self.town = town
        self.x = x  # km: the broker works from its town's centre
        self.y = y
        self.quality = quality  # "trained" (impartial, full time) or "untrained" (003:L3412)
        self.caseload = caseload
        self.clients: set[int] = set()  # firm indices
        self.networks: list[int] = []  # ids of the formal networks it built
        self.graduation: dict[int, int] = {}  # client → month it leaves the caseload
        self.working = False  # paid and at work this month
        self.retired = False  # its programme has ended

    def __repr__(self) -> str:
        return (
            f"Broker(number={self.number}, town={self.town}, quality={self.quality!r}, "
            f"clients={len(self.clients)}/{self.caseload}, networks={len(self.networks)})"
        )

    @property
    def room(self) -> int:
        """How many more clients the broker can take on."""
        return max(0, self.caseload - len(self.clients))

    def unplaced_clients(self) -> list[int]:
        """Clients not yet in a network the broker built (sorted)."""
        return sorted(c for c in self.clients if c not in self.graduation)

    def drop_departed(self, alive: np.ndarray) -> None:
        """Forget clients that have exited the cluster."""
        gone = [c for c in self.clients if not alive[c]]
        for c in gone:
            self.clients.discard(c)
            self.graduation.pop(c, None)

    def drop_client(self, firm: int) -> None:
        self.clients.discard(firm)
        self.graduation.pop(firm, None)

    def take_on(self, firms: list[int]) -> list[int]:
        """Add clients up to the caseload; returns those taken on."""
        taken = firms[: self.room]
        self.clients.update(taken)
        return taken

    def graduate(self, month: int) -> list[int]:
        """Clients whose network formed long enough ago leave the caseload."""
        done = sorted(c for c, when in self.graduation.items() if when <= month)
        for c in done:
            self.drop_client(c)
        return done

    def place(
        self, members: list[int], network_id: int, month: int, graduation_months: int
    ) -> None:
        """Record a network built from clients; they graduate ``graduation_months`` later."""
        self.networks.append(network_id)
        for m in members:
            self.graduation[m] = month + graduation_months

    def retire(self) -> None:
        """The programme has ended: the broker leaves and its caseload with it."""
        self.clients.clear()
        self.graduation.clear()
        self.working = False
        self.retired = True
