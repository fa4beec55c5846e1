"""The ``clustersim`` command: exit codes, messages, nothing written on error, outputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from clustersim import __version__, cli
from clustersim.scenario import load_scenario, parse_scenario, shipped_scenarios

if TYPE_CHECKING:
    from conftest import FakeModel

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "firms.count=60", "--steps", "12"]

# Bad scenario files: (TOML text, fragments the one error message must contain).
BAD_FILES = {
    "unknown_key": (
        "[market]\nvolatilty = 0.2\n",
        ["market.volatilty", "did you mean 'volatility'", "keys allowed at [market]"],
    ),
    "wrong_type": ('[firms]\ncount = "many"\n', ["firms.count", "'many'", "valid integer"]),
    "out_of_range": (
        "[market]\nvolatility = 2.5\n",
        ["market.volatility", "2.5", "less than or equal to 1"],
    ),
    "bad_choice": (
        'network_mode = "fluid"\n',
        ["network_mode", "'fluid'", "'static' or 'dynamic'"],
    ),
    "malformed": ("[market\nvolatility = 0.2\n", ["malformed TOML", "line 1"]),
}


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- basics


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"clustersim {__version__}"


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("run", "validate", "scenarios"):
        assert command in result.stdout


def test_scenarios_lists_every_shipped_scenario() -> None:
    result = invoke("scenarios")
    assert result.exit_code == 0, result.output
    shipped = shipped_scenarios()
    assert {"baseline", "static", "dynamic", "emilia_romagna", "alberta_1993"} <= set(shipped)
    for name in shipped:
        assert name in result.stdout
    assert "INVALID" not in result.stdout


@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_validate_shipped(name: str) -> None:
    result = invoke("validate", name)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"OK: {name} — ")
    assert len(first) > len(f"OK: {name} — ") + 10
    assert "network_mode = " in result.stdout


def test_validate_by_path_with_overrides() -> None:
    path = REPO / "scenarios" / "baseline.toml"
    result = invoke("validate", str(path), "--set", "volatility=0.4", "--set", "n_firms=77")
    assert result.exit_code == 0, result.output
    assert "market.volatility = 0.4" in result.stdout
    assert "firms.count = 77" in result.stdout


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_file_exit_2_one_message_nothing_written(
    tmp_path: Path, fake_model: type[FakeModel], kind: str, command: str
) -> None:
    text, fragments = BAD_FILES[kind]
    path = write(tmp_path, f"bad_{kind}.toml", text)
    out = tmp_path / "out" / "never"
    args = [command, str(path)] + (["--out", str(out)] if command == "run" else [])
    result = invoke(*args)
    assert result.exit_code == 2
    message = result.stderr
    assert f"bad_{kind}.toml" in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()
    assert fake_model.constructed == []


def test_missing_file_exit_2(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    out = tmp_path / "out"
    result = invoke("run", str(tmp_path / "nowhere.toml"), "--out", str(out))
    assert result.exit_code == 2
    assert "nowhere.toml" in result.stderr
    assert "file not found" in result.stderr
    assert "baseline" in result.stderr  # names what exists instead
    assert not out.exists()


@pytest.mark.parametrize(
    ("assignment", "fragments"),
    [
        ("market.volatilty=0.4", ["market.volatilty", "did you mean 'volatility'"]),
        ("nonsense=1", ["nonsense", "keys allowed at the top level"]),
        ("market.volatility=4", ["market.volatility", "4", "less than or equal to 1"]),
        ("network_mode=fluid", ["network_mode", "'fluid'", "'static' or 'dynamic'"]),
        ("market.volatility", ["KEY=VALUE"]),
        ("market=3", ["'market' is a table"]),
    ],
)
def test_bad_set_exit_2(
    tmp_path: Path, fake_model: type[FakeModel], assignment: str, fragments: list[str]
) -> None:
    out = tmp_path / "out"
    result = invoke("run", "baseline", "--set", assignment, "--out", str(out))
    assert result.exit_code == 2
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert not out.exists()
    assert fake_model.constructed == []


@pytest.mark.parametrize(
    "args", [["--steps", "0"], ["--steps", "99999"], ["--seed", "-1"], ["--steps", "twelve"]]
)
def test_bad_options_exit_2(tmp_path: Path, fake_model: type[FakeModel], args: list[str]) -> None:
    out = tmp_path / "out"
    result = invoke("run", "baseline", *args, "--out", str(out))
    assert result.exit_code == 2
    assert not out.exists()
    assert fake_model.constructed == []


def test_out_is_a_file_exit_2(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    blocker = write(tmp_path, "taken", "x")
    result = invoke("run", "baseline", *TINY, "--out", str(blocker / "run"))
    assert result.exit_code == 2
    assert "taken" in result.stderr
    assert blocker.read_text() == "x"
    assert fake_model.constructed == []


def test_scenario_error_from_the_model_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clustersim.scenario import ScenarioError

    def refuse(*args: object, **kwargs: object) -> None:
        raise ScenarioError("model.toml: refused by the model")

    monkeypatch.setattr(cli, "_model_class", lambda: refuse)
    out = tmp_path / "out"
    result = invoke("run", "baseline", "--out", str(out))
    assert result.exit_code == 2
    assert "refused by the model" in result.stderr
    assert not out.exists()


def test_exit_code_2_from_a_real_process(tmp_path: Path) -> None:
    path = write(tmp_path, "typo.toml", "[region]\ncooperativenes = 0.5\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "clustersim.cli", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "typo.toml" in proc.stderr
    assert "region.cooperativenes" in proc.stderr
    assert "did you mean 'cooperativeness'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert not out.exists()


# --------------------------------------------------------------------------- run (fake model)


def run_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_run_writes_outputs_and_prints_summary(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    out = tmp_path / "run"
    result = invoke(
        "run",
        "baseline",
        *TINY,
        "--seed",
        "3",
        "--out",
        str(out),
        "--set",
        "outputs.network_snapshot_steps=[]",
        "--set",
        "outputs.firm_table_steps=[12]",
    )
    assert result.exit_code == 0, result.output
    names = set(run_files(out))
    assert names == {
        "timeseries.csv",
        "timeseries.parquet",
        "firms.csv",
        "firms.parquet",
        "scenario.toml",
        "run.json",
    }
    assert not any(name.endswith(".tmp") for name in names)

    (model,) = fake_model.constructed
    assert model.seed == 3
    assert model.scenario.steps == 12
    assert model.scenario.firms.count == 60

    recorded = parse_scenario((out / "scenario.toml").read_text(encoding="utf-8"))
    assert recorded == model.scenario
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["seed"] == 3
    assert record["steps"] == 12
    assert record["scenario"] == "baseline"
    assert {"clustersim", "mesa", "numpy"} <= set(record["versions"])

    lines = (out / "timeseries.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("step,")
    assert len(lines) == 1 + 13  # months 0..12

    assert "final month (12)" in result.stdout
    assert "run totals" in result.stdout
    assert "firms_alive" in result.stdout
    assert str(out.name) in result.stdout


def test_run_without_firm_table_writes_no_firm_files(
    tmp_path: Path, fake_model: type[FakeModel]
) -> None:
    out = tmp_path / "run"
    result = invoke("run", "alberta_1993", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert not (out / "firms.csv").exists()
    assert (out / "timeseries.parquet").exists()


def test_run_default_out_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_model: type[FakeModel]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run", str(REPO / "scenarios" / "alberta_1993.toml"), *TINY, "--seed", "7")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "alberta_1993-seed7" / "timeseries.csv").exists()


def test_run_network_snapshots(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    pytest.importorskip("clustersim.networks", reason="clustersim/networks.py not written yet")
    out = tmp_path / "run"
    result = invoke(
        "run",
        "baseline",
        *TINY,
        "--out",
        str(out),
        "--set",
        "outputs.network_snapshot_steps=[0, 12]",
    )
    assert result.exit_code == 0, result.output
    for step in (0, 12):
        assert (out / f"network_step{step}.gexf").stat().st_size > 0
        assert (out / f"network_step{step}.graphml").stat().st_size > 0


def test_same_seed_byte_identical_different_seed_differs(
    tmp_path: Path, fake_model: type[FakeModel]
) -> None:
    common = ["run", "baseline", *TINY, "--set", "outputs.network_snapshot_steps=[]"]
    for folder, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        result = invoke(*common, "--seed", seed, "--out", str(tmp_path / folder))
        assert result.exit_code == 0, result.output
    a, b, c = (run_files(tmp_path / folder) for folder in "abc")
    assert a == b
    assert a["timeseries.csv"] != c["timeseries.csv"]


def test_progress_bar_appears_only_after_the_delay() -> None:
    quick = cli._LazyProgress("quick", delay=60.0)
    with quick:
        for step in range(1, 4):
            quick.update(step, 3)
    assert quick.progress is None

    slow = cli._LazyProgress("slow", delay=0.0)
    with slow:
        time.sleep(0.001)
        for step in range(1, 4):
            slow.update(step, 3)
        assert slow.progress is not None
        assert slow.progress.tasks[0].completed == 3
    assert slow.progress.finished


# --------------------------------------------------------------------------- run (real model)


def real_model_available() -> bool:
    """True once clustersim/model.py exists (import errors inside it still surface)."""
    return importlib.util.find_spec("clustersim.model") is not None


def real_networks_available() -> bool:
    return importlib.util.find_spec("clustersim.networks") is not None


needs_model = pytest.mark.skipif(
    not real_model_available(), reason="clustersim/model.py not written yet"
)


@needs_model
def test_real_run_tiny_scenario(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(
        "run",
        "baseline",
        *TINY,
        "--seed",
        "1",
        "--out",
        str(out),
        "--set",
        "outputs.firm_table_steps=[12]",
        "--set",
        "outputs.network_snapshot_steps=[]",
    )
    assert result.exit_code == 0, result.output
    files = run_files(out)
    assert {
        "timeseries.csv",
        "timeseries.parquet",
        "firms.csv",
        "firms.parquet",
        "scenario.toml",
        "run.json",
    } <= set(files)
    header = files["timeseries.csv"].decode().splitlines()[0].split(",")
    assert header[0] == "step"
    assert "firms_alive" in header
    assert len(files["timeseries.csv"].decode().splitlines()) == 1 + 13
    assert load_scenario(out / "scenario.toml").firms.count == 60


@needs_model
@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_real_runs_are_byte_identical_per_seed(tmp_path: Path, mode: str) -> None:
    common = [
        "run",
        "baseline",
        *TINY,
        "--set",
        f"network_mode={mode}",
        "--set",
        "outputs.firm_table_steps=[0, 12]",
    ]
    if real_networks_available():
        common += ["--set", "outputs.network_snapshot_steps=[0, 12]"]
    for folder, seed in (("a", "11"), ("b", "11"), ("c", "12")):
        result = invoke(*common, "--seed", seed, "--out", str(tmp_path / folder))
        assert result.exit_code == 0, result.output
    a, b, c = (run_files(tmp_path / folder) for folder in "abc")
    assert set(a) == set(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs with the same seed"
    assert a["timeseries.csv"] != c["timeseries.csv"]


@needs_model
@pytest.mark.slow
def test_baseline_acceptance_same_seed_same_bytes(tmp_path: Path) -> None:
    """Issue 2: the full baseline (1,000 firms, 120 months) twice with seed 1, once with 2."""
    for folder, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        result = invoke("run", "baseline", "--seed", seed, "--out", str(tmp_path / folder))
        assert result.exit_code == 0, result.output
    a, b, c = (run_files(tmp_path / folder) for folder in "abc")
    assert a == b
    assert a["timeseries.csv"] != c["timeseries.csv"]
    assert "final month (120)" in result.stdout


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("baseline", "baseline"),
        ("my run/../x", "my_run_.._x"),
        ("...", "scenario"),
        ("é", "scenario"),
    ],
)
def test_default_folder_name_is_safe(name: str, folder: str) -> None:
    assert cli._safe_name(name) == folder


@pytest.mark.parametrize(("args", "names"), [
    (["run", "baseline", "--set", "market.work_median=1e-9"], ["market.work_median", "orders per firm"]),
    (["run", "/dev/null"], ["/dev/null", "empty", "baseline"]),
    (["validate", "baseline", "--set", "market.demand_scale=0.001"], ["market.demand_scale"]),
])
def test_valid_looking_input_that_cannot_run_exits_2_with_one_message(args, names, tmp_path) -> None:
    """Values inside each key's range whose combination cannot run (a month of 10^10 orders),
    and empty scenario files, are refused with the keys to change: never a traceback."""
    result = invoke(*args, *(["--out", str(tmp_path / "out")] if args[0] == "run" else []))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for name in names:
        assert name in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["run", "baseline", "--out", "/proc/clustersim-out"],
                                  ["run", "baseline", "--out", "/sys/clustersim-out"],
                                  ["sweep", "policy_comparison", "--store", "/proc/x.duckdb"]])
def test_a_place_that_cannot_be_written_exit_2_before_anything_runs(args) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "cannot be created or written" in result.output
    assert "Traceback" not in result.output
