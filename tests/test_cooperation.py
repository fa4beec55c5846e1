"""Cooperation types and the response to crisis and opportunity (docs/ODD.md §7.14, H11)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.agents.firm import FirmState
from clustersim.cooperation import draw_cooperation, joining_factor, openness, opportunity
from clustersim.model import ClusterModel
from clustersim.outcomes import summarise
from clustersim.scenario import RegionConfig, ResponseConfig

CRISIS = {"type": "demand_drop", "start": 3, "duration": 6, "magnitude": 0.4}
OPPORTUNITY = {"type": "new_segment", "start": 3, "duration": 6, "magnitude": 0.3}
EVERYTHING = {
    "region.habitual_cooperators": 0.3,
    "region.search_willingness": 0.5,
    "response.enabled": True,
    "policies": [{"type": "hubs", "start": 1, "duration": 12, "join_rate": 0.05},
                 {"type": "brokers", "start": 1, "duration": 12}],
}


# --------------------------------------------------------------------------- the two types


def test_two_types_are_drawn_in_their_shares_around_their_own_means():
    cfg = RegionConfig(habitual_cooperators=0.3, habitual_cooperativeness=0.8,
                       opportunist_cooperativeness=0.4, cooperativeness_sd=0.05)
    coop, habitual, search = draw_cooperation(cfg, np.random.default_rng(1), 20_000)
    assert abs(habitual.mean() - 0.3) < 0.015
    assert abs(coop[habitual].mean() - 0.8) < 0.01
    assert abs(coop[~habitual].mean() - 0.4) < 0.01
    assert np.array_equal(search, coop)  # search willingness = cooperativeness by default


def test_model_records_each_firms_type_and_exports_it():
    model = ClusterModel(seed=2, n_firms=400, **{"region.habitual_cooperators": 0.75})
    frame = model.firm_frame()
    assert {"habitual", "search_willingness", "openness"} <= set(frame.columns)
    assert 0.65 < frame["habitual"].mean() < 0.85
    assert model.stats["habitual_share"] == frame["habitual"].mean()
    assert frame.loc[frame["habitual"], "cooperativeness"].mean() > \
        frame.loc[~frame["habitual"], "cooperativeness"].mean() + 0.3


def test_without_types_the_draw_is_the_old_single_normal_draw():
    cfg = RegionConfig()
    coop, habitual, search = draw_cooperation(cfg, np.random.default_rng(7), 500)
    old = np.clip(np.random.default_rng(7).normal(cfg.cooperativeness, cfg.cooperativeness_sd,
                                                  size=500), 0.0, 1.0)
    assert np.array_equal(coop, old)
    assert not habitual.any()
    assert np.array_equal(search, coop)


def test_default_run_is_unchanged_by_the_switches_being_present():
    """Switches off: the same run as the explicit defaults (fingerprints check the hashes)."""
    plain = ClusterModel(seed=3, n_firms=80)
    explicit = ClusterModel(seed=3, n_firms=80, **{"region.habitual_cooperators": None,
                                                   "region.search_willingness": None,
                                                   "response.enabled": False})
    plain.run(6)
    explicit.run(6)
    pd.testing.assert_frame_equal(plain.timeseries(), explicit.timeseries())
    assert plain.timeseries()["mean_openness"].eq(0).all()


# --------------------------------------------------------------------------- search willingness


def test_decoupled_search_willingness_changes_the_search_not_cooperativeness():
    cfg = RegionConfig(search_willingness=0.95, cooperativeness=0.3)
    coop, _, search = draw_cooperation(cfg, np.random.default_rng(4), 2000)
    same, _, _ = draw_cooperation(RegionConfig(cooperativeness=0.3), np.random.default_rng(4), 2000)
    assert np.array_equal(coop, same)  # trust gain and decay read the same cooperativeness
    assert search.mean() > 0.9 > coop.mean() + 0.5


def test_search_willingness_drives_stranger_search_but_not_trust():
    """Same seed and state; only search willingness differs: only the stranger search moves."""
    eager, shy = ClusterModel(seed=5, n_firms=150), ClusterModel(seed=5, n_firms=150)
    eager.firms.search_willingness[:] = 1.0
    shy.firms.search_willingness[:] = 0.0
    eager.step()
    shy.step()
    assert shy.stats["strangers_searched"] == 0
    assert eager.stats["strangers_searched"] > 0
    assert np.array_equal(eager.firms.cooperativeness, shy.firms.cooperativeness)


# --------------------------------------------------------------------------- the response


def _state(revenue_fast: float, revenue_slow: float, threat: float, born: int = 0) -> FirmState:
    firms = FirmState(1, 2)
    firms.add(1)
    firms.alive[0] = True
    firms.revenue_fast[0], firms.revenue_slow[0] = revenue_fast, revenue_slow
    firms.threat[0], firms.born[0] = threat, born
    return firms


def test_openness_rises_with_threat_and_with_opportunity():
    cfg = ResponseConfig(enabled=True)
    calm = openness(_state(10.0, 10.0, 0.0), 40, cfg)[0]
    threatened = openness(_state(10.0, 10.0, 0.4), 40, cfg)[0]
    booming = openness(_state(13.0, 10.0, 0.0), 40, cfg)[0]
    assert calm == 0.0
    assert math.isclose(threatened, 0.4)
    assert 0.25 < booming < 0.35
    assert openness(_state(10.0, 10.0, 0.9), 40, ResponseConfig(sensitivity=3.0))[0] == 1.0


def test_a_young_firm_does_not_read_its_first_months_as_a_boom():
    """The averages start at 0; divided by their gathered weight, steady revenue reads flat."""
    firms = _state(0.0, 0.0, 0.0, born=10)
    revenue = 5.0
    for _ in range(4):  # four months of the same revenue, updated as in docs/ODD.md §7.6
        firms.revenue_fast[0] += (revenue - firms.revenue_fast[0]) / 3.0
        firms.revenue_slow[0] += (revenue - firms.revenue_slow[0]) / 12.0
    assert abs(opportunity(firms, 15)[0]) < 1e-12


def test_crisis_raises_openness_and_stranger_search():
    """The same perceived threat: firms that respond look at more strangers (fails without §7.14)."""
    runs = {}
    for enabled in (True, False):
        model = ClusterModel(seed=6, n_firms=150, **{"response.enabled": enabled})
        model.firms.threat[: model.firms.n] = 0.6
        model.step()
        runs[enabled] = model.stats
    assert runs[True]["mean_openness"] > 0.5
    assert runs[True]["responding_firms_share"] > 0.9
    assert runs[False]["mean_openness"] == 0.0
    assert runs[True]["strangers_searched"] > 1.5 * runs[False]["strangers_searched"]


def test_open_firms_are_readier_to_join():
    firms = _state(10.0, 10.0, 0.5)
    firms.openness[0] = 0.5
    idx = np.array([0])
    assert joining_factor(firms, idx, ResponseConfig()) == 1.0
    assert joining_factor(firms, idx, ResponseConfig(enabled=True, join_lift=2.0))[0] == 2.0


@pytest.mark.parametrize(("policy", "column"), [
    ({"type": "hubs", "start": 1, "duration": 12, "join_rate": 0.02}, "hub_members"),
    ({"type": "brokers", "start": 1, "duration": 12, "recruitment": 0.01, "awareness_lift": 0.0,
      "brokers_per_1000": 20.0}, "broker_clients"),
])
def test_threatened_firms_join_hubs_and_brokers_more_readily(policy, column):
    """Same seed and the same forced threat: with the response on, more firms join."""
    joined = {}
    for enabled in (True, False):
        model = ClusterModel(seed=11, n_firms=200, policies=[policy],
                             **{"response.enabled": enabled, "response.join_lift": 4.0})
        for _ in range(3):
            model.firms.threat[: model.firms.n] = 0.8
            model.step()
        joined[enabled] = model.stats[column]
    assert joined[True] > 2 * joined[False] > 0


def test_network_growth_after_a_shock_is_a_run_outcome():
    model = ClusterModel(seed=8, n_firms=80, steps=20, shocks=[CRISIS],
                         **{"response.enabled": True})
    model.run()
    out = summarise(model)
    ts = model.timeseries()
    assert out["ties_formed_after_shock"] == ts.loc[ts["step"].between(3, 14), "ties_formed"].sum()
    assert out["strangers_searched_after_shock"] > 0
    window = ts[ts["step"].between(3, 14)]
    assert math.isclose(out["new_ties_per_order_after_shock"],
                        window["ties_formed"].sum() / window["orders_won"].sum())
    plain = ClusterModel(seed=8, n_firms=80, steps=4)
    plain.run()
    assert math.isnan(summarise(plain)["ties_formed_after_shock"])


# --------------------------------------------------------------------------- invariants


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), habit=st.floats(0.0, 1.0), sensitivity=st.floats(0.0, 5.0),
       shock=st.sampled_from([CRISIS, OPPORTUNITY]))
def test_money_is_conserved_with_everything_on(seed, habit, sensitivity, shock):
    model = ClusterModel(seed=seed, n_firms=60, steps=12, shocks=[shock],
                         **{**EVERYTHING, "region.habitual_cooperators": habit,
                            "response.sensitivity": sensitivity})
    f = model.firms
    cash_before = float(f.cash[: f.n].sum())
    for _ in range(12):
        model.step()
        cash_after = float(f.cash[: f.n].sum())
        assert math.isclose(cash_after - cash_before, model.net_cash_flow(),
                            rel_tol=1e-9, abs_tol=1e-6)
        cash_before = cash_after
        live = f.alive[: f.n]
        assert ((f.openness[: f.n][live] >= 0) & (f.openness[: f.n][live] <= 1)).all()


def test_same_seed_same_run_with_everything_on():
    def run() -> pd.DataFrame:
        model = ClusterModel(seed=9, n_firms=80, steps=10, shocks=[CRISIS], **EVERYTHING)
        model.run()
        return model.timeseries()

    pd.testing.assert_frame_equal(run(), run())
