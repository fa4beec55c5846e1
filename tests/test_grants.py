"""Challenge grants: calls, consortia, match funding, reserved budgets, trust and success (H8)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.model import ClusterModel
from clustersim.policies import RECIPIENT_FIRM
from clustersim.policies.grants import (
    ChallengeGrantsConfig,
    ChallengeGrantsPolicy,
    JointProject,
    _Proposal,
    success_chance,
)
from clustersim.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "challenge_grants.toml"


def grants_model(seed: int = 1, n_firms: int = 100, steps: int = 36, **grant) -> ClusterModel:
    """A small dynamic-mode model with one challenge-grants programme (start 2 unless told)."""
    model_kwargs = {
        k: grant.pop(k)
        for k in ("network_mode", "spin_up", "institutions.university")
        if k in grant
    }
    # ``budget`` here is the programme's total; the scenario states it per 1,000 firms.
    grant["budget"] = grant.get("budget", 5000.0) * 1000.0 / n_firms
    policy = {"type": "challenge_grants", "start": 2, "duration": 12, **grant}
    return ClusterModel(seed=seed, n_firms=n_firms, steps=steps, policies=[policy], **model_kwargs)


def firm_payments_this_month(model: ClusterModel) -> float:
    return sum(
        p.amount
        for p in model.institution.ledger.payments
        if p.month == model.steps and p.recipient_kind == RECIPIENT_FIRM
    )


def running_members_overlap(model: ClusterModel) -> bool:
    seen: Counter[int] = Counter()
    for project in model.joint_projects:
        if project.running:
            seen.update(project.members)
    return any(count > 1 for count in seen.values())


def fund_by_hand(policy: ChallengeGrantsPolicy, members: list[int], trust: float) -> JointProject:
    """Fund a project for ``members`` with a given trust at funding, bypassing the call."""
    cfg = policy.cfg
    grant = (1.0 - cfg.match_share) * cfg.project_cost_per_member * len(members)
    proposal = _Proposal(list(members), broker_prepared=False, trust=trust)
    return policy._fund(proposal, grant, policy.model.steps)


# --------------------------------------------------------------------------- invariants

grant_params = st.fixed_dictionaries(
    {
        "n_firms": st.integers(40, 80),
        "spin_up": st.integers(0, 6),
        "network_mode": st.sampled_from(["static", "dynamic"]),
        "layout": st.sampled_from(["clustered", "dispersed"]),
        "cooperativeness": st.floats(0.0, 1.0),
        "seed": st.integers(0, 2**31),
        "start": st.integers(1, 4),
        "duration": st.integers(1, 12),
        "call_every": st.integers(1, 6),
        "budget": st.floats(0.0, 3000.0),
        "proposals_per_call": st.integers(1, 40),
        "min_consortium": st.integers(3, 4),
        "extra_size": st.integers(0, 3),
        "match_share": st.floats(0.0, 1.0),
        "project_months": st.integers(1, 8),
        "project_cost_per_member": st.floats(1.0, 150.0),
    }
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=grant_params)
def test_invariants_hold_with_grants_in_random_small_scenarios(params):
    p = dict(params)
    model_keys = ("n_firms", "spin_up", "network_mode", "layout", "cooperativeness", "seed")
    model_kwargs = {k: p.pop(k) for k in model_keys}
    p["max_consortium"] = p["min_consortium"] + p.pop("extra_size")
    model = ClusterModel(steps=16, policies=[{"type": "challenge_grants", **p}], **model_kwargs)
    policy = model.policies[0]
    cfg = policy.cfg
    f = model.firms
    static = model.static_mode
    cash_before = float(f.cash[: f.n].sum())
    for _ in range(16):
        model.step()
        ledger = model.ledger
        # Never beyond the budget; what running projects are owed is always there.
        assert policy.spent <= cfg.total_budget(model.scenario.firms.count) + 1e-9
        assert policy.spent <= policy.budget + 1e-9
        assert policy.reserved <= policy.remaining + 1e-6
        # Spend recorded equals spend received.
        assert math.isclose(
            firm_payments_this_month(model), ledger["policy_payments"], rel_tol=1e-9, abs_tol=1e-6
        )
        recorded = model.institution.ledger.spent_by_policy.get(policy.name, 0.0)
        assert math.isclose(recorded, policy.spent, rel_tol=1e-9, abs_tol=1e-6)
        # The firms' money identity, with project spending and grants in it.
        cash_after = float(f.cash[: f.n].sum())
        expected = model.net_cash_flow()
        assert math.isclose(cash_after - cash_before, expected, rel_tol=1e-9, abs_tol=1e-6)
        cash_before = cash_after
        # Consortia of min..max firms (never fewer than 3), no firm in two running projects.
        for project in model.joint_projects:
            assert 3 <= cfg.min_consortium <= len(project.members) <= cfg.max_consortium
            assert len(set(project.members)) == len(project.members)
        assert not running_members_overlap(model)
        # A project whose members all lived got its whole grant: money never ran out.
        for project in model.joint_projects:
            lived = all(f.alive[m] for m in project.members)
            if not project.running and project.months_done == project.months and lived:
                assert math.isclose(project.grant_paid, project.grant, rel_tol=1e-9, abs_tol=1e-6)
        # No call outside the programme's months.
        assert all(policy.active(call.month) for call in policy.calls)
        # Static mode: teams never cross network borders, grants or not.
        if static:
            network = f.network
            for jobs in model.jobs.values():
                for job in jobs:
                    assert len({int(network[m]) for m in job.members}) == 1
            for job, _failed in model.jobs_completed:
                assert len({int(network[m]) for m in job.members}) == 1


def test_static_borders_hold_with_grants_on():
    model = grants_model(seed=5, n_firms=150, steps=24, network_mode="static", start=1)
    checked = 0
    for _ in range(24):
        model.step()
        network = model.firms.network
        jobs = [j for js in model.jobs.values() for j in js] + [j for j, _ in model.jobs_completed]
        for job in jobs:
            assert len({int(network[m]) for m in job.members}) == 1, job
            checked += 1
    assert checked > 100
    assert len(model.joint_projects) > 0


def test_same_seed_same_results_with_grants():
    a, b = grants_model(seed=9, n_firms=80, steps=20), grants_model(seed=9, n_firms=80, steps=20)
    a.run(20)
    b.run(20)
    assert a.timeseries().equals(b.timeseries())
    assert [p.members for p in a.joint_projects] == [p.members for p in b.joint_projects]


# --------------------------------------------------------------------------- the mechanism


def test_short_run_funds_consortia_and_completes_joint_projects():
    model = grants_model(seed=3, n_firms=150, steps=30, project_months=6)
    model.run(30)
    ts = model.timeseries()
    policy = model.policies[0]
    assert ts["joint_projects_started"].sum() == len(model.joint_projects) > 0
    assert ts["joint_projects_succeeded"].sum() > 0
    assert ts["joint_projects_active"].max() > 0
    assert policy.spent > 0
    assert ts["policy_spend_cum"].iloc[-1] == pytest.approx(policy.spent)
    assert all(call.funded > 0 for call in policy.calls)
    succeeded = [p for p in model.joint_projects if p.outcome == "succeeded"]
    assert len(succeeded) == ts["joint_projects_succeeded"].sum()
    # A success is an innovation of every member still alive.
    for project in succeeded:
        assert any(model.firms.innovations[m] > 0 for m in project.members)


def test_match_funding_leaves_firm_cash_as_project_spend():
    model = grants_model(
        seed=4,
        n_firms=120,
        steps=24,
        start=1,
        match_share=0.5,
        project_cost_per_member=60.0,
        project_months=6,
    )
    policy = model.policies[0]
    monthly = 60.0 / 6
    spend_months = 0
    for _ in range(24):
        running_before = [p for p in model.joint_projects if p.running]
        model.step()
        f = model.firms
        # The month's work: running projects (and those funded this month) with live members.
        working = {id(p): p for p in running_before}
        working.update({id(p): p for p in model.joint_projects if p.start == model.steps})
        members = sum(
            sum(1 for m in p.members if f.alive[m])
            for p in working.values()
            if sum(1 for m in p.members if f.alive[m]) >= 2
        )
        assert model.ledger["project_spend"] == pytest.approx(members * monthly)
        # The grant pays back half of what members spent: their net outlay is the match.
        assert model.ledger["policy_payments"] == pytest.approx(0.5 * model.ledger["project_spend"])
        spend_months += model.ledger["project_spend"] > 0
    assert spend_months > 6
    done = [
        p
        for p in policy.projects
        if p.months_done == p.months and all(model.firms.alive[m] for m in p.members)
    ]
    assert done
    for project in done:
        assert project.spent == pytest.approx(project.cost)
        assert project.spent - project.grant_paid == pytest.approx(0.5 * project.cost)


def test_firms_that_cannot_pay_the_match_are_ineligible():
    model = grants_model(seed=2, n_firms=100, steps=12, start=3, project_cost_per_member=200.0)
    model.run(3 - 1)
    cash = model.firms.cash[: model.firms.n].copy()
    model.step()  # the call
    need = 0.5 * 200.0
    assert (cash[model.firms.alive[: model.firms.n]] < need).any()  # some cannot pay
    funded = [p for p in model.joint_projects if p.start == 3]
    assert funded
    for project in funded:
        assert all(cash[m] >= need for m in project.members)
    # Nobody can pay a 1,000 k€ match in this cluster: no projects, no money spent.
    poor = grants_model(seed=2, n_firms=100, steps=12, start=3, project_cost_per_member=1e6)
    poor.run(12)
    assert poor.joint_projects == [] and poor.policies[0].spent == 0.0


def test_success_chance_rises_with_trust():
    assert success_chance(0.0, 0.8, 0.6) == pytest.approx(0.8 * 0.4)
    assert success_chance(1.0, 0.8, 0.6) == pytest.approx(0.8)
    assert success_chance(0.5, 0.8, 0.0) == pytest.approx(0.8)  # trust_effect 0: trust is moot
    values = [success_chance(t, 0.8, 0.6) for t in np.linspace(0, 1, 11)]
    assert all(b > a for a, b in itertools.pairwise(values))


def test_low_trust_consortia_fail_more_often():
    model = grants_model(
        seed=6,
        n_firms=60,
        steps=12,
        start=10,
        budget=1e5,
        project_months=1,
        project_cost_per_member=1.0,
    )
    model.run(2)
    policy = model.policies[0]
    members = model.firms.alive_indices()[:3].tolist()
    outcomes: dict[float, list[bool]] = {0.05: [], 0.9: []}
    for _ in range(400):
        for trust, results in outcomes.items():
            project = fund_by_hand(policy, members, trust)
            policy.after_month()  # one month of work, then the end
            assert not project.running
            results.append(project.outcome == "succeeded")
    low, high = (np.mean(outcomes[t]) for t in (0.05, 0.9))
    assert low == pytest.approx(success_chance(0.05, 0.8, 0.6), abs=0.08)
    assert high == pytest.approx(success_chance(0.9, 0.8, 0.6), abs=0.08)
    assert high - low > 0.25


def test_success_innovates_and_builds_trust_failure_erodes_it():
    model = grants_model(
        seed=7, n_firms=60, steps=12, start=10, project_months=1, success_base=1.0, trust_effect=0.0
    )
    model.run(2)
    policy = model.policies[0]
    f = model.firms
    a, b, c = f.alive_indices()[:3].tolist()
    model.ties.set(a, b, 0.4)
    innovations_before = model.month["innovations"]
    knowledge_before = f.knowledge[[a, b, c]].copy()
    project = fund_by_hand(policy, [a, b, c], 0.4)
    policy.after_month()
    assert project.outcome == "succeeded"
    assert model.month["joint_projects_succeeded"] == 1
    assert model.month["innovations"] == innovations_before + 1
    assert all(f.last_innovation[m] == model.steps for m in (a, b, c))
    assert (f.knowledge[[a, b, c]] > knowledge_before).all()
    assert model.ties.get(a, b) > 0.4 and model.ties.get(b, c) > 0  # strangers now know each other
    # Certain failure weakens what trust there is.
    policy.cfg.success_base = 0.0
    trust_before = model.ties.get(a, b)
    project = fund_by_hand(policy, [a, b, c], 0.9)
    policy.after_month()
    assert project.outcome == "failed"
    assert model.ties.get(a, b) < trust_before


def test_members_that_exit_stop_and_a_project_below_two_fails():
    model = grants_model(seed=8, n_firms=60, steps=12, project_months=6)
    model.run(2)
    policy = ChallengeGrantsPolicy(
        ChallengeGrantsConfig(start=1, duration=12, project_months=6), model, 5
    )  # a fresh programme, so only this project runs
    a, b, c = model.firms.alive_indices()[:3].tolist()
    project = fund_by_hand(policy, [a, b, c], 0.5)
    policy.after_month()
    assert project.grant_paid == pytest.approx(project.grant / 6)
    model.remove_firm(c)
    before = model.institution.ledger.spent_by_policy[policy.name]
    policy.after_month()
    paid = model.institution.ledger.spent_by_policy[policy.name] - before
    assert paid == pytest.approx(2 * project.grant / 18)  # only a and b are paid
    model.remove_firm(b)
    policy.after_month()
    assert not project.running and project.outcome == "failed"
    assert policy.reserved == 0.0  # what c and b would have had is free again
    assert policy.uncommitted == pytest.approx(policy.remaining)


def test_no_calls_after_the_programme_ends_but_projects_finish():
    model = grants_model(
        seed=10, n_firms=120, steps=24, start=2, duration=7, call_every=3, project_months=6
    )
    model.run(24)
    policy = model.policies[0]
    ts = model.timeseries()
    assert [call.month for call in policy.calls] == [2, 5, 8]
    assert ts.loc[ts["step"] >= 9, "joint_projects_started"].sum() == 0
    assert all(p.start in (2, 5, 8) for p in model.joint_projects)
    late = [p for p in model.joint_projects if p.start == 8]
    assert late, "the last call funded nothing"
    # Projects funded at the last call are paid after the sunset and then stop.
    assert ts.loc[ts["step"].between(9, 13), "policy_spend"].gt(0).all()
    assert ts.loc[ts["step"] >= 14, "policy_spend"].sum() == 0
    assert not any(p.running for p in model.joint_projects)


def test_calls_spread_the_uncommitted_budget_and_never_over_commit():
    model = grants_model(
        seed=11,
        n_firms=150,
        steps=20,
        start=1,
        duration=12,
        call_every=3,
        budget=600.0,
        proposals_per_call=60,
    )
    model.run(20)
    policy = model.policies[0]
    assert policy.calls[0].budget == pytest.approx(600.0 / 4)
    for call in policy.calls:
        assert call.committed <= call.budget + 1e-9
    assert sum(p.grant for p in policy.projects) <= 600.0 + 1e-9
    assert policy.spent <= 600.0


def test_consortia_are_complementary_and_come_from_ties():
    model = grants_model(seed=12, n_firms=150, steps=16, start=1)
    model.run(16)
    specialty = model.firms.specialty
    assert model.joint_projects
    for project in model.joint_projects:
        if project.broker_prepared:
            continue
        specs = [int(specialty[m]) for m in project.members]
        distinct = len(set(specs))
        # Same-specialty members only to reach the minimum size.
        assert distinct == len(specs) or len(specs) == model.policies[0].cfg.min_consortium
    # Partners were tied to the lead at the call: their pair trust was positive.
    assert all(p.trust > 0 for p in model.joint_projects)


def test_brokers_propose_consortia_of_their_clients():
    model = grants_model(seed=13, n_firms=120, steps=12, start=3, proposals_per_call=2)
    model.run(2)
    f = model.firms
    clients = f.alive_indices()[10:16].tolist()
    for i in clients:
        f.cash[i] = max(f.cash[i], 500.0)
        for j in clients:
            if i < j:
                model.ties.set(i, j, 0.95)  # trust the broker built
    broker = SimpleNamespace(clients=set(clients))
    stub = SimpleNamespace(
        type_name="brokers",
        brokers=[broker],
        active=lambda month: True,
        step=lambda: None,
        after_month=lambda: None,
    )
    model.policies.append(stub)
    model.step()
    call = model.policies[0].calls[-1]
    assert call.month == 3 and call.broker_proposals == 1
    prepared = [p for p in model.joint_projects if p.broker_prepared]
    assert len(prepared) == 1 and set(prepared[0].members) <= set(clients)
    assert prepared[0].trust == pytest.approx(0.95)
    # An inactive broker programme proposes nothing.
    stub.active = lambda month: False
    model.run(6)
    assert model.policies[0].calls[-1].broker_proposals == 0


def test_university_raises_the_knowledge_gain():
    gains = []
    for university in (False, True):
        model = grants_model(
            seed=14,
            n_firms=60,
            steps=12,
            start=10,
            knowledge_gain=0.02,
            **{"institutions.university": university},
        )
        model.run(2)
        policy = model.policies[0]
        members = model.firms.alive_indices()[:3].tolist()
        fund_by_hand(policy, members, 0.5)
        before = model.firms.knowledge[members].copy()
        policy.after_month()
        frontier = model.market.phase_frontier()[model.firms.specialty[members]]
        gains.append((model.firms.knowledge[members] - before) / frontier)
    assert np.allclose(gains[0], 0.02)
    assert np.allclose(gains[1], 0.02 * 1.5)  # default university_effect 0.5


def test_scenario_file():
    scenario = load_scenario(SCENARIO)
    assert scenario.name == "challenge_grants"
    (policy,) = scenario.policies
    assert policy.type == "challenge_grants"
    assert (policy.start, policy.duration, policy.budget) == (24, 36, 5000.0)
    assert "003:L3334" in scenario.description


@pytest.mark.slow
def test_grants_in_a_full_run_fund_and_conclude_projects():
    model = ClusterModel(SCENARIO, seed=1, n_firms=400, steps=84)
    model.run(84)
    policy = model.policies[0]
    outcomes = Counter(p.outcome for p in policy.projects)
    assert outcomes["succeeded"] > 0 and outcomes["failed"] > 0 and outcomes[""] == 0
    assert [c.month for c in policy.calls] == [24, 30, 36, 42, 48, 54]
    # Within the run, consortia that trusted each other more succeeded more often (H8).
    trust_ok = np.mean([p.trust for p in policy.projects if p.outcome == "succeeded"])
    trust_bad = np.mean([p.trust for p in policy.projects if p.outcome == "failed"])
    assert trust_ok > trust_bad
