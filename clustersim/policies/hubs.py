"""Factor-creating service hubs: public seed money for sector service centres (docs/ODD.md §2, §7.11).

ERVET's centres in Emilia-Romagna (CITER, RESFOR, SVEX) and Denmark's DATCH: firms
pay fees for services, public money seeds the centre, and few ever become
self-funding (003:L1397-1461, L2669, L2965-3005; F8). "Production networks can arise
organically if hubs are in place and widely used" (003:L326, H3).

The programme opens ``count`` :class:`~clustersim.agents.hub.ServiceHub` agents at the
largest towns and pays each its seed money while it runs. The hubs' own month runs
every month from :meth:`HubsPolicy.after_month`, during the programme and after its
sunset: members leave or join, pay fees, the hub's budget balances and its services
reach members at the service level the budget allows. After the sunset the hubs live
on fees (and what they saved), so what the programme built persists or decays on its own.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from clustersim.agents.firm import COVER_THRESHOLD
from clustersim.agents.hub import ServiceHub
from clustersim.config.policies import (  # noqa: F401  (re-exported)
    DEFAULT_SERVICES,
    SERVICES,
    HubsConfig,
    Service,
)
from clustersim.cooperation import joining_factor
from clustersim.hooks import CandidateTable
from clustersim.policies import register
from clustersim.policies.base import RECIPIENT_HUB, Policy
from clustersim.ties import pair_key

if TYPE_CHECKING:
    from clustersim.model import ClusterModel
    from clustersim.teams import Job

# A member that has not actively used its hub for this many months may leave
# (chance ``leave_rate`` a month): membership is told from active use (docs/ODD.md §7.11).
USE_MONTHS = 6
# Non-members judge a hub by what its members gain only once it has this many members;
# before that only the known saving of shared equipment counts.
MIN_EVIDENCE = 5
# A hub meeting creates a weak tie this far above the ties' floor.
MEETING_TRUST_MARGIN = 0.05


@register
class HubsPolicy(Policy):
    """Opens ``count`` service hubs at the largest towns, seeds them, and runs them every month.

    :meth:`step` (while the programme runs) opens the hubs in its first month and pays
    each hub its seed money; :meth:`after_month` (every month, also after the sunset)
    runs each hub's month. Membership lives only in ``FirmState.hub``.
    """

    type_name = "hubs"
    config_class = HubsConfig

    def __init__(self, config: HubsConfig, model: ClusterModel, index: int):
        super().__init__(config, model, index)
        self.config: HubsConfig = config
        self.hubs: list[ServiceHub] = []
        self._first = 0  # index in model.hubs of this programme's first hub
        self._last_use = np.zeros(0, dtype=np.int64)  # per firm: month it last used its hub
        self._database: list[list[list[int]]] = []  # per hub, per phase: members covering it
        # pair key (lead, co-member) → month the capability database introduced them
        self._offered: dict[int, int] = {}
        self.nearest_hub = np.zeros(0, dtype=np.int64)  # of the firms expected_benefit returned
        self.joined_month = 0  # firms that joined a hub this month
        self.left_month = 0  # members that left (idle, or in the red at fee time)
        self.active_users = 0  # members that used their hub in the last USE_MONTHS months
        self.transferred_month = 0  # members technology transfer served this month

    # ------------------------------------------------------------------ while it runs

    def step(self) -> None:
        """Open the hubs (first month), then pay each hub its seed money."""
        if not self.hubs:
            self.open_hubs()
        for hub in self.hubs:
            self.pay(self.config.seed_money, RECIPIENT_HUB, hub.index, "seed money")

    def open_hubs(self) -> None:
        """Place ``count`` hubs at the towns with most firms (more hubs than towns: cycle again)."""
        model, f = self.model, self.model.firms
        n = f.n
        towns = len(model.region.towns_xy)
        size = np.bincount(f.town[:n][f.alive[:n]], minlength=towns)
        ranked = sorted(range(towns), key=lambda t: (-int(size[t]), t))
        self._first = len(model.hubs)
        for k in range(self.config.count):
            town = ranked[k % towns]
            x, y = (float(v) for v in model.region.towns_xy[town])
            hub = ServiceHub(model, len(model.hubs), town, x, y)
            model.hubs.append(hub)
            self.hubs.append(hub)
        self._database = [[] for _ in self.hubs]
        self._grow()
        # The capability database adds co-members to a member lead's partner pool
        # (dynamic mode only: fixed networks never look beyond their borders).
        if "capability_database" in self.config.services:
            model.hooks.add_partner_candidates(self.name, self._database_partners,
                                               self._database_table)
        # Watches delivered jobs for active use of the database; never changes innovation.

    # ------------------------------------------------------------------ every month

    def after_month(self) -> None:
        """One month of every hub: membership, fees, budget, services, effects."""
        if not self.hubs:
            return
        cfg, model = self.config, self.model
        for job, failed in model.jobs_completed:
            if not failed:
                self._observe_job(job)
        self._grow()
        self.left_month = self._members_leave_unused()
        self.joined_month = self._firms_join()
        services = len(cfg.services)
        fixed = cfg.fixed_cost_per_hub(model.scenario.firms.count)
        for hub in self.hubs:
            self.left_month += len(hub.collect_fees(cfg.fee))
            hub.balance_budget(fixed + cfg.cost_per_member * hub.member_count() * services)
        boost = model.university.effect if model.university is not None else 0.0
        trust = model.ties.floor + MEETING_TRUST_MARGIN
        self.transferred_month = 0
        frontier = model.market.phase_frontier() if "technology_transfer" in cfg.services else None
        for hub in self.hubs:
            if "training" in cfg.services:
                hub.train_members(cfg.training_rate, boost)
            if frontier is not None:
                served = hub.transfer_technology(cfg.transfer_rate, frontier, boost)
                self._last_use[served] = model.steps  # a service used
                self.transferred_month += len(served)
            if "market_intelligence" in cfg.services:
                hub.share_market_intelligence()
            attended = hub.hold_meetings(cfg.meetings, trust)
            self._last_use[attended] = model.steps  # attending a hub meeting is active use
        self._publish_effects()
        self._prepare_database()
        # An introduction older than the longest order can no longer explain a job.
        oldest = model.steps - model.scenario.market.max_duration - 1
        self._offered = {key: month for key, month in self._offered.items() if month >= oldest}
        recent = model.steps - self._last_use[: model.firms.n] < USE_MONTHS
        self.active_users = int((self._own_members() & recent).sum())

    def _grow(self) -> None:
        """Extend the per-firm last-use record to firms that entered since last month."""
        n = self.model.firms.n
        if len(self._last_use) < n:
            grown = np.full(max(n, 2 * len(self._last_use)), -(10**6), dtype=np.int64)
            grown[: len(self._last_use)] = self._last_use
            self._last_use = grown

    def _own_members(self) -> np.ndarray:
        """Mask over firms 0..n−1: living members of one of this programme's hubs."""
        f = self.model.firms
        n = f.n
        hub = f.hub[:n]
        return f.alive[:n] & (hub >= self._first) & (hub < self._first + len(self.hubs))

    def _members_leave_unused(self) -> int:
        """Members that have not used their hub for USE_MONTHS months leave with ``leave_rate``."""
        model, f = self.model, self.model.firms
        n = f.n
        idle = np.flatnonzero(
            self._own_members() & (model.steps - self._last_use[:n] >= USE_MONTHS)
        )
        if len(idle) == 0:
            return 0
        leave = idle[model.rng.random(len(idle)) < self.config.leave_rate]
        f.hub[leave] = -1
        return len(leave)

    def expected_benefit(self) -> tuple[np.ndarray, np.ndarray]:
        """Non-members within reach of a hub, and the benefit each expects from joining (k€/month).

        What a firm sees members gain: members' 12-month revenue per employee above that
        of the non-members within reach of the same hub (once it has MIN_EVIDENCE
        members), times its own employees, plus the saving on its fixed costs that shared
        equipment brings at the hub's current service level. Each firm looks at its
        nearest hub. Returns (firm indices, benefit); the firms' hub is ``nearest_hub``.
        """
        cfg, model, f = self.config, self.model, self.model.firms
        n = f.n
        alive = f.alive[:n]
        hx = np.array([hub.x for hub in self.hubs])
        hy = np.array([hub.y for hub in self.hubs])
        d2 = (f.x[:n, None] - hx[None, :]) ** 2 + (f.y[:n, None] - hy[None, :]) ** 2
        nearest = np.argmin(d2, axis=1)
        hours = np.sqrt(d2[np.arange(n), nearest]) / model.region.speed_kmh
        candidate = alive & (f.hub[:n] < 0) & (hours <= cfg.reach_hours)
        idx = np.flatnonzero(candidate)
        self.nearest_hub = nearest[idx]
        if len(idx) == 0:
            return idx, np.zeros(0)
        employees = np.maximum(f.employees[:n], 1.0)
        per_employee = f.revenue_slow[:n] / employees
        gap = np.zeros(len(self.hubs))
        for k, hub in enumerate(self.hubs):
            members = alive & (f.hub[:n] == hub.index)
            others = candidate & (nearest == k)
            if members.sum() >= MIN_EVIDENCE and others.any():
                gap[k] = max(0.0, float(per_employee[members].mean() - per_employee[others].mean()))
        k = self.nearest_hub
        benefit = employees[idx] * gap[k]
        if "shared_equipment" in cfg.services:
            prod = model.scenario.production
            level = np.array([hub.service_level for hub in self.hubs])
            benefit += (
                level[k] * cfg.equipment_saving * (prod.wage * employees[idx] + prod.overhead)
            )
        return idx, benefit

    def join_chance(self, benefit: np.ndarray) -> np.ndarray:
        """Monthly chance to join: join_rate × σ((benefit − fee) / fee), a logistic in the net gain.

        One half when the benefit just pays the fee; first movers join now and then even
        before there is evidence, most firms wait (inertia, F7).
        """
        cfg = self.config
        scale = max(cfg.fee, 0.01)
        return cfg.join_rate / (1.0 + np.exp(-(benefit - cfg.fee) / scale))

    def _firms_join(self) -> int:
        """Non-members within ``reach_hours`` of a hub join it with :meth:`join_chance`."""
        model, f = self.model, self.model.firms
        idx, benefit = self.expected_benefit()
        if len(idx) == 0:
            return 0
        # Firms opened by crisis or opportunity are readier to join (docs/ODD.md §7.14).
        chance = self.join_chance(benefit) * joining_factor(f, idx, model.scenario.response)
        join = model.rng.random(len(idx)) < chance
        joiners = idx[join]
        first_index = np.array([hub.index for hub in self.hubs])
        f.hub[joiners] = first_index[self.nearest_hub[join]]
        self._last_use[joiners] = model.steps  # a newcomer gets USE_MONTHS to try the services
        return len(joiners)

    def _publish_effects(self) -> None:
        """Members' visibility, fixed-cost and quality effects, × each hub's service level.

        Published anew every month from the current members, so a leaver's effects stop.
        The model applies them right after policies step, i.e. from next month's teams on.
        """
        cfg, model = self.config, self.model
        on = set(cfg.services)
        visibility: dict[int, float] = {}
        saving: dict[int, float] = {}
        quality: dict[int, float] = {}
        per_level = (cfg.intelligence_visibility if "market_intelligence" in on else 0.0) + (
            cfg.export_visibility if "export_promotion" in on else 0.0
        )
        equipment = "shared_equipment" in on
        for hub in self.hubs:
            level = hub.service_level
            members = hub.members().tolist()
            if per_level > 0.0:
                visibility.update(dict.fromkeys(members, per_level * level))
            if equipment:
                saving.update(dict.fromkeys(members, cfg.equipment_saving * level))
                quality.update(dict.fromkeys(members, cfg.equipment_quality * level))
        model.effects.put(self.name, "visibility", visibility)
        model.effects.put(self.name, "fixed_cost", saving)
        model.effects.put(self.name, "quality", quality)

    # ------------------------------------------------------------------ capability database

    def _prepare_database(self) -> None:
        """Per hub and phase, the members covering the phase (RESFOR's profiles, 003:L1431-1450)."""
        if "capability_database" not in self.config.services:
            return
        f = self.model.firms
        for k, hub in enumerate(self.hubs):
            members = hub.members()
            covers = f.capability[members] >= COVER_THRESHOLD
            self._database[k] = [members[covers[:, p]].tolist() for p in range(f.phases)]

    def _database_partners(self, lead: int, phase: int) -> list[int]:
        """Pool source: up to database_reach × level co-members of a member lead covering ``phase``.

        O(database_reach) per call: a sample from the lists prepared once a month.
        """
        k = int(self.model.firms.hub[lead]) - self._first
        if k < 0 or k >= len(self.hubs) or not self._database[k]:
            return []
        pool = self._database[k][phase]
        wanted = self.config.database_reach * self.hubs[k].service_level
        random = self.model.random
        reach = int(wanted)
        if wanted > reach and random.random() < wanted - reach:
            reach += 1
        picks = pool if len(pool) <= reach else random.sample(pool, reach)
        self._remember_offers(lead, picks)
        return picks

    def _remember_offers(self, lead: int, picks: list[int]) -> None:
        """Remember the introductions (co-members the lead has no tie with): a job
        delivered with one of them is active use of the hub."""
        month = self.model.steps
        known = self.model.ties.partners.get(lead, ())
        offered = self._offered
        for c in picks:
            if c != lead and c not in known:
                offered[pair_key(lead, c)] = month

    def _database_table(self) -> CandidateTable:
        """:meth:`_database_partners` as arrays for compiled staffing: one row group per hub
        with a database, sampled to each hub's reach this month."""
        f = self.model.firms
        n, phases = f.n, f.phases
        ready = [bool(lists) for lists in self._database]
        k = f.hub[:n] - self._first  # the lead's hub in this programme (as _database_partners)
        own = (k >= 0) & (k < len(self.hubs))
        has_database = np.zeros(n, dtype=bool)
        has_database[own] = np.asarray(ready, dtype=bool)[k[own]]
        group = np.where(has_database, k, -1).astype(np.int64)
        lists = [self._database[k][p] if ready[k] else [] for k in range(len(self.hubs))
                 for p in range(phases)]
        sizes = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        firms = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(offsets[-1]))
        reach = np.array([self.config.database_reach * h.service_level for h in self.hubs],
                         dtype=np.float64)
        return CandidateTable(group, offsets, firms, reach, self._remember_offers)

    # ------------------------------------------------------------------ active use

    def _observe_job(self, job: Job) -> None:
        """Record active use from a delivered job.

        A member lead used its hub when it delivered a job with a co-member the
        database introduced to it in the last few months (no tie between them then).
        """
        hub = self.model.firms.hub
        lead = job.lead
        k = int(hub[lead])
        if k < self._first or k >= self._first + len(self.hubs):
            return
        offered = self._offered
        for m in job.members:
            if m != lead and int(hub[m]) == k and pair_key(lead, m) in offered:
                self._last_use[lead] = self.model.steps
                break
