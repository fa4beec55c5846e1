"""Per-run tables: kept in the store when an experiment asks, matching the model's objects."""

import json

import pandas as pd

from clustersim.experiments.analysis import load_results
from clustersim.experiments.design import expand, parse_experiment
from clustersim.experiments.execute import execute
from clustersim.experiments.store import ResultsStore
from clustersim.experiments.sweep import run_experiment
from clustersim.model import ClusterModel
from clustersim.run_tables import RUN_TABLE_COLUMNS, RUN_TABLES, run_tables

EXPERIMENT = '''name = "tables"
master_seed = 1
replications = 2
steps = 20
tables = TABLES

[common]
n_firms = 60

[[arms]]
name = "both"
scenario = "baseline"
set = { policies = [{ type = "brokers", start = 2, duration = 12, brokers_per_1000 = 40.0 }, { type = "challenge_grants", start = 3, duration = 12 }] }
'''


def experiment(tables: list[str]):
    return parse_experiment(EXPERIMENT.replace("TABLES", json.dumps(tables)))


def test_tables_match_the_model():
    model = ClusterModel(seed=2, n_firms=80, steps=24, policies=[
        {"type": "brokers", "start": 2, "duration": 12, "brokers_per_1000": 40.0},
        {"type": "challenge_grants", "start": 3, "duration": 12}])
    model.run()
    tables = run_tables(model, RUN_TABLES)
    for name, frame in tables.items():
        assert list(frame.columns) == [c for c, _ in RUN_TABLE_COLUMNS[name]]
    nets = tables["formal_networks"]
    assert len(nets) == len(model.formal_networks.networks) > 0
    assert [json.loads(m) for m in nets["members"]] == [sorted(n.members)
                                                         for n in model.formal_networks.networks]
    projects = tables["grant_projects"]
    assert len(projects) == len(model.joint_projects) > 0
    assert set(projects["outcome"]) <= {"succeeded", "failed", "running"}
    firms = tables["firms_end"]
    assert len(firms) == int(model.firms.alive.sum())
    teams = tables["team_sizes"]
    won = model.timeseries()["orders_won"].sum()
    assert teams["teams"].sum() == won and (teams["size"] >= 1).all()


def test_a_sweep_keeps_the_tables_it_asks_for_and_only_those(tmp_path):
    asked = run_experiment(experiment(["formal_networks", "team_sizes"]), tmp_path / "a.duckdb",
                           backend="serial")
    results = load_results(asked.store)
    nets = results.run_table("formal_networks")
    assert set(nets["run_id"]) <= set(results.summaries["run_id"]) and len(nets) > 0
    assert {"arm", "replication", "seed"} <= set(nets.columns)
    assert results.run_table("team_sizes")["teams"].sum() == (
        results.timeseries["orders_won"].sum())
    assert results.run_table("grant_projects").empty  # not asked for
    plain = run_experiment(experiment([]), tmp_path / "b.duckdb", backend="serial")
    with ResultsStore.open_read_only(plain.store) as store:
        assert store.run_table("formal_networks").empty


def test_a_retried_run_replaces_its_rows(tmp_path):
    spec = expand(experiment(["firms_end"]), replications=1)[0]
    result = execute(spec)
    meta = {"experiment": "tables", "fingerprint": "x", "experiment_toml": "", "baseline_arm": "",
            "factors": "{}", "sampler": "null", "created_with": "{}"}
    with ResultsStore.open_for_sweep(tmp_path / "c.duckdb", meta) as store:
        store.record(spec, result)
        store.record(spec, result)
        rows = store.run_table("firms_end")
    assert len(rows) == len(result.tables["firms_end"])
    assert isinstance(rows, pd.DataFrame)


def test_clustersim_run_writes_the_tables_a_run_has(tmp_path):
    from typer.testing import CliRunner

    from clustersim.cli import app

    done = CliRunner().invoke(app, ["run", "denmark_1989", "--steps", "30", "--set",
                                    "firms.count=80", "--set", "policies[0].start=2",
                                    "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "formal_networks.csv").exists() and (tmp_path / "team_sizes.csv").exists()
