"""Hypotheses stated in an experiment file: validation, the paired reading, the report."""

import pytest
from store_fixtures import policy_store

from clustersim.experiments.analysis import load_results
from clustersim.experiments.design import ExperimentError, parse_experiment
from clustersim.experiments.hypotheses import (
    Hypothesis,
    hypotheses_from_toml,
    hypothesis_table,
    reading,
    summary_sentence,
)
from clustersim.experiments.report import render_report

EXPERIMENT = '''name = "h"
master_seed = 1
replications = 2
steps = 48

[[arms]]
name = "baseline"
scenario = "baseline"

[[arms]]
name = "brokers"
scenario = "danish_brokers"

[factors.shock.none]
shocks = []

[factors.shock.covid]
shocks = [{ type = "demand_drop", start = 6, duration = 4, magnitude = 0.6 }]

[[hypotheses]]
id = "H9"
statement = "Brokers put firms into formal networks."
outcome = "formal_network_share"
treatment = "brokers"
expect = "higher"
'''


@pytest.mark.parametrize(("expect", "ci", "n", "expected"), [
    ("higher", (0.1, 0.3), 5, "holds"),
    ("lower", (0.1, 0.3), 5, "opposite"),
    ("lower", (-0.3, -0.1), 5, "holds"),
    ("higher", (-0.1, 0.3), 5, "not settled"),
    ("higher", (0.1, 0.3), 2, "not settled"),
    ("higher", (0.2, 0.2), 5, "not settled"),
])
def test_reading_of_a_paired_interval(expect, ci, n, expected):
    assert reading(expect, *ci, n) == expected


def test_an_experiment_states_its_hypotheses_and_bad_ones_are_refused():
    experiment = parse_experiment(EXPERIMENT)
    assert [h.id for h in experiment.hypotheses] == ["H9"]
    assert hypotheses_from_toml(EXPERIMENT)[0].treatment == "brokers"
    for old, new, message in [
        ('outcome = "formal_network_share"', 'outcome = "happiness"', "hypotheses[0].outcome"),
        ('treatment = "brokers"', 'treatment = "grants"', "hypotheses[0].treatment"),
        ('treatment = "brokers"', 'compare = "shock"\ntreatment = "covid"',
         "hypotheses[0].reference is missing"),
        ('treatment = "brokers"', 'compare = "volatility"\ntreatment = "x"',
         "hypotheses[0].compare"),
    ]:
        with pytest.raises(ExperimentError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_experiment(EXPERIMENT.replace(old, new))


def test_the_table_takes_the_paired_difference_under_each_condition():
    results = load_results(policy_store())
    h = Hypothesis(id="H9", statement="s", outcome="formal_network_share", treatment="brokers",
                   expect="higher")
    table = hypothesis_table(results, h).set_index("condition")
    assert set(table.index) == {"shock=none", "shock=covid"}
    runs = results.summaries
    for shock in ("none", "covid"):
        arm = runs[(runs["arm"] == "brokers") & (runs["shock"] == shock)]
        base = runs[(runs["arm"] == "baseline") & (runs["shock"] == shock)]
        pairs = arm.merge(base, on="replication", suffixes=("", "_b"))
        diff = (pairs["formal_network_share"] - pairs["formal_network_share_b"]).mean()
        assert table.loc[f"shock={shock}", "difference"] == pytest.approx(diff)
        assert table.loc[f"shock={shock}", "n"] == len(pairs)
    assert "H9:" in summary_sentence(h, table.reset_index())
    # comparing factor levels: covid minus none, within each arm
    by_level = Hypothesis(id="H10", statement="s", outcome="revenue", compare="shock",
                          treatment="covid", reference="none", expect="lower")
    assert set(hypothesis_table(results, by_level)["condition"]) == {
        "arm=baseline", "arm=brokers", "arm=hubs"}


def test_the_report_opens_with_the_hypotheses_the_file_states():
    results = load_results(policy_store())
    results.meta["experiment_toml"] = EXPERIMENT
    page = render_report(results)
    assert "<section id='hypotheses'>" in page
    assert page.index("<section id='hypotheses'>") < page.index("<section id='design'>")
    assert "H9: Brokers put firms into formal networks." in page
