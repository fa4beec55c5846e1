"""The export market (docs/ODD.md §7.15): extra demand that only firms with access can lead."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim.model import ClusterModel

EXPORT = {"market.export_share": 0.3}
HUBS = [{"type": "hubs", "start": 2, "duration": 30, "join_rate": 0.05,
         "services": ["export_promotion"]}]


def test_export_orders_are_extra_and_the_domestic_draw_is_unchanged():
    with_export = ClusterModel(seed=3, n_firms=100, steps=1, spin_up=0, **EXPORT)
    without = ClusterModel(seed=3, n_firms=100, steps=1, spin_up=0)
    domestic = with_export.market.draw_orders(np.random.default_rng(9))
    assert domestic == without.market.draw_orders(np.random.default_rng(9))
    exports = with_export.market.draw_export_orders(np.random.default_rng(9))
    assert exports and all(order.export for order in exports)
    assert without.market.draw_export_orders(np.random.default_rng(9)) == []


def test_only_firms_with_access_lead_export_orders():
    model = ClusterModel(seed=4, n_firms=150, steps=30, policies=HUBS, **EXPORT)
    leads_ok = []
    for _ in range(30):
        model.step()
        access = model.teams.export_access
        leads_ok += [bool(access[job.lead]) for job in model.jobs_won if "export" in job.tags]
    assert leads_ok and all(leads_ok)
    assert model.timeseries()["export_revenue"].sum() > 0


def test_hub_members_gain_access_and_firms_without_it_do_not():
    model = ClusterModel(seed=4, n_firms=150, steps=12, policies=HUBS, **EXPORT)
    model.run()
    f = model.firms
    access = model.export_access()
    members = f.hub[: f.n] >= 0
    assert members.any() and access[members & f.alive[: f.n]].all()
    small_outsiders = ~members & (f.employees[: f.n] < 50) & (f.formal_network[: f.n] < 0)
    assert not access[small_outsiders].any()


def test_no_export_market_no_export_orders():
    model = ClusterModel(seed=4, n_firms=60, steps=12)
    model.run()
    ts = model.timeseries()
    assert ts["export_orders"].sum() == 0 and model.teams.export_access is None


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), share=st.floats(0.0, 2.0), static=st.booleans())
def test_money_is_conserved_with_an_export_market(seed, share, static):
    model = ClusterModel(seed=seed, n_firms=60, steps=16, policies=HUBS,
                         network_mode="static" if static else "dynamic",
                         **{"market.export_share": share})
    step_and_check_money(model, 16)


INTELLIGENCE = [{"type": "hubs", "start": 1, "duration": 30, "join_rate": 0.1,
                 "services": ["market_intelligence"], "early_notice": 0.4}]


def test_market_intelligence_offers_orders_to_informed_firms_first():
    off = [{**INTELLIGENCE[0], "early_notice": 0.0}]
    shares = {}
    for name, policies in (("on", INTELLIGENCE), ("off", off)):
        model = ClusterModel(seed=6, n_firms=150, steps=18, policies=policies)
        led_by_members = led = 0
        for _ in range(18):
            model.step()
            members = model.firms.hub[: model.firms.n] >= 0
            led_by_members += sum(bool(members[job.lead]) for job in model.jobs_won)
            led += len(model.jobs_won)
        shares[name] = led_by_members / led
        ts = model.timeseries()
        if name == "on":
            assert ts["early_orders"].sum() > 0
            assert 0 < ts["early_orders_won"].sum() <= ts["early_orders"].sum()
        else:
            assert ts["early_orders"].sum() == 0
    assert shares["on"] > shares["off"] + 0.05


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), notice=st.floats(0.0, 1.0), static=st.booleans())
def test_money_is_conserved_with_early_notice(seed, notice, static):
    policies = [{**INTELLIGENCE[0], "early_notice": notice}]
    model = ClusterModel(seed=seed, n_firms=60, steps=16, policies=policies,
                         network_mode="static" if static else "dynamic")
    step_and_check_money(model, 16)
