"""Danish-style network brokers: facilitators who build formal networks (MODEL.md §2, §5).

Denmark 1989-1992: an awareness campaign, 40 trained brokers for 7,300 small
manufacturers, three stages of grants, networks of three or more firms doing two or
more joint activities, a sunset after three years (003:L1642-1805, L3792-3938).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from clustersim.agents.broker import Broker
from clustersim.agents.firm import COVER_THRESHOLD
from clustersim.config.policies import BrokersConfig
from clustersim.formal import ACTIVITIES
from clustersim.policies import register
from clustersim.policies.base import RECIPIENT_FIRM, RECIPIENT_OUTSIDE, Policy

if TYPE_CHECKING:
    from clustersim.model import ClusterModel
    from clustersim.teams import Job


# A tie a broker creates must survive the monthly decay (× at most 1 − 1.5 × decay):
# it starts this far above the level that decays to the floor.
_TIE_MARGIN = 0.02
STAGE_MONTHS = {"feasibility": 0, "planning": 3, "implementation": 9}  # after formation


@register
class BrokersPolicy(Policy):
    """A Danish broker programme: brokers, an awareness campaign and three grant stages.

    Each month while it runs: brokers are paid, clients whose network formed
    ``graduation_months`` ago graduate, stage grants fall due, brokers recruit
    clients within one hour of their town, group them into formal networks and lift
    the trust among the members of the networks they tend. Every month, running or
    not, the activities of the programme's active networks act on their members
    (published in :meth:`after_month`).
    """

    type_name = "brokers"
    config_class = BrokersConfig

    def __init__(self, config: BrokersConfig, model: ClusterModel, index: int):
        super().__init__(config, model, index)
        self.config: BrokersConfig = config
        self.brokers: list[Broker] = []
        self.network_ids: list[int] = []  # formal networks this programme built
        self.formed: dict[int, int] = {}  # network id → month it formed
        self.grant_log: list[tuple[int, int, str, float]] = []  # (month, network, stage, k€)
        self.sanctioned: set[int] = set()  # firms cut off under the norms
        self.strikes: dict[int, list[int]] = {}  # firm → months it bypassed idle co-members
        self.counts: Counter[str] = Counter()
        self.started = False
        self.campaign_on = False
        # What team formation reads, rebuilt every month (MODEL.md §8: O(1) per order).
        self._referrals: dict[int, list[list[int]]] = {}  # client → per phase: fellow clients
        self._coproducers: dict[int, list[list[int]]] = {}  # member → per phase: co-members
        self._idle_pool: dict[int, list[list[int]]] = {}  # member → per phase: idle co-members
        self._idle_co_members: dict[int, set[int]] = {}
        self._idle_phases: dict[int, dict[int, list[int]]] = {}  # network → phase → idle members
        self._rd_tags: set[str] = set()
        self._pool_index: dict[int, list[list[int]]] = {}
        model.hooks.add_partner_candidates(self.name, self._pool)
        model.hooks.add_innovation_factor(self.name, self._innovation_boost)
        if config.norms and not model.static_mode:
            model.hooks.add_partner_weight(self.name, self._idle_weight)

    # ------------------------------------------------------------------ the month

    def step(self) -> None:
        model = self.model
        month = model.steps
        if not self.started:
            self._start()
        alive = model.firms.alive
        for broker in self.brokers:
            broker.drop_departed(alive)
        self._pay_running_costs()
        for broker in self.brokers:
            self.counts["graduated"] += len(broker.graduate(month))
        self._pay_stage_grants(month)
        self._recruit(month)
        self._form_networks(month)
        self._lift_trust(month)
        self._refresh(month, running=True)

    def after_month(self) -> None:
        if not self.started:
            return
        month = self.model.steps
        for broker in self.brokers:
            broker.drop_departed(self.model.firms.alive)  # clients that exited this month
        if self.active(month):
            self._check_bypasses(month)
        elif not all(b.retired for b in self.brokers):
            for broker in self.brokers:
                broker.retire()  # the facilitator's role is temporary (003:L2931)
        # Effects published now act next month: activities of networks still active then.
        self._refresh(month + 1, running=self.active(month + 1))

    # ------------------------------------------------------------------ set-up

    def _start(self) -> None:
        """Create the brokers, spread over towns by their number of living firms."""
        model, cfg = self.model, self.config
        self.started = True
        count = math.floor(cfg.brokers_per_1000 * model.initial_cohort / 1000.0 + 0.5)
        if cfg.brokers_per_1000 > 0:
            count = max(1, count)
        towns_xy = model.region.towns_xy
        f = model.firms
        per_town = np.bincount(f.town[f.alive_indices()], minlength=len(towns_xy)).astype(float)
        if per_town.sum() <= 0:
            per_town[:] = 1.0
        quota = count * per_town / per_town.sum()
        allotted = np.floor(quota).astype(np.int64)
        for t in np.argsort(-(quota - allotted), kind="stable")[: count - int(allotted.sum())]:
            allotted[t] += 1  # largest remainders
        for town, k in enumerate(allotted.tolist()):
            for _ in range(k):
                self.brokers.append(
                    Broker(
                        model,
                        len(self.brokers),
                        town,
                        float(towns_xy[town, 0]),
                        float(towns_xy[town, 1]),
                        cfg.quality,
                        cfg.caseload,
                    )
                )

    # ------------------------------------------------------------------ money

    def _monthly_running_cost(self) -> float:
        cfg = self.config
        return len(self.brokers) * cfg.salary + (cfg.campaign_cost if cfg.awareness else 0.0)

    def _pay_running_costs(self) -> None:
        """Salaries, then the campaign; an unpaid broker does not work this month."""
        cfg = self.config
        for broker in self.brokers:
            broker.working = cfg.salary <= 0 or self.remaining >= cfg.salary - 1e-9
            if broker.working and cfg.salary > 0:
                self.pay(cfg.salary, RECIPIENT_OUTSIDE, -1, "broker_salary")
        self.campaign_on = cfg.awareness and (
            cfg.campaign_cost <= 0 or self.remaining >= cfg.campaign_cost - 1e-9
        )
        if self.campaign_on and cfg.campaign_cost > 0:
            self.pay(cfg.campaign_cost, RECIPIENT_OUTSIDE, -1, "awareness_campaign")

    def _grant_room(self, month: int) -> float:
        """What grants may still use: the budget less salaries and campaign of the months to come."""
        months_after = max(0, self.start + self.duration - 1 - month)
        return max(0.0, self.remaining - self._monthly_running_cost() * months_after)

    def _grant(self, network_id: int, stage: str, amount: float, month: int) -> None:
        """A stage grant to a network, split equally among its members (k€)."""
        members = sorted(self.model.formal_networks.networks[network_id].members)
        amount = min(amount, self._grant_room(month))
        if amount <= 1e-9 or not members:
            return
        share = amount / len(members)
        paid = sum(self.pay(share, RECIPIENT_FIRM, m, f"{stage}_grant") for m in members)
        if paid > 0:
            self.grant_log.append((month, network_id, stage, paid))

    def _pay_stage_grants(self, month: int) -> None:
        """Planning grant 3 months after formation, implementation at 9, if the network is still active."""
        cfg = self.config
        networks = self.model.formal_networks.networks
        for net_id in self.network_ids:
            age = month - self.formed[net_id]
            if age == STAGE_MONTHS["planning"] and networks[net_id].active(month):
                self._grant(net_id, "planning", cfg.grant_planning, month)
            elif age == STAGE_MONTHS["implementation"] and networks[net_id].active(month):
                self._grant(net_id, "implementation", cfg.grant_implementation, month)

    # ------------------------------------------------------------------ brokers at work

    def _in_active_network(self, month: int) -> np.ndarray:
        f = self.model.firms
        net = f.formal_network[: f.n]
        networks = self.model.formal_networks.networks
        if not networks:
            return np.zeros(f.n, dtype=bool)
        active = np.array([n.active(month) for n in networks] + [False], dtype=bool)
        return active[net]  # −1 indexes the trailing False

    def _recruit(self, month: int) -> None:
        """Brokers with room sign up willing firms within one hour of their town.

        A firm not yet in an active formal network, nor anyone's client, agrees with a
        monthly chance recruitment × cooperativeness × (threat + awareness lift while
        the campaign runs) (MODEL.md §2).
        """
        model, cfg = self.model, self.config
        hiring = [b for b in self.brokers if b.working and b.room > 0]
        if not hiring:
            return
        f = model.firms
        n = f.n
        free = f.alive[:n] & ~self._in_active_network(month)
        for broker in self.brokers:
            free[sorted(broker.clients)] = False
        if self.sanctioned:
            free[sorted(self.sanctioned)] = False
        lift = cfg.awareness_lift if self.campaign_on else 0.0
        chance = cfg.recruitment * f.cooperativeness[:n] * (f.threat[:n] + lift)
        willing = np.flatnonzero(free & (model.rng.random(n) < chance))
        if len(willing) == 0:
            return
        taken = np.zeros(n, dtype=bool)
        radius = model.region.search_radius_km
        shift = month % len(hiring)  # brokers take turns at going first
        for broker in hiring[shift:] + hiring[:shift]:
            near = willing[
                ~taken[willing]
                & (np.hypot(f.x[willing] - broker.x, f.y[willing] - broker.y) <= radius)
            ]
            if len(near) == 0:
                continue
            picks = near[model.rng.permutation(len(near))[: broker.room]]
            new = broker.take_on(sorted(picks.tolist()))
            taken[new] = True
            self.counts["recruited"] += len(new)

    def _form_networks(self, month: int) -> None:
        """Brokers group complementary clients within an hour of each other into formal networks."""
        model, cfg = self.model, self.config
        f = model.firms
        radius = model.region.search_radius_km
        for broker in self.brokers:
            if not broker.working:
                continue
            groups = broker.propose_groups(
                f.specialty, f.x, f.y, radius, cfg.min_size, cfg.max_size, model.rng
            )
            for members in groups:
                for m in members:
                    old = int(f.formal_network[m])
                    if old >= 0:  # a lapsed network it was still listed in
                        model.formal_networks.remove_member(old, m)
                network = model.formal_networks.create(
                    members, self._choose_activities(), month, broker=broker.unique_id
                )
                f.formal_network[members] = network.id
                broker.place(members, network.id, month, cfg.graduation_months)
                self.network_ids.append(network.id)
                self.formed[network.id] = month
                self.counts["networks_formed"] += 1
                self._grant(network.id, "feasibility", cfg.grant_feasibility, month)

    def _choose_activities(self) -> tuple[str, ...]:
        """At least ``min_activities`` joint activities (003:L1668), in ACTIVITIES order."""
        rng = self.model.rng
        k = int(rng.integers(self.config.min_activities, len(ACTIVITIES) + 1))
        picks = sorted(rng.choice(len(ACTIVITIES), size=k, replace=False).tolist())
        return tuple(ACTIVITIES[i] for i in picks)

    def _tended(self, network_id: int, month: int) -> bool:
        """A broker tends a network until its members graduate."""
        return month < self.formed[network_id] + self.config.graduation_months

    def _lift_trust(self, month: int) -> None:
        """Working brokers build trust among the members of the networks they tend.

        trust ← max(trust + lift × (1 − trust), level that survives one decay); lift is
        ``trust_lift``, halved for untrained brokers (003:L3412).
        """
        cfg, model = self.config, self.model
        ties = model.ties
        survive = ties.floor / max(1.0 - 1.5 * ties.decay_rate, 1e-3) + _TIE_MARGIN
        lift = cfg.trust_lift * (1.0 if cfg.quality == "trained" else 0.5)
        networks = model.formal_networks.networks
        for broker in self.brokers:
            if not broker.working:
                continue
            for net_id in broker.networks:
                network = networks[net_id]
                if not self._tended(net_id, month) or not network.active(month):
                    continue
                members = sorted(network.members)
                for a in range(len(members)):
                    for b in range(a + 1, len(members)):
                        old = ties.get(members[a], members[b])
                        ties.set(members[a], members[b], max(old + lift * (1.0 - old), survive))

    # ------------------------------------------------------------------ what networks do

    def _refresh(self, month: int, running: bool) -> None:
        """Rebuild referral and co-production pools and publish the networks' effects."""
        model, cfg = self.model, self.config
        f = model.firms
        n = f.n
        alive = f.alive[:n]
        covers = f.capability[:n] >= COVER_THRESHOLD
        phases = f.phases

        def by_phase(firms: list[int]) -> list[list[int]]:
            rows = covers[firms]
            return [[firms[k] for k in np.flatnonzero(rows[:, p]).tolist()] for p in range(phases)]

        # Referrals: a broker's clients are candidate partners of each other (MODEL.md §2).
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
                idle = [m for m in members if utilisation[m] < idle_level]
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

    # ------------------------------------------------------------------ impannatore norms

    def _idle_weight(self, lead: int, candidate: int) -> float:
        """Norms (a): a member leading an order favours co-members that had little work.

        A partner weight (dynamic mode only): an idle co-member's chance of being chosen
        is multiplied by ``norms_idle_weight``, so winners pass excess work to members
        that missed (003:L1500-1505).
        """
        idle = self._idle_co_members.get(lead)
        return self.config.norms_idle_weight if idle and candidate in idle else 1.0

    def _check_bypasses(self, month: int) -> None:
        """Count orders whose lead gave a phase to an outsider while a co-member with it was idle.

        With norms such a lead is a price-cutter in this model: it takes the work
        outside instead of sharing it with members that missed. After
        ``norms_strikes`` bypasses within 12 months it is cut off from its network
        and from the programme (003:L1497-1499).
        """
        if not self._idle_phases:
            return
        f = self.model.firms
        network_of = f.formal_network
        for job in self.model.jobs_won:
            lead = job.lead
            net = int(network_of[lead])
            idle = self._idle_phases.get(net)
            if idle is None or not f.alive[lead]:
                continue
            in_team = set(job.members)
            outsider_phases = {
                phase
                for firm, phase, _ in job.assignments
                if firm != lead and network_of[firm] != net
            }
            passed = any(network_of[m] == net for m in job.members[1:])
            bypassed = any(m not in in_team for p in outsider_phases for m in idle.get(p, ()))
            self.counts["idle_network_jobs"] += 1
            self.counts["idle_network_jobs_shared"] += int(passed)
            if bypassed:
                self.counts["bypasses"] += 1
                if self.config.norms:
                    self._strike(lead, net, month)

    def _strike(self, firm: int, network_id: int, month: int) -> None:
        record = [m for m in self.strikes.get(firm, []) if month - m < 12]
        record.append(month)
        self.strikes[firm] = record
        if len(record) >= self.config.norms_strikes:
            self._cut_off(firm, network_id)

    def _cut_off(self, firm: int, network_id: int) -> None:
        """Sanction: the firm leaves its network, the broker's caseload and the programme."""
        model = self.model
        model.formal_networks.remove_member(network_id, firm)
        model.firms.formal_network[firm] = -1
        for broker in self.brokers:
            broker.drop_client(firm)
        self.sanctioned.add(firm)
        self.strikes.pop(firm, None)
        self.counts["sanctions"] += 1
