"""Market shocks (docs/ODD.md §7.12): what hits the cluster, when, for how long, how hard.

Each ``[[shocks]]`` table names a ``type``, a ``start`` month, a ``duration`` in
months and a ``magnitude``, plus a target (segments, phases, a share of firms or a
town). Each type is one config class and one :class:`Shock` subclass, registered
under its type name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from clustersim.agents.firm import COVER_THRESHOLD

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


from clustersim.config.shocks import (  # noqa: F401  (the configs, re-exported)
    SHOCK_CONFIGS,
    SHOCK_TYPES,
    DemandDropConfig,
    LowCostCompetitionConfig,
    NewSegmentConfig,
    NicheShiftConfig,
    ShockConfig,
    ShockConfigUnion,
    SupplyDisruptionConfig,
    TechnologyShiftConfig,
)

# --------------------------------------------------------------------------- runtime

# A firm has a related skill in a phase, from which it can reconvert, when its capability
# there is at least this (the range of secondary capabilities drawn at the start, 0.3-0.6).
RELATED_CAPABILITY = 0.3


class Shock:
    """A scheduled shock: :meth:`begin` at ``start``, :meth:`end` after ``duration`` months.

    While it lasts, :meth:`step` runs every month, after :meth:`begin` in its first month
    and before the month's orders are drawn (docs/ODD.md §7.1).
    """

    type_name = ""

    def __init__(self, config: ShockConfig, model: ClusterModel, index: int):
        self.config = config
        self.model = model
        self.name = f"{config.type}#{index}"
        self.start = config.start
        self.stop = config.start + config.duration  # first month without the shock
        self.begun = False
        self.ended = False

    def active(self, month: int) -> bool:
        return self.start <= month < self.stop

    def running(self) -> bool:
        """Whether the shock has begun and not yet ended."""
        return self.begun and not self.ended

    def update(self, month: int) -> None:
        """Begin or end the shock when its month comes (docs/ODD.md §7.1)."""
        if month == self.start and not self.begun:
            self.begin()
            self.begun = True
            self.model.event_log.append((month, self.name, "start"))
        elif month == self.stop and self.running():
            self.end()
            self.ended = True
            self.model.event_log.append((month, self.name, "end"))
        if self.running():
            self.step()

    def begin(self) -> None:
        raise NotImplementedError

    def step(self) -> None:
        """What the shock does every month while it lasts (nothing by default)."""

    def end(self) -> None:
        """Undo what :meth:`begin` did, where the shock is temporary."""

    # ----------------------------------------------------------------- helpers

    def _open_segments(self) -> list[int]:
        """Segments that still have demand (a new segment that has closed has none)."""
        return np.flatnonzero(self.model.market.base_rate > 0).tolist()

    def _segments_or_one_drawn(self, segments: list[int] | None) -> list[int]:
        """The configured segments, or one open segment drawn with the model's generator."""
        if segments is not None:
            return sorted(set(segments))
        candidates = self._open_segments()
        if not candidates:
            return []
        return [candidates[int(self.model.rng.integers(len(candidates)))]]


SHOCKS: dict[str, type[Shock]] = {}


def register_shock(cls: type[Shock]) -> type[Shock]:
    """Class decorator: make a shock type available under its ``type_name``."""
    SHOCKS[cls.type_name] = cls
    return cls


def build_shocks(model: ClusterModel) -> list[Shock]:
    """The scenario's shocks, in the order its ``[[shocks]]`` tables list them.

    A shock that starts at month 0 begins here, so that the initial state (row 0 of the
    time series, where ``shock_active`` is already 1) and month 1 both feel it.
    """
    shocks = [SHOCKS[config.type](config, model, i) for i, config in enumerate(model.scenario.shocks)]
    for shock in shocks:
        if shock.start == model.steps:
            shock.update(model.steps)
    return shocks


# --------------------------------------------------------------------------- the six types


@register_shock
class DemandDropShock(Shock):
    """Covid: demand of the segments hit × (1 − magnitude), restored at the end (002:L85)."""

    type_name = "demand_drop"
    config: DemandDropConfig

    def begin(self) -> None:
        market = self.model.market
        segments = self.config.segments
        self.segments = sorted(set(segments)) if segments is not None else list(range(market.segment_count))
        market.set_demand_factor(self.name, dict.fromkeys(self.segments, 1.0 - self.config.magnitude))

    def end(self) -> None:
        self.model.market.clear_demand_factor(self.name)


