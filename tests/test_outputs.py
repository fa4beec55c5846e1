"""Writing a run's files (clustersim/outputs.py): complete, atomic, deterministic."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clustersim.outputs import format_figure, summary_table, write_run
from clustersim.scenario import load_scenario, scenario_from_dict

if TYPE_CHECKING:
    from conftest import FakeModel

TINY = {"firms": {"count": 60}, "steps": 12}


def finished(fake_model: type[FakeModel], seed: int = 1, **outputs: list[int]) -> FakeModel:
    scenario = scenario_from_dict({**TINY, "outputs": outputs})
    model = fake_model(scenario, seed=seed)
    model.run()
    return model


def test_writes_every_file_and_returns_their_paths(
    tmp_path: Path, fake_model: type[FakeModel]
) -> None:
    pytest.importorskip("clustersim.networks")
    model = finished(fake_model, firm_table_steps=[0, 12], network_snapshot_steps=[0, 12])
    out = tmp_path / "deep" / "run"
    written = write_run(model, out, seed=1)
    names = [p.name for p in written]
    assert names == [
        "timeseries.csv",
        "timeseries.parquet",
        "firms.csv",
        "firms.parquet",
        "network_step0.gexf",
        "network_step0.graphml",
        "network_step12.gexf",
        "network_step12.graphml",
        "scenario.toml",
        "run.json",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temporary files left
    assert pd.read_parquet(out / "timeseries.parquet").equals(model.timeseries())
    pd.testing.assert_frame_equal(pd.read_csv(out / "timeseries.csv"), model.timeseries())
    assert load_scenario(out / "scenario.toml") == model.scenario
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert record["files"] == names[:-1]
    assert (record["seed"], record["steps"], record["scenario"]) == (1, 12, model.scenario.name)


def test_no_firm_table_no_firm_files(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    written = write_run(finished(fake_model), tmp_path, seed=1)
    assert [p.name for p in written] == [
        "timeseries.csv",
        "timeseries.parquet",
        "scenario.toml",
        "run.json",
    ]


def test_same_model_same_bytes(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    for folder in "ab":
        write_run(finished(fake_model, firm_table_steps=[12]), tmp_path / folder, seed=1)
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_run_record_has_no_clock(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    write_run(finished(fake_model), tmp_path, seed=1)
    record = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert set(record) == {"scenario", "network_mode", "seed", "steps", "files", "versions"}
    assert set(record["versions"]) == {"clustersim", "mesa", "numpy", "python"}


def test_files_follow_the_umask(tmp_path: Path, fake_model: type[FakeModel]) -> None:
    previous = os.umask(0o022)
    try:
        write_run(finished(fake_model), tmp_path, seed=1)
    finally:
        os.umask(previous)
    for path in tmp_path.iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path.name


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, fake_model: type[FakeModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = finished(fake_model)
    write_run(model, tmp_path, seed=1)
    before = (tmp_path / "timeseries.parquet").read_bytes()

    def broken(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_run(model, tmp_path, seed=2)
    assert (tmp_path / "timeseries.parquet").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_summary_final_month_then_totals(fake_model: type[FakeModel]) -> None:
    model = finished(fake_model)
    rows = summary_table(model)
    sections = [section for section, _, _ in rows]
    assert sections[0] == "final month (12)"
    assert sections[-1] == "run totals"
    assert sections == sorted(sections, key=lambda s: s == "run totals")  # two blocks, in order
    figures = dict((figure, value) for section, figure, value in rows if section != "run totals")
    assert figures["firms_alive"] == format_figure(model.timeseries()["firms_alive"].iloc[-1])
    totals = dict((figure, value) for section, figure, value in rows if section == "run totals")
    assert totals["orders"] == format_figure(model.totals()["orders"])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1000, "1,000"),
        (12.0, "12"),
        (0.4567, "0.457"),
        (1234.56, "1,234.6"),
        (-3.5, "-3.500"),
        (float("nan"), "nan"),
        (True, "True"),
        ("static", "static"),
    ],
)
def test_format_figure(value: object, text: str) -> None:
    assert format_figure(value) == text


def test_a_run_always_writes_its_last_month(tmp_path):
    """A scenario listing no months (or a run shorter than the ones it lists) still gets
    the firm table and the network of the month it ended in."""
    from clustersim.model import ClusterModel
    from clustersim.outputs import write_run

    model = ClusterModel("baseline", seed=2, n_firms=40, **{"outputs.firm_table_steps": [0, 120],
                                                             "outputs.network_snapshot_steps": []})
    model.run(5)
    names = {p.name for p in write_run(model, tmp_path, seed=2)}
    assert {"firms.csv", "network_step5.gexf", "network_step5.graphml"} <= names
    assert "network_step0.gexf" not in names
    firms = pd.read_csv(tmp_path / "firms.csv")
    assert sorted(set(firms["step"])) == [0, 5]
