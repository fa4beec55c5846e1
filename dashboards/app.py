"""The dashboard, for ``solara run dashboards/app.py`` in a source checkout.

The app's code lives in the package (:mod:`clustersim.dashboard`) so that an installed
wheel serves the same pages with ``clustersim dashboard``; this file only hands Solara
its routes.
"""

from clustersim.dashboard.app import routes

__all__ = ["routes"]
