"""The Dask backend: same results as serial, failed tasks become failed runs.

Kept in its own module: a synchronous LocalCluster fixture and Dask's async test helpers
(``gen_cluster``) in one module fight over the event loop. A threaded LocalCluster for
speed, plus one test on worker processes so the specs and results really cross a pickle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from store_fixtures import tiny_specs

from clustersim.experiments.execute import execute
from clustersim.experiments.runner import DaskBackend, run_sweep
from clustersim.experiments.spec import RunResult, RunSpec
from clustersim.experiments.store import ResultsStore

distributed = pytest.importorskip("distributed")

META = {"experiment": "tiny", "fingerprint": "d" * 32}



def raise_on_second_replication(spec: RunSpec) -> RunResult:
    """Raises (unlike execute) so the Dask task itself fails."""
    if spec.replication == 1:
        raise RuntimeError("the task blew up")
    return execute(spec)


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as dask_client,
    ):
        yield dask_client


def sweep_into(path: Path, specs: list[RunSpec], **kwargs) -> tuple[pd.DataFrame, pd.DataFrame]:
    with ResultsStore.open_for_sweep(path, META) as store:
        summary = run_sweep(specs, store, **kwargs)
        assert summary.failed == 0 and summary.done == len(specs)
        return store.summaries(), store.timeseries()


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    return sweep_into(
        tmp_path_factory.mktemp("serial") / "s.duckdb", tiny_specs(failing=False), backend="serial"
    )


def test_dask_gives_the_same_results_as_serial(tmp_path: Path, client, serial) -> None:
    backend = DaskBackend(client)
    assert backend.slots == 2
    summaries, series = sweep_into(
        tmp_path / "d.duckdb", tiny_specs(failing=False), backend=backend, max_in_flight=3
    )
    pd.testing.assert_frame_equal(summaries, serial[0])
    pd.testing.assert_frame_equal(series, serial[1])
    assert len(summaries) == 4  # replications did not collapse into one task (pure=False)


def test_a_failed_dask_task_is_a_failed_run_and_the_sweep_goes_on(tmp_path: Path, client) -> None:
    specs = tiny_specs(failing=False)
    backend = DaskBackend(client, function=raise_on_second_replication)
    with ResultsStore.open_for_sweep(tmp_path / "d.duckdb", META) as store:
        summary = run_sweep(specs, store, backend=backend)
        runs = store.runs()
    assert (summary.done, summary.failed) == (2, 2)
    failed = runs[runs["status"] == "failed"]
    assert set(failed["replication"]) == {1}
    assert all(
        error.startswith("the Dask task failed: RuntimeError: the task blew up")
        for error in failed["error"]
    )
    assert not client.futures or all(f.status != "pending" for f in client.futures.values())


@pytest.mark.slow
def test_dask_on_worker_processes(tmp_path: Path, serial) -> None:
    """The path the CLI takes without --scheduler: a LocalCluster of worker processes."""
    summaries, series = sweep_into(tmp_path / "p.duckdb", tiny_specs(failing=False), backend="dask", workers=2)
    pd.testing.assert_frame_equal(summaries, serial[0])
    pd.testing.assert_frame_equal(series, serial[1])


def test_results_come_back_on_the_backends_own_client_when_another_is_current(
    tmp_path: Path, client, serial
) -> None:
    """A Client entered with ``with`` (as a notebook or this module's fixture does) stays the
    *current* client of the thread. The backend must still wait on its own client's event
    loop: waiting on another client's loop races with the futures' own loop and hung the
    worker-process test now and then. With a closed client made current, waiting on the
    wrong loop fails at once instead of sometimes."""
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as other_cluster,
        distributed.Client(other_cluster) as other,
    ):
        pass  # closed on leaving the block; its event loop is gone
    outcome: list[tuple[pd.DataFrame, pd.DataFrame]] = []

    def sweep() -> None:
        with other.as_current():
            outcome.append(sweep_into(
                tmp_path / "c.duckdb", tiny_specs(failing=False), backend=DaskBackend(client)
            ))

    worker = threading.Thread(target=sweep, daemon=True)
    worker.start()
    worker.join(timeout=120)  # the four runs take a few seconds; without the fix, forever
    assert outcome, "the sweep never saw its runs finish (it waited on another client's loop)"
    summaries, series = outcome[0]
    pd.testing.assert_frame_equal(summaries, serial[0])
    pd.testing.assert_frame_equal(series, serial[1])
