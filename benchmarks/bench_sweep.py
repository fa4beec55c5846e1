"""Sweep throughput (serial vs processes) and flat memory as runs accumulate.

Usage::

    python benchmarks/bench_sweep.py          # about 8 minutes on 2 idle cores
    python benchmarks/bench_sweep.py --quick  # about 2 minutes: fewer runs
    python benchmarks/bench_sweep.py --repeat 3  # on a busy machine: best of 3 sweeps each

Prints, never asserts (the numbers depend on the machine and its load):

- **throughput**: the same runs swept with the ``serial`` backend and with
  ``processes`` on every core, each by ``clustersim.run_experiment`` (what ``clustersim
  sweep`` runs: checks, store, runs) into a fresh results store: small runs (100 firms ×
  60 months) and runs the size of ``policy_comparison``'s (200 firms × 120 months), 24
  of each by default; runs per minute and the speed-up. The processes figure includes
  starting the worker processes (each imports clustersim and Mesa, a few seconds),
  shown on its own too: a sweep pays it once, so it weighs on short sweeps only. The
  CPU line says what the sweep would reach on idle cores (the CPU both sweeps used),
  which is the figure to read on a shared, busy machine.
- **memory**: tiny runs (20 firms × 6 months) swept with ``processes``, 200 and then
  2,000 of them, each in a fresh interpreter: the main process's peak resident memory
  (it holds the specs, the store's connection and at most twice-the-workers results)
  and the largest worker's. A streaming sweep's peaks barely move with ten times the
  runs; only the list of specs (a few hundred bytes each) grows.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEED_UP_TARGET = 1.7


def experiment(runs: int, firms: int, months: int):
    """Two arms of the baseline scenario (calm and volatile markets), ``runs`` runs in all
    (rounded up to an even number: one replication gives one run of each arm)."""
    from clustersim.experiments.design import Experiment

    return Experiment(
        name="bench",
        master_seed=10_000,
        replications=(runs + 1) // 2,
        steps=months,
        common={"firms.count": firms},
        arms=[
            {"name": "baseline", "scenario": "baseline"},
            {"name": "volatile", "scenario": "baseline", "set": {"market.volatility": 0.4}},
        ],
    )


def sweep(
    runs: int, firms: int, months: int, backend: str, workers: int | None, folder: Path
) -> dict:
    """One sweep into a new store, as ``clustersim sweep`` makes it; wall seconds and what it did."""
    from clustersim.experiments.sweep import run_experiment

    study = experiment(runs, firms, months)
    path = folder / f"{backend}-{runs}.duckdb"
    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    result = run_experiment(study, path, backend, workers=workers)
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "done": result.done,
        "failed": result.failed,
        "main_cpu": time.process_time() - cpu,
        "workers_cpu": _children_cpu() - children,
        "store_mb": path.stat().st_size / 1e6,
    }


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the pool's workers, once shut down)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _noop(value: int) -> int:
    import clustersim.experiments.execute  # noqa: F401 -- what a worker imports first

    return value


def pool_start_seconds(workers: int) -> float:
    """Seconds for a fresh pool of spawned workers to import clustersim and answer."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_noop, range(workers)))
    return time.perf_counter() - started


