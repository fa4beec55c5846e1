"""The market: segment phases, mean-corrected demand, novelty, orders, calibration, winning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.market import Market
from clustersim.scenario import MarketConfig

CAPACITY = 2_000.0  # employee-months per month: the cluster the base demand is calibrated to


def make_market(seed: int = 0, phases: int = 6, capacity: float = CAPACITY, **cfg) -> Market:
    return Market(MarketConfig(**cfg), phases, np.random.default_rng(seed), capacity)


def simulate_demand(market: Market, months: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(months, segments) arrays of demand rate / base rate and of log demand."""
    rng = np.random.default_rng(seed)
    level = np.empty((months, len(market.base_rate)))
    log_demand = np.empty_like(level)
    for t in range(months):
        market.update_demand(rng)
        level[t] = market.demand_rate() / market.base_rate
        log_demand[t] = market.log_demand
    return level, log_demand


# 50 independent segments × 20,000 months: the long-run statistics of the demand walk.
VOLATILE = {"segments": 50, "volatility": 0.5, "mean_reversion": 0.1}


@pytest.fixture(scope="module")
def volatile_demand() -> tuple[Market, np.ndarray, np.ndarray]:
    market = make_market(seed=1, **VOLATILE)
    level, log_demand = simulate_demand(market, 20_000, seed=2)
    return market, level, log_demand


# --------------------------------------------------------------------------- segments


