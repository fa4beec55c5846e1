"""The DuckDB results store: one transaction per run, safe against crashes, never repaired."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from store_fixtures import digest

from clustersim.experiments.execute import versions
from clustersim.experiments.spec import STORE_SCHEMA_VERSION, RunResult, RunSpec, schema_sql
from clustersim.experiments.store import ResultsStore, StoreError
from clustersim.metrics import COLUMNS
from clustersim.outcomes import OUTCOMES

META = {
    "experiment": "tiny",
    "fingerprint": "f" * 32,
    "baseline_arm": "baseline",
    "steps": "12",
    "experiment_toml": 'name = "tiny"\nsteps = 12\nreplications = 2\n',
}


def spec(point: int = 0, replication: int = 0, steps: int = 12) -> RunSpec:
    return RunSpec(
        experiment="tiny",
        point=point,
        arm=f"arm{point}",
        label=f"arm{point}",
        levels={"shock": "none"},
        scenario="baseline",
        overrides={"firms.count": 40 + point},
        replication=replication,
        seed=1000 + replication,
        steps=steps,
        record_every=1,
    )


def done(s: RunSpec, months: int | None = None) -> RunResult:
    """A done result with made-up numbers (seeded by the run), no model run needed."""
    rng = np.random.default_rng(s.seed + 7 * s.point)
    n = (s.steps if months is None else months) + 1
    frame = pd.DataFrame(rng.random((n, len(COLUMNS))), columns=COLUMNS)
    frame.insert(0, "step", np.arange(n))
    frame.loc[0, "cost_per_innovation"] = np.nan
    summary = {name: float(rng.random()) for name in OUTCOMES}
    summary["shock_depth"] = math.nan
    return RunResult(
        run_id=s.run_id,
        status="done",
        summary=summary,
        timeseries=frame,
        seconds=0.5,
        started=time.time(),
        host="test",
        versions=versions(),
    )


def failed(s: RunSpec, error: str = "RuntimeError: boom") -> RunResult:
    return RunResult(
        run_id=s.run_id,
        status="failed",
        summary={},
        timeseries=None,
        seconds=0.1,
        started=time.time(),
        host="test",
        versions=versions(),
        error=error,
    )


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    with ResultsStore.open_for_sweep(path, META) as store:
        store.record(spec(0, 0), done(spec(0, 0)))
        store.record(spec(1, 0), failed(spec(1, 0)))
    return path


# --------------------------------------------------------------------------- writing


def test_new_store_has_tables_meta_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "new.duckdb"
    with ResultsStore.open_for_sweep(path, META) as store:
        assert store.meta() == {**META, "schema_version": str(STORE_SCHEMA_VERSION)}
        assert store.finished_ids() == set() and store.failed_ids() == set()
    assert sorted(p.name for p in path.parent.iterdir()) == ["new.duckdb"]  # no temp file left


def test_record_writes_run_summary_and_timeseries(store_path: Path) -> None:
    s0, s1 = spec(0, 0), spec(1, 0)
    with ResultsStore.open_read_only(store_path) as store:
        assert store.finished_ids() == {s0.run_id}
        assert store.failed_ids() == {s1.run_id}
        runs = store.runs().set_index("run_id")
        assert runs.loc[s1.run_id, "error"] == "RuntimeError: boom"
        assert runs.loc[s0.run_id, "attempts"] == 1
        assert list(store.summaries()["run_id"]) == [s0.run_id]  # a failed run has no summary
        series = store.timeseries()
        assert set(series["run_id"]) == {s0.run_id} and len(series) == 13
        expected = done(s0)
        pd.testing.assert_series_equal(
            series["revenue"], expected.timeseries["revenue"], check_names=False
        )
        # NaN is stored as NULL, so SQL aggregates skip it
        assert (
            store.query("SELECT count(*) AS n FROM summaries WHERE shock_depth IS NULL")["n"][0]
            == 1
        )
        assert store.query("SELECT count(cost_per_innovation) AS n FROM timeseries")["n"][0] == 12
        assert store.spec(s0.run_id) == s0  # a run can be reproduced from its row


def test_retrying_a_failed_run_replaces_it_and_counts_attempts(store_path: Path) -> None:
    s1 = spec(1, 0)
    with ResultsStore.open_for_sweep(store_path, META) as store:
        store.record(s1, failed(s1, "RuntimeError: again"))
        assert store.runs().set_index("run_id").loc[s1.run_id, "attempts"] == 2
        store.record(s1, done(s1))
        runs = store.runs().set_index("run_id")
        assert runs.loc[s1.run_id, "attempts"] == 3 and runs.loc[s1.run_id, "status"] == "done"
        assert pd.isna(runs.loc[s1.run_id, "error"])
        assert store.failed_ids() == set() and len(store.finished_ids()) == 2
        assert len(store.runs()) == 2 and len(store.summaries()) == 2
        assert len(store.timeseries()) == 26


def test_a_run_that_fails_to_store_leaves_nothing(store_path: Path) -> None:
    s = spec(2, 0)
    bad = done(s)
    bad.timeseries = pd.concat([bad.timeseries, bad.timeseries.tail(1)])  # duplicate month
    with ResultsStore.open_for_sweep(store_path, META) as store:
        with pytest.raises(duckdb.ConstraintException):
            store.record(s, bad)
        assert s.run_id not in store.finished_ids() | store.failed_ids()
        counts = store.query(
            "SELECT (SELECT count(*) FROM runs) AS runs, "
            "(SELECT count(*) FROM summaries) AS summaries, "
            "(SELECT count(*) FROM timeseries) AS series"
        )
        assert counts.iloc[0].tolist() == [2, 1, 13]
        store.record(s, done(s))  # the store still works afterwards
        assert s.run_id in store.finished_ids()


def test_more_replications_may_be_added_to_a_store(store_path: Path) -> None:
    with ResultsStore.open_for_sweep(store_path, META) as store:
        store.record(spec(0, 5), done(spec(0, 5)))
        assert len(store.finished_ids()) == 2


def test_read_only_store_refuses_writes(store_path: Path) -> None:
    with (
        ResultsStore.open_read_only(store_path) as store,
        pytest.raises(StoreError, match="read-only"),
    ):
        store.record(spec(3, 0), done(spec(3, 0)))


# --------------------------------------------------------------------------- refusing


def test_store_of_another_experiment_is_refused_unchanged(store_path: Path) -> None:
    before = digest(store_path)
    other = {**META, "experiment": "static_vs_dynamic"}
    with pytest.raises(StoreError) as info:
        ResultsStore.open_for_sweep(store_path, other)
    message = str(info.value)
    assert str(store_path) in message
    assert "written by experiment 'tiny', not 'static_vs_dynamic'" in message
    assert "--store OTHER.duckdb" in message
    assert digest(store_path) == before


def test_store_with_other_steps_says_so(store_path: Path) -> None:
    before = digest(store_path)
    other = {**META, "fingerprint": "0" * 32, "steps": "24"}
    with pytest.raises(StoreError, match=r"written with steps=12; this sweep has steps=24"):
        ResultsStore.open_for_sweep(store_path, other)
    changed = {
        **META,
        "fingerprint": "0" * 32,
        "experiment_toml": META["experiment_toml"].replace("steps = 12", "steps = 30"),
    }
    with pytest.raises(StoreError, match=r"experiment file differs.*steps = 12 → now steps = 30"):
        ResultsStore.open_for_sweep(store_path, changed)
    assert digest(store_path) == before


def test_steps_are_read_from_the_runs_when_meta_lacks_them(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    meta = {k: v for k, v in META.items() if k != "steps"}
    with ResultsStore.open_for_sweep(path, meta) as store:
        store.record(spec(0, 0, steps=120), done(spec(0, 0, steps=120)))
    with pytest.raises(StoreError, match=r"written with steps=120; this sweep has steps=24"):
        ResultsStore.open_for_sweep(path, {**meta, "fingerprint": "1" * 32, "steps": "24"})


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 300)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _not_ours(path: Path) -> None:
    path.unlink()
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()


def _old_version(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (_garbage, "not a DuckDB file"),
        (_empty, "not a DuckDB file"),
        (_truncated, "truncated or damaged"),
        (_not_ours, "not a clustersim results store (no table meta, runs, summaries, timeseries)"),
        (_old_version, "store format version 0, this clustersim reads version"),
    ],
)
def test_unusable_store_is_refused_and_left_as_it_is(store_path: Path, damage, fragment) -> None:
    damage(store_path)
    before = digest(store_path)
    for opener in (
        lambda: ResultsStore.open_read_only(store_path),
        lambda: ResultsStore.open_for_sweep(store_path, META),
    ):
        with pytest.raises(StoreError) as info:
            opener()
        assert fragment in str(info.value) and str(store_path) in str(info.value)
    assert digest(store_path) == before


def test_missing_store_and_folder(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such file"):
        ResultsStore.open_read_only(tmp_path / "none.duckdb")
    assert not (tmp_path / "none.duckdb").exists()
    with pytest.raises(StoreError, match="is a folder"):
        ResultsStore.open_read_only(tmp_path)


def test_store_missing_an_outcome_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    for statement in schema_sql():
        con.execute(statement)
    con.execute("ALTER TABLE summaries DROP COLUMN recovered")
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)",
        [[k, v] for k, v in {**META, "schema_version": "1"}.items()],
    )
    con.close()
    before = digest(path)
    with pytest.raises(StoreError, match="summaries table has no column recovered"):
        ResultsStore.open_for_sweep(path, META)
    assert digest(path) == before


def test_a_store_locked_by_a_writer_says_so(store_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(store_path)!r})
            print("open", flush=True)
            time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match="in use by another process"):
            ResultsStore.open_read_only(store_path)
    finally:
        holder.kill()
        holder.wait()


# --------------------------------------------------------------------------- export


def test_export_parquet_round_trip(store_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    with ResultsStore.open_read_only(store_path) as store:
        written = store.export_parquet(out)
        tables = {
            "runs": store.runs(),
            "summaries": store.summaries(),
            "timeseries": store.timeseries(),
            "meta": store.query("SELECT * FROM meta ORDER BY key"),
        }
    assert (
        sorted(p.name for p in out.iterdir())
        == sorted(p.name for p in written)
        == ["meta.parquet", "runs.parquet", "summaries.parquet", "timeseries.parquet"]
    )
    for name, frame in tables.items():
        back = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(
            back.reset_index(drop=True), frame.reset_index(drop=True), check_dtype=False
        )
    # exporting again replaces the files in place
    with ResultsStore.open_read_only(store_path) as store:
        store.export_parquet(out)
    assert len(list(out.iterdir())) == 4


# --------------------------------------------------------------------------- crashes

WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_store import META, spec, done, failed
from clustersim.experiments.store import ResultsStore
with ResultsStore.open_for_sweep({path!r}, META) as store:
    for i in range(10_000):
        s = spec(i % 7, i // 7, steps=120)
        store.record(s, done(s) if i % 5 else failed(s))
        print(i, flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [0.0, 0.4, 1.3])
def test_sigkill_at_any_moment_leaves_only_whole_runs(tmp_path: Path, kill_after: float) -> None:
    path = tmp_path / "crash.duckdb"
    code = WRITER.format(tests=str(Path(__file__).parent), path=str(path))
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    first = writer.stdout.readline()  # the store exists and one run is committed
    assert first.strip() == "0"
    time.sleep(kill_after)
    os.kill(writer.pid, signal.SIGKILL)
    printed = [first, *writer.stdout.readlines()]
    writer.wait()
    committed = int(printed[-1])  # every printed run had committed
    with ResultsStore.open_read_only(path) as store:
        runs = store.runs()
        check = (
            store.query("""
            SELECT
              (SELECT count(*) FROM summaries WHERE run_id NOT IN
                 (SELECT run_id FROM runs WHERE status = 'done')) AS orphan_summaries,
              (SELECT count(*) FROM timeseries WHERE run_id NOT IN
                 (SELECT run_id FROM runs WHERE status = 'done')) AS orphan_series,
              (SELECT count(*) FROM runs WHERE status = 'done' AND run_id NOT IN
                 (SELECT run_id FROM summaries)) AS done_without_summary,
              (SELECT count(*) FROM (SELECT run_id FROM timeseries GROUP BY run_id
                 HAVING count(*) <> 121)) AS partial_series
        """)
            .iloc[0]
            .to_dict()
        )
    assert len(runs) >= committed + 1
    assert runs["run_id"].is_unique
    assert check == {
        "orphan_summaries": 0,
        "orphan_series": 0,
        "done_without_summary": 0,
        "partial_series": 0,
    }
    # the store takes new runs after the crash
    with ResultsStore.open_for_sweep(path, META) as store:
        store.record(spec(9, 999), done(spec(9, 999)))
