"""The HTML report of a results store: one self-contained file, plotly charts and tables.

:func:`build_figures` turns :class:`~clustersim.experiments.analysis.Results` into
plotly figures (pure: no file IO; the dashboard's compare page shows the same ones);
:func:`render_report` lays them out with the tables as one HTML page, plotly.js
embedded once, nothing fetched from the network; :func:`write_report` reads a store and
writes the page atomically. ``docs/report.md`` explains how to read it.
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from clustersim.colours import PALETTE
from clustersim.experiments import analysis, verdict
from clustersim.experiments.analysis import NETWORK_GAP_LABEL, Results
from clustersim.experiments.spec import StoreError
from clustersim.outcomes import OUTCOME_INFO

# Time-series columns drawn as bands (those the store has).
KEY_SERIES = ["revenue", "firms_alive", "innovations_cum", "mean_degree", "policy_spend_cum"]
SERIES_LABELS = {"revenue": "Revenue per month (k€)", "firms_alive": "Firms alive",
                 "innovations_cum": "Innovations, cumulative",
                 "mean_degree": "Mean degree (trusted ties per firm)",
                 "policy_spend_cum": "Policy money spent, cumulative (k€)"}
# Outcomes shown in the static-vs-dynamic heat maps and the sensitivity charts.
HEATMAP_OUTCOMES = ["innovations", "revenue", "initial_cohort_survival", "firms_alive",
                    "mean_degree"]
SENSITIVITY_OUTCOMES = ["innovations", "revenue", "initial_cohort_survival", "firms_alive",
                        "win_share", "mean_degree"]
MAX_POINTS = 60  # more design points than this (a sampler): no per-point charts
MAX_PANELS = 6  # factor-level panels per time-series chart
SPEND_UNIT = 1000.0  # value for money is shown per 1,000 k€ (1 M€)
BASELINE_COLOUR = "#4d4d4d"
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "modeBarButtonsToRemove": ["select2d", "lasso2d"]}
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"

SECTIONS: dict[str, tuple[str, str]] = {
    "hypotheses": (
        "Hypotheses: what the runs say",
        "Each hypothesis the experiment file states: the treatment minus the reference, run "
        "by run (replication r of both ran with the same seed), under every other condition of "
        "the design, with the 95% CI of the mean paired difference. <b>holds</b>: the CI "
        "excludes 0 on the expected side; <b>opposite</b>: it excludes 0 on the other side; "
        "<b>not settled</b>: it includes 0 or rests on fewer than 3 pairs. A hypothesis that "
        "does not hold, or holds only under some conditions, is a result.",
    ),
    "design": ("Design and runs", ""),
    "outcomes": (
        "Outcomes: mean and 95% CI per design point",
        "Each marker is the mean of one design point over its replications; the whiskers are "
        "the 95% confidence interval of that mean (t-distribution for counts and amounts; "
        "for shares a bootstrap interval and for 0/1 outcomes such as recovered a Wilson "
        "interval, both inside [0, 1]). Overlapping whiskers do "
        "not mean no difference: arms ran with the same seeds and are compared run by run in "
        "the next section.",
    ),
    "differences": (
        "Differences against the baseline",
        "Each arm minus the baseline arm at the same factor levels, paired by replication "
        "(replication r of both arms ran with the same seed). Whiskers: 95% CI of the mean "
        "paired difference; an interval that stays clear of the dashed zero line is a "
        "difference the replications support. In the table, green is better and red worse, "
        "where an outcome has a direction and the interval excludes zero.",
    ),
    "value_for_money": (
        "Value for money",
        "The paired difference from the baseline per 1,000 k€ of extra policy money the arm "
        "actually spent (ratio of means, 95% CI by the delta method). Read it only where the "
        "difference itself is clear; with a difference near zero the ratio says nothing.",
    ),
    "timeseries": (
        "Over time",
        "Monthly mean over the replications (line) with its 95% CI (band), one panel per "
        "factor level. Shaded: months with a shock active.",
    ),
    "network": (
        "Static vs dynamic networks (H1)",
        "Mean outcome per network mode and level (top), and static minus dynamic (bottom: "
        "blue where static networks do better on the number, red where dynamic ones do). "
        "H1 (docs/DOMAIN.md states H1-H11) expects dynamic networks ahead where demand is "
        "volatile. The table gives the paired static − dynamic difference with its 95% CI.",
    ),
    "facts": (
        "Stylised facts: the model against the sources",
        "Each stylised fact the runs can show (docs/DOMAIN.md F1-F11), per arm: the measure's "
        "mean with its 95% CI over the replications, the target range read from the sources, "
        "and whether it holds (green: the whole interval is inside the range; red: wholly "
        "outside; uncoloured: unclear). A fact is left out where no run of an arm can show it "
        "(no broker programme, a run too short, no low-cost competition); "
        "<code>clustersim facts STORE</code> prints the same table.",
    ),
    "sensitivity": ("Sensitivity analysis", ""),
    "distribution": (
        "Outcomes over the whole design",
        "Mean, spread and range of each outcome over every done run of the design.",
    ),
    "failed": ("Failed runs", "Runs that raised an error; they are left out of every figure "
               "and table above. <code>clustersim sweep --retry-failed</code> reruns them."),
}
SENSITIVITY_INTRO = {
    "morris": "Morris elementary effects (SALib): μ* (mean absolute effect of moving a "
              "parameter one step across its range) ranks the parameters by influence; σ "
              "(spread of the effects) large next to μ* signals interactions or "
              "non-linearity. Whiskers: 95% bootstrap interval of μ*. Outcomes averaged over "
              "replications.",
    "sobol": "Sobol indices (SALib): S1 is the share of the outcome's variance a parameter "
             "explains alone, ST the share including its interactions. Whiskers: 95% "
             "bootstrap intervals.",
    "spearman": "Spearman rank correlation of each sampled parameter with each outcome "
                "(averaged over replications), over the design points: a simple measure "
                "of direction and strength of influence.",
}


# --------------------------------------------------------------------------- analysis


class _Analysis:
    """The tables one report needs, each computed once, and how points map to charts."""

    def __init__(self, results: Results):
        self.results = results

    @cached_property
    def points(self) -> pd.DataFrame:
        return analysis.design_points(self.results)

    @cached_property
    def per_point_charts(self) -> bool:
        """Charts by design point make sense for arms × factor grids, not for samplers."""
        return (self.results.sampler is None and 0 < len(self.points) <= MAX_POINTS
                and len(self.results.summaries) > 0)

    @cached_property
    def dims(self) -> tuple[str, list[str]]:
        """(the column that colours the series, the columns that make the x categories)."""
        varying = [f for f in self.results.factors
                   if self.points[f].astype(str).nunique() > 1]
        if len(self.results.arms) > 1 or not varying:
            return "arm", varying
        return varying[0], varying[1:]

    @cached_property
    def series_of(self) -> dict[int, str]:
        series = self.dims[0]
        return {int(p): str(v) for p, v in zip(self.points["point"], self.points[series],
                                               strict=True)}

    @cached_property
    def x_of(self) -> dict[int, str]:
        series, columns = self.dims
        labels = {}
        for _, row in self.points.iterrows():
            if not columns:
                labels[int(row["point"])] = str(row[series])
            elif len(columns) == 1:
                labels[int(row["point"])] = str(row[columns[0]])
            else:
                labels[int(row["point"])] = " · ".join(f"{c}={row[c]}" for c in columns)
        return labels

    @cached_property
    def x_title(self) -> str:
        series, columns = self.dims
        return " · ".join(columns) if columns else series

    def ordered(self, values: Iterable[str]) -> list[str]:
        seen: list[str] = []
        for value in values:
            if value not in seen:
                seen.append(value)
        return seen

    @cached_property
    def series_order(self) -> list[str]:
        return self.ordered(self.series_of[p] for p in sorted(self.series_of))

    @cached_property
    def x_order(self) -> list[str]:
        return self.ordered(self.x_of[p] for p in sorted(self.x_of))

    @cached_property
    def colours(self) -> dict[str, str]:
        colours, i = {}, 0
        for value in self.series_order:
            if self.dims[0] == "arm" and value == self.results.baseline_arm:
                colours[value] = BASELINE_COLOUR
            else:
                colours[value] = PALETTE[i % len(PALETTE)]
                i += 1
        return colours

    def tag(self, table: pd.DataFrame) -> pd.DataFrame:
        """Add ``series`` and ``x`` columns to a table keyed by ``point``."""
        return table.assign(series=table["point"].map(self.series_of),
                            x=table["point"].map(self.x_of))

    @cached_property
    def arm_table(self) -> pd.DataFrame:
        return self.tag(analysis.arm_table(self.results))

    @cached_property
    def differences(self) -> pd.DataFrame:
        return self.tag(analysis.differences(self.results))

    @cached_property
    def value_for_money(self) -> pd.DataFrame:
        """Value for money on the headline outcomes (the other outcomes' differences are
        in the differences section; per k€ they would only repeat them)."""
        headline = [o for o in verdict.HEADLINE_OUTCOMES if o in self.results.outcomes]
        table = self.tag(analysis.value_for_money(self.results, headline or None))
        return table[table["per_keur"].notna()] if len(table) else table

    @cached_property
    def verdict(self) -> pd.DataFrame:
        return verdict.verdict_table(self.results)

    @cached_property
    def spend(self) -> pd.DataFrame:
        return verdict.spend_table(self.results)

    @cached_property
    def shock_periods(self) -> pd.DataFrame:
        return analysis.shock_periods(self.results)

    def bands(self, column: str) -> pd.DataFrame:
        return self.tag(analysis.band_table(self.results, column))

    @cached_property
    def series_columns(self) -> list[str]:
        return [c for c in KEY_SERIES if c in self.results.timeseries.columns
                and self.results.timeseries[c].notna().any()]

    @cached_property
    def network_axes(self) -> tuple[str, str] | None:
        """(network-mode column, the factor it is crossed with) for the H1 heat maps."""
        axis = analysis.network_mode_axis(self.results)
        if axis is None:
            return None
        others = [f for f in self.results.factors if f != axis
                  and self.points[f].astype(str).nunique() > 1]
        if not others:
            return None
        volatile = [f for f in others if "volatil" in f.lower()]
        return axis, (volatile or others)[0]

    @cached_property
    def network_gap(self) -> pd.DataFrame:
        return analysis.network_gap(self.results)

    @cached_property
    def sensitivity(self) -> tuple[str, pd.DataFrame]:
        return analysis.sensitivity_table(self.results)


# --------------------------------------------------------------------------- figures


def build_figures(results: Results) -> list[tuple[str, go.Figure]]:
    """The report's charts as (key, figure) pairs, in report order; only those that apply.

    Keys: ``outcomes``, ``differences``, ``value_for_money``, ``timeseries:<column>``,
    ``network:<outcome>``, ``sensitivity:<chart>``; the part before ``:`` names the
    report section. Pure: reads nothing, writes nothing.
    """
    return _build_figures(_Analysis(results))


def _build_figures(an: _Analysis) -> list[tuple[str, go.Figure]]:
    figures: list[tuple[str, go.Figure | None]] = []
    if an.per_point_charts:
        figures.append(("outcomes", _outcome_figure(an)))
        figures.append(("differences", _forest_figure(
            an, an.differences, "difference", "Difference from the baseline",
            lambda o: f"{_outcome_title(o)}")))
        figures.append(("value_for_money", _forest_figure(
            an, an.value_for_money.assign(
                per_unit=an.value_for_money["per_keur"] * SPEND_UNIT,
                per_low=an.value_for_money["ci_low"] * SPEND_UNIT,
                per_high=an.value_for_money["ci_high"] * SPEND_UNIT,
            ) if len(an.value_for_money) else an.value_for_money,
            "per_unit", "Difference per 1,000 k€ of extra policy money spent",
            lambda o: f"{OUTCOME_INFO[o].label} per 1,000 k€", low="per_low", high="per_high")))
        for column in an.series_columns:
            figures.append((f"timeseries:{column}", _band_figure(an, column)))
    if an.network_axes is not None:
        for outcome in HEATMAP_OUTCOMES:
            if outcome in an.results.outcomes:
                figures.append((f"network:{outcome}", _heatmap_figure(an, outcome)))
    figures += _sensitivity_figures(an)
    return [(key, fig) for key, fig in figures if fig is not None]


def _outcome_title(outcome: str) -> str:
    info = OUTCOME_INFO.get(outcome)
    if info is None:
        return outcome
    return f"{info.label} ({info.unit})"


class _Panels:
    """A grid of subplots filled in one go (traces and shapes added in bulk: plotly's
    per-subplot helpers such as add_vline are slow)."""

    def __init__(self, count: int, columns: int, titles: list[str], row_height: int,
                 horizontal_spacing: float = 0.08, **kwargs: Any):
        self.columns = max(1, min(columns, count))
        self.rows = max(1, math.ceil(count / self.columns))
        self.height = self.rows * row_height + 140
        self.fig = make_subplots(
            rows=self.rows, cols=self.columns, subplot_titles=titles,
            vertical_spacing=min(0.3, 95 / self.height) if self.rows > 1 else 0.1,
            horizontal_spacing=horizontal_spacing, **kwargs)
        self.traces: list[go.BaseTraceType] = []
        self.shapes: list[dict[str, Any]] = []
        self.axes: dict[str, dict[str, Any]] = {}

    @staticmethod
    def suffix(index: int) -> str:
        return "" if index == 0 else str(index + 1)

    def add(self, index: int, trace: go.BaseTraceType) -> None:
        suffix = self.suffix(index)
        trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
        self.traces.append(trace)

    def xaxis(self, index: int, **settings: Any) -> None:
        self.axes.setdefault(f"xaxis{self.suffix(index)}", {}).update(settings)

    def yaxis(self, index: int, **settings: Any) -> None:
        self.axes.setdefault(f"yaxis{self.suffix(index)}", {}).update(settings)

    def bottom(self, index: int) -> bool:
        """Whether the panel has no panel below it (where the x title goes)."""
        count = len(self.fig.layout.annotations) or self.rows * self.columns
        return index + self.columns >= count

    def vline(self, index: int, x: float) -> None:
        suffix = self.suffix(index)
        self.shapes.append({"type": "line", "xref": f"x{suffix}", "yref": f"y{suffix} domain",
                            "x0": x, "x1": x, "y0": 0, "y1": 1, "layer": "above",
                            "line": {"color": "#888", "dash": "dash", "width": 1}})

    def vrect(self, index: int, x0: float, x1: float, colour: str) -> None:
        suffix = self.suffix(index)
        self.shapes.append({"type": "rect", "xref": f"x{suffix}", "yref": f"y{suffix} domain",
                            "x0": x0, "x1": x1, "y0": 0, "y1": 1, "layer": "below",
                            "fillcolor": colour, "line": {"width": 0}})

    def finish(self, title: str, **layout: Any) -> go.Figure:
        self.fig.add_traces(self.traces)
        self.fig.update_layout(shapes=self.shapes, **self.axes)
        return _style(self.fig, title, self.height, **layout)


def _style(fig: go.Figure, title: str, height: int, **layout: Any) -> go.Figure:
    """Common look: title top left, legend under it, white template, fixed height."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "yref": "container",
               "y": 1 - 14 / height, "yanchor": "top"},
        height=height, template="plotly_white", font={"family": FONT, "size": 12},
        margin={"l": 60, "r": 30, "t": 115, "b": 50} | layout.pop("margin", {}),
        legend={"orientation": "h", "yref": "container", "y": 1 - 50 / height,
                "yanchor": "top", "x": 0.01, "xanchor": "left"} | layout.pop("legend", {}),
        **layout)
    fig.update_annotations(font_size=12)
    return fig


