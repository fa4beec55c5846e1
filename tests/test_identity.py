"""A sweep's identity: default store names, the meta's record of a trial, what a rerun makes.

Fingerprints and the meta's other keys are tested with the experiment files of
tests/test_design.py; refusing a store of other runs, through the store, in tests/test_store.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clustersim.experiments.design import Experiment
from clustersim.experiments.identity import (
    Resume,
    ResumeCounts,
    default_store,
    fingerprint,
    store_meta,
    trial_changes,
)
from clustersim.experiments.spec import RunSpec


@pytest.fixture(scope="module")
def study() -> Experiment:
    return Experiment(
        name="study",
        master_seed=3,
        replications=2,
        steps=24,
        common={"firms.count": 40},
        arms=[{"name": "baseline", "scenario": "baseline"}],
    )


def test_the_study_itself_has_the_plain_store(study: Experiment) -> None:
    assert default_store(study) == Path("results/study.duckdb")
    assert default_store(study, steps=24) == Path("results/study.duckdb")  # the file's steps
    assert trial_changes(study, steps=24) == {}
    assert default_store(study, folder=Path("elsewhere")) == Path("elsewhere/study.duckdb")


def test_a_trial_is_named_by_what_it_changes_however_written(study: Experiment) -> None:
    trial = default_store(study, steps=12, overrides={"market.volatility": 0.3})
    assert trial.parent == Path("results") and trial.name.startswith("study-trial-")
    assert len(trial.stem.removeprefix("study-trial-")) == 8
    for overrides in ({"volatility": 0.3}, {"market": {"volatility": 0.3}},
                      {"market__volatility": 0.3}):
        assert default_store(study, steps=12, overrides=overrides) == trial
    others = {default_store(study, steps=12), default_store(study, steps=13,
                                                            overrides={"volatility": 0.3}),
              default_store(study, steps=12, overrides={"volatility": 0.31}), trial}
    assert len(others) == 4


def test_the_meta_records_the_trial(study: Experiment) -> None:
    meta = store_meta(study, steps=12, overrides={"volatility": 0.3})
    assert meta["steps"] == "12" and json.loads(meta["overrides"]) == {"market.volatility": 0.3}
    assert meta["fingerprint"] == fingerprint(study, steps=12, overrides={"volatility": 0.3})
    assert trial_changes(study, steps=12, overrides={"volatility": 0.3}) == {
        "steps": 12, "market.volatility": 0.3}


def spec(replication: int) -> RunSpec:
    return RunSpec(experiment="study", point=0, arm="baseline", label="baseline", levels={},
                   scenario="baseline", overrides={}, replication=replication,
                   seed=replication, steps=2, record_every=1)


def test_a_rerun_skips_done_runs_and_retries_failed_ones_only_when_asked() -> None:
    specs = [spec(r) for r in range(4)]
    done, failed = specs[0].run_id, specs[1].run_id
    resume = Resume(frozenset({done}), frozenset({failed}))
    assert resume.count([*specs, specs[3]]) == ResumeCounts(
        total=4, to_run=2, skipped=1, skipped_failed=1, retried=0)
    assert list(resume.pending([*specs, specs[3]])) == specs[2:]  # once each, in order
    retry = Resume(frozenset({done}), frozenset({failed}), retry_failed=True)
    assert retry.count(specs) == ResumeCounts(4, 3, 1, 0, 1)
    assert list(retry.pending(specs)) == specs[1:]
    assert Resume().count(specs).to_run == 4
