"""Run a sweep: send run specs to a backend, store each result as soon as it comes back.

The shape follows the runner Mesa 4 is building (executor-agnostic runners, a pluggable
result store, per-run failure states: mesa#3768, mesa#3753), so moving to it later is
cheap: a **backend** computes runs
(:class:`SerialBackend`, :class:`ProcessBackend`, :class:`DaskBackend`, or anything with
the :class:`Backend` protocol), a **store** keeps them (:class:`RunStore`, e.g.
:class:`~clustersim.experiments.store.ResultsStore`), and every run ends ``done`` or
``failed`` on its own, so one bad run never stops a sweep.

:func:`run_sweep` streams: it hands specs to the backend lazily, keeps at most
``max_in_flight`` runs out at a time (twice the workers by default) and records each
result the moment it arrives, so memory stays flat however many runs a sweep has, and a
crash loses at most the runs in flight. Runs already done in the store are skipped
(:class:`~clustersim.experiments.identity.Resume`), so running the same sweep again
resumes it.

Results do not depend on the backend: a run is a pure function of its spec.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from clustersim.experiments.execute import execute, versions
from clustersim.experiments.identity import Resume, StoredRuns
from clustersim.experiments.spec import RunResult, RunSpec, first_line

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)

BACKENDS = ("serial", "processes", "dask")
RunFunction = Callable[[RunSpec], RunResult]
MAX_FAILED_LISTED = 20  # failed runs a summary names (the store keeps them all)
PARENT_CHECK_SECONDS = 1.0  # how often a pool worker checks that the sweep still runs


# ---------------------------------------------------------------------- interfaces


@runtime_checkable
class RunStore(StoredRuns, Protocol):
    """Where a sweep keeps its runs: what is done or failed, and one call per finished run."""

    def record(self, spec: RunSpec, result: RunResult) -> None: ...


class Backend(Protocol):
    """Computes runs. ``slots``: how many at once; ``results`` pulls specs lazily, keeps at
    most ``window`` in flight and yields ``(spec, result)`` as runs finish (any order).
    A run that cannot be computed (a worker died) comes back as a failed result.
    Closing the ``results`` generator early cancels what is in flight."""

    name: str

    @property
    def slots(self) -> int: ...

    def results(
        self, specs: Iterator[RunSpec], window: int
    ) -> Iterator[tuple[RunSpec, RunResult]]: ...

    def close(self) -> None: ...


class SweepProgress(Protocol):
    """What a sweep reports as it goes (the CLI draws a progress bar with it)."""

    def start(self, plan: SweepPlan) -> None: ...

    def advance(self, spec: RunSpec, result: RunResult, summary: SweepSummary) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class SweepPlan:
    """What a sweep will do, known before the first run starts."""

    total: int  # distinct runs in the design
    to_run: int  # runs this sweep computes
    skipped: int  # already done in the store
    skipped_failed: int  # failed earlier and not retried (no retry_failed)
    retried: int  # failed earlier and rerun now (retry_failed)
    backend: str
    workers: int


@dataclass
class SweepSummary:
    """What a sweep did. ``done``/``failed`` count this sweep's runs; ``skipped`` runs
    were already done; ``skipped_failed`` had failed before and were not retried."""

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    seconds: float = 0.0
    failures: list[tuple[RunSpec, str]] = field(default_factory=list)  # first few only

    @property
    def finished(self) -> int:
        """Runs this sweep finished, done or failed."""
        return self.done + self.failed

    @property
    def complete(self) -> bool:
        """Every run of the design is done (none failed, none left)."""
        return (
            self.failed == 0 and self.skipped_failed == 0 and self.done + self.skipped == self.total
        )

    def add(self, spec: RunSpec, result: RunResult) -> None:
        """Count a run this sweep finished (and name it if it failed, up to a limit)."""
        if result.status == "done":
            self.done += 1
            return
        self.failed += 1
        if len(self.failures) < MAX_FAILED_LISTED:
            self.failures.append((spec, first_line(result.error)))


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: what was stored stays stored; ``summary`` says how far it got."""

    def __init__(self, summary: SweepSummary) -> None:
        super().__init__("sweep interrupted")
        self.summary = summary


# ---------------------------------------------------------------------- the sweep


