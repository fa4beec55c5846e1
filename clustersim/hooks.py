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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clustersim.teams import Job

# Extra candidate firms a lead may ask to do a phase: (lead, phase) → firms.
PartnerCandidates = Callable[[int, int], Iterable[int]]
# A factor on the partner score of a candidate: (lead, candidate) → factor.
PartnerWeight = Callable[[int, int], float]
# A factor on a delivered job's chance to innovate: job → factor.
InnovationFactor = Callable[["Job"], float]


@dataclass
class CandidateTable:
    """A partner-candidate source as arrays, so that compiled staffing can use it.

    For a lead and a phase the source offers the firms of row ``group[lead] × phases +
    phase`` (``firms[offsets[row]:offsets[row + 1]]``; none when ``group[lead]`` is −1).
    With ``reach``, it offers a sample of them, drawn exactly as ``random.sample`` draws
    from ``model.random``: int(r) firms, one more with chance r − int(r) (r = ``reach`` of
    the group), all of them when there are no more; ``remember(lead, picks)`` is then told
    what was offered (in one or more calls, in staffing order). A table must offer exactly
    what its source returns in that month.
    """

    group: np.ndarray
    offsets: np.ndarray
    firms: np.ndarray
    reach: np.ndarray | None = None
    remember: Callable[[int, list[int]], None] | None = None


class MonthHooks:
    """The registered functions of each extension point, in registration order.

    Each list holds ``(owner, function)`` pairs; the owner is the programme's name
    (``"brokers#0"``). Functions are called in the order they were added, which is
    the order of the scenario's ``[[policies]]`` tables, so runs stay reproducible.
    """

    def __init__(self) -> None:
        self.partner_candidates: list[tuple[str, PartnerCandidates]] = []
        # for each source, a function giving this month's CandidateTable (or None)
        self.candidate_tables: list[Callable[[], CandidateTable] | None] = []
        self.partner_weights: list[tuple[str, PartnerWeight]] = []
        self.innovation_chance: list[tuple[str, InnovationFactor]] = []

    def add_partner_candidates(self, owner: str, source: PartnerCandidates,
                               table: Callable[[], CandidateTable] | None = None) -> None:
        """Offer extra candidates to lead firms (dynamic mode: fixed networks never look out).

        ``table``, when given, returns the same offers as arrays once a month, so that the
        month's partner choice can run compiled (clustersim/compiled.py)."""
        self.partner_candidates.append((owner, source))
        self.candidate_tables.append(table)

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
