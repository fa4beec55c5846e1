"""The results folder the compare page may read, and nothing outside it.

The folder is the server's (``clustersim dashboard --results DIR``, default
``./results``), not the visitor's: a visitor picks a store by its name relative to the
folder, and :func:`resolve_store` refuses anything that leads outside it (``..``,
absolute paths, symbolic links pointing out, other file types) with a message.
"""

from __future__ import annotations

import os
from pathlib import Path

RESULTS_ENV = "CLUSTERSIM_RESULTS_DIR"
DEFAULT_RESULTS_DIR = Path("results")
STORE_SUFFIX = ".duckdb"
MAX_NAME_LENGTH = 255
MAX_LISTED = 500


class ResultsPathError(ValueError):
    """A store name that cannot be opened; the message says why, for the page."""


def results_dir() -> Path:
    """The server's results folder: ``$CLUSTERSIM_RESULTS_DIR`` or ``./results``, resolved."""
    configured = os.environ.get(RESULTS_ENV) or str(DEFAULT_RESULTS_DIR)
    return Path(configured).expanduser().resolve()


def list_stores(folder: Path | None = None) -> list[str]:
    """Names (relative to the folder, with ``/``) of the results stores inside it, sorted.

    Stores reached through a symbolic link that points outside the folder are left out.
    """
    root = (folder or results_dir()).resolve()
    if not root.is_dir():
        return []
    names = []
    for path in sorted(root.rglob(f"*{STORE_SUFFIX}")):
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real.is_file() and real.is_relative_to(root):
            names.append(path.relative_to(root).as_posix())
        if len(names) >= MAX_LISTED:
            break
    return names


def resolve_store(name: str, folder: Path | None = None) -> Path:
    """The real path of store ``name`` inside the results folder, or :class:`ResultsPathError`."""
    root = (folder or results_dir()).resolve()
    text = "" if name is None else str(name).strip()
    if not text:
        raise ResultsPathError("Choose a results store (a .duckdb file in the results folder)")
    if len(text) > MAX_NAME_LENGTH or "\x00" in text:
        raise ResultsPathError("That is not a results store name")
    candidate = Path(text)
    if candidate.is_absolute() or text.startswith(("/", "\\", "~")) or ":" in text[:3]:
        raise ResultsPathError(f"{text}: give a name inside the results folder, not an absolute path")
    if ".." in candidate.parts:
        raise ResultsPathError(f"{text}: only files inside the results folder can be opened")
    if candidate.suffix != STORE_SUFFIX:
        raise ResultsPathError(f"{text}: not a results store (a {STORE_SUFFIX} file)")
    try:
        real = (root / candidate).resolve(strict=True)
    except FileNotFoundError:
        raise ResultsPathError(f"{text}: no such store in the results folder") from None
    except (OSError, RuntimeError) as exc:
        raise ResultsPathError(f"{text}: cannot be opened ({exc.__class__.__name__})") from None
    if not real.is_relative_to(root):
        raise ResultsPathError(f"{text}: points outside the results folder; refused")
    if not real.is_file():
        raise ResultsPathError(f"{text}: not a file")
    return real