def run_sweep(
    specs: Sequence[RunSpec],
    store: RunStore,
    *,
    backend: str | Backend = "processes",
    workers: int | None = None,
    scheduler: str | Client | None = None,
    retry_failed: bool = False,
    progress: SweepProgress | None = None,
    max_in_flight: int | None = None,
) -> SweepSummary:
    """Run every spec not yet done in ``store`` and record each result as it finishes.

    ``backend`` is ``"serial"``, ``"processes"`` (``workers`` processes, default all
    cores), ``"dask"`` (``scheduler``: an address such as ``tcp://host:8786`` or a
    ``distributed.Client``; none: a LocalCluster of ``workers`` processes) or a
    :class:`Backend`. Which runs are made is :class:`~clustersim.experiments.identity.Resume`'s
    answer: runs stored as failed are rerun only with ``retry_failed``.
    At most ``max_in_flight`` runs (default twice the backend's slots) are out at once.

    Ctrl-C stops it: the runs in flight are dropped, every recorded run stays, and
    :class:`SweepInterrupted` (a KeyboardInterrupt) carries the summary so far.
    """
    clock = time.perf_counter()
    if max_in_flight is not None and max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
    resume = Resume.of(store, retry_failed)
    counts = resume.count(specs)  # one cheap pass; the runs themselves are pulled lazily
    summary = SweepSummary(
        total=counts.total, skipped=counts.skipped, skipped_failed=counts.skipped_failed
    )
    owned = isinstance(backend, str)
    engine: Backend | None = None
    if counts.to_run:  # a sweep with nothing left to do starts no workers
        engine = (
            make_backend(backend, workers=workers, scheduler=scheduler)
            if isinstance(backend, str)
            else backend
        )
    slots = engine.slots if engine is not None else max(1, workers or 1)
    plan = SweepPlan(
        total=counts.total,
        to_run=counts.to_run,
        skipped=counts.skipped,
        skipped_failed=counts.skipped_failed,
        retried=counts.retried,
        backend=backend if isinstance(backend, str) else backend.name,
        workers=slots,
    )
    window = max_in_flight if max_in_flight is not None else 2 * slots
    stream = engine.results(resume.pending(specs), window) if engine is not None else iter(())
    try:
        if progress is not None:
            progress.start(plan)
        for spec, result in stream:
            with _deferred_interrupt():  # a run is stored whole and counted, or neither
                store.record(spec, result)
                summary.add(spec, result)
            summary.seconds = time.perf_counter() - clock
            if progress is not None:
                progress.advance(spec, result, summary)
    except KeyboardInterrupt:
        summary.seconds = time.perf_counter() - clock
        raise SweepInterrupted(summary) from None
    finally:
        with contextlib.suppress(Exception):
            stream.close()  # type: ignore[attr-defined]
        if owned and engine is not None:
            engine.close()
        if progress is not None:
            progress.stop()
    summary.seconds = time.perf_counter() - clock
    return summary


def make_backend(
    name: str, *, workers: int | None = None, scheduler: str | Client | None = None
) -> Backend:
    """The backend called ``name`` (see :data:`BACKENDS`)."""
    if name == "serial":
        return SerialBackend()
    if name == "processes":
        return ProcessBackend(workers=workers)
    if name == "dask":
        return DaskBackend(scheduler=scheduler, workers=workers)
    raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")


