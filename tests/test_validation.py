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
