"""What one run of a sweep is, and what it gives back: the contract between the parts.

:mod:`~clustersim.experiments.design` turns an experiment file into a list of
:class:`RunSpec`; :func:`clustersim.experiments.execute.execute` turns one spec into a
:class:`RunResult` (never raising); the runner sends specs to a backend and hands the
results, as they finish, to the :mod:`~clustersim.experiments.store`.

A spec holds everything a run needs and nothing else, so any single run of a sweep can
be reproduced alone from its row in the store::

    ClusterModel(row.scenario, seed=row.seed, **json.loads(row.overrides)).run(row.steps)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

# Bump when the store's tables change shape; a store of another version is refused.
STORE_SCHEMA_VERSION = 1


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class RunSpec:
    """One model run of an experiment.

    ``point`` numbers the design point (an arm crossed with one level of every factor,
    or one sample of a sampler); ``label`` names it for people ("brokers | shock=covid").
    ``levels`` maps each factor name to the level this point takes (a sampler adds
    ``{"sample": i}``). ``overrides`` are dotted scenario keys → values, everything the
    point changes from its scenario file, already merged (common ones, the arm's, the
    factors', the sample's). ``seed`` comes from the experiment's master seed and the
    replication number only, so replication r of every point shares a seed (common
    random numbers: differences between arms are paired).
    """

    experiment: str
    point: int
    arm: str
    label: str
    levels: dict[str, Any]
    scenario: str
    overrides: dict[str, Any]
    replication: int
    seed: int
    steps: int
    record_every: int
    run_id: str = field(default="", compare=False)
    # per-run tables to keep (clustersim/run_tables.py); not part of the run's identity
    tables: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.run_id:
            object.__setattr__(self, "run_id", self.compute_run_id())

    def compute_run_id(self) -> str:
        """A stable key: experiment, design point content, replication, seed, steps."""
        key = canonical_json({
            "experiment": self.experiment, "arm": self.arm, "levels": self.levels,
            "scenario": self.scenario, "overrides": self.overrides,
            "replication": self.replication, "seed": self.seed, "steps": self.steps,
            "record_every": self.record_every,
        })
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    def to_row(self) -> dict[str, Any]:
        """The spec as a flat row (JSON text for the dict fields), as the store keeps it."""
        return {
            "run_id": self.run_id, "experiment": self.experiment, "point": self.point,
            "arm": self.arm, "label": self.label, "levels": canonical_json(self.levels),
            "scenario": self.scenario, "overrides": canonical_json(self.overrides),
            "replication": self.replication, "seed": self.seed, "steps": self.steps,
            "record_every": self.record_every,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunSpec:
        """The spec back from a row of the store's ``runs`` table."""
        return cls(
            experiment=row["experiment"], point=int(row["point"]), arm=row["arm"],
            label=row["label"], levels=json.loads(row["levels"]), scenario=row["scenario"],
            overrides=json.loads(row["overrides"]), replication=int(row["replication"]),
            seed=int(row["seed"]), steps=int(row["steps"]),
            record_every=int(row["record_every"]), run_id=row["run_id"],
        )


@dataclass
class RunResult:
    """What one run gives back. ``execute`` never raises: a failure is a result too.

    ``summary`` has one float per name in :data:`clustersim.outcomes.OUTCOMES` (NaN
    where it cannot be computed). ``timeseries`` has a ``step`` column and every
    :data:`clustersim.metrics.COLUMNS` column, one row every ``record_every`` months
    (month 0 and the last month always kept); None for a failed run.
    """

    run_id: str
    status: Literal["done", "failed"]
    summary: dict[str, float]
    timeseries: pd.DataFrame | None
    seconds: float
    started: float  # time.time() when the run began
    host: str
    versions: dict[str, str]
    error: str | None = None
    tables: dict[str, pd.DataFrame] | None = None  # the asked-for per-run tables, by name


class StoreError(Exception):
    """A results store that cannot be used: missing, corrupt, of another experiment.

    The message names the file and says what is wrong and what to do; the CLI prints
    it and exits with code 2, changing nothing in the store.
    """

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path


def first_line(error: BaseException | str | None) -> str:
    """The first line of an error or its text, for messages that must stay on one line
    (a DuckDB error, a run's traceback). An exception with no text gives its type's name."""
    lines = ("" if error is None else str(error)).strip().splitlines()
    if lines:
        return lines[0]
    return type(error).__name__ if isinstance(error, BaseException) else "(no error message)"


def schema_sql() -> list[str]:
    """The DuckDB tables of a results store (one statement each).

    - ``meta``: key → value text. Keys: ``schema_version``, ``experiment`` (name),
      ``fingerprint`` (hash of what fixes the runs' results: design, master seed, steps,
      record_every; not the number of replications, so more can be added later),
      ``experiment_toml`` (the file's text), ``baseline_arm``, ``factors`` (JSON: factor
      → list of level names, in file order), ``sampler`` (JSON or ``null``: method,
      names, bounds, num_levels, as SALib's analysers need), ``created_with`` (versions),
      ``steps``, ``record_every`` and ``overrides`` (JSON: the ``--set`` values); all built
      by :func:`clustersim.experiments.identity.store_meta`.
    - ``runs``: one row per finished run (done or failed); the RunSpec's fields plus
      status, error, timings, host, versions (JSON) and attempts.
    - ``summaries``: one row per done run, one DOUBLE column per outcome.
    - ``timeseries``: one row per done run and kept month, one DOUBLE per metric column.
    """
    from clustersim.metrics import COLUMNS
    from clustersim.outcomes import OUTCOMES

    outcome_cols = ", ".join(f'"{name}" DOUBLE' for name in OUTCOMES)
    metric_cols = ", ".join(f'"{name}" DOUBLE' for name in COLUMNS)
    return [
        "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
        """CREATE TABLE IF NOT EXISTS runs (
            run_id VARCHAR PRIMARY KEY, experiment VARCHAR NOT NULL, point INTEGER NOT NULL,
            arm VARCHAR NOT NULL, label VARCHAR NOT NULL, levels VARCHAR NOT NULL,
            scenario VARCHAR NOT NULL, overrides VARCHAR NOT NULL,
            replication INTEGER NOT NULL, seed BIGINT NOT NULL, steps INTEGER NOT NULL,
            record_every INTEGER NOT NULL, status VARCHAR NOT NULL, error VARCHAR,
            started TIMESTAMP, seconds DOUBLE, host VARCHAR, versions VARCHAR,
            attempts INTEGER NOT NULL DEFAULT 1)""",
        f"CREATE TABLE IF NOT EXISTS summaries (run_id VARCHAR PRIMARY KEY, {outcome_cols})",
        f"""CREATE TABLE IF NOT EXISTS timeseries (run_id VARCHAR NOT NULL, step INTEGER NOT NULL,
            {metric_cols}, PRIMARY KEY (run_id, step))""",
    ]