def _errors(frame: pd.DataFrame, value: str, low: str, high: str) -> dict[str, Any]:
    centre = frame[value].to_numpy(dtype=float)
    return {"type": "data", "symmetric": False, "thickness": 1.5, "width": 4,
            "array": np.nan_to_num(frame[high].to_numpy(dtype=float) - centre, nan=0.0),
            "arrayminus": np.nan_to_num(centre - frame[low].to_numpy(dtype=float), nan=0.0)}


def _outcome_figure(an: _Analysis) -> go.Figure | None:
    table = an.arm_table
    if not len(table):
        return None
    outcomes = an.ordered(table["outcome"])
    panels = _Panels(len(outcomes), 3, [_outcome_title(o) for o in outcomes], 250)
    shown: set[str] = set()
    for i, outcome in enumerate(outcomes):
        part = table[table["outcome"] == outcome]
        for series in an.series_order:
            sub = part[part["series"] == series]
            if not len(sub):
                continue
            panels.add(i, go.Scatter(
                x=sub["x"], y=sub["mean"], mode="markers", name=series, legendgroup=series,
                showlegend=series not in shown, offsetgroup=series,
                marker={"color": an.colours[series], "size": 8},
                error_y=_errors(sub, "mean", "ci_low", "ci_high"),
                customdata=sub[["n", "ci_low", "ci_high"]].to_numpy(dtype=float),
                hovertemplate=(f"<b>{html.escape(series)}</b> · %{{x}}<br>mean %{{y:.4g}}<br>"
                               "95% CI %{customdata[1]:.4g} – %{customdata[2]:.4g}<br>"
                               "n = %{customdata[0]}<extra></extra>")))
            shown.add(series)
        panels.xaxis(i, type="category", categoryorder="array", categoryarray=an.x_order,
                     title_text=an.x_title if panels.bottom(i) and an.x_title != "arm" else None)
    return panels.finish("Mean and 95% CI per design point", scattermode="group",
                         scattergap=0.4)


