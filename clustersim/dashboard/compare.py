"""What the compare page shows of a results store: the report's charts and the arms' tables.

Built on the same functions as the HTML report (:mod:`clustersim.experiments.analysis`
and :func:`clustersim.experiments.report.build_figures`); only the store's name comes
from the visitor, and :func:`~clustersim.dashboard.results.resolve_store` keeps it
inside the server's results folder.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from clustersim.dashboard.results import ResultsPathError, resolve_store

logger = logging.getLogger(__name__)


class CompareError(ValueError):
    """A store that cannot be shown; the message is for the page."""


@dataclass
class CompareView:
    """A store as the page shows it: titles, HTML tables (escaped) and plotly figures."""

    name: str
    title: str
    description: str
    summary: str
    arms: list[str]
    tables: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, Any]] = field(default_factory=list)


def _fmt(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _cell(mean: float, low: float, high: float) -> str:
    if not math.isfinite(low) or not math.isfinite(high):
        return _fmt(mean)
    return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def outcome_label(name: str) -> str:
    from clustersim.outcomes import OUTCOME_INFO

    info = OUTCOME_INFO.get(name)
    return f"{info.label} ({info.unit})" if info is not None else name


def arms_html(table: pd.DataFrame) -> str:
    """The arm table (long: point, label, outcome, mean, CI) as one row per design point."""
    if not len(table):
        return "<p>No finished runs in this store.</p>"
    cells = table.assign(cell=[_cell(m, lo, hi) for m, lo, hi in
                               zip(table["mean"], table["ci_low"], table["ci_high"], strict=True)])
    wide = cells.pivot_table(index=["point", "label"], columns="outcome", values="cell",
                             aggfunc="first", sort=False)
    runs = cells.groupby(["point", "label"], sort=False)["n"].max()
    order = list(dict.fromkeys(cells["outcome"]))
    wide = wide[order].rename(columns=outcome_label)
    wide.insert(0, "runs", runs)
    wide = wide.reset_index(level="point", drop=True)
    return _outcomes_as_rows(wide)


def _outcomes_as_rows(wide: pd.DataFrame) -> str:
    """One row per outcome, one column per arm (few arms, many outcomes: reads down)."""
    table = wide.T
    table.columns.name = None
    table.index.name = None
    return table.to_html(escape=True, border=0, classes="cs-table", na_rep="–")


def differences_html(table: pd.DataFrame) -> str:
    """Each arm minus the baseline, paired by replication (long → wide, escaped)."""
    if not len(table):
        return ""
    value = "difference" if "difference" in table.columns else "mean"
    cells = table.assign(cell=[_cell(m, lo, hi) for m, lo, hi in
                               zip(table[value], table["ci_low"], table["ci_high"], strict=True)])
    index = "label" if "label" in cells.columns else "arm"
    wide = cells.pivot_table(index=index, columns="outcome", values="cell", aggfunc="first",
                             sort=False)
    order = list(dict.fromkeys(cells["outcome"]))
    wide = wide[order].rename(columns=outcome_label)
    return _outcomes_as_rows(wide)


DIFFERENCES_TITLE = "The answer: each arm against the baseline arm, paired by replication"
ALL_DIFFERENCES = "Every outcome: difference from the baseline arm, mean [95% CI]"
TABLE_STYLE = (
    "<style>.cs-table{border-collapse:collapse}.cs-table th,.cs-table td{padding:3px 8px;"
    "border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}.cs-table th:first-child,"
    ".cs-table tbody th{text-align:left}</style>")


def build_view(results: Any, name: str) -> CompareView:
    """The page's view of loaded results (figures from the report's own builder)."""
    from clustersim.experiments.analysis import arm_table, differences, experiment_description
    from clustersim.experiments.report import build_figures, verdict_fragment

    arms = list(results.arms)
    meta = results.meta
    title = str(meta.get("experiment") or Path(name).stem)
    runs = results.runs
    done = int((runs["status"] == "done").sum()) if "status" in runs else len(results.summaries)
    failed = int((runs["status"] == "failed").sum()) if "status" in runs else 0
    summary = (f"{len(arms)} arm{'s' if len(arms) != 1 else ''}: {', '.join(arms)} · "
               f"{done} runs done" + (f", {failed} failed" if failed else "")
               + (f" · baseline arm: {meta['baseline_arm']}" if meta.get("baseline_arm") else ""))
    tables = [("Outcomes per arm: mean [95% confidence interval]",
               TABLE_STYLE + arms_html(arm_table(results)))]
    try:
        diff = differences(results)
    except (KeyError, ValueError) as exc:  # no baseline arm to compare with
        logger.info("no differences for %s: %s", name, exc)
        diff = pd.DataFrame()
    if len(diff):  # the report's own summary first, then every outcome's difference
        tables.append((DIFFERENCES_TITLE, verdict_fragment(results) + TABLE_STYLE
                       + f"<h4>{ALL_DIFFERENCES}</h4>" + differences_html(diff)))
    figures = [(key, fig) for key, fig in build_figures(results) if fig is not None]
    return CompareView(name=name, title=f"Experiment: {title}",
                       description=experiment_description(results), summary=summary,
                       arms=arms, tables=tables, figures=figures)


def open_view(name: str, folder: Path | None = None) -> CompareView:
    """Resolve ``name`` inside the results folder, load the store and build its view."""
    from clustersim.experiments.analysis import load_results
    from clustersim.experiments.spec import StoreError

    try:
        path = resolve_store(name, folder)
    except ResultsPathError as exc:
        raise CompareError(str(exc)) from None
    shown = Path(str(name).strip()).as_posix()
    try:
        results = load_results(path)
    except StoreError as exc:
        # the message names the file by its full path: show the name inside the folder
        raise CompareError(str(exc).replace(str(path), shown)) from None
    try:
        return build_view(results, shown)
    except Exception as exc:  # a store this page cannot draw must not take the server down
        logger.exception("cannot show %s", path)
        raise CompareError(f"{shown}: opened, but its results cannot be shown "
                           f"({exc.__class__.__name__}: {exc})") from None
