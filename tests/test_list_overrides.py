"""Overrides reach one field of a [[policies]] or [[shocks]] table: policies[0].start."""

import pytest
from typer.testing import CliRunner

from clustersim.cli import app
from clustersim.experiments.design import ExperimentError, expand, parse_experiment, sample_values
from clustersim.model import ClusterModel
from clustersim.scenario import ScenarioError, load_scenario, parse_override


def test_set_reaches_a_policy_field_in_every_spelling():
    for key in ("policies[0].start", "policies__0__start", "policies.0.start"):
        scenario = load_scenario("denmark_1989", {key: 7})
        assert scenario.policies[0].start == 7
    assert parse_override("policies[0].budget=300") == ("policies[0].budget", 300)
    model = ClusterModel("denmark_1989", seed=1, n_firms=30, policies__0__start=5)
    assert model.scenario.policies[0].start == 5 and model.policies[0].start == 5


def test_a_whole_list_is_replaced_before_one_of_its_fields_is_set():
    scenario = load_scenario("baseline", {
        "policies[0].start": 9,
        "policies": [{"type": "hubs", "start": 2}],
    })
    assert scenario.policies[0].type == "hubs" and scenario.policies[0].start == 9


@pytest.mark.parametrize(("overrides", "message"), [
    ({"policies[1].start": 3}, r"policies\[1\].start is not allowed: the scenario has 1 "
                               r"\[\[policies\]\] table\(s\) \(policies\[0\]: brokers\)"),
    ({"policies[0].strat": 3}, r"unknown key 'policies\[0\].strat' \(did you mean 'start'\?\)"),
    ({"policies[0].call_every": 3}, r"policies\[0\] is a brokers table, whose keys are: start"),
    ({"policies[0].type": "hubs"}, r"replace the whole list"),
    ({"policies.start": 3}, r"policies is a list of tables.*policies\[0\].start"),
    ({"policies[0].caseload": 0}, r"denmark_1989: policies\[0\].caseload = 0 is not allowed"),
    ({"shocks[0].magnitude": 0.5}, r"has 0 \[\[shocks\]\] table\(s\) \(none\)"),
])
def test_bad_list_overrides_say_what_exists(overrides, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario("denmark_1989", overrides)


def test_cli_set_reaches_a_policy_field_and_refuses_a_bad_index():
    runner = CliRunner()
    done = runner.invoke(app, ["validate", "denmark_1989", "--set", "policies[0].start=30"])
    assert done.exit_code == 0, done.output
    bad = runner.invoke(app, ["validate", "denmark_1989", "--set", "policies[2].start=30"])
    assert bad.exit_code == 2 and "policies[2].start" in bad.output


EXPERIMENT = '''name = "list_overrides"
master_seed = 1
replications = 1
steps = 36

[[arms]]
name = "brokers"
scenario = "denmark_1989"
set = { "policies[0].duration" = 12 }

[factors]
"policies[0].start" = [6, 12]

[sampler]
method = "lhs"
samples = 3

[sampler.parameters]
"policies[0].recruitment" = [0.05, 0.3]
"policies[0].caseload" = [10, 30]
'''


def test_experiments_set_factor_and_sample_policy_fields():
    experiment = parse_experiment(EXPERIMENT)
    specs = expand(experiment)
    assert len(specs) == 6
    for spec in specs:
        scenario = load_scenario(spec.scenario, spec.overrides)
        assert scenario.policies[0].duration == 12
        assert scenario.policies[0].start in (6, 12)
        assert 0.05 <= scenario.policies[0].recruitment <= 0.3
        assert isinstance(spec.overrides["policies[0].caseload"], int)  # an int field, rounded
    assert {v["policies[0].caseload"] for v in sample_values(experiment)} <= set(range(10, 31))


def test_experiment_list_override_errors_name_the_place():
    with pytest.raises(ExperimentError, match=r"arms\[0\].*policies\[3\].duration"):
        parse_experiment(EXPERIMENT.replace('"policies[0].duration"', '"policies[3].duration"'))
    with pytest.raises(ExperimentError, match=r"sampler.parameters.policies\[0\].quality"):
        parse_experiment(EXPERIMENT.replace('"policies[0].caseload" = [10, 30]',
                                            '"policies[0].quality" = [0, 1]'))
