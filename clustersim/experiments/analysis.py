"""A results store's runs as pandas tables, with 95% confidence intervals.

What analysts import from Python (the HTML report and the dashboard's compare page are
built on the same functions)::

    from clustersim.experiments.analysis import load_results, arm_table, differences
    results = load_results("results/policy_comparison.duckdb")
    arm_table(results)          # mean and 95% CI per design point and outcome
    differences(results)        # each arm minus the baseline arm, paired by replication

A *design point* is one arm crossed with one level of every factor (or one sample of a
sampler); its replications differ only in their seed. Replication r of every point
shares one seed (common random numbers), so differences between arms are computed on
pairs of runs, which removes most of the run-to-run noise both arms share.

The store is only ever read (``read_only=True``); every way it can be unusable (missing,
not DuckDB, corrupt, not a clustersim store, another schema version, being written)
raises :class:`~clustersim.experiments.spec.StoreError` naming the file.
"""

from __future__ import annotations

import json
import logging
import math
import tomllib
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from clustersim.experiments.spec import STORE_SCHEMA_VERSION, StoreError
from clustersim.outcomes import COMPARED_OUTCOMES, OUTCOME_INFO, OUTCOMES

logger = logging.getLogger(__name__)

CONFIDENCE = 0.95
# Columns every table keyed by run carries, from the store's runs table.
RUN_DESIGN_COLUMNS = ["run_id", "point", "arm", "label", "replication", "seed"]
REQUIRED_RUN_COLUMNS = ("run_id", "point", "arm", "label", "levels", "overrides",
                        "replication", "seed", "status")
NETWORK_GAP_LABEL = "static − dynamic"
SPEND_OUTCOME = "policy_spend"
# Time-series columns that are one month's flow (0 at month 0, before any month ran).
FLOW_COLUMNS = ("revenue", "innovations", "entries", "exits", "orders", "orders_won",
                "orders_lost_no_partner", "orders_lost_no_capacity", "orders_lost_to_world",
                "delivery_failures", "ties_formed", "ties_dropped", "policy_spend",
                "joint_projects_started", "joint_projects_succeeded")


# --------------------------------------------------------------------------- loading


@dataclass
class Results:
    """Everything a results store holds, as DataFrames.

    ``meta``: the store's meta table, JSON values parsed (``factors`` a dict of factor →
    level names, ``sampler`` a dict or None, ``schema_version`` an int).
    ``runs``: one row per finished run, done or failed (``status``, ``error``), with the
    design columns. ``summaries``: one row per done run: ``run_id, point, arm, label``,
    one column per factor (its level), ``replication, seed``, then one column per outcome.
    ``timeseries``: one row per done run and kept month, with the same design columns.
    ``factors``: the factor columns, in the experiment file's order (a sampler's design
    adds ``sample``).
    """

    meta: dict[str, Any]
    runs: pd.DataFrame
    summaries: pd.DataFrame
    timeseries: pd.DataFrame
    factors: list[str] = field(default_factory=list)
    path: Path | None = None

    def __post_init__(self) -> None:
        if not self.factors:
            declared = list((self.meta.get("factors") or {}).keys())
            self.factors = [f for f in declared if f in self.summaries.columns]

    @property
    def experiment(self) -> str:
        return str(self.meta.get("experiment") or (self.path.stem if self.path else "experiment"))

    @property
    def baseline_arm(self) -> str | None:
        value = self.meta.get("baseline_arm")
        return str(value) if value not in (None, "") else None

    @property
    def sampler(self) -> dict[str, Any] | None:
        value = self.meta.get("sampler")
        return value if isinstance(value, dict) and value else None

    @property
    def arms(self) -> list[str]:
        """Arm names in design order (the order of their first design point)."""
        frame = self.runs if len(self.runs) else self.summaries
        if not len(frame):
            return []
        return list(frame.sort_values("point")["arm"].drop_duplicates())

    @property
    def outcomes(self) -> list[str]:
        """The outcomes with at least one value (all-NaN outcomes, e.g. shock depth
        without a shock, are left out)."""
        return [o for o in COMPARED_OUTCOMES
                if o in self.summaries.columns and self.summaries[o].notna().any()]

    def run_table(self, name: str) -> pd.DataFrame:
        """A per-run table the runs kept (clustersim/run_tables.py: formal_networks,
        grant_projects, firms_end, team_sizes), with each run's design columns; empty if none
        kept it."""
        from clustersim.experiments.store import ResultsStore

        if self.path is None:
            raise StoreError("these results were not read from a store", None)
        with ResultsStore.open_read_only(self.path) as store:
            table = store.run_table(name)
        design = self.summaries[["run_id", "point", "arm", "label", *self.factors,
                                 "replication", "seed"]]
        return design.merge(table, on="run_id", how="inner")

    def tidy(self) -> pd.DataFrame:
        """One row per run: identity, factor levels, overridden keys and every outcome as
        typed columns (what ``clustersim export --tidy`` writes; :mod:`.tidy`)."""
        from clustersim.experiments.tidy import tidy_table

        return tidy_table(self)


