"""The market: segments, demand, orders, novelty requirements and the world benchmark.

Each segment needs some of the K production phases. Its demand follows a
mean-reverting random walk in logs whose step size is the scenario's
``volatility``, mean-corrected so that volatility changes the variance of demand
and not its mean (docs/ODD.md §7.1). Orders arrive as a Poisson stream per segment. The
base demand is calibrated to the cluster's initial capacity, not guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clustersim.scenario import MarketConfig


@dataclass(slots=True)
class Order:
    """One customer order: the work per required phase, its value and duration."""

    segment: int
    phases: tuple[int, ...]
    work: tuple[float, ...]  # employee-months per phase, over the whole duration
    duration: int  # months
    value: float  # k€ paid on delivery
    export: bool = False  # from a market outside the region: only firms with export access lead


# A segment's demand saturates at this multiple of its base level: a very volatile walk
# (volatility near 1) would otherwise ask for millions of orders in one month. At the
# default volatility it is 9 standard deviations away and never binds.
MAX_DEMAND_LEVEL = 50.0


class Market:
    """Segments with demand, prices and rising novelty requirements."""

    def __init__(self, cfg: MarketConfig, phases: int, rng: np.random.Generator,
                 cluster_capacity: float):
        self.cfg = cfg
        self.phases = phases
        m = cfg.segments
        self.segment_phases = self._draw_segment_phases(cfg, phases, rng)
        n_commodity = round(cfg.commodity_share * m)
        self.commodity = np.zeros(m, dtype=bool)
        if n_commodity:
            self.commodity[rng.choice(m, size=n_commodity, replace=False)] = True
        self.price = np.where(self.commodity, cfg.price * cfg.commodity_price_factor, cfg.price)
        self.novelty = np.ones(m)  # requirement, compared with firms' knowledge (lognormal around 1)
        self.novelty_growth = np.where(self.commodity, cfg.commodity_novelty_growth,
                                       cfg.novelty_growth)
        self.benchmark = np.full(m, cfg.world_benchmark)
        # Relative size of each segment, then scaled so that work demanded ≈ capacity ×
        # target utilisation / expected win share (docs/ODD.md §7.1, calibration rule).
        share = rng.lognormal(0.0, 0.3, size=m)
        share /= share.sum()
        self.mean_work_per_phase = cfg.work_median * math.exp(cfg.work_sigma**2 / 2)
        phases_per_order = sum(s * len(p) for s, p in zip(share, self.segment_phases, strict=True))
        orders_per_month = (cluster_capacity * cfg.target_utilisation / cfg.expected_win_share
                            / (phases_per_order * self.mean_work_per_phase))
        self.base_rate = share * orders_per_month * cfg.demand_scale
        # Demand walk d: d ← (1 − θ) d + σ ε, stationary variance s² = σ² / (1 − (1 − θ)²).
        theta, sigma = cfg.mean_reversion, cfg.volatility
        self.stationary_var = sigma**2 / (1.0 - (1.0 - theta) ** 2)
        self.log_demand = rng.normal(0.0, math.sqrt(self.stationary_var), size=m)
        # Multipliers that shocks and policies may set (1 = no effect); set them through
        # set_demand_factor(), which keeps each source's factors (segment → factor) and
        # rebuilds the product, so overlapping shocks combine and each one can be undone.
        self.demand_multiplier = np.ones(m)
        self._demand_factors: dict[str, dict[int, float]] = {}

    @staticmethod
    def _draw_segment_phases(cfg: MarketConfig, phases: int, rng: np.random.Generator
                             ) -> list[tuple[int, ...]]:
        """Required phases per segment: consecutive runs along a shuffled value chain.

        Segment 0 is served by one phase alone when there are several segments, so
        solo work exists and can be compared with team work (H2). The runs wrap round
        the chain, so every phase is needed once the segments' phases add up to K.
        """
        chain = rng.permutation(phases).tolist()
        result: list[tuple[int, ...]] = []
        pointer = 0
        for m in range(cfg.segments):
            low = 1 if cfg.max_phases_per_segment == 1 else 2
            size = 1 if (m == 0 and cfg.segments > 1) else int(rng.integers(low, cfg.max_phases_per_segment + 1))
            result.append(tuple(sorted(chain[(pointer + i) % phases] for i in range(size))))
            pointer += size
        return result

    # ----------------------------------------------------------------- changes (shocks)

    @property
    def segment_count(self) -> int:
        """Number of segments, including those added during the run."""
        return len(self.segment_phases)

    def set_demand_factor(self, source: str, factors: dict[int, float]) -> None:
        """Let ``source`` multiply the demand of some segments (replacing what it set before)."""
        self._demand_factors[source] = {int(s): float(v) for s, v in factors.items()}
        self._rebuild_demand_multiplier()

    def clear_demand_factor(self, source: str) -> None:
        """Withdraw what ``source`` did to demand."""
        if self._demand_factors.pop(source, None) is not None:
            self._rebuild_demand_multiplier()

    def _rebuild_demand_multiplier(self) -> None:
        multiplier = np.ones(self.segment_count)
        for factors in self._demand_factors.values():  # insertion order: deterministic
            for s, v in factors.items():
                multiplier[s] *= v
        self.demand_multiplier = multiplier

    def set_segment_phases(self, segment: int, phases: tuple[int, ...] | list[int]) -> None:
        """Change the phases orders of ``segment`` need (from the next orders drawn on)."""
        required = tuple(sorted({int(p) for p in phases}))
        if not required or not all(0 <= p < self.phases for p in required):
            raise ValueError(f"segment phases must be a non-empty subset of 0..{self.phases - 1}, "
                             f"got {phases!r}")
        self.segment_phases[segment] = required

    def add_segment(self, phases: tuple[int, ...] | list[int], *, base_rate: float, price: float,
                    novelty: float, novelty_growth: float, benchmark: float,
                    log_demand: float = 0.0, commodity: bool = False) -> int:
        """Open a new segment (every per-segment array grows by one); returns its index.

        ``base_rate`` is in orders per month; ``price`` in k€ per employee-month.
        """
        required = tuple(sorted({int(p) for p in phases}))
        if not required or not all(0 <= p < self.phases for p in required):
            raise ValueError(f"segment phases must be a non-empty subset of 0..{self.phases - 1}, "
                             f"got {phases!r}")
        self.segment_phases.append(required)
        self.commodity = np.append(self.commodity, bool(commodity))
        self.price = np.append(self.price, float(price))
        self.novelty = np.append(self.novelty, float(novelty))
        self.novelty_growth = np.append(self.novelty_growth, float(novelty_growth))
        self.benchmark = np.append(self.benchmark, float(benchmark))
        self.base_rate = np.append(self.base_rate, float(base_rate))
        self.log_demand = np.append(self.log_demand, float(log_demand))
        self.demand_multiplier = np.append(self.demand_multiplier, 1.0)
        return self.segment_count - 1

    # ----------------------------------------------------------------- monthly updates

    def update_demand(self, rng: np.random.Generator) -> None:
        """Advance each segment's log demand by one mean-reverting step."""
        cfg = self.cfg
        if cfg.volatility > 0:
            self.log_demand = ((1.0 - cfg.mean_reversion) * self.log_demand
                               + cfg.volatility * rng.standard_normal(len(self.log_demand)))

    def advance_frontier(self) -> None:
        """Novelty requirements rise at each segment's own rate; the world improves."""
        self.novelty *= 1.0 + self.novelty_growth
        self.benchmark += self.cfg.world_benchmark_growth

    def demand_rate(self) -> np.ndarray:
        """Expected orders per month per segment (mean-corrected lognormal level)."""
        level = np.minimum(np.exp(self.log_demand - self.stationary_var / 2.0), MAX_DEMAND_LEVEL)
        return self.base_rate * level * self.demand_multiplier

    def demand_index(self) -> float:
        """Current demand relative to the calibrated base (1 = normal)."""
        return float(self.demand_rate().sum() / self.base_rate.sum())

    def draw_orders(self, rng: np.random.Generator) -> list[Order]:
        """This month's orders, in random arrival order."""
        return self._orders(rng.poisson(self.demand_rate()), rng)

    def draw_export_orders(self, rng: np.random.Generator) -> list[Order]:
        """This month's export orders (docs/ODD.md §7.15): demand from outside the region, on
        top of the domestic orders, ``export_share`` × the segments' demand, paid
        ``export_premium`` × the price. None (and no random draw) when the share is 0."""
        if self.cfg.export_share <= 0:
            return []
        counts = rng.poisson(self.demand_rate() * self.cfg.export_share)
        return self._orders(counts, rng, export=True)

    def _orders(self, counts: np.ndarray, rng: np.random.Generator,
                export: bool = False) -> list[Order]:
        """Orders for ``counts`` per segment: work, duration and value drawn, arrival shuffled."""
        total = int(counts.sum())
        if total == 0:
            return []
        cfg = self.cfg
        premium = cfg.export_premium if export else 1.0
        segments = np.repeat(np.arange(len(counts)), counts)
        rng.shuffle(segments)
        n_phases = np.array([len(self.segment_phases[s]) for s in segments])
        work = rng.lognormal(math.log(cfg.work_median), cfg.work_sigma, size=int(n_phases.sum()))
        durations = rng.integers(1, cfg.max_duration + 1, size=total)
        value_noise = rng.lognormal(0.0, 0.15, size=total)
        # Plain Python numbers from here (numpy scalars cost more than the arithmetic).
        bounds = np.r_[0, np.cumsum(n_phases)].tolist()
        work_list = work.tolist()
        price, phases_of = self.price.tolist(), self.segment_phases
        orders = []
        for i, (seg, duration, noise) in enumerate(zip(segments.tolist(), durations.tolist(),
                                                       value_noise.tolist(), strict=True)):
            w = tuple(work_list[bounds[i]:bounds[i + 1]])
            orders.append(Order(seg, phases_of[seg], w, duration,
                                price[seg] * sum(w) * noise * premium, export))
        return orders

    def win_probability(self, segment: int, mean_capability: float, team_knowledge: float) -> float:
        """Chance that the team beats the world's producers for an order of ``segment``.

        Quality = mean capability of the assigned firms + weight × log(team knowledge /
        novelty requirement); the chance is logistic in quality minus the world benchmark.
        """
        cfg = self.cfg
        quality = mean_capability + cfg.knowledge_weight * math.log(
            max(team_knowledge, 1e-9) / self.novelty[segment])
        z = cfg.win_steepness * (quality - self.benchmark[segment])
        return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0

    def phase_frontier(self) -> np.ndarray:
        """Novelty requirement each phase's firms catch up to: the mean over segments using it."""
        frontier = np.zeros(self.phases)
        weight = np.zeros(self.phases)
        for s, phases in enumerate(self.segment_phases):
            for p in phases:
                frontier[p] += self.base_rate[s] * self.novelty[s]
                weight[p] += self.base_rate[s]
        fallback = float(self.novelty.mean())
        return np.where(weight > 0, frontier / np.maximum(weight, 1e-300), fallback)

    def phase_demand_share(self) -> np.ndarray:
        """Share of all demanded work that falls on each phase (for drawing specialties)."""
        work = np.zeros(self.phases)
        for s, phases in enumerate(self.segment_phases):
            for p in phases:
                work[p] += self.base_rate[s]
        return work / work.sum()