def _forest_figure(an: _Analysis, table: pd.DataFrame, value: str, title: str,
                   panel_title: Callable[[str], str], low: str = "ci_low",
                   high: str = "ci_high") -> go.Figure | None:
    """One panel per outcome: the value with its CI as a horizontal whisker, a zero line."""
    if not len(table):
        return None
    table = table[table[value].notna()]
    outcomes = an.ordered(table["outcome"])
    if not outcomes:
        return None
    y_order = an.ordered(an.x_of[p] for p in sorted(table["point"].unique()))
    series_order = [s for s in an.series_order if s in set(table["series"])]
    row_height = max(170, 13 * len(y_order) * max(1, len(series_order)) + 90)
    panels = _Panels(len(outcomes), 2, [panel_title(o) for o in outcomes], row_height,
                     horizontal_spacing=0.16)
    shown: set[str] = set()
    for i, outcome in enumerate(outcomes):
        part = table[table["outcome"] == outcome]
        # reversed: plotly groups bottom-up, so the legend's first arm is drawn on top
        for series in series_order[::-1]:
            sub = part[part["series"] == series]
            if not len(sub):
                continue
            panels.add(i, go.Scatter(
                x=sub[value], y=sub["x"], mode="markers", orientation="h", name=series,
                legendgroup=series, showlegend=series not in shown, offsetgroup=series,
                legendrank=series_order.index(series),
                marker={"color": an.colours[series], "size": 8, "symbol": "diamond"},
                error_x=_errors(sub, value, low, high),
                customdata=sub[["n", low, high]].to_numpy(dtype=float),
                hovertemplate=(f"<b>{html.escape(series)}</b> · %{{y}}<br>%{{x:.4g}}<br>"
                               "95% CI %{customdata[1]:.4g} – %{customdata[2]:.4g}<br>"
                               "pairs = %{customdata[0]}<extra></extra>")))
            shown.add(series)
        panels.vline(i, 0)
        panels.yaxis(i, type="category", categoryorder="array", categoryarray=y_order[::-1])
    return panels.finish(title, scattermode="group", scattergap=0.3)


def _rgba(hex_colour: str, alpha: float) -> str:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _band_figure(an: _Analysis, column: str) -> go.Figure | None:
    table = an.bands(column)
    if not len(table):
        return None
    names = an.x_order[:MAX_PANELS]
    titles = names if len(names) > 1 or an.dims[1] else [""]
    panels = _Panels(len(names), 3, titles, 280, shared_yaxes=True)
    periods = an.tag(an.shock_periods) if len(an.shock_periods) else None
    shown: set[str] = set()
    for i, name in enumerate(names):
        for series in an.series_order:
            sub = table[(table["x"] == name) & (table["series"] == series)].sort_values("step")
            if not len(sub):
                continue
            colour = an.colours[series]
            steps = sub["step"].to_numpy()
            mean = sub["mean"].to_numpy(dtype=float)
            low = np.where(np.isfinite(sub["ci_low"]), sub["ci_low"], mean)
            high = np.where(np.isfinite(sub["ci_high"]), sub["ci_high"], mean)
            panels.add(i, go.Scatter(
                x=np.concatenate([steps, steps[::-1]]), y=np.concatenate([high, low[::-1]]),
                mode="lines", fill="toself", fillcolor=_rgba(colour, 0.18), line={"width": 0},
                hoverinfo="skip", showlegend=False, legendgroup=series))
            panels.add(i, go.Scatter(
                x=steps, y=mean, mode="lines", name=series, legendgroup=series,
                showlegend=series not in shown, line={"color": colour, "width": 2},
                customdata=np.column_stack([low, high]),
                hovertemplate=(f"<b>{html.escape(series)}</b> month %{{x}}<br>mean %{{y:.4g}}"
                               "<br>95% CI %{customdata[0]:.4g} – %{customdata[1]:.4g}"
                               "<extra></extra>")))
            shown.add(series)
        if periods is not None:
            spans = periods[periods["x"] == name][["start", "end"]].drop_duplicates()
            for start, end in spans.itertuples(index=False):
                panels.vrect(i, start, max(end, start + 0.5), "rgba(214,39,40,0.12)")
        if panels.bottom(i):
            panels.xaxis(i, title_text="month")
    title = SERIES_LABELS.get(column, column)
    if periods is not None:
        title += " <span style='font-size:12px;color:#b03030'>(shaded: shock)</span>"
    if len(an.x_order) > MAX_PANELS:
        title += f" (first {MAX_PANELS} of {len(an.x_order)} levels)"
    return panels.finish(title)


