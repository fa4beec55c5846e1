"""``clustersim sweep`` and ``clustersim export``: checks first, resumes, never damages a store."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from store_fixtures import digest
from typer.testing import CliRunner

import clustersim
from clustersim import cli
from clustersim.experiments.store import ResultsStore

runner = CliRunner()

TINY = """\
name = "tiny"
master_seed = 11
replications = {replications}
steps = 12
record_every = 3

[common]
"firms.count" = 40

[[arms]]
name = "baseline"
scenario = "baseline"

[[arms]]
name = "volatile"
scenario = "baseline"
set = {{ "market.volatility" = 0.4 }}
"""


# The tests that interrupt a sweep part-way need runs long enough that it is still running
# when the test reacts to its progress line (tiny runs take ~20 ms: on a loaded machine the
# whole sweep could end first): 150 firms over 60 months, still 5 recorded months a run.
KILLABLE = (TINY.replace("steps = 12", "steps = 60").replace("record_every = 3", "record_every = 15")
            .replace('"firms.count" = 40', '"firms.count" = 150'))


def write_experiment(
    folder: Path, replications: int = 2, name: str = "tiny.toml", text: str | None = None
) -> Path:
    path = folder / name
    path.write_text(
        text if text is not None else TINY.format(replications=replications), encoding="utf-8"
    )
    return path


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with ResultsStore.open_read_only(path) as store:
        return store.runs(), store.summaries(), store.timeseries()


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_experiment(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["missing.toml"], "missing.toml: file not found"),
        (["bad.toml"], "unknown key 'replicatons'"),
        (["tiny.toml", "--set", "market.volatilty=0.3"], "did you mean 'volatility'"),
        (["tiny.toml", "--set", "firms.count=1"], "firms.count"),
        (["tiny.toml", "--steps", "0"], "--steps 0 is not allowed"),
        (["tiny.toml", "--backend", "threads"], "--backend 'threads' is not allowed"),
        (["tiny.toml", "--scheduler", "tcp://localhost:8786"], "--scheduler is for --backend dask"),
        (["tiny.toml", "--backend", "serial", "--workers", "2"], "--workers is for"),
        (["tiny.toml", "--store", "afile/x.duckdb"], "afile is a file, not a folder"),
        (["tiny.toml", "--store", "."], "is a folder"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(here: Path, args: list[str], fragment: str) -> None:
    write_experiment(
        here,
        name="bad.toml",
        text=TINY.format(replications=2).replace("replications", "replicatons"),
    )
    (here / "afile").write_text("x")
    before = sorted(p.name for p in here.iterdir())
    result = invoke("sweep", *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert result.stderr.startswith("error: ") and result.stdout == ""
    assert sorted(p.name for p in here.iterdir()) == before


def test_dry_run_lists_points_and_writes_nothing(here: Path) -> None:
    result = invoke("sweep", "tiny.toml", "--dry-run", "--workers", "2")
    assert result.exit_code == 0, result.output
    for fragment in (
        "baseline",
        "volatile",
        "runs in the design: 4",
        "results/tiny.duckdb (new)",
        "estimated wall time with processes on 2 workers",
        "nothing was run",
    ):
        assert fragment in result.stdout
    assert not (here / "results").exists()


def dry_run_store(*args: str) -> tuple[str, str]:
    """The store ``clustersim sweep tiny.toml --dry-run ARGS`` names, and its output."""
    result = invoke("sweep", "tiny.toml", "--dry-run", *args)
    assert result.exit_code == 0, result.output
    match = re.search(r"store: (\S+) \(new\)", result.stdout)
    assert match, result.stdout
    return match.group(1), result.stdout


def test_a_trial_with_other_steps_or_values_gets_its_own_store(here: Path) -> None:
    trial, out = dry_run_store("--steps", "6", "--set", "market.volatility=0.3")
    assert re.fullmatch(r"results/tiny-trial-[0-9a-f]{8}\.duckdb", trial)
    assert "a trial: steps=6, market.volatility=0.3 (kept in the store's meta)" in out
    # the same trial, however written, finds the same store; more replications too
    assert dry_run_store("--set", "volatility=0.3", "--steps", "6", "--replications", "5")[0] == trial
    assert dry_run_store("--steps", "6")[0] not in (trial, "results/tiny.duckdb")
    study, out = dry_run_store("--steps", "12")  # the file's own steps: the study itself
    assert study == "results/tiny.duckdb" and "a trial" not in out


# --------------------------------------------------------------------------- sweeping


def test_sweep_stores_runs_and_a_rerun_resumes(here: Path) -> None:
    result = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert result.exit_code == 0, result.output
    assert "next: clustersim report results/tiny.duckdb -o report.html" in result.stdout
    assert re.search(r"done in this sweep\s*│\s*4", result.stdout)
    assert "[4/4] done: volatile · replication 1" in result.stderr
    runs, summaries, series = tables(here / "results" / "tiny.duckdb")
    assert len(runs) == len(summaries) == 4 and set(runs["status"]) == {"done"}
    assert len(series) == 4 * 5
    with ResultsStore.open_read_only(here / "results" / "tiny.duckdb") as store:
        assert set(store.meta()) >= {
            "experiment",
            "fingerprint",
            "experiment_toml",
            "steps",
            "schema_version",
            "baseline_arm",
        }

    again = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert again.exit_code == 0
    assert "no runs to make, 4 already done" in again.stderr
    assert re.search(r"already done \(skipped\)\s*│\s*4", again.stdout)

    write_experiment(here, replications=3)  # more replications go into the same store
    more = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert more.exit_code == 0, more.output
    assert "2 runs to make on serial (1 worker), 4 already done" in more.stderr


def test_failed_runs_are_stored_and_give_exit_code_3(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clustersim.experiments import execute

    real = execute.build_model

    def fail_second_replication(spec):
        if spec.replication == 1:
            raise RuntimeError("made to fail in the test")
        return real(spec)

    monkeypatch.setattr(execute, "build_model", fail_second_replication)
    result = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert result.exit_code == cli.EXIT_FAILED_RUNS == 3
    assert "RuntimeError: made to fail in the test" in result.stdout
    assert "--retry-failed" in result.stdout
    runs, _, _ = tables(here / "results" / "tiny.duckdb")
    assert sorted(runs["status"]) == ["done", "done", "failed", "failed"]

    again = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert again.exit_code == 3 and "2 failed before (not retried)" in again.stderr

    monkeypatch.setattr(execute, "build_model", real)
    retried = invoke("sweep", "tiny.toml", "--backend", "serial", "--retry-failed")
    assert retried.exit_code == 0, retried.output
    runs, summaries, _ = tables(here / "results" / "tiny.duckdb")
    assert set(runs["status"]) == {"done"} and len(summaries) == 4
    assert sorted(runs["attempts"]) == [1, 1, 2, 2]


# --------------------------------------------------------------------------- stores refused


@pytest.fixture
def swept(here: Path) -> Path:
    result = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert result.exit_code == 0, result.output
    return here / "results" / "tiny.duckdb"


def test_store_of_other_runs_is_refused_unchanged(swept: Path, here: Path) -> None:
    before = digest(swept)
    result = invoke("sweep", "tiny.toml", "--steps", "6", "--store", str(swept))
    assert result.exit_code == 2
    assert "written with steps=12; this sweep has steps=6" in result.stderr
    assert "--store OTHER.duckdb" in result.stderr
    write_experiment(
        here, name="other.toml", text=TINY.format(replications=2).replace('"tiny"', '"other"')
    )
    result = invoke("sweep", "other.toml", "--store", str(swept), "--dry-run")
    assert result.exit_code == 2
    assert "written by experiment 'tiny', not 'other'" in result.stderr
    assert digest(swept) == before


@pytest.mark.parametrize(
    "content", [b"", b"SQLite format 3\x00" + b"\x00" * 5000, b"garbage" * 1000]
)
def test_corrupt_store_is_refused_unchanged(here: Path, content: bytes) -> None:
    store = here / "broken.duckdb"
    store.write_bytes(content)
    before = digest(store)
    for args in (
        ["sweep", "tiny.toml", "--store", "broken.duckdb"],
        ["sweep", "tiny.toml", "--store", "broken.duckdb", "--dry-run"],
        ["export", "broken.duckdb", "--parquet", "out"],
    ):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert "not a DuckDB file" in result.stderr and "broken.duckdb" in result.stderr
    assert digest(store) == before
    assert not (here / "out").exists() and not (here / "results").exists()


def test_truncated_store_is_refused_unchanged(swept: Path) -> None:
    data = swept.read_bytes()
    swept.write_bytes(data[: len(data) // 2])
    before = digest(swept)
    result = invoke("sweep", "tiny.toml", "--store", str(swept))
    assert result.exit_code == 2 and "truncated" in result.stderr
    assert digest(swept) == before


def test_export_parquet(swept: Path, here: Path) -> None:
    result = invoke("export", str(swept), "--parquet", "parquet")
    assert result.exit_code == 0, result.output
    runs, summaries, series = tables(swept)
    for name, frame in (("runs", runs), ("summaries", summaries), ("timeseries", series)):
        back = duckdb.sql(f"SELECT * FROM '{here / 'parquet' / name}.parquet'").df()
        pd.testing.assert_frame_equal(back, frame)
        assert len(pd.read_parquet(here / "parquet" / f"{name}.parquet")) == len(frame)
    missing = invoke("export", "nope.duckdb", "--parquet", "parquet2")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not (here / "parquet2").exists()
    onto_file = invoke("export", str(swept), "--parquet", "tiny.toml")
    assert onto_file.exit_code == 2 and "not a folder" in onto_file.stderr


# --------------------------------------------------------------------------- from Python


def comparable(path: Path) -> tuple[dict[str, str], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A store's meta and tables, without what differs between two sweeps of the same runs."""
    with ResultsStore.open_read_only(path) as store:
        meta = store.meta()
    runs, summaries, series = tables(path)
    return meta, runs.drop(columns=["started", "seconds"]), summaries, series