def load_results(path: str | Path, *, timeseries: bool | Sequence[str] = True) -> Results:
    """Read a results store (read-only) into a :class:`Results`.

    ``timeseries``: True for every column, False for none, or a list of metric columns
    (``shock_active`` is always added when present) to keep memory small on big stores.
    The store is opened by :meth:`ResultsStore.open_read_only
    <clustersim.experiments.store.ResultsStore.open_read_only>`, which refuses (with a
    :class:`StoreError` naming the file) a missing, non-DuckDB, damaged, foreign or
    other-version store; a store damaged deeper than its headers fails here the same way.
    """
    import duckdb

    from clustersim.experiments.store import ResultsStore

    path = Path(path)
    with ResultsStore.open_read_only(path) as store:
        try:
            meta = _parse_meta(store.meta())
            runs = store.query("SELECT * FROM runs ORDER BY point, replication, run_id")
            absent = [c for c in REQUIRED_RUN_COLUMNS if c not in runs.columns]
            if absent:
                raise StoreError(f"results store {path}: the runs table lacks column(s) "
                                 f"{', '.join(absent)}: not a store this clustersim wrote",
                                 str(path))
            summaries = store.query(
                "SELECT s.* FROM summaries s JOIN runs r USING (run_id) "
                "WHERE r.status = 'done' ORDER BY r.point, r.replication")
            series = _read_timeseries(store, timeseries)
        except duckdb.Error as exc:
            raise StoreError(f"results store {path}: cannot be read ({_first_line(exc)}); the "
                             "file looks damaged. It was left as it is.", str(path)) from None

    design, factors = _design_columns(runs, meta)
    runs = runs.merge(design.drop(columns=[c for c in design.columns
                                           if c in runs.columns and c != "run_id"]),
                      on="run_id", how="left")
    summaries = design.merge(summaries, on="run_id", how="inner")
    series = design.merge(series, on="run_id", how="inner") if len(series.columns) else series
    return Results(meta=meta, runs=runs, summaries=summaries.reset_index(drop=True),
                   timeseries=series.reset_index(drop=True), factors=factors, path=path)


def _parse_meta(raw: dict[str, str]) -> dict[str, Any]:
    """The meta table with its JSON values parsed (the store has checked the version)."""
    meta: dict[str, Any] = dict(raw)
    meta["schema_version"] = int(raw.get("schema_version", STORE_SCHEMA_VERSION))
    for key in ("factors", "sampler", "created_with"):
        if isinstance(raw.get(key), str):
            try:
                meta[key] = json.loads(raw[key])
            except json.JSONDecodeError:
                meta[key] = raw[key]  # keep the text; analysis copes without it
    if not isinstance(meta.get("factors"), dict):
        meta["factors"] = {}
    return meta


def _read_timeseries(store: Any, which: bool | Sequence[str]) -> pd.DataFrame:
    if which is False:
        return pd.DataFrame()
    if which is True:
        return store.query("SELECT * FROM timeseries ORDER BY run_id, step")
    available = set(store.query("SELECT * FROM timeseries LIMIT 0").columns)
    wanted = ["run_id", "step", *[c for c in which if c in available and c not in ("run_id", "step")]]
    if "shock_active" in available and "shock_active" not in wanted:
        wanted.append("shock_active")
    columns = ", ".join(f'"{c}"' for c in wanted)
    return store.query(f"SELECT {columns} FROM timeseries ORDER BY run_id, step")


def _design_columns(runs: pd.DataFrame, meta: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """run_id, point, arm, label, one column per factor level, replication, seed."""
    parsed = [_loads(text) for text in runs["levels"]]
    keys: list[str] = list(meta.get("factors", {}).keys())
    for levels in parsed:
        keys += [k for k in levels if k not in keys]
    design = runs[["run_id", "point", "arm", "label"]].copy()
    factors = []
    for key in keys:
        column = key if key not in RUN_DESIGN_COLUMNS and key != "levels" else f"level:{key}"
        design[column] = [_scalar(levels.get(key)) for levels in parsed]
        if design[column].notna().any():
            factors.append(column)
    design = design[["run_id", "point", "arm", "label", *factors]]
    design["replication"] = runs["replication"].to_numpy()
    design["seed"] = runs["seed"].to_numpy()
    return design, factors


def _loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _scalar(value: Any) -> Any:
    """A level as a hashable cell: lists and tables become their JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def experiment_description(results: Results) -> str:
    """The experiment file's ``description`` (empty if it has none)."""
    text = results.meta.get("experiment_toml")
    if not isinstance(text, str) or not text:
        return ""
    try:
        value = tomllib.loads(text).get("description", "")
    except tomllib.TOMLDecodeError:
        return ""
    return str(value).strip()


# --------------------------------------------------------------------------- statistics


def mean_ci(values: Iterable[float], confidence: float = CONFIDENCE) -> dict[str, float]:
    """n, mean, sd (n − 1), and the t-distribution CI of the mean; NaNs are ignored.

    With fewer than two values the sd and the interval are NaN: one run says nothing
    about run-to-run variation.
    """
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array)]
    n = len(array)
    frame = pd.DataFrame({"n": [n], "mean": [array.mean() if n else math.nan],
                          "sd": [array.std(ddof=1) if n > 1 else math.nan]})
    row = _add_ci(frame, confidence).iloc[0]
    return {k: (int(row[k]) if k == "n" else float(row[k]))
            for k in ("n", "mean", "sd", "ci_low", "ci_high")}