def _heatmap_figure(an: _Analysis, outcome: str) -> go.Figure | None:
    axis, other = an.network_axes  # type: ignore[misc]
    pivot = analysis.heatmap_table(an.results, outcome, x=other, y=axis)
    if pivot.isna().all().all():
        return None
    means = pivot.drop(index=NETWORK_GAP_LABEL, errors="ignore")
    x = [str(c) for c in pivot.columns]
    has_gap = NETWORK_GAP_LABEL in pivot.index
    height = 150 + 55 * len(means) + (150 if has_gap else 0)
    fig = make_subplots(rows=2 if has_gap else 1, cols=1, vertical_spacing=110 / height,
                        row_heights=[len(means), 1.4] if has_gap else None,
                        subplot_titles=["mean", "static − dynamic"] if has_gap else ["mean"])

    def text(values: np.ndarray, signed: bool = False) -> list[list[str]]:
        return [[_fmt(v, signed=signed) for v in row] for row in values]

    values = means.to_numpy(dtype=float)
    fig.add_trace(go.Heatmap(
        z=values, x=x, y=[str(i) for i in means.index], text=text(values),
        texttemplate="%{text}", textfont={"size": 13}, colorscale="Viridis",
        colorbar={"len": 0.55 if has_gap else 0.9, "y": 1.0, "yanchor": "top",
                  "thickness": 14, "title": {"text": "mean"}},
        hovertemplate=f"{axis} %{{y}} · {other} %{{x}}<br>mean %{{z:.4g}}<extra></extra>"),
        row=1, col=1)
    fig.update_yaxes(type="category", autorange="reversed", row=1, col=1)
    if has_gap:
        gap = pivot.loc[[NETWORK_GAP_LABEL]].to_numpy(dtype=float)
        fig.add_trace(go.Heatmap(
            z=gap, x=x, y=["static − dynamic"], text=text(gap, signed=True),
            texttemplate="%{text}", textfont={"size": 13}, colorscale="RdBu", zmid=0,
            colorbar={"len": 0.3, "y": 0.0, "yanchor": "bottom", "thickness": 14, "nticks": 4,
                      "title": {"text": "gap"}},
            hovertemplate=f"{other} %{{x}}<br>static − dynamic %{{z:+.4g}}<extra></extra>"),
            row=2, col=1)
        fig.update_yaxes(type="category", showticklabels=False, row=2, col=1)
    fig.update_xaxes(type="category")
    fig.update_xaxes(title_text=other, row=2 if has_gap else 1, col=1)
    return _style(fig, f"{_outcome_title(outcome)}: static vs dynamic over {other}", height)


def _sensitivity_figures(an: _Analysis) -> list[tuple[str, go.Figure | None]]:
    method, table = an.sensitivity
    if not method or not len(table):
        return []
    strata = list(dict.fromkeys(table["stratum"]))
    note = f" · {strata[0]}" if len(strata) > 1 else ""  # charts: the first; table: all
    table = table[table["stratum"] == strata[0]]
    present = an.ordered(table["outcome"])
    outcomes = [o for o in SENSITIVITY_OUTCOMES if o in present] or present[:6]
    table = table[table["outcome"].isin(outcomes)]
    if method == "morris":
        return [("sensitivity:mu_star", _bar_panels(
                    table, outcomes, "mu_star", "mu_star_conf",
                    "Morris μ*: influence of each parameter (95% bootstrap interval)" + note)),
                ("sensitivity:mu_sigma", _mu_sigma_figure(table, outcomes, note))]
    if method == "sobol":
        return [("sensitivity:sobol", _bar_panels(
            table, outcomes, "ST", "ST_conf", "Sobol indices: S1 (alone) and ST (total)" + note,
            extra=("S1", "S1_conf")))]
    return [("sensitivity:spearman", _bar_panels(
        table, outcomes, "rho", None, "Spearman rank correlation with each outcome" + note))]


def _bar_panels(table: pd.DataFrame, outcomes: list[str], value: str, conf: str | None,
                title: str, extra: tuple[str, str] | None = None) -> go.Figure:
    parameters = list(dict.fromkeys(table["parameter"]))
    panels = _Panels(len(outcomes), 2, [_outcome_title(o) for o in outcomes],
                     max(180, 24 * len(parameters) * (2 if extra else 1) + 70),
                     horizontal_spacing=0.25)
    bars = [(value, conf, PALETTE[0])] + ([(extra[0], extra[1], PALETTE[1])] if extra else [])
    for i, outcome in enumerate(outcomes):
        part = table[table["outcome"] == outcome].sort_values(value)
        for name, conf_column, colour in bars:
            error = ({"type": "data", "array": part[conf_column].fillna(0).to_numpy(dtype=float),
                      "thickness": 1.2, "width": 3} if conf_column else None)
            panels.add(i, go.Bar(
                x=part[name], y=part["parameter"], orientation="h", name=name,
                legendgroup=name, showlegend=i == 0 and extra is not None,
                marker_color=colour, error_x=error, offsetgroup=name,
                hovertemplate=f"%{{y}}<br>{name} %{{x:.4g}}<extra></extra>"))
        panels.yaxis(i, type="category")
        if value == "rho":
            panels.xaxis(i, range=[-1, 1])
    return panels.finish(title, barmode="group")


def _mu_sigma_figure(table: pd.DataFrame, outcomes: list[str], note: str = "") -> go.Figure:
    parameters = list(dict.fromkeys(table.sort_values("parameter")["parameter"]))
    colours = {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(parameters)}
    panels = _Panels(len(outcomes), 2, [_outcome_title(o) for o in outcomes], 300)
    for i, outcome in enumerate(outcomes):
        part = table[table["outcome"] == outcome]
        top = float(np.nanmax(part[["mu_star", "sigma"]].to_numpy(dtype=float), initial=0.0))
        if top > 0:
            panels.add(i, go.Scatter(x=[0, top], y=[0, top], mode="lines", showlegend=False,
                                     hoverinfo="skip", line={"color": "#bbb", "dash": "dot"}))
        for parameter in parameters:
            sub = part[part["parameter"] == parameter]
            panels.add(i, go.Scatter(
                x=sub["mu_star"], y=sub["sigma"], mode="markers", name=parameter,
                legendgroup=parameter, showlegend=i == 0,
                marker={"color": colours[parameter], "size": 10},
                hovertemplate=f"{html.escape(parameter)}<br>μ* %{{x:.4g}}<br>σ %{{y:.4g}}"
                              "<extra></extra>"))
        panels.xaxis(i, title_text="μ*", rangemode="tozero")
        panels.yaxis(i, title_text="σ", rangemode="tozero")
    return panels.finish("Morris μ* against σ (dotted: σ = μ*)" + note,
                         legend={"orientation": "v", "yref": "paper", "y": 1, "x": 1.02,
                                 "xanchor": "left"},
                         margin={"l": 60, "r": 230, "t": 90, "b": 50})


# --------------------------------------------------------------------------- tables


def _fmt(value: Any, signed: bool = False) -> str:
    """A number rounded for reading: thousands separated, about three significant digits."""
    if value is None:
        return "–"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if not math.isfinite(x):
        return "–"
    size = abs(x)
    if size >= 1000:
        text = f"{x:,.0f}"
    elif size >= 10:
        text = f"{x:.1f}"
    elif size >= 1:
        text = f"{x:.2f}"
    elif size == 0:
        text = "0"
    else:
        text = f"{x:.2g}" if size < 0.001 else f"{x:.3f}"
    if signed and x > 0:
        text = "+" + text
    return text.replace("-", "−")


def _ci_cell(mean: float, low: float, high: float, signed: bool = False,
             extra: str = "") -> str:
    interval = (f"{_fmt(low, signed)} – {_fmt(high, signed)}"
                if math.isfinite(float(low)) and math.isfinite(float(high)) else "no CI")
    return (f"{_fmt(mean, signed)}{extra}<br><span class='ci'>{interval}</span>")


def _judge(outcome: str, low: float, high: float) -> str:
    better = OUTCOME_INFO[outcome].higher_is_better if outcome in OUTCOME_INFO else None
    if better is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    if low > 0:
        return "good" if better else "bad"
    if high < 0:
        return "bad" if better else "good"
    return ""


