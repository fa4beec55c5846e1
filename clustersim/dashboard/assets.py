"""Solara's browser files without the internet: the page's JavaScript and CSS from npm.

Solara's server fetches the page's front end (the Vuetify app, require.js, Font
Awesome; and the dashboard's plotly.js bundle) from a public CDN the first time a
browser asks, and caches it in
``SOLARA_ASSETS_PROXY_CACHE_DIR``. Where the server cannot reach that CDN (a closed
network, a workshop room without internet, this project's CI) the page stays blank.
:func:`prepare` fills a cache folder from the same packages on the npm registry, with
the ``npm`` client, once; :func:`serve <clustersim.dashboard.server.serve>` then points
Solara at it. Usage::

    python -m clustersim.dashboard.assets            # fills the default folder
    python -m clustersim.dashboard.assets DIR        # or DIR
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

CACHE_ENV = "SOLARA_ASSETS_PROXY_CACHE_DIR"
FONT_AWESOME = "font-awesome@4.5.0"


class AssetsError(RuntimeError):
    """The offline files could not be prepared; the message says why and what to do."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/clustersim/solara-assets-<solara version>`` (or ``~/.cache/...``)."""
    import solara

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clustersim" / f"solara-assets-{solara.__version__}"


def plotly_js_version() -> str:
    """The plotly.js version plotly.py was written for (and ships)."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


def required_packages() -> list[str]:
    """The npm packages (``name@version``) the installed Solara's page loads."""
    import solara.server

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    text = template.read_text(encoding="utf-8")
    packages = []
    for pattern in (r"(@widgetti/solara-vuetify-app@[\w.\-]+)/", r"/(requirejs@[\w.\-]+)/"):
        found = re.search(pattern, text)
        if found is None:
            raise AssetsError(f"cannot find {pattern!r} in Solara's page template {template}")
        packages.append(found.group(1))
    packages.append(FONT_AWESOME)
    # the dashboard's own: plotly.js's cartesian bundle, of plotly.py's plotly.js version
    packages.append(f"plotly.js-cartesian-dist-min@{plotly_js_version()}")
    return packages


def missing(cache_dir: Path, packages: list[str] | None = None) -> list[str]:
    """The packages not yet unpacked in ``cache_dir``."""
    return [spec for spec in packages or required_packages()
            if not (cache_dir / spec / "package.json").is_file()]


def is_complete(cache_dir: Path) -> bool:
    return cache_dir.is_dir() and not missing(cache_dir)


def prepare(cache_dir: Path | None = None, *, npm: str | None = None, timeout: float = 300.0) -> Path:
    """Unpack every missing package into ``cache_dir/<name>@<version>/``; returns the folder."""
    cache_dir = Path(cache_dir or default_cache_dir())
    todo = missing(cache_dir)
    if not todo:
        return cache_dir
    npm = npm or shutil.which("npm")
    if npm is None:
        raise AssetsError("npm is not installed: install Node.js and npm, or give the browser "
                          "access to the public CDN")
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clustersim-assets-") as tmp:
        for spec in todo:
            try:
                done = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", tmp],
                                      capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise AssetsError(f"npm pack {spec}: no answer within {timeout:.0f} s") from None
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1] if done.stdout.strip() else None
            if done.returncode != 0 or tarball is None or not tarball.is_file():
                raise AssetsError(f"npm pack {spec} failed: {done.stderr.strip()[-500:]}")
            _unpack(tarball, cache_dir / spec)
    return cache_dir


def _unpack(tarball: Path, target: Path) -> None:
    """Extract an npm tarball's ``package/`` folder into ``target`` (written whole, then renamed)."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(tarball, "r:gz") as archive:
        members = []
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if not parts or parts[0] != "package" or len(parts) == 1:
                continue
            member.name = str(Path(*parts[1:]))
            members.append(member)
        archive.extractall(partial, members=members, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def use_offline_assets(cache_dir: Path | None = None) -> Path | None:
    """Point Solara at a complete offline folder (unless the environment already names one)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    folder = Path(cache_dir or default_cache_dir())
    if not is_complete(folder):
        return None
    os.environ[CACHE_ENV] = str(folder)
    settings = sys.modules.get("solara.server.settings")
    if settings is not None:  # already read the environment: tell it too
        settings.assets.proxy_cache_dir = folder
    return folder


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else default_cache_dir()
    try:
        folder = prepare(target)
    except AssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Solara's browser files are in {folder}")
    print(f"serve with: {CACHE_ENV}={folder} clustersim dashboard")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
