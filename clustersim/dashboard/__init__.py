"""The browser dashboard: explore one model live, compare a sweep's arms.

``clustersim dashboard`` serves it (:func:`serve`); ``solara run dashboards/app.py`` or
``solara run clustersim.dashboard.app`` does too. Solara is imported only by the app
and page modules, so the state, figure and results helpers load without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["serve"]


def serve(*args: Any, **kwargs: Any) -> None:
    """Serve the dashboard (see :func:`clustersim.dashboard.server.serve`)."""
    from clustersim.dashboard.server import serve as _serve

    _serve(*args, **kwargs)