@register_shock
class NewSegmentShock(Shock):
    """PPE: a new segment appears; firms with related skills and spare capacity reconvert.

    The segment needs ``phases`` (default: two phases of an existing segment plus the
    phase outside it in which most living firms have a related skill). Its base demand
    is ``magnitude`` × all work demanded, in orders of its own size. While it lasts,
    firms with capability in [0.3, cover threshold) in one of its phases and a smoothed
    utilisation below ``demography.busy_threshold`` gain ``reconversion_rate`` there
    each month (002:L113, L129, L151). At the end its demand stops.
    """

    type_name = "new_segment"
    config: NewSegmentConfig

    def begin(self) -> None:
        market, cfg = self.model.market, self.config
        phases = tuple(sorted(set(cfg.phases))) if cfg.phases else self._default_phases()
        base, open_ = market.base_rate, market.base_rate > 0
        work = float(sum(base[s] * len(p) for s, p in enumerate(market.segment_phases)))
        weights = base[open_]
        self.phases = phases
        self.segment = market.add_segment(
            phases,
            base_rate=cfg.magnitude * work / len(phases),
            price=market.cfg.price,
            novelty=float(np.average(market.novelty[open_], weights=weights)),
            novelty_growth=market.cfg.novelty_growth,
            benchmark=float(np.average(market.benchmark[open_], weights=weights)),
        )

    def _default_phases(self) -> tuple[int, ...]:
        """Two phases of an existing segment plus one adjacent phase (partly adjacent, 002:L197)."""
        market, rng, f = self.model.market, self.model.rng, self.model.firms
        open_ = self._open_segments()
        multi = [s for s in open_ if len(market.segment_phases[s]) >= 2]
        source = (multi or open_)[int(rng.integers(len(multi or open_)))]
        existing = market.segment_phases[source]
        pair = sorted(rng.choice(existing, size=min(2, len(existing)), replace=False).tolist())
        others = ([p for p in range(market.phases) if p not in existing]
                  or [p for p in range(market.phases) if p not in pair])
        if not others:
            return tuple(pair)
        n = f.n
        capability = f.capability[:n, others]
        related = (f.alive[:n, None] & (capability >= RELATED_CAPABILITY)
                   & (capability < COVER_THRESHOLD)).sum(axis=0)
        return tuple(sorted([*pair, others[int(np.argmax(related))]]))

    def step(self) -> None:
        """Reconversion: related skills grow where firms have people to spare."""
        f = self.model.firms
        n = f.n
        rate = self.config.reconversion_rate
        spare = (f.alive[:n] & ~f.disrupted[:n]
                 & (f.utilisation[:n] < self.model.scenario.demography.busy_threshold))
        for p in self.phases:
            capability = f.capability[:n, p]  # a view: writes go to the firms' array
            related = spare & (capability >= RELATED_CAPABILITY) & (capability < COVER_THRESHOLD)
            capability[related] = np.minimum(capability[related] + rate, 1.0)

    def end(self) -> None:
        market = self.model.market
        market.set_demand_factor(self.name, {self.segment: 0.0})
        market.base_rate[self.segment] = 0.0  # closed: no orders, no weight in R&D targets


@register_shock
class NicheShiftShock(Shock):
    """Fashion trend: each segment hit swaps one required phase for another, then back (003:L1495-1533)."""

    type_name = "niche_shift"
    config: NicheShiftConfig

    def begin(self) -> None:
        market, rng = self.model.market, self.model.rng
        self.swaps: list[tuple[int, int, int]] = []  # (segment, phase dropped, phase added)
        for s in self._segments_or_one_drawn(self.config.segments):
            current = market.segment_phases[s]
            outside = [p for p in range(market.phases) if p not in current]
            if not outside:
                continue  # the segment already needs every phase
            old = current[int(rng.integers(len(current)))]
            new = outside[int(rng.integers(len(outside)))]
            market.set_segment_phases(s, [*(p for p in current if p != old), new])
            self.swaps.append((s, old, new))

    def end(self) -> None:
        market = self.model.market
        for s, old, new in self.swaps:
            current = market.segment_phases[s]
            if new in current and old not in current:  # unless another shock changed it since
                market.set_segment_phases(s, [*(p for p in current if p != new), old])


