"""Calibration: samples ranked by their distance to the stylised facts; the refinement file."""

import math
from functools import cache

import pandas as pd
import pytest
from store_fixtures import _root, execute, make_meta, spec, write_store
from typer.testing import CliRunner

from clustersim.cli import app
from clustersim.experiments.analysis import load_results
from clustersim.experiments.calibrate import (
    CalibrationError,
    calibration_table,
    distance,
    fact_gap,
    refine_experiment,
    refined_bounds,
)
from clustersim.experiments.design import parse_experiment
from clustersim.facts import FACTS

NAMES = ["firms.employees_sigma", "demography.growth_rate"]
BOUNDS = [[0.1, 1.2], [0.0, 0.05]]
EXPERIMENT = '''name = "tiny_calibration"
master_seed = 3
replications = 2
steps = 18

[[arms]]
name = "baseline"
scenario = "baseline"

[sampler]
method = "lhs"
samples = 4

[sampler.parameters]
"firms.employees_sigma" = [0.1, 1.2]
"demography.growth_rate" = [0.0, 0.05]
'''


@cache
def lhs_store():
    matrix = [[0.15, 0.01], [0.5, 0.04], [0.9, 0.02], [1.15, 0.03]]
    specs = []
    for i, row in enumerate(matrix):
        overrides = dict(zip(NAMES, row, strict=True))
        for replication in range(2):
            specs.append(spec("tiny_calibration", i, "baseline", {"sample": i}, overrides,
                              replication))
    sampler = {"method": "lhs", "names": NAMES, "bounds": BOUNDS, "samples": 4,
               "matrix": matrix}
    meta = make_meta("tiny_calibration", sampler=sampler)
    meta["experiment_toml"] = EXPERIMENT
    return write_store(_root() / "tiny_calibration.duckdb", meta,
                       [(s, execute(s)) for s in specs])


def test_gaps_are_zero_inside_and_in_range_widths_outside():
    f2 = next(f for f in FACTS if f.measure == "formal_share_36m")  # 0.31 - 0.51
    assert fact_gap(f2, 0.4) == 0
    assert fact_gap(f2, 0.61) == pytest.approx(0.5)
    assert fact_gap(f2, 0.21) == pytest.approx(0.5)
    skew = next(f for f in FACTS if f.measure == "size_skewness")  # >= 1
    assert fact_gap(skew, 0.25) == pytest.approx(0.75)
    assert math.isnan(fact_gap(f2, math.nan))
    assert distance([0.0, 0.6, 0.8]) == pytest.approx(math.sqrt(1.0 / 3))


def test_samples_are_ranked_by_their_distance_to_the_facts():
    table = calibration_table(load_results(lhs_store()), ["F1"])
    assert table.attrs["facts"] == ["firms_under_50_share", "size_skewness"]
    assert list(table["distance"]) == sorted(table["distance"])
    assert len(table) == 4 and set(table["runs"]) == {2}
    results = load_results(lhs_store())
    means = results.summaries.groupby("point")["size_skewness"].mean()
    for row in table.itertuples():
        assert row.size_skewness == pytest.approx(means[row.point])
    # the narrowest size spread gives the least skewed sizes, so it ranks last here
    assert table.iloc[-1]["firms.employees_sigma"] == pytest.approx(0.15)


def test_unknown_facts_and_unsampled_stores_are_refused():
    with pytest.raises(CalibrationError, match="unknown fact"):
        calibration_table(load_results(lhs_store()), ["F99"])
    from store_fixtures import policy_store

    with pytest.raises(CalibrationError, match="not a sampled design"):
        calibration_table(load_results(policy_store()))


def test_the_refinement_shrinks_each_range_round_the_best_sample_and_loads():
    best = pd.Series({"firms.employees_sigma": 1.15, "demography.growth_rate": 0.02})
    bounds = refined_bounds(best, NAMES, BOUNDS, 0.25)
    low, high = bounds["firms.employees_sigma"]
    assert high == pytest.approx(1.2) and high - low == pytest.approx(0.275)  # kept inside
    assert bounds["demography.growth_rate"] == pytest.approx((0.02 - 0.00625, 0.02 + 0.00625))
    text = refine_experiment(EXPERIMENT, bounds)
    experiment = parse_experiment(text)
    assert experiment.name == "tiny_calibration_refine"
    assert experiment.master_seed == 4
    assert "[0.925, 1.2]" in text


def test_the_calibrate_command_lists_the_best_and_writes_the_refinement(tmp_path):
    out = tmp_path / "refine.toml"
    done = CliRunner().invoke(app, ["calibrate", str(lhs_store()), "--facts", "F1",
                                    "--refine", str(out)])
    assert done.exit_code == 0, done.output
    assert "# calibrated: tiny_calibration.duckdb" in done.output
    assert parse_experiment(out.read_text()).name == "tiny_calibration_refine"
    bad = CliRunner().invoke(app, ["calibrate", str(lhs_store()), "--facts", "F99"])
    assert bad.exit_code == 2 and "unknown fact" in bad.output


def test_an_experiments_facts_are_the_default_and_checked(tmp_path):
    from dataclasses import replace

    results = load_results(lhs_store())
    every = calibration_table(results).attrs["facts"]
    assert len(every) > 1  # the tiny runs measure more than F1
    named = replace(results, meta={**results.meta,
                                   "experiment_toml": EXPERIMENT.replace(
                                       'steps = 18\n', 'steps = 18\nfacts = ["F1"]\n')})
    table = calibration_table(named)
    assert set(table.attrs["facts"]) == {"firms_under_50_share", "size_skewness"}
    # --facts still wins over the file
    assert calibration_table(named, ["F6"]).attrs["facts"] == ["dependent_firms_share"]
    bad = tmp_path / "bad.toml"
    bad.write_text(EXPERIMENT.replace('steps = 18\n', 'steps = 18\nfacts = ["F77"]\n'))
    with pytest.raises(Exception, match=r"facts\[0\] = 'F77' is not allowed"):
        parse_experiment(bad.read_text(), source=str(bad))
