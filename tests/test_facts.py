"""Stylised facts: the measures a run gives and how a store's runs meet the targets."""

import math

import numpy as np
import pandas as pd
import pytest

from clustersim.experiments.analysis import Results
from clustersim.facts import FACT_MEASURES, FACTS, fact_measures, facts_table, verdict
from clustersim.model import ClusterModel


@pytest.mark.parametrize(("ci", "strict", "expected"), [
    ((0.35, 0.45), False, "yes"),
    ((0.20, 0.30), False, "no"),
    ((0.25, 0.40), False, "unclear"),
    ((0.52, 0.60), False, "no"),
    ((0.40, 0.51), False, "yes"),
    ((0.40, 0.51), True, "unclear"),
    ((0.51, 0.60), True, "no"),
    ((math.nan, 0.4), False, "unclear"),
])
def test_verdict_compares_the_whole_interval_with_the_range(ci, strict, expected):
    assert verdict(0.31, 0.51, *ci, strict_high=strict) == expected


def test_targets_read_as_ranges():
    by_measure = {fact.measure: fact for fact in FACTS}
    assert by_measure["formal_share_36m"].target == "0.31 – 0.51"
    assert by_measure["size_skewness"].target == "≥ 1"
    assert by_measure["firms_change_low_cost"].target == "< 1"
    assert by_measure["hub_self_funding"].target == "≥ 0.5 and < 1"


def test_a_broker_run_measures_the_broker_facts_and_nothing_it_cannot_show():
    model = ClusterModel("denmark_1989", seed=2, n_firms=150, steps=40, policies__0__start=2,
                         policies__0__duration=20)
    model.run()
    values = fact_measures(model, model.timeseries())
    assert set(values) == set(FACT_MEASURES)
    series = model.timeseries().set_index("step")
    assert values["formal_share_36m"] == series.loc[38, "formal_network_share"]
    active = series["formal_networks_active"]
    assert values["networks_persist_12m"] == pytest.approx(active.loc[33] / active.loc[21])
    employees = model.firms.employees[: model.firms.n][model.firms.alive[: model.firms.n]]
    assert values["firms_under_50_share"] == pytest.approx(float((employees < 50).mean()))
    # no hubs, no low-cost competition: those facts are not measured
    for name in ("hub_member_share", "hub_self_funding", "firms_change_low_cost"):
        assert math.isnan(values[name])
    # F2 is about a national package: without the awareness campaign it is not measured
    quiet = ClusterModel("denmark_1989", seed=2, n_firms=150, steps=40, policies__0__start=2,
                         policies__0__duration=20, policies__0__awareness=False)
    quiet.run()
    assert math.isnan(fact_measures(quiet, quiet.timeseries())["formal_share_36m"])


def test_facts_table_gives_a_mean_and_interval_per_arm():
    rng = np.random.default_rng(1)
    summaries = pd.DataFrame({
        "arm": ["a"] * 10 + ["b"] * 10,
        "formal_share_36m": np.r_[rng.normal(0.41, 0.02, 10), rng.normal(0.7, 0.02, 10)],
        "size_skewness": np.r_[np.full(10, math.nan), rng.normal(2.0, 0.1, 10)],
    })
    results = Results(meta={}, runs=pd.DataFrame(), summaries=summaries, timeseries=pd.DataFrame())
    table = facts_table(results).set_index(["arm", "measure"])
    f2 = next(f for f in FACTS if f.measure == "formal_share_36m").short
    skew = next(f for f in FACTS if f.measure == "size_skewness").short
    assert table.loc[("a", f2), "holds"] == "yes"
    assert table.loc[("b", f2), "holds"] == "no"
    assert table.loc[("a", f2), "n"] == 10
    assert ("a", skew) not in table.index  # no run of arm a measured it
    assert table.loc[("b", skew), "holds"] == "yes"


def test_the_facts_command_prints_the_table_and_writes_csv(tmp_path):
    from store_fixtures import policy_store
    from typer.testing import CliRunner

    from clustersim.cli import app

    out = tmp_path / "facts.csv"
    done = CliRunner().invoke(app, ["facts", str(policy_store()), "--csv", str(out)])
    assert done.exit_code == 0, done.output
    assert "Stylised facts" in done.output and "F3: an input" in done.output
    table = pd.read_csv(out)
    assert set(table["arm"]) == {"baseline", "brokers", "hubs"}
    assert {"F1", "F7", "F8"} <= set(table["fact"])
    assert set(table["holds"]) <= {"yes", "no", "unclear"}


def test_the_facts_command_refuses_a_missing_store(tmp_path):
    from typer.testing import CliRunner

    from clustersim.cli import app

    done = CliRunner().invoke(app, ["facts", str(tmp_path / "none.duckdb")])
    assert done.exit_code == 2
    assert "none.duckdb" in done.output


def test_the_report_has_a_facts_section_in_fact_order():
    from store_fixtures import policy_store

    from clustersim.experiments.analysis import load_results
    from clustersim.experiments.report import render_report

    page = render_report(load_results(policy_store()))
    assert "<section id='facts'>" in page
    section = page[page.index("<section id='facts'>"):]
    assert section.index("F1: share under 50") < section.index("F7: hub members") < section.index(
        "F8: hub fees")
