"""Experiment files → run specs (clustersim/experiments/design.py).

Expansion (counts, order, seeds, ids, merged overrides), samplers, fingerprints, the
shipped experiments, and the errors a bad file gives. Nothing here runs the model.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustersim.experiments.design import (
    MAX_RUNS,
    Experiment,
    ExperimentError,
    estimate_seconds,
    expand,
    experiment_from_dict,
    experiment_to_toml,
    load_experiment,
    parse_experiment,
    salib_problem,
    sample_matrix,
    seed_for,
    shipped_experiments,
)
from clustersim.experiments.identity import fingerprint, store_meta
from clustersim.experiments.spec import RunSpec
from clustersim.scenario import ScenarioError, load_scenario

SHIPPED = shipped_experiments()

GRID = """
name = "grid"
description = "a small grid"
master_seed = 11
replications = 3
steps = 30

[common]
n_firms = 40
"market.volatility" = 0.1

[[arms]]
name = "plain"
scenario = "baseline"

[[arms]]
name = "brokers"
scenario = "danish_brokers"
set = { "market.volatility" = 0.2, "region.cooperativeness" = 0.7 }

[factors]
network_mode = ["static", "dynamic"]

[factors.shock.none]
shocks = []

[factors.shock.covid]
shocks = [{ type = "demand_drop", start = 6, duration = 4, magnitude = 0.6 }]
"market.volatility" = 0.3

[factors.shock.low_cost]
shocks = [{ type = "low_cost_competition", start = 6 }]
"""

SAMPLED = """
name = "sampled"
master_seed = 5
replications = 2
steps = 12

[common]
n_firms = 30

[[arms]]
name = "baseline"
scenario = "baseline"

[sampler]
method = "{method}"
samples = {samples}