@register_shock
class LowCostCompetitionShock(Shock):
    """Low-cost producers: world benchmark + magnitude and prices × (1 − price_drop) (001:L3327-3340; 003:L744)."""

    type_name = "low_cost_competition"
    config: LowCostCompetitionConfig

    def begin(self) -> None:
        market, cfg = self.model.market, self.config
        if cfg.segments is not None:
            segments = sorted(set(cfg.segments))
        else:
            open_ = market.base_rate > 0
            segments = np.flatnonzero(market.commodity & open_).tolist()
            if not segments:  # no commodities: the segment whose products age slowest
                segments = [int(np.argmin(np.where(open_, market.novelty_growth, np.inf)))]
        self.segments = segments
        market.benchmark[segments] += cfg.magnitude
        market.price[segments] *= 1.0 - cfg.price_drop

    def end(self) -> None:
        market, cfg = self.model.market, self.config
        market.benchmark[self.segments] -= cfg.magnitude
        market.price[self.segments] /= 1.0 - cfg.price_drop


@register_shock
class SupplyDisruptionShock(Shock):
    """Shutdowns: the firms hit take no new work and their jobs fail (002:L85; 000:L21).

    A share ``magnitude`` of living firms drawn at random, or every living firm of
    ``town``. Entrants during the shock are not hit.
    """

    type_name = "supply_disruption"
    config: SupplyDisruptionConfig

    partners: list[int] | None = None  # with target largest_customer: the firms it paid

    def begin(self) -> None:
        f, cfg = self.model.firms, self.config
        alive = f.alive_indices()
        if cfg.target == "largest_customer":
            hit = self._largest_customer(alive)
        elif cfg.town is not None:
            hit = alive[f.town[alive] == cfg.town]
        else:
            count = round(cfg.magnitude * len(alive))
            hit = np.sort(self.model.rng.choice(alive, size=count, replace=False)) if count else alive[:0]
        self.firms = hit
        f.disrupted[hit] = True

    def _largest_customer(self, alive: np.ndarray) -> np.ndarray:
        """The living firm that paid its partners most over the last 12 months; the firms it
        paid in those months are kept as ``partners`` (how many depended on it for more than
        30% of their output goes to the event log)."""
        revenue = self.model.partner_revenue
        paid = revenue.paid_out(self.model.firms.n)[alive]
        if not len(alive) or paid.max() <= 0:
            self.partners = []
            return alive[:0]
        customer = int(alive[int(np.argmax(paid))])
        alive_now = self.model.firms.alive
        self.partners = [i for i in revenue.dependants(customer, 0.0) if alive_now[i]]
        dependent = [i for i in revenue.dependants(customer) if alive_now[i]]
        self.model.event_log.append((self.model.steps, self.name,
                                     f"hit firm {customer}: {len(self.partners)} partners, "
                                     f"{len(dependent)} with more than 30% of their output"))
        return np.array([customer])

    def end(self) -> None:
        held: set[int] = set()
        for other in self.model.shocks:
            if other is not self and isinstance(other, SupplyDisruptionShock) and other.running():
                held.update(other.firms.tolist())
        release = [i for i in self.firms.tolist() if i not in held]
        self.model.firms.disrupted[release] = False


@register_shock
class TechnologyShiftShock(Shock):
    """A segment needs a new phase and knowledge depreciates (embedded electronics, 003:L1680-1710).

    Every firm's knowledge × (1 − magnitude) at the start; firms catch up through R&D.
    If the shock ends within the run the phase requirement reverts; knowledge does not.
    """

    type_name = "technology_shift"
    config: TechnologyShiftConfig

    def begin(self) -> None:
        market, cfg, f = self.model.market, self.config, self.model.firms
        segments = self._segments_or_one_drawn(cfg.segments)
        phase = cfg.phase
        if phase is None and segments:
            needed = set().union(*(market.segment_phases[s] for s in segments))
            candidates = ([p for p in range(market.phases) if p not in needed]
                          or [p for p in range(market.phases) if p not in market.segment_phases[segments[0]]])
            phase = candidates[int(self.model.rng.integers(len(candidates)))] if candidates else None
        self.phase = phase
        self.segments: list[int] = []  # those that did not need the phase before
        if phase is not None:
            for s in segments:
                current = market.segment_phases[s]
                if phase not in current:
                    market.set_segment_phases(s, [*current, phase])
                    self.segments.append(s)
        f.knowledge[: f.n] *= 1.0 - cfg.magnitude

    def end(self) -> None:
        market = self.model.market
        for s in self.segments:
            current = market.segment_phases[s]
            if self.phase in current and len(current) > 1:
                market.set_segment_phases(s, [p for p in current if p != self.phase])
