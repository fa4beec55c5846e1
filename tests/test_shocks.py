"""Shocks: each hits at its start month, ends after its duration, and moves what it targets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.model import ClusterModel
from clustersim.scenario import ScenarioError, load_scenario, scenario_from_dict
from clustersim.shocks import RELATED_CAPABILITY, SHOCK_TYPES, SHOCKS

START, DURATION = 6, 4  # the shock is felt in months 6..9; month 10 is the first without it
MONTHS = 14


def make(shocks: list[dict[str, Any]], *, n_firms: int = 80, steps: int = MONTHS, seed: int = 3,
         **extra: Any) -> ClusterModel:
    data: dict[str, Any] = {"steps": steps, "firms": {"count": n_firms}, "shocks": shocks, **extra}
    return ClusterModel(scenario_from_dict(data, source="test"), seed=seed)


def shock(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "start": START, "duration": DURATION, **fields}


def during(month: int, start: int = START, duration: int = DURATION) -> bool:
    return start <= month < start + duration


def check_timing(model: ClusterModel, name: str, start: int = START, duration: int = DURATION) -> None:
    active = model.timeseries()["shock_active"].tolist()
    assert active == [int(during(m, start, duration)) for m in range(len(active))]
    assert model.event_log == [(start, name, "start"), (start + duration, name, "end")]


def test_every_type_is_registered() -> None:
    assert set(SHOCKS) == set(SHOCK_TYPES)
    for name, cls in SHOCKS.items():
        assert cls.type_name == name


# --------------------------------------------------------------------------- demand_drop


def test_demand_drop_cuts_the_targeted_segments_demand_for_its_duration() -> None:
    model = make([shock("demand_drop", magnitude=0.6, segments=[1, 2])])
    for month in range(1, MONTHS + 1):
        model.step()
        multiplier = model.market.demand_multiplier
        expected = 0.4 if during(month) else 1.0
        assert multiplier[1] == pytest.approx(expected) and multiplier[2] == pytest.approx(expected)
        assert np.delete(multiplier, [1, 2]) == pytest.approx(1.0)
    check_timing(model, "demand_drop#0")


def test_demand_drop_hits_the_orders_of_its_first_month_and_not_before() -> None:
    shocked = make([shock("demand_drop", magnitude=0.6)], n_firms=100)
    calm = make([], n_firms=100)
    shocked.run()
    calm.run()
    a, b = shocked.timeseries(), calm.timeseries()
    # Nothing differs before the shock (its start draws no random numbers).
    pd.testing.assert_frame_equal(a.iloc[:START].drop(columns="shock_active"),
                                  b.iloc[:START].drop(columns="shock_active"))
    assert a["orders"].iloc[START] < 0.7 * b["orders"].iloc[START]
    window = slice(START, START + DURATION)
    assert a["orders"].iloc[window].sum() < 0.6 * b["orders"].iloc[window].sum()
    # Demand is back after the shock.
    assert shocked.market.demand_multiplier == pytest.approx(1.0)


def test_overlapping_demand_drops_combine_and_a_total_drop_can_be_undone() -> None:
    model = make([shock("demand_drop", magnitude=1.0, segments=[0]),
                  shock("demand_drop", magnitude=0.5, start=START + 2, duration=6, segments=[0])])
    seen = {}
    for month in range(1, MONTHS + 1):
        model.step()
        seen[month] = model.market.demand_multiplier[0]
        if during(month):
            assert not any(o.segment == 0 for o in model.orders)
    assert seen[START] == 0.0 and seen[START + 3] == 0.0
    assert seen[START + DURATION] == pytest.approx(0.5)
    assert seen[START + 8] == pytest.approx(1.0)


# --------------------------------------------------------------------------- new_segment


def test_new_segment_appears_takes_orders_and_closes_after_its_duration() -> None:
    model = make([shock("new_segment", magnitude=0.5, phases=[0, 1, 2], duration=5)], n_firms=100)
    base_segments = model.market.segment_count
    new = base_segments
    won = 0
    for month in range(1, MONTHS + 1):
        model.step()
        market = model.market
        count = base_segments + (month >= START)
        assert market.segment_count == len(market.segment_phases) == count
        for name in ("price", "commodity", "novelty", "novelty_growth", "benchmark", "base_rate",
                     "log_demand", "demand_multiplier"):
            assert len(getattr(market, name)) == count, name
        new_orders = sum(o.segment == new for o in model.orders)
        if during(month, START, 5):
            assert new_orders > 0
            assert market.segment_phases[new] == (0, 1, 2)
            won += sum(job.segment == new for jobs in model.jobs.values() for job in jobs)
        else:
            assert new_orders == 0
    assert won > 0
    assert model.market.demand_multiplier[new] == 0.0
    check_timing(model, "new_segment#0", START, 5)


def test_new_segment_by_default_needs_two_phases_of_a_segment_and_one_beside_them() -> None:
    model = make([shock("new_segment")])
    before = list(model.market.segment_phases)
    model.run(START)
    needed = set(model.market.segment_phases[-1])
    assert len(needed) == 3
    assert any(len(needed & set(p)) == 2 and len(needed - set(p)) == 1 for p in before)


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_new_segment_demand_is_its_share_of_all_work(mode: str) -> None:
    model = make([shock("new_segment", magnitude=0.3, phases=[1, 3])], network_mode=mode)
    market = model.market
    work = sum(r * len(p) for r, p in zip(market.base_rate, market.segment_phases, strict=True))
    model.run(START)
    assert market.base_rate[-1] * 2 == pytest.approx(0.3 * work)
    model.run(DURATION)
    assert market.base_rate[-1] == 0.0  # closed: no orders, no pull on R&D targets


def test_related_skills_with_spare_capacity_reconvert() -> None:
    rate = 0.05
    model = make([shock("new_segment", phases=[0, 1, 2], reconversion_rate=rate)], n_firms=60)
    model.run(START - 1)
    f = model.firms
    alive = f.alive_indices().tolist()
    idle, busy, far, skilled = alive[:4]
    for firm, capability, utilisation in ((idle, 0.35, 0.0), (busy, 0.35, 0.99),
                                          (far, RELATED_CAPABILITY - 0.05, 0.0), (skilled, 0.45, 0.0)):
        f.capability[firm, 1] = capability
        f.utilisation[firm] = utilisation
    model.step()  # month START: the segment opens and reconversion begins
    assert f.capability[idle, 1] == pytest.approx(0.35 + rate)
    assert f.capability[busy, 1] == pytest.approx(0.35)  # no people to spare
    assert f.capability[far, 1] == pytest.approx(RELATED_CAPABILITY - 0.05)  # no related skill
    assert f.capability[skilled, 1] == pytest.approx(0.45 + rate)
    f.utilisation[idle] = 0.0
    f.utilisation[skilled] = 0.0
    model.step()
    assert f.capability[idle, 1] == pytest.approx(0.35 + 2 * rate)
    assert f.capability[skilled, 1] >= 0.5  # it now covers the phase and stops reconverting
    covered = float(f.capability[skilled, 1])
    f.utilisation[skilled] = 0.0
    model.step()
    assert f.capability[skilled, 1] == pytest.approx(covered, abs=0.01)


# --------------------------------------------------------------------------- niche_shift


def test_niche_shift_swaps_one_phase_for_its_duration_then_reverts() -> None:
    model = make([shock("niche_shift", segments=[2])])
    original = model.market.segment_phases[2]
    for month in range(1, MONTHS + 1):
        model.step()
        now = model.market.segment_phases[2]
        if during(month):
            assert len(now) == len(original)
            assert len(set(now) - set(original)) == 1 and len(set(original) - set(now)) == 1
            assert all(o.phases == now for o in model.orders if o.segment == 2)
        else:
            assert now == original
    check_timing(model, "niche_shift#0")


def test_niche_shift_without_segments_changes_exactly_one() -> None:
    model = make([shock("niche_shift")])
    before = list(model.market.segment_phases)
    model.run(START)
    changed = [s for s, p in enumerate(model.market.segment_phases) if p != before[s]]
    assert len(changed) == 1


# --------------------------------------------------------------------------- low_cost_competition


def test_low_cost_competition_raises_the_benchmark_and_cuts_prices_in_commodities() -> None:
    model = make([shock("low_cost_competition", magnitude=0.2, price_drop=0.25)])
    market = model.market
    hit = np.flatnonzero(market.commodity)
    spared = np.flatnonzero(~market.commodity)
    assert len(hit) and len(spared)
    price = market.price.copy()
    for month in range(1, MONTHS + 1):
        model.step()
        gap = market.benchmark[hit] - market.benchmark[spared[0]]
        if during(month):
            assert gap == pytest.approx(0.2)
            assert market.price[hit] == pytest.approx(price[hit] * 0.75)
        else:
            assert gap == pytest.approx(0.0, abs=1e-12)
            assert market.price[hit] == pytest.approx(price[hit])
        assert market.price[spared] == pytest.approx(price[spared])
    check_timing(model, "low_cost_competition#0")


def test_low_cost_competition_without_commodities_hits_the_slowest_segment() -> None:
    model = make([shock("low_cost_competition")], market={"commodity_share": 0.0})
    model.market.novelty_growth[5] = 0.0  # the segment whose products age slowest
    before = model.market.benchmark.copy()
    model.run(START)
    jump = model.market.benchmark - before
    assert np.argmax(jump) == 5
    assert jump[5] - np.delete(jump, 5).max() == pytest.approx(0.15)


# --------------------------------------------------------------------------- supply_disruption


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_disrupted_firms_take_no_work_their_jobs_fail_and_they_recover(mode: str) -> None:
    model = make([shock("supply_disruption", magnitude=0.3, duration=3)], n_firms=100,
                 network_mode=mode)
    f = model.firms
    seen_jobs: set[int] = set()
    failures_checked = 0
    hit_count = None
    alive_before = 0
    for month in range(1, MONTHS + 1):
        if month == START:
            alive_before = int(f.alive[: f.n].sum())  # the shock hits before exits and entries
        model.step()
        disrupted = f.disrupted[: f.n]
        new_jobs = [job for jobs in model.jobs.values() for job in jobs if id(job) not in seen_jobs]
        new_jobs += [job for job, _ in model.jobs_completed if id(job) not in seen_jobs]
        seen_jobs.update(id(job) for job in new_jobs)
        if during(month, START, 3):
            if hit_count is None:
                hit_count = int(disrupted.sum())
                assert hit_count == round(0.3 * alive_before)
            assert disrupted.sum() == hit_count  # the same firms for the whole shock
            assert not (disrupted & (f.born[: f.n] >= START)).any()  # entrants are not hit
            assert not any(disrupted[m] for job in new_jobs for m in job.members)
            for job, failed in model.jobs_completed:
                if any(disrupted[m] for m in job.members):
                    assert failed
                    failures_checked += 1
        else:
            assert not disrupted.any()
    assert failures_checked > 0
    check_timing(model, "supply_disruption#0", START, 3)


def test_supply_disruption_of_a_town_hits_every_firm_there() -> None:
    model = make([shock("supply_disruption", town=1)], n_firms=100)
    model.run(START)
    f = model.firms
    alive = f.alive[: f.n]
    in_town = f.town[: f.n] == 1
    assert (f.disrupted[: f.n] == (alive & in_town & (f.born[: f.n] < START))).all()
    assert f.disrupted[: f.n].any()


def test_overlapping_disruptions_release_only_their_own_firms() -> None:
    model = make([shock("supply_disruption", town=0, duration=2),
                  shock("supply_disruption", town=0, start=START + 1, duration=4)])
    model.run(START + 2)  # the first has ended, the second still holds town 0
    f = model.firms
    assert f.disrupted[: f.n].any()
    model.run(3)
    assert not f.disrupted[: f.n].any()


# --------------------------------------------------------------------------- technology_shift


def test_technology_shift_adds_a_phase_and_knowledge_depreciates() -> None:
    probe = make([])
    phase = next(p for p in range(6) if p not in probe.market.segment_phases[3])
    spec = [shock("technology_shift", magnitude=0.3, segments=[3], phase=phase)]
    model, calm = make(spec), make([])
    original = model.market.segment_phases[3]
    for month in range(1, MONTHS + 1):
        model.step()
        calm.step()
        now = model.market.segment_phases[3]
        if during(month):
            assert set(now) == {*original, phase}
            assert all(phase in o.phases for o in model.orders if o.segment == 3)
        else:
            assert now == original
        ratio = model.stats["mean_knowledge"] / calm.stats["mean_knowledge"]
        if month < START:
            assert ratio == 1.0
        elif month == START:
            assert 0.65 < ratio < 0.8  # × 0.7, then a month of R&D catch-up
    assert ratio < 0.95 and model.stats["mean_knowledge"] > 0  # not restored at the end
    check_timing(model, "technology_shift#0")


def test_technology_shift_draws_a_phase_the_segment_did_not_need() -> None:
    model = make([shock("technology_shift")])
    before = list(model.market.segment_phases)
    model.run(START)
    changed = [s for s, p in enumerate(model.market.segment_phases) if p != before[s]]
    assert len(changed) == 1
    s = changed[0]
    assert set(before[s]) < set(model.market.segment_phases[s])
    assert len(model.market.segment_phases[s]) == len(before[s]) + 1


# --------------------------------------------------------------------------- timing, determinism


def test_a_shock_at_month_zero_is_felt_from_the_initial_state() -> None:
    model = make([{"type": "demand_drop", "start": 0, "duration": 3, "magnitude": 0.5}])
    assert model.market.demand_multiplier == pytest.approx(0.5)
    model.run(5)
    check_timing(model, "demand_drop#0", 0, 3)
    assert model.market.demand_multiplier == pytest.approx(1.0)


def test_a_shock_that_outlasts_the_run_never_ends() -> None:
    model = make([shock("low_cost_competition", duration=120)])
    model.run()
    assert model.event_log == [(START, "low_cost_competition#0", "start")]
    assert model.timeseries()["shock_active"].iloc[-1] == 1


ALL_SIX = [shock("demand_drop", magnitude=0.5), shock("new_segment", start=4),
           shock("niche_shift", start=5), shock("low_cost_competition", start=7, duration=3),
           shock("supply_disruption", start=8, duration=2), shock("technology_shift", start=9)]


@pytest.mark.parametrize("mode", ["dynamic", "static"])
def test_same_seed_same_run_with_shocks(mode: str) -> None:
    runs = []
    for _ in range(2):
        model = make(ALL_SIX, seed=11, network_mode=mode)
        model.run()
        runs.append(model)
    a, b = runs
    pd.testing.assert_frame_equal(a.timeseries(), b.timeseries())
    assert a.event_log == b.event_log
    assert a.market.segment_phases == b.market.segment_phases
    other = make(ALL_SIX, seed=12, network_mode=mode)
    other.run()
    assert not a.timeseries()["orders"].equals(other.timeseries()["orders"])


# --------------------------------------------------------------------------- random shock tables


@st.composite
def shock_tables(draw: st.DrawFn, segments: int, phases: int, towns: int, steps: int) -> dict:
    kind = draw(st.sampled_from(SHOCK_TYPES))
    table: dict[str, Any] = {"type": kind, "start": draw(st.integers(0, steps - 1)),
                             "duration": draw(st.integers(1, 12))}
    maybe_segments = st.none() | st.lists(st.integers(0, segments - 1), max_size=3)
    if kind == "demand_drop":
        table.update(magnitude=draw(st.floats(0, 1)), segments=draw(maybe_segments))
    elif kind == "new_segment":
        table.update(magnitude=draw(st.floats(0.01, 5)),
                     phases=draw(st.none() | st.lists(st.integers(0, phases - 1), min_size=1,
                                                      max_size=4)),
                     reconversion_rate=draw(st.floats(0, 0.5)))
    elif kind == "niche_shift":
        table.update(segments=draw(maybe_segments))
    elif kind == "low_cost_competition":
        table.update(magnitude=draw(st.floats(0, 2)), price_drop=draw(st.floats(0, 0.9)),
                     segments=draw(maybe_segments))
    elif kind == "supply_disruption":
        table.update(magnitude=draw(st.floats(0, 1)),
                     town=draw(st.none() | st.integers(0, towns - 1)))
    else:
        table.update(magnitude=draw(st.floats(0, 1)), segments=draw(maybe_segments),
                     phase=draw(st.none() | st.integers(0, phases - 1)))
    return {k: v for k, v in table.items() if v is not None}


@st.composite
def shocked_scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    segments, phases, steps = draw(st.integers(1, 5)), draw(st.integers(2, 5)), 12
    layout = draw(st.sampled_from(["clustered", "dispersed"]))
    towns = 4 if layout == "clustered" else 12
    data = {
        "steps": steps,
        "spin_up": draw(st.integers(0, 4)),
        "network_mode": draw(st.sampled_from(["static", "dynamic"])),
        "firms": {"count": draw(st.integers(10, 60)), "phases": phases},
        "region": {"layout": layout},
        "market": {"segments": segments, "max_phases_per_segment": min(2, phases),
                   "volatility": draw(st.floats(0, 0.6))},
        "shocks": draw(st.lists(shock_tables(segments, phases, towns, steps), min_size=1,
                                max_size=4)),
    }
    return data, draw(st.integers(0, 2**31))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=shocked_scenarios())
def test_random_shock_tables_never_crash_and_money_is_conserved(case: tuple[dict, int]) -> None:
    data, seed = case
    model = ClusterModel(scenario_from_dict(data, source="hypothesis"), seed=seed)
    f = model.firms
    cash_before = float(f.cash[: f.n].sum())
    for month in range(1, model.scenario.steps + 1):
        model.step()
        cash_after = float(f.cash[: f.n].sum())
        expected = model.net_cash_flow()
        assert math.isclose(cash_after - cash_before, expected, rel_tol=1e-9, abs_tol=1e-6)
        cash_before = cash_after
        market = model.market
        count = market.segment_count
        assert all(len(getattr(market, name)) == count
                   for name in ("price", "commodity", "novelty", "novelty_growth", "benchmark",
                                "base_rate", "log_demand", "demand_multiplier"))
        assert all(p and all(0 <= k < market.phases for k in p) for p in market.segment_phases)
        assert ((market.demand_multiplier >= 0) & (market.demand_multiplier <= 1)).all()
        assert ((f.capability[: f.n] >= 0) & (f.capability[: f.n] <= 1)).all()
        assert np.isfinite(f.knowledge[: f.n]).all()
        supply = [s for s in model.shocks if s.type_name == "supply_disruption" and s.running()]
        if not supply:
            assert not f.disrupted[: f.n].any()
        assert model.stats["shock_active"] == int(any(s.active(month) for s in model.shocks))


# --------------------------------------------------------------------------- bad tables


def error_text(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="shocks.toml")
    return str(info.value)


def test_unknown_shock_type_lists_the_allowed_types() -> None:
    text = error_text({"shocks": [{"type": "earthquake", "start": 10}]})
    assert "shocks.toml" in text and "shocks[0].type" in text and "'earthquake'" in text
    assert all(repr(kind) in text for kind in SHOCK_TYPES)


def test_shock_after_the_run_ends_names_the_key_and_the_limit() -> None:
    text = error_text({"steps": 48, "shocks": [{"type": "demand_drop", "start": 48}]})
    assert "shocks.toml" in text and "shocks[0].start = 48" in text and "steps = 48" in text


def test_segment_out_of_range_names_the_allowed_numbers() -> None:
    text = error_text({"shocks": [{"type": "niche_shift", "segments": [1, 8]}]})
    assert "shocks[0].segments contains 8" in text and "0..7" in text


def test_phase_and_town_out_of_range_name_the_allowed_numbers() -> None:
    text = error_text({"shocks": [{"type": "technology_shift", "phase": 6},
                                  {"type": "supply_disruption", "town": 4}]})
    assert "shocks[0]" in text and "phase 6" in text and "0..5" in text
    assert "shocks[1].town = 4" in text and "0..3" in text


def test_negative_magnitude_names_the_key_and_the_bound() -> None:
    text = error_text({"shocks": [{"type": "demand_drop", "magnitude": -0.2}]})
    assert "shocks[0].magnitude = -0.2" in text and "greater than or equal to 0" in text


def test_a_new_segment_needs_at_least_one_phase() -> None:
    text = error_text({"shocks": [{"type": "new_segment", "phases": []}]})
    assert "shocks[0].phases = []" in text and "at least 1 item" in text


def test_unknown_key_in_a_shock_table_lists_the_allowed_keys() -> None:
    text = error_text({"shocks": [{"type": "demand_drop", "segment": [1]}]})
    assert "shocks[0].segment" in text and "did you mean 'segments'" in text
    assert "magnitude" in text and "duration" in text


def test_bad_shock_table_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad_shock.toml"
    path.write_text('[[shocks]]\ntype = "demand_drop"\nstart = 200\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "bad_shock.toml" in text and "shocks[0].start = 200" in text and "steps = 120" in text


# --------------------------------------------------------------------------- shipped scenarios

SHOCK_SCENARIOS = {"covid_demand_drop": "demand_drop", "ppe_reconversion": "new_segment",
                   "low_cost_competition": "low_cost_competition",
                   "fashion_volatility": "niche_shift", "technology_shift": "technology_shift",
                   "supply_disruption": "supply_disruption"}


@pytest.mark.parametrize("name", sorted(SHOCK_SCENARIOS))
def test_shock_scenarios_are_the_baseline_plus_their_shock(name: str) -> None:
    scenario, baseline = load_scenario(name), load_scenario("baseline")
    assert scenario.shocks and {s.type for s in scenario.shocks} == {SHOCK_SCENARIOS[name]}
    assert 24 <= scenario.shocks[0].start <= 48
    assert "0" in scenario.description and ":L" in scenario.description  # cites seed lines
    base, other = baseline.model_dump(), scenario.model_dump()
    changed = {k for k in base if k not in ("name", "description", "outputs")
               and base[k] != other[k]}
    assert changed == ({"shocks", "market"} if name == "fashion_volatility" else {"shocks"})


def test_covid_scenario_is_a_sharp_temporary_drop() -> None:
    (drop,) = load_scenario("covid_demand_drop").shocks
    assert 0.5 <= drop.magnitude <= 0.7 and 6 <= drop.duration <= 9 and drop.segments is None
