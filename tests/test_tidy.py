"""The tidy export: one row per run, parameters and outcomes as typed columns, no JSON."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from store_fixtures import copy_store, policy_store
from typer.testing import CliRunner

from clustersim import cli
from clustersim.experiments.analysis import load_results
from clustersim.experiments.tidy import flatten
from clustersim.outcomes import OUTCOMES


def _looks_like_json(value: object) -> bool:
    if not isinstance(value, str) or value[:1] not in "[{":
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def test_flatten_names_nested_overrides_like_set_keys():
    assert flatten({"firms.count": 200, "shocks": [{"type": "demand_drop", "start": 36}],
                    "outputs": {"firm_table_steps": [0, 12]}}) == {
        "firms.count": 200, "shocks[0].type": "demand_drop", "shocks[0].start": 36,
        "outputs.firm_table_steps": "0, 12"}


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_tidy_one_row_per_run_typed_columns(tmp_path, suffix):
    store = copy_store(policy_store(), tmp_path)
    out = tmp_path / f"tidy{suffix}"
    result = CliRunner().invoke(cli.app, ["export", str(store), "--tidy", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    results = load_results(store, timeseries=False)
    assert len(frame) == len(results.runs) and frame["run_id"].is_unique
    assert set(results.factors) <= set(frame.columns)
    assert set(OUTCOMES) & set(results.summaries.columns) <= set(frame.columns)
    for column in frame.columns:
        assert not frame[column].map(_looks_like_json).any(), column
    assert pd.api.types.is_numeric_dtype(frame["innovations"])
    assert pd.api.types.is_integer_dtype(frame["replication"])


def test_load_results_gives_the_same_tidy_frame(tmp_path):
    store = copy_store(policy_store(), tmp_path)
    out = tmp_path / "tidy.parquet"
    CliRunner().invoke(cli.app, ["export", str(store), "--tidy", str(out)])
    from_python = load_results(store, timeseries=False).tidy()
    pd.testing.assert_frame_equal(pd.read_parquet(out), from_python, check_dtype=False)


@pytest.mark.parametrize("args", [["--tidy", "/proc/x.parquet"], ["--parquet", "/sys/x"],
                                  ["--tidy", "out.json"], []])
def test_export_to_a_bad_place_exit_2_one_message(tmp_path, args):
    store = copy_store(policy_store(), tmp_path)
    result = CliRunner().invoke(cli.app, ["export", str(store), *args])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "error:" in result.output
