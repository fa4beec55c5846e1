"""The dashboard's browser files come with the install: no CDN when a page loads.

Solara's page loads its front end (the Vuetify app, require.js, Font Awesome) from its
own server, at ``/_solara/cdn/<npm package>@<version>/...``; the server answers from a
folder (``SOLARA_ASSETS_PROXY_CACHE_DIR``, by default ``<prefix>/share/solara/cdn``) and
fetches only what is missing there from a public CDN. ``solara-assets``, Solara's own
package of these npm packages on PyPI and a dependency of clustersim, installs them into
that default folder, so ``pip install`` brings everything the page needs; plotly.js is
the copy plotly.py ships (:func:`serve_folder`).

:func:`find` looks for a folder holding every file the installed Solara's page asks for
and, when there is none, says what is missing and the one command that fixes it
(:func:`clustersim.dashboard.server.serve` prints it at start-up). Where Solara asks for
versions that solara-assets lacks, ``python -m clustersim.dashboard.assets [DIR]`` fills
a folder: copied from solara-assets where it has them, else with ``npm`` from the npm
registry. Usage::

    python -m clustersim.dashboard.assets            # check; fill the default folder if needed
    python -m clustersim.dashboard.assets DIR        # fill DIR (then SOLARA_ASSETS_PROXY_CACHE_DIR=DIR)
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "SOLARA_ASSETS_PROXY_CACHE_DIR"
# The PyPI package pinned in pyproject.toml, and the npm packages it holds that a page of
# Solara 1.58-1.64 (with ipyvue 1) asks for.
SOLARA_ASSETS = "solara-assets==1.58.1"
SOLARA_ASSETS_PACKAGES = frozenset({"@widgetti/solara-vuetify-app@10.1.1", "requirejs@2.3.6",
                                    "font-awesome@4.5.0"})
FIX_COMMAND = "python -m clustersim.dashboard.assets"


class AssetsError(RuntimeError):
    """The offline files could not be prepared; the message says why and what to do."""


@dataclass(frozen=True)
class Found:
    """Where the page's files are (``folder``), or what is missing and how to fix it."""

    folder: Path | None
    missing: tuple[str, ...] = ()
    looked_in: Path | None = None
    fix: str = ""

    def message(self) -> str:
        """One line for the terminal ('' when nothing is missing)."""
        if self.folder is not None:
            return ""
        more = f" and {len(self.missing) - 1} more" if len(self.missing) > 1 else ""
        return (f"warning: the dashboard's browser files are missing ({self.missing[0]}{more} "
                f"in {self.looked_in}), so its page cannot load without internet; fix: {self.fix}")


def serve_folder(folder: Path) -> None:
    """Let Solara serve the files in ``folder`` at ``/static/assets/<name>``."""
    import solara.server.settings

    locations = solara.server.settings.assets.extra_locations
    if str(folder) not in locations:
        locations.append(str(folder))


def _template_text() -> str:
    import solara.server

    template = Path(solara.server.__file__).parent / "templates" / "solara.html.j2"
    return template.read_text(encoding="utf-8")


def required_files(template: str | None = None) -> list[str]:
    """The files (``<npm package>@<version>/<path>``) the installed Solara's page loads
    through its CDN route, for this ipywidgets and ipyvue."""
    import ipyvue
    import ipywidgets
    import solara.server.settings

    text = _template_text() if template is None else template
    vue3 = ipyvue.__version__.startswith("3")
    major = ipywidgets.__version__.split(".")[0]
    files = []
    for found in re.finditer(r"\{\{\s*cdn\s*\}\}/([^\"'\s{]+(?:\{\{[^}]+\}\}[^\"'\s{]*)*)", text):
        path = re.sub(r"\{\{\s*ipywidget_major_version\s*\}\}", major, found.group(1))
        if "{{" in path or ("vuetify3-app@" in path) != vue3 or path in files:
            continue
        files.append(path)
    assets = solara.server.settings.assets
    if assets.fontawesome_enabled:
        files.append(assets.fontawesome_path.lstrip("/"))
    return files


def package_of(path: str) -> str:
    """``@scope/name@version`` or ``name@version``: the npm package a file belongs to."""
    parts = path.split("/")
    return "/".join(parts[:2] if path.startswith("@") else parts[:1])


def required_packages(files: list[str] | None = None) -> list[str]:
    """The npm packages (``name@version``) the installed Solara's page loads."""
    return list(dict.fromkeys(package_of(path) for path in files or required_files()))


def missing(folder: Path, files: list[str] | None = None) -> list[str]:
    """The page's files that are not in ``folder``."""
    return [path for path in files or required_files() if not (Path(folder) / path).is_file()]


