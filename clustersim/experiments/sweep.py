"""Run an experiment into its results store, resumably: :func:`run_experiment`.

``clustersim sweep`` is this function with a progress bar; :func:`plan_sweep` is its
``--dry-run``. Everything the caller gave is checked before anything starts or is
written (the experiment and every design point's scenario, the overrides, the backend
options, the store's folder and, if the store exists, that it belongs to this sweep).
What identifies a sweep (its store's meta, its default store, what a rerun makes) is
:mod:`clustersim.experiments.identity`'s.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clustersim.experiments.design import Experiment, expand, load_experiment
from clustersim.experiments.identity import Resume, default_store, store_meta, trial_changes
from clustersim.experiments.runner import (
    BACKENDS,
    Backend,
    SweepInterrupted,
    SweepProgress,
    SweepSummary,
    make_backend,
    run_sweep,
)
from clustersim.experiments.spec import RunSpec, StoreError
from clustersim.experiments.store import ResultsStore

if TYPE_CHECKING:
    from distributed import Client


class SweepOptionError(ValueError):
    """Backend options that cannot work together, or a backend that cannot start
    (e.g. a Dask scheduler that cannot be reached); nothing was run or written."""


@dataclass
class SweepResult(SweepSummary):
    """What :func:`run_experiment` did, and where it stored it.

    ``done`` and ``failed`` count this call's runs, ``skipped`` the runs already done
    in the store, ``skipped_failed`` runs stored as failed and not retried; ``complete``
    says whether every run of the design is now done. ``trial`` is what the call changed
    from the experiment file (``steps``, ``--set`` values; ``{}`` for the study itself).
    """

    experiment: str = ""
    store: Path = field(default_factory=Path)
    backend: str = ""
    workers: int = 0
    trial: dict[str, Any] = field(default_factory=dict)

    @property
    def stored(self) -> int:
        """Runs of the design stored as done, by this call or earlier ones."""
        return self.skipped + self.done


class ExperimentInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, in the CLI) during :func:`run_experiment`: every stored run stays
    stored, and ``result`` says how far it got; the same call again resumes."""

    def __init__(self, result: SweepResult) -> None:
        super().__init__("sweep interrupted")
        self.result = result


@dataclass(frozen=True)
class Sweep:
    """One sweep, checked and ready to run: its runs, its store and what the store records.

    ``exists``: the store is already there (and was checked to belong to this sweep).
    """

    experiment: Experiment
    specs: list[RunSpec]
    meta: dict[str, str]
    store: Path
    exists: bool
    trial: dict[str, Any]

    def resume(self, retry_failed: bool = False) -> Resume:
        """What running the sweep now would make, given what its store holds (read-only)."""
        if not self.exists:
            return Resume(retry_failed=retry_failed)
        with ResultsStore.open_read_only(self.store) as stored:
            return Resume.of(stored, retry_failed)

    def result(self, summary: SweepSummary, engine: Backend) -> SweepResult:
        """The runner's summary, with this sweep's name, store, backend and trial."""
        counts = {f.name: getattr(summary, f.name) for f in fields(summary)}
        return SweepResult(
            **counts,
            experiment=self.experiment.name,
            store=self.store,
            backend=engine.name,
            workers=engine.slots,
            trial=self.trial,
        )


def run_experiment(
    experiment: str | Path | Experiment,
    store: str | Path | None = None,
    backend: str | Backend = "processes",
    *,
    replications: int | None = None,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    retry_failed: bool = False,
    workers: int | None = None,
    scheduler: str | Client | None = None,
    progress: SweepProgress | None = None,
) -> SweepResult:
    """Run an experiment's runs into a results store; run it again to resume.

    ``experiment`` is a shipped experiment's name, a file or an
    :class:`~clustersim.experiments.design.Experiment`. ``store`` defaults to
    ``results/<experiment>.duckdb``, or ``results/<experiment>-trial-<hash>.duckdb`` when
    ``steps`` or ``overrides`` (dotted scenario keys → values, the CLI's ``--set``) make
    it a trial. ``backend``, ``workers``, ``scheduler``, ``replications`` and
    ``retry_failed`` are the CLI's options of the same names; ``progress`` is told about
    every finished run (``start(plan)``, ``advance(spec, result, summary)``, ``stop()``).

    Runs already done in the store are skipped and runs stored as failed are rerun only
    with ``retry_failed``. Bad input raises before anything starts: ``ExperimentError``
    (a ``ScenarioError``), ``StoreError`` (a store of other runs, a damaged file, a folder
    that cannot be written) or :class:`SweepOptionError`. Ctrl-C raises
    :class:`ExperimentInterrupted`, which carries the result so far.

    >>> from clustersim import run_experiment
    >>> result = run_experiment("static_vs_dynamic", "trial.duckdb", "serial",
    ...                         replications=1, steps=6, overrides={"firms.count": 40})
    >>> result.done, result.failed, result.skipped, result.complete
    (8, 0, 0, True)
    >>> run_experiment("static_vs_dynamic", "trial.duckdb", "serial", replications=1,
    ...                steps=6, overrides={"firms.count": 40}).skipped  # nothing left to do
    8
    """
    check_options(backend, workers, scheduler)
    planned = plan_sweep(
        experiment, store, replications=replications, steps=steps, overrides=overrides
    )
    engine = start_backend(backend, workers, scheduler) if isinstance(backend, str) else backend
    try:
        with ResultsStore.open_for_sweep(planned.store, planned.meta) as results:
            summary = run_sweep(
                planned.specs, results, backend=engine, retry_failed=retry_failed, progress=progress
            )
        return planned.result(summary, engine)
    except SweepInterrupted as stop:
        raise ExperimentInterrupted(planned.result(stop.summary, engine)) from None
    finally:
        if engine is not backend:  # started here: stopped here
            engine.close()


