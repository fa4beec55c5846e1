"""Start the dashboard's web server: ``clustersim dashboard`` calls :func:`serve`.

It runs Solara's own server (``solara run``) in this process, in production mode (no
reloading on file changes), on 127.0.0.1 unless told otherwise, with Solara's usage
telemetry and version check switched off: a workshop's visitors are not reported to
anyone, and a server on a closed network does not wait on the internet.

At start-up it says, on stderr, when the page's browser files are missing (and the command
that fixes it, :mod:`clustersim.dashboard.assets`) and when the dashboard listens beyond
this computer. ``token``: every request must then carry the shared secret, in the link
(``?token=...``) or in the cookie that link sets (:class:`TokenGate`).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Any

from clustersim.dashboard.results import RESULTS_ENV

APP_MODULE = "clustersim.dashboard.app"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_COOKIE = "clustersim-dashboard-token"


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


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this computer."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_token(token: str | None) -> str | None:
    """A shared secret for the link: 8 or more of ``A-Z a-z 0-9 . _ ~ -``."""
    if token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{8,}", token):
        raise ValueError("the token must be 8 or more letters, digits or . _ ~ - "
                         "(it goes into a link and a cookie)")
    return token


def startup_warnings(host: str, token: str | None, found: Any) -> list[str]:
    """The lines :func:`serve` prints before it starts: missing browser files (``found``, an
    :class:`clustersim.dashboard.assets.Found`), a host open to the network."""
    lines = [found.message()] if found.folder is None else []
    if not is_loopback(host):
        gate = ("only with the link that carries --token's secret" if token else
                "no password: add --token SECRET to require a secret in the link")
        lines.append(f"warning: --host {host} opens the dashboard to the network: anyone who can "
                     f"reach this computer can run models on it and open the stores in the "
                     f"results folder ({gate})")
    return lines


class TokenGate:
    """ASGI middleware: a request passes only with the shared secret, as ``?token=`` in the
    URL (the link handed out) or as the cookie that such a request sets (the page's own
    requests and its websocket); others get 403 with a short text."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token

    def _matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        from starlette.requests import HTTPConnection
        from starlette.responses import PlainTextResponse

        connection = HTTPConnection(scope)
        in_link = self._matches(connection.query_params.get("token"))
        if not (in_link or self._matches(connection.cookies.get(TOKEN_COOKIE))):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            refused = PlainTextResponse("This dashboard needs its full link, with ?token=... "
                                        "(ask whoever runs it).", status_code=403)
            return await refused(scope, receive, send)
        if not (in_link and scope["type"] == "http"):
            return await self.app(scope, receive, send)

        async def send_with_cookie(message: Any) -> None:
            if message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []),
                                      (b"set-cookie", cookie.encode("latin-1"))]
            await send(message)

        return await self.app(scope, receive, send_with_cookie)


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          results_dir: str | Path = "results", token: str | None = None) -> None:
    """Serve the dashboard until interrupted (Ctrl-C).

    ``results_dir`` is the only folder the compare page opens stores from. Solara's
    browser files come from the install (:mod:`clustersim.dashboard.assets`); a line on
    stderr says so when they are missing. ``token``: see :class:`TokenGate`.
    """
    arguments = solara_arguments(host, port)
    token = check_token(token)
    os.environ.update(server_environment(results_dir))
    from clustersim.dashboard import assets

    found = assets.find()
    for line in startup_warnings(host, token, found):
        print(line, file=sys.stderr)
    if found.folder is not None:
        assets.use(found.folder)
    # Solara warns on every page served from 127.0.0.1 over http that its session cookie
    # falls back to SameSite=Lax (it wants https to embed pages in iframes elsewhere): not a
    # problem for a dashboard opened directly, and it buries the log.
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https",
                            category=UserWarning)
    from solara.__main__ import cli

    if token:  # Solara's app module reads SOLARA_APP when imported: name the app first
        os.environ["SOLARA_APP"] = APP_MODULE
        import solara.server.starlette

        solara.server.starlette.app.add_middleware(TokenGate, token=token)
    cli.main(args=arguments, prog_name="solara", standalone_mode=False)