[sampler.parameters]
"market.volatility" = [0.05, 0.4]
"teams.random_search" = [1, 7]
"ties.gain" = [0.2, 0.8]
"""


def write(tmp_path: Path, text: str | bytes, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def grid(tmp_path: Path, text: str = GRID) -> Experiment:
    return load_experiment(write(tmp_path, text))


def error_of(tmp_path: Path, text: str | bytes, name: str = "exp.toml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    message = str(info.value)
    assert str(path) in message  # every message names the file
    return message


def replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------- expansion


def test_expansion_counts_arms_times_levels_times_replications(tmp_path: Path) -> None:
    experiment = grid(tmp_path)
    specs = expand(experiment)
    assert experiment.point_count() == 2 * 2 * 3
    assert len(specs) == 2 * 2 * 3 * 3
    assert len(expand(experiment, replications=1)) == 12
    assert Counter(s.arm for s in specs) == {"plain": 18, "brokers": 18}
    assert Counter(s.levels["shock"] for s in specs) == {"none": 12, "covid": 12, "low_cost": 12}


def test_order_is_replication_major_and_points_stable(tmp_path: Path) -> None:
    specs = expand(grid(tmp_path))
    assert [s.replication for s in specs] == [r for r in range(3) for _ in range(12)]
    assert [s.point for s in specs] == list(range(12)) * 3
    first = specs[:12]
    # arms slowest, then factors in file order (first factor slower than the second)
    assert [s.arm for s in first] == ["plain"] * 6 + ["brokers"] * 6
    assert [s.levels["network_mode"] for s in first[:6]] == ["static"] * 3 + ["dynamic"] * 3
    assert [s.levels["shock"] for s in first[:3]] == ["none", "covid", "low_cost"]
    assert first[4].label == "plain | network_mode=dynamic | shock=covid"
    for later in specs[12:]:
        same = first[later.point]
        assert (later.arm, later.levels, later.overrides) == (same.arm, same.levels, same.overrides)


def test_seeds_shared_by_points_distinct_by_replication_and_stable(tmp_path: Path) -> None:
    experiment = grid(tmp_path)
    specs = expand(experiment)
    by_rep: dict[int, set[int]] = {}
    for s in specs:
        by_rep.setdefault(s.replication, set()).add(s.seed)
    assert all(len(seeds) == 1 for seeds in by_rep.values())  # common random numbers
    assert len({next(iter(v)) for v in by_rep.values()}) == 3
    more = expand(experiment, replications=7)
    assert more[: len(specs)] == specs  # growing replications keeps the first runs
    assert [s.run_id for s in more[: len(specs)]] == [s.run_id for s in specs]
    assert all(0 <= s.seed < 2**63 for s in more)  # fits DuckDB BIGINT
    expected = np.random.SeedSequence(11, spawn_key=(2,)).generate_state(1, np.uint64)[0] >> 1
    assert specs[-1].seed == int(expected) == seed_for(11, 2)


@given(master=st.integers(0, 2**63 - 1), reps=st.integers(1, 50))
def test_seed_for_is_a_prefix_property(master: int, reps: int) -> None:
    seeds = [seed_for(master, r) for r in range(reps)]
    assert len(set(seeds)) == reps
    assert all(0 <= s < 2**63 for s in seeds)


def test_run_ids_unique_and_stable(tmp_path: Path) -> None:
    experiment = grid(tmp_path)
    specs = expand(experiment)
    assert len({s.run_id for s in specs}) == len(specs)
    again = expand(load_experiment(tmp_path / "exp.toml"))
    assert [s.run_id for s in again] == [s.run_id for s in specs]
    assert [RunSpec.from_row(s.to_row()) for s in specs] == specs


def test_overrides_merge_common_then_arm_then_levels_then_cli(tmp_path: Path) -> None:
    specs = {s.label: s for s in expand(grid(tmp_path), replications=1)}
    plain = specs["plain | network_mode=static | shock=none"].overrides
    assert plain == {"firms.count": 40, "market.volatility": 0.1, "network_mode": "static",
                     "shocks": []}
    brokers = specs["brokers | network_mode=dynamic | shock=none"].overrides
    assert brokers["market.volatility"] == 0.2  # the arm's set beats common
    assert brokers["region.cooperativeness"] == 0.7
    covid = specs["brokers | network_mode=dynamic | shock=covid"].overrides
    assert covid["market.volatility"] == 0.3  # the level beats the arm
    assert covid["shocks"][0]["type"] == "demand_drop"
    cli = expand(grid(tmp_path), replications=1,
                 overrides={"volatility": 0.05, "firms__count": 35})
    assert {s.overrides["market.volatility"] for s in cli} == {0.05}  # --set beats all
    assert {s.overrides["firms.count"] for s in cli} == {35}
    assert json.loads(json.dumps(covid)) == covid  # JSON-able


def test_scenarios_named_or_made_absolute(tmp_path: Path) -> None:
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "mine.toml").write_text('name = "mine"\n[firms]\ncount = 50\n')
    text = replace(GRID, 'scenario = "baseline"', 'scenario = "sc/mine.toml"')
    (tmp_path / "deep").mkdir()
    experiment = load_experiment(write(tmp_path / "deep", text.replace("sc/", "../sc/")))
    specs = expand(experiment, replications=1)
    assert {s.scenario for s in specs} == {str((tmp_path / "sc" / "mine.toml").resolve()),
                                           "danish_brokers"}


def test_steps_and_record_every(tmp_path: Path) -> None:
    text = replace(GRID, "steps = 30", "steps = 30\nrecord_every = 3")
    experiment = grid(tmp_path, text)
    assert {(s.steps, s.record_every) for s in expand(experiment)} == {(30, 3)}
    assert {s.steps for s in expand(experiment, steps=5)} == {5}


def test_baseline_defaults_to_first_arm(tmp_path: Path) -> None:
    assert grid(tmp_path).baseline_arm == "plain"
    text = replace(GRID, "steps = 30", 'steps = 30\nbaseline = "brokers"')
    assert grid(tmp_path, text).baseline_arm == "brokers"


def test_value_list_factor_names_levels_by_text(tmp_path: Path) -> None:
    text = GRID.split("[factors]")[0] + '[factors]\n"market.volatility" = [0.05, 0.2, 1]\n'
    experiment = grid(tmp_path, text)
    factor = experiment.factors["market.volatility"]
    assert list(factor.levels) == ["0.05", "0.2", "1"]
    assert factor.values == [0.05, 0.2, 1]
    # unquoted dotted keys in TOML arrive as nested tables: the same factor
    unquoted = grid(tmp_path, text.replace('"market.volatility"', "market.volatility"))
    assert expand(unquoted) == expand(experiment)


def test_python_construction_and_toml_round_trip(tmp_path: Path) -> None:
    experiment = Experiment(
        name="py", master_seed=1, replications=2, steps=12,
        common={"n_firms": 30, "market": {"volatility": 0.2}},
        arms=[{"name": "a", "scenario": "baseline"},
              {"name": "b", "scenario": "static", "set": {"ties.gain": 0.4}}],
        factors={"network_mode": ["static", "dynamic"],
                 "shock": {"none": {"shocks": []},
                           "drop": {"shocks": [{"type": "demand_drop", "start": 3}]}}},
    )
    assert experiment.common == {"n_firms": 30, "market.volatility": 0.2}
    specs = expand(experiment)
    assert len(specs) == 2 * 2 * 2 * 2
    text = experiment_to_toml(experiment)
    again = parse_experiment(text, source="<dump>")
    assert expand(again) == specs
    assert store_meta(experiment)["experiment_toml"] == text
    tomllib.loads(text)


# --------------------------------------------------------------------------- samplers


@pytest.mark.parametrize(("method", "samples", "points"),
                         [("lhs", 9, 9), ("morris", 4, 4 * 4), ("sobol", 8, 8 * 8)])
def test_samples_deterministic_inside_bounds_integers_rounded(
        tmp_path: Path, method: str, samples: int, points: int) -> None:
    text = SAMPLED.replace("{method}", method).replace("{samples}", str(samples))
    experiment = grid(tmp_path, text)
    specs = expand(experiment)
    assert len(specs) == points * 2
    assert [s.levels for s in specs[:points]] == [{"sample": i} for i in range(points)]
    assert specs[3].label == "baseline | sample=3"
    again = expand(load_experiment(tmp_path / "exp.toml"))
    assert [s.overrides for s in again] == [s.overrides for s in specs]
    for s in specs:
        assert 0.05 <= s.overrides["market.volatility"] <= 0.4
        assert 0.2 <= s.overrides["ties.gain"] <= 0.8
        search = s.overrides["teams.random_search"]
        assert type(search) is int and 1 <= search <= 7
        assert type(s.overrides["ties.gain"]) is float
    matrix = sample_matrix(experiment)
    assert matrix is not None and matrix.shape == (points, 3)
    rounded = [math.floor(x + 0.5) for x in matrix[:, 1]]
    assert rounded == [s.overrides["teams.random_search"] for s in specs[:points]]
    other = grid(tmp_path, text.replace("master_seed = 5", "master_seed = 6"))
    assert not np.array_equal(sample_matrix(other), matrix)


def test_salib_problem_and_meta(tmp_path: Path) -> None:
    experiment = grid(tmp_path, SAMPLED.replace("{method}", "morris").replace("{samples}", "3"))
    problem = salib_problem(experiment)
    assert problem == {"num_vars": 3,
                       "names": ["market.volatility", "teams.random_search", "ties.gain"],
                       "bounds": [[0.05, 0.4], [1.0, 7.0], [0.2, 0.8]]}
    meta = store_meta(experiment)
    sampler = json.loads(meta["sampler"])
    assert sampler["method"] == "morris" and sampler["num_levels"] == 4
    assert sampler["samples"] == 3 and sampler["names"] == problem["names"]
    assert np.allclose(sampler["matrix"], sample_matrix(experiment))
    assert salib_problem(grid(tmp_path)) is None
    assert store_meta(grid(tmp_path))["sampler"] == "null"


def test_sampler_crossed_with_factors(tmp_path: Path) -> None:
    text = SAMPLED.replace("{method}", "lhs").replace("{samples}", "4") + \
        '\n[factors]\nnetwork_mode = ["static", "dynamic"]\n'
    specs = expand(grid(tmp_path, text), replications=1)
    assert len(specs) == 8
    assert specs[5].levels == {"network_mode": "dynamic", "sample": 1}
    assert specs[5].label == "baseline | network_mode=dynamic | sample=1"
    assert specs[5].overrides["ties.gain"] == specs[1].overrides["ties.gain"]


# --------------------------------------------------------------------------- fingerprint, meta


def test_fingerprint_ignores_replications_and_description(tmp_path: Path) -> None:
    base = fingerprint(grid(tmp_path))
    for old, new in [("replications = 3", "replications = 30"),
                     ('description = "a small grid"', 'description = "another text"'),
                     ("steps = 30", 'steps = 30\nbaseline = "brokers"')]:
        assert fingerprint(grid(tmp_path, replace(GRID, old, new))) == base, new


def test_fingerprint_changes_with_what_fixes_results(tmp_path: Path) -> None:
    base = grid(tmp_path)
    prints = {fingerprint(base)}
    prints.add(fingerprint(base, steps=12))
    prints.add(fingerprint(base, overrides={"market.volatility": 0.3}))
    for old, new in [("steps = 30", "steps = 31"), ("master_seed = 11", "master_seed = 12"),
                     ("n_firms = 40", "n_firms = 41"), ("steps = 30", "steps = 30\nrecord_every = 2"),
                     ('["static", "dynamic"]', '["dynamic", "static"]'),
                     ("magnitude = 0.6", "magnitude = 0.5"),
                     ('name = "brokers"', 'name = "brokers2"')]:
        prints.add(fingerprint(grid(tmp_path, replace(GRID, old, new))))
    assert len(prints) == 10
    assert fingerprint(grid(tmp_path, GRID + "\n# a comment\n")) == fingerprint(base)


def test_fingerprint_follows_a_scenario_files_content(tmp_path: Path) -> None:
    scenario = tmp_path / "mine.toml"
    scenario.write_text('name = "mine"\n[firms]\ncount = 50\n')
    text = replace(GRID, 'scenario = "baseline"', 'scenario = "mine.toml"')
    before = fingerprint(grid(tmp_path, text))
    scenario.write_text('name = "mine"\ndescription = "words only"\n[firms]\ncount = 50\n')
    assert fingerprint(grid(tmp_path, text)) == before
    scenario.write_text('name = "mine"\n[firms]\ncount = 51\n')
    assert fingerprint(grid(tmp_path, text)) != before


def test_store_meta_keys(tmp_path: Path) -> None:
    experiment = grid(tmp_path)
    meta = store_meta(experiment)
    assert set(meta) == {"experiment", "fingerprint", "experiment_toml", "baseline_arm",
                         "factors", "sampler", "created_with", "steps", "record_every",
                         "overrides"}
    assert (meta["steps"], meta["record_every"], meta["overrides"]) == ("30", "1", "{}")
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["experiment"] == "grid" and meta["baseline_arm"] == "plain"
    assert meta["experiment_toml"] == (tmp_path / "exp.toml").read_text()
    assert json.loads(meta["factors"]) == {"network_mode": ["static", "dynamic"],
                                           "shock": ["none", "covid", "low_cost"]}
    assert {"clustersim", "mesa", "numpy"} <= set(json.loads(meta["created_with"]))
    assert meta["fingerprint"] == fingerprint(experiment)


def test_estimate_seconds_grows_with_firms_and_steps(tmp_path: Path) -> None:
    spec = expand(grid(tmp_path), replications=1)[0]
    small = estimate_seconds(spec)
    assert 0 < small < 5
    points = expand(grid(tmp_path), replications=1, overrides={"n_firms": 1000}, steps=120)
    plain = {s.levels["network_mode"]: s for s in points if s.arm == "plain"}
    # 2.5 CPU s measured for 1,000 firms × 120 months (dynamic); fixed networks cost more
    assert 1.5 < estimate_seconds(plain["dynamic"]) < 6
    assert estimate_seconds(plain["static"]) > 1.5 * estimate_seconds(plain["dynamic"])


# --------------------------------------------------------------------------- shipped


def test_the_three_studies_of_issue_4_are_shipped() -> None:
    assert {"policy_comparison", "static_vs_dynamic", "sensitivity_morris"} <= set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_experiment_loads_expands_and_describes_itself(name: str) -> None:
    experiment = load_experiment(name)
    assert experiment.name == name
    assert len(experiment.description) > 200 and "H" in experiment.description
    specs = expand(experiment)
    assert len(specs) == experiment.point_count() * experiment.replications
    assert len({s.run_id for s in specs}) == len(specs)
    assert SHIPPED[name].read_text().startswith("#")  # a header says what it costs


def test_policy_comparison_is_four_arms_by_three_shocks_by_20() -> None:
    experiment = load_experiment("policy_comparison")
    assert [a.name for a in experiment.arms] == ["baseline", "brokers", "challenge_grants", "hubs"]
    assert list(experiment.factors["shock"].levels) == ["none", "covid", "low_cost"]
    assert experiment.replications == 20 and experiment.steps == 120
    specs = expand(experiment)
    assert len(specs) == 240
    for spec in specs[:12]:  # every instrument on the same budget
        scenario = load_scenario(spec.scenario, spec.overrides)
        assert [p.total_budget(200) for p in scenario.policies] in ([], [1000.0])
    covid = load_scenario("covid_demand_drop").shocks
    low_cost = load_scenario("low_cost_competition").shocks
    for spec in specs[:12]:
        shocks = load_scenario(spec.scenario, spec.overrides).shocks
        expected = {"none": [], "covid": covid, "low_cost": low_cost}[spec.levels["shock"]]
        assert shocks == expected
    full = load_experiment("policy_comparison_full")
    assert [s.overrides["firms.count"] for s in expand(full, replications=1)] == [1000] * 12
    assert fingerprint(full) != fingerprint(experiment)


def test_full_policy_comparison_is_the_same_study_at_1000_firms() -> None:
    small, full = load_experiment("policy_comparison"), load_experiment("policy_comparison_full")
    same = {"name", "description", "common"}
    assert small.model_dump(exclude=same) == full.model_dump(exclude=same)
    assert small.common == {"n_firms": 200} and full.common == {"n_firms": 1000}
    # Budgets are per 1,000 firms (5,000 k€), so money per firm is equal at both sizes.
    for spec in expand(small, replications=1):
        for policy in load_scenario(spec.scenario, spec.overrides).policies:
            assert policy.budget == 5000.0 and policy.total_budget(200) == 1000.0


def test_shipped_policy_comparison_fits_the_time_budget() -> None:
    """240 runs must finish in 15 minutes on 2 cores with room to spare (README's main job)."""
    specs = expand(load_experiment("policy_comparison"))
    minutes = sum(map(estimate_seconds, specs)) / 2 / 60
    assert minutes < 12


# --------------------------------------------------------------------------- errors


def test_missing_file_folder_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match=r"file not found.*policy_comparison"):
        load_experiment(tmp_path / "nope.toml")
    with pytest.raises(ExperimentError, match="did you mean 'policy_comparison'"):
        load_experiment("policy_comparsion")
    with pytest.raises(ExperimentError, match="is a folder"):
        load_experiment(tmp_path)
    assert "not UTF-8" in error_of(tmp_path, b"name = \"\xff\"\n")


