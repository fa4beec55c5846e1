"""The ``clustersim`` command: run, validate and list scenarios.

Everything the user typed is checked before any folder or file is created; a bad
scenario, override or option prints one plain message on stderr and exits with
code 2. The model (and with it Mesa, numpy, pandas) is imported only by ``run``
so that ``validate``, ``scenarios`` and ``--help`` answer at once.
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
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("months"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
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
