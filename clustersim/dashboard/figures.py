"""Plotly figures for the explore page: the firms on their map, and the curves over time.

Pure functions: a model (or its time series) in, a figure out; no Solara here. Figures
are plain plotly figure dicts (``{"data": [...], "layout": {...}}``, what plotly.js
reads): building ``plotly.graph_objects`` validates every property and took longer than
the model's month; :func:`as_figure` turns one into a ``go.Figure`` when wanted. Ties
are drawn as a few line traces, one per trust band, with gaps between ties (never one
trace per tie), and only the strongest :data:`MAX_TIES` of them, so that 400 firms with
thousands of ties stay readable and a redraw stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clustersim.colours import PALETTE

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from clustersim.model import ClusterModel

MAX_TIES = 1200
# Trust bands (lower bounds) and how their ties are drawn: stronger is wider and darker.
TIE_BANDS = ((0.0, 0.5, "rgba(110,110,110,0.10)"), (0.35, 0.9, "rgba(90,90,90,0.16)"),
             (0.5, 1.6, "rgba(60,60,60,0.26)"), (0.7, 2.6, "rgba(20,20,20,0.42)"))
COLOUR_MODES = {"network": "Formal network", "hub": "Hub membership", "specialty": "Specialty"}
NONE_COLOUR = "#c7c7c7"
FIGURE_FONT = {"size": 12}
Figure = dict  # a plotly figure dict: {"data": [trace dicts], "layout": {...}}


def as_figure(figure: Figure) -> go.Figure:
    """A plotly ``go.Figure`` of a figure dict (validated: for notebooks and exports)."""
    import plotly.graph_objects as go

    return go.Figure(figure)


def figure_json(figure: Figure | go.Figure) -> str:
    """JSON text plotly.js reads, from a figure dict or a ``go.Figure``."""
    if hasattr(figure, "to_json"):
        return figure.to_json()
    from plotly.io.json import to_json_plotly

    return to_json_plotly(figure)


# --------------------------------------------------------------------------- network


@dataclass
class NetworkData:
    """The living firms and their ties, as arrays in the order of ``firm``."""

    firm: np.ndarray
    x: np.ndarray
    y: np.ndarray
    employees: np.ndarray
    specialty: np.ndarray
    network: np.ndarray  # formal network id, or the fixed network in static mode; −1 none
    hub: np.ndarray
    disrupted: np.ndarray
    hover: list[str]
    tie_u: np.ndarray  # positions into the arrays above
    tie_v: np.ndarray
    tie_trust: np.ndarray
    size_km: float
    static: bool


def network_data(model: ClusterModel) -> NetworkData:
    """Read the firms, ties and what the hover box says, from the model's arrays."""
    f = model.firms
    idx = f.alive_indices()
    position = np.full(f.n, -1, dtype=np.int64)
    position[idx] = np.arange(len(idx))
    u, v, trust = model.ties.edges()
    u, v = position[u], position[v]
    keep = (u >= 0) & (v >= 0)
    static = bool(model.static_mode)
    network = f.network[idx] if static else f.formal_network[idx]
    degree = np.bincount(np.concatenate([u[keep], v[keep]]), minlength=len(idx))
    hover = [
        (f"<b>Firm {i}</b> · phase {s + 1}<br>{e:.0f} employees · cash {c:,.0f} k€"
         f"<br>knowledge {k:.2f} · busy {ut:.0%}<br>{d} ties · "
         f"{'network ' + str(n + 1) if n >= 0 else 'no network'} · "
         f"{'hub ' + str(h + 1) if h >= 0 else 'no hub'}"
         f"<br>orders led {ol}, joined {oj}, lost {lo} · innovations {inn}"
         + ("<br><b>production stopped (supply disruption)</b>" if dis else ""))
        for i, s, e, c, k, ut, d, n, h, ol, oj, lo, inn, dis in zip(
            idx.tolist(), f.specialty[idx].tolist(), f.employees[idx].tolist(),
            f.cash[idx].tolist(), f.knowledge[idx].tolist(), f.utilisation[idx].tolist(),
            degree.tolist(), network.tolist(), f.hub[idx].tolist(), f.orders_led[idx].tolist(),
            f.orders_joined[idx].tolist(), f.orders_lost[idx].tolist(),
            f.innovations[idx].tolist(), f.disrupted[idx].tolist(), strict=True)
    ]
    return NetworkData(
        firm=idx, x=f.x[idx].copy(), y=f.y[idx].copy(), employees=f.employees[idx].copy(),
        specialty=f.specialty[idx].copy(), network=network.copy(), hub=f.hub[idx].copy(),
        disrupted=f.disrupted[idx].copy(), hover=hover,
        tie_u=u[keep], tie_v=v[keep], tie_trust=np.asarray(trust)[keep],
        size_km=float(model.region.size_km), static=static)


