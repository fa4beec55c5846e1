"""Static vs dynamic networks at low and high demand volatility (docs/DOMAIN.md H1).

Runs the baseline cluster (1,000 firms, 120 months) for each network mode and
volatility with 10 seeds through ``mesa.batch_run``, and prints orders won,
initial-cohort survival, firms alive and innovations, mean and range over seeds.

    python examples/static_vs_dynamic.py [--seeds 10] [--firms 1000] [--processes 2]

Seeds are a swept parameter, so every replication differs (with one fixed seed,
batch_run's iterations would repeat the same run: docs/developing.md T4).
"""

from __future__ import annotations

import argparse

import mesa
import pandas as pd

from clustersim.model import ClusterModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--firms", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--low", type=float, default=0.05)
    parser.add_argument("--high", type=float, default=0.4)
    args = parser.parse_args()
    runs = 2 * 2 * args.seeds
    print(f"{runs} runs of {args.firms} firms × {args.steps} months on {args.processes} "
          "processes; mesa.batch_run shows its progress below", flush=True)
    rows = mesa.batch_run(
        ClusterModel,
        parameters={"network_mode": ["static", "dynamic"], "volatility": [args.low, args.high],
                    "seed": list(range(args.seeds)), "n_firms": args.firms, "steps": args.steps},
        iterations=1, max_steps=args.steps, data_collection_period=1,
        number_processes=args.processes, display_progress=True)
    frame = pd.DataFrame(rows)
    per_run = frame.groupby(["network_mode", "volatility", "seed"]).agg(
        orders_won=("orders_won", "sum"), orders=("orders", "sum"),
        innovations=("innovations_cum", "last"), survival=("initial_cohort_survival", "last"),
        firms_alive=("firms_alive", "last"), employment=("employment", "last"))
    per_run["win_share"] = per_run["orders_won"] / per_run["orders"]
    summary = per_run.groupby(["volatility", "network_mode"]).agg(["mean", "min", "max"])
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    print(f"{args.firms} firms, {args.steps} months, {args.seeds} seeds per cell")
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
