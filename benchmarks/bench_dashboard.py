"""How long the dashboard's server takes for one month: a model step plus the redraw.

Usage::

    python benchmarks/bench_dashboard.py            # 100, 400 and 1,000 firms, 12 months each
    python benchmarks/bench_dashboard.py --quick    # 400 firms, 6 months

For each firm count it builds an explore session (the scenario's 12 spin-up months
included), fires a demand drop after month 2 (a shock band on every chart), and times
each month's server-side work as the page does it: ``session.step()``, the network map
and the four charts (``session.snapshot``), and their JSON for the browser. Wall and
CPU time of this process are both printed: on a shared machine the wall time grows
with the load, the CPU time much less. Prints, never asserts. What the browser adds
(websocket, plotly.js drawing) is in the e2e test's timing log
(tests/e2e/artifacts/dashboard-timing.log).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

TARGET_SECONDS = 1.0  # step + redraw at 400 firms (issue 5; docs/developing.md, Performance)


class Timer:
    """Wall and CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def measure(firms: int, months: int, scenario: str, colour_by: str) -> dict[str, list[float]]:
    from clustersim.dashboard.figures import figure_json
    from clustersim.dashboard.state import ExploreSession, settings_for_scenario

    settings = replace(settings_for_scenario(scenario), n_firms=firms, seed=1)
    with Timer() as build:
        session = ExploreSession(settings)
    rows: dict[str, list[float]] = {"build_wall": [build.wall], "build_cpu": [build.cpu]}
    for month in range(1, months + 1):
        if month == 3:
            session.fire_shock("demand_drop")
        with Timer() as total:
            with Timer() as step:
                session.step()
            with Timer() as draw:
                snap = session.snapshot(colour_by)
            with Timer() as encode:
                size = sum(len(figure_json(fig)) for fig in snap.figures.values())
        for name, timer in (("step", step), ("draw", draw), ("json", encode), ("total", total)):
            rows.setdefault(f"{name}_wall", []).append(timer.wall)
            rows.setdefault(f"{name}_cpu", []).append(timer.cpu)
        rows.setdefault("map", []).append(snap.seconds["network_figure"])
        rows.setdefault("charts", []).append(snap.seconds["charts"])
        rows.setdefault("kb", []).append(size / 1000)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 firms, 6 months")
    parser.add_argument("--scenario", default="emilia_romagna",
                        help="shipped scenario (default emilia_romagna: hubs and brokers drawn)")
    parser.add_argument("--colour-by", default="network", choices=["network", "hub", "specialty"])
    args = parser.parse_args()
    plan = [(400, 6)] if args.quick else [(100, 12), (400, 12), (1000, 12)]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"dashboard: one month on the server (step + map + 4 charts + JSON), scenario "
          f"{args.scenario}, colour by {args.colour_by}; load average {load:.2f} at the start")
    print(f"{'firms':>6} {'build s':>8} | {'median month s (wall/cpu)':>26} | {'max s':>6} | "
          f"{'step':>5} {'map':>5} {'charts':>6} {'json':>5} | {'KB sent':>7}")
    for firms, months in plan:
        rows = measure(firms, months, args.scenario, args.colour_by)
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"{firms:>6} {rows['build_wall'][0]:>8.2f} | {med['total_wall']:>12.3f} / "
              f"{med['total_cpu']:<11.3f} | {max(rows['total_wall']):>6.3f} | "
              f"{med['step_wall']:>5.3f} {med['map']:>5.3f} {med['charts']:>6.3f} "
              f"{med['json_wall']:>5.3f} | {med['kb']:>7.0f}")
        if firms == 400:
            verdict = "under" if med["total_wall"] < TARGET_SECONDS else "OVER"
            print(f"       400 firms: {verdict} the {TARGET_SECONDS:.0f} s target for step + "
                  "redraw (server side; the browser adds its drawing, see the e2e timing log)")


if __name__ == "__main__":
    main()
