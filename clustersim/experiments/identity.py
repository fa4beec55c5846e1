"""A sweep's identity: what its results store holds, where it is, and what a rerun makes.

A **sweep** is an experiment with this call's changes: ``steps`` and ``overrides`` (the
CLI's ``--steps`` and ``--set``; ``--replications`` only adds runs to the same design).
This module is the one place that says

- what a store of the sweep records besides its runs: :func:`store_meta`, with the
  :func:`fingerprint` of everything that fixes the runs' results;
- which store it goes to unless told: :func:`default_store`, ``results/<experiment>.duckdb``
  for the study as its file describes it, ``results/<experiment>-trial-<hash>.duckdb`` for a
  trial with other steps or ``--set`` values (:func:`trial_changes`, also in the meta);
- whether an existing store belongs to the sweep: :func:`check_same_sweep`, whose refusal
  names what differs (:data:`EXPLAINING_KEYS`);
- what a rerun makes: :class:`Resume` (runs stored as done are skipped, runs stored as
  failed are rerun only when asked).

The store (:mod:`.store`), the runner (:mod:`.runner`) and
:func:`~clustersim.experiments.sweep.run_experiment` use it; nothing else builds a
store's meta.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from clustersim.experiments.design import (
    Experiment,
    base_scenario,
    canonical_overrides,
    expand,
    experiment_to_toml,
    salib_problem,
    sample_matrix,
)
from clustersim.experiments.execute import versions
from clustersim.experiments.spec import RunSpec, StoreError, canonical_json

DEFAULT_RESULTS_ROOT = Path("results")
STORE_SUFFIX = ".duckdb"

# Meta keys that say how the runs were made. A store whose fingerprint differs from the
# sweep's is explained by those of these that differ, in this order (the experiment file's
# text last: its first changed line is the least precise reason).
EXPLAINING_KEYS = (
    "steps",
    "record_every",
    "overrides",
    "baseline_arm",
    "factors",
    "sampler",
    "experiment_toml",
)


# ---------------------------------------------------------------------- what a store holds


def fingerprint(
    experiment: Experiment, *, steps: int | None = None, overrides: Mapping[str, Any] | None = None
) -> str:
    """A hash of everything that fixes the runs' results.

    The design points (arms, levels, scenarios and their content, merged overrides),
    the master seed, steps and record_every; not the number of replications (a store
    can be extended with more later), not the description nor the baseline arm.
    """
    specs = expand(experiment, replications=1, steps=steps, overrides=_dict(overrides))
    scenarios = {}
    for spec in specs:
        if spec.scenario not in scenarios:
            content = base_scenario(spec.scenario).model_dump(mode="json")
            for key in ("name", "description", "steps"):  # runs last the experiment's steps
                content.pop(key, None)
            content["outputs"].pop("firm_table_steps", None)
            content["outputs"].pop("network_snapshot_steps", None)
            scenarios[spec.scenario] = content
    payload = canonical_json(
        {
            "experiment": experiment.name,
            "master_seed": experiment.master_seed,
            "steps": specs[0].steps,
            "record_every": experiment.record_every,
            "points": [
                {"arm": s.arm, "levels": s.levels, "scenario": s.scenario, "overrides": s.overrides}
                for s in specs
            ],
            "scenarios": scenarios,
        }
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def store_meta(
    experiment: Experiment, *, steps: int | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The results store's ``meta`` rows (all but ``schema_version``, which the store sets).

    ``experiment``, ``fingerprint``, ``experiment_toml`` (the file's text), ``baseline_arm``,
    ``factors`` and ``sampler`` (JSON, what the analysis needs), ``created_with`` (versions),
    and how the runs were made: ``steps``, ``record_every`` and ``overrides`` (the ``--set``
    values, JSON), which also let a refusal say in words what differs.
    """
    sampler = None
    if experiment.sampler is not None:
        problem = salib_problem(experiment)
        matrix = sample_matrix(experiment)
        assert problem is not None and matrix is not None
        sampler = {
            "method": experiment.sampler.method,
            "names": problem["names"],
            "bounds": problem["bounds"],
            "num_levels": experiment.sampler.num_levels,
            "samples": experiment.sampler.samples,
            "calc_second_order": experiment.sampler.second_order,
            "matrix": matrix.tolist(),
        }
    return {
        "experiment": experiment.name,
        "fingerprint": fingerprint(experiment, steps=steps, overrides=overrides),
        "experiment_toml": experiment._text
        if experiment._text is not None
        else experiment_to_toml(experiment),
        "baseline_arm": experiment.baseline_arm,
        "factors": canonical_json({name: list(f.levels) for name, f in experiment.factors.items()}),
        "sampler": canonical_json(sampler) if sampler is not None else "null",
        "created_with": canonical_json(_created_with()),
        "steps": str(steps if steps is not None else experiment.steps),
        "record_every": str(experiment.record_every),
        "overrides": canonical_json(_canonical(experiment, overrides)),
    }


def _created_with() -> dict[str, str]:
    """The versions a store's runs were made with (SALib's too, when installed as a package)."""
    created = dict(versions())
    with contextlib.suppress(PackageNotFoundError):
        created["SALib"] = version("SALib")
    return created


# ---------------------------------------------------------------------- which store


