"""Fingerprints of fixed runs: a change that should not alter behaviour keeps them equal.

``python tests/fingerprints.py`` prints the current fingerprints; ``--update`` writes
them to ``tests/data/fingerprints.json``, which ``tests/test_fingerprint.py`` compares
against. Update them only in a commit that changes the model's behaviour on purpose, and
say so in its message.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

STORE = Path(__file__).resolve().parent / "data" / "fingerprints.json"

# name → (scenario, seed, steps, overrides): small, fast, and together they reach every
# mechanism: dynamic and static teams, the three policies, brokers' norms, shocks.
RUNS: dict[str, tuple[str, int, int, dict]] = {
    "baseline": ("baseline", 3, 24, {"firms.count": 150}),
    "static": ("static", 4, 24, {"firms.count": 150}),
    "denmark_1989": ("denmark_1989", 5, 30,
                     {"firms.count": 200, "policies[0].start": 2}),
    "emilia_romagna": ("emilia_romagna", 6, 30, {"firms.count": 200}),
    "challenge_grants": ("challenge_grants", 7, 30,
                         {"firms.count": 200, "policies[0].start": 2}),
    "covid_demand_drop": ("covid_demand_drop", 8, 48, {"firms.count": 150}),
    "supply_disruption": ("supply_disruption", 9, 48, {"firms.count": 150}),
}


def frame_hash(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's column names and exact values (bit for bit)."""
    digest = hashlib.sha256()
    digest.update("|".join(map(str, frame.columns)).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _scenario(name: str, overrides: dict):
    """The scenario with overrides; ``policies[0].start`` edits the first programme."""
    from clustersim.scenario import load_scenario

    plain = {k: v for k, v in overrides.items() if not k.startswith("policies[")}
    scenario = load_scenario(name, plain)
    for key, value in overrides.items():
        if key.startswith("policies[0]."):
            setattr(scenario.policies[0], key.split(".", 1)[1], value)
    return scenario


def run_fingerprint(name: str) -> dict[str, str]:
    """Hashes of one fixed run's time series, firms, payments, events and totals."""
    from clustersim.model import ClusterModel

    scenario_name, seed, steps, overrides = RUNS[name]
    model = ClusterModel(_scenario(scenario_name, overrides), seed=seed)
    model.run(steps)
    totals = pd.DataFrame([model.totals()]).reindex(sorted(model.totals()), axis=1)
    ties = pd.DataFrame(dict(zip(("u", "v", "trust"), model.ties.edges(), strict=True)))
    return {
        "timeseries": frame_hash(model.timeseries()),
        "firms": frame_hash(model.firm_frame()),
        "payments": frame_hash(model.payments_frame()),
        "events": frame_hash(model.events_frame()),
        "totals": frame_hash(totals),
        "ties": frame_hash(ties),
        "rng": hashlib.sha256(np.asarray(model.rng.random(4)).tobytes()).hexdigest()[:16],
    }


def all_fingerprints() -> dict[str, dict[str, str]]:
    return {name: run_fingerprint(name) for name in RUNS}


if __name__ == "__main__":
    prints = all_fingerprints()
    text = json.dumps(prints, indent=2, sort_keys=True) + "\n"
    if "--update" in sys.argv:
        STORE.write_text(text)
        print(f"wrote {STORE}")
    else:
        print(text)