@settings(max_examples=200, deadline=None)
@given(
    segments=st.integers(1, 30),
    phases=st.integers(2, 12),
    max_phases=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_segment_phases_are_valid_and_cover_every_phase_when_they_add_up_to_k(
    segments, phases, max_phases, seed
):
    max_phases = min(max_phases, phases)  # the scenario refuses more (Scenario._consistent)
    market = make_market(seed, phases=phases, segments=segments, max_phases_per_segment=max_phases)
    needed = market.segment_phases
    assert len(needed) == segments
    for required in needed:
        assert 1 <= len(required) <= max_phases
        assert len(set(required)) == len(required), f"a phase required twice: {required}"
        assert list(required) == sorted(required)
        assert all(0 <= p < phases for p in required)
    # The runs wrap round the chain: once their lengths add up to K, every phase is needed.
    if sum(len(r) for r in needed) >= phases:
        assert set().union(*needed) == set(range(phases))


@pytest.mark.parametrize("seed", range(20))
def test_default_market_needs_every_phase(seed):
    market = make_market(seed)  # 8 segments, up to 4 of 6 phases: at least 1 + 7 × 2 ≥ 6
    assert set().union(*market.segment_phases) == set(range(6))
    assert market.phase_demand_share().min() > 0


@settings(max_examples=100, deadline=None)
@given(segments=st.integers(2, 30), max_phases=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_segment_zero_is_single_phase_when_there_are_several(segments, max_phases, seed):
    market = make_market(seed, segments=segments, max_phases_per_segment=max_phases)
    assert len(market.segment_phases[0]) == 1  # solo work exists (H2)
    if max_phases > 1:  # the others are team work: at least two phases each
        assert all(len(p) >= 2 for p in market.segment_phases[1:])


def test_commodity_segments_are_cheaper_and_counted_by_share():
    market = make_market(
        3, segments=8, commodity_share=0.25, commodity_price_factor=0.85, price=7.0
    )
    assert market.commodity.sum() == 2
    assert np.allclose(market.price[market.commodity], 7.0 * 0.85)
    assert np.allclose(market.price[~market.commodity], 7.0)


# --------------------------------------------------------------------------- demand


def test_volatile_demand_keeps_the_long_run_mean_of_the_base_rate(volatile_demand):
    market, level, _log = volatile_demand
    # Without the −σ²/2 correction the mean level would be exp(s²/2) ≈ 1.93 here.
    assert market.stationary_var == pytest.approx(0.25 / (1 - 0.9**2))
    assert level.mean() == pytest.approx(1.0, abs=0.03)
    # Per segment too (a weaker bound: each is one autocorrelated series).
    assert np.all(np.abs(level.mean(axis=0) - 1.0) < 0.3)


def test_volatility_changes_the_variance_of_demand_not_its_mean(volatile_demand):
    _market, level, _log = volatile_demand
    stable = make_market(seed=1, **{**VOLATILE, "volatility": 0.0})
    stable_level, _ = simulate_demand(stable, 200, seed=2)
    assert stable_level.mean() == pytest.approx(level.mean(), rel=0.03)
    assert level.std() > 1.0 > stable_level.std()


def test_volatility_leaves_base_rate_and_segments_unchanged():
    stable = make_market(5, volatility=0.0)
    volatile = make_market(5, volatility=0.6)
    assert np.array_equal(stable.base_rate, volatile.base_rate)
    assert stable.segment_phases == volatile.segment_phases
    assert np.array_equal(stable.novelty_growth, volatile.novelty_growth)  # not tied to volatility


def test_zero_volatility_gives_constant_demand():
    market = make_market(4, volatility=0.0)
    rng = np.random.default_rng(0)
    assert np.array_equal(market.demand_rate(), market.base_rate)
    for _ in range(50):
        market.update_demand(rng)
        assert np.array_equal(market.demand_rate(), market.base_rate)
    assert market.demand_index() == pytest.approx(1.0)


def test_log_demand_variance_approaches_the_stationary_variance(volatile_demand):
    market, _level, log_demand = volatile_demand
    assert log_demand.mean() == pytest.approx(0.0, abs=0.05)
    assert log_demand.var() == pytest.approx(market.stationary_var, rel=0.05)


def test_log_demand_reverts_to_zero_from_a_shock():
    market = make_market(6, volatility=0.2, mean_reversion=0.1, segments=40)
    market.log_demand[:] = 3.0
    _level, log_demand = simulate_demand(market, 60, seed=1)
    # E[d_t] = 3 × 0.9^t: after 60 months about 0.005, noise aside.
    assert abs(log_demand[-1].mean()) < 0.3 < log_demand[5].mean()


def test_demand_multiplier_scales_demand():
    market = make_market(2, volatility=0.0)
    market.demand_multiplier[1] = 0.4
    rate = market.demand_rate()
    assert rate[1] == pytest.approx(0.4 * market.base_rate[1])
    assert np.array_equal(np.delete(rate, 1), np.delete(market.base_rate, 1))


# --------------------------------------------------------------------------- frontier


def test_novelty_grows_at_each_segments_own_rate():
    market = make_market(
        7,
        segments=8,
        commodity_share=0.25,
        novelty_growth=0.004,
        commodity_novelty_growth=0.001,
        world_benchmark=0.65,
        world_benchmark_growth=0.002,
    )
    months = 120
    for _ in range(months):
        market.advance_frontier()
    growth = np.where(market.commodity, 0.001, 0.004)
    assert np.allclose(market.novelty, (1.0 + growth) ** months)
    assert market.novelty[market.commodity].max() < market.novelty[~market.commodity].min()
    assert np.allclose(market.benchmark, 0.65 + 0.002 * months)


def test_phase_frontier_lies_within_the_novelty_of_the_segments_using_the_phase():
    market = make_market(8)
    for _ in range(100):
        market.advance_frontier()
    frontier = market.phase_frontier()
    for phase in range(market.phases):
        using = [s for s, p in enumerate(market.segment_phases) if phase in p]
        assert market.novelty[using].min() - 1e-12 <= frontier[phase]
        assert frontier[phase] <= market.novelty[using].max() + 1e-12


# --------------------------------------------------------------------------- orders


def test_orders_match_their_segment():
    market = make_market(9, volatility=0.3, max_duration=3, work_median=4.5)
    rng = np.random.default_rng(1)
    orders = [o for _ in range(30) for o in market.draw_orders(rng)]
    assert len(orders) > 100
    for order in orders:
        assert order.phases == market.segment_phases[order.segment]
        assert len(order.work) == len(order.phases)
        assert all(w > 0 for w in order.work)
        assert 1 <= order.duration <= 3
        ratio = order.value / (market.price[order.segment] * sum(order.work))
        assert 0.4 < ratio < 2.5  # value = price × work × lognormal(0, 0.15) noise
    assert {o.duration for o in orders} == {1, 2, 3}
    assert {o.segment for o in orders} == set(range(8))


def test_no_orders_when_demand_is_zero():
    market = make_market(9)
    market.demand_multiplier[:] = 0.0
    assert market.draw_orders(np.random.default_rng(0)) == []


def test_base_rate_follows_the_calibration_rule():
    cfg = {
        "target_utilisation": 0.78,
        "expected_win_share": 0.6,
        "work_median": 4.5,
        "work_sigma": 0.7,
        "demand_scale": 1.0,
    }
    market = make_market(10, **cfg)
    mean_work = 4.5 * math.exp(0.7**2 / 2)  # mean of the lognormal work per phase
    phases_demanded = sum(
        r * len(p) for r, p in zip(market.base_rate, market.segment_phases, strict=True)
    )
    assert phases_demanded * mean_work == pytest.approx(CAPACITY * 0.78 / 0.6, rel=1e-9)
    doubled = make_market(10, **{**cfg, "demand_scale": 2.0})
    assert np.allclose(doubled.base_rate, 2.0 * market.base_rate)
    bigger = make_market(10, capacity=3 * CAPACITY, **cfg)
    assert np.allclose(bigger.base_rate, 3.0 * market.base_rate)


def test_orders_drawn_carry_the_calibrated_work():
    market = make_market(11, volatility=0.0)
    rng = np.random.default_rng(3)
    months = 400
    work = sum(sum(o.work) for _ in range(months) for o in market.draw_orders(rng))
    expected = CAPACITY * market.cfg.target_utilisation / market.cfg.expected_win_share
    assert work / months == pytest.approx(expected, rel=0.03)


# --------------------------------------------------------------------------- winning


def test_win_probability_is_one_half_at_the_benchmark():
    market = make_market(12, world_benchmark=0.65, knowledge_weight=0.5)
    assert market.win_probability(0, 0.65, 1.0) == pytest.approx(0.5)  # novelty 1, log term 0
    for _ in range(50):
        market.advance_frontier()
    novelty, benchmark = market.novelty[3], market.benchmark[3]
    # Knowledge e× the requirement adds knowledge_weight to quality.
    assert market.win_probability(3, benchmark - 0.5, novelty * math.e) == pytest.approx(0.5)
    assert market.win_probability(3, benchmark, novelty * 0.5) < 0.5


unit = st.floats(0.0, 1.0)
knowledge = st.floats(0.01, 10.0)


@settings(max_examples=300, deadline=None)
@given(cap=st.tuples(unit, unit), know=st.tuples(knowledge, knowledge), segment=st.integers(0, 7))
def test_win_probability_is_monotone_in_capability_and_knowledge(cap, know, segment):
    market = make_market(13)
    low_cap, high_cap = sorted(cap)
    low_k, high_k = sorted(know)
    for k in know:
        assert market.win_probability(segment, low_cap, k) <= market.win_probability(
            segment, high_cap, k
        )
    for c in cap:
        assert market.win_probability(segment, c, low_k) <= market.win_probability(
            segment, c, high_k
        )
    p = market.win_probability(segment, cap[0], know[0])
    assert 0.0 <= p <= 1.0


def test_win_probability_strictly_rises_in_the_contested_range():
    market = make_market(14)
    caps = np.linspace(0.3, 1.0, 15)
    chances = [market.win_probability(1, c, 1.0) for c in caps]
    assert np.all(np.diff(chances) > 0)
    knows = np.geomspace(0.3, 3.0, 15)
    chances = [market.win_probability(1, 0.65, k) for k in knows]
    assert np.all(np.diff(chances) > 0)


def test_win_probability_survives_extreme_quality():
    market = make_market(15, win_steepness=100.0, knowledge_weight=10.0)
    assert market.win_probability(0, 0.0, 0.0) == 0.0  # no overflow in exp
    assert market.win_probability(0, 1.0, 1e6) == pytest.approx(1.0)