def strongest_ties(trust: np.ndarray, limit: int) -> np.ndarray:
    """Indices of the ``limit`` ties with the highest trust (all if there are fewer)."""
    if len(trust) <= limit:
        return np.arange(len(trust))
    if limit <= 0:
        return np.arange(0)
    return np.argpartition(-trust, limit - 1)[:limit]


def tie_band_traces(data: NetworkData, limit: int = MAX_TIES) -> list[dict]:
    """One line trace per trust band; ties separated by gaps (NaN) within a trace."""
    chosen = strongest_ties(data.tie_trust, limit)
    u, v, trust = data.tie_u[chosen], data.tie_v[chosen], data.tie_trust[chosen]
    lower = np.array([band[0] for band in TIE_BANDS])
    band_of = np.searchsorted(lower, trust, side="right") - 1
    traces = []
    for b, (low, width, colour) in enumerate(TIE_BANDS):
        mask = band_of == b
        count = int(mask.sum())
        xs = np.column_stack([data.x[u[mask]], data.x[v[mask]], np.full(count, np.nan)]).ravel()
        ys = np.column_stack([data.y[u[mask]], data.y[v[mask]], np.full(count, np.nan)]).ravel()
        high = TIE_BANDS[b + 1][0] if b + 1 < len(TIE_BANDS) else 1.0
        traces.append({
            "type": "scatter", "x": xs, "y": ys, "mode": "lines",
            "line": {"width": width, "color": colour}, "hoverinfo": "skip",
            "name": f"trust {low:.2f}–{high:.2f} ({count})", "legendgroup": "ties",
            "showlegend": count > 0})
    return traces


def marker_sizes(employees: np.ndarray) -> np.ndarray:
    """Marker diameter (px) by employees: area grows with size, 1 → 6 px, 249 → 28 px."""
    return 4.6 + 1.5 * np.sqrt(np.maximum(employees, 1.0))


def firm_traces(data: NetworkData, colour_by: str) -> list[dict]:
    """The firms, one trace per colour class (or one for 'none' and one for the rest)."""
    if colour_by not in COLOUR_MODES:
        raise ValueError(f"colour_by must be one of {', '.join(COLOUR_MODES)}, not {colour_by!r}")
    size = marker_sizes(data.employees)

    def trace(mask: np.ndarray, name: str, colour: str | list[str]) -> dict:
        return {
            "type": "scatter", "x": data.x[mask], "y": data.y[mask], "mode": "markers",
            "name": name, "text": [h for h, m in zip(data.hover, mask.tolist(), strict=True) if m],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"size": size[mask], "color": colour, "opacity": 0.9,
                       "line": {"color": "#ffffff", "width": 0.6}}}

    if colour_by == "specialty":
        phases = sorted(set(data.specialty.tolist()))
        traces = [trace(data.specialty == p, f"phase {p + 1}", PALETTE[p % len(PALETTE)])
                  for p in phases]
    else:
        groups = data.network if colour_by == "network" else data.hub
        kind = (("fixed network" if data.static else "formal network") if colour_by == "network"
                else "hub")
        traces = [trace(groups < 0, f"no {kind}", NONE_COLOUR)]
        if colour_by == "hub":
            traces += [trace(groups == h, f"member of hub {h + 1}", PALETTE[h % len(PALETTE)])
                       for h in sorted(set(groups[groups >= 0].tolist()))]
        elif (groups >= 0).any():
            mask = groups >= 0
            colours = [PALETTE[g % len(PALETTE)] for g in groups[mask].tolist()]
            count = len(set(groups[mask].tolist()))
            traces.append(trace(mask, f"in a {kind} ({count}; colour = which)", colours))
    if data.disrupted.any():  # a red ring around every firm a supply disruption stopped
        hit = data.disrupted
        traces.append({
            "type": "scatter", "x": data.x[hit], "y": data.y[hit], "mode": "markers",
            "name": f"production stopped ({int(hit.sum())})", "hoverinfo": "skip",
            "marker": {"symbol": "circle-open", "size": size[hit] + 5, "color": "#d62728",
                       "line": {"width": 2.5}}})
    return traces


