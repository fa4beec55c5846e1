"""The ``clustersim`` command: run, validate and list scenarios; sweep, report, export;
dashboard.

Everything the user typed is checked before any folder or file is created; a bad
scenario, experiment, store, override or option prints one plain message on stderr
and exits with code 2. Heavy modules (the model with Mesa, numpy and pandas; DuckDB;
plotly; Solara) are imported only by the commands that need them, so that
``validate``, ``scenarios`` and ``--help`` answer at once.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from clustersim import __version__
from clustersim.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    parse_override,
    shipped_scenarios,
)

if TYPE_CHECKING:
    from rich.progress import Progress

EXIT_USAGE = 2  # bad scenario, override or option: nothing was run or written
EXIT_INTERRUPTED = 130
PROGRESS_DELAY_SECONDS = 2.0  # a progress bar only for runs longer than this
DEFAULT_OUT_ROOT = Path("out")

app = typer.Typer(
    name="clustersim",
    help="Agent-based simulation of manufacturing clusters: firms, production networks, "
    "brokers, service hubs and the policies that build them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ScenarioArgument = Annotated[
    str,
    typer.Argument(
        metavar="SCENARIO",
        help="A scenario file (scenarios/baseline.toml) or the name of a shipped scenario "
        "(baseline); `clustersim scenarios` lists them.",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a scenario value by its dotted key, e.g. --set market.volatility=0.4 "
        "(repeatable; validated like the file).",
        show_default=False,
    ),
]


def main() -> None:
    """Entry point of the ``clustersim`` console script."""
    app()


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"clustersim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Agent-based simulation of manufacturing clusters."""


# --------------------------------------------------------------------------- commands


@app.command()
def run(
    scenario: ScenarioArgument,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", help="Months to run (default: the scenario's steps).", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder (default: out/<scenario name>-seed<S>).",
            show_default=False,
            file_okay=True,
            dir_okay=True,
        ),
    ] = None,
    assignments: SetOption = None,
) -> None:
    """Run one scenario with one seed; write its time series and print a summary."""
    extra = {"steps": steps} if steps is not None else {}
    resolved = _load(scenario, assignments, extra)
    out_dir = (
        out if out is not None else DEFAULT_OUT_ROOT / f"{_safe_name(resolved.name)}-seed{seed}"
    )
    _check_out_dir(out_dir)

    model_class = _model_class()
    try:
        model = model_class(resolved, seed=seed)
        with _LazyProgress(f"{resolved.name} · seed {seed}") as progress:
            model.run(on_step=progress.update)
    except ScenarioError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("interrupted: nothing written", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None

    from clustersim.outputs import summary_table, write_run

    written = write_run(model, out_dir, seed=seed)
    _print_summary(resolved, seed, summary_table(model), out_dir, written)


@app.command()
def validate(scenario: ScenarioArgument, assignments: SetOption = None) -> None:
    """Check a scenario file (and overrides) without running it; print key values."""
    resolved = _load(scenario, assignments)
    typer.echo(f"OK: {resolved.name} — {_first_sentence(resolved.description)}")
    region = resolved.region.resolved()
    for key, value in (
        ("steps", resolved.steps),
        ("network_mode", resolved.network_mode),
        ("firms.count", resolved.firms.count),
        ("firms.phases", resolved.firms.phases),
        ("region.layout", resolved.region.layout),
        ("region.towns", region["towns"]),
        ("region.size_km", region["size_km"]),
        ("region.cooperativeness", resolved.region.cooperativeness),
        ("region.initial_ties_per_firm", resolved.region.initial_ties_per_firm),
        ("market.segments", resolved.market.segments),
        ("market.volatility", resolved.market.volatility),
        ("market.novelty_growth", resolved.market.novelty_growth),
    ):
        typer.echo(f"  {key} = {value}")


@app.command("scenarios")
def list_scenarios() -> None:
    """List the scenarios shipped with clustersim."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    shipped = shipped_scenarios()
    if not shipped:
        typer.echo("no shipped scenarios found", err=True)
        raise typer.Exit(1)
    table = Table(title="Shipped scenarios", show_lines=True)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("description")
    for name, path in shipped.items():
        try:
            description = load_scenario(path).description or "(no description)"
        except ScenarioError as exc:
            description = f"INVALID: {exc}"
        table.add_row(Text(name), Text(description))
    Console().print(table)


@app.command()
def dashboard(
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="Port to serve on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to listen on; 127.0.0.1 keeps the dashboard on this computer, "
        "0.0.0.0 opens it to the network (a workshop room).")] = "127.0.0.1",
    results: Annotated[Path, typer.Option(
        "--results", help="Folder of results stores the compare page may open (nothing "
        "outside it).")] = Path("results"),
    token: Annotated[str | None, typer.Option(
        "--token", help="A shared secret (8+ letters, digits, . _ ~ -): only the link with "
        "?token=SECRET opens the dashboard.", show_default=False)] = None,
) -> None:
    """Serve the browser dashboard: explore a model live, compare a sweep's arms."""
    if results.exists() and not results.is_dir():
        _fail(f"--results {results}: is a file, not a folder")
    from clustersim.dashboard.server import check_token

    try:
        check_token(token)
    except ValueError as exc:
        _fail(f"--token: {exc}")
    if not results.exists():
        typer.echo(f"note: {results} does not exist yet; the compare page will list no stores",
                   err=True)
    link = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"clustersim dashboard on {link} (results from {results}); Ctrl-C stops it",
               err=True)
    from clustersim.dashboard import serve

    serve(host=host, port=port, results_dir=results, token=token)


