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
StoreArgument = Annotated[
    Path,
    typer.Argument(
        metavar="STORE",
        help="A results store written by `clustersim sweep` (results/<experiment>.duckdb).",
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
DRY_RUN_ROWS = 40  # design points listed by --dry-run (the rest are counted)

ExperimentArgument = Annotated[
    str,
    typer.Argument(
        metavar="EXPERIMENT",
        help="An experiment file (experiments/policy_comparison.toml) or the name of a "
        "shipped experiment (policy_comparison).",
        show_default=False,
    ),
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        metavar="serial|processes|dask",
        help="Where runs are computed: in this process, in worker processes on all "
        "cores, or on a Dask cluster.",
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Worker processes (processes, and dask without --scheduler); default: all cores.",
        show_default=False,
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="A running Dask scheduler, e.g. tcp://10.0.0.5:8786 (with --backend dask; "
        "without it, a local Dask cluster).",
        show_default=False,
    ),
]
StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        metavar="PATH",
        help="The results store (DuckDB file). Default: results/<experiment>.duckdb; a trial "
        "with --steps or --set values gets its own, results/<experiment>-trial-<hash>.duckdb.",
        show_default=False,
    ),
]
ReplicationsOption = Annotated[
    int | None,
    typer.Option(
        "--replications",
        help="Replications of every design point (default: the file's). More can be "
        "added later to the same store.",
        show_default=False,
    ),
]
SweepStepsOption = Annotated[
    int | None,
    typer.Option(
        "--steps", help="Months every run lasts (default: the file's).", show_default=False
    ),
]
RetryFailedOption = Annotated[
    bool, typer.Option("--retry-failed", help="Run again the runs stored as failed.")
]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print the design points, the runs and how long they "
        "should take; run and write nothing.",
    ),
]


@app.command()
def sweep(
    experiment: ExperimentArgument,
    backend: BackendOption = "processes",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    store: StoreOption = None,
    replications: ReplicationsOption = None,
    steps: SweepStepsOption = None,
    assignments: SetOption = None,
    retry_failed: RetryFailedOption = False,
    dry_run: DryRunOption = False,
) -> None:
    """Run an experiment's runs, storing each as it finishes; rerun to resume."""
    from clustersim.experiments import sweep as sweeps
    from clustersim.experiments.design import load_experiment
    from clustersim.experiments.spec import StoreError

    try:
        sweeps.check_options(backend, workers, scheduler)
        overrides = _overrides(assignments)
        loaded = load_experiment(experiment)
        design = {"replications": replications, "steps": steps, "overrides": overrides}
        if dry_run:
            planned = sweeps.plan_sweep(loaded, store, **design)
            slots = _planned_workers(backend, workers, scheduler)
            _print_dry_run(planned, planned.resume(retry_failed), backend, slots)
            return
        result = _run_experiment(loaded, store, backend, **design, retry_failed=retry_failed,
                                 workers=workers, scheduler=scheduler)
    except (ScenarioError, StoreError, sweeps.SweepOptionError) as exc:
        _fail(str(exc))
    _print_sweep_summary(result)
    if not result.complete:
        raise typer.Exit(EXIT_FAILED_RUNS)