def actor_traces(model: ClusterModel) -> list[dict]:
    """Towns, service hubs and brokers (grouped by town: brokers work from town centres)."""
    towns = np.asarray(model.region.towns_xy)
    traces = [{
        "type": "scatter", "x": towns[:, 0], "y": towns[:, 1], "mode": "text",
        "text": [f"town {t + 1}" for t in range(len(towns))], "textposition": "top center",
        "textfont": {"size": 11, "color": "#555"}, "hoverinfo": "skip", "name": "towns",
        "showlegend": False}]
    hubs = list(model.hubs)
    if hubs:
        traces.append({
            "type": "scatter", "x": [h.x for h in hubs], "y": [h.y for h in hubs],
            "mode": "markers", "name": "service hub",
            "marker": {"symbol": "square", "size": 18, "color": "#ffffff",
                       "line": {"color": "#111111", "width": 3}},
            "text": [f"<b>Service hub {h.index + 1}</b> (town {h.town + 1})<br>"
                     f"{h.member_count()} members · service level {h.service_level:.0%}<br>"
                     f"fees this month {h.fees_month:,.1f} k€ · seed money "
                     f"{h.seed_month:,.1f} k€" for h in hubs],
            "hovertemplate": "%{text}<extra></extra>"})
    by_town: dict[int, list] = {}
    for policy in model.policies:
        for broker in getattr(policy, "brokers", ()):
            if not broker.retired:
                by_town.setdefault(broker.town, []).append(broker)
    if by_town:
        offset = 0.02 * float(model.region.size_km)  # beside the hub of the same town
        items = sorted(by_town.items())
        traces.append({
            "type": "scatter", "x": [group[0].x + offset for _, group in items],
            "y": [group[0].y + offset for _, group in items], "mode": "markers",
            "name": "brokers",
            "marker": {"symbol": "star", "size": [14 + 2 * min(len(g), 6) for _, g in items],
                       "color": "#ffd700", "line": {"color": "#111111", "width": 1.5}},
            "text": [f"<b>{len(g)} broker{'s' if len(g) > 1 else ''}</b> (town {t + 1})<br>"
                     f"{sum(len(b.clients) for b in g)} client firms · "
                     f"{sum(len(b.networks) for b in g)} formal networks built"
                     for t, g in items],
            "hovertemplate": "%{text}<extra></extra>"})
    return traces


def network_figure(model: ClusterModel, colour_by: str = "network",
                   max_ties: int = MAX_TIES) -> Figure:
    """The firms on the map (km), sized by employees, coloured by ``colour_by``, with ties."""
    data = network_data(model)
    shown = min(len(data.tie_trust), max_ties)
    size = data.size_km
    return {
        "data": [*tie_band_traces(data, max_ties), *firm_traces(data, colour_by),
                 *actor_traces(model)],
        "layout": {
            "title": {"text": f"Month {model.steps}: {len(data.firm):,} firms, "
                              f"{len(data.tie_trust):,} ties (the {shown:,} strongest drawn)",
                      "font": {"size": 14}},
            "xaxis": {"title": {"text": "km"}, "range": [0, size], "constrain": "domain",
                      "showgrid": False, "zeroline": False},
            "yaxis": {"title": {"text": "km"}, "range": [0, size], "scaleanchor": "x",
                      "scaleratio": 1, "showgrid": False, "zeroline": False},
            "height": 660, "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
            "plot_bgcolor": "#fbfbf8", "paper_bgcolor": "#ffffff",
            "legend": {"x": 1.02, "y": 1, "font": {"size": 11}, "itemsizing": "constant"},
            "font": FIGURE_FONT, "hovermode": "closest", "uirevision": "network",
        },
    }


# --------------------------------------------------------------------------- charts


def shock_periods(model: ClusterModel) -> list[tuple[int, int, str]]:
    """(first month, first month without it, label) of every shock begun or due next month."""
    out = []
    for shock in model.shocks:
        if shock.begun or shock.start <= model.steps + 1:
            out.append((shock.start, shock.stop, shock.config.type.replace("_", " ")))
    return out


MARKERS_UP_TO = 24  # months: a short series gets dots too, so month 0 shows at all


def _line(frame: pd.DataFrame, column: str, name: str, colour: str, *, axis: str = "y",
          scale: float = 1.0, dash: str = "solid") -> dict:
    values = frame[column].to_numpy(dtype=float) * scale if column in frame else []
    mode = "lines+markers" if len(frame) <= MARKERS_UP_TO else "lines"
    return {"type": "scatter", "x": frame["step"].to_numpy(), "y": values, "name": name,
            "mode": mode, "yaxis": axis, "line": {"color": colour, "width": 2, "dash": dash},
            "marker": {"size": 4}}