def test_run_experiment_writes_the_store_the_cli_writes_and_resumes(here: Path) -> None:
    from clustersim.experiments.sweep import SweepResult

    trial = {"steps": 6, "overrides": {"firms.count": 30}}
    by_cli = invoke(
        "sweep", "tiny.toml", "--backend", "serial", "--steps", "6", "--set", "firms.count=30"
    )
    assert by_cli.exit_code == 0, by_cli.output
    cli_store = Path(re.search(r"store: (\S+)", by_cli.stdout).group(1))
    assert cli_store.parent == Path("results") and cli_store.name.startswith("tiny-trial-")

    result = clustersim.run_experiment("tiny.toml", "python.duckdb", "serial", **trial)
    assert isinstance(result, SweepResult) and result.store == Path("python.duckdb")
    assert (result.done, result.failed, result.skipped, result.complete) == (4, 0, 0, True)
    assert result.trial == {"steps": 6, "firms.count": 30} and result.seconds > 0
    cli_meta, *cli_tables = comparable(cli_store)
    py_meta, *py_tables = comparable(here / "python.duckdb")
    assert py_meta == cli_meta and json.loads(py_meta["overrides"]) == {"firms.count": 30}
    for ours, theirs in zip(py_tables, cli_tables, strict=True):
        pd.testing.assert_frame_equal(ours, theirs)

    again = clustersim.run_experiment("tiny.toml", "python.duckdb", "serial", **trial)
    assert (again.done, again.failed, again.skipped, again.complete) == (0, 0, 4, True)
    assert set(tables(here / "python.duckdb")[0]["attempts"]) == {1}  # nothing ran again
    # without a store it finds the CLI's: the same sweep has the same default store
    found = clustersim.run_experiment("tiny.toml", backend="serial", **trial)
    assert (found.store, found.done, found.skipped) == (cli_store, 0, 4)