def throughput(runs: int, firms: int, months: int, workers: int, repeat: int) -> None:
    import clustersim.experiments.sweep  # noqa: F401 -- imports are not the sweep's time

    # No warm-up run here: like `clustersim sweep`, the serial sweep starts in a process
    # that has imported clustersim but run nothing, as each worker of the pool does.
    print(f"\nThroughput: {runs} runs of {firms} firms × {months} months")
    start_up = min(pool_start_seconds(workers) for _ in range(repeat))
    serial: dict = {}
    processes: dict = {}
    for _ in range(repeat):  # alternate the two, keep each one's best (least disturbed) time
        with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
            row = sweep(runs, firms, months, "serial", None, Path(tmp))
            serial = row if not serial or row["wall"] < serial["wall"] else serial
            row = sweep(runs, firms, months, "processes", workers, Path(tmp))
            processes = row if not processes or row["wall"] < processes["wall"] else processes
    print(
        f"  one run ≈ {serial['wall'] / runs:.2f} s on one core (serial sweep's mean)"
        + (f"; best of {repeat} sweeps each" if repeat > 1 else "")
    )
    print(
        f"  {'backend':<24}{'wall s':>8}{'runs/min':>10}{'done':>6}{'failed':>7}"
        f"{'CPU s: main':>13}{'workers':>9}"
    )
    for name, row in (("serial", serial), (f"processes ({workers} workers)", processes)):
        print(
            f"  {name:<24}{row['wall']:>8.1f}{60 * row['done'] / row['wall']:>10.1f}"
            f"{row['done']:>6}{row['failed']:>7}{row['main_cpu']:>13.1f}"
            f"{row['workers_cpu']:>9.1f}"
        )
    ratio = serial["wall"] / processes["wall"]
    steady = serial["wall"] / max(1e-9, processes["wall"] - start_up)
    print(
        f"  speed-up processes / serial: {ratio:.2f}× (target ≥ {SPEED_UP_TARGET}×; "
        f"{'met' if ratio >= SPEED_UP_TARGET else 'NOT met'})"
    )
    print(
        f"  of which starting {workers} workers: {start_up:.1f} s (paid once per sweep); "
        f"without it: {steady:.2f}×"
    )
    ideal = serial["main_cpu"] / ((processes["workers_cpu"] + processes["main_cpu"]) / workers)
    print(
        f"  CPU the processes sweep used in all (workers' imports included) against the "
        f"serial sweep's: on {workers} idle cores at most {ideal:.2f}× "
        f"(load average now {os.getloadavg()[0]:.2f})"
    )


def memory_child(runs: int, workers: int) -> None:
    """In a fresh interpreter: one sweep of tiny runs; print peak RSS as JSON."""
    for module in ("execute", "runner", "store", "sweep"):  # imports are not the sweep's memory
        importlib.import_module(f"clustersim.experiments.{module}")

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        row = sweep(runs, 20, 6, "processes", workers, Path(tmp))
    row["main_after_imports_mb"] = base / 1024
    row["main_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row["worker_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(row))


def memory(sizes: list[int], workers: int) -> None:
    print(
        f"\nMemory: tiny runs (20 firms × 6 months), processes backend, {workers} workers, "
        "each sweep in a fresh interpreter"
    )
    print(
        f"  {'runs':>6}{'wall s':>9}{'runs/min':>10}{'main after imports MB':>23}"
        f"{'main peak MB':>14}{'worker peak MB':>16}{'store MB':>10}"
    )
    for runs in sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(runs), "--workers", str(workers)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {runs:>6,}{row['wall']:>9.1f}{60 * row['done'] / row['wall']:>10.0f}"
            f"{row['main_after_imports_mb']:>23.0f}{row['main_peak_mb']:>14.0f}"
            f"{row['worker_peak_mb']:>16.0f}{row['store_mb']:>10.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="runs in the throughput sweeps (default 24, --quick 12)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each throughput sweep this many times, keep the best (on a shared machine)",
    )
    parser.add_argument("--memory-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from clustersim.experiments.runner import available_cores

    workers = args.workers or available_cores()
    if args.memory_child is not None:
        memory_child(args.memory_child, workers)
        return
    print(
        f"bench_sweep · Python {platform.python_version()} · {available_cores()} cores · "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if args.quick:
        throughput(args.runs or 12, 100, 60, workers, args.repeat)
        memory([100, 500], workers)
    else:
        throughput(args.runs or 24, 100, 60, workers, args.repeat)
        throughput(args.runs or 24, 200, 120, workers, args.repeat)  # policy_comparison's runs
        memory([200, 2000], workers)


if __name__ == "__main__":
    main()