def available_cores() -> int:
    """Cores this process may use (honours CPU affinity, e.g. under a batch scheduler)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------- backends


class SerialBackend:
    """Runs one after another in this process: simplest, and easiest to debug."""

    name = "serial"

    def __init__(self, function: RunFunction = execute) -> None:
        self.function = function

    @property
    def slots(self) -> int:
        return 1

    def results(self, specs: Iterator[RunSpec], window: int) -> Iterator[tuple[RunSpec, RunResult]]:
        for spec in specs:
            yield spec, self.function(spec)

    def close(self) -> None:
        pass


class ProcessBackend:
    """Runs in a pool of spawned worker processes on this machine (all cores by default).

    If a worker dies (killed, out of memory, a crash in native code), every run then in
    flight comes back failed with that error, the pool is started afresh and the sweep
    goes on; ``--retry-failed`` reruns those runs later.
    """

    name = "processes"

    def __init__(self, workers: int | None = None, function: RunFunction = execute) -> None:
        self.workers = workers if workers is not None else available_cores()
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, not {self.workers}")
        self.function = function
        self.pools_started = 0
        self._pool: Any = None

    @property
    def slots(self) -> int:
        return self.workers

    def _start_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pools_started += 1
        # spawn: importing Mesa sets it for the whole process anyway (mesa/batchrunner.py),
        # and unlike fork it is safe with DuckDB's threads
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )

    def results(self, specs: Iterator[RunSpec], window: int) -> Iterator[tuple[RunSpec, RunResult]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        self._pool = self._start_pool()
        in_flight: dict[Any, RunSpec] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(in_flight) < window:
                    spec = next(specs, None)
                    if spec is None:
                        exhausted = True
                        break
                    try:
                        in_flight[self._pool.submit(self.function, spec)] = spec
                    except BrokenProcessPool:  # died between two submissions
                        yield from self._restart(in_flight, spec)
                if not in_flight:
                    return
                ready, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                broken = False
                for future in ready:
                    spec = in_flight.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as exc:
                        broken = True
                        result = failed_result(
                            spec, exc, "a worker process died while this run was in flight"
                        )
                    except Exception as exc:
                        result = failed_result(spec, exc)
                    yield spec, result
                if broken:
                    yield from self._restart(in_flight)
        finally:
            self._shutdown(in_flight)

    def _restart(
        self, in_flight: dict[Any, RunSpec], *extra: RunSpec
    ) -> Iterator[tuple[RunSpec, RunResult]]:
        """A worker died: fail what was in flight, start a new pool."""
        from concurrent.futures.process import BrokenProcessPool

        log.warning(
            "a worker process died; %d runs in flight marked failed; new pool",
            len(in_flight) + len(extra),
        )
        lost = [*in_flight.values(), *extra]
        in_flight.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start_pool()
        error = BrokenProcessPool("a worker process of the pool terminated abruptly")
        for spec in lost:
            yield (
                spec,
                failed_result(spec, error, "a worker process died while this run was in flight"),
            )

    def _shutdown(self, in_flight: dict[Any, RunSpec]) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if in_flight:  # interrupted: do not wait for runs nobody will record
            processes = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                with contextlib.suppress(Exception):
                    process.terminate()
            for process in processes:
                with contextlib.suppress(Exception):
                    process.join(timeout=5)
        else:
            pool.shutdown(wait=True)

    def close(self) -> None:
        self._shutdown({})


class DaskBackend:
    """Runs on a ``dask.distributed`` cluster: an existing scheduler, or a LocalCluster.

    Every run is submitted with ``pure=False``: Dask's default, ``pure=True``, gives
    identical arguments one shared task, which could collapse replications into one.
    Results are gathered with ``as_completed(raise_errors=False)``, which hands back a
    failed task's error instead of raising it, so a run whose task fails (e.g. its worker
    died too often) comes back as a failed result and the sweep goes on.
    """

    name = "dask"

    def __init__(
        self,
        scheduler: str | Client | None = None,
        workers: int | None = None,
        function: RunFunction = execute,
    ) -> None:
        from distributed import Client, LocalCluster

        self.function = function
        self._owned: list[Any] = []
        if isinstance(scheduler, Client):
            self.client = scheduler
        elif scheduler:
            self.client = Client(scheduler)
            self._owned.append(self.client)
        else:
            cluster = LocalCluster(
                n_workers=workers or available_cores(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            )
            self._owned.append(cluster)
            self.client = Client(cluster)
            self._owned.insert(0, self.client)
        self._requested = workers

    @property
    def slots(self) -> int:
        threads = sum(self.client.nthreads().values())
        return max(1, threads or self._requested or 1)

    def results(self, specs: Iterator[RunSpec], window: int) -> Iterator[tuple[RunSpec, RunResult]]:
        from distributed import as_completed

        in_flight: dict[str, tuple[Any, RunSpec]] = {}
        # Wait on this backend's own client's loop: by default as_completed takes the
        # *current* client's, which is another client whenever one was entered with `with`
        # (a notebook's, a test fixture's); waiting there races with the futures' own loop
        # and may never see them finish.
        completed = as_completed(with_results=True, raise_errors=False, loop=self.client.loop)

        def submit_next() -> bool:
            spec = next(specs, None)
            if spec is None:
                return False
            future = self.client.submit(self.function, spec, pure=False)  # see the docstring
            in_flight[future.key] = (future, spec)
            completed.add(future)
            return True

        try:
            while len(in_flight) < window and submit_next():
                pass
            for future, outcome in completed:
                _, spec = in_flight.pop(future.key)
                if future.status == "finished" and isinstance(outcome, RunResult):
                    result = outcome
                elif future.status == "error":
                    _, exc, _ = outcome
                    result = failed_result(spec, exc, "the Dask task failed")
                else:
                    result = failed_result(spec, RuntimeError(f"Dask task {future.status}"))
                future.release()
                yield spec, result
                if len(in_flight) < window:
                    submit_next()
        finally:
            if in_flight:
                self.client.cancel([future for future, _ in in_flight.values()])
                in_flight.clear()

    def close(self) -> None:
        for owned in self._owned:
            with contextlib.suppress(Exception):
                owned.close()
        self._owned.clear()


# ---------------------------------------------------------------------- helpers


def failed_result(spec: RunSpec, exc: BaseException, context: str = "") -> RunResult:
    """A failed result for a run whose backend, not the run itself, went wrong."""
    import socket

    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return RunResult(
        run_id=spec.run_id,
        status="failed",
        summary={},
        timeseries=None,
        seconds=0.0,
        started=time.time(),
        host=socket.gethostname(),
        versions=versions(),
        error=f"{context}: {detail}" if context else detail,
    )


def _init_worker() -> None:
    """Set up a pool worker: Ctrl-C is left to the main process (which stops the workers
    when it decides to), and a worker whose main process has died (SIGKILL, a crash)
    exits within a second instead of computing runs nobody will store."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:  # re-parented: the sweep's process is gone
                os._exit(1)

    threading.Thread(target=watch, name="clustersim-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C (and a SIGTERM that Python handles) arriving inside the block until the
    block has finished, then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        current = signal.getsignal(signum)
        if callable(current):  # a Python handler (Ctrl-C's default is one): hold it
            held[signum] = signal.signal(signum, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        for signum, previous in held.items():
            signal.signal(signum, previous)
        for signum in caught[:1]:
            held[signum](signum, None)
