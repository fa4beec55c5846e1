"""The sweep runner: records every run, skips what is done, isolates failures, streams."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from store_fixtures import tiny_specs

from clustersim.experiments.execute import versions
from clustersim.experiments.runner import (
    ProcessBackend,
    SerialBackend,
    SweepInterrupted,
    SweepPlan,
    SweepSummary,
    make_backend,
    run_sweep,
)
from clustersim.experiments.spec import RunResult, RunSpec
from clustersim.experiments.store import ResultsStore
from clustersim.metrics import COLUMNS
from clustersim.outcomes import OUTCOMES

META = {"experiment": "tiny", "fingerprint": "t" * 32}
CRASH_SEED = 1003  # quick_or_crash() kills its worker process on this seed



def fake_specs(n: int) -> list[RunSpec]:
    return [
        RunSpec(
            experiment="tiny",
            point=0,
            arm="a",
            label="a",
            levels={},
            scenario="baseline",
            overrides={},
            replication=r,
            seed=1000 + r,
            steps=2,
            record_every=1,
        )
        for r in range(n)
    ]


def quick(spec: RunSpec) -> RunResult:
    """A made-up done result in a millisecond (the runner's logic, not the model's)."""
    rng = np.random.default_rng(spec.seed)
    frame = pd.DataFrame(rng.random((spec.steps + 1, len(COLUMNS))), columns=COLUMNS)
    frame.insert(0, "step", np.arange(spec.steps + 1))
    return RunResult(
        run_id=spec.run_id,
        status="done",
        summary={name: float(rng.random()) for name in OUTCOMES},
        timeseries=frame,
        seconds=0.0,
        started=time.time(),
        host=socket.gethostname(),
        versions=versions(),
    )


def slow(spec: RunSpec) -> RunResult:
    time.sleep(0.2)
    return quick(spec)


def quick_or_crash(spec: RunSpec) -> RunResult:
    """Kills the worker process it runs in for one seed (like a segfault or the OOM killer)."""
    if spec.seed == CRASH_SEED:
        time.sleep(0.3)
        os._exit(1)
    time.sleep(0.05)
    return quick(spec)


def open_store(path: Path) -> ResultsStore:
    return ResultsStore.open_for_sweep(path, META)


class Events:
    """A SweepProgress that remembers what it was told."""

    def __init__(self, interrupt_after: int | None = None) -> None:
        self.plan: SweepPlan | None = None
        self.advanced: list[tuple[str, str, int]] = []
        self.stopped = False
        self.interrupt_after = interrupt_after

    def start(self, plan: SweepPlan) -> None:
        self.plan = plan

    def advance(self, spec: RunSpec, result: RunResult, summary: SweepSummary) -> None:
        self.advanced.append((spec.run_id, result.status, summary.finished))
        if self.interrupt_after is not None and summary.finished >= self.interrupt_after:
            raise KeyboardInterrupt

    def stop(self) -> None:
        self.stopped = True


def frames(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with ResultsStore.open_read_only(path) as store:
        return store.summaries(), store.timeseries()


# --------------------------------------------------------------------------- record, skip, retry


def test_serial_sweep_records_runs_and_isolates_failures(tmp_path: Path) -> None:
    specs = tiny_specs()
    events = Events()
    with open_store(tmp_path / "s.duckdb") as store:
        summary = run_sweep(specs, store, backend="serial", progress=events)
        assert (summary.total, summary.done, summary.failed, summary.skipped) == (6, 4, 2, 0)
        assert not summary.complete
        runs = store.runs().set_index("run_id")
    assert len(runs) == 6
    invalid = [s.run_id for s in specs if s.arm == "invalid"]
    assert set(runs.loc[invalid, "status"]) == {"failed"}
    assert all("firms.count" in error for error in runs.loc[invalid, "error"])
    assert [error.split(":")[0] for _, error in summary.failures] == [
        "clustersim.scenario.ScenarioError"
    ] * 2
    assert events.plan is not None and (events.plan.to_run, events.plan.total) == (6, 6)
    assert [finished for _, _, finished in events.advanced] == [1, 2, 3, 4, 5, 6]
    assert events.stopped


def test_rerun_skips_done_runs_and_retries_failed_only_when_asked(tmp_path: Path) -> None:
    specs = tiny_specs()
    calls: list[str] = []

    def counting(spec: RunSpec) -> RunResult:
        calls.append(spec.run_id)
        return quick(spec) if spec.arm != "invalid" else quick_failed(spec)

    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        run_sweep(specs, store, backend=SerialBackend(counting))
        assert len(calls) == 6
        again = run_sweep(specs, store, backend=SerialBackend(counting))
        assert len(calls) == 6  # nothing ran
        assert (again.done, again.failed, again.skipped, again.skipped_failed) == (0, 0, 4, 2)
        retry = run_sweep(specs, store, backend=SerialBackend(counting), retry_failed=True)
        assert calls[6:] == [s.run_id for s in specs if s.arm == "invalid"]
        assert (retry.done, retry.failed, retry.skipped) == (0, 2, 4)
        assert set(store.runs().query("arm == 'invalid'")["attempts"]) == {2}
        more = run_sweep(tiny_specs(3), store, backend=SerialBackend(counting))
        assert (more.total, more.done, more.skipped, more.skipped_failed) == (9, 2, 4, 2)


def quick_failed(spec: RunSpec) -> RunResult:
    result = quick(spec)
    result.status, result.summary, result.timeseries = "failed", {}, None
    result.error = "ValueError: made to fail\ntraceback..."
    return result


def test_duplicate_specs_run_once(tmp_path: Path) -> None:
    specs = fake_specs(3)
    with open_store(tmp_path / "s.duckdb") as store:
        summary = run_sweep([*specs, *specs], store, backend=SerialBackend(quick))
    assert (summary.total, summary.done) == (3, 3)


def test_unknown_backend_and_bad_window(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend 'threads'"):
        make_backend("threads")
    with open_store(tmp_path / "s.duckdb") as store, pytest.raises(ValueError, match="at least 1"):
        run_sweep(fake_specs(2), store, backend="serial", max_in_flight=0)


# --------------------------------------------------------------------------- processes


@pytest.mark.slow
def test_processes_give_the_same_results_as_serial(tmp_path: Path) -> None:
    specs = tiny_specs(failing=False)
    with open_store(tmp_path / "serial.duckdb") as store:
        run_sweep(specs, store, backend="serial")
    with open_store(tmp_path / "processes.duckdb") as store:
        summary = run_sweep(specs, store, backend="processes", workers=2)
    assert (summary.done, summary.failed) == (4, 0)
    serial, processes = frames(tmp_path / "serial.duckdb"), frames(tmp_path / "processes.duckdb")
    pd.testing.assert_frame_equal(serial[0], processes[0])
    pd.testing.assert_frame_equal(serial[1], processes[1])
    assert len(serial[1]) == 4 * 5  # months 0, 3, 6, 9, 12


class CheckingStore:
    """Wraps a store; asserts at every record that few runs have been handed out unrecorded."""

    def __init__(self, store: ResultsStore, specs: list[RunSpec], window: int) -> None:
        self.store, self.window = store, window
        self.recorded = 0
        self.most_out = 0
        self.handed_out = 0
        self.specs = specs

    def iterate(self) -> Iterator[RunSpec]:
        for spec in self.specs:
            self.handed_out += 1
            yield spec

    def finished_ids(self) -> set[str]:
        return self.store.finished_ids()

    def failed_ids(self) -> set[str]:
        return self.store.failed_ids()

    def record(self, spec: RunSpec, result: RunResult) -> None:
        self.most_out = max(self.most_out, self.handed_out - self.recorded)
        self.store.record(spec, result)
        self.recorded += 1


class Counted(list):
    """A list of specs whose second pass (the lazy one) tells a CheckingStore what it gave."""

    def __init__(self, specs: list[RunSpec]) -> None:
        super().__init__(specs)
        self.passes = 0
        self.checker: CheckingStore | None = None

    def __iter__(self) -> Iterator[RunSpec]:
        if self.checker is None:
            return super().__iter__()
        self.passes += 1  # the runner's passes: count, then the lazy one
        if self.passes == 2:
            return self.checker.iterate()
        return super().__iter__()


@pytest.mark.slow
def test_processes_keep_few_runs_in_flight(tmp_path: Path) -> None:
    specs, window = Counted(fake_specs(24)), 3
    with open_store(tmp_path / "s.duckdb") as store:
        checker = CheckingStore(store, list(specs), window)
        specs.checker = checker
        summary = run_sweep(
            specs, checker, backend=ProcessBackend(2, function=quick), max_in_flight=window
        )
        assert summary.done == 24 and checker.recorded == 24
    # at most `window` runs are out, plus the one just pulled from the lazy list
    assert checker.most_out <= window + 1


@pytest.mark.slow
def test_a_dead_worker_fails_the_runs_in_flight_and_the_sweep_goes_on(tmp_path: Path) -> None:
    specs = fake_specs(12)
    backend = ProcessBackend(2, function=quick_or_crash)
    with open_store(tmp_path / "s.duckdb") as store:
        summary = run_sweep(specs, store, backend=backend, max_in_flight=2)
        runs = store.runs().set_index("seed")
    assert backend.pools_started == 2
    assert summary.done + summary.failed == 12 and 1 <= summary.failed <= 2
    assert runs.loc[CRASH_SEED, "status"] == "failed"
    failed = runs[runs["status"] == "failed"]
    assert len(failed) == summary.failed  # the crashed run, and the one beside it in flight
    for error in failed["error"]:
        assert error.startswith(
            "a worker process died while this run was in flight: "
            "concurrent.futures.process.BrokenProcessPool"
        )


# --------------------------------------------------------------------------- Ctrl-C


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_and_keeps_what_was_stored(tmp_path: Path) -> None:
    specs = fake_specs(20)
    events = Events(interrupt_after=3)
    backend = ProcessBackend(2, function=slow)
    path = tmp_path / "s.duckdb"
    started = time.perf_counter()
    with open_store(path) as store:
        with pytest.raises(SweepInterrupted) as info:
            run_sweep(specs, store, backend=backend, progress=events)
        assert info.value.summary.finished == 3
        assert len(store.finished_ids()) == 3
    assert time.perf_counter() - started < 30
    assert backend._pool is None and events.stopped
    with open_store(path) as store:  # rerunning resumes
        summary = run_sweep(specs, store, backend=SerialBackend(quick))
    assert (summary.done, summary.skipped) == (17, 3)


class InterruptingStore:
    """A store that gets Ctrl-C in the middle of writing its second run."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self.calls = 0

    def finished_ids(self) -> set[str]:
        return self.store.finished_ids()

    def failed_ids(self) -> set[str]:
        return self.store.failed_ids()

    def record(self, spec: RunSpec, result: RunResult) -> None:
        self.calls += 1
        if self.calls == 2:
            # raise_signal delivers to this (the main) thread; os.kill to our own process may be
            # taken by another thread (xdist's, a watchdog's), which makes its timing loose.
            signal.raise_signal(signal.SIGINT)
            time.sleep(0.05)  # in the middle of the run
        self.store.record(spec, result)