def trial_changes(
    experiment: Experiment, *, steps: int | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What the sweep changes from its experiment file, which makes it a trial with a store
    of its own: ``steps`` other than the file's and the ``--set`` values (canonical keys).
    ``{}`` for the study as the file describes it."""
    changes: dict[str, Any] = {}
    if steps is not None and steps != experiment.steps:
        changes["steps"] = steps
    changes.update(_canonical(experiment, overrides))
    return changes


def default_store(
    experiment: Experiment,
    *,
    steps: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    folder: Path = DEFAULT_RESULTS_ROOT,
) -> Path:
    """``results/<experiment>.duckdb``, or for a trial ``results/<experiment>-trial-<hash>.duckdb``.

    The hash is of :func:`trial_changes`, so the same trial always finds its store again
    and never blocks the study's; the changes themselves are in the store's meta
    (``steps``, ``overrides``) and printed by the CLI.
    """
    changes = trial_changes(experiment, steps=steps, overrides=overrides)
    if not changes:
        return folder / f"{experiment.name}{STORE_SUFFIX}"
    digest = hashlib.sha256(canonical_json(changes).encode()).hexdigest()[:8]
    return folder / f"{experiment.name}-trial-{digest}{STORE_SUFFIX}"


def _canonical(experiment: Experiment, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return canonical_overrides(_dict(overrides), experiment.source, "--set")


def _dict(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(overrides) if overrides else {}


# ---------------------------------------------------------------------- does a store belong


def check_same_sweep(path: Path, stored: dict[str, str], meta: dict[str, str]) -> None:
    """StoreError unless the ``stored`` meta describes the same experiment and runs as ``meta``.

    Same experiment name and fingerprint; more replications are fine (the fingerprint
    leaves them out). The refusal names the file, what differs and what to do.
    """
    other = f"Use another file for this sweep (--store OTHER.duckdb), or delete {path}."
    if stored.get("experiment") != meta["experiment"]:
        raise StoreError(
            f"results store {path}: written by experiment {stored.get('experiment')!r}, "
            f"not {meta['experiment']!r}. {other}",
            str(path),
        )
    if stored.get("fingerprint") == meta["fingerprint"]:
        return
    reasons = []
    for key in EXPLAINING_KEYS:
        if key in stored and key in meta and stored[key] != meta[key]:
            if key == "experiment_toml":
                reasons.append(
                    f"the experiment file differs ({_text_change(stored[key], meta[key])})"
                )
            else:
                reasons.append(
                    f"written with {key}={_short(stored[key])}; this sweep has "
                    f"{key}={_short(meta[key])}"
                )
    if not reasons:
        reasons.append(
            "the experiment's design, seed or steps differ (fingerprint "
            f"{stored.get('fingerprint')} vs {meta['fingerprint']})"
        )
    raise StoreError(
        f"results store {path}: holds other runs of {meta['experiment']!r}: "
        f"{'; '.join(reasons)}. {other}",
        str(path),
    )


def _text_change(old: str, new: str) -> str:
    """The first changed line of a text, as 'line N: OLD → NEW'."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            before = old_lines[i1].strip() if i1 < i2 else "(nothing)"
            after = new_lines[j1].strip() if j1 < j2 else "(nothing)"
            return f"stored line {i1 + 1}: {_short(before)} → now {_short(after)}"
    return "whitespace only"


def _short(text: str, limit: int = 80) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------------- what a rerun makes


class StoredRuns(Protocol):
    """What :class:`Resume` reads of a store: the ids of its done and failed runs."""

    def finished_ids(self) -> set[str]: ...

    def failed_ids(self) -> set[str]: ...


class ResumeCounts(NamedTuple):
    """How a sweep's distinct runs split between this sweep and earlier ones."""

    total: int  # distinct runs in the design
    to_run: int  # runs this sweep makes
    skipped: int  # stored as done: not made again
    skipped_failed: int  # stored as failed and not retried
    retried: int  # stored as failed and made again (retry_failed)


@dataclass(frozen=True)
class Resume:
    """What a rerun of a sweep makes, given the runs its store holds.

    A run stored as done is skipped; a run stored as failed is made again only with
    ``retry_failed``; every other run is made, once however often the specs list it.
    """

    done: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    retry_failed: bool = False

    @classmethod
    def of(cls, store: StoredRuns, retry_failed: bool = False) -> Resume:
        """The rerun of the sweep whose runs ``store`` holds."""
        return cls(frozenset(store.finished_ids()), frozenset(store.failed_ids()), retry_failed)

    def wanted(self, run_id: str) -> bool:
        """Whether this sweep makes the run ``run_id``."""
        return run_id not in self.done and (self.retry_failed or run_id not in self.failed)

    def pending(self, specs: Iterable[RunSpec]) -> Iterator[RunSpec]:
        """The runs to make, in the specs' order, each once; lazily (a backend pulls them)."""
        sent: set[str] = set()
        for spec in specs:
            if spec.run_id not in sent and self.wanted(spec.run_id):
                sent.add(spec.run_id)
                yield spec

    def count(self, specs: Iterable[RunSpec]) -> ResumeCounts:
        """How many distinct runs the specs hold, and what becomes of them."""
        seen: set[str] = set()
        skipped = skipped_failed = retried = 0
        for spec in specs:
            if spec.run_id in seen:
                continue
            seen.add(spec.run_id)
            if spec.run_id in self.done:
                skipped += 1
            elif spec.run_id in self.failed:
                if self.retry_failed:
                    retried += 1
                else:
                    skipped_failed += 1
        to_run = len(seen) - skipped - skipped_failed
        return ResumeCounts(len(seen), to_run, skipped, skipped_failed, retried)