@app.command()
def export(
    store: StoreArgument,
    parquet: Annotated[
        Path | None,
        typer.Option(
            "--parquet",
            metavar="DIR",
            help="Write one Parquet file per table "
            "(meta, runs, summaries, timeseries) into this folder.",
            show_default=False,
        ),
    ] = None,
    tidy: Annotated[
        Path | None,
        typer.Option(
            "--tidy",
            metavar="FILE",
            help="Write one tidy table, one row per run: design factors, overridden keys and "
            "every outcome as typed columns (FILE.parquet or FILE.csv).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Export a results store: its tables to Parquet (--parquet), or one tidy table (--tidy)."""
    from clustersim.experiments.spec import StoreError
    from clustersim.experiments.store import ResultsStore

    if parquet is None and tidy is None:
        _fail("export: say what to write: --parquet DIR and/or --tidy FILE(.parquet|.csv)")
    if tidy is not None and tidy.suffix.lower() not in (".parquet", ".csv"):
        _fail(f"--tidy {tidy}: the file must end in .parquet or .csv")
    if parquet is not None:
        _check_folder_for(parquet, f"--parquet {parquet}")
    if tidy is not None:
        _check_folder_for(tidy.parent, f"--tidy {tidy}")
    written = []
    try:
        if parquet is not None:
            with ResultsStore.open_read_only(store) as results:
                written += results.export_parquet(parquet)
        if tidy is not None:
            from clustersim.experiments.analysis import load_results
            from clustersim.experiments.tidy import write_tidy

            written.append(write_tidy(load_results(store, timeseries=False).tidy(), tidy))
    except StoreError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or tidy}: cannot be written ({exc.strerror})")
    for path in written:
        typer.echo(f"wrote {path}")


def _run_experiment(experiment: Any, store: Path | None, backend: str, **options: Any) -> Any:
    """:func:`~clustersim.experiments.sweep.run_experiment` with the CLI's progress display;
    Ctrl-C and SIGTERM (a batch system's time limit) end it cleanly with code 130."""
    from clustersim.experiments.sweep import ExperimentInterrupted, run_experiment

    restore_sigterm = _sigterm_as_interrupt()
    try:
        return run_experiment(
            experiment, store, backend, progress=_SweepProgress(experiment.name), **options
        )
    except ExperimentInterrupted as stop:
        result = stop.result
        typer.echo(
            f"\ninterrupted: {result.finished} runs finished in this sweep; "
            f"{result.stored} done runs are stored in {result.store} "
            f"({result.stored} of {result.total} in the design). Run the same command "
            "again to resume where it stopped.",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        typer.echo("\ninterrupted before any run started: nothing was run", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        restore_sigterm()


def _planned_workers(backend: str, workers: int | None, scheduler: str | None) -> int | None:
    """The workers a sweep would have, for --dry-run (None: a Dask cluster's, unknown here)."""
    from clustersim.experiments.runner import available_cores

    if backend == "serial":
        return 1
    return workers or (None if scheduler else available_cores())


def _check_folder_for(folder: Path, option: str) -> None:
    """Refuse a folder that could not be created or written in (``option`` names the input)."""
    from clustersim.experiments.sweep import folder_problem

    problem = folder_problem(folder)
    if problem:
        _fail(f"{option}: {problem}")


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


def _trial_text(trial: dict[str, Any]) -> str:
    """What a trial changes, as the user would type it: ``steps=24, firms.count=100``."""
    from clustersim.experiments.design import level_text

    return ", ".join(f"{key}={level_text(value)}" for key, value in trial.items())


def _print_dry_run(planned: Any, resume: Any, backend: str, slots: int | None) -> None:
    """The design points, their runs and estimated time; what a sweep would do now."""
    from clustersim.experiments.design import estimate_seconds

    specs, store = planned.specs, planned.store
    counts = resume.count(specs)
    _print_design_points(planned.experiment.name, specs)
    single_core = sum(estimate_seconds(spec) for spec in resume.pending(specs))
    lines = [f"runs in the design: {len(specs):,}"]
    if planned.exists:
        not_retried = counts.skipped_failed
        lines.append(
            f"already in {store}: {len(resume.done):,} done, {len(resume.failed):,} failed"
            + (f" ({not_retried:,} not retried without --retry-failed)" if not_retried else "")
        )
    else:
        lines.append(f"store: {store} (new)")
    if planned.trial:
        lines.append(f"a trial: {_trial_text(planned.trial)} (kept in the store's meta)")
    lines.append(
        f"runs to make now: {counts.to_run:,}, about {_duration(single_core)} on one core"
    )
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


def _print_design_points(name: str, specs: list[Any]) -> None:
    """A table of the design points: label, runs, estimated one-core time."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from clustersim.experiments.design import estimate_seconds

    points: dict[int, list[Any]] = {}
    for spec in specs:
        entry = points.setdefault(spec.point, [spec.label, 0, 0.0])
        entry[1] += 1
        entry[2] += estimate_seconds(spec)
    table = Table(
        title=f"{name}: {len(points)} design points × "
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
    Console().print(table)


def _print_sweep_summary(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"sweep {result.experiment}", show_header=False)
    table.add_column("", style="dim")
    table.add_column("", justify="right")
    rows = [
        ("runs in the design", f"{result.total:,}"),
        ("done in this sweep", f"{result.done:,}"),
        ("failed in this sweep", f"{result.failed:,}"),
        ("already done (skipped)", f"{result.skipped:,}"),
    ]
    if result.skipped_failed:
        rows.append(("failed before, not retried", f"{result.skipped_failed:,}"))
    if result.trial:
        rows.append(("a trial", _trial_text(result.trial)))
    workers = f"{result.workers} worker{'s' if result.workers != 1 else ''}"
    rows += [("time", _duration(result.seconds)), ("backend", f"{result.backend}, {workers}")]
    for label, value in rows:
        table.add_row(Text(label), Text(value))
    console = Console()
    console.print(table)
    for spec, error in result.failures[:10]:
        typer.echo(
            f"  failed: {spec.label} · replication {spec.replication} (run {spec.run_id}): {error}"
        )
    unfinished = result.failed + result.skipped_failed
    if unfinished:
        typer.echo(
            f"{unfinished:,} runs failed: their errors are in the store's runs table "
            "(SELECT label, replication, error FROM runs WHERE status = 'failed'); "
            "rerun them with --retry-failed."
        )
    typer.echo(f"store: {result.store}")
    typer.echo(f"next: clustersim report {result.store} -o report.html")


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
                                      "· left")
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


@app.command()
def facts(
    store: StoreArgument,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", metavar="FILE", help="Also write the table to this CSV file.",
                     show_default=False),
    ] = None,
) -> None:
    """How the runs of a store meet the stylised facts (docs/DOMAIN.md F1-F11): per arm,
    each fact's measure with its 95% CI, the target from the sources, and whether it holds."""
    from clustersim.experiments.analysis import load_results
    from clustersim.experiments.spec import StoreError
    from clustersim.facts import NOT_MEASURED, facts_table

    if csv is not None:
        _check_folder_for(csv.parent, f"--csv {csv}")
    try:
        table = facts_table(load_results(store, timeseries=False))
    except StoreError as exc:
        _fail(str(exc))
    if not len(table):
        _fail(f"{store}: no run in this store measures a stylised fact (a store written "
              "before facts were measured, or runs too short to reach the months they are "
              "read at); rerun the sweep into a new store")
    _print_facts(table)
    for fact, how in NOT_MEASURED.items():
        typer.echo(f"{fact}: {how}")
    if csv is not None:
        table.to_csv(csv, index=False)
        typer.echo(f"wrote {csv}")


def _print_facts(table: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(title="Stylised facts: the model against the sources (mean, 95% CI over runs)")
    for column in ("arm", "fact", "measure", "mean [95% CI]", "n", "target", "holds", "source"):
        out.add_column(column, overflow="fold")
    for row in table.itertuples(index=False):
        out.add_row(str(row.arm), row.fact, row.measure,
                    f"{row.mean:.3g} [{row.ci_low:.3g}, {row.ci_high:.3g}]", str(row.n),
                    row.target, row.holds, row.source)
    Console(width=max(120, Console().width)).print(out)


@app.command()
def calibrate(
    store: StoreArgument,
    facts: Annotated[
        str | None,
        typer.Option("--facts", metavar="IDS",
                     help="Facts to calibrate to, by id or measure, comma-separated (default: "
                     "the experiment file's `facts`, else every fact all samples measure).",
                     show_default=False),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Samples to list.")] = 10,
    refine: Annotated[
        Path | None,
        typer.Option("--refine", metavar="FILE",
                     help="Write the local refinement: the experiment file with each range "
                     "shrunk around the best sample.", show_default=False),
    ] = None,
    shrink: Annotated[float, typer.Option("--shrink", help="Refined range / original range.")] = 0.25,
) -> None:
    """Rank the samples of a calibration sweep (an experiment with a [sampler]) by their
    distance to the stylised facts, and print the best values as scenario lines."""
    from clustersim.experiments.analysis import load_results
    from clustersim.experiments.calibrate import (
        CalibrationError,
        calibration_table,
        gap_summary,
        refine_experiment,
        refined_bounds,
        scenario_lines,
    )
    from clustersim.experiments.spec import StoreError

    if refine is not None:
        _check_folder_for(refine.parent, f"--refine {refine}")
    wanted = [w.strip() for w in facts.split(",") if w.strip()] if facts else None
    try:
        results = load_results(store, timeseries=False)
        table = calibration_table(results, wanted)
        new_bounds = refined_bounds(table.iloc[0], table.attrs["parameters"],
                                    table.attrs["bounds"], shrink)
    except (StoreError, CalibrationError) as exc:
        _fail(str(exc))
    _print_calibration(table, gap_summary(table), top)
    typer.echo("best values, for the scenario file:")
    for line in scenario_lines(table.iloc[0], table.attrs["parameters"], store.name):
        typer.echo(f"  {line}")
    if refine is not None:
        _write_refinement(refine, refine_experiment(results.meta.get("experiment_toml", ""),
                                                    new_bounds))


def _print_calibration(table: Any, gaps: Any, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, Console().width))
    out = Table(title=f"Calibration: the {min(top, len(table))} samples nearest the facts "
                f"(of {len(table)})")
    columns = ["point", *table.attrs["parameters"], "runs", "facts_in_range", "distance"]
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in table.head(top).to_dict("records"):
        out.add_row(*(f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c])
                      for c in columns))
    console.print(out)
    facts = Table(title="Each fact at the best sample")
    for column in gaps.columns:
        facts.add_column(column)
    for row in gaps.to_dict("records"):
        facts.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(facts)


def _write_refinement(path: Path, text: str) -> None:
    """Write the refinement experiment file, after checking it loads as an experiment."""
    from clustersim.experiments.design import ExperimentError, parse_experiment

    try:
        parse_experiment(text, source=str(path), folder=path.parent)
    except ExperimentError as exc:
        _fail(f"the refinement would not load ({exc}); the store's experiment file may have "
              "been written by hand in a form the refinement cannot edit")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    typer.echo(f"wrote {path}: sweep it, then run `clustersim calibrate` on its store")


@app.command()
def validation(
    stores: Annotated[
        list[Path],
        typer.Argument(metavar="STORE...", help="Results stores of the calibration and "
                       "hypothesis studies.", show_default=False),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="FILE", help="The Markdown page to write."),
    ] = Path("docs/VALIDATION.md"),
) -> None:
    """Write docs/VALIDATION.md from results stores: the facts tables, each stated
    hypothesis's answer, what the model does not reproduce, and how to regenerate it."""
    from clustersim.experiments.spec import StoreError
    from clustersim.experiments.validation import write_validation

    _check_folder_for(output.parent, f"-o {output}")
    try:
        written = write_validation(stores, output)
    except StoreError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {written}")


# --------------------------------------------------------------------------- report


@app.command()
def report(
    store: StoreArgument,
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
        return load_scenario(spec, {**_overrides(assignments), **(extra or {})})
    except ScenarioError as exc:
        _fail(str(exc))


def _overrides(assignments: list[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` options → {canonical dotted key: value}; ScenarioError if one is bad."""
    overrides: dict[str, Any] = {}
    for assignment in assignments or []:
        key, value = parse_override(assignment)
        overrides[key] = value
    return overrides


def _check_out_dir(path: Path) -> None:
    """Refuse an output folder that could not be created or written, before the run starts."""
    if path.exists() and not path.is_dir():
        _fail(f"--out {path}: exists and is not a folder")
    _check_folder_for(path, f"--out {path}")


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
               TextColumn(unit), TextColumn("elapsed"), TimeElapsedColumn()]
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
            self.progress = _progress_bar("months", "· left")
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
