"""Grant projects whose failure comes from the trust members hold (H8, docs/ODD.md §7.9)."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from money import step_and_check_money

from clustersim.model import ClusterModel
from clustersim.policies.grants import JointProject


def grants(seed: int = 4, mode: str = "emergent", **extra) -> ClusterModel:
    policy = {"type": "challenge_grants", "start": 3, "duration": 12, "call_every": 3,
              "project_months": 6, "project_failure": mode, **extra}
    return ClusterModel(seed=seed, n_firms=150, steps=24, policies=[policy])


def failed_task_rate(model: ClusterModel) -> float:
    projects = model.policies[0].projects
    return sum(p.tasks_failed for p in projects) / max(1, sum(p.months_done for p in projects))


def test_success_comes_from_the_tasks_done_well():
    model = grants()
    policy = model.policies[0]
    project = JointProject(id=0, policy="x", members=[0, 1, 2], start=1, months=6, grant=1.0,
                           cost=1.0, trust=0.0, score=0.5, months_done=6, tasks_failed=2)
    assert policy.success_chance(project) == pytest.approx(0.8 * (1 - 2 / 6))
    project.trust = 1.0  # the trust at funding plays no part in the emergent rule
    assert policy.success_chance(project) == pytest.approx(0.8 * (1 - 2 / 6))


def test_tasks_fail_more_among_members_who_hold_little_trust():
    rates = {}
    for level in (0.95, 0.2):
        model = grants(seed=6)
        model.run(2)
        for u, v, _trust in zip(*model.ties.edges(), strict=True):  # one level before the first call
            model.ties.set(int(u), int(v), level)
        model.run(20)
        rates[level] = failed_task_rate(model)
        assert model.policies[0].projects
    assert rates[0.2] > rates[0.95]


def test_the_parameter_rule_runs_no_tasks():
    model = grants(mode="trust_parameter")
    model.run()
    assert model.policies[0].projects and failed_task_rate(model) == 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_money_is_conserved_with_emergent_failure(seed):
    step_and_check_money(grants(seed=seed), 18)