def _bars(frame: pd.DataFrame, column: str, name: str, colour: str, axis: str = "y") -> dict:
    values = frame[column].to_numpy(dtype=float) if column in frame else []
    return {"type": "bar", "x": frame["step"].to_numpy(), "y": values, "name": name,
            "marker": {"color": colour}, "yaxis": axis, "opacity": 0.55}


def _chart(title: str, traces: list[dict], left: str, right: str | None, last_month: int,
           shocks: list[tuple[int, int, str]], right_range: list[float] | None = None,
           right_tick: float | None = None) -> Figure:
    layout: dict = {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": {"title": {"text": "month"}, "range": [-0.5, max(12, last_month) + 0.5],
                  "zeroline": False},
        "yaxis": {"title": {"text": left}, "rangemode": "tozero", "gridcolor": "#e5e5e5"},
        "height": 290, "margin": {"l": 55, "r": 55, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.3, "font": {"size": 11}},
        "font": FIGURE_FONT, "bargap": 0.1, "hovermode": "x unified",
        "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff",
    }
    if right is not None:
        layout["yaxis2"] = {"title": {"text": right}, "overlaying": "y", "side": "right",
                            "showgrid": False, "rangemode": "tozero"}
        if right_range is not None:
            layout["yaxis2"]["range"] = right_range
        if right_tick is not None:  # round ticks, not ones lined up with the left axis
            layout["yaxis2"].update(tickmode="linear", tick0=0, dtick=right_tick)
    bands = [(start - 0.5, min(stop, max(last_month, start) + 1) - 0.5, label)
             for start, stop, label in shocks]
    layout["shapes"] = [{"type": "rect", "xref": "x", "yref": "paper", "x0": x0, "x1": x1,
                         "y0": 0, "y1": 1, "fillcolor": "#d62728", "opacity": 0.12,
                         "line": {"width": 0}, "layer": "below"} for x0, x1, _ in bands]
    layout["annotations"] = [{"x": x0, "y": 1 - 0.09 * (i % 4), "xref": "x", "yref": "paper",
                              "text": label, "showarrow": False, "xanchor": "left",
                              "yanchor": "top", "font": {"size": 10, "color": "#a01010"}}
                             for i, (x0, _, label) in enumerate(bands)]  # stacked: no overlap
    return {"data": traces, "layout": layout}


CHART_TITLES = {"innovation": "Innovation", "survival": "Survival",
                "network": "Network", "policy": "Policy spend"}


def chart_figures(series: pd.DataFrame, shocks: list[tuple[int, int, str]] = ()) -> dict[str, Figure]:
    """The four charts of the explore page from a model's time series (one row per month).

    A shock's months are shaded red, with its name at the top.
    """
    last = int(series["step"].iloc[-1]) if len(series) else 0
    shocks = list(shocks)
    return {
        "innovation": _chart(
            "Innovation", [
                _bars(series, "innovations", "innovations this month", "#2ca02c"),
                _line(series, "innovating_firms_share", "firms innovating in the last year (%)",
                      "#1b5e20", axis="y2", scale=100)],
            "innovations", "% of firms", last, shocks, right_range=[0, 100], right_tick=25),
        "survival": _chart(
            "Survival", [
                _line(series, "firms_alive", "firms alive", "#1f77b4"),
                _line(series, "initial_cohort_survival", "first firms still alive (%)", "#ff7f0e",
                      axis="y2", scale=100)],
            "firms", "% of month-0 firms", last, shocks, right_range=[0, 105], right_tick=25),
        "network": _chart(
            "Network", [
                _line(series, "mean_degree", "ties per firm", "#9467bd"),
                _line(series, "clustering", "clustering", "#8c564b", axis="y2"),
                _line(series, "mean_trust", "mean trust", "#e377c2", axis="y2", dash="dot"),
                _line(series, "formal_network_share", "share in formal networks", "#17becf",
                      axis="y2", dash="dash")],
            "ties per firm", "share / trust (0–1)", last, shocks, right_range=[0, 1.02],
            right_tick=0.25),
        "policy": _chart(
            "Policy spend", [
                _bars(series, "policy_spend", "spent this month (k€)", "#d62728"),
                _line(series, "policy_spend_cum", "spent so far (k€)", "#7f0000", axis="y2")],
            "k€ per month", "k€ in all", last, shocks),
    }
