"""Where programmes act on the month: a small set of named extension points.

The month (:meth:`clustersim.model.ClusterModel.step`) runs in a fixed order
(docs/ODD.md §3). Policy programmes change it only through the points below, each
called at one visible place; docs/hooks.md lists them with the instruments that use
each. A programme registers a function under its own name, so a reader (or a
debugger) can always tell who added what.

| point | called from | signature | used by |
|---|---|---|---|
| policy step | ``ClusterModel.run_policies`` (step 2) | ``Policy.step()`` | every programme while it runs |
| firm effects | ``ClusterModel.run_policies`` (step 2) | :class:`~clustersim.effects.Effects` layers | brokers (joint marketing, scouting, front office), hubs (intelligence, export, equipment) |
| partner candidates | ``TeamBuilder.candidates`` (step 3) | ``(lead, phase) -> firms`` | brokers (referrals, co-producers, idle co-members), hubs (capability database) |
| partner weights | ``TeamBuilder.candidates`` (step 3) | ``(lead, candidate) -> factor`` | brokers with impannatore norms |
| innovation chance | ``ClusterModel.learn_and_innovate`` (step 5) | ``(job) -> factor`` | brokers (joint R&D of formal networks) |
| after month | ``ClusterModel.programmes_after_month`` (step 8) | ``Policy.after_month()`` | brokers (bypasses, sunset, next month's pools), grants (projects), hubs (membership, fees, services) |
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clustersim.teams import Job

# Extra candidate firms a lead may ask to do a phase: (lead, phase) → firms.
PartnerCandidates = Callable[[int, int], Iterable[int]]
# A factor on the partner score of a candidate: (lead, candidate) → factor.
PartnerWeight = Callable[[int, int], float]
# A factor on a delivered job's chance to innovate: job → factor.
InnovationFactor = Callable[["Job"], float]


class MonthHooks:
    """The registered functions of each extension point, in registration order.

    Each list holds ``(owner, function)`` pairs; the owner is the programme's name
    (``"brokers#0"``). Functions are called in the order they were added, which is
    the order of the scenario's ``[[policies]]`` tables, so runs stay reproducible.
    """

    def __init__(self) -> None:
        self.partner_candidates: list[tuple[str, PartnerCandidates]] = []
        self.partner_weights: list[tuple[str, PartnerWeight]] = []
        self.innovation_chance: list[tuple[str, InnovationFactor]] = []

    def add_partner_candidates(self, owner: str, source: PartnerCandidates) -> None:
        """Offer extra candidates to lead firms (dynamic mode: fixed networks never look out)."""
        self.partner_candidates.append((owner, source))

    def add_partner_weight(self, owner: str, weight: PartnerWeight) -> None:
        """Multiply the partner score of some candidates."""
        self.partner_weights.append((owner, weight))

    def add_innovation_factor(self, owner: str, factor: InnovationFactor) -> None:
        """Multiply the innovation chance of some delivered jobs."""
        self.innovation_chance.append((owner, factor))

    def owners(self) -> dict[str, list[str]]:
        """Extension point → the programmes registered on it (for docs and debugging)."""
        return {name: [owner for owner, _ in getattr(self, name)]
                for name in ("partner_candidates", "partner_weights", "innovation_chance")}
