"""How fast clustersim runs, with Mesa's Boltzmann wealth example as a yardstick.

Usage::

    python benchmarks/bench_model.py          # full run, about 4 minutes on 2 idle cores
    python benchmarks/bench_model.py --quick  # fewer months, same firm counts

Prints a table and never asserts: the numbers depend on the machine. Throughput is
firm-months per second of ``model.run`` (firms = the initial count), timed apart
from model construction, which includes the scenario's spin-up months. Every time
is given as wall time and as CPU time of this process: on a shared machine the wall
time grows with the load, the CPU time much less.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

# The whole baseline job (1,000 firms, 120 months), 2 cores (docs/developing.md, Performance).
BASELINE_TARGET_SECONDS = 30.0
SEED = 1
BUSY_RATIO = 0.85  # CPU / wall below this: the process waited for the CPU, the machine was busy


@dataclass
class Timer:
    """Wall and CPU seconds of a block."""

    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


@dataclass
class Row:
    """One timed configuration."""

    model: str
    mode: str
    agents: int
    months: int
    build: Timer
    spin_up_s: float | None  # wall seconds
    run: Timer
    rss_mb: float

    @property
    def per_month_s(self) -> float:
        return self.run.wall / self.months

    @property
    def agent_months_per_s(self) -> float:
        return self.agents * self.months / self.run.wall

    @property
    def agent_months_per_cpu_s(self) -> float:
        return self.agents * self.months / self.run.cpu


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size so far, in MB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def bench_clustersim(n_firms: int, months: int, mode: str, spin_up: int) -> Row:
    """Build a ClusterModel (spin-up timed on its own) and time ``run(months)``."""
    from clustersim.model import ClusterModel

    class TimedClusterModel(ClusterModel):
        """ClusterModel that records how long its spin-up took."""

        spin_up_seconds = 0.0

        def spin_up(self, months: int) -> None:
            start = time.perf_counter()
            super().spin_up(months)
            self.spin_up_seconds = time.perf_counter() - start

    with Timer() as build:
        model = TimedClusterModel(seed=SEED, n_firms=n_firms, network_mode=mode, spin_up=spin_up)
    with Timer() as run:
        model.run(months)
    row = Row("clustersim", mode, n_firms, months, build, model.spin_up_seconds, run, 0.0)
    row.rss_mb = peak_rss_mb()
    del model
    gc.collect()
    return row


def bench_boltzmann(n_agents: int, steps: int) -> Row:
    """Mesa's bundled Boltzmann wealth model, about one agent per cell as in its defaults."""
    from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannWealth

    side = math.ceil(math.sqrt(n_agents))  # defaults: 100 agents on 10 × 10
    with Timer() as build:
        model = BoltzmannWealth(n=n_agents, width=side, height=side, seed=SEED)
    with Timer() as run:
        for _ in range(steps):
            model.step()
    row = Row("BoltzmannWealth", f"{side}x{side} grid", n_agents, steps, build, None, run, 0.0)
    row.rss_mb = peak_rss_mb()
    del model
    gc.collect()
    return row


# Run in the child: its own peak RSS. /proc VmHWM belongs to the new process image, while
# getrusage(RUSAGE_CHILDREN) would also count the parent's memory copied by fork.
_CHILD_PRELUDE = """
import atexit, resource, sys
def _report_peak():
    try:
        kib = next(int(line.split()[1]) for line in open("/proc/self/status")
                   if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"BENCH_PEAK_RSS_KIB {kib}", file=sys.stderr)
atexit.register(_report_peak)
from clustersim.cli import main
main()
"""


@dataclass
class JobResult:
    wall: float
    cpu: float  # user + system seconds of the child
    code: int
    rss_mb: float | None
    tail: str  # last lines of its output


