"""Small results stores for the analysis, report and browser tests.

Each store comes from real runs of tiny models (40 firms, 18 months) written by the
store's own writer (:meth:`ResultsStore.record`), as a sweep writes them. The
builders are cached: a test process builds each store once, in a temporary folder;
tests that damage a store copy it first.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from clustersim.experiments.execute import execute, versions
from clustersim.experiments.spec import RunResult, RunSpec

TINY = {"firms.count": 40, "steps": 18}
STEPS = 18
COVID = [{"type": "demand_drop", "start": 6, "duration": 4, "magnitude": 0.6}]
# 500 k€ in all for the 40 firms: budgets are stated per 1,000 firms.
POLICY = {"brokers": [{"type": "brokers", "start": 2, "duration": 12, "budget": 12_500.0}],
          "hubs": [{"type": "hubs", "start": 2, "duration": 12, "budget": 12_500.0}]}
MORRIS_PROBLEM = {
    "num_vars": 4,
    "names": ["market.volatility", "region.cooperativeness", "region.initial_ties_per_firm",
              "market.novelty_growth"],
    "bounds": [[0.05, 0.5], [0.2, 0.9], [1.0, 8.0], [0.001, 0.01]],
}

_ROOT: Path | None = None


def _root() -> Path:
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="clustersim-test-stores-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def make_meta(experiment: str, *, baseline_arm: str = "baseline",
              factors: dict[str, list[Any]] | None = None,
              sampler: dict[str, Any] | None = None, description: str = "") -> dict[str, str]:
    """The meta rows a store of ``experiment`` would have."""
    toml = f'name = "{experiment}"\ndescription = "{description}"\nseed = 1000\n'
    return {
        "experiment": experiment,
        "fingerprint": f"test-{experiment}", "experiment_toml": toml,
        "baseline_arm": baseline_arm, "factors": json.dumps(factors or {}),
        "sampler": json.dumps(sampler), "created_with": json.dumps(versions()),
    }


def failed(spec: RunSpec, error: str = "RuntimeError: the test made this run fail") -> RunResult:
    return RunResult(run_id=spec.run_id, status="failed", summary={}, timeseries=None,
                     seconds=0.01, started=0.0, host="test", versions=versions(), error=error)


def write_store(path: Path, meta: dict[str, str],
                results: Iterable[tuple[RunSpec, RunResult]]) -> Path:
    """Write a store as a sweep does: the store's own writer, one run at a time."""
    from clustersim.experiments.store import ResultsStore

    with ResultsStore.open_for_sweep(path, meta) as store:
        for spec, result in results:
            store.record(spec, result)
    return path


def spec(experiment: str, point: int, arm: str, levels: dict[str, Any],
         overrides: dict[str, Any], replication: int, record_every: int = 1) -> RunSpec:
    label = " | ".join([arm, *(f"{k}={v}" for k, v in levels.items())])
    return RunSpec(experiment=experiment, point=point, arm=arm, label=label, levels=levels,
                   scenario="baseline", overrides={**TINY, **overrides},
                   replication=replication, seed=1000 + replication, steps=STEPS,
                   record_every=record_every)


@cache
def policy_store() -> Path:
    """Arms baseline, brokers, hubs × shock none/covid × 4 replications; replication 3 of
    brokers without a shock failed (so it has 3 pairs with the baseline, not 4)."""
    specs, point = [], 0
    for arm in ("baseline", "brokers", "hubs"):
        for shock in ("none", "covid"):
            overrides = {"policies": POLICY.get(arm, []), "shocks": COVID if shock == "covid" else []}
            for replication in range(4):
                specs.append(spec("tiny_policy", point, arm, {"shock": shock}, overrides,
                                  replication))
            point += 1
    pairs = [(s, failed(s) if (s.arm, s.levels["shock"], s.replication) == ("brokers", "none", 3)
              else execute(s)) for s in specs]
    assert all(r.status == "done" for s, r in pairs if s.replication < 3), "a tiny run failed"
    meta = make_meta("tiny_policy", factors={"shock": ["none", "covid"]},
                     description="Three arms under no shock and a demand drop (test).")
    return write_store(_root() / "tiny_policy.duckdb", meta, pairs)


@cache
def static_dynamic_store() -> Path:
    """One arm; factors network_mode (static, dynamic) × volatility (0.1, 0.5); 2
    replications; every 3rd month kept."""
    specs, point = [], 0
    for mode in ("static", "dynamic"):
        for volatility in (0.1, 0.5):
            for replication in range(2):
                specs.append(spec("tiny_static_dynamic", point, "baseline",
                                  {"network_mode": mode, "volatility": volatility},
                                  {"network_mode": mode, "market.volatility": volatility},
                                  replication, record_every=3))
            point += 1
    meta = make_meta("tiny_static_dynamic",
                     factors={"network_mode": ["static", "dynamic"], "volatility": [0.1, 0.5]})
    return write_store(_root() / "tiny_static_dynamic.duckdb", meta,
                       [(s, execute(s)) for s in specs])


def morris_samples(trajectories: int = 2, num_levels: int = 4, seed: int = 7) -> np.ndarray:
    from SALib.sample import morris

    return morris.sample(MORRIS_PROBLEM, trajectories, num_levels=num_levels, seed=seed)


@cache
def morris_store() -> Path:
    """A Morris design over four parameters: 2 trajectories (10 points) × 2 replications."""
    x = morris_samples()
    specs = []
    for i, row in enumerate(x):
        overrides = {name: float(v) for name, v in zip(MORRIS_PROBLEM["names"], row, strict=True)}
        for replication in range(2):
            specs.append(spec("tiny_morris", i, "baseline", {"sample": i}, overrides, replication))
    sampler = {"method": "morris", "names": MORRIS_PROBLEM["names"],
               "bounds": MORRIS_PROBLEM["bounds"], "num_levels": 4, "samples": 2,
               "calc_second_order": False, "matrix": x.tolist()}
    meta = make_meta("tiny_morris", sampler=sampler)
    return write_store(_root() / "tiny_morris.duckdb", meta, [(s, execute(s)) for s in specs])


def digest(path: Path) -> dict[str, str]:
    """Hashes of a store and its write-ahead log (what 'unchanged' means)."""
    out = {}
    for candidate in (path, path.with_name(path.name + ".wal")):
        if candidate.exists():
            out[candidate.name] = hashlib.sha256(candidate.read_bytes()).hexdigest()
    return out


def copy_store(source: Path, folder: Path) -> Path:
    target = folder / source.name
    shutil.copyfile(source, target)
    return target

def tiny_specs(replications: int = 2, *, failing: bool = True, steps: int = 12) -> list[RunSpec]:
    """Real, small runs: two arms of 40 firms (and a point whose scenario is invalid)."""
    points = [
        ("baseline", {"firms.count": 40}),
        ("volatile", {"firms.count": 40, "market.volatility": 0.4}),
    ]
    if failing:
        points.append(("invalid", {"firms.count": 2}))  # fails when the model is built
    return [
        RunSpec(
            experiment="tiny",
            point=p,
            arm=arm,
            label=arm,
            levels={},
            scenario="baseline",
            overrides=overrides,
            replication=r,
            seed=1000 + r,
            steps=steps,
            record_every=3,
        )
        for r in range(replications)
        for p, (arm, overrides) in enumerate(points)
    ]