# --------------------------------------------------------------------------- sweep, export

EXIT_FAILED_RUNS = 3  # the sweep ended, but some runs of the design failed (see docs/sweeps.md)
DEFAULT_RESULTS_ROOT = Path("results")
DRY_RUN_ROWS = 40  # design points listed by --dry-run (the rest are counted)


@app.command()
def sweep(
    experiment: Annotated[
        str,
        typer.Argument(
            metavar="EXPERIMENT",
            help="An experiment file (experiments/policy_comparison.toml) or the name of a "
            "shipped experiment (policy_comparison).",
            show_default=False,
        ),
    ],
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            metavar="serial|processes|dask",
            help="Where runs are computed: in this process, in worker processes on all "
            "cores, or on a Dask cluster.",
        ),
    ] = "processes",
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes (processes, and dask without --scheduler); default: all cores.",
            show_default=False,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --backend dask; "
            "without it, a local Dask cluster).",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            metavar="PATH",
            help="The results store (DuckDB file). Default: results/<experiment>.duckdb, with "
            "-steps<M> and the --set values in the name when those are given.",
            show_default=False,
        ),
    ] = None,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications",
            help="Replications of every design point (default: the file's). More can be "
            "added later to the same store.",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", help="Months every run lasts (default: the file's).", show_default=False
        ),
    ] = None,
    assignments: SetOption = None,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="Run again the runs stored as failed."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the design points, the runs and how long they "
            "should take; run and write nothing.",
        ),
    ] = False,
) -> None:
    """Run an experiment's runs, storing each as it finishes; rerun to resume."""
    from clustersim.experiments.design import ExperimentError
    from clustersim.experiments.runner import BACKENDS, SweepInterrupted, available_cores
    from clustersim.experiments.spec import StoreError

    if backend not in BACKENDS:
        _fail(f"--backend {backend!r} is not allowed: choose {', '.join(BACKENDS)}")
    if scheduler is not None and backend != "dask":
        _fail("--scheduler is for --backend dask")
    if backend == "serial" and workers not in (None, 1):
        _fail("--workers is for --backend processes or dask (serial runs one at a time)")
    if scheduler is not None and workers is not None:
        _fail("--workers is not used with --scheduler: the cluster's workers run the sweep")

    try:
        overrides: dict[str, Any] = {}
        for assignment in assignments or []:
            key, value = parse_override(assignment)
            overrides[key] = value
        design = _design_module()
        loaded = design.load_experiment(experiment)
        specs = design.expand(
            loaded, replications=replications, steps=steps, overrides=overrides or None
        )
        meta = _sweep_meta(design, loaded, steps, overrides)
    except (ExperimentError, ScenarioError) as exc:
        _fail(str(exc))
    store_path = store if store is not None else _default_store(loaded, steps, overrides)
    _check_store_path(store_path)
    try:
        from clustersim.experiments.store import ResultsStore

        exists = ResultsStore.check_for_sweep(store_path, meta)
    except StoreError as exc:
        _fail(str(exc))

    slots = 1 if backend == "serial" else workers or (None if scheduler else available_cores())
    if dry_run:
        _print_dry_run(design, loaded, specs, store_path, exists, retry_failed, backend, slots)
        return

    engine = None
    restore_sigterm = _sigterm_as_interrupt()
    try:
        engine = _start_backend(backend, workers, scheduler)
        slots = engine.slots
        used = f"{engine.name}, {slots} worker{'s' if slots != 1 else ''}"
        progress = _SweepProgress(loaded.name)
        with ResultsStore.open_for_sweep(store_path, meta) as results:
            try:
                summary = _run_sweep(specs, results, engine, retry_failed, progress)
            except SweepInterrupted as stop:
                counts = results.counts()
                done = counts.get("done", 0)
                typer.echo(
                    f"\ninterrupted: {stop.summary.finished} runs finished in this sweep; "
                    f"{done} done runs are stored in {store_path} "
                    f"({done} of {stop.summary.total} in the design). Run the same command "
                    "again to resume where it stopped.",
                    err=True,
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
    except StoreError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("\ninterrupted before any run started: nothing was run", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        restore_sigterm()
        if engine is not None:
            engine.close()
    _print_sweep_summary(loaded.name, summary, store_path, used)
    if not summary.complete:
        raise typer.Exit(EXIT_FAILED_RUNS)


@app.command()
def export(
    store: Annotated[
        Path,
        typer.Argument(
            metavar="STORE",
            help="A results store written by `clustersim sweep`.",
            show_default=False,
        ),
    ],
    parquet: Annotated[
        Path,
        typer.Option(
            "--parquet",
            metavar="DIR",
            help="Write one Parquet file per table "
            "(meta, runs, summaries, timeseries) into this folder.",
            show_default=False,
        ),
    ],
) -> None:
    """Export a results store's tables to Parquet files."""
    from clustersim.experiments.spec import StoreError
    from clustersim.experiments.store import ResultsStore

    _check_folder_for(parquet, f"--parquet {parquet}")
    try:
        with ResultsStore.open_read_only(store) as results:
            written = results.export_parquet(parquet)
    except StoreError as exc:
        _fail(str(exc))
    for path in written:
        typer.echo(f"wrote {path}")


def _run_sweep(
    specs: list[Any], results: Any, engine: Any, retry_failed: bool, progress: Any
) -> Any:
    """:func:`~clustersim.experiments.runner.run_sweep` with the CLI's backend and progress."""
    from clustersim.experiments.runner import run_sweep

    return run_sweep(specs, results, backend=engine, retry_failed=retry_failed, progress=progress)


def _design_module() -> Any:
    from clustersim.experiments import design

    return design


def _sweep_meta(
    design: Any, experiment: Any, steps: int | None, overrides: dict[str, Any]
) -> dict[str, str]:
    """The store's meta rows; ``steps`` and ``overrides`` say how the runs were made, so a
    store of other runs can be told apart in words."""
    from clustersim.experiments.spec import canonical_json

    meta = design.store_meta(experiment, steps=steps, overrides=overrides or None)
    meta["steps"] = str(steps if steps is not None else experiment.steps)
    meta["record_every"] = str(experiment.record_every)
    meta["overrides"] = canonical_json(overrides)
    return meta


def _default_store(experiment: Any, steps: int | None, overrides: dict[str, Any]) -> Path:
    """results/<experiment>.duckdb; a trial with other steps or --set values gets its own
    file (e.g. results/policy_comparison-steps24.duckdb), so it never blocks the study's."""
    import hashlib

    from clustersim.experiments.spec import canonical_json

    parts = [experiment.name]
    if steps is not None and steps != experiment.steps:
        parts.append(f"steps{steps}")
    if overrides:
        readable = "-".join(f"{key}={canonical_json(value)}" for key, value in overrides.items())
        readable = re.sub(r"[^A-Za-z0-9._=-]+", "_", readable).strip("._")
        if len(readable) > 60:
            readable = "set" + hashlib.sha256(canonical_json(overrides).encode()).hexdigest()[:8]
        parts.append(readable)
    return DEFAULT_RESULTS_ROOT / ("-".join(parts) + ".duckdb")


def _check_store_path(path: Path) -> None:
    """Refuse a store path whose folder could not be created or written, before anything runs."""
    if path.is_dir():
        _fail(f"--store {path}: is a folder; give a file name, e.g. {path / 'study.duckdb'}")
    _check_folder_for(path.parent, f"--store {path}")


def _check_folder_for(folder: Path, option: str) -> None:
    """Refuse a folder that could not be created or written in (``option`` names the input)."""
    if folder.exists() and not folder.is_dir():
        _fail(f"{option}: {folder} is a file, not a folder")
    ancestor = folder
    while not ancestor.exists() and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        _fail(f"{option}: {ancestor} is a file, not a folder")
    if ancestor.exists() and not os.access(ancestor, os.W_OK | os.X_OK):
        _fail(f"{option}: no permission to write in {ancestor}")


def _start_backend(backend: str, workers: int | None, scheduler: str | None) -> Any:
    """The sweep's backend; a Dask scheduler that cannot be reached is a usage error."""
    from clustersim.experiments.runner import make_backend

    try:
        return make_backend(backend, workers=workers, scheduler=scheduler)
    except (OSError, TimeoutError, ValueError) as exc:
        target = f"the Dask scheduler at {scheduler}" if scheduler else f"the {backend} backend"
        _fail(f"cannot start {target}: {exc}")


def _sigterm_as_interrupt() -> Any:
    """Treat SIGTERM (a batch system's time limit) like Ctrl-C: a clean stop. Returns an undo."""
    import signal

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (e.g. under a test runner's thread)
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _print_dry_run(
    design: Any,
    experiment: Any,
    specs: list[Any],
    store_path: Path,
    exists: bool,
    retry_failed: bool,
    backend: str,
    slots: int | None,
) -> None:
    """The design points, their runs and estimated time; what a sweep would do now."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    points: dict[int, list[Any]] = {}
    for spec in specs:
        entry = points.setdefault(spec.point, [spec.label, 0, 0.0])
        entry[1] += 1
        entry[2] += design.estimate_seconds(spec)
    done: set[str] = set()
    failed: set[str] = set()
    if exists:
        from clustersim.experiments.store import ResultsStore

        with ResultsStore.open_read_only(store_path) as stored:
            done, failed = stored.finished_ids(), stored.failed_ids()
    to_run = [s for s in specs if s.run_id not in done and (retry_failed or s.run_id not in failed)]
    single_core = sum(design.estimate_seconds(spec) for spec in to_run)

    table = Table(
        title=f"{experiment.name}: {len(points)} design points × "
        f"{len({s.replication for s in specs})} replications"
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("design point")
    table.add_column("runs", justify="right")
    table.add_column("est. time (1 core)", justify="right")
    for number, (label, runs, seconds) in list(points.items())[:DRY_RUN_ROWS]:
        table.add_row(str(number), Text(label), str(runs), _duration(seconds))
    if len(points) > DRY_RUN_ROWS:
        rest = list(points.values())[DRY_RUN_ROWS:]
        table.add_row(
            "",
            Text(f"… {len(rest)} more design points"),
            str(sum(r[1] for r in rest)),
            _duration(sum(r[2] for r in rest)),
        )
    console = Console()
    console.print(table)
    lines = [f"runs in the design: {len(specs):,}"]
    if exists:
        skipped_failed = 0 if retry_failed else len(failed & {s.run_id for s in specs})
        lines.append(
            f"already in {store_path}: {len(done):,} done, {len(failed):,} failed"
            + (
                f" ({skipped_failed:,} not retried without --retry-failed)"
                if skipped_failed
                else ""
            )
        )
    else:
        lines.append(f"store: {store_path} (new)")
    lines.append(f"runs to make now: {len(to_run):,}, about {_duration(single_core)} on one core")
    if slots:
        lines.append(
            f"estimated wall time with {backend} on {slots} worker"
            f"{'s' if slots != 1 else ''}: about {_duration(single_core / slots)}"
        )
    else:
        lines.append(
            "estimated wall time on the Dask cluster: the one-core time divided by its worker count"
        )
    lines.append("dry run: nothing was run or written")
    for line in lines:
        typer.echo(line)


def _print_sweep_summary(name: str, summary: Any, store_path: Path, used: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"sweep {name}", show_header=False)
    table.add_column("", style="dim")
    table.add_column("", justify="right")
    rows = [
        ("runs in the design", f"{summary.total:,}"),
        ("done in this sweep", f"{summary.done:,}"),
        ("failed in this sweep", f"{summary.failed:,}"),
        ("already done (skipped)", f"{summary.skipped:,}"),
    ]
    if summary.skipped_failed:
        rows.append(("failed before, not retried", f"{summary.skipped_failed:,}"))
    rows += [("time", _duration(summary.seconds)), ("backend", used)]
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    console = Console()
    console.print(table)
    for spec, error in summary.failures[:10]:
        typer.echo(
            f"  failed: {spec.label} · replication {spec.replication} (run {spec.run_id}): {error}"
        )
    unfinished = summary.failed + summary.skipped_failed
    if unfinished:
        typer.echo(
            f"{unfinished:,} runs failed: their errors are in the store's runs table "
            "(SELECT label, replication, error FROM runs WHERE status = 'failed'); "
            "rerun them with --retry-failed."
        )
    typer.echo(f"store: {store_path}")
    typer.echo(f"next: clustersim report {store_path} -o report.html")


class _SweepProgress:
    """The sweep's progress: a rich bar on a terminal, else one line per finished run."""

    def __init__(self, name: str) -> None:
        import sys

        self.name = name
        self.live = sys.stderr.isatty()
        self.progress: Any = None
        self.task: Any = None
        self.total = 0

    def start(self, plan: Any) -> None:
        self.total = plan.to_run
        skipped = f", {plan.skipped:,} already done" if plan.skipped else ""
        retried = f", {plan.retried:,} failed before and retried" if plan.retried else ""
        not_retried = (
            f", {plan.skipped_failed:,} failed before (not retried)" if plan.skipped_failed else ""
        )
        if not plan.to_run:
            typer.echo(f"sweep {self.name}: no runs to make{skipped}{not_retried}", err=True)
            return
        typer.echo(
            f"sweep {self.name}: {plan.to_run:,} runs to make on {plan.backend} "
            f"({plan.workers} worker{'s' if plan.workers != 1 else ''}){skipped}"
            f"{retried}{not_retried}",
            err=True,
        )
        if not self.live:
            return
        self.progress = _progress_bar("runs · [red]{task.fields[failed]} failed[/red]",
                                      "left")
        self.progress.start()
        self.task = self.progress.add_task(self.name, total=plan.to_run, failed=0)

    def advance(self, spec: Any, result: Any, summary: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=summary.finished, failed=summary.failed)
            return
        status = "done" if result.status == "done" else "FAILED"
        typer.echo(
            f"[{summary.finished}/{self.total}] {status}: {spec.label} · replication "
            f"{spec.replication} ({result.seconds:.1f} s)",
            err=True,
        )

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


# --------------------------------------------------------------------------- report


@app.command()
def report(
    store: Annotated[
        Path,
        typer.Argument(
            metavar="STORE",
            help="A results store written by `clustersim sweep` (results/<experiment>.duckdb).",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The HTML file to write (default: the store's name with .html).",
            show_default=False,
        ),
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(
            "--title",
            help="The report's title (default: '<experiment>: results').",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Write a self-contained HTML report of a sweep: means and 95% CIs per arm,
    differences from the baseline, value for money, time series, sensitivity."""
    from clustersim.experiments.report import write_report
    from clustersim.experiments.spec import StoreError

    target = output if output is not None else store.with_suffix(".html")
    if target.is_dir():
        _fail(f"-o {target}: is a folder; give the report's file name (report.html)")
    folder = target.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        _fail(f"-o {target}: cannot write in {folder}")
    try:
        written = write_report(store, target, title=title)
    except StoreError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"-o {target}: cannot write the report: {exc.strerror or exc}")
    typer.echo(f"wrote {written}")


# --------------------------------------------------------------------------- helpers


def _load(
    spec: str, assignments: list[str] | None, extra: dict[str, Any] | None = None
) -> Scenario:
    """The scenario at ``spec`` with ``--set`` overrides and ``extra`` applied, or exit 2."""
    try:
        overrides: dict[str, Any] = {}
        for assignment in assignments or []:
            key, value = parse_override(assignment)
            overrides[key] = value
        overrides.update(extra or {})
        return load_scenario(spec, overrides)
    except ScenarioError as exc:
        _fail(str(exc))


def _check_out_dir(path: Path) -> None:
    """Refuse an output folder that could not be created or written, before the run starts."""
    if path.exists() and not path.is_dir():
        _fail(f"--out {path}: exists and is not a folder")
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        _fail(f"--out {path}: {ancestor} is a file, not a folder")
    if ancestor.exists() and not os.access(ancestor, os.W_OK | os.X_OK):
        _fail(f"--out {path}: no permission to write in {ancestor}")


def _fail(message: str) -> NoReturn:
    """Print a plain error message on stderr and exit with the usage code."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _model_class() -> Any:
    """The model class, imported late: Mesa and numpy load only when a run starts."""
    from clustersim.model import ClusterModel

    return ClusterModel


def _safe_name(name: str) -> str:
    """A scenario name usable as a folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "scenario"
    return cleaned[:80]


def _first_sentence(description: str) -> str:
    """The first sentence of a description's first line (the whole line if it has one)."""
    lines = description.strip().splitlines()
    first = lines[0].strip() if lines else ""
    match = re.search(r"(?<=[.!?])\s", first)
    return first[: match.start()] if match else first or "(no description)"


def _print_summary(
    scenario: Scenario,
    seed: int,
    rows: list[tuple[str, str, str]],
    out_dir: Path,
    written: list[Path],
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{scenario.name} · {scenario.network_mode} networks · seed {seed}")
    table.add_column("", style="dim", no_wrap=True)
    table.add_column("figure")
    table.add_column("value", justify="right")
    previous = None
    for section, figure, value in rows:
        if previous is not None and section != previous:
            table.add_section()
        table.add_row(Text(section if section != previous else ""), Text(figure), Text(value))
        previous = section
    console = Console()
    console.print(table)
    console.print(Text(f"{len(written)} files written to {out_dir}"))


def _progress_bar(unit: str, before_remaining: str | None = None) -> Progress:
    """A rich bar on stderr: description, bar, done/total ``unit``, elapsed, time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeElapsedColumn()]
    if before_remaining:
        columns.append(TextColumn(before_remaining))
    columns.append(TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=True), transient=True)


class _LazyProgress:
    """A rich progress bar that appears only once a run has lasted ``PROGRESS_DELAY_SECONDS``.

    Its :meth:`update` is the model's ``on_step(step_done, total)`` callback.
    """

    def __init__(self, description: str, delay: float = PROGRESS_DELAY_SECONDS) -> None:
        self.description = description
        self.delay = delay
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None

    def update(self, step_done: int, total: int) -> None:
        if self.progress is None:
            if time.monotonic() - self.started < self.delay:
                return
            self.progress = _progress_bar("months")
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=total, completed=step_done)
        self.progress.update(self.task, completed=step_done, total=total)

    def __enter__(self) -> _LazyProgress:
        self.started = time.monotonic()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()


if __name__ == "__main__":
    main()
