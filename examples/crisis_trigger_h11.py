"""H11 measured: network growth after a crisis or an opportunity, by the habit of cooperation.

For each habit level (share of habitual cooperators) and each seed, the same cluster runs
three times: no trigger (a demand drop of magnitude 0, so the 12-month window is the
same), a crisis (demand drop) and an opportunity (a new segment), all from month 24.
Printed: ties formed in the 12 months from month 24, and ties per order won then (how often
a team brought in a stranger), trigger minus none, paired by seed
(mean and 95% t-interval), with firms' response to crisis and opportunity on and off
(docs/ODD.md §7.14, docs/DOMAIN.md H11). ``experiments/crisis_trigger_h11.toml`` is the
same design as a sweep.

    PYTHONPATH=. python examples/crisis_trigger_h11.py --seeds 10 --firms 200 --steps 48
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

from clustersim.api import run_scenario

START = 24
TRIGGERS = {
    "none": {"type": "demand_drop", "start": START, "duration": 12, "magnitude": 0.0},
    "crisis": {"type": "demand_drop", "start": START, "duration": 12, "magnitude": 0.3},
    "opportunity": {"type": "new_segment", "start": START, "duration": 24, "magnitude": 0.3},
}


def after(habit: float, trigger: str, seed: int, response: bool, firms: int,
          steps: int, sensitivity: float) -> tuple[float, float]:
    """Ties formed, and ties per order won, in the 12 months from the trigger in one run."""
    summary = run_scenario(None, seed=seed, steps=steps, n_firms=firms,
                           **{"region.habitual_cooperators": habit,
                              "response.enabled": response,
                              "response.sensitivity": sensitivity,
                              "shocks": [TRIGGERS[trigger]]})
    return summary["ties_formed_after_shock"], summary["new_ties_per_order_after_shock"]


def interval(diffs: list[float]) -> str:
    """Mean and 95% t-interval of paired differences."""
    d = np.asarray(diffs)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+9.3f} [{d.mean() - half:+9.3f}, {d.mean() + half:+9.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--firms", type=int, default=200)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--habits", type=float, nargs="+", default=[0.2, 0.8])
    parser.add_argument("--sensitivity", type=float, default=1.0,
                        help="response.sensitivity (openness per unit of perceived change)")
    parser.add_argument("--response-only", action="store_true",
                        help="skip the runs with the response off")
    args = parser.parse_args()
    seeds = range(1, args.seeds + 1)
    for response in (True,) if args.response_only else (True, False):
        print(f"response {'on' if response else 'off'}")
        for habit in args.habits:
            runs = {t: np.array([after(habit, t, s, response, args.firms, args.steps,
                                       args.sensitivity) for s in seeds]) for t in TRIGGERS}
            base = runs["none"]
            print(f"  habit {habit:.1f}, no trigger: ties {base[:, 0].mean():.1f}, "
                  f"per order {base[:, 1].mean():.3f}")
            for trigger in ("crisis", "opportunity"):
                diff = runs[trigger] - base
                print(f"    {trigger:<12} − none: ties {interval(diff[:, 0])}   "
                      f"per order {interval(diff[:, 1])}")


if __name__ == "__main__":
    main()
