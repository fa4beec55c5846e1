"""How clustersim scales with the number of firms, against Mesa's BoltzmannWealth.

Usage::

    python benchmarks/bench_scale.py          # 1,000, 10,000 and 100,000 firms, about 1.5 minutes
    python benchmarks/bench_scale.py --quick  # 1,000 and 10,000 firms, under a minute
    python benchmarks/bench_scale.py --quick --python-staffing  # the same, the order loop in Python

The configuration of the speed targets (benchmarks/README.md): dynamic network mode, a brokers
and a hubs programme running from month 1 to the end (their budgets scaled with the
firm count, 5,000 k€ per 1,000 firms, so that neither runs dry), every metric every
month, and a firm table and a network snapshot at month 0 and at the last month.

Each size runs in a fresh interpreter, so that its peak resident memory (VmHWM) is
its own. Timed there: construction (including the 12 spin-up months, also shown on
their own) and the months of ``model.step()``, in wall and CPU seconds. Mesa's
BoltzmannWealth runs in this process at the same agent count. Printed, never asserted:
firm-months per CPU second, Boltzmann agent-steps per CPU second and their ratio
(target: ≥ 1 at 10,000), an estimate of the full 120-month job (construction plus 120
times the measured month; at 100,000 firms only a few months are measured, so this is
an extrapolation, as labelled), and the exponent b of CPU seconds per month ∝ N^b
fitted by least squares on log-log axes (target: ≤ 1.15).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import SEED, Timer, bench_boltzmann, load_average, platform_lines

JOB_MONTHS = 120  # the target job: 100,000 firms × 120 months
JOB_TARGET_S = 300.0  # ... in under 5 minutes wall, on 2 cores
RSS_TARGET_MB = 4 * 1024.0
EXPONENT_TARGET = 1.15
BUDGET_PER_1000_FIRMS = 5000.0  # k€, each programme's budget in the shipped scenarios
FULL_SIZES = [(1_000, 24), (10_000, 12), (100_000, 6)]  # (firms, months measured)
QUICK_SIZES = [(1_000, 6), (10_000, 3)]


def boltzmann_steps(n_agents: int) -> int:
    """About 100,000 agent-steps, at least 3 steps."""
    return max(3, 100_000 // n_agents)


def scale_scenario(n_firms: int, months: int):
    """The baseline with brokers and hubs on throughout and every output collected."""
    from clustersim.scenario import load_scenario, scenario_from_dict

    budget = BUDGET_PER_1000_FIRMS  # budgets are stated per 1,000 firms: they scale themselves
    data = load_scenario("baseline").model_dump()
    data.update(steps=months, network_mode="dynamic")
    data["firms"]["count"] = n_firms
    data["outputs"].update(firm_table_steps=[0, months], network_snapshot_steps=[0, months],
                           network_metrics_every=1)
    data["policies"] = [{"type": kind, "start": 1, "duration": months, "budget": budget}
                        for kind in ("brokers", "hubs")]
    return scenario_from_dict(data, source="bench_scale")


def vmhwm_mb() -> float:
    """Peak resident memory of this process image, in MB (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib / 2**20 if sys.platform == "darwin" else kib / 1024


def child(n_firms: int, months: int, python_staffing: bool = False) -> None:
    """Build and step one model; print one JSON line with the timings."""
    from clustersim.model import ClusterModel
    from clustersim.teams import TeamBuilder

    TeamBuilder.use_compiled = not python_staffing  # same results either way

    class TimedModel(ClusterModel):
        def spin_up(self, months: int) -> None:
            with Timer() as self.spin_up_timer:
                super().spin_up(months)

    scenario = scale_scenario(n_firms, months)
    with Timer() as build:
        model = TimedModel(scenario, seed=SEED)
    walls, cpus = [], []
    for _ in range(months):
        with Timer() as month:
            model.step()
        walls.append(month.wall)
        cpus.append(month.cpu)
    assert len(model.network_snapshots) == 2 and len(model.firm_snapshots) == 2
    spin = model.spin_up_timer
    print(json.dumps({
        "firms": n_firms, "months": months, "build_wall": build.wall, "build_cpu": build.cpu,
        "spin_wall": spin.wall, "spin_cpu": spin.cpu, "month_wall": walls, "month_cpu": cpus,
        "rss_mb": vmhwm_mb(), "alive": int(model.stats.get("firms_alive", 0)),
        "load": load_average(),
    }))


def run_child(n_firms: int, months: int, python_staffing: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", str(n_firms), str(months)]
    if python_staffing:
        command.append("--python-staffing")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{n_firms:,} firms failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(r: dict) -> None:
    """Per-month means over the ordinary months; the snapshot month's extra; the ratio."""
    for kind in ("wall", "cpu"):
        months = r[f"month_{kind}"]
        ordinary = months[:-1] or months
        mean = sum(ordinary) / len(ordinary)
        r[f"{kind}_per_month"] = mean
        r[f"snapshot_{kind}"] = months[-1] - mean
    r["per_cpu"] = r["firms"] / r["cpu_per_month"]
    r["ratio"] = r["per_cpu"] / r["bolt_per_cpu"]


def fitted_exponent(sizes: list[int], seconds: list[float]) -> float:
    """b of seconds ∝ N^b, least squares on log-log axes."""
    xs, ys = [math.log(n) for n in sizes], [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 firms only")
    parser.add_argument("--python-staffing", action="store_true",
                        help="the order loop (lead draws, partner choice, win draw) in Python, "
                             "the reference, instead of compiled: same results, to measure what "
                             "compiling it gains (delivery, learning and metrics stay compiled)")
    parser.add_argument("--child", nargs=2, type=int, metavar=("FIRMS", "MONTHS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, python_staffing=args.python_staffing)
        return
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    print("clustersim scale benchmark" + (" (--quick)" if args.quick else ""))
    print("\n".join(platform_lines()))
    print("config  dynamic mode; brokers and hubs from month 1; metrics every month; firm "
          "table and network snapshot at month 0 and the last month; seed 1")
    print("staff   order loop " + ("in Python (--python-staffing)" if args.python_staffing
                                   else "compiled (clustersim/compiled.py)"))
    print()
    started = time.perf_counter()
    rows = []
    for n_firms, months in sizes:
        res = run_child(n_firms, months, args.python_staffing)
        bolt = bench_boltzmann(n_firms, boltzmann_steps(n_firms))
        res["bolt_per_cpu"] = bolt.agent_months_per_cpu_s
        res["bolt_steps"] = bolt.months
        res["bolt_load"] = load_average()
        rows.append(res)
        print(f"  done: {n_firms:,} firms × {months} months (load {res['load']}); "
              f"BoltzmannWealth × {bolt.months} steps (load {res['bolt_load']})", flush=True)

    for r in rows:
        summarise(r)
    header = (f"{'firms':>7} {'months':>6} {'build s':>8} {'build CPU':>9} {'spin-up CPU':>11} "
              f"{'s/month':>8} {'CPU s/month':>11} {'snapshot CPU':>12} {'firm-months/CPU s':>17} "
              f"{'Boltzmann/CPU s':>15} {'ratio':>6} {'peak RSS MB':>11} {'load at end':>16}")
    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['firms']:>7,} {r['months']:>6} {r['build_wall']:>8.1f} {r['build_cpu']:>9.1f} "
              f"{r['spin_cpu']:>11.1f} {r['wall_per_month']:>8.3f} {r['cpu_per_month']:>11.3f} "
              f"{r['snapshot_cpu']:>+12.2f} {r['per_cpu']:>17,.0f} {r['bolt_per_cpu']:>15,.0f} "
              f"{r['ratio']:>6.3f} {r['rss_mb']:>11.0f} {r['load']:>16}")
    print("""
build       construction in a fresh interpreter (wall s, CPU s), including the 12 spin-up
            months (their CPU s also on their own) and the month-0 snapshot
s/month     mean wall and CPU seconds of model.step() over the measured months but the last;
            snapshot CPU: what the last month, with its firm table and network snapshot,
            took beyond that mean
firm-months/CPU s   initial firms / CPU s per month; Boltzmann/CPU s: BoltzmannWealth
            agent-steps per CPU s at the same agent count, in the parent process (one agent
            per cell); ratio = firm-months/CPU s ÷ Boltzmann/CPU s (target ≥ 1 at 10,000)
peak RSS    VmHWM of the child after construction and the measured months""")

    print()
    print("Target (1), firm-months per CPU s ÷ Boltzmann agent-steps per CPU s (≥ 1 at 10,000): "
          + ", ".join(f"{r['firms']:,} firms {r['ratio']:.3f}" for r in rows))
    for r in rows:
        wall = r["build_wall"] + JOB_MONTHS * r["wall_per_month"] + r["snapshot_wall"]
        cpu = r["build_cpu"] + JOB_MONTHS * r["cpu_per_month"] + r["snapshot_cpu"]
        print(f"Target (2), {r['firms']:>7,} firms × {JOB_MONTHS} months incl. spin-up: "
              f"~{wall:,.0f} s wall, ~{cpu:,.0f} CPU s (EXTRAPOLATED from {r['months']} months; "
              f"target < {JOB_TARGET_S:.0f} s wall at 100,000); peak RSS after {r['months']} "
              f"months {r['rss_mb']:,.0f} MB (target < {RSS_TARGET_MB:,.0f} MB)")
    exponent = fitted_exponent([r["firms"] for r in rows], [r["cpu_per_month"] for r in rows])
    counts = ", ".join(f"{r['firms']:,}" for r in rows)
    print(f"Target (3), CPU s per month ∝ N^b over {counts} firms: b = {exponent:.2f} "
          f"(target ≤ {EXPONENT_TARGET})")
    if any(r["cpu_per_month"] < 0.85 * r["wall_per_month"] for r in rows):
        print(f"WARNING: the machine was busy (load now {load_average()}); compare CPU columns.")
    print(f"Benchmark wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
