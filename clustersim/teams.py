"""Teams: the production network forms here (docs/ODD.md §7.2).

For each order a lead firm is drawn among the firms that see it (weight: employees ^
``lead_visibility_exponent`` × visibility × (0.25 + spare share); visibility carries the
programmes' effects). It does its own phases if it has free capacity and, for each
phase still open, picks partners from its candidate pool with probability
proportional to the partner score:

    score = capability in the phase
            × (trust_base + trust) × exp(−hours / proximity_hours)   [_weight, pool weights]
            × partner-weight hooks (impannatore norms favour idle co-members)
            × √(free capacity / need) when a candidate can do only part of the phase

A candidate with no free capacity is skipped, and so, with ``firms.dependence_cap``, is one
that would then take more than the cap of its output from this lead (docs/ODD.md §7.13).

The candidate pool, source by source (:meth:`TeamBuilder.candidates`):

1. tie partners covering the phase (dynamic mode), or the other members of the lead's
   fixed network (static mode, which never looks further: teams never cross borders);
2. strangers: with chance = the lead's search willingness (its cooperativeness unless
   drawn apart; more when crisis or opportunity open it, docs/ODD.md §7.14),
   ``random_search`` firms drawn within one hour's travel (003:L3321), weighted with no
   trust (trust_base only);
3. partner-candidate hooks (docs/hooks.md): brokers' referrals among clients,
   co-producers and idle co-members of a formal network; hubs' capability database.

The per-order code works on plain Python scalars and lists prepared once a month
(docs/developing.md, performance): numpy calls on tiny arrays inside this loop cost
more than the logic.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import cKDTree

from clustersim import compiled
from clustersim.agents.firm import COVER_THRESHOLD
from clustersim.cooperation import openness
from clustersim.market import Order
from clustersim.region import CellIndex, cell_keys
from clustersim.ties import pair_key, pair_keys

if TYPE_CHECKING:
    from clustersim.agents.firm import FirmState
    from clustersim.model import ClusterModel
    from clustersim.scenario import TeamsConfig

_EPS = 1e-9

# Why an order was lost (the column names of docs/ODD.md §8).
LOST_NO_PARTNER = "orders_lost_no_partner"  # nobody the lead can reach covers a phase
LOST_NO_CAPACITY = "orders_lost_no_capacity"  # firms cover it, but none has free capacity
LOST_TO_WORLD = "orders_lost_to_world"  # staffed, but the world's producers won it
# ... as the outcome codes of StaffedOrders (clustersim.compiled's)
OUTCOME_CODES = {None: compiled.WON, LOST_NO_PARTNER: compiled.NO_PARTNER,
                 LOST_NO_CAPACITY: compiled.NO_CAPACITY, LOST_TO_WORLD: compiled.LOST_TO_WORLD}



@dataclass(slots=True)
class Job:
    """A won order being produced: who does what, until when."""

    end: int  # last month of production; paid and assessed then
    segment: int
    lead: int
    members: tuple[int, ...]  # distinct firms, lead first
    assignments: tuple[tuple[int, int, float], ...]  # (firm, phase, employee-months per month)
    value: float  # k€
    max_hours: float  # longest travel time from the lead to a member
    tags: frozenset[str] = frozenset()  # e.g. "export", "formal_network:3"; replaced, not changed


@dataclass(slots=True)
class StaffedOrders:
    """A run of the month's orders after staffing and the win draw, in arrival order.

    ``lead`` is −1 where no firm saw the order; ``outcome`` holds the codes of
    :mod:`clustersim.compiled` (WON, NO_PARTNER, NO_CAPACITY, LOST_TO_WORLD); ``failed`` the
    phase the last attempt could not staff (−1); ``flags`` EARLY_OFFERED and EARLY_STAFFED.
    Won orders have their assignments and the longest travel time, their capacity is
    committed already; the model books them (:meth:`ClusterModel._book_orders`)."""

    orders: list[Order]
    lead: np.ndarray
    outcome: np.ndarray
    failed: np.ndarray
    flags: np.ndarray
    assignments: dict[int, list[tuple[int, int, float]]]  # position in ``orders`` → won work
    hours: dict[int, float]  # position in ``orders`` → max hours of a won order


def build_static_networks(x: np.ndarray, y: np.ndarray, capability: np.ndarray,
                          firms: np.ndarray, *, min_size: int, max_size: int,
                          per_phase: int, radius_km: float,
                          rng: np.random.Generator) -> list[list[int]]:
    """Partition ``firms`` into fixed networks of nearby, complementary firms.

    Each network starts from a randomly drawn firm and adds the nearest unassigned
    firms within ``radius_km`` that bring a phase the network has fewer than
    ``per_phase`` members for (fewer for phases too scarce to give every network that
    many), until every phase is covered that often, no such firm
    is near, or the network has ``max_size`` members. Firms left in networks smaller
    than ``min_size`` join the nearest network with room; then networks still lacking
    a phase take a spare member covering it from a nearby network (docs/ODD.md §7.2).
    """
    count = len(firms)
    if count == 0:
        return []
    covers = capability[firms] >= COVER_THRESHOLD
    # Members wanted per phase: `per_phase`, fewer for phases too scarce to give every
    # expected network that many (but at least one), so late networks are not left
    # without the scarce phases.
    phases = covers.shape[1]
    expected_networks = max(1, round(count / max_size), round(covers.sum() / (phases * per_phase)))
    target = np.clip(covers.sum(axis=0) // expected_networks, 1, per_phase)
    xy = np.column_stack([x[firms], y[firms]])
    tree = cKDTree(xy)
    assigned = np.zeros(count, dtype=bool)
    networks: list[list[int]] = []
    small: list[int] = []
    for seed in rng.permutation(count).tolist():
        if assigned[seed]:
            continue
        team = [seed]
        assigned[seed] = True
        have = covers[seed].astype(np.int64)
        k = min(count, 64)
        while True:
            dist, cand = tree.query(xy[seed], k=k)
            dist, cand = np.atleast_1d(dist), np.atleast_1d(cand)
            exhausted = True
            for d, c in zip(dist.tolist(), cand.tolist(), strict=True):
                if d > radius_km:
                    break
                if assigned[c]:
                    continue
                if len(team) >= max_size:
                    break
                if len(team) < min_size or bool((covers[c] & (have < target)).any()):
                    team.append(c)
                    assigned[c] = True
                    have += covers[c]
            else:
                exhausted = k >= count
            complete = bool((have >= target).all()) and len(team) >= min_size
            if complete or len(team) >= max_size or exhausted or k >= count:
                break
            k = min(count, 4 * k)
        if len(team) >= min_size:
            networks.append(team)
        else:
            small.extend(team)
    if not networks:
        return [[int(firms[i]) for i in range(count)]]
    # Leftovers join the nearest network that still has room (or the nearest at all).
    centroids = np.array([xy[team].mean(axis=0) for team in networks])
    for i in small:
        d2 = ((centroids - xy[i]) ** 2).sum(axis=1)
        sizes = np.array([len(t) for t in networks])
        d2_room = np.where(sizes < max_size, d2, np.inf)
        home = int(np.argmin(d2_room)) if np.isfinite(d2_room).any() else int(np.argmin(d2))
        networks[home].append(i)
    _fill_missing_phases(networks, covers, centroids, target, min_size, max_size, radius_km)
    return [[int(firms[i]) for i in team] for team in networks]


def _fill_missing_phases(networks: list[list[int]], covers: np.ndarray, centroids: np.ndarray,
                         target: np.ndarray, min_size: int, max_size: int, radius_km: float) -> None:
    """Repair: a network lacking a phase takes a member covering it from a nearby network.

    Greedy construction uses scarce phases up before the last networks are built. A
    donor within ``radius_km`` gives a member only if it keeps ``min_size`` members and
    at least one member in each of that member's phases: preferably a member whose
    every phase the donor has above its target (depth kept), else one it has at least
    twice (coverage before depth). The receiver must have room. So coverage only
    improves, with nearby firms ("where the region allows", docs/ODD.md §7.2).
    """
    counts = np.array([covers[team].sum(axis=0) for team in networks])
    tree = cKDTree(centroids)
    for t in range(len(networks)):
        missing = np.flatnonzero(counts[t] == 0).tolist()
        if not missing:
            continue
        near = tree.query_ball_point(centroids[t], r=radius_km)
        near.sort(key=lambda d: (float(((centroids[d] - centroids[t]) ** 2).sum()), d))
        for p in missing:
            if len(networks[t]) >= max_size:
                break
            # Prefer a member whose every phase the donor has above target; else one whose
            # other phases the donor keeps at least once (coverage before depth).
            for floor in (target, np.ones_like(target)):
                moved = False
                for d in near:
                    if d == t or counts[d, p] <= floor[p] or len(networks[d]) <= min_size:
                        continue
                    movable = [m for m in networks[d]
                               if covers[m, p] and (counts[d][covers[m]] > floor[covers[m]]).all()]
                    if movable:
                        m = movable[0]
                        networks[d].remove(m)
                        networks[t].append(m)
                        counts[d] -= covers[m]
                        counts[t] += covers[m]
                        moved = True
                        break
                if moved:
                    break


class TeamBuilder:
    """Staffs orders for one month from state prepared at the month's start."""

    # Staff with clustersim.compiled when nothing outside the builder takes part in partner
    # choice; same results either way (tests/test_compiled.py sets it off to compare).
    use_compiled = True
    MONTH_ROOM = 1 << 16  # assignments and offers a compiled month's buffers hold

    def __init__(self, model: ClusterModel):
        self.model = model
        self.random = model.random.random  # every draw of the month's order loop
        self._compiled: tuple | None = None  # this month's arguments of compiled staffing
        self.hooks = model.hooks  # partner candidates and weights programmes add (docs/hooks.md)
        self.failed_phase = -1  # the phase the last failed staffing attempt could not fill
        self.strangers_searched = 0  # strangers looked at this month (docs/ODD.md §8)

    # ----------------------------------------------------------------- monthly set-up

    def prepare(self) -> None:
        """This month's candidate pools and lead weights; for a month whose order loop runs
        in Python, the state it reads as plain Python lists, for a compiled one as arrays."""
        model = self.model
        firms = model.firms
        n = firms.n
        cfg = model.scenario.teams
        self.static = model.scenario.network_mode == "static"
        working = firms.alive[:n] & ~firms.disrupted[:n]
        self.free = np.where(working, firms.employees[:n] - firms.load[:n], 0.0)
        self._prepare_search(firms, n, cfg)
        self.partners = model.ties.partners
        self.speed = model.region.speed_kmh
        self.radius_km = model.region.search_radius_km
        self.trust_base = cfg.trust_base
        self.proximity_hours = cfg.proximity_hours
        self.random_search = cfg.random_search
        # A phase may be split over two firms; designated cooperators of a fixed network
        # pool their capacity and ramp up as a whole (003:L1530).
        self.max_split = (cfg.static_max_size if self.static else 2) if cfg.split_phases else 1
        self._prepare_dependence(n)
        alive = firms.alive[:n]
        covers = firms.capability[:n] >= COVER_THRESHOLD
        self._covers = covers
        self._alive = alive
        self._phase_index: dict[int, CellIndex] = {}
        self._index_pools(covers)
        self._compiled = None
        if (self.use_compiled and self.dependence is None and not self.hooks.partner_weights
                and all(table is not None for table in self.hooks.candidate_tables)):
            self._prepare_compiled(firms, n, covers)
        else:  # the Python path reads plain lists (see the module docstring)
            self.free = self.free.tolist()
            self._pool_firm, self._pool_weight, self._pool_offsets = (
                array.tolist() for array in self._pool_arrays)
        if self.compiled_month:  # nothing reads them: no lists to build (and none stale)
            self.capability = self.x = self.y = self.knowledge = self.network = None
        else:  # the order loop runs in Python: it reads plain lists
            self.capability = firms.capability[:n].tolist()
            self.x, self.y = firms.x[:n].tolist(), firms.y[:n].tolist()
            self.knowledge = firms.knowledge[:n].tolist()
            self.network = firms.network[:n].tolist()
        # Lead weights per segment: visible firms that cover one of its phases.
        employees = firms.employees[:n]
        spare = np.where(working, np.maximum(employees - firms.load[:n], 0.0), 0.0)
        visibility = employees ** cfg.lead_visibility_exponent * firms.visibility[:n] * working
        segments = len(model.market.segment_phases)
        no_pool = (np.zeros(0, np.int64), np.zeros(0), np.zeros(segments + 1, np.int64))
        self._lead_pools = {"domestic": no_pool, "export": no_pool, "early": no_pool}
        self._lead_lists: dict[str, tuple[list, list, list]] = {}
        self.export_access = (model.export_access() if model.scenario.market.export_share > 0
                              else None)
        busy_weight = visibility * (0.25 + spare / np.maximum(employees, _EPS))
        self.early_notice, informed = model.early_notice()
        # Market intelligence: informed firms hear of some orders first.
        if informed is not None:
            self._lead_pools["early"] = self._segment_pools(informed & working, covers, busy_weight)
        if self.static:
            self._covered = [np.flatnonzero(row).tolist() for row in covers]
            self._prepare_static_leads(covers, alive, employees, spare, visibility)
            return
        self._lead_pools["domestic"] = self._segment_pools(alive, covers, busy_weight)
        if self.export_access is not None:  # export orders: only firms with access lead
            self._lead_pools["export"] = self._segment_pools(alive & self.export_access, covers,
                                                             busy_weight)

    def _segment_pools(self, mask: np.ndarray, covers: np.ndarray, weight: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per segment, the firms in ``mask`` that cover one of its phases and their
        cumulative lead weights (for drawing by bisection), all segments concatenated:
        (firms, cumulative weights, offsets: segment s is ``offsets[s]:offsets[s + 1]``)."""
        firms, cumulative, offsets = [], [], [0]
        for phases in self.model.market.segment_phases:
            eligible = np.flatnonzero(mask & covers[:, list(phases)].any(axis=1))
            firms.append(eligible)
            cumulative.append(np.cumsum(weight[eligible]))
            offsets.append(offsets[-1] + len(eligible))
        return (np.concatenate(firms).astype(np.int64), np.concatenate(cumulative),
                np.asarray(offsets, dtype=np.int64))

    def _prepare_search(self, firms: FirmState, n: int, cfg: TeamsConfig) -> None:
        """Each lead's chance to look for strangers, how many, and their weight, this month.

        Without a response to crisis and opportunity the chance is the firm's search
        willingness. With it, openness o (docs/ODD.md §7.14) adds: chance s + (1 − s) o,
        ``random_search`` × (1 + extra × o) strangers, trust_base × (1 + acceptance × o).
        """
        self.search_draws = self.stranger_weight = None
        response = self.model.scenario.response
        if not response.enabled:
            self.search_chance = firms.search_willingness[:n].tolist()
            return
        open_ = openness(firms, self.model.steps, response)
        firms.openness[:n] = open_
        will = firms.search_willingness[:n]
        self.search_chance = (will + (1.0 - will) * open_).tolist()
        self.search_draws = np.rint(cfg.random_search * (1.0 + response.extra_strangers * open_)
                                    ).astype(np.int64).tolist()
        self.stranger_weight = (cfg.trust_base * (1.0 + response.stranger_acceptance * open_)).tolist()

    def _prepare_dependence(self, n: int) -> None:
        """The dependence cap's per-order check, prepared once a month (docs/ODD.md §7.13).

        A firm's reference output is the larger of its 12-month revenue and a year's work of
        its staff at the planned utilisation, so that a newcomer is not locked out by its
        first order. ``self.dependence`` is None when there is no cap (no per-order cost)."""
        model = self.model
        cap = model.scenario.firms.dependence_cap
        self.dependence = None
        if cap is None:
            return
        market = model.scenario.market
        output = model.partner_revenue.output_of(n)
        staff_year = model.firms.employees[:n] * 12.0 * market.target_utilisation * market.price
        self.dependence = (cap, dict(model.partner_revenue.received),
                           np.maximum(output, staff_year).tolist(),
                           1.0 - model.scenario.teams.lead_premium)

    def declines(self, candidate: int, lead: int, pay: float) -> bool:
        """Whether ``candidate`` would take more than the cap of its output from ``lead``."""
        cap, received, reference, _ = self.dependence  # type: ignore[misc]
        got = received.get((candidate, lead), 0.0) + pay
        return got > cap * (reference[candidate] + pay)

    def pay_per_load(self, order: Order) -> float:
        """k€ a partner earns on ``order`` per employee-month a month of load (the cap's
        estimate: the order's value per employee-month, less the lead's premium)."""
        return order.value * order.duration / sum(order.work) * self.dependence[3]  # type: ignore[index]

    def book_dependence(self, lead: int, assignments: list[tuple[int, int, float]],
                        order: Order) -> None:
        """Count a won order's partner pay at once, so that several orders from one lead in
        a month cannot slip past the cap before any is paid."""
        received = self.dependence[1]  # type: ignore[index]
        pay_per_load = self.pay_per_load(order)
        for firm, _phase, load in assignments:
            if firm != lead:
                key = (firm, lead)
                received[key] = received.get(key, 0.0) + load * pay_per_load

    def _prepare_static_leads(self, covers: np.ndarray, alive: np.ndarray, employees: np.ndarray,
                              spare: np.ndarray, visibility: np.ndarray) -> None:
        """Static mode: a fixed network bids for the orders its members can make together.

        Designated cooperators know each other's order books, so an order goes to a
        network whose members have the spare capacity for every phase, weighted by the
        visibility of its members that cover one of the phases; the lead is one of them.
        """
        model = self.model
        network = model.firms.network[: len(alive)]
        member = alive & (network >= 0)
        nets = max(1, len(model.static_networks))
        rows = np.flatnonzero(member)
        net_spare = np.zeros((nets, covers.shape[1]))
        np.add.at(net_spare, network[rows], covers[rows] * spare[rows, None])
        self._net_spare = net_spare.tolist()
        self._static_visibility = visibility
        self._static_members = member
        self._net_draw: dict[int, tuple[list[float], float]] = {}
        self._net_leads: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
        for s, needed in enumerate(model.market.segment_phases):
            seeing = member & covers[:, list(needed)].any(axis=1)
            weight = np.bincount(network[seeing], weights=visibility[seeing], minlength=nets)
            cum = np.cumsum(weight)
            self._net_draw[s] = (cum.tolist(), float(cum[-1]))

    STATIC_TRIES = 12  # networks sampled per bid before the order goes to one that cannot staff it

    def draw_static_lead(self, order: Order, u: float) -> int:
        """A lead firm in a fixed network able to staff ``order`` (−1 if no network sees it).

        Networks are sampled by weight until one has the spare capacity for every phase
        (rejection sampling keeps this O(1) per order at any cluster size).
        """
        cum, total = self._net_draw[order.segment]
        if total <= 0:
            return -1
        rand = self.random
        needs = [(p, w / order.duration) for p, w in zip(order.phases, order.work, strict=True)]
        net = -1
        r = u
        for _ in range(self.STATIC_TRIES):
            net = min(bisect_right(cum, r * total), len(cum) - 1)
            spare = self._net_spare[net]
            if all(spare[p] >= need for p, need in needs):
                break
            r = rand()
        key = (net, order.segment)
        leads = self._net_leads.get(key)
        if leads is None:
            capability = self.capability
            members = [f for f in self.model.static_networks[net] if self._static_members[f]
                       and any(capability[f][p] >= COVER_THRESHOLD for p in order.phases)]
            leads = (members, np.cumsum(self._static_visibility[members]).tolist())
            self._net_leads[key] = leads
        members, member_cum = leads
        if not members:
            return -1
        slot = bisect_right(member_cum, rand() * member_cum[-1])
        return members[min(slot, len(members) - 1)]

    def can_export(self, firm: int) -> bool:
        """Whether ``firm`` may lead an export order this month (docs/ODD.md §7.15)."""
        return firm >= 0 and self.export_access is not None and bool(self.export_access[firm])

    def draw_lead(self, segment: int, u: float, export: bool = False, early: bool = False) -> int:
        """A lead firm for an order of ``segment`` from a uniform number ``u``; −1 if none sees it.

        ``export``: among firms with export access (§7.15); ``early``: among firms informed
        by market intelligence (§7.11)."""
        kind = "early" if early else "export" if export else "domestic"
        lists = self._lead_lists.get(kind)
        if lists is None:  # plain lists: bisect on them beats numpy calls per order
            lists = self._lead_lists[kind] = tuple(a.tolist() for a in self._lead_pools[kind])
        eligible, cum, offsets = lists
        lo, hi = offsets[segment], offsets[segment + 1]
        if lo == hi or cum[hi - 1] <= 0:
            return -1
        return eligible[min(bisect_right(cum, u * cum[hi - 1], lo, hi), hi - 1)]

    # ----------------------------------------------------------------- candidate pools

    def _phase_cells(self, phase: int) -> CellIndex:
        index = self._phase_index.get(phase)
        if index is None:
            members = np.flatnonzero(self._alive & self._covers[:, phase])
            index = CellIndex(self.model.firms.x, self.model.firms.y, members, self.radius_km)
            self._phase_index[phase] = index
        return index

    def _weight(self, lead: int, c: int) -> float:
        """Trust × proximity part of the partner score (fixed while teams form)."""
        hours = math.hypot(self.x[c] - self.x[lead], self.y[c] - self.y[lead]) / self.speed
        trust = self.model.ties.trust.get(pair_key(lead, c), 0.0)
        return (self.trust_base + trust) * math.exp(-hours / self.proximity_hours)

    def _index_pools(self, covers: np.ndarray) -> None:
        """Every firm's candidate partners grouped by (firm, phase covered), with weights.

        Dynamic mode: its tie partners. Static mode: the other members of its fixed
        network, tie or not. Built with numpy once a month; a lead's candidates for a
        phase are then one slice of ``_pool_firm``/``_pool_weight`` between two offsets.
        """
        model = self.model
        phases = covers.shape[1]
        if self.static:
            src_list, dst_list = [], []
            for members in model.static_networks:
                living = [m for m in members if self._alive[m]]
                for a in living:
                    for b in living:
                        if a != b:
                            src_list.append(a)
                            dst_list.append(b)
            src = np.asarray(src_list, dtype=np.int64)
            dst = np.asarray(dst_list, dtype=np.int64)
            trust = model.ties.lookup(pair_keys(src, dst))
            weight = self._pool_weights(src, dst, trust)
        else:  # each tie both ways, with the same weight (distance is symmetric)
            u, v, trust = model.ties.edges()
            src, dst = np.concatenate([u, v]), np.concatenate([v, u])
            weight = np.tile(self._pool_weights(u, v, trust), 2)
        edge, offsets = compiled.bucket_by_phase(src.astype(np.int64), dst.astype(np.int64),
                                                 np.ascontiguousarray(covers))
        self._pool_arrays = (dst[edge].astype(np.int64), weight[edge], offsets)
        self._phases = phases

    def _pool_weights(self, src: np.ndarray, dst: np.ndarray, trust: np.ndarray) -> np.ndarray:
        """Trust × proximity weight of candidates ``dst`` for leads ``src`` (as :meth:`_weight`)."""
        x, y = self.model.firms.x, self.model.firms.y
        hours = np.hypot(x[src] - x[dst], y[src] - y[dst]) / self.speed
        return (self.trust_base + trust) * np.exp(-hours / self.proximity_hours)

    def _prepare_compiled(self, firms: FirmState, n: int, covers: np.ndarray) -> None:
        """The arrays :func:`clustersim.compiled.staff_order` reads, for this month."""
        phases = covers.shape[1]
        search = bool(self.random_search) and not self.static
        x, y = firms.x[:n].astype(np.float64), firms.y[:n].astype(np.float64)
        cell_km = max(self.radius_km, 1e-9)  # as CellIndex
        part_offsets = np.zeros(n + 1, dtype=np.int64)
        part_ids = np.zeros(0, dtype=np.int64)
        part_trust = np.zeros(0)
        if not self.static:  # tie partners, sorted per firm, with their trust
            u, v, trust = self.model.ties.edges()
            part_offsets, part_ids, part_trust = compiled.partners_by_firm(
                u.astype(np.int64), v.astype(np.int64), trust.astype(np.float64), n)
        if search:  # per phase, the cells of CellIndex (as cell_arrays), as flat arrays
            cell_key = cell_keys(x, y, cell_km)
            cells = compiled.cells_by_phase(cell_key, np.argsort(cell_key, kind="stable"),
                                            self._alive[:, None] & covers)
        else:
            empty = np.zeros(0, np.int64)
            cells = (empty, empty, empty, empty, np.zeros(phases + 1, np.int64))

        cfg = self.model.scenario.teams
        draws = (np.full(n, self.random_search, dtype=np.int64) if self.search_draws is None
                 else np.asarray(self.search_draws, dtype=np.int64))
        weight = (np.full(n, self.trust_base) if self.stranger_weight is None
                  else np.asarray(self.stranger_weight, dtype=np.float64))
        tables, table_arrays, widest = self._candidate_tables(n, phases)
        slots = phases * (1 + self.max_split)
        longest = int(np.diff(self._pool_arrays[2]).max()) if n else 0
        scratch = longest + (int(draws.max()) if search and n else 0) + sum(widest) + 1
        sampled = max([w for w, t in zip(widest, tables, strict=True) if t.reach is not None],
                      default=0) + 1
        offers = phases * sum(widest) + 1
        out = (np.zeros(slots, np.int64), np.zeros(slots, np.int64), np.zeros(slots))
        self._offers = (np.zeros(offers, np.int64), np.zeros(offers, np.int64))
        self.free = np.asarray(self.free, dtype=np.float64)
        capability = np.ascontiguousarray(firms.capability[:n], dtype=np.float64)
        self._geometry = (self.free, capability, x, y, self.speed)  # staff_month's too
        # staff_order's arguments after (rng, lead, phases, work, duration), in order
        self._compiled = (
            (self.free, capability,
             COVER_THRESHOLD, *self._pool_arrays, self._phases,
             search, np.asarray(self.search_chance, dtype=np.float64), draws, weight,
             x, y, self.radius_km**2, 1.0 / (self.speed * cfg.proximity_hours), cell_km,
             cells[4], *cells[:4], part_offsets, part_ids, part_trust,
             self._alive, self.trust_base, self.speed, self.proximity_hours,
             *table_arrays, self.max_split, _EPS),
            (*out, np.zeros(scratch, np.int64), np.zeros(scratch), np.zeros(scratch),
             np.zeros(sampled, np.int64), np.zeros(sampled, np.int64),
             np.zeros(n + 1, np.int64), np.zeros(18, np.int64), *self._offers),
            out)
        self._tables = tables

    def candidates(self, lead: int, phase: int) -> tuple[list[int], list[float]]:
        """Firms the lead can ask to do ``phase``, each once, with their trust × proximity weight.

        All cover the phase, are alive and are not the lead. Returns (firms, weights).
        """
        slot = lead * self._phases + phase
        start, end = self._pool_offsets[slot], self._pool_offsets[slot + 1]
        firms, weights = self._pool_firm[start:end], self._pool_weight[start:end]
        if self.static:
            return firms, weights
        model = self.model
        known = self.partners.get(lead, ())
        # Strangers: a lead willing to search looks around within one hour's travel
        # (003:L3321); crisis and opportunity make it look more often, at more firms, and
        # weigh them more (docs/ODD.md §7.14).
        if self.random_search and model.random.random() < self.search_chance[lead]:
            hood = self._phase_cells(phase).neighbourhood(self.x[lead], self.y[lead])
            if hood:
                x, y = self.x, self.y
                lx, ly, r2 = x[lead], y[lead], self.radius_km**2
                scale = 1.0 / (self.speed * self.proximity_hours)
                rand = model.random.random
                size = len(hood)
                draws = self.random_search if self.search_draws is None else self.search_draws[lead]
                base = self.trust_base if self.stranger_weight is None else self.stranger_weight[lead]
                self.strangers_searched += draws
                for _ in range(draws):
                    c = hood[int(rand() * size)]
                    if c == lead or c in known or c in firms[end - start:]:
                        continue
                    d2 = (x[c] - lx) ** 2 + (y[c] - ly) ** 2
                    if d2 <= r2:  # strangers have no trust yet: weight = trust_base × proximity
                        firms.append(c)
                        weights.append(base * math.exp(-math.sqrt(d2) * scale))
        # Hook: candidates programmes add (brokers' referrals, co-producers and idle
        # co-members; hubs' capability database), weighted like any other firm.
        if self.hooks.partner_candidates:
            listed = set(firms)
            capability = self.capability
            for _owner, source in self.hooks.partner_candidates:
                for c in source(lead, phase):
                    if (c != lead and c not in listed and self._alive[c]
                            and capability[c][phase] >= COVER_THRESHOLD):
                        listed.add(c)
                        firms.append(c)
                        weights.append(self._weight(lead, c))
        # Hook: factors programmes put on some candidates' scores (impannatore norms).
        for _owner, partner_weight in self.hooks.partner_weights:
            weights = [w * partner_weight(lead, c) for c, w in zip(firms, weights, strict=True)]
        return firms, weights

    # ----------------------------------------------------------------- staffing

    def staff(self, order: Order, lead: int) -> tuple[list[tuple[int, int, float]], str | None, float]:
        """Assign the order's work; returns (assignments, reason it was lost or None, max hours).

        Nothing is committed here: the caller commits the assignments if the team wins.
        When staffing fails, ``failed_phase`` is the phase that could not be staffed.
        """
        if self._compiled is not None:
            return self._staff_compiled(order, lead)
        capability, free = self.capability, self.free
        self.failed_phase = -1
        used: dict[int, float] = {}
        assignments: list[tuple[int, int, float]] = []
        duration = order.duration
        max_hours = 0.0
        lx, ly, speed = self.x[lead], self.y[lead], self.speed
        dependence = self.dependence
        pay_per_load = self.pay_per_load(order) if dependence is not None else 0.0
        for phase, work in zip(order.phases, order.work, strict=True):
            need = work / duration
            lead_covers = capability[lead][phase] >= COVER_THRESHOLD
            if lead_covers:
                avail = free[lead] - used.get(lead, 0.0)
                if avail > _EPS:
                    take = need if need < avail else avail
                    assignments.append((lead, phase, take))
                    used[lead] = used.get(lead, 0.0) + take
                    need -= take
            if need <= _EPS:
                continue
            pool, weights = self.candidates(lead, phase)
            if not pool and not lead_covers:
                self.failed_phase = phase
                return assignments, LOST_NO_PARTNER, max_hours
            scored = []
            for c, weight in zip(pool, weights, strict=True):  # each firm once (see candidates())
                avail = free[c] - used.get(c, 0.0)
                if avail <= _EPS:
                    continue
                if dependence is not None and self.declines(c, lead, min(avail, need) * pay_per_load):
                    continue
                score = capability[c][phase] * weight * (1.0 if avail >= need else math.sqrt(avail / need))
                scored.append((score, c, avail))
            if not scored:
                self.failed_phase = phase
                return assignments, LOST_NO_CAPACITY, max_hours
            for _pick in range(self.max_split):
                if not scored:
                    break
                _score, c, avail = scored.pop(self._choose(scored))
                take = need if need < avail else avail
                assignments.append((c, phase, take))
                used[c] = used.get(c, 0.0) + take
                need -= take
                max_hours = max(max_hours, math.hypot(self.x[c] - lx, self.y[c] - ly) / speed)
                if need <= _EPS:
                    break
            if need > _EPS:
                self.failed_phase = phase
                return assignments, LOST_NO_CAPACITY, max_hours
        return assignments, None, max_hours

    def _candidate_tables(self, n: int, phases: int) -> tuple[list, tuple, list[int]]:
        """This month's CandidateTables (none in static mode), as the kernel's flat arrays
        (all tables' rows and firms concatenated), and each table's longest row."""
        tables = [] if self.static else [make() for make in self.hooks.candidate_tables]
        group = np.full((len(tables), n), -1, dtype=np.int64)
        row_base, offsets, firms, reach_base, reach = [], [], [], [], []
        rows = done = reach_done = 0
        widest = []
        for t, table in enumerate(tables):
            group[t, : len(table.group)] = table.group[:n]
            row_base.append(rows)
            offsets.append(table.offsets[:-1] + done)
            firms.append(table.firms)
            rows += len(table.offsets) - 1
            done += len(table.firms)
            reach_base.append(reach_done)
            if table.reach is not None:
                reach.append(table.reach)
                reach_done += len(table.reach)
            widest.append(int(np.diff(table.offsets).max()) if len(table.offsets) > 1 else 0)
        offsets.append(np.array([done]))
        arrays = (len(tables), group, np.asarray(row_base, dtype=np.int64),
                  np.concatenate(offsets).astype(np.int64),
                  np.concatenate(firms).astype(np.int64) if firms else np.zeros(0, np.int64),
                  np.array([t.reach is not None for t in tables], dtype=np.bool_),
                  np.asarray(reach_base, dtype=np.int64),
                  np.concatenate(reach).astype(np.float64) if reach else np.zeros(0))
        return tables, arrays, widest

    def _staff_compiled(self, order: Order, lead: int
                        ) -> tuple[list[tuple[int, int, float]], str | None, float]:
        """:meth:`staff` through :func:`clustersim.compiled.staff_order` (same results)."""
        before, after, (out_firm, out_phase, out_take) = self._compiled
        phases, work = order.phases, order.work  # tuples: cheap to hand to numba
        if type(phases) is not tuple or type(work) is not tuple:
            phases, work = tuple(phases), tuple(work)
        outcome, count, failed, strangers, offers = compiled.staff_order(
            self._stream_state, lead, phases, work, order.duration, *before, *after)
        self.strangers_searched += strangers
        if offers:  # what sampling sources offered: they remember it (hub introductions)
            offer_firm, offer_table = self._offers
            firms_offered, tables_offered = offer_firm[:offers].tolist(), offer_table[:offers].tolist()
            for t, table in enumerate(self._tables):
                if table.remember is not None:
                    table.remember(lead, [c for c, u in zip(firms_offered, tables_offered,
                                                            strict=True) if u == t])
        self.failed_phase = failed
        firms = out_firm[:count].tolist()
        assignments = list(zip(firms, out_phase[:count].tolist(), out_take[:count].tolist(),
                               strict=True))
        x, y = self.x, self.y
        lx, ly, speed = x[lead], y[lead], self.speed
        max_hours = 0.0
        for firm in firms:
            if firm != lead:
                max_hours = max(max_hours, math.hypot(x[firm] - lx, y[firm] - ly) / speed)
        reason = None if outcome == compiled.STAFFED else (
            LOST_NO_PARTNER if outcome == compiled.NO_PARTNER else LOST_NO_CAPACITY)
        return assignments, reason, max_hours

    @property
    def compiled_month(self) -> bool:
        """Whether this month's whole order loop runs compiled (:meth:`staff_month`):
        dynamic mode in a month staffed with :func:`clustersim.compiled.staff_order`."""
        return self._compiled is not None and not self.static

    def staff_month(self, orders: list[Order], draws: np.ndarray) -> Iterator[StaffedOrders]:
        """The month's order loop, compiled (:func:`clustersim.compiled.staff_month`):
        yields the orders staffed, a run at a time (a run per call of the kernel). Offers of
        sampling tables have been remembered (:class:`~clustersim.hooks.CandidateTable`)."""
        count = len(orders)
        if count == 0:
            return
        market = self.model.market
        firms = self.model.firms
        sizes = [len(order.phases) for order in orders]
        offsets = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        order_arrays = (
            np.fromiter((order.segment for order in orders), dtype=np.int64, count=count),
            offsets,
            np.fromiter(chain.from_iterable(order.phases for order in orders), dtype=np.int64,
                        count=int(offsets[-1])),
            np.fromiter(chain.from_iterable(order.work for order in orders), dtype=np.float64,
                        count=int(offsets[-1])),
            np.fromiter((order.duration for order in orders), dtype=np.int64, count=count),
            np.fromiter((order.export for order in orders), dtype=np.bool_, count=count))
        pools = self._lead_pools
        n = firms.n
        # The kernel writes every order's results (a won order's start too) and every buffer
        # entry before it is read: no need to zero them.
        results = (*(np.empty(count, np.int64) for _ in range(6)), np.empty(count))
        before, after, (out_firm, _phase, _take) = self._compiled
        # Room in the month's buffers; the kernel stops (and is called again) when one
        # more order's output might not fit, so at least one order's must: its assignments if
        # it is won, and the offers of its 1 + bids staffing attempts.
        assigned_room = max(self.MONTH_ROOM, out_firm.size)
        offered_room = max(self.MONTH_ROOM, self._offers[0].size * (draws.shape[1] + 1))
        assigned = (np.empty(assigned_room, np.int64), np.empty(assigned_room, np.int64),
                    np.empty(assigned_room))
        offered = tuple(np.empty(offered_room, np.int64) for _ in range(3))
        cfg = market.cfg
        constants = (self.early_notice, pools["domestic"], pools["export"], pools["early"],
                     np.ascontiguousarray(firms.quality_bonus[:n], dtype=np.float64),
                     np.ascontiguousarray(firms.knowledge[:n], dtype=np.float64),
                     (np.asarray(market.novelty, dtype=np.float64),
                      np.asarray(market.benchmark, dtype=np.float64),
                      float(cfg.knowledge_weight), float(cfg.win_steepness)),
                     self._geometry,
                     before, after)
        first = 0
        while first < count:
            totals = np.zeros(3, np.int64)
            stop = compiled.staff_month(first, self._stream_state, *order_arrays, draws,
                                        *constants, results, assigned, offered, totals)
            self.strangers_searched += int(totals[0])
            self._remember(offered, int(totals[2]))
            lead, outcome, failed, flags, start, size, hours = (r[first:stop] for r in results)
            won = np.flatnonzero(outcome == compiled.WON)
            work = list(zip(*(a[:int(totals[1])].tolist() for a in assigned), strict=True))
            yield StaffedOrders(
                orders[first:stop], lead, outcome, failed, flags,
                {k: work[a:a + b] for k, a, b in zip(won.tolist(), start[won].tolist(),
                                                      size[won].tolist(), strict=True)},
                dict(zip(won.tolist(), hours[won].tolist(), strict=True)))
            first = stop

    def _remember(self, offered: tuple[np.ndarray, ...], count: int) -> None:
        """Tell sampling tables what they offered to which lead, in staffing order."""
        if not count:
            return
        leads, firms, tables = (a[:count].tolist() for a in offered)
        for t, table in enumerate(self._tables):
            if table.remember is None:
                continue
            lead, picks = -1, []
            for a, c, u in zip(leads, firms, tables, strict=True):
                if u != t:
                    continue
                if a != lead and picks:
                    table.remember(lead, picks)
                    picks = []
                lead = a
                picks.append(c)
            if picks:
                table.remember(lead, picks)

    def take_over_stream(self) -> compiled.TwisterStream | None:
        """For a compiled month: take the model's random stream over (hand it back after the
        order loop); ``self.random`` then draws from it. None in a Python month."""
        if self._compiled is None:
            self.random = self.model.random.random
            return None
        stream = compiled.TwisterStream(self.model.random)
        self._stream_state = stream.state
        self.random = stream.random
        return stream

    def _choose(self, scored: list[tuple[float, int, float]]) -> int:
        """Index of a candidate drawn with probability proportional to its score."""
        total = 0.0
        for item in scored:
            total += item[0]
        if total <= 0.0:
            return 0
        threshold = self.model.random.random() * total
        for i, item in enumerate(scored):
            threshold -= item[0]
            if threshold < 0.0:
                return i
        return len(scored) - 1

    def commit(self, assignments: list[tuple[int, int, float]]) -> None:
        """Occupy the capacity of a won order's firms for this month's remaining orders."""
        free = self.free
        for firm, _phase, load in assignments:
            free[firm] -= load
            if self.static:
                spare = self._net_spare[self.network[firm]]
                for p in self._covered[firm]:
                    spare[p] -= load
