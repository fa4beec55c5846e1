"""Resilience after a shock (docs/ODD.md §8): how deep the drop, how long the recovery.

Computed after a run from the monthly time series. The pre-shock level is the mean of
a column (default ``revenue``) over the ``baseline_months`` before the shock. After the
shock the series is smoothed with a *forward* moving mean (month t: the mean of months
t .. t + smooth − 1, cut at the end of the window), so that a level that holds for
``smooth`` months counts and a one-month blip does not. The depth is
1 − trough / pre-shock level; the months to recover count from the shock's start to the
first month after the trough whose smoothed value is back at ``recovery_level`` × the
pre-shock level (0 when it never fell that far; None when it never gets back).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from clustersim.model import ClusterModel
    from clustersim.shocks import ShockConfig

RESILIENCE_COLUMNS = ["shock", "type", "start", "end", "baseline", "trough", "trough_month",
                      "depth", "recovery_month", "months_to_recover", "recovered"]


def resilience(timeseries: pd.DataFrame, start: int, end: int | None = None,
               column: str = "revenue", baseline_months: int = 12,
               recovery_level: float = 0.95, smooth: int = 3) -> dict[str, Any]:
    """Depth of the drop in ``column`` after a shock at month ``start`` and months to recover.

    ``timeseries`` has one row per month; months are its ``step`` column if it has one
    (as :meth:`ClusterModel.timeseries` does; month 0, the initial state whose monthly
    flows are zero, is then left out), else its index. The window examined runs from
    ``start`` up to, not including, ``end`` (default: to the end of the series).

    Returns a dict: ``baseline`` (pre-shock mean), ``trough`` and ``trough_month`` (lowest
    smoothed value and when), ``depth`` (1 − trough / baseline: 0.4 = a 40% drop; negative
    when the series never fell below its pre-shock mean), ``recovery_month``,
    ``months_to_recover`` (recovery_month − start; 0 if it never fell below the recovery
    level, None if it never got back) and ``recovered``. Figures that cannot be computed
    (no pre-shock months, a pre-shock mean ≤ 0, nothing after the start) are NaN / None.
    """
    if column not in timeseries.columns:
        raise KeyError(f"no column {column!r} in the time series; columns: "
                       f"{', '.join(map(str, timeseries.columns))}")
    if baseline_months < 1 or smooth < 1:
        raise ValueError(f"baseline_months ({baseline_months}) and smooth ({smooth}) must be ≥ 1")
    if not recovery_level > 0:  # also refuses NaN
        raise ValueError(f"recovery_level must be > 0, got {recovery_level}")
    if "step" in timeseries.columns:
        months = timeseries["step"].to_numpy(dtype=np.int64)
        keep = months > 0
    else:
        months = np.asarray(timeseries.index, dtype=np.int64)
        keep = np.ones(len(months), dtype=bool)
    values = timeseries[column].to_numpy(dtype=float)
    keep &= ~np.isnan(values)
    months, values = months[keep], values[keep]
    order = np.argsort(months, kind="stable")
    months, values = months[order], values[order]

    result: dict[str, Any] = {"baseline": math.nan, "trough": math.nan, "trough_month": None,
                              "depth": math.nan, "recovery_month": None,
                              "months_to_recover": None, "recovered": False}
    before = values[(months >= start - baseline_months) & (months < start)]
    in_window = (months >= start) & (months < end if end is not None else True)
    if len(before) == 0 or not in_window.any():
        return result
    baseline = float(before.mean())
    window_months, window = months[in_window], values[in_window]
    # Forward moving mean: month t ← mean of t .. t + smooth − 1 (within the window).
    smoothed = pd.Series(window[::-1]).rolling(smooth, min_periods=1).mean().to_numpy()[::-1]
    low = int(np.argmin(smoothed))
    trough = float(smoothed[low])
    result.update(baseline=baseline, trough=trough, trough_month=int(window_months[low]))
    if baseline <= 0:
        return result
    result["depth"] = 1.0 - trough / baseline
    threshold = recovery_level * baseline
    if trough >= threshold:
        back = start
    else:
        later = np.flatnonzero(smoothed[low + 1:] >= threshold)
        if len(later) == 0:
            return result
        back = int(window_months[low + 1 + later[0]])
    result.update(recovery_month=back, months_to_recover=back - start, recovered=True)
    return result


def resilience_table(shocks: Sequence[ShockConfig], timeseries: pd.DataFrame,
                     column: str = "revenue", **options: Any) -> pd.DataFrame:
    """:func:`resilience` for each shock, one row each (columns ``RESILIENCE_COLUMNS``).

    Each shock's window runs until the next shock starts (or the series ends), so a
    later shock's drop is not counted against an earlier one. ``options`` go to
    :func:`resilience` (``baseline_months``, ``recovery_level``, ``smooth``).
    """
    starts = sorted({shock.start for shock in shocks})
    rows = []
    for i, shock in enumerate(shocks):
        following = [s for s in starts if s > shock.start]
        figures = resilience(timeseries, shock.start, following[0] if following else None,
                             column=column, **options)
        rows.append({"shock": f"{shock.type}#{i}", "type": shock.type, "start": shock.start,
                     "end": shock.start + shock.duration, **figures})
    frame = pd.DataFrame(rows, columns=RESILIENCE_COLUMNS)
    frame["months_to_recover"] = pd.to_numeric(frame["months_to_recover"], errors="coerce")
    frame["recovery_month"] = pd.to_numeric(frame["recovery_month"], errors="coerce")
    return frame


def model_resilience(model: ClusterModel, column: str = "revenue", **options: Any) -> pd.DataFrame:
    """Resilience figures for every shock of a model's run (``months_to_recover`` NaN if never)."""
    return resilience_table(model.scenario.shocks, model.timeseries(), column=column, **options)
