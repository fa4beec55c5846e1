"""The Solara app: ``solara run clustersim.dashboard.app`` (or ``clustersim dashboard``).

Two pages, each with its own tab: Explore (``/``), one model per browser session, and
Compare (``/compare``), a results store's arms. ``dashboards/app.py`` in a source
checkout imports ``routes`` from here, so an installed wheel serves the same app.
"""

from __future__ import annotations

from pathlib import Path

import solara

from clustersim.dashboard.assets import serve_folder
from clustersim.dashboard.pages import Compare, Explore, Layout
from clustersim.dashboard.plotly_view import serve_plotly_js

try:  # `solara run` directly: no usage reports to Solara's telemetry service either
    import solara.server.settings as _server_settings

    _server_settings.telemetry.mixpanel_enable = False
except ImportError:  # pragma: no cover - Solara without its server (notebooks)
    pass

serve_plotly_js()
# custom.js: a readable message instead of a white page when the front end did not load
serve_folder(Path(__file__).parent / "browser")

routes = [
    solara.Route(path="/", component=Explore, label="Explore", layout=Layout),
    solara.Route(path="compare", component=Compare, label="Compare"),
]
