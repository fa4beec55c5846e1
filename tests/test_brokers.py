"""Danish-style brokers: budget, money, caseloads, formal networks, grants, sunset, norms."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.agents import Broker
from clustersim.formal import ACTIVITIES
from clustersim.model import ClusterModel
from clustersim.policies import RECIPIENT_FIRM
from clustersim.policies.brokers import BrokersPolicy
from clustersim.scenario import load_scenario
from clustersim.teams import Job


def brokers(**fields) -> dict:
    """A [[policies]] table for a broker programme."""
    return {"type": "brokers", **fields}


def make(n_firms: int = 150, steps: int = 30, seed: int = 3, **programme) -> ClusterModel:
    """A small cluster where cooperation is not yet a habit, with one broker programme.

    Small models need more brokers per 1,000 firms than Denmark's 5.5 to have more than one.
    """
    settings_ = {"start": 2, "duration": 12, "brokers_per_1000": 20.0, "budget": 20_000.0}
    settings_.update(programme)
    # ``budget`` here is the programme's total; the scenario states it per 1,000 firms.
    settings_["budget"] = settings_["budget"] * 1000.0 / n_firms
    return ClusterModel(
        seed=seed,
        n_firms=n_firms,
        steps=steps,
        **{
            "region.cooperativeness": 0.45,
            "region.initial_ties_per_firm": 1.5,
            "policies": [brokers(**settings_)],
        },
    )


def watch_policies(model: ClusterModel, check) -> None:
    """Call ``check(model)`` every month right after the policies have run."""
    run_policies = model.run_policies

    def checked() -> None:
        run_policies()
        check(model)

    model.run_policies = checked


def all_jobs_this_month(model: ClusterModel) -> list[Job]:
    running = [job for jobs in model.jobs.values() for job in jobs]
    return running + [job for job, _failed in model.jobs_completed]


# --------------------------------------------------------------------------- properties

programme_params = st.fixed_dictionaries(
    {
        "start": st.integers(1, 6),
        "duration": st.integers(1, 14),
        "budget": st.floats(0.0, 3000.0),
        "brokers_per_1000": st.floats(0.0, 60.0),
        "caseload": st.integers(1, 30),
        "quality": st.sampled_from(["trained", "untrained"]),
        "awareness": st.booleans(),
        "campaign_cost": st.floats(0.0, 50.0),
        "recruitment": st.floats(0.0, 1.0),
        "salary": st.floats(0.0, 30.0),
        "min_size": st.integers(3, 5),
        "max_size": st.integers(5, 8),
        "graduation_months": st.integers(1, 8),
        "grant_feasibility": st.floats(0.0, 100.0),
        "grant_planning": st.floats(0.0, 200.0),
        "grant_implementation": st.floats(0.0, 400.0),
        "norms": st.booleans(),
        "norms_strikes": st.integers(1, 3),
    }
)
scenario_params = st.fixed_dictionaries(
    {
        "n_firms": st.integers(40, 100),
        "network_mode": st.sampled_from(["static", "dynamic"]),
        "layout": st.sampled_from(["clustered", "dispersed"]),
        "cooperativeness": st.floats(0.0, 1.0),
        "volatility": st.floats(0.0, 0.6),
        "spin_up": st.integers(0, 6),
        "seed": st.integers(0, 2**31),
    }
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=scenario_params, programme=programme_params)
def test_money_caseloads_networks_and_borders_hold_in_random_scenarios(params, programme):
    model = ClusterModel(steps=16, policies=[brokers(**programme)], **params)
    policy = model.policies[0]
    assert isinstance(policy, BrokersPolicy)
    cfg = policy.config
    f = model.firms
    ledger = model.institution.ledger
    seen_payments = 0

    def at_policies(model: ClusterModel) -> None:
        # Networks are formed with at least min_size members and min_activities activities,
        # and money goes only to firms alive when it is paid.
        for net in model.formal_networks.networks:
            if net.formed == model.steps:
                assert len(net.members) >= cfg.min_size >= 3
                assert len(set(net.activities)) >= cfg.min_activities >= 2
                assert set(net.activities) <= set(ACTIVITIES)
                assert all(model.firms.formal_network[m] == net.id for m in net.members)
        for payment in ledger.payments[seen_payments:]:
            if payment.recipient_kind == RECIPIENT_FIRM:
                assert model.firms.alive[payment.recipient]
        for broker in policy.brokers:
            assert len(broker.clients) <= broker.caseload

    watch_policies(model, at_policies)
    cash_before = float(f.cash[: f.n].sum())
    for _ in range(16):
        model.step()
        m = model.ledger
        # The programme never spends beyond its budget.
        total = cfg.total_budget(model.scenario.firms.count)
        assert policy.spent <= total + 1e-9
        assert ledger.spent_by_policy.get(policy.name, 0.0) <= total + 1e-9
        # Spend recorded (ledger payments to firms this month) = spend received by firms.
        month_payments = ledger.payments[seen_payments:]
        to_firms = sum(p.amount for p in month_payments if p.recipient_kind == RECIPIENT_FIRM)
        assert all(p.month == model.steps for p in month_payments)
        assert math.isclose(to_firms, m["policy_payments"], rel_tol=1e-9, abs_tol=1e-9)
        seen_payments = len(ledger.payments)
        # The monthly money identity of firms' cash still holds.
        cash_after = float(f.cash[: f.n].sum())
        expected = model.net_cash_flow()
        assert math.isclose(cash_after - cash_before, expected, rel_tol=1e-9, abs_tol=1e-6)
        cash_before = cash_after
        # A broker never holds more clients than its caseload; clients are living firms.
        for broker in policy.brokers:
            assert len(broker.clients) <= broker.caseload
            assert all(f.alive[c] for c in broker.clients)
        assert model.stats["broker_clients"] == sum(len(b.clients) for b in policy.brokers)
        # Nothing is paid outside the programme's months.
        if not policy.active(model.steps):
            assert not month_payments
        # Static mode: teams never cross the fixed networks' borders, brokers or not.
        if model.static_mode:
            network = model.firms.network
            for job in all_jobs_this_month(model):
                assert len({int(network[m]) for m in job.members}) == 1, job
    # After the sunset: no new networks were formed, nobody is a client.
    end = cfg.start + cfg.duration
    assert all(model.formal_networks.networks[i].formed < end for i in policy.network_ids)
    if model.steps >= end:
        assert all(not b.clients for b in policy.brokers)


# --------------------------------------------------------------------------- set-up


def test_broker_count_and_towns():
    model = ClusterModel(
        seed=1, n_firms=400, steps=3, policies=[brokers(start=1, brokers_per_1000=10.0)]
    )
    model.step()
    policy = model.policies[0]
    assert len(policy.brokers) == 4  # round(10 × 400 / 1000)
    assert all(isinstance(b, Broker) for b in policy.brokers)
    assert len(model.agents_by_type[Broker]) == 4
    # Spread over towns by their number of firms: a town with more firms never has fewer brokers.
    firms_per_town = np.bincount(
        model.firms.town[model.firms.alive_indices()], minlength=len(model.region.towns_xy)
    )
    per_town = Counter(b.town for b in policy.brokers)
    order = np.argsort(-firms_per_town, kind="stable")
    counts = [per_town.get(int(t), 0) for t in order]
    assert counts == sorted(counts, reverse=True)
    for b in policy.brokers:
        assert (b.x, b.y) == tuple(model.region.towns_xy[b.town])
    # At least one broker when the ratio is positive, none when it is zero.
    tiny = ClusterModel(seed=1, n_firms=40, steps=2, policies=[brokers(start=1)])
    tiny.step()
    assert len(tiny.policies[0].brokers) == 1
    none = ClusterModel(
        seed=1, n_firms=40, steps=2, policies=[brokers(start=1, brokers_per_1000=0)]
    )
    none.step()
    assert none.policies[0].brokers == []


def test_nothing_happens_before_the_programme_starts():
    with_programme = make(start=10, steps=12)
    without = ClusterModel(
        seed=3,
        n_firms=150,
        steps=12,
        **{"region.cooperativeness": 0.45, "region.initial_ties_per_firm": 1.5},
    )
    with_programme.run(9)
    without.run(9)
    a, b = with_programme.timeseries(), without.timeseries()
    assert a["revenue"].equals(b["revenue"]) and a["mean_degree"].equals(b["mean_degree"])
    assert with_programme.policies[0].brokers == []


# --------------------------------------------------------------------------- mechanism


def test_brokers_recruit_and_create_formal_networks_in_a_short_run():
    model = make(steps=14)
    model.run()
    policy = model.policies[0]
    ts = model.timeseries()
    assert policy.counts["networks_formed"] >= 3
    assert ts["broker_clients"].max() > 0
    assert ts["formal_networks_active"].iloc[-1] > 0
    assert ts["formal_network_share"].iloc[-1] > 0.05
    radius = model.region.search_radius_km
    f = model.firms
    for net_id in policy.network_ids:
        net = model.formal_networks.networks[net_id]
        assert net.broker in {b.unique_id for b in policy.brokers}
        # Members were within one hour of each other when the network formed.
        xy = np.column_stack([f.x[net.members], f.y[net.members]])
        assert (np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) <= radius).all()
    # Complementary phases: members of a network mostly have distinct specialties.
    distinct = [
        len({int(f.specialty[m]) for m in model.formal_networks.networks[i].members})
        / len(model.formal_networks.networks[i].members)
        for i in policy.network_ids
        if model.formal_networks.networks[i].members
    ]
    assert np.mean(distinct) > 0.8
    # Brokers built ties among the members of the networks they tend.
    net = model.formal_networks.networks[policy.network_ids[-1]]
    members = net.members
    assert all(model.ties.get(a, b) >= model.ties.floor for a in members for b in members if a < b)


def test_after_the_sunset_no_new_broker_made_networks_appear():
    model = make(start=2, duration=8, steps=30)
    policy = model.policies[0]
    end = 2 + 8
    scouting = (f"{policy.name}:scouting", "visibility")
    model.run(end - 2)  # effects published now act in month end - 1, the last one
    assert model.effects._layers[scouting] and policy._referrals
    model.step()  # effects published now act in month end, the first after the sunset
    # Scouting and referrals end with the brokers; the networks' own activities go on.
    assert model.effects._layers[scouting] == {}
    assert policy._referrals == {}
    assert model.effects._layers[(f"{policy.name}:joint_marketing", "visibility")]
    model.run(30 - (end - 1))
    ts = model.timeseries()
    assert policy.network_ids, "the programme built networks while it ran"
    made = [n for n in model.formal_networks.networks if n.broker >= 0]
    assert all(n.formed < end for n in made)
    assert (ts.loc[ts["step"] >= end, "broker_clients"] == 0).all()
    assert (ts.loc[ts["step"] >= end, "policy_spend"] == 0).all()
    assert (ts.loc[(ts["step"] >= 2) & (ts["step"] < end), "policy_spend"] > 0).all()
    assert all(b.retired for b in policy.brokers)


def test_grant_stages_at_0_3_9_months_and_only_to_active_networks():
    model = make(start=1, duration=16, steps=12)
    policy = model.policies[0]
    cfg = policy.config
    killed: list[int] = []
    for _ in range(2):
        model.step()
    # Make the first network inactive: all but one member leave the cluster.
    first = model.formal_networks.networks[policy.network_ids[0]]
    for m in sorted(first.members)[1:]:
        model.remove_firm(m)
    assert not first.active(model.steps + 1)
    killed.append(first.id)
    model.run(10)
    offsets = {"feasibility": 0, "planning": 3, "implementation": 9}
    stages = Counter()
    for month, net_id, stage, amount in policy.grant_log:
        assert month - policy.formed[net_id] == offsets[stage]
        assert amount == pytest.approx(
            {
                "feasibility": cfg.grant_feasibility,
                "planning": cfg.grant_planning,
                "implementation": cfg.grant_implementation,
            }[stage]
        )
        stages[stage] += 1
    assert stages["feasibility"] == len(policy.network_ids)
    assert stages["planning"] > 0 and stages["implementation"] > 0
    # The inactive network got its feasibility grant but no later stage.
    assert [s for _m, n, s, _a in policy.grant_log if n in killed] == ["feasibility"]
    # The ledger holds the same grants, split among members.
    ledger = model.institution.ledger
    grants = sum(p.amount for p in ledger.payments if p.purpose.endswith("_grant"))
    assert grants == pytest.approx(sum(g[3] for g in policy.grant_log))
    assert {p.recipient_kind for p in ledger.payments if p.purpose.endswith("_grant")} == {"firm"}
    salaries = [p for p in ledger.payments if p.purpose == "broker_salary"]
    assert len(salaries) == len(policy.brokers) * 12
    assert all(p.recipient_kind == "outside" for p in salaries)


def test_grants_leave_the_salaries_of_the_months_to_come():
    # A budget that only covers salaries and the campaign: grants get nothing, brokers work
    # to the end of the programme.
    model = make(start=1, duration=10, steps=11, budget=10 * (3 * 8.0 + 15.0))
    policy = model.policies[0]
    model.run()
    assert len(policy.brokers) == 3
    assert policy.grant_log == []
    assert policy.spent == pytest.approx(policy.budget)
    # A budget that runs out stops the brokers that are no longer paid.
    short = make(start=1, duration=10, steps=11, budget=3 * 8.0 * 4, campaign_cost=0.0)
    short.run()
    assert short.policies[0].spent <= short.policies[0].budget + 1e-9
    assert not any(b.working for b in short.policies[0].brokers)


def test_awareness_campaign_drives_recruitment():
    on = make(steps=8, awareness=True)
    off = make(steps=8, awareness=False)
    on.run()
    off.run()
    assert on.policies[0].counts["recruited"] > 3 * max(1, off.policies[0].counts["recruited"])
    assert any(p.purpose == "awareness_campaign" for p in on.institution.ledger.payments)
    assert not any(p.purpose == "awareness_campaign" for p in off.institution.ledger.payments)


def test_caseload_binds_when_more_firms_are_willing():
    model = make(steps=8, caseload=3, recruitment=1.0, awareness_lift=2.0)
    policy = model.policies[0]
    most = 0
    for _ in range(8):
        model.step()
        for broker in policy.brokers:
            assert len(broker.clients) <= 3
            most = max(most, len(broker.clients))
    assert most == 3
    assert policy.counts["recruited"] > 3 * len(policy.brokers)


def test_clients_graduate_and_caseload_turns_over():
    model = make(steps=14, caseload=6, graduation_months=2, brokers_per_1000=7.0)
    model.run()
    policy = model.policies[0]
    assert len(policy.brokers) == 1
    assert policy.counts["graduated"] > 0
    # More firms passed through the caseload than it can hold at once.
    assert policy.counts["recruited"] > 6


def test_untrained_brokers_lift_trust_half_as_much():
    lifts = {}
    for quality in ("trained", "untrained"):
        model = make(steps=3, quality=quality, trust_lift=0.3)
        model.run(2)
        policy = model.policies[0]
        net = model.formal_networks.networks[policy.network_ids[0]]
        a, b = sorted(net.members)[:2]
        model.ties.set(a, b, 0.5)
        policy._lift_trust(model.steps)
        lifts[quality] = model.ties.get(a, b) - 0.5
    assert lifts["trained"] == pytest.approx(0.3 * 0.5)
    assert lifts["untrained"] == pytest.approx(0.15 * 0.5)


def test_activities_act_while_the_network_is_active_and_vanish_after():
    model = make(
        steps=20,
        duration=6,
        joint_marketing_visibility=0.5,
        front_office_saving=0.1,
        scouting_visibility=0.0,
    )
    policy = model.policies[0]
    model.run(8)  # past the sunset
    f = model.firms
    marketing = [
        model.formal_networks.networks[i]
        for i in policy.network_ids
        if "joint_marketing" in model.formal_networks.networks[i].activities
        and model.formal_networks.networks[i].active(model.steps + 1)
    ]
    office = [
        model.formal_networks.networks[i]
        for i in policy.network_ids
        if "shared_front_office" in model.formal_networks.networks[i].activities
        and model.formal_networks.networks[i].active(model.steps + 1)
    ]
    assert marketing and office
    model.step()  # effects published last month act now, after the sunset
    net, other = marketing[0], office[0]
    assert all(f.visibility[m] == pytest.approx(1.5) for m in net.members)
    assert all(f.fixed_cost_factor[m] == pytest.approx(0.9) for m in other.members)
    # A network that goes inactive loses its effects at the next publication.
    net.last_joint = -100
    policy.after_month()
    model.effects.apply(f)
    members = [m for m in net.members if f.alive[m]]
    assert members
    assert all(f.visibility[m] == pytest.approx(1.0) for m in members)


def test_joint_rd_boosts_innovation_of_tagged_jobs_and_joint_production_adds_partners():
    model = make(steps=10, joint_rd_innovation=0.5)
    model.run(4)
    policy = model.policies[0]
    networks = model.formal_networks.networks
    rd = [i for i in policy.network_ids if "joint_rd" in networks[i].activities]
    plain = [i for i in policy.network_ids if "joint_rd" not in networks[i].activities]
    assert rd
    job = Job(end=0, segment=0, lead=0, members=[0], assignments=[], value=1.0, max_hours=0.0)
    assert policy._innovation_boost(job) == 1.0
    job.tags = {f"formal_network:{rd[0]}"}
    assert policy._innovation_boost(job) == pytest.approx(1.5)
    for other in [*plain, 10**6]:  # networks without joint R&D, or none of this programme's
        job.tags = {f"formal_network:{other}"}
        assert policy._innovation_boost(job) == 1.0
    # Joint production: co-members covering a phase are candidate partners of every member.
    production = [
        networks[i]
        for i in policy.network_ids
        if "joint_production" in networks[i].activities and networks[i].active(model.steps)
    ]
    assert production
    net = production[0]
    lead, other = sorted(net.members)[:2]
    phase = int(model.firms.specialty[other])
    assert other in policy._pool(lead, phase)


def test_static_mode_pool_sources_are_never_used():
    model = ClusterModel(
        seed=5,
        n_firms=150,
        steps=16,
        network_mode="static",
        volatility=0.4,
        policies=[brokers(start=1, duration=12, brokers_per_1000=20.0, norms=True)],
    )
    policy = model.policies[0]
    calls = Counter()
    pool = policy._pool

    def counted(lead, phase):
        calls["pool"] += 1
        return pool(lead, phase)

    hooks = model.hooks.partner_candidates
    hooks[hooks.index((policy.name, pool))] = (policy.name, counted)
    checked = 0
    for _ in range(16):
        model.step()
        network = model.firms.network
        for job in all_jobs_this_month(model):
            assert len({int(network[m]) for m in job.members}) == 1, job
            checked += 1
    assert policy.network_ids, "brokers built formal networks in static mode too"
    assert calls["pool"] == 0
    assert checked > 100


def test_norms_pass_work_to_idle_members_and_cut_off_bypassers():
    totals = {}
    for norms in (False, True):
        counts = Counter()
        sanctioned_ok = True
        for seed in (1, 2):
            model = make(
                n_firms=150, steps=20, seed=seed, duration=18, norms=norms, norms_strikes=2
            )
            model.run()
            policy = model.policies[0]
            counts.update(policy.counts)
            for firm in policy.sanctioned:
                sanctioned_ok &= model.firms.formal_network[firm] < 0 or not any(
                    firm in model.formal_networks.networks[i].members for i in policy.network_ids
                )
                sanctioned_ok &= all(firm not in b.clients for b in policy.brokers)
        assert sanctioned_ok
        totals[norms] = counts
    off, on = totals[False], totals[True]
    assert off["sanctions"] == 0 and on["sanctions"] > 0
    assert off["bypasses"] > 0
    # Leads in networks with idle members share work with co-members more often, and bypass
    # idle co-members less often, when the norms apply.
    share = {k: v["idle_network_jobs_shared"] / v["idle_network_jobs"] for k, v in totals.items()}
    bypass = {k: v["bypasses"] / v["idle_network_jobs"] for k, v in totals.items()}
    assert share[True] > share[False]
    assert bypass[True] < bypass[False]


def test_norms_weight_idle_co_members_in_partner_choice():
    model = make(steps=10, norms=True, norms_idle_weight=7.0)
    policy = model.policies[0]
    model.run(6)
    leads = sorted(policy._idle_co_members)
    assert leads
    lead = leads[0]
    idle = sorted(policy._idle_co_members[lead])[0]
    phase = int(model.firms.specialty[idle])
    model.teams.prepare()
    firms, weights = model.teams.candidates(lead, phase)
    assert idle in firms
    assert weights[firms.index(idle)] == pytest.approx(7.0 * model.teams._weight(lead, idle))


# --------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize("name", ["danish_brokers", "denmark_1989"])
def test_scenarios_run_with_brokers(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.description
    (programme,) = [p for p in scenario.policies if p.type == "brokers"]
    assert (programme.start, programme.duration, programme.budget) == (24, 36, 5000.0)
    if name == "denmark_1989":
        assert scenario.region.initial_ties_per_firm == pytest.approx(1.5)
        assert scenario.region.cooperativeness == pytest.approx(0.391)  # calibrated (F2, F4, F5)
        assert programme.awareness and programme.quality == "trained"
    model = ClusterModel(
        scenario,
        seed=1,
        n_firms=120,
        steps=30,
        **{"policies": [p.model_dump() | {"start": 2} for p in scenario.policies]},
    )
    model.run()
    assert model.policies[0].network_ids


def test_same_seed_same_programme():
    a, b = make(steps=10, norms=True), make(steps=10, norms=True)
    a.run()
    b.run()
    assert a.timeseries().equals(b.timeseries())
    assert a.institution.ledger.payments == b.institution.ledger.payments
    assert a.policies[0].grant_log == b.policies[0].grant_log
