"""Analysis of a results store: CIs, paired differences, value for money, bands, heat maps,
sensitivity, and every way a store can be unusable (StoreError, file unchanged)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from store_fixtures import (
    MORRIS_PROBLEM,
    copy_store,
    morris_samples,
    morris_store,
    policy_store,
    static_dynamic_store,
)

from clustersim.experiments import analysis
from clustersim.experiments.analysis import (
    NETWORK_GAP_LABEL,
    Results,
    arm_table,
    band_table,
    differences,
    heatmap_table,
    load_results,
    mean_ci,
    morris_table,
    network_gap,
    rank_correlation_table,
    sensitivity_table,
    shock_periods,
    sobol_table,
    value_for_money,
)
from clustersim.experiments.spec import STORE_SCHEMA_VERSION, StoreError
from clustersim.outcomes import OUTCOMES

T_975 = {2: 4.302652729911275, 3: 3.182446305284263, 4: 2.7764451051977987}  # t(0.975, df)


# --------------------------------------------------------------------------- constructed results


def constructed(rows: list[tuple[str, str, int, float, float]], *, baseline: str | None = "base",
                factors: tuple[str, ...] = ("shock",)) -> Results:
    """Results from rows (arm, shock, replication, innovations, policy_spend)."""
    points: dict[tuple[str, str], int] = {}
    records = []
    for i, (arm, shock, replication, innovations, spend) in enumerate(rows):
        point = points.setdefault((arm, shock), len(points))
        records.append({"run_id": f"r{i}", "point": point, "arm": arm,
                        "label": f"{arm} | shock={shock}", "shock": shock,
                        "replication": replication, "seed": 100 + replication,
                        "innovations": innovations, "policy_spend": spend})
    summaries = pd.DataFrame(records)
    if "shock" not in factors:
        summaries = summaries.drop(columns="shock")
    runs = summaries.drop(columns=["innovations", "policy_spend"]).assign(status="done")
    meta = {"experiment": "hand", "baseline_arm": baseline,
            "factors": {"shock": ["none", "covid"]} if factors else {}, "sampler": None}
    return Results(meta=meta, runs=runs, summaries=summaries, timeseries=pd.DataFrame(),
                   factors=list(factors))


def test_mean_ci_matches_a_hand_computation() -> None:
    result = mean_ci([1, 2, 3, 4, 5, float("nan")])
    half = T_975[4] * math.sqrt(2.5) / math.sqrt(5)  # sd of 1..5 is sqrt(2.5)
    assert result["n"] == 5
    assert result["mean"] == pytest.approx(3.0)
    assert result["sd"] == pytest.approx(math.sqrt(2.5))
    assert result["ci_low"] == pytest.approx(3 - half)
    assert result["ci_high"] == pytest.approx(3 + half)
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((1.0367568, 4.9632432))


def test_mean_ci_of_one_value_has_no_interval() -> None:
    result = mean_ci([7.0])
    assert result["n"] == 1 and result["mean"] == 7.0
    assert math.isnan(result["sd"]) and math.isnan(result["ci_low"]) and math.isnan(result["ci_high"])


def test_arm_table_mean_and_ci_per_design_point() -> None:
    results = constructed([("base", "none", r, v, 0.0) for r, v in enumerate([1, 2, 3, 4, 5])]
                          + [("grants", "none", 0, 9.0, 50.0)])
    table = arm_table(results, "innovations").set_index("arm")
    assert list(table.columns[:4]) == ["point", "label", "shock", "outcome"]
    base = table.loc["base"]
    assert base["n"] == 5 and base["mean"] == pytest.approx(3.0)
    assert (base["ci_low"], base["ci_high"]) == pytest.approx((1.0367568, 4.9632432))
    grants = table.loc["grants"]  # one replication: a mean, no interval
    assert grants["n"] == 1 and grants["mean"] == 9.0 and math.isnan(grants["ci_low"])


def test_arm_table_leaves_out_all_nan_outcomes_and_empty_points() -> None:
    results = load_results(policy_store(), timeseries=False)
    table = arm_table(results)
    assert "shock_depth" in set(table["outcome"])  # measured under covid
    depth = table[table["outcome"] == "shock_depth"]
    assert set(depth["shock"]) == {"covid"}  # no rows with n = 0 for the no-shock points
    assert (table["n"] > 0).all()
    assert list(dict.fromkeys(table["outcome"])) == [o for o in OUTCOMES if o in set(table["outcome"])]


def test_differences_are_paired_by_replication_not_by_row_order() -> None:
    rows = [("base", "none", 0, 10.0, 0.0), ("base", "none", 1, 20.0, 0.0),
            ("base", "none", 2, 30.0, 0.0), ("base", "none", 3, 1000.0, 0.0),  # no partner
            ("grants", "none", 2, 33.0, 100.0), ("grants", "none", 0, 11.0, 100.0),
            ("grants", "none", 1, 22.0, 100.0)]
    table = differences(constructed(rows), "innovations")
    assert len(table) == 1
    row = table.iloc[0]
    assert row["arm"] == "grants" and row["n"] == 3  # replication 3 has no pair
    assert row["reference_mean"] == pytest.approx(20.0)  # baseline over the pairs only
    assert row["difference"] == pytest.approx(2.0)  # pairs: 1, 2, 3
    half = T_975[2] * 1.0 / math.sqrt(3)  # sd of 1, 2, 3 is 1
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((2 - half, 2 + half))
    assert row["relative"] == pytest.approx(0.1)
    assert row["relative_ci_low"] == pytest.approx((2 - half) / 20)
    # unpaired, the spread of the levels (sd 10) would swamp the difference
    assert row["ci_high"] - row["ci_low"] < 10


def test_differences_compare_within_the_same_factor_level() -> None:
    rows = [(arm, shock, r, base + (5 if arm == "hubs" else 0) + r, 0.0)
            for arm in ("base", "hubs") for shock, base in (("none", 10.0), ("covid", 100.0))
            for r in range(3)]
    table = differences(constructed(rows), "innovations")
    assert sorted(table["shock"]) == ["covid", "none"]
    assert table["difference"].tolist() == pytest.approx([5.0, 5.0])
    assert table["sd"].tolist() == pytest.approx([0.0, 0.0])
    assert table["p_value"].isna().all()  # no spread: no t-test
    base_points = {"none": 0, "covid": 1}
    assert all(base_points[s] == p for s, p in zip(table["shock"], table["reference_point"],
                                                   strict=True))


def test_differences_without_baseline_or_second_arm_are_empty() -> None:
    rows = [("base", "none", r, float(r), 0.0) for r in range(3)]
    assert differences(constructed(rows)).empty
    two = rows + [("hubs", "none", r, float(r), 0.0) for r in range(3)]
    assert differences(constructed(two, baseline=None)).empty
    assert differences(constructed(two, baseline="missing")).empty
    no_factors = differences(constructed(two, factors=()), "innovations")
    assert len(no_factors) == 1 and no_factors.iloc[0]["difference"] == 0


def test_value_for_money_per_keur_with_delta_method_ci() -> None:
    rows = ([("base", "none", r, v, 0.0) for r, v in enumerate([10.0, 20.0, 30.0])]
            + [("grants", "none", r, v, 100.0) for r, v in enumerate([11.0, 22.0, 33.0])]
            + [("free", "none", r, v, 0.0) for r, v in enumerate([12.0, 21.0, 30.0])])
    table = value_for_money(constructed(rows), "innovations").set_index("arm")
    grants = table.loc["grants"]
    assert grants["extra_spend"] == 100.0 and grants["per_keur"] == pytest.approx(0.02)
    half = T_975[2] / math.sqrt(3) / 100  # constant spend: the difference CI over the spend
    assert (grants["ci_low"], grants["ci_high"]) == pytest.approx((0.02 - half, 0.02 + half))
    free = table.loc["free"]  # spent nothing: no ratio
    assert free["extra_spend"] == 0 and math.isnan(free["per_keur"]) and math.isnan(free["ci_low"])


def test_value_for_money_is_a_ratio_of_means_when_spend_varies() -> None:
    rows = ([("base", "none", r, 0.0, 0.0) for r in range(3)]
            + [("grants", "none", r, d, s) for r, (d, s) in
               enumerate([(1.0, 50.0), (4.0, 100.0), (1.0, 150.0)])])
    row = value_for_money(constructed(rows), "innovations").iloc[0]
    ratio = 2.0 / 100.0
    residuals = np.array([1.0, 4.0, 1.0]) - ratio * np.array([50.0, 100.0, 150.0])
    half = T_975[2] * residuals.std(ddof=1) / (math.sqrt(3) * 100.0)
    assert row["per_keur"] == pytest.approx(ratio)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ratio - half, ratio + half))


def test_value_for_money_on_a_store_without_spend_is_empty_or_nan() -> None:
    results = load_results(static_dynamic_store(), timeseries=False)
    assert value_for_money(results).empty  # one arm: nothing to compare


# --------------------------------------------------------------------------- a real store


def test_load_results_reads_runs_summaries_and_timeseries() -> None:
    results = load_results(policy_store())
    assert results.experiment == "tiny_policy" and results.baseline_arm == "baseline"
    assert results.meta["schema_version"] == STORE_SCHEMA_VERSION
    assert results.meta["factors"] == {"shock": ["none", "covid"]}
    assert results.sampler is None
    assert results.factors == ["shock"] and results.arms == ["baseline", "brokers", "hubs"]
    assert len(results.runs) == 24
    failed = results.runs[results.runs["status"] == "failed"]
    assert len(failed) == 1 and "the test made this run fail" in failed.iloc[0]["error"]
    assert len(results.summaries) == 23
    assert failed.iloc[0]["run_id"] not in set(results.summaries["run_id"])
    for frame in (results.summaries, results.timeseries):
        assert {"run_id", "point", "arm", "label", "shock", "replication", "seed"} <= set(frame)
    assert set(results.summaries["shock"]) == {"none", "covid"}
    assert results.timeseries.groupby("run_id")["step"].max().eq(18).all()


def test_load_results_can_skip_or_select_time_series() -> None:
    assert load_results(policy_store(), timeseries=False).timeseries.empty
    some = load_results(policy_store(), timeseries=["revenue", "no_such_column"]).timeseries
    assert {"revenue", "shock_active", "step", "arm"} <= set(some.columns)
    assert "firms_alive" not in some.columns


def test_store_differences_pair_only_replications_both_arms_finished() -> None:
    results = load_results(policy_store(), timeseries=False)
    table = differences(results, ["innovations", "revenue"])
    assert len(table) == 8  # (brokers, hubs) × (none, covid) × 2 outcomes
    brokers = table[(table["arm"] == "brokers") & (table["shock"] == "none")]
    assert set(brokers["n"]) == {3}  # replication 3 of brokers failed
    s = results.summaries
    base = s[(s["arm"] == "baseline") & (s["shock"] == "none")].set_index("replication")
    arm = s[(s["arm"] == "brokers") & (s["shock"] == "none")].set_index("replication")
    for outcome in ("innovations", "revenue"):
        paired = (arm[outcome] - base[outcome]).dropna()
        row = brokers[brokers["outcome"] == outcome].iloc[0]
        assert row["difference"] == pytest.approx(paired.mean())
        assert row["sd"] == pytest.approx(paired.std(ddof=1))
        assert row["reference_mean"] == pytest.approx(base.loc[[0, 1, 2], outcome].mean())
    hubs = table[(table["arm"] == "hubs")]
    assert set(hubs["n"]) == {4}


def test_store_value_for_money_uses_the_money_spent() -> None:
    results = load_results(policy_store(), timeseries=False)
    table = value_for_money(results)
    assert "policy_spend" not in set(table["outcome"])
    assert (table["extra_spend"] > 0).all()
    innovations = table[table["outcome"] == "innovations"]
    diffs = differences(results, "innovations").set_index("point")
    for row in innovations.itertuples():
        assert row.per_keur == pytest.approx(diffs.loc[row.point, "difference"] / row.extra_spend)


def test_band_table_per_point_and_month() -> None:
    results = load_results(policy_store())
    table = band_table(results, "revenue")
    assert len(table) == 6 * 18  # six points, months 1..18: a flow has no month 0
    assert band_table(results, "revenue", include_initial=True)["step"].min() == 0
    assert band_table(results, "firms_alive")["step"].min() == 0  # a stock keeps month 0
    month = table[(table["point"] == 0) & (table["step"] == 5)].iloc[0]
    values = results.timeseries.query("point == 0 and step == 5")["revenue"]
    expected = mean_ci(values)
    assert month["n"] == 4 and month["mean"] == pytest.approx(expected["mean"])
    assert month["ci_low"] == pytest.approx(expected["ci_low"])
    with pytest.raises(KeyError, match="no time-series column 'nope'"):
        band_table(results, "nope")


def test_band_table_keeps_only_recorded_months() -> None:
    table = band_table(load_results(static_dynamic_store()), "firms_alive")
    assert sorted(table["step"].unique()) == [0, 3, 6, 9, 12, 15, 18]


def test_shock_periods_per_design_point() -> None:
    periods = shock_periods(load_results(policy_store()))
    assert set(periods["shock"]) == {"covid"}
    assert len(periods) == 3  # one per arm under covid
    assert set(zip(periods["start"], periods["end"], strict=True)) == {(6, 9)}  # months 6-9
    assert shock_periods(load_results(static_dynamic_store())).empty


def test_heatmap_table_pivot_with_static_minus_dynamic() -> None:
    results = load_results(static_dynamic_store(), timeseries=False)
    table = heatmap_table(results, "innovations", x="volatility", y="network_mode")
    assert table.shape == (3, 2)
    assert list(table.index) == ["static", "dynamic", NETWORK_GAP_LABEL]
    assert list(table.columns) == [0.1, 0.5]
    means = results.summaries.groupby(["network_mode", "volatility"])["innovations"].mean()
    assert table.loc["static", 0.5] == pytest.approx(means[("static", 0.5)])
    gap = table.loc[NETWORK_GAP_LABEL]
    assert gap[0.1] == pytest.approx(means[("static", 0.1)] - means[("dynamic", 0.1)])
    transposed = heatmap_table(results, "innovations", x="network_mode", y="volatility")
    assert transposed.shape == (2, 3) and transposed.columns[-1] == NETWORK_GAP_LABEL
    plain = heatmap_table(results, "innovations", x="volatility", y="network_mode", gap=False)
    assert plain.shape == (2, 2)
    with pytest.raises(KeyError, match="no design column"):
        heatmap_table(results, "innovations", x="volatility", y="nope")


def test_network_gap_is_paired_static_minus_dynamic() -> None:
    results = load_results(static_dynamic_store(), timeseries=False)
    assert analysis.network_mode_axis(results) == "network_mode"
    table = network_gap(results, "revenue")
    assert len(table) == 2 and set(table["network_mode"]) == {"static"}
    s = results.summaries
    for row in table.itertuples():
        static = s[(s["network_mode"] == "static") & (s["volatility"] == row.volatility)]
        dynamic = s[(s["network_mode"] == "dynamic") & (s["volatility"] == row.volatility)]
        paired = static.set_index("replication")["revenue"] - dynamic.set_index("replication")["revenue"]
        assert row.difference == pytest.approx(paired.mean())
        assert row.n == 2
    assert network_gap(load_results(policy_store(), timeseries=False)).empty


# --------------------------------------------------------------------------- sensitivity


def test_morris_table_matches_salib_on_the_stored_design() -> None:
    from SALib.analyze import morris

    results = load_results(morris_store(), timeseries=False)
    table = morris_table(results)
    assert {"mu", "mu_star", "mu_star_conf", "sigma"} <= set(table.columns)
    assert set(table["parameter"]) == set(MORRIS_PROBLEM["names"])
    # X rebuilt from the overrides is SALib's sample; Y is the mean over replications
    x = morris_samples()
    y = results.summaries.groupby("point")["innovations"].mean().sort_index().to_numpy()
    expected = morris.analyze(MORRIS_PROBLEM, x, y, num_levels=4, seed=0)
    got = table[table["outcome"] == "innovations"].set_index("parameter")
    for i, name in enumerate(MORRIS_PROBLEM["names"]):
        assert got.loc[name, "mu_star"] == pytest.approx(expected["mu_star"][i])
        assert got.loc[name, "sigma"] == pytest.approx(expected["sigma"][i])
    assert sensitivity_table(results)[0] == "morris"
    only = morris_table(results, "revenue")
    assert set(only["outcome"]) == {"revenue"}
    assert (only["mu_star"].diff().dropna() <= 0).all()  # most influential first


def test_morris_leaves_out_trajectories_with_a_failed_point() -> None:
    results = load_results(morris_store(), timeseries=False)
    damaged = results.summaries[results.summaries["point"] != 7]  # second trajectory: 5-9
    broken = Results(meta=results.meta, runs=results.runs, summaries=damaged,
                     timeseries=results.timeseries, factors=results.factors)
    table = morris_table(broken, "innovations")
    assert set(table["trajectories"]) == {1}


def test_morris_per_arm_when_samples_are_crossed_with_arms() -> None:
    results = load_results(morris_store(), timeseries=False)
    runs, summaries = results.runs.copy(), results.summaries.copy()
    offset = int(runs["point"].max()) + 1
    twin_runs = runs.assign(point=runs["point"] + offset, arm="hubs",
                            run_id="h" + runs["run_id"])
    twin = summaries.assign(point=summaries["point"] + offset, arm="hubs",
                            run_id="h" + summaries["run_id"],
                            innovations=2 * summaries["innovations"])
    both = Results(meta=results.meta, runs=pd.concat([runs, twin_runs]),
                   summaries=pd.concat([summaries, twin]), timeseries=pd.DataFrame(),
                   factors=results.factors)
    table = morris_table(both, "innovations")
    assert list(dict.fromkeys(table["stratum"])) == ["baseline", "hubs"]
    base = table[table["stratum"] == "baseline"].set_index("parameter")["mu_star"]
    hubs = table[table["stratum"] == "hubs"].set_index("parameter")["mu_star"]
    assert (hubs / base).dropna().to_numpy() == pytest.approx(2.0)  # outputs doubled


def test_sensitivity_tables_are_empty_without_a_sampler() -> None:
    results = load_results(policy_store(), timeseries=False)
    assert morris_table(results).empty and sobol_table(results).empty
    assert rank_correlation_table(results).empty
    method, table = sensitivity_table(results)
    assert method == "" and table.empty


def synthetic_sampler_results(method: str, x: np.ndarray, names: list[str],
                              bounds: list[list[float]], outputs: np.ndarray) -> Results:
    """Results of a sampler design whose outcome is a known function of X (no model)."""
    runs = pd.DataFrame({
        "run_id": [f"r{i}" for i in range(len(x))], "point": range(len(x)),
        "arm": "baseline", "label": [f"sample {i}" for i in range(len(x))],
        "sample": range(len(x)), "replication": 0, "seed": 1, "status": "done",
        "overrides": [json.dumps(dict(zip(names, map(float, row), strict=True))) for row in x]})
    summaries = runs.drop(columns=["overrides", "status"]).assign(innovations=outputs)
    sampler = {"method": method, "names": names, "bounds": bounds, "num_levels": 4}
    return Results(meta={"experiment": "synthetic", "baseline_arm": "baseline",
                         "factors": {}, "sampler": sampler},
                   runs=runs, summaries=summaries, timeseries=pd.DataFrame(), factors=["sample"])


def test_sobol_table_finds_the_parameter_that_matters() -> None:
    from SALib.sample import sobol

    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0.0, 1.0], [0.0, 1.0]]}
    x = sobol.sample(problem, 64, calc_second_order=False, seed=1)
    y = 10 * x[:, 0] + 0.1 * x[:, 1]
    results = synthetic_sampler_results("sobol", x, problem["names"], problem["bounds"], y)
    table = sobol_table(results).set_index("parameter")
    assert table.loc["a", "ST"] > 0.9 > 0.1 > table.loc["b", "ST"]
    assert sensitivity_table(results)[0] == "sobol"


def test_rank_correlation_for_latin_hypercube() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((30, 2))
    y = x[:, 0] - 0.01 * x[:, 1]
    results = synthetic_sampler_results("latin", x, ["a", "b"], [[0, 1], [0, 1]], y)
    method, table = sensitivity_table(results)
    assert method == "spearman"
    table = table.set_index("parameter")
    assert table.loc["a", "rho"] == pytest.approx(1.0, abs=0.02)
    assert abs(table.loc["b", "rho"]) < 0.5
    assert (table["n"] == 30).all()


# --------------------------------------------------------------------------- unusable stores


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_store_error(path: Path, *alternatives: str) -> str:
    """load_results raises a StoreError naming the file, saying one of ``alternatives``
    (the wording is the store's), and the file is left byte for byte as it was."""
    before = digest(path) if path.is_file() else None
    with pytest.raises(StoreError) as caught:
        load_results(path)
    message = str(caught.value)
    assert str(path) in message
    assert any(a.lower() in message.lower() for a in alternatives), message
    if before is not None:
        assert digest(path) == before, "the store was changed"
    assert not Path(f"{path}.wal").exists()
    return message


def test_missing_store_and_folder(tmp_path: Path) -> None:
    assert_store_error(tmp_path / "nowhere.duckdb", "no such file")
    assert_store_error(tmp_path, "is a folder")


@pytest.mark.parametrize("content", [b"", b"not a database at all\n" * 100,
                                     b"SQLite format 3\x00" + b"\x00" * 4096])
def test_garbage_is_not_a_store(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.duckdb"
    path.write_bytes(content)
    assert_store_error(path, "not a DuckDB file")


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_corrupt_store(tmp_path: Path, damage: str) -> None:
    path = copy_store(policy_store(), tmp_path)
    with path.open("r+b") as handle:
        if damage == "truncated":
            handle.truncate(path.stat().st_size // 2)
        else:
            handle.seek(4096)  # both database headers
            handle.write(b"\xff" * 8192)
    assert_store_error(path, "damaged", "corrupt", "truncated")


def test_a_duckdb_file_of_something_else(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE sales (x INTEGER)")
    con.close()
    assert_store_error(path, "not a clustersim results store")


def test_another_schema_version(tmp_path: Path) -> None:
    path = copy_store(policy_store(), tmp_path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    message = assert_store_error(path, "version 99")
    assert str(STORE_SCHEMA_VERSION) in message
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM meta WHERE key = 'schema_version'")
    con.close()
    assert_store_error(path, "version")


def test_a_store_being_written_by_another_process(tmp_path: Path) -> None:
    path = copy_store(policy_store(), tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="another process"):
            load_results(path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


def test_reading_never_writes(tmp_path: Path) -> None:
    path = copy_store(policy_store(), tmp_path)
    before = digest(path)
    os.chmod(path, 0o444)  # a read-only file reads fine
    try:
        results = load_results(path)
    finally:
        os.chmod(path, 0o644)
    assert len(results.summaries) == 23
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_unknown_outcome_names_what_exists() -> None:
    results = load_results(policy_store(), timeseries=False)
    with pytest.raises(KeyError, match="unknown outcome"):
        arm_table(results, ["innovatoins"])



# --------------------------------------------------------------------------- proportions


def test_wilson_interval_stays_in_0_1() -> None:
    from clustersim.experiments.analysis import wilson_interval
    for successes, n in [(0, 4), (4, 4), (3, 4), (1, 1), (17, 20)]:
        low, high = wilson_interval(successes, n)
        assert 0.0 <= low < successes / n + 1e-12 or successes == 0
        assert 0.0 <= low <= high <= 1.0
    assert wilson_interval(4, 4)[1] == 1.0 and wilson_interval(4, 4)[0] < 1.0
    assert wilson_interval(3, 4) == pytest.approx((0.3006, 0.9544), abs=1e-4)


def test_proportion_interval_methods() -> None:
    from clustersim.experiments.analysis import proportion_interval
    low, high, method = proportion_interval([1, 1, 1, 0, 1, 1], binary=True)
    assert method == "wilson" and 0 <= low <= high <= 1
    low, high, method = proportion_interval([0.9, 1.0, 0.95, 1.0])
    assert method == "bootstrap" and 0.9 <= low <= high <= 1.0
    assert proportion_interval([0.0, 0.0, 0.0])[:2] == (0.0, 0.0)  # no variation, no width
    assert proportion_interval([2.0, 3.0, 4.0])[2] == "t"


def test_arm_table_proportions_stay_in_0_1() -> None:
    from clustersim.experiments.analysis import is_proportion
    table = arm_table(load_results(policy_store()))
    shares = table[table["outcome"].map(is_proportion)]
    assert len(shares) and set(shares["ci_method"]) <= {"wilson", "bootstrap"}
    assert (shares["ci_low"] >= 0).all() and (shares["ci_high"] <= 1).all()
    assert set(shares.loc[shares["outcome"] == "recovered", "ci_method"]) == {"wilson"}
    assert set(table.loc[table["outcome"] == "innovations", "ci_method"]) == {"t"}
