"""A plotly figure in a Solara page, drawn by plotly.js in the browser from the figure's JSON.

``solara.FigurePlotly`` wraps plotly's ``FigureWidget``, an anywidget that sends its
whole 5 MB JavaScript bundle over the websocket once per figure on the page: five
figures took the page 25 s to open here. :func:`PlotlyView` sends only the figure's
JSON; the browser loads plotly.js once: the npm "cartesian" bundle of the same plotly.js
version as plotly.py's own (scatter, bar, heatmap and the like, a third of the size: a
second less per page) through Solara's CDN route, or, for figures with other trace
types or when that bundle cannot be had, the full copy plotly.py ships, served by
Solara's asset route.
"""

from __future__ import annotations

from pathlib import Path

import plotly
import solara
import solara.server.settings

from clustersim.dashboard.assets import plotly_js_version
from clustersim.dashboard.figures import figure_json

PLOTLY_JS_FOLDER = Path(plotly.__file__).parent / "package_data"
# Trace types of the plotly.js-cartesian-dist bundle.
CARTESIAN_TYPES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d",
                             "histogram2dcontour", "image", "pie", "scatter", "scatterternary",
                             "violin"})


def bundle_for(figure) -> str:
    """``cartesian`` when every trace is of a type that bundle draws, else ``full``."""
    traces = figure.get("data", []) if isinstance(figure, dict) else figure.data
    types = {(t.get("type") if isinstance(t, dict) else t.type) or "scatter" for t in traces}
    return "cartesian" if types <= CARTESIAN_TYPES else "full"


def serve_plotly_js() -> None:
    """Let Solara serve ``plotly.min.js`` at ``/static/assets/plotly.min.js``."""
    locations = solara.server.settings.assets.extra_locations
    if str(PLOTLY_JS_FOLDER) not in locations:
        locations.append(str(PLOTLY_JS_FOLDER))


@solara.component_vue("plotly_view.vue", vuetify=False)
def _PlotlyView(figure: str, name: str = "", height: int = 300, version: str = "",
                bundle: str = "full", plotlyjs: str = ""):
    pass


def _height(figure) -> int:
    layout = figure.get("layout", {}) if isinstance(figure, dict) else figure.layout
    value = layout.get("height") if isinstance(layout, dict) else layout.height
    return int(value or 300)


@solara.component
def PlotlyView(figure, name: str = "", height: int | None = None):
    """Draw ``figure`` (a plotly figure dict or ``go.Figure``); ``name`` becomes the CSS
    class ``cs-plot-<name>``."""
    text = solara.use_memo(lambda: figure_json(figure), [figure])
    return _PlotlyView(figure=text, name=name, height=int(height or _height(figure)),
                       version=plotly.__version__, bundle=bundle_for(figure),
                       plotlyjs=plotly_js_version())
