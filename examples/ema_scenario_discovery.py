"""Exploratory modelling with EMA Workbench: sample clustersim, then find where it fails.

EMA Workbench (https://emaworkbench.readthedocs.io) drives any Python function from
parameter values to named outcomes. :func:`clustersim.run_scenario` is that function:
here EMA samples demand volatility, regional cooperativeness and the network mode
(Latin hypercube), runs the model for each, and PRIM (scenario discovery) finds the
region of parameter space where fewer than half the initial firms survive.

Install the optional extra first (EMA 2.5.x; 3.x needs Python 3.12, docs/developing.md T7):

    pip install -e ".[ema]"
    python examples/ema_scenario_discovery.py                 # 48 runs of 150 firms × 60 months
    python examples/ema_scenario_discovery.py --runs 200 --firms 1000 --months 120 --processes

Every run uses the same seed (common random numbers), so differences between runs
come from the parameters, not from noise; pass --seed to change it.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from ema_workbench import (
    CategoricalParameter,
    Constant,
    Model,
    MultiprocessingEvaluator,
    RealParameter,
    ScalarOutcome,
    SequentialEvaluator,
    perform_experiments,
)
from ema_workbench.analysis import prim

from clustersim import run_scenario

OUTCOMES = ["initial_cohort_survival", "innovations", "win_share", "mean_degree"]


def build_model(firms: int, months: int, seed: int) -> Model:
    """clustersim as an EMA model: uncertainties, constants and outcomes by name."""
    model = Model("clustersim", function=run_scenario)
    model.uncertainties = [
        RealParameter("volatility", 0.02, 0.5),
        RealParameter("cooperativeness", 0.2, 0.9),
        CategoricalParameter("network_mode", ["static", "dynamic"]),
    ]
    model.constants = [
        Constant("scenario", "baseline"),
        Constant("n_firms", firms),
        Constant("steps", months),
        Constant("seed", seed),
    ]
    model.outcomes = [ScalarOutcome(name) for name in OUTCOMES]
    return model


def discover(experiments: pd.DataFrame, outcomes: dict, threshold: float = 0.5):
    """PRIM: the box of parameter space where survival falls below ``threshold``."""
    x = experiments[["volatility", "cooperativeness", "network_mode"]].copy()
    # PRIM in EMA 2.5.3 trips over integer columns under pandas 3 (docs/developing.md T7).
    for column in x.select_dtypes("integer").columns:
        x[column] = x[column].astype(float)
    y = outcomes["initial_cohort_survival"] < threshold
    if y.all() or not y.any():
        return None, y
    search = prim.Prim(x, y, threshold=0.6)
    return search.find_box(), y


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=48)
    parser.add_argument("--firms", type=int, default=150)
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="survival below this counts as a failing cluster")
    parser.add_argument("--processes", action="store_true",
                        help="use EMA's MultiprocessingEvaluator (all cores)")
    args = parser.parse_args(argv)

    model = build_model(args.firms, args.months, args.seed)
    # EMA 2.5.3's Latin hypercube sampler draws from numpy's global generator and takes
    # no seed, so seed that here to make the sample (and the whole study) repeatable.
    np.random.seed(args.seed)
    evaluator = MultiprocessingEvaluator if args.processes else SequentialEvaluator
    with evaluator(model) as ev:
        experiments, outcomes = perform_experiments(model, scenarios=args.runs, evaluator=ev)

    table = experiments[["volatility", "cooperativeness", "network_mode"]].assign(
        **{name: outcomes[name] for name in OUTCOMES})
    print(table.groupby("network_mode", observed=True)[OUTCOMES].mean().round(3).to_string())
    box, failing = discover(experiments, outcomes, args.threshold)
    print(f"\n{int(failing.sum())} of {len(failing)} runs: survival < {args.threshold}")
    if box is not None:
        print(f"PRIM box (where clusters fail): coverage {box.coverage:.2f}, "
              f"density {box.density:.2f}")
        print(box.box_lim.to_string())
    return {"experiments": experiments, "outcomes": outcomes, "box": box}


if __name__ == "__main__":  # required: Mesa sets the spawn start method (docs/developing.md T3)
    main()
