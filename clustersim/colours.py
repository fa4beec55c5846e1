"""Colours shared by the HTML report and the dashboard, so both draw a series alike."""

from __future__ import annotations

# Categorical colours, used in order and repeated when there are more series: plotly's
# default sequence without its grey (grey means "none" or the baseline), then darker tones.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")