def test_experiment_error_is_a_scenario_error() -> None:
    assert issubclass(ExperimentError, ScenarioError)


def test_malformed_toml(tmp_path: Path) -> None:
    assert "malformed TOML" in error_of(tmp_path, "name = [\n")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("master_seed = 11", "master_sed = 11",
     ["unknown key 'master_sed'", "did you mean 'master_seed'", "keys allowed at the top level"]),
    ('name = "plain"', 'name = "plain"\nsceanrio = "x"',
     ["arms[0].sceanrio", "did you mean 'scenario'", "keys allowed at [[arms]]"]),
    ('scenario = "danish_brokers"', 'scenario = "danish_brokrs"',
     ["arms[1].scenario = 'danish_brokrs'", "did you mean 'danish_brokers'", "baseline"]),
    ('scenario = "danish_brokers"', 'scenario = "nowhere/x.toml"',
     ["arms[1].scenario = 'nowhere/x.toml'", "no file", "relative paths start"]),
    ("n_firms = 40", "n_firm = 40",
     ["common", "unknown key 'n_firm'", "keys allowed at the top level"]),
    ('"region.cooperativeness" = 0.7', '"region.cooperativenes" = 0.7',
     ["arms[1].set", "did you mean 'cooperativeness'", "keys allowed at [region]"]),
    ("magnitude = 0.6 }]", "magnitude = 0.6, strength = 2 }]",
     ["factors.shock.covid", "shocks[0].strength", "keys allowed"]),
    ('"market.volatility" = 0.3', '"market.volatilty" = 0.3',
     ["factors.shock.covid", "did you mean 'volatility'"]),
    ("n_firms = 40", "n_firms = 2",
     ["common: firms.count = 2 is not allowed", "greater than or equal to 3",
      "in design point arms[0] (plain)"]),
    ('"market.volatility" = 0.3', '"market.volatility" = 3.0',
     ["factors.shock.covid: market.volatility = 3.0 is not allowed",
      "arms[0] (plain)", "less than or equal to 1"]),
    ("start = 6, duration = 4", "start = 40, duration = 4",
     ["factors.shock.covid: shocks[0].start = 40 is not allowed", "steps = 30"]),
    ("replications = 3", 'replications = "3"',
     ["replications = '3' is not allowed", "integer"]),
    ("replications = 3", "replications = 0", ["replications = 0", "greater than or equal to 1"]),
    ("steps = 30", "steps = 5000", ["steps = 5000", "less than or equal to 1200"]),
    ("master_seed = 11", "master_seed = -1", ["master_seed = -1", "greater than or equal to 0"]),
    ('name = "grid"', 'name = "my grid!"', ["name = 'my grid!'", "letters, digits"]),
    ("steps = 30", 'steps = 30\nbaseline = "broker"',
     ["baseline = 'broker'", "must name an arm", "did you mean 'brokers'", "plain, brokers"]),
    ('name = "brokers"', 'name = "plain"', ["arms[1].name = 'plain'", "unique"]),
    ('network_mode = ["static", "dynamic"]', 'network_mode = ["static", "fluid"]',
     ["network_mode = 'fluid' is not allowed", "factors.network_mode", "'static' or 'dynamic'"]),
    ('network_mode = ["static", "dynamic"]', 'network_mode = ["static", "static"]',
     ["factors.network_mode[1]", "listed twice"]),
    ('network_mode = ["static", "dynamic"]', "network_mode = []",
     ["factors.network_mode = []", "at least one value"]),
    ('network_mode = ["static", "dynamic"]', 'speed = [1, 2]',
     ["factors.speed", "unknown key 'speed'", "named levels"]),
    ("n_firms = 40", "steps = 40", ["common.steps is not allowed", "top-level 'steps'"]),
    ("n_firms = 40", 'n_firms = 40\n"firms.count" = 50', ["common sets 'firms.count' twice"]),
    ("n_firms = 40", "n_firms = nan", ["common.n_firms = nan", "finite"]),
    ('network_mode = ["static", "dynamic"]', '"market.volatility" = [0.1, 0.2]',
     ["factors.shock.covid sets 'market.volatility'", "factor 'market.volatility' sets too"]),
    ("n_firms = 40", "n_firms = 1979-05-27", ["common.n_firms", "not a scenario value"]),
])
def test_bad_grid_files_name_file_key_and_what_is_allowed(
        tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    message = error_of(tmp_path, replace(GRID, old, new))
    for part in expected:
        assert part in message, (part, message)


def test_empty_arms_and_missing_fields(tmp_path: Path) -> None:
    no_arms = 'name = "x"\nmaster_seed = 1\nreplications = 1\nsteps = 1\narms = []\n'
    assert "arms = [] is not allowed" in error_of(tmp_path, no_arms)
    message = error_of(tmp_path, 'name = "x"\n')
    for key in ("master_seed is missing", "replications is missing", "steps is missing",
                "arms is missing"):
        assert key in message


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('method = "{method}"', 'method = "latin"',
     ["sampler.method = 'latin'", "'lhs', 'morris', 'sobol'"]),
    ("[0.05, 0.4]", "[0.4, 0.05]",
     ["sampler.parameters.market.volatility = [0.4, 0.05]", "low must be below high"]),
    ("[0.05, 0.4]", "[0.05, 0.4, 0.5]", ["sampler.parameters.market.volatility", "at most 2"]),
    ("[0.05, 0.4]", "[0.05, 1.4]",
     ["sampler.parameters.market.volatility = [0.05, 1.4]", "high end", "less than or equal to 1"]),
    ('"ties.gain"', '"ties.gian"', ["sampler.parameters", "did you mean 'gain'"]),
    ('"ties.gain" = [0.2, 0.8]', '"region.layout" = [0, 1]',
     ["sampler.parameters.region.layout", "not a number"]),
    ('"ties.gain" = [0.2, 0.8]', '"teams.split_phases" = [0, 1]',
     ["sampler.parameters.teams.split_phases", "not a number"]),
    ('"ties.gain" = [0.2, 0.8]', '"volatility" = [0.1, 0.2]', ["names 'market.volatility' twice"]),
    ("samples = {samples}", "samples = 0", ["sampler.samples = 0", "greater than or equal to 1"]),
    ("samples = {samples}", "sample = 3", ["unknown key 'sampler.sample'", "did you mean 'samples'"]),
])
def test_bad_sampler_files(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    text = replace(SAMPLED, old, new).replace("{method}", "lhs").replace("{samples}", "4")
    message = error_of(tmp_path, text)
    for part in expected:
        assert part in message, (part, message)


def test_sobol_needs_a_power_of_two_and_sampled_keys_are_not_factors(tmp_path: Path) -> None:
    text = SAMPLED.replace("{method}", "sobol").replace("{samples}", "12")
    assert "power of 2 (e.g. 8 or 16)" in error_of(tmp_path, text)
    text = SAMPLED.replace("{method}", "lhs").replace("{samples}", "4") + \
        '\n[factors]\n"ties.gain" = [0.3, 0.4]\n'
    assert "which the sampler varies too" in error_of(tmp_path, text)


def test_too_many_runs_is_refused(tmp_path: Path) -> None:
    text = SAMPLED.replace("{method}", "lhs").replace("{samples}", str(MAX_RUNS // 2 + 1))
    message = error_of(tmp_path, text)
    assert "too many" in message and "100,000" in message
    experiment = grid(tmp_path)
    with pytest.raises(ExperimentError, match="too many"):
        expand(experiment, replications=10_000)


def test_bad_cli_values_in_expand(tmp_path: Path) -> None:
    experiment = grid(tmp_path)
    with pytest.raises(ExperimentError, match=r"--set.*unknown key 'market.volatilty'"):
        expand(experiment, overrides={"market.volatilty": 0.3})
    with pytest.raises(ExperimentError, match=r"--set: market.volatility = 2 is not allowed"):
        expand(experiment, overrides={"market.volatility": 2})
    with pytest.raises(ExperimentError, match="--replications 0"):
        expand(experiment, replications=0)
    with pytest.raises(ExperimentError, match="--steps 5000"):
        expand(experiment, steps=5000)


def test_level_that_is_not_a_table_hints_at_quoting(tmp_path: Path) -> None:
    text = GRID.split("[factors]")[0] + "[factors.market]\ncalm = 0.05\n"
    message = error_of(tmp_path, text)
    assert "factors.market.calm = 0.05 is not allowed" in message
    assert "quote it" in message


# --------------------------------------------------------------------------- never anything else


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(
    st.sampled_from(["name", "master_seed", "replications", "steps", "record_every", "baseline",
                     "common", "arms", "factors", "sampler", "description", "junk"]),
    st.recursive(st.none() | st.booleans() | st.integers(-3, 2000) | st.floats(-1, 2)
                 | st.sampled_from(["baseline", "static", "x", "lhs", "market.volatility"]),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["name", "scenario", "set", "method",
                                                    "samples", "parameters", "n_firms",
                                                    "shocks", "a"]), inner, max_size=3),
                 max_leaves=8)))
def test_random_tables_load_or_raise_experiment_error(data: dict[str, Any]) -> None:
    data = {k: v for k, v in data.items() if v is not None}
    try:
        experiment = experiment_from_dict(data, source="<random>")
    except ExperimentError:
        return
    assert expand(experiment, replications=1)