@pytest.fixture
def ctrl_c_handled():
    """Ctrl-C raising KeyboardInterrupt in this thread, as in a terminal, whatever an earlier
    test in this worker process left (restored afterwards)."""
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    signal.signal(signal.SIGINT, handler)


def test_ctrl_c_while_a_run_is_written_waits_until_it_is_whole(tmp_path: Path,
                                                               ctrl_c_handled) -> None:
    specs = fake_specs(5)
    with open_store(tmp_path / "s.duckdb") as store:
        with pytest.raises(SweepInterrupted) as info:
            run_sweep(specs, InterruptingStore(store), backend=SerialBackend(quick))
        assert info.value.summary.finished == 2
        assert len(store.finished_ids()) == 2
        assert len(store.timeseries()) == 2 * 3


# --------------------------------------------------------------------------- reproducing


def test_one_run_can_be_reproduced_alone_from_its_row(tmp_path: Path) -> None:
    import json

    from clustersim.experiments.execute import thin
    from clustersim.model import ClusterModel

    specs = tiny_specs(failing=False)
    with open_store(tmp_path / "s.duckdb") as store:
        run_sweep(specs, store, backend="serial")
        row = store.runs().iloc[-1]
        stored = store.query(
            "SELECT * EXCLUDE (run_id) FROM timeseries WHERE run_id = ? ORDER BY step",
            [row["run_id"]],
        )
    model = ClusterModel(row["scenario"], seed=int(row["seed"]), **json.loads(row["overrides"]))
    model.run(int(row["steps"]))
    again = thin(model.timeseries(), int(row["record_every"]))
    pd.testing.assert_frame_equal(
        again[stored.columns].astype(float), stored.astype(float), check_dtype=False
    )