def test_run_experiment_checks_everything_before_it_writes(here: Path) -> None:
    from clustersim.experiments.design import ExperimentError
    from clustersim.experiments.spec import StoreError
    from clustersim.experiments.sweep import SweepOptionError

    before = sorted(p.name for p in here.iterdir())
    with pytest.raises(SweepOptionError, match="--backend 'threads' is not allowed"):
        clustersim.run_experiment("tiny.toml", backend="threads")
    with pytest.raises(ExperimentError, match="did you mean 'volatility'"):
        clustersim.run_experiment("tiny.toml", overrides={"market.volatilty": 0.3})
    with pytest.raises(StoreError, match="is a folder"):
        clustersim.run_experiment("tiny.toml", here, "serial")
    assert sorted(p.name for p in here.iterdir()) == before


def test_run_experiment_interrupted_keeps_what_it_stored(here: Path) -> None:
    from clustersim.experiments.sweep import ExperimentInterrupted

    class StopAfterTwo:
        def start(self, plan) -> None:
            pass

        def advance(self, spec, result, summary) -> None:
            if summary.finished == 2:
                raise KeyboardInterrupt

        def stop(self) -> None:
            pass

    with pytest.raises(ExperimentInterrupted) as info:
        clustersim.run_experiment("tiny.toml", backend="serial", progress=StopAfterTwo())
    stopped = info.value.result
    assert (stopped.finished, stopped.stored, stopped.total) == (2, 2, 4)
    assert stopped.store == Path("results/tiny.duckdb") and not stopped.complete
    assert len(tables(here / stopped.store)[0]) == 2
    rest = clustersim.run_experiment("tiny.toml", backend="serial")
    assert (rest.done, rest.skipped, rest.complete) == (2, 2, True)