def _matrix(rows: list[str], columns: list[str], cells: dict[tuple[str, str], tuple[str, str]],
            corner: str, row_labels: dict[str, str] | None = None) -> str:
    """An HTML table: one row per outcome (or parameter), one column per design point."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for r in rows:
        tds = []
        for c in columns:
            content, css = cells.get((r, c), ("–", ""))
            tds.append(f"<td class='{css}'>{content}</td>" if css else f"<td>{content}</td>")
        label = (row_labels or {}).get(r, html.escape(r))
        body.append(f"<tr><th scope='row'>{label}</th>{''.join(tds)}</tr>")
    return (f"<div class='table-wrap'><table><thead><tr><th>{html.escape(corner)}</th>{head}"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _outcome_row_labels(outcomes: Iterable[str]) -> dict[str, str]:
    labels = {}
    for o in outcomes:
        info = OUTCOME_INFO.get(o)
        labels[o] = (f"<span title='{html.escape(info.description)}'>{html.escape(info.label)}"
                     f"</span> <span class='unit'>{html.escape(info.unit)}</span>"
                     if info else html.escape(o))
    return labels


def _point_labels(an: _Analysis) -> dict[int, str]:
    return dict(zip(an.points["point"], an.points["label"], strict=True))


def _by_arm(an: _Analysis, table: pd.DataFrame,
            cell_of: Callable[[dict[str, Any]], tuple[str, str]], corner: str,
            row_labels: dict[str, str]) -> str:
    """A table that fits the page: one column per arm (the series), one row per outcome
    and factor level (the outcome's label spanning its levels)."""
    series = [s for s in an.series_order if s in set(table["series"])]
    levels = [x for x in an.x_order if x in set(table["x"])] if an.dims[1] else [""]
    cells = {(r["outcome"], r["x"] if an.dims[1] else "", r["series"]): cell_of(r)
             for r in table.to_dict("records")}
    level_head = f"<th>{html.escape(an.x_title)}</th>" if an.dims[1] else ""
    head = "".join(f"<th>{html.escape(str(s))}</th>" for s in series)
    body = []
    for outcome in an.ordered(table["outcome"]):
        for j, level in enumerate(levels):
            group = (f"<th scope='rowgroup' rowspan='{len(levels)}'>"
                     f"{row_labels.get(outcome, html.escape(outcome))}</th>" if j == 0 else "")
            level_cell = (f"<th scope='row' class='level'>{html.escape(str(level))}</th>"
                          if an.dims[1] else "")
            tds = []
            for s in series:
                content, css = cells.get((outcome, level, s), ("–", ""))
                tds.append(f"<td class='{css}'>{content}</td>" if css else f"<td>{content}</td>")
            body.append(f"<tr class='{'first' if j == 0 else ''}'>{group}{level_cell}"
                        f"{''.join(tds)}</tr>")
    return (f"<div class='table-wrap'><table class='by-arm'><thead><tr>"
            f"<th>{html.escape(corner)}</th>{level_head}{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _outcome_table(an: _Analysis) -> str:
    table = an.arm_table
    if not len(table):
        return ""
    return _by_arm(an, table, lambda r: (
        _ci_cell(r["mean"], r["ci_low"], r["ci_high"]) + f"<span class='n'>n={r['n']}"
        + (f" · {r['ci_method']}" if r.get("ci_method", "t") != "t" else "") + "</span>", ""),
        "outcome", _outcome_row_labels(table["outcome"].unique()))


def _difference_cell(r: dict[str, Any]) -> tuple[str, str]:
    relative = (f" <span class='rel'>({r['relative'] * 100:+.0f}%)</span>".replace("-", "−")
                if math.isfinite(r["relative"]) else "")
    return (_ci_cell(r["difference"], r["ci_low"], r["ci_high"], signed=True, extra=relative),
            _judge(r["outcome"], r["ci_low"], r["ci_high"]))


def _difference_table(an: _Analysis) -> str:
    table = an.differences
    if not len(table):
        return ""
    return _by_arm(an, table, _difference_cell, f"arm − {an.results.baseline_arm}",
                   _outcome_row_labels(table["outcome"].unique()))


def _value_table(an: _Analysis) -> str:
    table = an.value_for_money
    if not len(table):
        return ""
    spend_row = "extra spend"
    spend = table.drop_duplicates("point").assign(outcome=spend_row)
    both = pd.concat([spend, table], ignore_index=True)

    def cell(r: dict[str, Any]) -> tuple[str, str]:
        if r["outcome"] == spend_row:
            return f"{_fmt(r['extra_spend'])} k€", ""
        return (_ci_cell(r["per_keur"] * SPEND_UNIT, r["ci_low"] * SPEND_UNIT,
                         r["ci_high"] * SPEND_UNIT, signed=True),
                _judge(r["outcome"], r["ci_low"], r["ci_high"]))

    row_labels = {o: f"{text} <span class='unit'>per 1,000 k€</span>"
                  for o, text in _outcome_row_labels(table["outcome"].unique()).items()}
    row_labels[spend_row] = "Extra policy money spent <span class='unit'>k€, mean</span>"
    return _by_arm(an, both, cell, "arm vs baseline", row_labels)


def _network_table(an: _Analysis) -> str:
    table = an.network_gap
    if not len(table) or an.network_axes is None:
        return ""
    axis, _other = an.network_axes
    others = [c for c in ["arm", *an.results.factors] if c != axis
              and c in table.columns and table[c].astype(str).nunique() > 1]
    rows = table.to_dict("records")

    def column_of(row: dict[str, Any]) -> str:
        return " · ".join(str(row[c]) for c in others) if others else "all"

    columns = an.ordered(column_of(row) for row in rows)
    outcomes = an.ordered(table["outcome"])
    cells = {}
    for row in rows:
        column = column_of(row)
        cells[(row["outcome"], column)] = (
            _ci_cell(row["difference"], row["ci_low"], row["ci_high"], signed=True),
            _judge(row["outcome"], row["ci_low"], row["ci_high"]))
    return _matrix(outcomes, columns, cells, "static − dynamic at " + " · ".join(others or ["—"]),
                   _outcome_row_labels(outcomes))


def _sensitivity_table(an: _Analysis) -> str:
    method, table = an.sensitivity
    if not method or not len(table):
        return ""
    value, second = {"morris": ("mu_star", "sigma"), "sobol": ("ST", "S1"),
                     "spearman": ("rho", "p_value")}[method]
    names = {"mu_star": "μ*", "sigma": "σ", "ST": "ST", "S1": "S1", "rho": "ρ",
             "p_value": "p"}
    outcomes = an.ordered(table["outcome"])
    if table["stratum"].nunique() > 1:
        table = table.assign(parameter=table["stratum"] + " · " + table["parameter"])
    parameters = an.ordered(table.sort_values(["stratum", "parameter"])["parameter"])
    cells = {(r["parameter"], _outcome_title(r["outcome"])): (
        f"{_fmt(r[value], signed=value == 'rho')}<br><span class='ci'>{names[second]} "
        f"{_fmt(r[second])}</span>", "") for r in table.to_dict("records")}
    return _matrix(parameters, [_outcome_title(o) for o in outcomes], cells,
                   f"parameter: {names[value]} ({names[second]})")


def _distribution_table(an: _Analysis) -> str:
    frame = an.results.summaries
    outcomes = an.results.outcomes
    if not outcomes or not len(frame):
        return ""
    cells = {}
    stats_names = ["n", "mean", "sd", "min", "median", "max"]
    for o in outcomes:
        values = frame[o].dropna()
        figures = {"n": len(values), "mean": values.mean(), "sd": values.std(),
                   "min": values.min(), "median": values.median(), "max": values.max()}
        for name in stats_names:
            cells[(o, name)] = (str(figures[name]) if name == "n" else _fmt(figures[name]), "")
    return _matrix(outcomes, stats_names, cells, "outcome", _outcome_row_labels(outcomes))


def _hypotheses_html(an: _Analysis) -> str:
    """Per stated hypothesis: its statement, the comparison, one row per condition, a sentence."""
    from clustersim.experiments import hypotheses as hyp

    parts = []
    for h in hyp.results_hypotheses(an.results):
        table = hyp.hypothesis_table(an.results, h)
        reference = h.reference or an.results.baseline_arm
        label = OUTCOME_INFO[h.outcome].label if h.outcome in OUTCOME_INFO else h.outcome
        parts.append(f"<h3>{html.escape(h.id)}: {html.escape(h.statement)}</h3>"
                     f"<p class='note'>{html.escape(label)}: {html.escape(h.compare)} "
                     f"<b>{html.escape(str(h.treatment))}</b> minus <b>"
                     f"{html.escape(str(reference))}</b>, expected {h.expect}. "
                     f"<b>{html.escape(hyp.summary_sentence(h, table))}</b></p>")
        names = ["pairs", f"{reference} (mean)", f"{h.treatment} (mean)",
                 "difference [95% CI]", "reading"]
        cells = {}
        for row in table.to_dict("records"):
            css = {"holds": "good", "opposite": "bad"}.get(row["reading"], "")
            values = [str(row["n"]), _fmt(row["reference_mean"]), _fmt(row["mean"]),
                      f"{_fmt(row['difference'], signed=True)}<span class='ci'> "
                      f"[{_fmt(row['ci_low'], signed=True)}, {_fmt(row['ci_high'], signed=True)}]"
                      "</span>", row["reading"]]
            for i, (name, value) in enumerate(zip(names, values, strict=True)):
                cells[(row["condition"], name)] = (value, css if i >= 3 else "")
        if len(table):
            parts.append(_matrix(table["condition"].tolist(), names, cells, "condition"))
    return "".join(parts)


def _facts_table(an: _Analysis) -> str:
    """Stylised facts: one row per fact measure, one column per arm (mean [CI], verdict)."""
    from clustersim.facts import FACTS, facts_table

    table = facts_table(an.results)
    if not len(table) or len(an.results.arms) > MAX_POINTS:
        return ""
    present = {f"{r.fact}: {r.measure}" for r in table.itertuples()}
    rows = [name for name in (f"{f.id}: {f.short}" for f in FACTS) if name in present]
    labels, cells = {}, {}
    for r in table.itertuples():
        row = f"{r.fact}: {r.measure}"
        labels[row] = (f"<span title='{html.escape(r.statement)} ({html.escape(r.source)})'>"
                       f"{html.escape(row)}</span> <span class='unit'>target "
                       f"{html.escape(r.target)}</span>")
        css = {"yes": "good", "no": "bad"}.get(r.holds, "")
        low, mean, high = (_fmt(round(v, 3)) for v in (r.ci_low, r.mean, r.ci_high))
        cells[(row, str(r.arm))] = (f"{mean}<span class='ci'> [{low}, {high}]</span>"
                                    f"<span class='n'>{r.holds}, n = {r.n}</span>", css)
    return _matrix(rows, [str(a) for a in an.results.arms], cells, "fact", labels)


def _design_table(an: _Analysis) -> str:
    points = an.points
    if not len(points):
        return "<p class='note'>No finished runs in this store yet.</p>"
    if len(points) > MAX_POINTS:
        return (f"<p class='note'>{len(points)} design points, too many to list here: "
                "<code>analysis.design_points(results)</code> in Python lists them.</p>")
    columns = ["arm", *an.results.factors, "done", "failed"]
    rows = [str(p) for p in points["point"]]
    cells = {}
    for record in points.to_dict("records"):
        for c in columns:
            css = "bad" if c == "failed" and record[c] else ""
            cells[(str(record["point"]), c)] = (html.escape(str(record[c])), css)
    return _matrix(rows, columns, cells, "point")


def _failed_table(results: Results) -> str:
    runs = results.runs
    if "status" not in runs.columns:
        return ""
    failed = runs[runs["status"] == "failed"]
    if not len(failed):
        return ""
    shown = failed.head(50)
    body = "".join(
        f"<tr><td>{r['point']}</td><td>{html.escape(str(r['label']))}</td>"
        f"<td>{r['replication']}</td><td>{r['seed']}</td>"
        f"<td><code>{html.escape(str(r.get('error') or '').strip().splitlines()[0] if r.get('error') else '')}"
        "</code></td></tr>" for r in shown.to_dict("records"))
    more = (f"<p class='note'>{len(failed) - len(shown)} more failed runs are in the store's "
            "runs table.</p>" if len(failed) > len(shown) else "")
    return ("<div class='table-wrap'><table><thead><tr><th>point</th><th>design point</th>"
            "<th>replication</th><th>seed</th><th>error</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>{more}")


# --------------------------------------------------------------------------- the answer

VERDICT_CSS = """
section#verdict { background: #fff; border: 1px solid var(--line); border-radius: 8px;
                  padding: 4px 18px 10px; margin: 10px 0 18px; }
section#verdict h2 { border-top: 0; margin: 10px 0 4px; padding-top: 0; }
section#verdict p { margin: 4px 0; max-width: 1180px; }
table.verdict { width: 100%; }
table.verdict td { white-space: normal; }
table.verdict td.unclear { color: var(--muted); }
table.verdict td.clear { background: #e8f0fb; }
table.verdict tr.ref td { color: var(--muted); font-size: 0.8rem; }
table.verdict tr.first > * { border-top: 2px solid #c9c9d2; }
.rank { display: inline-block; min-width: 1.9em; margin-left: 6px; padding: 0 4px;
        border-radius: 8px; background: #ececf1; font-size: 0.75em; text-align: center; }
.words { columns: 3; column-gap: 24px; font-size: 0.88rem; }
.words p { break-inside: avoid; margin: 0 0 6px; }
table.by-arm th.level { font-weight: 400; }
table.by-arm tr.first > * { border-top: 2px solid #c9c9d2; }
p.note.alive { border-left: 3px solid #e0b000; padding-left: 8px; }
"""
VERDICT_CLASSES = {"better": "good", "worse": "bad", "higher": "clear", "lower": "clear",
                   "unclear": "unclear", "reference": ""}


def _verdict_cell(r: dict[str, Any]) -> tuple[str, str]:
    outcome = r["outcome"]
    if r["reading"] == "reference":
        return f"mean {verdict.level_text(outcome, r['mean'])}", ""
    cost = r["keur_per_unit"]
    cost_text = (f" · {verdict.cost_text(r).split(' (')[0]}" if math.isfinite(cost) else "")
    return (f"{verdict.effect_text(outcome, r['difference'])}"
            f"<span class='rank' title='rank at this level, 1 = best'>#{int(r['rank'])}</span>"
            f"<br><span class='ci'>{verdict.interval_text(outcome, r['ci_low'], r['ci_high'])}"
            f"{cost_text}</span>", VERDICT_CLASSES.get(r["reading"], ""))


def _verdict_html(an: _Analysis) -> str:
    """The summary table: per level, the baseline's means, then each arm's difference."""
    table = an.verdict
    outcomes = an.ordered(table["outcome"])
    spent = dict(zip(an.spend["arm"], an.spend["spent"], strict=True)) if len(an.spend) else {}
    head = "".join(f"<th>{_outcome_row_labels([o])[o]}</th>" for o in outcomes)
    body = []
    for level, part in table.groupby("level", sort=False):
        arms = an.ordered(part["arm"])
        for j, arm in enumerate(arms):
            rows = {r["outcome"]: r for r in part[part["arm"] == arm].to_dict("records")}
            cells = []
            for outcome in outcomes:
                content, css = _verdict_cell(rows[outcome]) if outcome in rows else ("–", "")
                cells.append(f"<td class='{css}'>{content}</td>")
            reference = arm == an.results.baseline_arm
            name = html.escape(str(arm)) + (" <span class='unit'>(baseline)</span>"
                                            if reference else "")
            level_cell = (f"<th scope='rowgroup' rowspan='{len(arms)}'>{html.escape(level)}</th>"
                          if j == 0 else "")
            css = " ".join(c for c in ("first" if j == 0 else "", "ref" if reference else "") if c)
            body.append(f"<tr class='{css}'>{level_cell}<th scope='row'>{name}</th>"
                        f"{''.join(cells)}<td>{verdict.money_text(spent.get(arm, math.nan))}</td></tr>")
    return ("<div class='table-wrap'><table class='verdict' id='verdict-table'><thead><tr>"
            f"<th>level</th><th>arm</th>{head}<th>spent <span class='unit'>k€, mean</span></th>"
            f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _verdict_section(an: _Analysis) -> str:
    """The report's first screen: who wins, by how much, what the data support, at what
    cost (:func:`clustersim.experiments.verdict.verdict_table`); empty for single-arm or
    sampler designs."""
    if not an.per_point_charts or not len(an.verdict):
        return ""
    baseline = html.escape(str(an.results.baseline_arm))
    money = verdict.money_sentence(an.results, an.spend)
    words = "".join(
        f"<p><b>{html.escape(level)}.</b> {html.escape(' '.join(lines))}</p>"
        for level, lines in verdict.verdict_sentences(an.verdict))
    return (
        "<section id='verdict'><h2>The answer: each programme against "
        f"{baseline}, on the headline outcomes</h2>"
        f"<p class='intro'>Cells: the arm minus <b>{baseline}</b>, paired by replication, "
        "with its 95% CI below (shares in percentage points), the rank at that level "
        "(#1 = best, by point estimate) and, where the difference is supported and an "
        "improvement, the k€ actually spent per extra unit. Green: better, red: worse, "
        "blue: a clear change with no good or bad direction; grey: "
        f"{html.escape(verdict.NOT_SUPPORTED)}. {html.escape(money)}</p>"
        f"{_verdict_html(an)}<div class='words'>{words}</div>"
        f"<p class='note'>{html.escape(verdict.CI_MEANING)} "
        f"{html.escape(verdict.MULTIPLE_NOTE)} The detail follows below.</p></section>")


FRAGMENT_CSS = """
.cs-verdict { --fg:#1d1d1f; --muted:#6b6b70; --line:#e3e3e8; --good:#e3f4e6; --bad:#fbe4e4; }
.cs-verdict table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.cs-verdict th, .cs-verdict td { padding: 4px 8px; border-bottom: 1px solid var(--line);
                                  text-align: right; vertical-align: top; }
.cs-verdict tbody th { text-align: left; }
.cs-verdict td.good { background: var(--good); } .cs-verdict td.bad { background: var(--bad); }
.cs-verdict .ci, .cs-verdict .unit { color: var(--muted); font-size: 0.8em; }
.cs-verdict p.intro, .cs-verdict p.note { color: var(--muted); }
.cs-verdict .table-wrap { overflow-x: auto; max-width: 100%; }
"""


def verdict_fragment(results: Results) -> str:
    """The report's summary (the answer first) as an HTML fragment with its own styles,
    for pages that show it outside the report (the dashboard's compare page)."""
    section = _verdict_section(_Analysis(results))
    if not section:
        return ""
    return f"<style>{FRAGMENT_CSS}{VERDICT_CSS}</style><div class='cs-verdict'>{section}</div>"


def _section_note(an: _Analysis, name: str) -> str:
    """A note under a section's intro where this study's numbers need one."""
    if (name in ("outcomes", "timeseries") and "firms_alive" in an.results.outcomes
            and an.results.factors):
        note = verdict.alive_note(an.results) or verdict.ALIVE_NOTE
        return f"<p class='note alive'><b>Firms alive.</b> {html.escape(note)}</p>"
    if name == "value_for_money":
        money = verdict.money_sentence(an.results, an.spend)
        return f"<p class='note'>{html.escape(money)}</p>" if money else ""
    return ""


def _money_facts(results: Results) -> list[tuple[str, str]]:
    """The budgets and money spent, read from the runs (never from the description)."""
    spend = verdict.spend_table(results)
    programmes = spend[spend["arm"] != results.baseline_arm] if len(spend) else spend
    if not len(programmes):
        return []
    text = ", ".join(f"{html.escape(str(a))} {verdict.money_text(b)} k€ (spent "
                     f"{verdict.money_text(s)} k€ per run)"
                     for a, b, s in zip(programmes["arm"], programmes["budget"],
                                        programmes["spent"], strict=True))
    warning = verdict.description_check(analysis.experiment_description(results),
                                        programmes["budget"].tolist())
    if warning:
        text += f"<br><span class='bad'>{html.escape(warning)}</span>"
    return [("Budgets", text)]


# --------------------------------------------------------------------------- page


def _experiment_file(results: Results) -> dict[str, Any]:
    text = results.meta.get("experiment_toml")
    try:
        return tomllib.loads(text) if isinstance(text, str) else {}
    except tomllib.TOMLDecodeError:
        return {}


def _versions(results: Results) -> str:
    found: list[dict[str, Any]] = []
    if "versions" in results.runs.columns:
        for text in results.runs["versions"].dropna().unique():
            try:
                found.append(json.loads(text))
            except (TypeError, json.JSONDecodeError):
                continue
    if not found and isinstance(results.meta.get("created_with"), dict):
        found = [results.meta["created_with"]]
    distinct = {json.dumps(v, sort_keys=True) for v in found}
    text = "; ".join(", ".join(f"{k} {v}" for k, v in json.loads(d).items())
                     for d in sorted(distinct))
    if len(distinct) > 1:
        return f"<span class='bad'>mixed ({len(distinct)} sets)</span>: {html.escape(text)}"
    return html.escape(text) or "–"


def _facts(results: Results) -> list[tuple[str, str]]:
    runs = results.runs
    done = int((runs["status"] == "done").sum()) if "status" in runs else len(results.summaries)
    failed = int((runs["status"] == "failed").sum()) if "status" in runs else 0
    facts = [("Experiment", html.escape(results.experiment))]
    if results.path is not None:
        facts.append(("Store", f"<code>{html.escape(str(results.path))}</code>"))
    arms = results.arms
    if arms:
        baseline = results.baseline_arm
        facts.append(("Arms", ", ".join(
            f"<b>{html.escape(a)}</b> (baseline)" if a == baseline else html.escape(a)
            for a in arms)))
    for factor, levels in (results.meta.get("factors") or {}).items():
        facts.append((f"Factor {html.escape(str(factor))}",
                      ", ".join(html.escape(str(v)) for v in levels)))
    if results.sampler:
        names = results.sampler.get("names") or []
        facts.append(("Sampler", f"{html.escape(str(results.sampler.get('method')))} over "
                      f"{len(names)} parameters: {html.escape(', '.join(map(str, names)))}"))
    facts.append(("Runs", f"{done} done" + (f", <span class='bad'>{failed} failed</span>"
                                           if failed else ", none failed")))
    if len(runs):
        per_point = runs[runs["status"] == "done"].groupby("point").size() \
            if "status" in runs else runs.groupby("point").size()
        reps = runs["replication"].nunique()
        low, high = (int(per_point.min()), int(per_point.max())) if len(per_point) else (0, 0)
        points = runs["point"].nunique()
        facts.append(("Replications", f"{reps} per design point ({points} "
                      f"points; done per point {low}" + (f"–{high}" if high != low else "") + ")"))
        spec = _experiment_file(results)
        master = spec.get("seed", spec.get("master_seed"))
        seeds = sorted(runs["seed"].unique())
        seed_text = f"master seed {master}; " if master is not None else ""
        facts.append(("Seeds", f"{seed_text}{len(seeds)} run seeds, shared by replication "
                      "across arms (common random numbers)"))
        if "steps" in runs:
            every = runs["record_every"].iloc[0] if "record_every" in runs else 1
            facts.append(("Months", f"{int(runs['steps'].max())} per run; time series every "
                          f"{int(every)} month(s)"))
        if "seconds" in runs and runs["seconds"].notna().any():
            facts.append(("Run time", f"{_fmt(runs['seconds'].sum())} s in all, "
                          f"{_fmt(runs['seconds'].mean())} s per run"))
    facts += _money_facts(results)
    facts.append(("Versions", _versions(results)))
    if results.meta.get("fingerprint"):
        facts.append(("Fingerprint", f"<code>{html.escape(str(results.meta['fingerprint']))}"
                      "</code>"))
    return facts


CSS = """
:root { --fg:#1d1d1f; --muted:#6b6b70; --line:#e3e3e8; --good:#e3f4e6; --bad:#fbe4e4; }
* { box-sizing: border-box; }
body { font-family: %(font)s; color: var(--fg); margin: 0; background: #fafafa;
       line-height: 1.45; }
header, main, footer { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 1.7rem; margin: 0 0 6px; }
h2 { font-size: 1.3rem; margin: 36px 0 8px; padding-top: 10px; border-top: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 24px 0 6px; }
p.description { font-size: 1.02rem; max-width: 900px; }
p.intro, p.note { color: var(--muted); max-width: 960px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px;
           background: #fff; border: 1px solid var(--line); border-radius: 8px;
           padding: 14px 18px; }
dl.facts dt { font-weight: 600; color: var(--muted); }
dl.facts dd { margin: 0; }
nav ol { columns: 2; max-width: 700px; }
.figure { background: #fff; border: 1px solid var(--line); border-radius: 8px;
          margin: 14px 0; padding: 4px; }
.table-wrap { overflow-x: auto; background: #fff; border: 1px solid var(--line);
              border-radius: 8px; margin: 12px 0; }
table { border-collapse: collapse; font-size: 0.86rem; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: right;
         vertical-align: top; white-space: nowrap; }
thead th { position: sticky; top: 0; background: #f3f3f6; text-align: center;
           white-space: normal; min-width: 90px; }
tbody th { text-align: left; font-weight: 600; background: #fcfcfd; }
td.good { background: var(--good); } td.bad, span.bad { background: var(--bad); }
.ci, .n, .unit, .rel { color: var(--muted); font-size: 0.8em; }
.n { display: block; }
code { font-size: 0.85em; }
footer { color: var(--muted); font-size: 0.85rem; padding-bottom: 40px; margin-top: 40px; }
"""


def render_report(results: Results, *, title: str | None = None) -> str:
    """The report as one HTML page (plotly.js embedded once; nothing loaded from outside)."""
    an = _Analysis(results)
    sections, contents = _sections(an, results)
    return _page(an, title or f"{results.experiment}: results", sections, contents)


SECTION_ORDER = ["hypotheses", "design", "outcomes", "differences", "value_for_money", "timeseries",
                 "network", "distribution", "sensitivity", "facts", "failed"]


def _tables(an: _Analysis, results: Results) -> dict[str, str]:
    """Each section's HTML table ("" where the section has none for this design)."""
    return {
        "design": _design_table(an),
        "outcomes": _outcome_table(an) if an.per_point_charts else "",
        "differences": _difference_table(an) if an.per_point_charts else "",
        "value_for_money": _value_table(an) if an.per_point_charts else "",
        "network": _network_table(an),
        "sensitivity": _sensitivity_table(an),
        "facts": _facts_table(an),
        "hypotheses": _hypotheses_html(an),
        "distribution": "" if an.per_point_charts else _distribution_table(an),
        "failed": _failed_table(results),
    }


def _sections(an: _Analysis, results: Results) -> tuple[list[str], list[str]]:
    """The sections with something to show, as HTML, and their table-of-contents entries."""
    by_section: dict[str, list[tuple[str, go.Figure]]] = {}
    for key, fig in _build_figures(an):
        by_section.setdefault(key.split(":")[0], []).append((key, fig))
    tables = _tables(an, results)
    sections, contents = [], []
    for name in SECTION_ORDER:
        figs, table = by_section.get(name, []), tables.get(name, "")
        if not figs and not table and name != "design":
            continue
        heading, intro = _heading(name, an.sensitivity[0], results.baseline_arm)
        sections.append(_section_html(name, heading, intro, figs, table,
                                      _section_note(an, name)))
        contents.append(f"<li><a href='#{name}'>{html.escape(heading)}</a></li>")
    return sections, contents


def _heading(name: str, method: str, baseline_arm: str | None) -> tuple[str, str]:
    """A section's heading and introduction, naming the sensitivity method and baseline arm."""
    heading, intro = SECTIONS[name]
    if name == "sensitivity":
        heading = f"{heading}: {dict(morris='Morris', sobol='Sobol').get(method, 'Spearman')}"
        intro = SENSITIVITY_INTRO.get(method, "")
    if name == "differences" and baseline_arm:
        intro = intro.replace("the baseline arm",
                              f"the baseline arm <b>{html.escape(baseline_arm)}</b>")
    return heading, intro


def _section_html(name: str, heading: str, intro: str, figs: list[tuple[str, go.Figure]],
                  table: str, note: str = "") -> str:
    """One section: heading, introduction, a note on this study's numbers, its figures
    (plotly divs), then its table."""
    parts = [f"<section id='{name}'><h2>{html.escape(heading)}</h2>"]
    if intro:
        parts.append(f"<p class='intro'>{intro}</p>")
    parts.append(note)
    for key, fig in figs:
        height = int(fig.layout.height or 450)
        div = pio.to_html(fig, full_html=False, include_plotlyjs=False, config=PLOT_CONFIG,
                          default_height=f"{height}px", div_id=f"fig-{_slug(key)}")
        parts.append(f"<div class='figure' data-key='{html.escape(key)}'>{div}</div>")
    if table:
        if figs:
            parts.append("<h3>Table</h3>")
        parts.append(table)
    parts.append("</section>")
    return "".join(parts)


def _page(an: _Analysis, page_title: str, sections: list[str], contents: list[str]) -> str:
    """The whole HTML page around the sections: the answer first, header with the facts,
    contents, footer."""
    results = an.results
    from plotly.offline import get_plotlyjs

    from clustersim import __version__

    description = analysis.experiment_description(results)
    facts = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in _facts(results))
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="clustersim {html.escape(__version__)}">
<title>{html.escape(page_title)}</title>
<style>{CSS % {"font": FONT}}{VERDICT_CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>{html.escape(page_title)}</h1>
{_verdict_section(an)}
{f"<p class='description'>{html.escape(description)}</p>" if description else ""}
<dl class="facts">{facts}</dl>
<nav><ol>{"".join(contents)}</ol></nav>
</header>
<main>
{"".join(sections)}
</main>
<footer>Written by clustersim {html.escape(__version__)} on {generated}. How to read this
report: docs/report.md in the clustersim repository; the hypotheses H1-H11 that experiment
descriptions cite, and what each can test today: docs/DOMAIN.md. Every table here comes from
<code>clustersim.experiments.analysis</code> in Python.</footer>
</body>
</html>
"""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _slug(key: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in key)


def write_report(store_path: str | Path, output_path: str | Path, *,
                 title: str | None = None) -> Path:
    """Read the store (read-only) and write its report atomically; return the output path.

    Raises :class:`StoreError` if the store cannot be used or the output would replace it.
    """
    store_path, output_path = Path(store_path), Path(output_path)
    if output_path.exists() and store_path.exists() and output_path.samefile(store_path):
        raise StoreError(f"{output_path}: is the results store itself; write the report to "
                         "another file (e.g. report.html)", str(store_path))
    results = analysis.load_results(store_path, timeseries=KEY_SERIES)
    page = render_report(results, title=title)
    folder = output_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{output_path.name}.",
                                             suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a report is not
        os.replace(temporary, output_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output_path
