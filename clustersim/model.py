"""ClusterModel: small firms form production networks in a simulated market.

One step is one month and runs the phases of docs/ODD.md §3 in order; each phase is a
method of the same name, so a reader finds every phase in :meth:`ClusterModel.step`.
The model takes a :class:`~clustersim.scenario.Scenario` (or a path to one) and/or
plain keyword arguments (``network_mode="static"``, ``n_firms=200``,
``**{"market.volatility": 0.4}``), so ``mesa.batch_run`` and SolaraViz work on it
unchanged.
"""

from __future__ import annotations

import gc
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

import mesa
import networkx as nx
import numpy as np
import pandas as pd

from clustersim import compiled, metrics, rivalry
from clustersim.agents.firm import Firm, FirmState
from clustersim.agents.institution import Institution
from clustersim.compiled import (
    EARLY_OFFERED,
    EARLY_STAFFED,
    NO_CAPACITY,
    NO_PARTNER,
    WON,
)
from clustersim.compiled import LOST_TO_WORLD as LOST_TO_WORLD_CODE
from clustersim.cooperation import draw_cooperation
from clustersim.dependence import PartnerRevenue
from clustersim.effects import Effects
from clustersim.formal import FormalNetworks
from clustersim.hooks import MonthHooks
from clustersim.market import Market
from clustersim.policies import Policy, build_policies
from clustersim.region import CellIndex, Region
from clustersim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from clustersim.shocks import Shock, build_shocks
from clustersim.teams import (
    LOST_NO_PARTNER,
    LOST_TO_WORLD,
    OUTCOME_CODES,
    Job,
    StaffedOrders,
    TeamBuilder,
    build_static_networks,
)
from clustersim.ties import PAIR_KEY_BASE, TieStore

# Money flows recorded every month (k€); they balance the change in firms' cash.
LEDGER_KEYS = ("customer_payments", "partner_payments_made", "partner_payments_received",
               "fixed_costs", "rd_spend", "withdrawals", "entry_cash", "policy_payments", "fees",
               "project_spend")
# How each flow moves firms' cash (payments between firms net out and are left out).
CASH_SIGNS = {"customer_payments": 1, "fixed_costs": -1, "rd_spend": -1, "withdrawals": -1,
              "entry_cash": 1, "policy_payments": 1, "fees": -1, "project_spend": -1}


# Constants fixed in the code, not scenario parameters (docs/ODD.md §7.7).
# Capabilities a founder starts with: high in its specialty, low elsewhere, and maybe a
# secondary skill between the two (incumbents at month 0 and spin-offs alike).
SPECIALTY_CAPABILITY = (0.6, 0.9)
OTHER_CAPABILITY = (0.0, 0.15)
SECONDARY_CAPABILITY = (0.3, 0.6)
# Utilisation is smoothed: this month's load counts 0.3, the memory of past months 0.7.
UTILISATION_MEMORY, UTILISATION_NOW = 0.7, 0.3
# A spin-off settles within about this distance (sd, km) of its parent, in the same town.
SPINOFF_DISTANCE_KM = 3.0


def smoothed_utilisation(f: FirmState) -> np.ndarray:
    """This month's utilisation of every firm: the smoothed load per employee (0 if gone)."""
    n = f.n
    return np.where(f.alive[:n], UTILISATION_MEMORY * f.utilisation[:n]
                    + UTILISATION_NOW * f.load[:n] / np.maximum(f.employees[:n], 1e-9), 0.0)


def _checked_seed(seed: Any) -> int | None:
    """The seed as a whole number ≥ 0 (or None: fresh entropy), or a clear ScenarioError.

    SolaraViz text fields arrive as strings (docs/developing.md T6)."""
    value = seed
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            value = None if not value.strip() else value
    if value is None and seed is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ScenarioError(f"seed = {seed!r} is not allowed: must be a whole number ≥ 0 "
                            "(the same seed gives the same run)", key="seed")
    return int(value)


_collector_lock = threading.Lock()
_collector_pauses = 0  # months running now (threads may run models side by side)
_collector_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a month runs (docs/developing.md).

    A month allocates many short-lived objects (orders, jobs, tuples); each allocation
    burst makes the collector scan every object it tracks, the model's long-lived state
    included: about a fifth of a month's CPU at 10,000 firms. Reference counting still
    frees what a month drops; the collector runs again between months. Pauses nest and
    are counted across threads, so the collector is enabled again, if it was when the
    first of them started, when the last running month ends.
    """
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


def _flat(lists: list[Sequence[int]]) -> np.ndarray:
    """Sequences of ints, concatenated (for compiled loops over variable-length rows)."""
    return np.fromiter(chain.from_iterable(lists), dtype=np.int64,
                       count=sum(map(len, lists)))


def _assignment_rows(assignments: Iterable[Sequence[tuple[int, int, float]]]) -> np.ndarray:
    """Jobs' assignments, concatenated, as rows (firm, phase, load) of a float array."""
    return np.fromiter(chain.from_iterable(chain.from_iterable(assignments)),
                       dtype=np.float64).reshape(-1, 3)


_NO_ROWS = np.zeros((0, 3))  # no assignment rows (read only)
_NO_ROWS.flags.writeable = False


def _offsets(lists: list) -> np.ndarray:
    """Where each list starts in their concatenation, and where the last ends."""
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, lists), dtype=np.int64, count=len(lists)), out=offsets[1:])
    return offsets


def resolve_scenario(scenario: Scenario | str | Path | None, overrides: dict[str, Any]) -> Scenario:
    """A Scenario from a Scenario, a path or nothing, with keyword overrides applied."""
    if isinstance(scenario, Scenario):
        if not overrides:
            return scenario
        base = scenario.model_dump()
    elif scenario is None:
        base = {}
    else:
        base = load_scenario(scenario).model_dump()
    return scenario_from_dict(base, source="ClusterModel keyword arguments", overrides=overrides,
                              strict=False)


