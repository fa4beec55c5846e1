"""Start the dashboard's web server: ``clustersim dashboard`` calls :func:`serve`.

It runs Solara's own server (``solara run``) in this process, in production mode (no
reloading on file changes), on 127.0.0.1 unless told otherwise, with Solara's usage
telemetry and version check switched off: a workshop's visitors are not reported to
anyone, and a server on a closed network does not wait on the internet.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from clustersim.dashboard.results import RESULTS_ENV

APP_MODULE = "clustersim.dashboard.app"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def check_port(port: int) -> int:
    """A TCP port from 1 to 65535 (0 asks the system for a free one)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValueError(f"port {port!r} is not allowed: a whole number from 0 to 65535")
    return port


def server_environment(results_dir: str | Path) -> dict[str, str]:
    """The environment variables the server process runs with (set before Solara is imported)."""
    return {
        RESULTS_ENV: str(Path(results_dir).expanduser().resolve()),
        "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    }


def solara_arguments(host: str, port: int) -> list[str]:
    """The ``solara`` command line that serves the app."""
    return ["run", APP_MODULE, "--host", host, "--port", str(check_port(port)), "--production",
            "--no-open", "--no-check-version", "--log-level", "warning"]


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          results_dir: str | Path = "results") -> None:
    """Serve the dashboard until interrupted (Ctrl-C).

    ``results_dir`` is the only folder the compare page opens stores from. Solara's
    browser files come from an offline folder when one is prepared
    (:mod:`clustersim.dashboard.assets`), else from Solara's CDN.
    """
    arguments = solara_arguments(host, port)
    os.environ.update(server_environment(results_dir))
    from clustersim.dashboard.assets import use_offline_assets

    use_offline_assets()
    # Solara warns on every page served from 127.0.0.1 over http that its session cookie
    # falls back to SameSite=Lax (it wants https to embed pages in iframes elsewhere): not a
    # problem for a dashboard opened directly, and it buries the log.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https",
                            category=UserWarning)
    from solara.__main__ import cli

    cli.main(args=arguments, prog_name="solara", standalone_mode=False)
