"""One tidy table of a sweep: one row per run, parameters and outcomes as typed columns.

What BehaviorSpace and EMA Workbench users expect: the run's identity (run id, arm,
design point, replication, seed, status), one column per design factor (its level), one
column per scenario key the run overrode (``firms.count``; a ``[[shocks]]`` table's
fields as ``shocks[0].magnitude``), and one column per run outcome (docs/ODD.md §8).
Nothing is a JSON string. ``clustersim export STORE --tidy FILE`` writes it, and
``load_results(STORE).tidy()`` returns it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from clustersim.outcomes import OUTCOMES

if TYPE_CHECKING:
    from clustersim.experiments.analysis import Results

# Columns of the runs table kept as they are.
RUN_COLUMNS = ("run_id", "arm", "point", "label", "replication", "seed", "scenario", "steps",
               "status", "error")
TIDY_SUFFIXES = (".parquet", ".csv")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested overrides as dotted keys: ``{"shocks": [{"start": 36}]}`` → ``shocks[0].start``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
        return out or {prefix: None}
    if isinstance(value, list):  # a list of plain values: one readable cell (none: empty)
        return {prefix: ", ".join(map(str, value)) if value else None}
    return {prefix: value}


def tidy_table(results: Results) -> pd.DataFrame:
    """The tidy frame of loaded results (see the module docstring)."""
    runs = results.runs
    keep = [c for c in RUN_COLUMNS if c in runs.columns]
    frame = runs[keep + [f for f in results.factors if f in runs.columns]].copy()
    overrides = pd.DataFrame([flatten(json.loads(text) if isinstance(text, str) and text else {})
                              for text in runs["overrides"]], index=runs.index)
    overrides = overrides[[c for c in overrides.columns
                           if c not in frame.columns and overrides[c].notna().any()]]
    frame = pd.concat([frame, overrides.infer_objects()], axis=1)
    outcomes = results.summaries[["run_id", *[o for o in OUTCOMES if o in results.summaries]]]
    frame = frame.merge(outcomes, on="run_id", how="left")
    return frame.sort_values(["point", "replication", "run_id"]).reset_index(drop=True)


def write_tidy(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the frame as Parquet or CSV by the file's suffix, atomically."""
    path = Path(path)
    if path.suffix.lower() not in TIDY_SUFFIXES:
        raise ValueError(f"--tidy {path}: the file must end in .parquet or .csv")
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        if path.suffix.lower() == ".csv":
            frame.to_csv(tmp, index=False, lineterminator="\n")
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