def solara_default_folder() -> Path:
    """Where Solara looks without ``SOLARA_ASSETS_PROXY_CACHE_DIR``; pip installs solara-assets there."""
    import solara.server.settings

    return Path(solara.server.settings.prefix) / "share" / "solara" / "cdn"


def solara_assets_folder() -> Path | None:
    """The folder the installed ``solara-assets`` package put its files in, or None."""
    try:
        files = importlib.metadata.distribution("solara-assets").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        parts = file.parts
        if "cdn" in parts and parts[parts.index("cdn") - 1] == "solara":
            located = Path(file.locate()).resolve()
            return located.parents[len(parts) - parts.index("cdn") - 2]
    return None


def npm_folder() -> Path:
    """``$XDG_CACHE_HOME/clustersim/solara-assets-<solara version>`` (or ``~/.cache/...``):
    where ``python -m clustersim.dashboard.assets`` puts the files it had to fetch."""
    import solara

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "clustersim" / f"solara-assets-{solara.__version__}"


def candidates() -> list[Path]:
    """The folders :func:`find` tries, in order: ``SOLARA_ASSETS_PROXY_CACHE_DIR`` alone when
    it is set (the user's choice), else Solara's default, solara-assets' and :func:`npm_folder`."""
    if os.environ.get(CACHE_ENV):
        return [Path(os.environ[CACHE_ENV])]
    folders = [solara_default_folder(), solara_assets_folder(), npm_folder()]
    return list(dict.fromkeys(f.resolve() for f in folders if f is not None))


def fix_command(files: list[str], folder: Path) -> str:
    """The one command that puts ``files`` into place."""
    if os.environ.get(CACHE_ENV):
        return f"{FIX_COMMAND} {folder}"
    if set(required_packages(files)) <= SOLARA_ASSETS_PACKAGES and solara_assets_folder() is None:
        return f'pip install "{SOLARA_ASSETS}"'
    return f"{FIX_COMMAND}   (needs npm)"


def find(files: list[str] | None = None) -> Found:
    """The first of :func:`candidates` with every file the page needs, or what is missing."""
    files = files or required_files()
    folders = candidates()
    for folder in folders:
        if not missing(folder, files):
            return Found(folder)
    first = folders[0]
    return Found(None, tuple(missing(first, files)), first, fix_command(files, first))


def use(folder: Path) -> None:
    """Point Solara's CDN route at ``folder`` (before or after its settings were read)."""
    os.environ[CACHE_ENV] = str(folder)
    settings = sys.modules.get("solara.server.settings")
    if settings is not None:
        settings.assets.proxy_cache_dir = Path(folder)


def prepare(target: Path | None = None, *, npm: str | None = None,
            timeout: float = 300.0) -> Path:
    """Put every package the page needs into ``target/<name>@<version>/``: copied from
    solara-assets where it has it, else unpacked from the npm registry with ``npm pack``."""
    target = Path(target or npm_folder())
    files = required_files()
    todo = required_packages(missing(target, files))
    source = solara_assets_folder()
    for spec in [s for s in todo if source is not None and not missing(source, _of(files, s))]:
        _copy_package(source / spec, target / spec)
        todo.remove(spec)
    if todo:
        _npm_unpack(todo, target, npm or shutil.which("npm"), timeout)
    return target


def _of(files: list[str], package: str) -> list[str]:
    return [path for path in files if package_of(path) == package]


def _copy_package(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns("*.map", "src"))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _npm_unpack(packages: list[str], target: Path, npm: str | None, timeout: float) -> None:
    if npm is None:
        raise AssetsError(f"{', '.join(packages)}: not in {SOLARA_ASSETS} and npm is not "
                          "installed; install Node.js and npm, then run this again")
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clustersim-assets-") as tmp:
        for spec in packages:
            try:
                done = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", tmp],
                                      capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise AssetsError(f"npm pack {spec}: no answer within {timeout:.0f} s") from None
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1] if done.stdout.strip() else None
            if done.returncode != 0 or tarball is None or not tarball.is_file():
                raise AssetsError(f"npm pack {spec} failed: {done.stderr.strip()[-500:]}")
            _unpack(tarball, target / spec)


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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        found = find()
        if found.folder is not None:
            print(f"the dashboard's browser files are in {found.folder}: nothing to do")
            return 0
    target = Path(args[0]) if args else npm_folder()
    try:
        folder = prepare(target)
    except AssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"the dashboard's browser files are in {folder}")
    if args:
        print(f"serve with: {CACHE_ENV}={folder} clustersim dashboard")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
