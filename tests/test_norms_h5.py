"""The impannatore's norm for H5: winners pass work to members whose product missed the trend."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim.model import ClusterModel
from clustersim.policies.brokers.activities import MISSED_MONTHS


def brokers(pass_to: str = "failed_innovation", seed: int = 3, norms: bool = True) -> ClusterModel:
    policy = {"type": "brokers", "start": 2, "duration": 24, "brokers_per_1000": 20.0,
              "norms": norms, "norms_pass_to": pass_to}
    return ClusterModel(seed=seed, n_firms=150, steps=30, policies=[policy],
                        **{"region.cooperativeness": 0.5})


def test_an_order_lost_to_the_world_marks_its_lead():
    model = ClusterModel(seed=1, n_firms=100, steps=12)
    model.run()
    f = model.firms
    marked = np.flatnonzero(f.failed_innovation[: f.n] >= 0)
    assert len(marked) > 0
    assert (f.orders_lost[marked] > 0).all()
    lost_world = model.timeseries()["orders_lost_to_world"].sum()
    assert lost_world >= len(marked)


def test_each_mode_picks_its_members():
    model = brokers()
    model.run(10)
    policy = model.policies[0]
    f = model.firms
    members = list(range(12))
    utilisation = [0.1 if m % 2 else 0.9 for m in members]
    f.failed_innovation[members] = -(10**6)
    f.failed_innovation[[0, 1]] = model.steps - 1
    f.failed_innovation[2] = model.steps - MISSED_MONTHS  # a year ago: no longer counts
    picks = {}
    for mode in ("idle", "failed_innovation", "both"):
        policy.config.norms_pass_to = mode
        picks[mode] = policy._missed(members, utilisation, 0.5, model.steps)
    assert picks["idle"] == [m for m in members if m % 2]
    assert picks["failed_innovation"] == [0, 1]
    assert picks["both"] == sorted({0, 1} | set(picks["idle"]))


def test_the_norm_changes_who_gets_work():
    runs = {mode: brokers(mode) for mode in ("idle", "failed_innovation")}
    for model in runs.values():
        model.run()
    a, b = (m.timeseries() for m in runs.values())
    assert not a.equals(b)  # the same seed: only the norm's target differs


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(["idle", "failed_innovation", "both"]))
def test_money_is_conserved_under_every_norm(seed, mode):
    step_and_check_money(brokers(mode, seed=seed), 16)
