"""The policy framework: budgets, the programme ledger, layered effects, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.agents.firm import FirmState
from clustersim.effects import Effects
from clustersim.model import ClusterModel
from clustersim.policies import RECIPIENT_FIRM, RECIPIENT_OUTSIDE, Policy, PolicyConfig
from clustersim.scenario import ScenarioError, scenario_from_dict


class _Spender(Policy):
    """A test instrument that pays what it is told to."""

    type_name = "test_spender"


def _spender(model: ClusterModel, budget: float) -> _Spender:
    per_1000 = budget * 1000.0 / model.scenario.firms.count  # the scenario states budgets per 1,000 firms
    return _Spender(PolicyConfig(type="test_spender", start=1, duration=12, budget=per_1000), model, 0)


@settings(max_examples=40, deadline=None)
@given(budget=st.floats(0, 500), amounts=st.lists(st.floats(-50, 300), max_size=20))
def test_pay_never_exceeds_budget_and_records_every_unit(budget, amounts):
    model = ClusterModel(n_firms=10, seed=1, spin_up=0)
    policy = _spender(model, budget)
    cash_before = model.firms.cash[:10].copy()
    paid_total = 0.0
    for k, amount in enumerate(amounts):
        kind = RECIPIENT_FIRM if k % 2 == 0 else RECIPIENT_OUTSIDE
        paid = policy.pay(amount, kind, k % 10 if kind == RECIPIENT_FIRM else -1, "test")
        assert 0.0 <= paid <= max(0.0, amount)
        paid_total += paid
    ledger = model.institution.ledger
    assert paid_total <= budget + 1e-9
    assert math.isclose(sum(p.amount for p in ledger.payments), paid_total, abs_tol=1e-9)
    assert math.isclose(ledger.spent_by_policy.get(policy.name, 0.0), paid_total, abs_tol=1e-9)
    to_firms = sum(p.amount for p in ledger.payments if p.recipient_kind == RECIPIENT_FIRM)
    assert math.isclose(float((model.firms.cash[:10] - cash_before).sum()), to_firms, abs_tol=1e-6)
    assert math.isclose(model.ledger["policy_payments"], to_firms, abs_tol=1e-6)
    assert all(p.amount > 0 for p in ledger.payments)


def test_ledger_frame_has_one_row_per_payment():
    model = ClusterModel(n_firms=10, seed=1, spin_up=0)
    policy = _spender(model, 100.0)
    policy.pay(30.0, RECIPIENT_FIRM, 3, "grant")
    policy.pay(90.0, RECIPIENT_OUTSIDE, -1, "salary")  # only 70 left
    frame = model.institution.ledger.frame()
    assert frame["amount"].tolist() == [30.0, 70.0]
    assert frame["purpose"].tolist() == ["grant", "salary"]
    assert policy.remaining == 0.0


def test_policy_active_window_is_start_to_sunset():
    model = ClusterModel(n_firms=10, seed=1, spin_up=0)
    policy = _Spender(PolicyConfig(type="x", start=5, duration=3), model, 0)
    assert [m for m in range(12) if policy.active(m)] == [5, 6, 7]


def test_effects_combine_across_sources_and_vanish_when_withdrawn():
    firms = FirmState(4, 2)
    firms.add(4)
    effects = Effects()
    effects.put("brokers", "visibility", {0: 0.3, 1: 0.3})
    effects.put("hub", "visibility", {1: 0.2})
    effects.put("hub", "fixed_cost", {2: 0.05})
    effects.put("hub", "quality", {3: 0.03})
    effects.apply(firms)
    assert np.allclose(firms.visibility[:4], [1.3, 1.3 * 1.2, 1.0, 1.0])
    assert np.allclose(firms.fixed_cost_factor[:4], [1.0, 1.0, 0.95, 1.0])
    assert np.allclose(firms.quality_bonus[:4], [0.0, 0.0, 0.0, 0.03])
    effects.clear("hub")
    effects.apply(firms)
    assert np.allclose(firms.visibility[:4], [1.3, 1.3, 1.0, 1.0])
    assert np.allclose(firms.fixed_cost_factor[:4], 1.0)
    with pytest.raises(ValueError, match="allowed"):
        effects.put("x", "speed", {0: 1.0})


@pytest.mark.parametrize(
    ("table", "fragments"),
    [
        ({"policies": [{"type": "subsidy"}]}, ["policies[0].type = 'subsidy'", "'brokers'"]),
        ({"policies": [{"type": "brokers", "budget": -5}]}, ["policies[0].budget = -5", "greater than or equal to 0"]),
        ({"policies": [{"type": "hubs", "start": 130}]}, ["policies[0].start = 130", "steps = 120"]),
        ({"policies": [{"type": "challenge_grants", "match": 0.5}]},
         ["unknown key 'policies[0].match'", "match_share"]),
        ({"policies": [{"start": 3}]}, ["policies[0]", "needs a 'type'"]),
        ({"shocks": [{"type": "demand_drop", "segments": [99]}]}, ["shocks[0].segments", "0..7"]),
        ({"shocks": [{"type": "supply_disruption", "town": 50}]}, ["shocks[0].town = 50"]),
        ({"shocks": [{"type": "meteor"}]}, ["shocks[0].type = 'meteor'", "'demand_drop'"]),
    ],
)
def test_bad_policy_and_shock_tables_name_the_key_and_what_is_allowed(table, fragments):
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(table, source="bad.toml")
    message = str(caught.value)
    assert message.startswith("bad.toml")
    for fragment in fragments:
        assert fragment in message, message
