"""What active formal networks do for their members, month by month (docs/ODD.md §7.10).

Joint marketing and brokers' scouting raise members' visibility, a shared front office
cuts their fixed costs (firm effects); joint production makes members candidate
partners of each other, and brokers refer their clients to each other (partner
candidates); joint R&D raises the innovation chance of members' joint jobs
(innovation chance). docs/hooks.md lists these extension points.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from clustersim.agents.firm import COVER_THRESHOLD
from clustersim.hooks import CandidateTable

if TYPE_CHECKING:
    from clustersim.teams import Job


MISSED_MONTHS = 12  # a product that missed the trend counts for a year ("next year", 003:L1503)


class Activities:
    """Mixin of :class:`~clustersim.policies.brokers.BrokersPolicy`: pools and effects of networks."""

    def _refresh(self, month: int, running: bool) -> None:
        """Rebuild referral and co-production pools and publish the networks' effects."""
        model, cfg = self.model, self.config
        f = model.firms
        n = f.n
        alive = f.alive[:n]
        covers = f.capability[:n] >= COVER_THRESHOLD
        phases = f.phases

        def by_phase(firms: list[int]) -> list[list[int]]:
            """``firms`` covering each phase, in their order (one nonzero for all phases)."""
            phase, k = np.nonzero(covers[firms].T)
            covering = np.asarray(firms)[k].tolist()
            bounds = np.searchsorted(phase, np.arange(phases + 1)).tolist()
            return [covering[bounds[p]:bounds[p + 1]] for p in range(phases)]

        # Referrals: a broker's clients are candidate partners of each other (docs/ODD.md §2).
        self._referrals = {}
        if running:
            for broker in self.brokers:
                clients = sorted(c for c in broker.clients if alive[c])
                if broker.working and len(clients) >= 2:
                    lists = by_phase(clients)
                    for c in clients:
                        self._referrals[c] = lists
        marketing: dict[int, float] = {}
        front_office: dict[int, float] = {}
        scouting: dict[int, float] = {}
        self._coproducers = {}
        self._idle_pool = {}
        self._idle_co_members = {}
        self._idle_phases = {}
        rd_tags: set[str] = set()
        idle_level = model.scenario.demography.idle_threshold
        utilisation = f.utilisation[:n]
        networks = model.formal_networks.networks
        for net_id in self.network_ids:
            network = networks[net_id]
            if not network.active(month):
                continue
            members = sorted(m for m in network.members if alive[m])
            activities = network.activities
            if "joint_marketing" in activities:
                marketing.update(dict.fromkeys(members, cfg.joint_marketing_visibility))
            if "shared_front_office" in activities:
                front_office.update(dict.fromkeys(members, cfg.front_office_saving))
            if "joint_production" in activities:
                lists = by_phase(members)
                for m in members:
                    self._coproducers[m] = lists
            if "joint_rd" in activities:
                rd_tags.add(f"formal_network:{net_id}")
            if running and self._tended(net_id, month):
                scouting.update(dict.fromkeys(members, cfg.scouting_visibility))
            if running:
                # Members that had little work: the impannatore's "firms that missed" (003:L1500).
                idle = self._missed(members, utilisation, idle_level, month)
                if idle:
                    self._idle_phases[net_id] = {
                        p: ids for p, ids in enumerate(by_phase(idle)) if ids
                    }
                    if cfg.norms:
                        idle_lists = by_phase(idle)
                        for m in members:
                            self._idle_pool[m] = idle_lists
                            self._idle_co_members[m] = set(idle) - {m}
        self._rd_tags = rd_tags
        self._index_pools(phases)
        effects = model.effects
        effects.put(f"{self.name}:joint_marketing", "visibility", marketing)
        effects.put(f"{self.name}:scouting", "visibility", scouting)
        effects.put(f"{self.name}:shared_front_office", "fixed_cost", front_office)

    def _missed(self, members: list[int], utilisation: list[float], idle_level: float,
                month: int) -> list[int]:
        """The members that "missed" (003:L1500-1505): idle ones, those whose product lost
        to the world's in the last 12 months, or both (``norms_pass_to``)."""
        mode = self.config.norms_pass_to
        failed = self.model.firms.failed_innovation
        return [m for m in members
                if (mode != "failed_innovation" and utilisation[m] < idle_level)
                or (mode != "idle" and month - failed[m] < MISSED_MONTHS)]

    def _index_pools(self, phases: int) -> None:
        """One lookup per (lead, phase): fellow clients, co-producers, idle co-members."""
        index: dict[int, list[list[int]]] = {}
        for source in (self._referrals, self._coproducers, self._idle_pool):
            for firm, lists in source.items():
                have = index.get(firm)
                if have is None:
                    index[firm] = lists
                else:
                    index[firm] = [have[p] + lists[p] for p in range(phases)]
        self._pool_index = index

    def _pool_table(self) -> CandidateTable:
        """:meth:`_pool` as arrays for compiled staffing: one row group per lead listed."""
        n, phases = self.model.firms.n, self.model.firms.phases
        group = np.full(n, -1, dtype=np.int64)
        leads = [lead for lead in self._pool_index if lead < n]
        group[leads] = np.arange(len(leads))
        lists = [self._pool_index[lead][p] for lead in leads for p in range(phases)]
        sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        firms = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(offsets[-1]))
        return CandidateTable(group, offsets, firms)

    def _pool(self, lead: int, phase: int) -> list[int]:
        """Pool source: fellow clients, co-producers and (norms) idle co-members covering ``phase``."""
        lists = self._pool_index.get(lead)
        return lists[phase] if lists is not None else []

    def _innovation_boost(self, job: Job) -> float:
        """Joint R&D: teams of two or more members of such a network innovate more often."""
        if self._rd_tags and job.tags:
            for tag in job.tags:
                if tag in self._rd_tags:
                    return 1.0 + self.config.joint_rd_innovation
        return 1.0
