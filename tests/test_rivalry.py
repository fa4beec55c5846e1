"""Local rivalry and R&D effort, and the rivalry-dampening network norm (docs/ODD.md §7.16, H4)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim import rivalry
from clustersim.model import ClusterModel

RIVALRY = {"learning.rivalry_response": 1.0}
DAMPEN = {**RIVALRY, "learning.rivalry_norm": "dampen"}


def test_pressure_is_the_share_of_same_specialty_rivals_ahead():
    specialty = np.array([0, 0, 0, 1, 1, 0])
    knowledge = np.array([1.0, 2.0, 3.0, 5.0, 4.0, 2.0])
    alive = np.array([True, True, True, True, True, False])  # the dead one is nobody's rival
    p = rivalry.pressure(specialty, knowledge, alive)
    np.testing.assert_allclose(p, [2 / 2, 1 / 2, 0.0, 0.0, 1.0, 0.0])


def test_equal_knowledge_is_not_ahead_and_a_firm_alone_feels_nothing():
    p = rivalry.pressure(np.array([0, 0, 1]), np.array([1.0, 1.0, 0.1]), np.ones(3, dtype=bool))
    np.testing.assert_allclose(p, [0.0, 0.0, 0.0])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0.1, 3.0), st.booleans()), min_size=1,
                max_size=40))
def test_pressure_matches_a_direct_count(rows):
    specialty = np.array([r[0] for r in rows])
    knowledge = np.array([r[1] for r in rows])
    alive = np.array([r[2] for r in rows])
    p = rivalry.pressure(specialty, knowledge, alive)
    for i in range(len(rows)):
        rivals = [j for j in range(len(rows)) if j != i and alive[j] and specialty[j] == specialty[i]]
        ahead = sum(knowledge[j] > knowledge[i] for j in rivals)
        expected = ahead / len(rivals) if alive[i] and rivals else 0.0
        assert abs(p[i] - expected) < 1e-12


def test_dampening_gives_members_their_networks_best_pressure():
    p = np.array([0.9, 0.2, 0.7, 0.5, 0.6])
    specialty = np.array([0, 0, 1, 0, 0])
    network = np.array([3, 3, 3, -1, 4])
    out = rivalry.dampen(p, specialty, network, np.ones(5, dtype=bool))
    # firms 0 and 1 share network 3 and specialty 0; firm 2 is alone in its specialty there
    np.testing.assert_allclose(out, [0.2, 0.2, 0.7, 0.5, 0.6])


def test_without_a_response_nothing_is_computed_and_effort_is_one():
    model = ClusterModel(seed=2, n_firms=80, steps=6)
    model.run()
    assert model._rd_effort is None
    ts = model.timeseries()
    assert (ts["mean_rd_effort"] == 1.0).all() and (ts["mean_rivalry_pressure"] == 0.0).all()


def test_rivals_ahead_raise_rd_spending_and_catch_up():
    off = ClusterModel(seed=5, n_firms=120, steps=1, spin_up=0)
    on = ClusterModel(seed=5, n_firms=120, steps=1, spin_up=0, **RIVALRY)
    off.step()
    on.step()
    assert on.ledger["rd_spend"] > off.ledger["rd_spend"] * 1.2
    effort = on._rd_effort
    behind = on.firms.rivalry_pressure[: on.firms.n] > 0.5
    assert effort[behind].min() > 1.5 and effort.max() <= 2.0
    # this month's knowledge before R&D is the same in both runs; the laggards caught up more
    gained_on = on.firms.knowledge[: on.firms.n]
    gained_off = off.firms.knowledge[: off.firms.n]
    paid = on._rd_paid & behind
    assert (gained_on[paid] >= gained_off[paid]).all() and (gained_on[paid] > gained_off[paid]).any()


def test_the_norm_lowers_pressure_inside_fixed_networks():
    compete = ClusterModel("static", seed=3, n_firms=150, steps=3, **RIVALRY)
    damp = ClusterModel("static", seed=3, n_firms=150, steps=3, **DAMPEN)
    compete.run()
    damp.run()
    assert (damp.timeseries()["mean_rivalry_pressure"].iloc[-1]
            < compete.timeseries()["mean_rivalry_pressure"].iloc[-1] - 0.1)


def test_the_norm_reaches_formal_network_members():
    model = ClusterModel("danish_brokers", seed=4, n_firms=150, steps=30, **DAMPEN)
    model.run()
    net = rivalry.network_of(model)
    members = np.flatnonzero(net >= 0)
    assert len(members) > 0
    alive = model.firms.alive[: model.firms.n]
    raw = rivalry.pressure(model.firms.specialty[: model.firms.n],
                           model.firms.knowledge[: model.firms.n], alive)
    damped = rivalry.dampen(raw, model.firms.specialty[: model.firms.n], net, alive)
    assert (damped[members] <= raw[members]).all() and (damped[members] < raw[members]).any()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), response=st.floats(0.0, 5.0), static=st.booleans(),
       norm=st.sampled_from(["compete", "dampen"]))
def test_money_is_conserved_with_rivalry(seed, response, static, norm):
    model = ClusterModel(seed=seed, n_firms=60, steps=16,
                         network_mode="static" if static else "dynamic",
                         **{"learning.rivalry_response": response, "learning.rivalry_norm": norm})
    step_and_check_money(model, 16)
