"""A plotly figure in a Solara page, drawn by plotly.js in the browser from the figure's JSON.

``solara.FigurePlotly`` wraps plotly's ``FigureWidget``, an anywidget that sends its
whole 5 MB JavaScript bundle over the websocket once per figure on the page: five
figures took the page 25 s to open here. :func:`PlotlyView` sends only the figure's
JSON; the browser loads plotly.js once per page: the copy plotly.py ships (so its version
always matches the figures), served by Solara's asset route, never from a CDN.
"""

from __future__ import annotations

from pathlib import Path

import plotly
import solara

from clustersim.dashboard.assets import serve_folder
from clustersim.dashboard.figures import figure_json

PLOTLY_JS_FOLDER = Path(plotly.__file__).parent / "package_data"


def serve_plotly_js() -> None:
    """Let Solara serve ``plotly.min.js`` at ``/static/assets/plotly.min.js``."""
    serve_folder(PLOTLY_JS_FOLDER)


@solara.component_vue("plotly_view.vue", vuetify=False)
def _PlotlyView(figure: str, name: str = "", height: int = 300, version: str = ""):
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
                       version=plotly.__version__)
