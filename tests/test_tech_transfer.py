"""Technology transfer: a hub service that moves members' knowledge toward the frontier (§7.11)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim.config.policies import DEFAULT_SERVICES, SERVICES, HubsConfig
from clustersim.model import ClusterModel


def hub_model(transfer: bool, seed: int = 2, **extra) -> ClusterModel:
    services = list(SERVICES) if transfer else list(DEFAULT_SERVICES)
    policy = {"type": "hubs", "start": 1, "duration": 24, "services": services,
              "join_rate": 0.05, **extra}
    return ClusterModel(seed=seed, n_firms=120, steps=24, policies=[policy])


def test_it_is_not_offered_unless_asked_for():
    assert "technology_transfer" not in HubsConfig().services
    assert "technology_transfer" in SERVICES


def test_members_behind_the_frontier_close_part_of_the_gap():
    model = hub_model(True, transfer_rate=0.5)
    model.run(6)
    hub, f = model.hubs[0], model.firms
    members = hub.members()
    assert len(members)
    frontier = model.market.phase_frontier()
    f.knowledge[members] = 0.5 * frontier[f.specialty[members]]  # all well behind
    before = f.knowledge[members].copy()
    served = hub.transfer_technology(0.5, frontier)
    assert set(served.tolist()) == set(members.tolist())
    gap = frontier[f.specialty[members]] - before
    expected = before + min(1.0, 0.5 * hub.service_level) * gap
    assert np.allclose(f.knowledge[members], expected)


def test_the_service_serves_members_and_costs_the_hub():
    on, off = hub_model(True), hub_model(False)
    on.run()
    off.run()
    served = on.timeseries()["tech_transfer_firms"]
    assert served.sum() > 0 and off.timeseries()["tech_transfer_firms"].sum() == 0
    costs = [h.cost_month / max(1, h.member_count()) for h in (on.hubs[0], off.hubs[0])]
    assert costs[0] > costs[1]  # one more service to deliver per member


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), rate=st.floats(0.0, 1.0))
def test_money_is_conserved_with_technology_transfer(seed, rate):
    step_and_check_money(hub_model(True, seed=seed, transfer_rate=rate), 14)
