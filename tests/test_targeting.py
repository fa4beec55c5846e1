"""Targeted support (docs/ODD.md §7.8): whom grants and brokers may support, recorded per payment."""


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim.model import ClusterModel
from clustersim.targeting import SMALL_FIRM_EMPLOYEES, degrees, targeted

MODES = ["open", "central", "peripheral", "small_firms", "spread"]


def grants(targeting: str, seed: int = 3, steps: int = 30) -> ClusterModel:
    policy = {"type": "challenge_grants", "start": 2, "duration": 24, "call_every": 3,
              "budget": 50_000.0, "targeting": targeting}
    return ClusterModel(seed=seed, n_firms=150, steps=steps, policies=[policy])


def brokers(targeting: str, seed: int = 3) -> ClusterModel:
    policy = {"type": "brokers", "start": 2, "duration": 24, "brokers_per_1000": 20.0,
              "budget": 20_000.0, "targeting": targeting}
    return ClusterModel(seed=seed, n_firms=150, steps=24, policies=[policy],
                        **{"region.cooperativeness": 0.5})


def test_each_mode_narrows_to_its_firms():
    model = ClusterModel(seed=1, n_firms=120, steps=6)
    model.run()
    alive = model.firms.alive[: model.firms.n].copy()
    degree = degrees(model)
    assert targeted(model, alive, "open") is alive
    central = targeted(model, alive, "central")
    peripheral = targeted(model, alive, "peripheral")
    assert degree[central].min() >= np.quantile(degree[alive], 0.75)
    assert degree[peripheral].max() <= np.quantile(degree[alive], 0.25)
    small = targeted(model, alive, "small_firms")
    assert (model.firms.employees[: model.firms.n][small] < SMALL_FIRM_EMPLOYEES).all()
    assert small.sum() > 0
    assert not targeted(model, alive, "spread", {3, 5})[[3, 5]].any()
    with pytest.raises(ValueError, match="unknown targeting"):
        targeted(model, alive, "friends")


@pytest.mark.parametrize("mode", ["central", "peripheral", "small_firms"])
def test_grant_calls_take_leads_from_the_targeted_firms(mode):
    model = grants(mode)
    leads_ok = []
    for _ in range(20):
        allowed = targeted(model, model.firms.alive[: model.firms.n].copy(), mode)
        before = len(model.joint_projects)
        model.step()
        leads_ok += [bool(allowed[p.members[0]]) for p in model.joint_projects[before:]
                     if not p.broker_prepared]
    assert leads_ok and all(leads_ok)


def test_spread_never_funds_a_firm_twice_and_open_does():
    counts = {}
    for mode in ("open", "spread"):
        model = grants(mode, steps=30)
        model.run()
        members = [m for p in model.policies[0].projects for m in p.members]
        counts[mode] = len(members) - len(set(members))
    assert counts["spread"] == 0 < counts["open"]


def test_brokers_recruit_only_targeted_firms_and_payments_record_it():
    model = brokers("small_firms")
    policy = model.policies[0]
    for _ in range(24):
        small = model.firms.employees[: model.firms.n] < SMALL_FIRM_EMPLOYEES
        before = set(policy.supported)
        model.step()
        assert all(small[i] for i in policy.supported - before)
    assert policy.supported
    payments = model.payments_frame()
    assert set(payments["targeting"]) == {"small_firms"}
    to_firms = payments[payments["recipient_kind"] == "firm"]
    assert (to_firms["recipient_degree"] >= 0).all() and to_firms["recipient_employees"].gt(0).all()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), mode=st.sampled_from(MODES), broker=st.booleans())
def test_money_is_conserved_under_every_targeting(seed, mode, broker):
    model = (brokers if broker else grants)(mode, seed=seed)
    step_and_check_money(model, 14)
    assert model.policies[0].spent <= model.policies[0].budget + 1e-9
