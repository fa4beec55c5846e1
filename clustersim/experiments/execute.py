"""Run one :class:`~clustersim.experiments.spec.RunSpec`: the function every backend calls.

It lives at module level and takes and returns plain picklable objects, so the
``processes`` backend and Dask workers can call it: importing Mesa sets the ``spawn``
start method (docs/developing.md T3), so a worker process imports the function by name and
gets its spec pickled.
It never raises: a run that fails comes back as a ``failed`` result with its error,
so that one bad run never stops a sweep.
"""

from __future__ import annotations

import platform
import socket
import time
import traceback
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from clustersim.experiments.spec import RunResult, RunSpec

# A sweep keeps time series and summaries; per-run firm tables and network snapshots
# would cost time and memory for nothing, so they are switched off.
SWEEP_OVERRIDES: dict[str, Any] = {"outputs.firm_table_steps": [],
                                   "outputs.network_snapshot_steps": []}


@cache
def versions() -> dict[str, str]:
    """Versions that can change a run's results (stored with every run)."""
    import mesa
    import networkx

    import clustersim

    return {"clustersim": clustersim.__version__, "mesa": mesa.__version__,
            "numpy": np.__version__, "networkx": networkx.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


def build_model(spec: RunSpec):
    """The model a spec describes (not yet run)."""
    from clustersim.model import ClusterModel

    return ClusterModel(spec.scenario, seed=spec.seed, **{**spec.overrides, **SWEEP_OVERRIDES})


def release(model: Any) -> None:
    """Let a finished model be freed: Mesa 3.3 keeps every model as a key of
    ``Agent._ids`` (its per-model id counters) for the life of the process, so a worker
    that runs thousands of models grows without this (mesa#3179, fixed after 3.3)."""
    import mesa

    mesa.Agent._ids.pop(model, None)


def thin(timeseries: pd.DataFrame, every: int) -> pd.DataFrame:
    """Keep every ``every``-th month, plus month 0 and the last month."""
    if every <= 1:
        return timeseries.reset_index(drop=True)
    steps = timeseries["step"].to_numpy()
    keep = (steps % every == 0) | (steps == steps.max())
    return timeseries.loc[keep].reset_index(drop=True)


def execute(spec: RunSpec) -> RunResult:
    """Run the model a spec describes and summarise it; a failure is returned, not raised."""
    from clustersim.outcomes import summarise
    from clustersim.run_tables import run_tables

    started = time.time()
    clock = time.perf_counter()
    host = socket.gethostname()
    model = None
    try:
        model = build_model(spec)
        model.run(spec.steps)
        full = model.timeseries()
        summary = summarise(model, full)
        series = thin(full, spec.record_every)
        tables = run_tables(model, spec.tables) if spec.tables else None
        return RunResult(run_id=spec.run_id, status="done", summary=summary, timeseries=series,
                         seconds=time.perf_counter() - clock, started=started, host=host,
                         versions=versions(), tables=tables)
    except Exception as exc:  # a failed run is data, not a crash of the sweep
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        tb = traceback.format_exc(limit=-3)
        return RunResult(run_id=spec.run_id, status="failed", summary={}, timeseries=None,
                         seconds=time.perf_counter() - clock, started=started, host=host,
                         versions=versions(), error=f"{detail}\n{tb}"[:4000])
    finally:
        if model is not None:
            release(model)