def bench_baseline_job(months: int) -> JobResult:
    """``clustersim run baseline --seed 1`` in a fresh interpreter, writing its outputs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="clustersim-bench-") as tmp:
        command = [
            sys.executable, "-c", _CHILD_PRELUDE, "run", "baseline", "--seed", str(SEED),
            "--steps", str(months), "--out", os.path.join(tmp, "out"),
        ]  # fmt: skip
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rss = None
    lines = []
    for line in (result.stdout + result.stderr).strip().splitlines():
        if line.startswith("BENCH_PEAK_RSS_KIB "):
            rss = int(line.split()[1]) / 1024
        else:
            lines.append(line)
    return JobResult(wall, cpu, result.returncode, rss, "\n".join(lines[-8:]))


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def platform_lines() -> list[str]:
    import mesa
    import numpy

    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return [
        f"python  {platform.python_version()} ({platform.python_implementation()}) "
        f"on {platform.platform()}",
        f"cpu     {cpus} logical cores ({usable} usable by this process), "
        f"{platform.processor() or platform.machine()}",
        f"numpy   {numpy.__version__}",
        f"mesa    {mesa.__version__}",
        f"load    {load_average()} (1, 5, 15-minute averages at the start)",
    ]


def format_table(rows: list[Row]) -> str:
    header = (
        f"{'model':<16} {'mode':<12} {'agents':>7} {'months':>6} {'build s':>8} "
        f"{'spin-up s':>9} {'run s':>8} {'run CPU s':>9} {'s/month':>8} "
        f"{'agent-months/s':>14} {'per CPU s':>10} {'peak RSS MB':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        spin = f"{r.spin_up_s:9.2f}" if r.spin_up_s is not None else f"{'-':>9}"
        lines.append(
            f"{r.model:<16} {r.mode:<12} {r.agents:>7,} {r.months:>6} {r.build.wall:>8.2f} "
            f"{spin} {r.run.wall:>8.2f} {r.run.cpu:>9.2f} {r.per_month_s:>8.4f} "
            f"{r.agent_months_per_s:>14,.0f} {r.agent_months_per_cpu_s:>10,.0f} "
            f"{r.rss_mb:>11.0f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer months (24 at 1,000 firms, 3 at 10,000; baseline job 24 months)",
    )
    args = parser.parse_args()
    # (agents, months): the default follows the issue; --quick keeps the same agent counts.
    sizes = [(1_000, 24), (10_000, 3)] if args.quick else [(1_000, 120), (10_000, 12)]
    spin_up = 12
    baseline_months = 24 if args.quick else 120

    print("clustersim benchmark" + (" (--quick)" if args.quick else ""))
    print("\n".join(platform_lines()))
    print()
    started = time.perf_counter()

    # The baseline job first, while this process is still small, in a fresh interpreter.
    print(f"  running the baseline job ({baseline_months} months)...", flush=True)
    job = bench_baseline_job(baseline_months)
    rows: list[Row] = []
    for agents, months in sizes:
        rows.append(bench_boltzmann(agents, months))
        print(f"  done: BoltzmannWealth {agents:,} agents × {months} steps", flush=True)
    for agents, months in sizes:
        for mode in ("dynamic", "static"):
            rows.append(bench_clustersim(agents, months, mode, spin_up))
            print(f"  done: clustersim {mode} {agents:,} firms × {months} months", flush=True)

    print()
    print(format_table(rows))
    print(f"""
build s     model construction in wall seconds, including spin-up s ({spin_up} months of
            market, teams, production and ties before month 0, for clustersim)
run s       model.run(months) in wall seconds; run CPU s: CPU seconds of this process
agent-months/s   agents × months / run s (firm-months for clustersim, counting the initial
            firms; agent-steps for Boltzmann); per CPU s: the same over run CPU s
A Boltzmann agent-step is a trivial move-and-give; a clustersim firm-month includes the
market, team formation, production, learning, ties, demography and ~30 metrics including
network structure. The comparison is a yardstick of Mesa's own overhead, not like for like.""")
    for agents, _months in sizes:
        bolt = next(r for r in rows if r.model == "BoltzmannWealth" and r.agents == agents)
        for r in rows:
            if r.model == "clustersim" and r.agents == agents:
                ratio = bolt.agent_months_per_cpu_s / r.agent_months_per_cpu_s
                print(
                    f"  {agents:>6,} agents, {r.mode:<7}: a firm-month costs {ratio:6.1f} × "
                    "a Boltzmann agent-step (CPU time)"
                )

    print()
    print(
        f"Baseline job: `clustersim run baseline --seed {SEED} --steps {baseline_months}` "
        "in a fresh interpreter (1,000 firms; start-up, imports, spin-up, run, writing outputs)"
    )
    if job.code != 0:
        print(f"  FAILED with exit code {job.code}:\n{job.tail}")
    else:
        verdict = "within" if job.wall < BASELINE_TARGET_SECONDS else "OVER"
        note = "" if baseline_months == 120 else " (--quick: fewer months, not comparable)"
        print(
            f"  wall time {job.wall:.1f} s (CPU {job.cpu:.1f} s) against the target of "
            f"{BASELINE_TARGET_SECONDS:.0f} s for 120 months: {verdict} target{note}"
        )
        if job.rss_mb is not None:
            print(f"  peak RSS of the job: {job.rss_mb:.0f} MB")

    busy = [r for r in rows if r.run.cpu < BUSY_RATIO * r.run.wall]
    if busy or (job.code == 0 and job.cpu < BUSY_RATIO * job.wall):
        print()
        print(
            f"WARNING: the machine was busy (load now {load_average()}): some runs got less "
            f"than {BUSY_RATIO:.0%} of a core, so their wall times overstate the cost; compare "
            "the CPU-time columns, or rerun on an idle machine."
        )

    print()
    print(
        f"Peak RSS of this process: {peak_rss_mb():.0f} MB "
        "(resource.getrusage; the 10,000-firm models dominate)"
    )
    print(f"Benchmark wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