def _add_ci(frame: pd.DataFrame, confidence: float = CONFIDENCE,
            mean: str = "mean", sd: str = "sd") -> pd.DataFrame:
    """Add ``ci_low``/``ci_high`` (t-distribution, n − 1 degrees of freedom) to a frame
    with ``n``, ``mean`` and ``sd`` columns."""
    n = frame["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf(0.5 + confidence / 2, np.where(n > 1, n - 1, np.nan))
        half = t * frame[sd].to_numpy(dtype=float) / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    frame = frame.copy()
    frame["ci_low"] = frame[mean].to_numpy(dtype=float) - half
    frame["ci_high"] = frame[mean].to_numpy(dtype=float) + half
    return frame


PROPORTION_UNITS = ("share", "0-1")
BINARY_OUTCOMES = ("recovered",)  # 0 or 1 in each run: their mean is a share of runs
BOOTSTRAP_RESAMPLES = 4000
BOOTSTRAP_SEED = 20240601  # fixed: the same store always gives the same report


def wilson_interval(successes: float, n: int,
                    confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a proportion: ``successes`` of ``n`` 0/1 outcomes.

    Unlike the normal (Wald or t) interval it never leaves [0, 1] and does not collapse
    to a point at 0 or n successes. NaN for n = 0.
    """
    if n <= 0:
        return math.nan, math.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean_interval(values: Iterable[float], confidence: float = CONFIDENCE,
                            resamples: int = BOOTSTRAP_RESAMPLES,
                            seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (NaNs ignored; fixed seed). It lies
    within the values' range, so shares get an interval inside [0, 1]. With few values
    it is narrower than it should be (docs/report.md). NaN with fewer than two values."""
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array)]
    if len(array) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, len(array), size=(resamples, len(array)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def proportion_interval(values: Iterable[float], confidence: float = CONFIDENCE,
                        binary: bool = False) -> tuple[float, float, str]:
    """The CI of a mean proportion and its method: ``wilson`` for a 0/1 outcome per run
    (``binary``, e.g. recovered: the share of runs that recovered), ``bootstrap`` for a
    share measured in each run (survival, network shares; a share that is the same in
    every run gets that value as its interval), ``t`` for values outside [0, 1] (then it
    is no proportion)."""
    array = np.asarray(list(values), dtype=float)
    array = array[np.isfinite(array)]
    if not len(array):
        return math.nan, math.nan, "t"
    if binary and np.isin(array, (0.0, 1.0)).all():
        return (*wilson_interval(float(array.sum()), len(array), confidence), "wilson")
    if array.min() >= 0 and array.max() <= 1:
        return (*bootstrap_mean_interval(array, confidence), "bootstrap")
    row = mean_ci(array, confidence)
    return row["ci_low"], row["ci_high"], "t"


def is_proportion(outcome: str) -> bool:
    """Whether an outcome is a share or a 0/1 result (its CI must stay in [0, 1])."""
    info = OUTCOME_INFO.get(outcome)
    return info is not None and info.unit in PROPORTION_UNITS


def design_points(results: Results) -> pd.DataFrame:
    """One row per design point: point, arm, label, factor levels, runs done and failed."""
    keys = ["point", "arm", "label", *results.factors]
    source = results.runs if len(results.runs) else results.summaries
    if not len(source):
        return pd.DataFrame(columns=[*keys, "done", "failed"])
    points = source.drop_duplicates("point")[keys].sort_values("point")
    if "status" in source.columns:
        counts = (source.assign(done=source["status"].eq("done"),
                                failed=source["status"].eq("failed"))
                  .groupby("point")[["done", "failed"]].sum())
    else:
        counts = source.groupby("point").size().rename("done").to_frame().assign(failed=0)
    points = points.merge(counts, left_on="point", right_index=True, how="left")
    return points.reset_index(drop=True)


def _points(results: Results) -> pd.DataFrame:
    return design_points(results)[["point", "arm", "label", *results.factors]]


def _outcome_list(results: Results, outcomes: Sequence[str] | str | None,
                  default: Sequence[str] | None = None) -> list[str]:
    if outcomes is None:
        return list(default if default is not None else results.outcomes)
    wanted = [outcomes] if isinstance(outcomes, str) else list(outcomes)
    unknown = [o for o in wanted if o not in results.summaries.columns]
    if unknown:
        raise KeyError(f"unknown outcome(s) {', '.join(unknown)}; the store has: "
                       f"{', '.join(results.outcomes)}")
    return wanted


def _order_outcomes(frame: pd.DataFrame, by: Sequence[str] = ("point",)) -> pd.DataFrame:
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    order = frame["outcome"].map(lambda o: rank.get(o, len(rank)))
    return (frame.assign(_rank=order).sort_values(["_rank", *by], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def arm_table(results: Results, outcomes: Sequence[str] | str | None = None,
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per design point and outcome: n, mean, sd and the 95% CI of the mean.

    Long format: ``point, arm, label, <factors>, outcome, n, mean, sd, ci_low, ci_high,
    ci_method``, by outcome (in :data:`OUTCOMES` order) then point. ``ci_method`` is
    ``t`` (t-distribution) for counts and amounts; shares and 0/1 outcomes get an
    interval inside [0, 1] (:func:`proportion_interval`: ``wilson`` or ``bootstrap``).
    Outcomes that are all NaN are left out; so are points where an outcome has no value.
    """
    names = _outcome_list(results, outcomes)
    columns = ["point", "arm", "label", *results.factors, "outcome", "n", "mean", "sd",
               "ci_low", "ci_high", "ci_method"]
    if not names or not len(results.summaries):
        return pd.DataFrame(columns=columns)
    long = results.summaries.melt(id_vars=["point"], value_vars=names, var_name="outcome")
    grouped = (long.groupby(["point", "outcome"], sort=False)["value"]
               .agg(n="count", mean="mean", sd="std").reset_index())
    grouped = _proportion_cis(long, _add_ci(grouped[grouped["n"] > 0], confidence),
                              confidence)
    table = _points(results).merge(grouped, on="point", how="inner")
    return _order_outcomes(table[columns])


def _proportion_cis(long: pd.DataFrame, grouped: pd.DataFrame,
                    confidence: float) -> pd.DataFrame:
    """Replace the t-intervals of proportion outcomes by :func:`proportion_interval`."""
    grouped = grouped.assign(ci_method="t").reset_index(drop=True)
    shares = grouped.index[grouped["outcome"].map(is_proportion)]
    values = long.groupby(["point", "outcome"], sort=False)["value"]
    for i in shares:
        key = (grouped.at[i, "point"], grouped.at[i, "outcome"])
        low, high, method = proportion_interval(values.get_group(key), confidence,
                                                binary=key[1] in BINARY_OUTCOMES)
        grouped.loc[i, ["ci_low", "ci_high", "ci_method"]] = [low, high, method]
    return grouped


# --------------------------------------------------------------------------- paired contrasts


def _paired(results: Results, by: str, reference: Any,
            values: Sequence[str]) -> pd.DataFrame:
    """Pairs of runs: each point whose ``by`` differs from ``reference``, with the point
    that matches it on every other design column and has ``by == reference``, joined
    by replication (only replications present in both).

    Columns: the point's design columns, ``reference_point``, ``replication``, and
    ``<value>`` / ``<value>_ref`` for each value column.
    """
    points = _points(results)
    others = [c for c in ["arm", *results.factors] if c != by]
    key = points[others].map(_hashable) if others else pd.DataFrame(index=points.index)
    points = points.assign(_key=[tuple(row) for row in key.itertuples(index=False)])
    refs = points[points[by].map(_hashable) == _hashable(reference)]
    ref_of = dict(zip(refs["_key"], refs["point"], strict=False))
    targets = points[points[by].map(_hashable) != _hashable(reference)].copy()
    targets["reference_point"] = targets["_key"].map(ref_of)
    targets = targets.dropna(subset=["reference_point"]).drop(columns="_key")
    targets["reference_point"] = targets["reference_point"].astype(int)
    if not len(targets):
        return pd.DataFrame()
    runs = results.summaries[["point", "replication", *values]].drop_duplicates(
        ["point", "replication"])
    left = targets.merge(runs, on="point", how="inner")
    right = runs.rename(columns={"point": "reference_point", **{v: f"{v}_ref" for v in values}})
    return left.merge(right, on=["reference_point", "replication"], how="inner")


def _hashable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _contrast(results: Results, by: str, reference: Any, outcomes: list[str],
              confidence: float) -> pd.DataFrame:
    columns = ["point", "arm", "label", *results.factors, "reference_point", "outcome", "n",
               "reference_mean", "mean", "difference", "sd", "ci_low", "ci_high", "relative",
               "relative_ci_low", "relative_ci_high", "p_value"]
    if not outcomes:
        return pd.DataFrame(columns=columns)
    pairs = _paired(results, by, reference, outcomes)
    if not len(pairs):
        return pd.DataFrame(columns=columns)
    design = ["point", "arm", "label", *results.factors, "reference_point"]
    rows = []
    for outcome in outcomes:
        part = pairs[[*design, outcome, f"{outcome}_ref"]].rename(
            columns={outcome: "value", f"{outcome}_ref": "reference_value"})
        part = part[part["value"].notna() & part["reference_value"].notna()]
        part = part.assign(outcome=outcome, diff=part["value"] - part["reference_value"])
        rows.append(part)
    long = pd.concat(rows, ignore_index=True)
    if not len(long):
        return pd.DataFrame(columns=columns)
    grouped = (long.groupby(["point", "outcome"], sort=False)
               .agg(n=("diff", "count"), reference_mean=("reference_value", "mean"),
                    mean=("value", "mean"), difference=("diff", "mean"), sd=("diff", "std"))
               .reset_index())
    grouped = _add_ci(grouped, confidence, mean="difference")
    n = grouped["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_value = grouped["difference"] / (grouped["sd"] / np.sqrt(n))
        p = 2 * stats.t.sf(np.abs(t_value.to_numpy(dtype=float)), np.where(n > 1, n - 1, np.nan))
        reference = grouped["reference_mean"].where(grouped["reference_mean"] != 0)
        grouped["relative"] = grouped["difference"] / reference
        low = grouped["ci_low"] / reference
        high = grouped["ci_high"] / reference
    grouped["p_value"] = np.where((n > 1) & (grouped["sd"] > 0), p, np.nan)
    grouped["relative_ci_low"] = np.fmin(low, high)
    grouped["relative_ci_high"] = np.fmax(low, high)
    design_rows = pairs[design].drop_duplicates("point")
    table = design_rows.merge(grouped, on="point", how="inner")
    return _order_outcomes(table[columns])


def differences(results: Results, outcomes: Sequence[str] | str | None = None,
                confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Each arm minus the baseline arm, at the same factor levels, paired by replication.

    Replication r of both arms ran with the same seed, so the difference is taken run by
    run and the CI is the t-interval of the paired differences (only replications present
    in both arms count; ``n`` says how many pairs). Columns: the arm's design columns,
    ``reference_point`` (the baseline's point), ``outcome, n, reference_mean`` (baseline
    over the pairs), ``mean`` (arm), ``difference, sd, ci_low, ci_high``, ``relative``
    (difference / baseline mean) with its CI (the difference CI over the baseline mean),
    ``p_value`` (paired t-test). Empty without a baseline arm or a second arm.
    """
    names = _outcome_list(results, outcomes)
    baseline = results.baseline_arm
    if baseline is None or baseline not in results.arms:
        return _contrast(results, "arm", object(), [], confidence)
    return _contrast(results, "arm", baseline, names, confidence)


def value_for_money(results: Results, outcomes: Sequence[str] | str | None = None,
                    confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Each arm's paired difference from the baseline per k€ of extra policy money spent.

    ``extra_spend`` is the arm's ``policy_spend`` minus the baseline's, run by run (the
    baseline usually spends nothing). ``per_keur`` = mean difference / mean extra spend (a
    ratio of means, stable when single runs spend little), its CI by the delta method:
    se = sd(dᵢ − R·sᵢ) / (√n · mean s), t-interval with n − 1 degrees of freedom. NaN
    where the arm spent no more than the baseline. Default outcomes: those with a
    direction (more is better or worse), not the spend itself.
    """
    default = [o for o in results.outcomes
               if o != SPEND_OUTCOME and OUTCOME_INFO[o].higher_is_better is not None]
    names = [o for o in _outcome_list(results, outcomes, default) if o != SPEND_OUTCOME]
    columns = ["point", "arm", "label", *results.factors, "reference_point", "outcome", "n",
               "difference", "extra_spend", "per_keur", "ci_low", "ci_high"]
    baseline = results.baseline_arm
    if (baseline is None or baseline not in results.arms or SPEND_OUTCOME not in
            results.summaries.columns or not names):
        return pd.DataFrame(columns=columns)
    pairs = _paired(results, "arm", baseline, [*names, SPEND_OUTCOME])
    if not len(pairs):
        return pd.DataFrame(columns=columns)
    design = ["point", "arm", "label", *results.factors, "reference_point"]
    t_level = 0.5 + confidence / 2
    rows = []
    for point, group in pairs.groupby("point", sort=True):
        spend = (group[SPEND_OUTCOME] - group[f"{SPEND_OUTCOME}_ref"]).to_numpy(dtype=float)
        for outcome in names:
            diff = (group[outcome] - group[f"{outcome}_ref"]).to_numpy(dtype=float)
            ok = np.isfinite(diff) & np.isfinite(spend)
            d, s = diff[ok], spend[ok]
            n = len(d)
            if not n:
                continue
            row = {"point": point, "outcome": outcome, "n": n,
                   "difference": d.mean(), "extra_spend": s.mean(),
                   "per_keur": math.nan, "ci_low": math.nan, "ci_high": math.nan}
            if s.mean() > 0:
                ratio = d.mean() / s.mean()
                row["per_keur"] = ratio
                if n > 1:
                    se = np.std(d - ratio * s, ddof=1) / (math.sqrt(n) * s.mean())
                    half = stats.t.ppf(t_level, n - 1) * se
                    row["ci_low"], row["ci_high"] = ratio - half, ratio + half
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pairs[design].drop_duplicates("point").merge(pd.DataFrame(rows), on="point")
    return _order_outcomes(table[columns])


def network_mode_axis(results: Results) -> str | None:
    """The design column that switches static and dynamic networks (a factor, or the arm),
    or None if the experiment does not vary the network mode."""
    for column in [*results.factors, "arm"]:
        if column not in results.summaries.columns:
            continue
        values = {str(v) for v in results.summaries[column].dropna().unique()}
        if {"static", "dynamic"} <= values and (
                values == {"static", "dynamic"} or column.endswith("network_mode")):
            return column
    return None


def network_gap(results: Results, outcomes: Sequence[str] | str | None = None,
                confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Static minus dynamic networks at every other design level, paired by replication
    (the test of H1: the gap should be negative where demand is volatile). Same columns as
    :func:`differences`; empty if the experiment does not vary the network mode."""
    axis = network_mode_axis(results)
    names = _outcome_list(results, outcomes)
    if axis is None:
        return _contrast(results, "arm", object(), [], confidence)
    table = _contrast(results, axis, "dynamic", names, confidence)
    return table[table[axis].astype(str) == "static"].reset_index(drop=True)


# --------------------------------------------------------------------------- time series


def band_table(results: Results, column: str, confidence: float = CONFIDENCE,
               include_initial: bool = False) -> pd.DataFrame:
    """Per design point and month: n, mean, sd and the 95% CI of a time-series column
    (for bands: the mean line with its interval).

    Month 0 is the initial state, recorded before any month ran: a monthly flow
    (:data:`FLOW_COLUMNS`, e.g. revenue) is 0 there by construction, so it is left out
    unless ``include_initial``; stocks and cumulative columns keep it."""
    series = results.timeseries
    if column not in series.columns:
        available = [c for c in series.columns if c not in (*RUN_DESIGN_COLUMNS, "step",
                                                             *results.factors)]
        raise KeyError(f"no time-series column {column!r}; the store has: "
                       f"{', '.join(available) or 'no time series'}")
    if column in FLOW_COLUMNS and not include_initial:
        series = series[series["step"] > 0]  # month 0 is the state before any month ran
    grouped = (series.groupby(["point", "step"], sort=True)[column]
               .agg(n="count", mean="mean", sd="std").reset_index())
    table = _points(results).merge(_add_ci(grouped, confidence), on="point", how="inner")
    return table.sort_values(["point", "step"]).reset_index(drop=True)


def shock_periods(results: Results) -> pd.DataFrame:
    """Per design point, each stretch of kept months with a shock active in any of its
    runs: ``start`` and ``end`` months (inclusive). With ``record_every`` > 1 the edges
    are as precise as the kept months."""
    columns = ["point", "arm", "label", *results.factors, "start", "end"]
    series = results.timeseries
    if "shock_active" not in series.columns or not len(series):
        return pd.DataFrame(columns=columns)
    active = (series.groupby(["point", "step"])["shock_active"].max() > 0).reset_index()
    rows = []
    for point, group in active.groupby("point", sort=True):
        steps = group["step"].to_numpy()
        on = group["shock_active"].to_numpy(dtype=bool)
        start = None
        for i, step in enumerate(steps):
            if on[i] and start is None:
                start = step
            if start is not None and (not on[i] or i == len(steps) - 1):
                end = step if on[i] else steps[i - 1]
                rows.append({"point": point, "start": int(start), "end": int(end)})
                start = None
    if not rows:
        return pd.DataFrame(columns=columns)
    return _points(results).merge(pd.DataFrame(rows), on="point")[columns]


# --------------------------------------------------------------------------- heat maps


def level_order(results: Results, column: str) -> list[Any]:
    """A design column's values in design order (the experiment file's level order for a
    factor, the order of first appearance otherwise)."""
    present = list(results.summaries.sort_values("point")[column].dropna().unique())
    declared = (results.meta.get("factors") or {}).get(column)
    if isinstance(declared, list):
        ordered = [v for v in declared if v in present]
        return ordered + [v for v in present if v not in ordered]
    return present


def heatmap_table(results: Results, outcome: str, x: str, y: str,
                  gap: bool = True) -> pd.DataFrame:
    """Mean ``outcome`` over two design columns (factors or ``arm``), pooled over
    everything else: a pivot with ``y`` levels as rows and ``x`` levels as columns.

    Where ``x`` or ``y`` is the network mode (static and dynamic) and ``gap`` is true, a
    row (or column) labelled ``"static − dynamic"`` is added: the difference of the means.
    """
    frame = results.summaries
    for name in (x, y):
        if name not in frame.columns:
            raise KeyError(f"no design column {name!r}; factors: "
                           f"{', '.join(['arm', *results.factors])}")
    _outcome_list(results, outcome)
    table = frame.pivot_table(index=y, columns=x, values=outcome, aggfunc="mean", dropna=False,
                              observed=True)
    table = table.reindex(index=level_order(results, y), columns=level_order(results, x))
    axis = network_mode_axis(results)
    if gap and axis in (x, y):
        if axis == y and {"static", "dynamic"} <= set(table.index.astype(str)):
            rows = {str(i): i for i in table.index}
            gap_row = table.loc[rows["static"]] - table.loc[rows["dynamic"]]
            table = pd.concat([table, gap_row.to_frame(NETWORK_GAP_LABEL).T])
        elif axis == x and {"static", "dynamic"} <= set(table.columns.astype(str)):
            cols = {str(c): c for c in table.columns}
            table[NETWORK_GAP_LABEL] = table[cols["static"]] - table[cols["dynamic"]]
    table.index.name, table.columns.name = y, x
    return table


# --------------------------------------------------------------------------- sensitivity


@dataclass
class _Stratum:
    """The samples of one arm and factor levels: its points in sample order and their X."""

    label: str
    points: pd.DataFrame
    x: np.ndarray


def _sample_design(results: Results) -> tuple[dict[str, Any], list[_Stratum]] | None:
    """The sampler's SALib problem and, per arm × factor levels, the points in sample order
    with their X (the stored sample matrix where the store keeps it, else the points'
    overrides)."""
    sampler = results.sampler
    if sampler is None:
        return None
    names = list(sampler.get("names") or [])
    bounds = [list(map(float, b)) for b in sampler.get("bounds") or []]
    if not names or len(bounds) != len(names):
        logger.warning("sampler in %s has no usable names and bounds", results.path)
        return None
    source = results.runs if len(results.runs) else results.summaries
    if not len(source):
        return None
    first = source.sort_values("point").drop_duplicates("point")
    matrix = np.asarray(sampler.get("matrix") or [], dtype=float)
    has_sample = "sample" in first.columns and first["sample"].notna().all()
    others = ["arm", *[f for f in results.factors if f != "sample"]]
    strata = []
    for key, group in first.groupby(others, sort=False, dropna=False):
        group = group.sort_values(["sample", "point"] if has_sample else ["point"])
        values = key if isinstance(key, tuple) else (key,)
        label = " | ".join([str(values[0]), *(f"{f}={v}" for f, v in
                                              zip(others[1:], values[1:], strict=True))])
        if has_sample and matrix.ndim == 2 and matrix.shape[1] == len(names) and \
                group["sample"].astype(int).max() < len(matrix):
            x = matrix[group["sample"].astype(int).to_numpy()]
        else:
            x = _x_from_overrides(results, group, names)
            if x is None:
                return None
        strata.append(_Stratum(label, group[["point"]].reset_index(drop=True), x))
    return {"num_vars": len(names), "names": names, "bounds": bounds}, strata


def _x_from_overrides(results: Results, points: pd.DataFrame,
                      names: list[str]) -> np.ndarray | None:
    if "overrides" not in points.columns:
        return None
    rows = []
    for point, text in zip(points["point"], points["overrides"], strict=True):
        override = _loads(text)
        if any(override.get(name) is None for name in names):
            logger.warning("%s: point %s lacks a sampled parameter in its overrides",
                           results.path, point)
            return None
        rows.append([float(override[name]) for name in names])
    return np.asarray(rows, dtype=float).reshape(-1, len(names))


def _sample_outputs(results: Results, points: pd.DataFrame, outcome: str) -> np.ndarray:
    """Mean of ``outcome`` over each point's done replications, in sample order."""
    means = results.summaries.groupby("point")[outcome].mean()
    return points["point"].map(means).to_numpy(dtype=float)


def _sensitivity_outcomes(results: Results, outcome: Sequence[str] | str | None) -> list[str]:
    names = _outcome_list(results, outcome)
    return [o for o in names if results.summaries[o].nunique(dropna=True) > 1]


def morris_table(results: Results, outcome: Sequence[str] | str | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """SALib Morris screening on the stored design: per outcome and parameter ``mu``,
    ``mu_star`` (mean absolute elementary effect: overall influence), ``mu_star_conf``
    (95% bootstrap half-width) and ``sigma`` (spread of the effects: interactions or
    non-linearity). X is the stored sample (or each point's overrides), Y the mean over
    replications; trajectories with a failed or NaN point are left out (``trajectories``
    counts those used). ``stratum`` names the arm and factor levels the samples ran
    under. Empty unless the experiment used a Morris sampler."""
    from SALib.analyze import morris

    columns = ["stratum", "outcome", "parameter", "mu", "mu_star", "mu_star_conf", "sigma",
               "trajectories"]
    design = _sample_design(results)
    if design is None or _method(results) != "morris":
        return pd.DataFrame(columns=columns)
    problem, strata = design
    size = problem["num_vars"] + 1
    num_levels = int(results.sampler.get("num_levels") or 4)
    rows = []
    for stratum in strata:
        x = stratum.x
        if len(x) % size:
            logger.warning("%s: %d Morris points is not a whole number of trajectories of %d",
                           results.path, len(x), size)
            continue
        for name in _sensitivity_outcomes(results, outcome):
            y = _sample_outputs(results, stratum.points, name)
            keep = np.isfinite(y.reshape(-1, size)).all(axis=1)
            if not keep.any():
                continue
            xs = x.reshape(-1, size, x.shape[1])[keep].reshape(-1, x.shape[1])
            ys = y.reshape(-1, size)[keep].ravel()
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # one trajectory: sigma NaN
                si = morris.analyze(problem, xs, ys, num_levels=num_levels, seed=seed)
            for i, parameter in enumerate(problem["names"]):
                rows.append({"stratum": stratum.label, "outcome": name, "parameter": parameter,
                             "mu": float(si["mu"][i]), "mu_star": float(si["mu_star"][i]),
                             "mu_star_conf": float(si["mu_star_conf"][i]),
                             "sigma": float(si["sigma"][i]), "trajectories": int(keep.sum())})
    if not rows:
        return pd.DataFrame(columns=columns)
    return _sort_sensitivity(pd.DataFrame(rows, columns=columns), "mu_star")


def sobol_table(results: Results, outcome: Sequence[str] | str | None = None,
                seed: int = 0) -> pd.DataFrame:
    """SALib Sobol indices on the stored Saltelli design: per outcome and parameter
    ``S1`` (first-order share of the variance) and ``ST`` (total, with interactions), with
    95% bootstrap half-widths. Blocks with a failed or NaN point are left out. Empty
    unless the experiment used a Sobol sampler."""
    from SALib.analyze import sobol

    columns = ["stratum", "outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"]
    design = _sample_design(results)
    if design is None or _method(results) != "sobol":
        return pd.DataFrame(columns=columns)
    problem, strata = design
    d = problem["num_vars"]
    rows = []
    for stratum in strata:
        n = len(stratum.points)
        second = results.sampler.get("calc_second_order")
        if second is None:
            second = n % (2 * d + 2) == 0
        size = 2 * d + 2 if second else d + 2
        if n % size:
            logger.warning("%s: %d Sobol points is not a whole number of blocks of %d",
                           results.path, n, size)
            continue
        for name in _sensitivity_outcomes(results, outcome):
            y = _sample_outputs(results, stratum.points, name).reshape(-1, size)
            y = y[np.isfinite(y).all(axis=1)].ravel()
            if not len(y):
                continue
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                si = sobol.analyze(problem, y, calc_second_order=bool(second), seed=seed)
            for i, parameter in enumerate(problem["names"]):
                rows.append({"stratum": stratum.label, "outcome": name, "parameter": parameter,
                             "S1": float(si["S1"][i]), "S1_conf": float(si["S1_conf"][i]),
                             "ST": float(si["ST"][i]), "ST_conf": float(si["ST_conf"][i])})
    if not rows:
        return pd.DataFrame(columns=columns)
    return _sort_sensitivity(pd.DataFrame(rows, columns=columns), "ST")


def rank_correlation_table(results: Results,
                           outcome: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Spearman rank correlation of each sampled parameter with each outcome over the
    design points (outcome averaged over replications): a simple sensitivity measure for
    Latin hypercube (or any) samples. Columns ``stratum, outcome, parameter, rho,
    p_value, n``."""
    columns = ["stratum", "outcome", "parameter", "rho", "p_value", "n"]
    design = _sample_design(results)
    if design is None:
        return pd.DataFrame(columns=columns)
    problem, strata = design
    rows = []
    for stratum in strata:
        x = stratum.x
        for name in _sensitivity_outcomes(results, outcome):
            y = _sample_outputs(results, stratum.points, name)
            ok = np.isfinite(y)
            for i, parameter in enumerate(problem["names"]):
                if ok.sum() < 3 or np.ptp(x[ok, i]) == 0 or np.ptp(y[ok]) == 0:
                    rho, p = math.nan, math.nan
                else:
                    result = stats.spearmanr(x[ok, i], y[ok])
                    rho, p = float(result.statistic), float(result.pvalue)
                rows.append({"stratum": stratum.label, "outcome": name, "parameter": parameter,
                             "rho": rho, "p_value": p, "n": int(ok.sum())})
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows, columns=columns)
    return _sort_sensitivity(table.assign(_abs=table["rho"].abs()), "_abs").drop(columns="_abs")


def sensitivity_table(results: Results,
                      outcome: Sequence[str] | str | None = None) -> tuple[str, pd.DataFrame]:
    """The sampler's own analysis: ("morris", morris_table), ("sobol", sobol_table), or
    ("spearman", rank_correlation_table) for other samplers; ("", empty) without one."""
    method = _method(results)
    if method == "morris":
        return method, morris_table(results, outcome)
    if method == "sobol":
        return method, sobol_table(results, outcome)
    if method:
        return "spearman", rank_correlation_table(results, outcome)
    return "", pd.DataFrame()


def _method(results: Results) -> str:
    sampler = results.sampler
    return str(sampler.get("method", "")).lower() if sampler else ""


def _sort_sensitivity(table: pd.DataFrame, key: str) -> pd.DataFrame:
    rank = {name: i for i, name in enumerate(OUTCOMES)}
    strata = {label: i for i, label in enumerate(dict.fromkeys(table["stratum"]))}
    return (table.assign(_rank=table["outcome"].map(lambda o: rank.get(o, len(rank))),
                         _stratum=table["stratum"].map(strata))
            .sort_values(["_stratum", "_rank", key], ascending=[True, True, False],
                         kind="stable")
            .drop(columns="_stratum")
            .drop(columns="_rank").reset_index(drop=True))
