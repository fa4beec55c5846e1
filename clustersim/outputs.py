"""Write one run's results to a folder, and summarise them for the CLI.

Every file is written atomically (a temporary file in the same folder, then
``os.replace``) and deterministically: no timestamps, no wall times, so two runs
with the same scenario and seed write byte-identical files.
"""

from __future__ import annotations

import json
import math
import os
import platform
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from clustersim.scenario import Scenario, scenario_to_toml

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

TIMESERIES = "timeseries"
FIRMS = "firms"
SCENARIO_FILE = "scenario.toml"
RUN_FILE = "run.json"

# Columns of the final month shown in the summary, in this order, when the model has them.
SUMMARY_FINAL_COLUMNS: tuple[str, ...] = (
    "firms_alive",
    "employment",
    "orders",
    "orders_won",
    "revenue",
    "capacity_use",
    "innovations_cum",
    "mean_knowledge",
    "mean_degree",
    "clustering",
    "largest_component_share",
    "formal_network_share",
    "mean_team_size",
)


class RunModel(Protocol):
    """What :func:`write_run` needs from a finished model (``ClusterModel`` has it)."""

    scenario: Scenario
    network_snapshots: dict[int, nx.Graph]

    def timeseries(self) -> pd.DataFrame: ...

    def firm_table(self) -> pd.DataFrame: ...

    def totals(self) -> dict[str, float]: ...


# --------------------------------------------------------------------------- writing


def write_run(model: RunModel, out_dir: str | Path, *, seed: int) -> list[Path]:
    """Write a finished run's tables, networks and record into ``out_dir``; return the paths.

    Files: ``timeseries.csv``/``.parquet`` (one row per month), ``firms.csv``/``.parquet``
    (the months ``outputs.firm_table_steps`` lists, and always the last month run),
    ``payments`` (every unit policies paid),
    ``events`` (shock starts and ends), ``resilience`` (per shock), ``formal_networks``,
    ``grant_projects`` and ``team_sizes`` (clustersim/run_tables.py) when there are any, ``network_step{N}.gexf``/``.graphml``
    per month ``outputs.network_snapshot_steps`` lists and for the last month, ``scenario.toml`` (the resolved scenario) and, last, ``run.json``
    (seed, steps, versions), so a folder with ``run.json`` holds a complete run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    written += _write_table(model.timeseries(), out, TIMESERIES)
    firms, snapshots = _with_last_month(model)
    if firms is not None and not firms.empty:
        written += _write_table(firms, out, FIRMS)
    # What policies paid (every unit, per month and recipient) and when shocks hit.
    for stem, method in (("payments", "payments_frame"), ("events", "events_frame"),
                         ("resilience", "resilience_frame")):
        frame = getattr(model, method)() if hasattr(model, method) else None
        if frame is not None and not frame.empty:
            written += _write_table(frame, out, stem)
    # The per-run tables a sweep may keep (clustersim/run_tables.py), where the run has rows.
    if hasattr(model, "partner_revenue"):
        from clustersim.run_tables import RUN_TABLES, run_tables

        for stem, frame in run_tables(model, [t for t in RUN_TABLES if t != "firms_end"]).items():
            if not frame.empty:
                written += _write_table(frame, out, stem)

    if snapshots:
        from clustersim.networks import export_network  # networkx only when needed

        for step in sorted(snapshots):
            for suffix in (".gexf", ".graphml"):
                path = out / f"network_step{step}{suffix}"
                export_network(snapshots[step], path)
                written.append(path)

    scenario = model.scenario
    written.append(_write_text(out / SCENARIO_FILE, scenario_to_toml(scenario)))
    record = run_record(model, seed=seed, files=[p.name for p in written])
    written.append(_write_text(out / RUN_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n"))
    return written


def _with_last_month(model: RunModel) -> tuple[pd.DataFrame | None, dict[int, nx.Graph]]:
    """The firm table and network snapshots the scenario asked for, plus the last month's.

    A run shorter than the scenario's months (``--steps``), or a scenario that lists no
    months, would otherwise end with no picture of where the firms ended up.
    """
    firms = model.firm_table()
    snapshots = dict(model.network_snapshots or {})
    last = _months_run(model)
    if hasattr(model, "firm_frame"):
        import pandas as pd

        have = set() if firms is None or firms.empty else set(firms["step"].tolist())
        if last not in have:
            frames = [f for f in (firms, model.firm_frame()) if f is not None and not f.empty]
            firms = pd.concat(frames, ignore_index=True) if frames else firms
    if hasattr(model, "network_graph") and last not in snapshots:
        snapshots[last] = model.network_graph()
    return firms, snapshots


def run_record(model: RunModel, *, seed: int, files: list[str]) -> dict[str, Any]:
    """The ``run.json`` contents: what was run, with which seed and software versions."""
    scenario = model.scenario
    steps = _months_run(model)
    return {
        "scenario": scenario.name,
        "network_mode": scenario.network_mode,
        "seed": seed,
        "steps": steps,
        "files": files,
        "versions": software_versions(),
    }


def software_versions() -> dict[str, str]:
    """Versions of clustersim and the libraries that decide its results."""
    import mesa
    import numpy

    from clustersim import __version__

    return {
        "clustersim": __version__,
        "mesa": mesa.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def _write_table(frame: pd.DataFrame, out: Path, stem: str) -> list[Path]:
    csv_path = out / f"{stem}.csv"
    parquet_path = out / f"{stem}.parquet"
    with _atomic_path(csv_path) as tmp:
        # pandas writes floats with repr(): exact and the same on every run.
        frame.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    with _atomic_path(parquet_path) as tmp:
        frame.to_parquet(tmp, engine="pyarrow", index=False)
    return [csv_path, parquet_path]


def _write_text(path: Path, text: str) -> Path:
    with _atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return path


@contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only if the body succeeds."""
    # Not tempfile.mkstemp: its 0600 mode would survive os.replace; O_EXCL with a
    # unique name gives the files the permissions the user's umask asks for.
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- summary


def summary_table(model: RunModel) -> list[tuple[str, str, str]]:
    """Rows of (section, figure, value): the final month's key figures, then the run's totals."""
    rows: list[tuple[str, str, str]] = []
    frame = model.timeseries()
    if len(frame):
        last = frame.iloc[-1]
        month = _months_run(model)
        section = f"final month ({month})"
        for column in SUMMARY_FINAL_COLUMNS:
            if column in frame.columns:
                rows.append((section, column, format_figure(last[column])))
    for name, value in (model.totals() or {}).items():
        rows.append(("run totals", name, format_figure(value)))
    return rows


def format_figure(value: Any) -> str:
    """A number as a person reads it: counts without decimals, shares with three."""
    if isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return str(number)
    if number.is_integer():
        return f"{number:,.0f}"
    if abs(number) >= 100:
        return f"{number:,.1f}"
    return f"{number:.3f}"


def _months_run(model: RunModel) -> int:
    frame = model.timeseries()
    if "step" in frame.columns and len(frame):
        return int(frame["step"].iloc[-1])
    return int(model.scenario.steps)
