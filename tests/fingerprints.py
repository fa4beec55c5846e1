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


def frame_hash(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """SHA-256 of a frame's column names and exact values (bit for bit).

    With ``columns``, only those columns (in that order) count: a column added later
    (a new output) leaves the fingerprint of the outputs that were already there unchanged,
    while a column that goes missing changes it.
    """
    if columns is not None:
        frame = frame.reindex(columns=columns)
    digest = hashlib.sha256()
    digest.update("|".join(map(str, frame.columns)).encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _scenario(name: str, overrides: dict):
    """The scenario with overrides (``policies[0].start`` edits the first programme)."""
    from clustersim.scenario import load_scenario

    return load_scenario(name, overrides)


def _frames(model) -> dict[str, pd.DataFrame]:
    """The outputs of a finished run that fingerprints cover, by name."""
    totals = pd.DataFrame([model.totals()]).reindex(sorted(model.totals()), axis=1)
    ties = pd.DataFrame(dict(zip(("u", "v", "trust"), model.ties.edges(), strict=True)))
    return {"timeseries": model.timeseries(), "firms": model.firm_frame(),
            "payments": model.payments_frame(), "events": model.events_frame(),
            "totals": totals, "ties": ties}


def stored_columns(name: str) -> dict[str, list[str]]:
    """The columns each output of run ``name`` had when the fingerprints were last written."""
    if not STORE.exists():
        return {}
    return json.loads(STORE.read_text()).get(COLUMNS_KEY, {}).get(name, {})


COLUMNS_KEY = "_columns"


def run_fingerprint(name: str, columns: dict[str, list[str]] | None = None,
                    frames: dict[str, pd.DataFrame] | None = None) -> dict[str, str]:
    """Hashes of one fixed run's time series, firms, payments, events, totals and ties,
    over the ``columns`` each had when the fingerprints were written (default: stored)."""
    from clustersim.model import ClusterModel

    scenario_name, seed, steps, overrides = RUNS[name]
    model = ClusterModel(_scenario(scenario_name, overrides), seed=seed)
    model.run(steps)
    columns = stored_columns(name) if columns is None else columns
    outputs = _frames(model)
    if frames is not None:
        frames.update(outputs)
    prints = {key: frame_hash(frame, columns.get(key)) for key, frame in outputs.items()}
    prints["rng"] = hashlib.sha256(np.asarray(model.rng.random(4)).tobytes()).hexdigest()[:16]
    return prints


def all_fingerprints() -> dict:
    """Every run's fingerprints over all current columns, plus those columns."""
    prints: dict = {}
    columns: dict[str, dict[str, list[str]]] = {}
    for name in RUNS:
        frames: dict[str, pd.DataFrame] = {}
        prints[name] = run_fingerprint(name, columns={}, frames=frames)
        columns[name] = {key: [str(c) for c in frame.columns] for key, frame in frames.items()}
    prints[COLUMNS_KEY] = columns
    return prints


if __name__ == "__main__":
    prints = all_fingerprints()
    text = json.dumps(prints, indent=2, sort_keys=True) + "\n"
    if "--update" in sys.argv:
        STORE.write_text(text)
        print(f"wrote {STORE}")
    else:
        print(text)