# --------------------------------------------------------------------------- kill and resume


# Ctrl-C handled and not blocked, as from a terminal: a child inherits an ignored or blocked
# SIGINT from its parent (a test worker), so the sweep's interpreter sets it up itself.
SWEEP = """\
import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
sys.argv = ["clustersim", *sys.argv[1:]]
runpy.run_module("clustersim.cli", run_name="__main__")
"""


def start_sweep(folder: Path, *args: str) -> subprocess.Popen:
    """``clustersim sweep`` in a subprocess (own process group, so cleanup finds its workers)."""
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP, "sweep", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_line(process: subprocess.Popen, pattern: str, timeout: float = 120) -> list[str]:
    """The sweep's stderr lines up to the first matching ``pattern``.

    A sweep that hangs without a word would block ``readline`` for ever, so after
    ``timeout`` seconds its whole process group is killed: the pipe closes and the test
    fails here instead of hanging CI."""
    assert process.stderr is not None
    seen: list[str] = []
    watchdog = threading.Timer(timeout, lambda: end_group(process))
    watchdog.start()
    try:
        while True:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if re.match(pattern, line):
                return seen
    finally:
        watchdog.cancel()
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s in:\n{''.join(seen)}")


def end_group(process: subprocess.Popen) -> None:
    """Stop what is left of a sweep this test started (orphaned workers included)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def workers_gone(group: int, within: float) -> bool:
    """Whether no live process is left in the process group ``group`` within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        live = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":  # pgrp; not a zombie
                live.append(entry.name)
        if not live:
            return True
        time.sleep(0.2)
    return False


def check_store_whole(path: Path, runs_expected: int, months_kept: int) -> None:
    runs, summaries, series = tables(path)
    assert len(runs) == runs_expected and runs["run_id"].is_unique
    assert set(runs["status"]) == {"done"}
    assert sorted(summaries["run_id"]) == sorted(runs["run_id"])
    counts = series.groupby("run_id").size()
    assert sorted(counts.index) == sorted(runs["run_id"])  # no orphan rows
    assert set(counts) == {months_kept}  # no half-written series


@pytest.mark.slow
def test_sigkill_part_way_then_rerun_gives_the_uninterrupted_results(here: Path) -> None:
    write_experiment(here, text=KILLABLE.format(replications=8))  # 16 runs
    sweep = start_sweep(here, "tiny.toml", "--workers", "2")
    try:
        wait_for_line(sweep, r"\[4/16\] done")  # printed after the 4th run committed
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=30)
        assert workers_gone(sweep.pid, within=10)  # orphaned workers stop by themselves
    finally:
        end_group(sweep)
    store = here / "results" / "tiny.duckdb"
    runs, _, _ = tables(store)
    assert 4 <= len(runs) < 16  # killed part-way, with what had committed

    resumed = invoke("sweep", "tiny.toml", "--backend", "serial")
    assert resumed.exit_code == 0, resumed.output
    assert (
        f"{16 - len(runs)} runs to make on serial (1 worker), {len(runs)} already done"
        in resumed.stderr
    )
    check_store_whole(store, 16, 5)

    reference = invoke("sweep", "tiny.toml", "--backend", "serial", "--store", "ref.duckdb")
    assert reference.exit_code == 0
    _, summaries, series = tables(store)
    _, ref_summaries, ref_series = tables(here / "ref.duckdb")
    pd.testing.assert_frame_equal(summaries, ref_summaries)
    pd.testing.assert_frame_equal(series, ref_series)


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_with_exit_130(here: Path) -> None:
    write_experiment(here, text=KILLABLE.format(replications=8))  # 16 runs
    sweep = start_sweep(here, "tiny.toml", "--workers", "2")
    try:
        wait_for_line(sweep, r"\[2/16\] done")
        os.kill(sweep.pid, signal.SIGINT)
        _, err = sweep.communicate(timeout=60)
    finally:
        end_group(sweep)
    assert sweep.returncode == 130
    assert "interrupted:" in err and "Run the same command again to resume" in err
    runs, _, _ = tables(here / "results" / "tiny.duckdb")
    check_store_whole(here / "results" / "tiny.duckdb", len(runs), 5)
    assert re.search(rf"{len(runs)} done runs are stored in results/tiny.duckdb", err)