class ClusterModel(mesa.Model):
    """A manufacturing cluster of small firms, their ties and their market."""

    def __init__(self, scenario: Scenario | str | Path | None = None, *,
                 seed: int | str | None = None, rng: Any = None, **overrides: Any):
        seed = _checked_seed(seed)
        self.scenario = resolve_scenario(scenario, overrides)
        super().__init__(seed=seed, rng=rng)
        self.seed = seed
        sc = self.scenario
        self.static_mode = sc.network_mode == "static"
        # A separate stream for measurement (sampled path lengths), so that how often
        # metrics are computed never changes what the firms do.
        self.metrics_rng = np.random.default_rng(self.rng.integers(2**63))

        self.region = Region.from_config(sc.region, self.rng)
        n, phases = sc.firms.count, sc.firms.phases
        if sc.firms.initial_sizes == "equal":
            employees = np.full(n, min(max(1.0, sc.firms.employees_median), sc.firms.max_employees))
        else:
            employees = np.clip(self.rng.lognormal(math.log(sc.firms.employees_median),
                                                   sc.firms.employees_sigma, size=n),
                                1.0, sc.firms.max_employees)
        self.market = Market(sc.market, phases, self.rng, cluster_capacity=float(employees.sum()))
        self.firms = FirmState(n, phases)
        self.ties = TieStore(sc.ties.gain, sc.ties.decay, sc.ties.floor)
        self.firm_agents: list[Firm] = []
        self.static_networks: list[list[int]] = []
        self.jobs: dict[int, list[Job]] = {}
        self.hooks = MonthHooks()  # where programmes act on the month (docs/hooks.md)
        self.teams = TeamBuilder(self)
        # Institutions, and what policies build: formal networks, hubs, joint projects.
        self.institution = Institution(self)
        self.university = (Institution(self, "university", sc.institutions.university_effect)
                           if sc.institutions.university else None)
        self.formal_networks = FormalNetworks()
        self.hubs: list[Any] = []
        self.joint_projects: list[Any] = []
        self.event_log: list[tuple[int, str, str]] = []
        self.effects = Effects()  # what policies do to firms' visibility, costs and quality
        self.partner_revenue = PartnerRevenue()  # revenue by lead, 12 months (docs/ODD.md §7.13)
        self.month: Counter[str] = Counter()
        self.ledger: dict[str, float] = dict.fromkeys(LEDGER_KEYS, 0.0)
        self.totals_counter: Counter[str] = Counter()
        self.team_sizes: list[int] = []
        self.team_size_history: list[tuple[int, Counter[int]]] = []  # (month, size → teams)
        self.stats: dict[str, float] = {}
        self.firm_snapshots: list[pd.DataFrame] = []
        self.network_snapshots: dict[int, nx.Graph] = {}
        self._spinoff_sources: list[tuple[int, int]] = []
        self.jobs_won: list[Job] = []  # this month's won orders (policies read them)
        self.jobs_completed: list[tuple[Job, bool]] = []  # this month's deliveries: (job, failed)
        self._flat_jobs: tuple[list[Job], tuple[np.ndarray, ...]] | None = None  # _flattened
        # end month → (its jobs' list, how many of them, their assignment rows): _committed_load
        self._running_rows: dict[int, tuple[list[Job], int, np.ndarray]] = {}
        self._rd_paid = np.zeros(0, dtype=bool)
        self._rd_effort: np.ndarray | None = None  # R&D effort under rivalry (§7.16)

        self._create_initial_firms(employees)
        self._create_initial_ties()
        self.initial_cohort = n
        self.spin_up(sc.spin_up)
        self.policies: list[Policy] = build_policies(self)
        self.shocks: list[Shock] = build_shocks(self)
        self.datacollector = mesa.DataCollector(model_reporters=metrics.reporters())
        self.programmes_after_month()
        self.collect()

    # ------------------------------------------------------------------ set-up

    def _create_initial_firms(self, employees: np.ndarray) -> None:
        sc, rng = self.scenario, self.rng
        n, phases = len(employees), sc.firms.phases
        idx = self.firms.add(n)
        f = self.firms
        x, y = self.region.place_firms(n, rng)
        f.x[idx], f.y[idx] = x, y
        f.town[idx] = self.region.nearest_town(x, y)
        weights = (self.market.phase_demand_share() if sc.firms.specialty_weights == "demand"
                   else np.full(phases, 1.0 / phases))
        specialty = rng.choice(phases, size=n, p=weights)
        f.specialty[idx] = specialty
        capability = rng.uniform(*OTHER_CAPABILITY, size=(n, phases))
        capability[np.arange(n), specialty] = rng.uniform(*SPECIALTY_CAPABILITY, size=n)
        has_second = rng.random(n) < sc.firms.secondary_capability_chance
        second = (specialty + rng.integers(1, phases, size=n)) % phases
        capability[has_second, second[has_second]] = rng.uniform(*SECONDARY_CAPABILITY,
                                                                  size=int(has_second.sum()))
        f.capability[idx] = capability
        f.knowledge[idx] = rng.lognormal(0.0, sc.firms.knowledge_sigma, size=n)
        f.employees[idx] = employees
        self._draw_cooperativeness(idx)
        costs = sc.production.wage * employees + sc.production.overhead
        f.cash[idx] = sc.firms.initial_cash_months * costs * rng.uniform(0.5, 1.5, size=n)
        f.alive[idx] = True
        f.utilisation[idx] = sc.market.target_utilisation
        for i in idx.tolist():
            self.firm_agents.append(Firm(self, i))

    def _draw_cooperativeness(self, idx: np.ndarray) -> None:
        """New firms' cooperativeness, habit and search willingness (docs/ODD.md §7.14)."""
        f = self.firms
        coop, habitual, search = draw_cooperation(self.scenario.region, self.rng, len(idx))
        f.cooperativeness[idx], f.habitual[idx], f.search_willingness[idx] = coop, habitual, search

    def _create_initial_ties(self) -> None:
        """Month-0 ties: fixed networks (static) or acquaintances within one hour (dynamic).

        Without ties at the start most firms die in the first year (docs/ODD.md §7.6).
        """
        sc, f, rng = self.scenario, self.firms, self.rng
        alive = f.alive_indices()
        if self.static_mode:
            teams = sc.teams
            self.static_networks = build_static_networks(
                f.x, f.y, f.capability, alive, min_size=teams.static_min_size,
                max_size=teams.static_max_size, per_phase=teams.static_members_per_phase,
                radius_km=self.region.search_radius_km, rng=rng)
            for net_id, members in enumerate(self.static_networks):
                f.network[members] = net_id
                for a in range(len(members)):
                    for b in range(a + 1, len(members)):
                        self.ties.set(members[a], members[b], teams.static_initial_trust)
        else:
            index = CellIndex(f.x, f.y, alive, self.region.search_radius_km)
            low, high = sc.ties.initial_trust_low, sc.ties.initial_trust_high
            counts = rng.poisson(sc.region.initial_ties_per_firm / 2.0, size=len(alive))
            r2 = self.region.search_radius_km**2
            for i, k in zip(alive.tolist(), counts.tolist(), strict=True):
                if k == 0:
                    continue
                hood = index.neighbourhood(float(f.x[i]), float(f.y[i]))
                picks = rng.integers(0, len(hood), size=k).tolist()
                trusts = rng.uniform(low, high, size=k).tolist()
                for p, t in zip(picks, trusts, strict=True):
                    j = hood[p]
                    if j != i and (f.x[j] - f.x[i]) ** 2 + (f.y[j] - f.y[i]) ** 2 <= r2:
                        self.ties.set(i, j, t)
        self.ties.formed = self.ties.dropped = 0

    def spin_up(self, months: int) -> None:
        """Run the market, teams, production and ties for ``months`` before month 0.

        Without it every firm starts with no work in progress, reads the first months
        as idle and shrinks. Firms neither pay costs, grow, exit nor enter, and the
        frontier stands still; cash and counters are reset to their month-0 values.
        """
        if months <= 0:
            return
        f = self.firms
        n = f.n
        cash = f.cash[:n].copy()
        for _ in range(months):
            with collector_paused():
                self._spin_up_month()
        # Month 0 is now; spin-up month `months` would have been month 1.
        self.jobs = {end - months + 1: jobs for end, jobs in self.jobs.items()}
        self.steps = 0
        f.cash[:n] = cash
        for name in ("orders_led", "orders_joined", "orders_lost", "innovations", "revenue_cum",
                     "revenue_month", "negative_months"):
            f.view(name)[:] = 0
        f.last_innovation[:n] = -(10**6)
        self.start_month()

    def _spin_up_month(self) -> None:
        f = self.firms
        self.start_month()
        self.market.update_demand(self.rng)
        self.orders = self._draw_orders()
        self.form_teams()
        self.produce_and_pay()
        self.learn_and_innovate()
        self.update_ties()
        f.utilisation[: f.n] = smoothed_utilisation(f)
        self.partner_revenue.end_month(f.revenue_month[: f.n])
        self.steps += 1

    # ------------------------------------------------------------------ one month

    def step(self) -> None:
        """One month, in the order of docs/ODD.md §3."""
        with collector_paused():
            self._month()
        self.running = self.steps < self.scenario.steps

    def _month(self) -> None:
        self.start_month()
        self.update_market()  # 1
        self.run_policies()  # 2
        self.form_teams()  # 3
        self.produce_and_pay()  # 4
        self.learn_and_innovate()  # 5
        self.update_ties()  # 6
        self.update_demography()  # 7
        self.programmes_after_month()  # 8
        self.collect()  # 9

    def start_month(self) -> None:
        """Reset this month's counters and money flows."""
        self.month = Counter()
        self.ledger = dict.fromkeys(LEDGER_KEYS, 0.0)
        self.institution.ledger.spent_this_month = 0.0
        self.team_sizes = []
        self._spinoff_sources = []
        self.jobs_won = []
        self.jobs_completed = []
        self._flat_jobs = None
        self.ties.formed = self.ties.dropped = 0
        self.teams.strangers_searched = 0
        self.firms.revenue_month[: self.firms.n] = 0.0

    def update_market(self) -> None:
        """1. Demand moves, novelty requirements rise, shocks due now hit, orders arrive."""
        self.market.update_demand(self.rng)
        self.market.advance_frontier()
        for shock in self.shocks:
            shock.update(self.steps)
        self.orders = self._draw_orders()

    def _draw_orders(self) -> list:
        """This month's domestic orders and, with an export market, export orders mixed in
        (docs/ODD.md §7.15); no export draw at all without one."""
        orders = self.market.draw_orders(self.rng)
        exports = self.market.draw_export_orders(self.rng)
        if not exports:
            return orders
        self.month["export_orders"] += len(exports)
        mixed = orders + exports
        return [mixed[i] for i in self.rng.permutation(len(mixed)).tolist()]

    def export_access(self) -> np.ndarray:
        """Which firms can lead an export order (docs/ODD.md §7.15): firms of at least
        ``export_min_employees``, members of a hub that offers export promotion or market
        intelligence (trade leads abroad, 003:L1408-1430, L1606-1613), and members of an active
        formal network that markets jointly."""
        f = self.firms
        n = f.n
        alive = f.alive[:n]
        access = alive & (f.employees[:n] >= self.scenario.market.export_min_employees)
        for policy in getattr(self, "policies", ()):  # none yet during the spin-up
            services = set(getattr(policy.config, "services", ()))
            if services & {"export_promotion", "market_intelligence"}:
                access |= alive & self._hub_members(policy)
        for network in self.formal_networks.active(self.steps):
            if "joint_marketing" in network.activities:
                access[[m for m in network.members if alive[m]]] = True
        return access

    def early_notice(self) -> tuple[float, np.ndarray | None]:
        """Market intelligence that shows domestic orders early (docs/ODD.md §7.11): the
        chance an order is first offered to an informed firm (the largest ``early_notice``
        of the hub programmes offering market intelligence), and which living firms are
        informed (members of those programmes' hubs); (0, None) without any."""
        f = self.firms
        n = f.n
        chance, informed = 0.0, None
        for policy in getattr(self, "policies", ()):  # none yet during the spin-up
            cfg = getattr(policy, "config", None)
            if (getattr(cfg, "early_notice", 0.0) > 0 and policy.active(self.steps)
                    and "market_intelligence" in cfg.services):
                chance = max(chance, cfg.early_notice)
                members = self._hub_members(policy)
                informed = members if informed is None else informed | members
        if informed is None:
            return 0.0, None
        return chance, informed & f.alive[:n]

    def _hub_members(self, policy: Policy) -> np.ndarray:
        """Which firms belong to one of ``policy``'s hubs (none for a programme without hubs)."""
        f = self.firms
        return np.isin(f.hub[: f.n], [hub.index for hub in getattr(policy, "hubs", ())])

    def run_policies(self) -> None:
        """2. Each policy programme that is running does its month's work."""
        for policy in self.policies:
            if policy.active(self.steps):
                policy.step()
        if self.policies:
            self.effects.apply(self.firms)

    def form_teams(self) -> None:
        """3. Each order gets a lead firm, which staffs it or loses it (with the reason)."""
        f = self.firms
        n = f.n
        f.load[:n] = self._committed_load()
        builder = self.teams
        builder.prepare()
        stream = builder.take_over_stream()  # compiled staffing draws from the same stream
        try:
            self._form_teams(builder)
        finally:
            if stream is not None:
                stream.hand_back()
        f.load[:n] = np.where(f.alive[:n], f.employees[:n] - np.asarray(builder.free), 0.0)

    def _form_teams(self, builder: TeamBuilder) -> None:
        """The order loop of :meth:`form_teams`."""
        bids = self.scenario.teams.bids
        draws = self.rng.random((len(self.orders), bids))
        self.month["orders"] += len(self.orders)
        if builder.compiled_month:  # the same loop, compiled (clustersim/compiled.py)
            for staffed in builder.staff_month(self.orders, draws):
                self._book_orders(staffed)
            return
        random = builder.random
        knowledge, capability = builder.knowledge, builder.capability
        quality_bonus = self.firms.quality_bonus
        early = builder.early_notice
        count = len(self.orders)
        leads, outcomes, failed, flags = ([0] * count for _ in range(4))
        won_work: dict[int, list[tuple[int, int, float]]] = {}
        won_hours: dict[int, float] = {}
        for k, (order, uniforms) in enumerate(zip(self.orders, draws.tolist(), strict=True)):
            # The order is offered to up to `bids` leads in turn; the first that can staff it bids.
            lead, reason = -1, LOST_NO_PARTNER
            early_offer = 0  # EARLY_OFFERED, | EARLY_STAFFED when staffed on the early offer
            if early > 0 and not order.export:
                # Market intelligence: informed firms hear of some orders first (§7.11).
                u0 = random()
                if u0 < early:
                    early_lead = builder.draw_lead(order.segment, u0 / early, early=True)
                    if early_lead >= 0:
                        early_offer = EARLY_OFFERED
                        lead = early_lead
                        assignments, reason, max_hours = builder.staff(order, lead)
                        if reason is None:
                            early_offer, uniforms = EARLY_OFFERED | EARLY_STAFFED, ()
            for u in uniforms:
                candidate = (builder.draw_static_lead(order, u) if self.static_mode
                             else builder.draw_lead(order.segment, u, order.export))
                if order.export and self.static_mode and not builder.can_export(candidate):
                    candidate = -1  # a fixed network without export access cannot take it
                if candidate < 0:
                    break
                lead = candidate
                assignments, reason, max_hours = builder.staff(order, lead)
                if reason is None:
                    break
            if lead >= 0 and reason is None:
                members = list(dict.fromkeys([lead] + [a[0] for a in assignments]))
                cap = sum(capability[firm][phase] + quality_bonus[firm]
                          for firm, phase, _ in assignments) / len(assignments)
                team_knowledge = sum(knowledge[m] for m in members) / len(members)
                if random() >= self.market.win_probability(order.segment, cap, team_knowledge):
                    reason = LOST_TO_WORLD
                else:
                    builder.commit(assignments)
                    if builder.dependence is not None:
                        builder.book_dependence(lead, assignments, order)
                    won_work[k], won_hours[k] = assignments, max_hours
            leads[k], outcomes[k] = lead, OUTCOME_CODES[reason]
            failed[k], flags[k] = builder.failed_phase, early_offer
        self._book_orders(StaffedOrders(
            self.orders, *(np.asarray(a, dtype=np.int64) for a in (leads, outcomes, failed, flags)),
            won_work, won_hours))

    def _book_orders(self, staffed: StaffedOrders) -> None:
        """Count staffed orders' outcomes; each won one (capacity committed) becomes a Job."""
        f, month = self.firms, self.month
        lead, outcome = staffed.lead, staffed.outcome
        seen = lead >= 0
        for column, code in OUTCOME_CODES.items():  # an order nobody saw is NO_PARTNER too
            lost = int(np.count_nonzero(outcome == code)) if column is not None else 0
            if lost:
                month[column] += lost
        early = int(np.count_nonzero(staffed.flags & EARLY_OFFERED))
        if early:
            month["early_orders"] += early
        np.add.at(f.orders_led, lead[seen], 1)
        lost = seen & (outcome != WON)
        np.add.at(f.orders_lost, lead[lost], 1)
        # A product that lost to the world's missed the trend (003:L1500-1503).
        f.failed_innovation[lead[seen & (outcome == LOST_TO_WORLD_CODE)]] = self.steps
        unstaffed = np.flatnonzero(seen & ((outcome == NO_PARTNER) | (outcome == NO_CAPACITY)))
        orders = staffed.orders
        for k, firm, phase in zip(unstaffed.tolist(), lead[unstaffed].tolist(),
                                  staffed.failed[unstaffed].tolist(), strict=True):
            self._spinoff_sources.append((firm, phase if phase >= 0 else orders[k].phases[0]))
        formal = f.formal_network[: f.n].tolist() if len(self.formal_networks) else None
        joined: list[int] = []
        end_base = self.steps - 1
        leads, flags = lead.tolist(), staffed.flags.tolist()
        if staffed.assignments:
            month["orders_won"] += len(staffed.assignments)
        sizes, running, won, hours = (self.team_sizes.append, self.jobs, self.jobs_won.append,
                                      staffed.hours)
        for k, assignments in staffed.assignments.items():
            order, first = orders[k], leads[k]
            members = tuple(dict.fromkeys([first] + [a[0] for a in assignments]))
            sizes(len(members))
            joined.extend(members[1:])
            end = end_base + order.duration
            job = Job(end, order.segment, first, members, tuple(assignments), order.value,
                      hours[k])
            if formal is not None and len(members) > 1:
                self._record_formal_joint_work(job, [formal[m] for m in members])
            if order.export:
                job.tags = job.tags | {"export"}
                month["export_orders_won"] += 1
            elif flags[k] & EARLY_STAFFED:
                month["early_orders_won"] += 1
            ending = running.get(end)
            if ending is None:
                running[end] = [job]
            else:
                ending.append(job)
            won(job)
        np.add.at(f.orders_joined, np.asarray(joined, dtype=np.int64), 1)

    def _record_formal_joint_work(self, job: Job, networks: list[int]) -> None:
        """Two members of one formal network in a team keep that network active."""
        seen: set[int] = set()
        for net in networks:
            if net >= 0:
                if net in seen:
                    self.formal_networks.record_joint_work(net, self.steps)
                    job.tags = job.tags | {f"formal_network:{net}"}
                    return
                seen.add(net)

    def _committed_load(self) -> np.ndarray:
        """Work per firm per month on jobs still running this month.

        Each end month's assignment rows are kept between months (jobs are only appended to
        an end month's list, and a job's assignments do not change): only new jobs are
        flattened, and the rows are summed in the order of all running jobs, as before."""
        kept, parts = {}, []
        for end, jobs in self.jobs.items():
            if end < self.steps:
                continue
            listed, count, rows = self._running_rows.get(end, (jobs, 0, _NO_ROWS))
            if listed is not jobs:  # a new list under an old end month: start again
                count, rows = 0, _NO_ROWS
            if count < len(jobs):
                rows = np.concatenate([rows, _assignment_rows(job.assignments
                                                              for job in jobs[count:])])
            kept[end] = (jobs, len(jobs), rows)
            parts.append(rows)
        self._running_rows = kept
        work = np.concatenate(parts) if parts else _NO_ROWS
        return np.bincount(work[:, 0].astype(np.int64), weights=work[:, 2],
                           minlength=self.firms.n)[: self.firms.n]

    def _flattened(self, jobs: list[Job]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Jobs' members and assignment rows (firm, phase, load), concatenated, with each
        job's offsets into them: (members, offsets, rows, row offsets). Delivery, learning
        and ties read the same jobs in a month; they are flattened once (the kernels only read
        them; writable, so that numba compiles no read-only variants)."""
        cached = self._flat_jobs
        if cached is not None and len(cached[0]) == len(jobs) and all(
                a is b for a, b in zip(cached[0], jobs, strict=True)):
            return cached[1]
        members = [job.members for job in jobs]
        assigned = [job.assignments for job in jobs]
        arrays = (_flat(members), _offsets(members), _assignment_rows(assigned), _offsets(assigned))
        self._flat_jobs = (jobs, arrays)
        return arrays

    def produce_and_pay(self) -> None:
        """4. Jobs due this month are delivered (or fail) and paid; firms pay their costs."""
        sc, f = self.scenario, self.firms
        prod = sc.production
        ledger = self.ledger
        due = self.jobs.pop(self.steps, [])
        if due:  # job by job, compiled (same draws from the model's stream)
            flat, offsets, work, work_offsets = self._flattened(due)
            keys, pair_offsets = compiled.pair_keys(flat, offsets, PAIR_KEY_BASE)
            trust = self.ties.lookup(keys)
            sums = np.array([ledger["customer_payments"], ledger["partner_payments_made"],
                             ledger["partner_payments_received"], self.month["export_revenue"]],
                            dtype=np.float64)
            failed = np.zeros(len(due), dtype=np.bool_)
            payer, payee = (np.zeros(len(work), dtype=np.int64) for _ in range(2))
            paid = np.zeros(len(work))
            stream = compiled.TwisterStream(self.random)
            try:
                failures, payments = compiled.deliver_jobs(
                    stream.state, np.array([job.lead for job in due], dtype=np.int64),
                    np.array([job.value for job in due], dtype=np.float64),
                    np.array(["export" in job.tags for job in due], dtype=np.bool_),
                    np.array([job.max_hours for job in due], dtype=np.float64),
                    flat, offsets, trust, pair_offsets, bool(f.disrupted[: f.n].any()), f.disrupted,
                    work[:, 0].astype(np.int64), work[:, 2].copy(), work_offsets,
                    f.alive, f.cash, f.revenue_month, prod.failure_base,
                    prod.failure_trust_effect, prod.failure_distance_effect,
                    prod.failure_penalty, sc.teams.lead_premium, sums, failed, payer, payee, paid)
            finally:
                stream.hand_back()
            self.jobs_completed.extend(zip(due, failed.tolist(), strict=True))
            if failures:
                self.month["delivery_failures"] += failures
            if any("export" in job.tags and f.alive[job.lead] for job in due):
                self.month["export_revenue"] = float(sums[3])
            for key, total in zip(("customer_payments", "partner_payments_made",
                                   "partner_payments_received"), sums.tolist(), strict=False):
                ledger[key] = total
            self.partner_revenue.record_many(payer[:payments], payee[:payments], paid[:payments])
        n = f.n
        live = f.alive[:n]
        costs = np.where(live, f.monthly_costs(prod.wage, prod.overhead), 0.0)
        # Firms in the red cut their R&D first; rivals ahead raise the effort (§7.16).
        self._rd_paid = live & (f.cash[:n] > 0)
        self._rd_effort = rivalry.rd_effort(self)
        rd = np.where(self._rd_paid, prod.rd_share * prod.wage * f.employees[:n], 0.0)
        if self._rd_effort is not None:
            rd = rd * self._rd_effort
        f.cash[:n] -= costs + rd
        ledger["fixed_costs"] += float(costs.sum())
        ledger["rd_spend"] += float(rd.sum())
        self.month["revenue"] = ledger["customer_payments"]

    def net_cash_flow(self) -> float:
        """The change in all firms' cash this month that the money ledger accounts for (k€)."""
        return sum(sign * self.ledger[key] for key, sign in CASH_SIGNS.items())

    def learn_and_innovate(self) -> None:
        """5. Partners learn from each other; projects innovate; R&D catches up with the frontier."""
        sc, f = self.scenario, self.firms
        learn = sc.learning
        market = self.market
        completed = self.jobs_completed
        if completed:  # job by job, compiled (same draws from the model's stream)
            jobs = [job for job, _failed in completed]
            hooks = self.hooks.innovation_chance  # joint R&D: factors per job, applied in turn
            factors = np.array([[factor(job) for _owner, factor in hooks] for job in jobs],
                               dtype=np.float64).reshape(len(jobs), len(hooks))
            flat, offsets, work, work_offsets = self._flattened(jobs)
            stream = compiled.TwisterStream(self.random)
            try:
                innovations = compiled.learn_from_jobs(
                    stream.state, flat, offsets,
                    work[:, 0].astype(np.int64), work[:, 1].astype(np.int64), work_offsets,
                    np.array([failed for _job, failed in completed], dtype=np.bool_),
                    np.array([job.segment for job in jobs], dtype=np.int64), factors,
                    f.alive, f.capability, f.knowledge, f.specialty, f.innovations,
                    f.last_innovation, np.asarray(market.novelty, dtype=np.float64),
                    learn.capability_learning, learn.spillover, learn.innovation_base,
                    learn.diversity_bonus, learn.innovation_lift, self.steps)
            finally:
                stream.hand_back()
            if innovations:
                self.month["innovations"] += innovations
        # R&D closes part of the gap to the frontier; a lead over it is imitated away
        # by the world (bounded, never below the frontier: no plain depreciation).
        n = f.n
        target = market.phase_frontier()[f.specialty[:n]]
        gap = target - f.knowledge[:n]
        catch_up = (learn.rd_catch_up if self._rd_effort is None
                    else np.minimum(1.0, learn.rd_catch_up * self._rd_effort))
        f.knowledge[:n] += np.where(gap > 0, np.where(self._rd_paid, catch_up * gap, 0.0),
                                    learn.imitation * gap)

    def update_ties(self) -> None:
        """6. Joint success builds trust, failure erodes it; all trust decays; weak ties drop."""
        f = self.firms
        keep = 1.0 - self.scenario.production.failure_trust_loss
        coop = f.cooperativeness
        completed = self.jobs_completed
        if completed:  # every pair of living members, job by job
            flat, offsets, _work, _work_offsets = self._flattened([job for job, _ in completed])
            keys, mean_coop, offsets = compiled.living_pairs(flat, offsets, f.alive, coop,
                                                             PAIR_KEY_BASE)
            delivered = np.repeat([not failed for _job, failed in completed], np.diff(offsets))
            self.ties.after_jobs(keys, mean_coop, delivered, keep)
        self.ties.decay(coop[: f.n])

    def update_demography(self) -> None:
        """7. Owners withdraw surplus cash, firms grow or shrink, exit or enter."""
        sc, f = self.scenario, self.firms
        demo, prod = sc.demography, sc.production
        n = f.n
        live = f.alive[:n]
        f.utilisation[:n] = smoothed_utilisation(f)
        # Revenue trend and the lagged threat it signals (boiled frog, 003:L3070).
        rev = f.revenue_month[:n]
        f.revenue_fast[:n] += (rev - f.revenue_fast[:n]) / 3.0
        f.revenue_slow[:n] += (rev - f.revenue_slow[:n]) / 12.0
        f.revenue_cum[:n] += rev
        self.partner_revenue.end_month(rev)
        signal = np.clip(1.0 - f.revenue_fast[:n] / np.maximum(f.revenue_slow[:n], 1e-9), 0.0, 1.0)
        f.threat_signal[:n, :-1] = f.threat_signal[:n, 1:]
        f.threat_signal[:n, -1] = signal
        f.threat[:n] = f.threat_signal[:n, 0]
        if demo.growth_mode == "proportional":
            self._grow_proportionally(live)
        else:
            self._grow_past_thresholds(live)
        # Owners take out cash above a buffer, or cash piles up and nobody ever exits.
        buffer = demo.cash_buffer_months * f.monthly_costs(prod.wage, prod.overhead)
        surplus = np.where(live, np.maximum(0.0, f.cash[:n] - buffer), 0.0)
        f.cash[:n] -= surplus
        self.ledger["withdrawals"] += float(surplus.sum())
        # Exit after `grace` months in the red.
        f.negative_months[:n] = np.where(live & (f.cash[:n] < 0), f.negative_months[:n] + 1, 0)
        for i in np.flatnonzero(live & (f.negative_months[:n] >= demo.grace)).tolist():
            self.remove_firm(i)
        self.enter_spinoffs()

    def _grow_past_thresholds(self, live: np.ndarray) -> None:
        """Growth when busy, shrinkage when idle, braked near 250 employees (F1)."""
        sc, f = self.scenario, self.firms
        demo, n = sc.demography, f.n
        employees = f.employees[:n]
        busy = live & (f.utilisation[:n] > demo.busy_threshold)
        idle = live & (f.utilisation[:n] < demo.idle_threshold)
        cap = sc.firms.max_employees
        f.employees[:n] = np.where(busy, employees * (1.0 + demo.growth_rate * (1.0 - employees / cap)),
                                   employees)
        # Nobody is laid off while there is committed work for them.
        shrunk = np.maximum(np.maximum(1.0, f.load[:n]), f.employees[:n] * (1.0 - demo.shrink_rate))
        f.employees[:n] = np.where(idle, np.minimum(f.employees[:n], shrunk), f.employees[:n])

    def _grow_proportionally(self, live: np.ndarray) -> None:
        """Gibrat-like growth (docs/ODD.md §7.6): each firm's size changes by a random share of
        itself, log E ← log E + g, with g = growth_rate × x (x > 0) or shrink_rate × x (x < 0),
        x = clip((U − target) / target, −1, 1) the load against the load firms plan for, plus
        N(0, growth_noise); growth is braked near max_employees, and nobody is laid off while
        there is committed work for them. Skew comes from compounding, not from a size rule."""
        sc, f = self.scenario, self.firms
        demo, n = sc.demography, f.n
        target = sc.market.target_utilisation
        x = np.clip((f.utilisation[:n] - target) / target, -1.0, 1.0)
        g = np.where(x > 0, demo.growth_rate * x, demo.shrink_rate * x)
        g = g + demo.growth_noise * self.rng.standard_normal(n)
        employees = f.employees[:n]
        cap = sc.firms.max_employees
        g = np.where(g > 0, g * np.clip(1.0 - employees / cap, 0.0, 1.0), g)
        grown = np.minimum(employees * np.exp(g), cap)
        floor = np.maximum(1.0, f.load[:n])
        f.employees[:n] = np.where(live, np.maximum(grown, np.minimum(employees, floor)), employees)

    def remove_firm(self, i: int) -> None:
        """Firm i exits: it stops producing and loses its ties."""
        f = self.firms
        f.alive[i] = False
        f.load[i] = 0.0
        self.ties.remove_firm(i)
        net = int(f.network[i])
        if net >= 0:
            self.static_networks[net].remove(i)
        formal = int(f.formal_network[i])
        if formal >= 0:
            self.formal_networks.remove_member(formal, i)
            f.formal_network[i] = -1
        f.hub[i] = -1
        self.firm_agents[i].remove()
        self.month["exits"] += 1

    def enter_spinoffs(self) -> None:
        """Spin-offs start where orders were lost for a missing phase or capacity (003:L1535)."""
        sources = self._spinoff_sources
        if not sources:
            return
        sc, rng, f = self.scenario, self.rng, self.firms
        count = int(rng.poisson(sc.demography.spinoff_rate * len(sources)))
        if count == 0:
            return
        phases = sc.firms.phases
        picks = rng.integers(0, len(sources), size=count).tolist()
        for pick in picks:
            parent, phase = sources[pick]
            i = int(f.add(1)[0])
            f.x[i], f.y[i] = self.region.place_near(float(f.x[parent]), float(f.y[parent]),
                                                     SPINOFF_DISTANCE_KM, rng)
            f.town[i] = int(self.region.nearest_town(f.x[i : i + 1], f.y[i : i + 1])[0])
            f.specialty[i] = phase
            f.capability[i] = rng.uniform(*OTHER_CAPABILITY, size=phases)
            f.capability[i, phase] = rng.uniform(*SPECIALTY_CAPABILITY)  # skilled, like incumbents
            f.knowledge[i] = float(f.knowledge[parent]) * rng.uniform(0.9, 1.0)
            f.employees[i] = sc.demography.entrant_employees * rng.uniform(0.7, 1.3)
            self._draw_cooperativeness(np.array([i]))
            cash = sc.firms.initial_cash_months * (sc.production.wage * f.employees[i]
                                                   + sc.production.overhead)
            f.cash[i] = cash
            self.ledger["entry_cash"] += float(cash)
            f.utilisation[i] = sc.market.target_utilisation
            f.born[i] = self.steps
            f.alive[i] = True
            net = int(f.network[parent])
            if self.static_mode and net >= 0:
                f.network[i] = net  # a spin-off stays in its parent's network
                for member in self.static_networks[net]:
                    self.ties.set(i, member, sc.teams.static_initial_trust)
                self.static_networks[net].append(i)
            elif f.alive[parent]:
                # A skilled employee going it alone keeps working with the old employer and
                # knows some of its partners (blue-collar entrepreneurship, 003:L1535-1541).
                self.ties.set(i, parent, sc.ties.initial_trust_high)
                known = sorted(self.ties.partners.get(parent, ()))
                for j in rng.permutation(len(known))[:2].tolist():
                    if known[j] != i:
                        self.ties.set(i, known[j], sc.ties.initial_trust_low)
            self.firm_agents.append(Firm(self, i))
            self.month["entries"] += 1

    def programmes_after_month(self) -> None:
        """8. Every programme, running or not, books the month: projects, hubs' members and
        fees, broker networks' activities for next month (hook: after month)."""
        for policy in self.policies:
            policy.after_month()

    def collect(self) -> None:
        """9. Compute this month's metrics and record them."""
        self.stats = metrics.month_stats(self)
        for key in metrics.RUN_TOTAL_COLUMNS:
            self.totals_counter[key] += self.stats.get(key, 0)
        self.datacollector.collect(self)
        self.team_size_history.append((self.steps, Counter(self.team_sizes)))
        outputs = self.scenario.outputs
        if self.steps in outputs.firm_table_steps:
            self.firm_snapshots.append(self.firm_frame())
        if self.steps in outputs.network_snapshot_steps:
            self.network_snapshots[self.steps] = self.network_graph()

    # ------------------------------------------------------------------ running and results

    def run(self, steps: int | None = None, on_step: Callable[[int, int], None] | None = None) -> None:
        """Run ``steps`` months (default: the scenario's), calling ``on_step(done, total)``."""
        total = self.scenario.steps if steps is None else steps
        for done in range(1, total + 1):
            self.step()
            if on_step is not None:
                on_step(done, total)

    def timeseries(self) -> pd.DataFrame:
        """One row per month (0 = the initial state), first column ``step``."""
        frame = self.datacollector.get_model_vars_dataframe()
        frame.insert(0, "step", np.arange(len(frame), dtype=np.int64))
        return frame.reset_index(drop=True)

    def totals(self) -> dict[str, float]:
        """The run's totals: orders by outcome, innovations, entries, exits, revenue."""
        totals = {k: float(v) for k, v in self.totals_counter.items()}
        totals["initial_cohort_survival"] = float(self.stats.get("initial_cohort_survival", 1.0))
        totals["firms_alive"] = float(self.stats.get("firms_alive", 0))
        return totals

    def payments_frame(self) -> pd.DataFrame:
        """Every payment policies made: month, programme, recipient, purpose, amount (k€)."""
        return self.institution.ledger.frame()

    def events_frame(self) -> pd.DataFrame:
        """When each shock started and ended."""
        return pd.DataFrame(self.event_log, columns=["month", "shock", "event"])

    def resilience_frame(self) -> pd.DataFrame:
        """Per shock: depth of the revenue drop and months to recover to 95% (docs/shocks.md)."""
        from clustersim.resilience import model_resilience

        return model_resilience(self) if self.shocks else pd.DataFrame()

    def firm_frame(self) -> pd.DataFrame:
        """One row per living firm now: its state and counters."""
        f = self.firms
        idx = f.alive_indices()
        frame = pd.DataFrame({
            "step": np.full(len(idx), self.steps, dtype=np.int64),
            "firm": idx,
            "born": f.born[idx],
            "x_km": f.x[idx],
            "y_km": f.y[idx],
            "town": f.town[idx],
            "specialty": f.specialty[idx],
            "employees": f.employees[idx],
            "cash": f.cash[idx],
            "knowledge": f.knowledge[idx],
            "cooperativeness": f.cooperativeness[idx],
            "habitual": f.habitual[idx],
            "search_willingness": f.search_willingness[idx],
            "openness": f.openness[idx],
            "utilisation": f.utilisation[idx],
            "threat": f.threat[idx],
            "degree": np.array([self.ties.degree(i) for i in idx.tolist()], dtype=np.int64),
            "static_network": f.network[idx],
            "formal_network": f.formal_network[idx],
            "hub": f.hub[idx],
            "orders_led": f.orders_led[idx],
            "orders_joined": f.orders_joined[idx],
            "orders_lost": f.orders_lost[idx],
            "innovations": f.innovations[idx],
            "revenue_cum": f.revenue_cum[idx],
            "max_partner_share": self.partner_revenue.max_share(f.n)[idx],
        })
        phases = self.scenario.firms.phases
        for p in range(phases):
            frame[f"capability_{p}"] = f.capability[idx, p]
        return frame

    def firm_table(self) -> pd.DataFrame:
        """Firm-level rows at every step listed in ``outputs.firm_table_steps``."""
        if not self.firm_snapshots:
            return pd.DataFrame()
        return pd.concat(self.firm_snapshots, ignore_index=True)

    def network_graph(self) -> nx.Graph:
        """The current tie network of living firms, with firm attributes, for Gephi or Cytoscape."""
        from clustersim.networks import to_networkx

        f = self.firms
        idx = f.alive_indices()
        position = np.full(f.n, -1, dtype=np.int64)
        position[idx] = np.arange(len(idx))
        u, v, trust = self.ties.edges()
        attrs = {
            "x_km": f.x[idx], "y_km": f.y[idx], "town": f.town[idx],
            "specialty": f.specialty[idx], "employees": f.employees[idx],
            "knowledge": f.knowledge[idx], "cash": f.cash[idx],
            "static_network": f.network[idx], "formal_network": f.formal_network[idx],
            "hub": f.hub[idx],
        }
        return to_networkx(len(idx), position[u], position[v], trust=trust, node_attrs=attrs,
                           node_ids=idx.tolist())
