"""docs/VALIDATION.md is written from stores: facts, hypotheses, misses, commands."""

from store_fixtures import copy_store, policy_store
from typer.testing import CliRunner

from clustersim.cli import app
from clustersim.experiments.analysis import load_results
from clustersim.experiments.validation import validation_page
from clustersim.facts import facts_table


def test_the_page_carries_every_fact_row_and_names_what_is_not_reproduced(tmp_path):
    store = copy_store(policy_store(), tmp_path)
    page = validation_page([store])
    table = facts_table(load_results(store))
    assert page.count("| hubs | F8 |") == 1
    for row in table.itertuples():
        assert f"| {row.arm} | {row.fact} | {row.measure} |" in page
    misses = table[table["holds"] == "no"]
    for row in misses.itertuples():
        assert f"{row.fact} ({row.measure}) in `{store.stem}`, arm {row.arm}" in page
    assert "F3: an input" in page and "## Regenerate" in page
    assert "No store given states a hypothesis." in page


def test_the_command_writes_the_page_and_refuses_a_missing_store(tmp_path):
    store = copy_store(policy_store(), tmp_path)
    out = tmp_path / "VALIDATION.md"
    done = CliRunner().invoke(app, ["validation", str(store), "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert out.read_text().startswith("# Validation")
    bad = CliRunner().invoke(app, ["validation", str(tmp_path / "none.duckdb"), "-o", str(out)])
    assert bad.exit_code == 2 and "none.duckdb" in bad.output


STUDY = """name = "tiny_policy"
master_seed = 1
replications = 4
steps = 12

[[arms]]
name = "baseline"
scenario = "baseline"

[[hypotheses]]
id = "H3"
statement = "Hubs raise innovation."
outcome = "innovations"
treatment = "hubs"
expect = "higher"
"""


def test_a_study_gets_each_arm_against_the_baseline_and_a_plain_store_does_not():
    from dataclasses import replace

    from clustersim.experiments.validation import verdict_section

    results = load_results(policy_store())
    assert verdict_section("tiny_policy", results) == ""  # states no hypothesis: no study
    study = replace(results, meta={**results.meta, "experiment_toml": STUDY})
    section = verdict_section("tiny_policy", study)
    assert "| shock=covid | hubs | innovations |" in section
    assert "| shock=none | baseline |" not in section  # the reference, not a row


def test_a_calibration_store_gives_its_ranking_and_scenario_lines_not_pooled_facts(tmp_path):
    from test_calibrate import lhs_store

    store = copy_store(lhs_store(), tmp_path)
    page = validation_page([store])
    assert "## Calibration" in page and "# calibrated:" in page
    assert f"### `{store.stem}`" in page.split("## Calibration")[1]
    assert "No store given measures a stylised fact." in page


def test_the_crossing_point_is_interpolated_between_the_levels_that_bracket_it():
    import pandas as pd

    from clustersim.experiments.hypotheses import crossing_sentence

    table = pd.DataFrame({"condition": ["v=0.1", "v=0.2", "v=0.4"],
                          "difference": [-2.0, 2.0, 5.0]})
    assert "about v = 0.15 (between 0.1 and 0.2)" in crossing_sentence(table)
    same = table.assign(difference=[1.0, 2.0, 3.0])
    assert "positive at every level of v from 0.1 to 0.4" in crossing_sentence(same)
    assert crossing_sentence(table.assign(condition=["a", "b", "c"])) == ""
    assert crossing_sentence(table.head(2)) == ""


def test_a_sobol_store_gives_first_order_and_total_indices():
    from SALib.sample import sobol
    from test_analysis import synthetic_sampler_results

    from clustersim.experiments.validation import sensitivity_section

    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0.0, 1.0], [0.0, 1.0]]}
    x = sobol.sample(problem, 32, calc_second_order=False, seed=1)
    results = synthetic_sampler_results("sobol", x, problem["names"], problem["bounds"],
                                        10 * x[:, 0] + 0.1 * x[:, 1])
    section = sensitivity_section("synthetic", results)
    rows = [line for line in section.splitlines() if line.startswith("| innovations |")]
    assert [row.split(" | ")[2] for row in rows] == ["a", "b"]  # by total index, largest first
    assert "S1 ± 95%" in section and float(rows[0].split(" | ")[4].split(" ± ")[0]) > 0.9