def plan_sweep(
    experiment: str | Path | Experiment,
    store: str | Path | None = None,
    *,
    replications: int | None = None,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Sweep:
    """Check a sweep and say what it is, writing nothing (what ``--dry-run`` prints).

    Loads and validates the experiment with the overrides, expands its runs, builds the
    store's meta, resolves the store and checks it: a folder that can be written and,
    if the file exists, a results store of this very sweep.
    """
    loaded = experiment if isinstance(experiment, Experiment) else load_experiment(experiment)
    given = dict(overrides) if overrides else None
    specs = expand(loaded, replications=replications, steps=steps, overrides=given)
    meta = store_meta(loaded, steps=steps, overrides=given)
    path = Path(store) if store is not None else default_store(loaded, steps=steps, overrides=given)
    check_store_path(path)
    exists = ResultsStore.check_for_sweep(path, meta)
    return Sweep(
        loaded, specs, meta, path, exists, trial_changes(loaded, steps=steps, overrides=given)
    )


# ---------------------------------------------------------------------- checks


def check_options(
    backend: str | Backend, workers: int | None, scheduler: str | Client | None
) -> None:
    """SweepOptionError unless the backend options can work together."""
    if not isinstance(backend, str):
        if workers is not None or scheduler is not None:
            raise SweepOptionError(
                "workers and scheduler are for a backend given by name "
                f"({', '.join(BACKENDS)}), not for a backend object"
            )
        return
    if backend not in BACKENDS:
        raise SweepOptionError(
            f"--backend {backend!r} is not allowed: choose {', '.join(BACKENDS)}"
        )
    if scheduler is not None and backend != "dask":
        raise SweepOptionError("--scheduler is for --backend dask")
    if backend == "serial" and workers not in (None, 1):
        raise SweepOptionError(
            "--workers is for --backend processes or dask (serial runs one at a time)"
        )
    if scheduler is not None and workers is not None:
        raise SweepOptionError(
            "--workers is not used with --scheduler: the cluster's workers run the sweep"
        )


def start_backend(backend: str, workers: int | None, scheduler: str | Client | None) -> Backend:
    """The backend called ``backend``; one that cannot start (a Dask scheduler that cannot
    be reached) is a SweepOptionError."""
    try:
        return make_backend(backend, workers=workers, scheduler=scheduler)
    except (OSError, TimeoutError, ValueError) as exc:
        if scheduler:  # an address was given: we tried to connect, not to start one
            raise SweepOptionError(
                f"--scheduler {scheduler}: cannot connect to a Dask scheduler there ({exc}); "
                "is `dask scheduler` running at that address and reachable from here?") from exc
        raise SweepOptionError(f"cannot start the {backend} backend: {exc}") from exc


def check_store_path(path: Path) -> None:
    """StoreError if no store could be created at ``path`` (a folder, or a folder on the way
    that is a file or may not be written), checked before anything runs."""
    if path.is_dir():
        raise StoreError(
            f"--store {path}: is a folder; give a file name, e.g. {path / 'study.duckdb'}",
            str(path),
        )
    problem = folder_problem(path.parent)
    if problem:
        raise StoreError(f"--store {path}: {problem}", str(path))


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in ``folder`` (creating it if needed), or None."""
    ancestor = folder  # the folder, or the nearest of its parents that exists
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        return f"{ancestor} is a file, not a folder"
    if ancestor.exists() and not os.access(ancestor, os.W_OK | os.X_OK):
        return f"no permission to write in {ancestor}"
    # Permissions do not tell everything (/proc, /sys, a read-only or full disk): try to make
    # (and remove) a folder where the first missing one would go; nothing is left behind.
    try:
        if ancestor.is_dir():
            tempfile.TemporaryDirectory(dir=ancestor).cleanup()
    except OSError as exc:
        return f"cannot be created or written in ({exc.strerror or exc})"
    return None
