"""Experiment files → run specs: arms, factors crossed as a grid, samplers, replications.

An experiment is one TOML file (``experiments/*.toml``; reference: ``docs/experiments.md``)
validated by the pydantic models below. It names **arms** (a scenario plus overrides),
**factors** crossed with the arms as a full grid, or a **sampler** (Latin hypercube,
Morris, Sobol: SALib) over parameter ranges, and how many **replications** of each
design point to run for how many **steps**.

:func:`load_experiment` reads and validates a file, down to every design point's
scenario: a bad file raises :class:`ExperimentError` (file, key, value, what is allowed)
before anything runs. :func:`expand` turns an experiment into
:class:`~clustersim.experiments.spec.RunSpec` objects, replication-major, with seeds
from the master seed and the replication number only (common random numbers).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import tomllib
import typing
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from clustersim.experiments.hypotheses import Hypothesis, hypothesis_problems
from clustersim.experiments.spec import RunSpec, canonical_json
from clustersim.scenario import (
    _LIST_TABLES,
    ALIASES,
    Scenario,
    ScenarioError,
    _section_model,
    canonical_key,
    describe_value,
    did_you_mean,
    join_problems,
    list_item_key,
    load_scenario,
    lookup,
    resolve_shipped,
    scenario_from_dict,
    shipped_files,
    shipped_folder,
    shipped_scenarios,
)

EXPERIMENT_SUFFIX = ".toml"

# More runs than this in one experiment is refused: a sweep that size belongs in
# several experiments (and stores), and a typo in `samples` should not start a week of work.
MAX_RUNS = 100_000

# Measured here (see docs/experiments.md, "How long will it take"): one core runs about
# FIRM_MONTHS_PER_SECOND firm-months per second (baseline, dynamic: 0.58 CPU s for 200 firms ×
# 132 months, 2.5 for 1,000), about as many at any size (benchmarks/bench_scale.py: 31,000-35,000
# firm-months per CPU s from 1,000 to 100,000 firms with two programmes), plus a fixed set-up per
# run. Each policy programme adds about POLICY_COST_SHARE (brokers 1.16x, hubs 1.28x, grants
# 1.0x the baseline's CPU s at 200 firms), and fixed networks cost STATIC_COST_FACTOR times as
# much (their leads are drawn from Python: 3.7 against 1.4 CPU s at 500 firms).
FIRM_MONTHS_PER_SECOND = 45_000.0
SETUP_SECONDS = 0.05
POLICY_COST_SHARE = 0.15
STATIC_COST_FACTOR = 2.7

# Keys an experiment cannot override per point: the experiment's own `steps` sets the
# months every run lasts (the scenario's `steps` would be ignored).
_RESERVED_OVERRIDES = {"steps": "set the experiment's top-level 'steps' instead"}

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class ExperimentError(ScenarioError):
    """An experiment file, or an override of one, that cannot be run; the message says why."""


# --------------------------------------------------------------------------- schema


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Arm(_Table):
    """One arm: a scenario (shipped name or path) and the overrides it sets on top."""

    name: str = Field(min_length=1, max_length=100, description="how results name this arm")
    scenario: str = Field(
        min_length=1,
        description="a shipped scenario's name, or a path (relative to the experiment file)")
    set: dict[str, Any] = Field(default_factory=dict,
                                description="scenario overrides for this arm: dotted key → value")

    @field_validator("set", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        return flatten_overrides(value) if isinstance(value, dict) else value


class Factor(_Table):
    """A factor crossed with the arms: named levels, each a set of scenario overrides.

    Written in TOML as a list of values for the scenario key that is its name
    (``network_mode = ["static", "dynamic"]``: ``key`` and ``values`` are then set and
    each level is named by its value's text), or as a table of named levels.
    """

    levels: dict[str, dict[str, Any]] = Field(
        min_length=1, description="level name → scenario overrides (dotted key → value)")
    key: str | None = Field(None, description="the scenario key of a list-of-values factor")
    values: list[Any] | None = Field(None, description="the values of a list-of-values factor")

    @field_validator("levels", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: flatten_overrides(table) if isinstance(table, dict) else table
                    for name, table in value.items()}
        return value


Bounds = Annotated[list[float], Field(min_length=2, max_length=2)]


class Sampler(_Table):
    """Samples of parameter ranges (SALib), each crossed with every arm (and factor level)."""

    method: Literal["lhs", "morris", "sobol"] = Field(
        description="lhs: Latin hypercube (N samples); morris: N trajectories of D+1 points; "
        "sobol: Saltelli's scheme, N × (2D+2) points (N × (D+2) without second order)")
    samples: int = Field(ge=1, le=MAX_RUNS, description="N: samples, trajectories or base samples")
    num_levels: int = Field(4, ge=2, le=1000, description="Morris: grid levels per parameter")
    second_order: bool = Field(True, description="Sobol: sample for second-order indices too")
    parameters: dict[str, Bounds] = Field(
        min_length=1, description="scenario key → [low, high]")

    @field_validator("parameters", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        return flatten_overrides(value) if isinstance(value, dict) else value

    @field_validator("parameters")
    @classmethod
    def _bounds(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        problems = []
        for key, (low, high) in value.items():
            if not (math.isfinite(low) and math.isfinite(high)):
                problems.append(f"sampler.parameters.{key} = [{low}, {high}] is not allowed: "
                                "bounds must be finite numbers")
            elif low >= high:
                problems.append(f"sampler.parameters.{key} = [{low}, {high}] is not allowed: "
                                "low must be below high")
        if problems:
            raise ValueError("\n".join(problems))
        return value

    @model_validator(mode="after")
    def _sobol_power_of_two(self) -> Sampler:
        n = self.samples
        if self.method == "sobol" and n & (n - 1):
            low = 1 << (n.bit_length() - 1)
            raise ValueError(f"sampler.samples = {n} is not allowed: Sobol sampling needs a power "
                             f"of 2 (e.g. {low} or {low * 2})")
        return self

    def names(self) -> list[str]:
        return list(self.parameters)


def fact_problems(facts: list[str]) -> list[str]:
    """What is wrong with an experiment's ``facts`` list (unknown ids or measures)."""
    from clustersim.facts import FACTS

    known = list(dict.fromkeys([f.id for f in FACTS] + [f.measure for f in FACTS]))
    return [f"facts[{i}] = {name!r} is not allowed: must be a stylised fact's id or measure"
            f"{did_you_mean(name, known)} ({', '.join(known)})"
            for i, name in enumerate(facts) if name not in known]


class Experiment(_Table):
    """One study: arms × factor levels (× samples) × replications, each run for ``steps`` months."""

    name: str = Field(min_length=1, max_length=100, pattern=_NAME_PATTERN,
                      description="names the study and its results store (letters, digits, _ . -)")
    description: str = ""
    master_seed: int = Field(ge=0, le=2**63 - 1, description="every run's seed derives from it")
    replications: int = Field(ge=1, le=10_000, description="runs of every design point")
    steps: int = Field(ge=1, le=1200, description="months every run lasts")
    record_every: int = Field(1, ge=1, le=1200,
                              description="keep every k-th month of the time series")
    baseline: str | None = Field(None, description="the arm differences are taken against "
                                 "(default: the first arm)")
    common: dict[str, Any] = Field(default_factory=dict,
                                   description="scenario overrides for every run")
    arms: list[Arm] = Field(min_length=1)
    factors: dict[str, Factor] = Field(default_factory=dict)
    sampler: Sampler | None = None
    hypotheses: list[Hypothesis] = Field(
        default_factory=list, description="what the design answers (docs/experiments.md)")
    tables: list[Literal["formal_networks", "grant_projects", "firms_end", "team_sizes"]] = Field(
        default_factory=list, description="per-run tables to keep in the store (docs/sweeps.md)")
    facts: list[str] = Field(
        default_factory=list, description="stylised facts a calibration ranks its samples by "
        "(ids such as F7 or measures; default: every fact all samples measure)")

    # Where the file was (relative scenario paths resolve against its folder) and its text.
    _source: str = PrivateAttr("<experiment>")
    _folder: Path | None = PrivateAttr(None)
    _text: str | None = PrivateAttr(None)
    # Designs and override sets (see _validation_key) every design point was checked with.
    _validated: set[str] = PrivateAttr(default_factory=set)

    @field_validator("common", mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        return flatten_overrides(value) if isinstance(value, dict) else value

    @field_validator("factors", mode="before")
    @classmethod
    def _factor_forms(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for name, raw in value.items():
            # `market.volatility = [...]` unquoted in TOML arrives as a nested table.
            if (isinstance(raw, dict) and raw and _is_section(name)
                    and all(isinstance(v, list) for v in raw.values())):
                for key, values in raw.items():
                    out[f"{name}.{key}"] = _factor_from_toml(f"{name}.{key}", values)
            else:
                out[name] = _factor_from_toml(name, raw)
        return out

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        problems = []
        names = [arm.name for arm in self.arms]
        for i, name in enumerate(names):
            if name in names[:i]:
                problems.append(f"arms[{i}].name = {name!r} is not allowed: arm names must be "
                                f"unique (arms[{names.index(name)}] has it too)")
        if self.baseline is None:
            self.baseline = names[0]
        elif self.baseline not in names:
            problems.append(f"baseline = {self.baseline!r} is not allowed: must name an arm"
                            f"{did_you_mean(self.baseline, names)} (arms: {', '.join(names)})")
        for name in self.factors:
            if name == "sample":
                problems.append("factors.sample is not allowed: 'sample' is reserved for the "
                                "sampler's sample number")
        problems += fact_problems(self.facts)
        problems += hypothesis_problems(self.hypotheses, names,
                                        {k: list(f.levels) for k, f in self.factors.items()})
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ------------------------------------------------------------------ derived

    @property
    def baseline_arm(self) -> str:
        """The arm differences are taken against (the first arm unless ``baseline`` says)."""
        return self.baseline or self.arms[0].name

    @property
    def source(self) -> str:
        """The experiment file as the user named it (``<experiment>`` when built in Python)."""
        return self._source

    def point_count(self) -> int:
        """Design points: arms × levels of every factor × samples."""
        count = len(self.arms)
        for factor in self.factors.values():
            count *= len(factor.levels)
        return count * (_sample_count(self.sampler) if self.sampler else 1)


def _factor_from_toml(name: str, raw: Any) -> Any:
    """A factor as written in TOML (a list of values, or named levels) → Factor fields."""
    if isinstance(raw, Factor):
        return raw
    if isinstance(raw, list):
        if not raw:
            raise ValueError(f"factors.{name} = [] is not allowed: a factor needs at least one value")
        levels: dict[str, dict[str, Any]] = {}
        for i, value in enumerate(raw):
            text = level_text(value)
            if text in levels:
                raise ValueError(f"factors.{name}[{i}] = {text} is not allowed: the value is "
                                 "listed twice")
            levels[text] = {name: value}
        return {"levels": levels, "key": name, "values": list(raw)}
    if isinstance(raw, dict):
        if not raw:
            raise ValueError(f"factors.{name} is empty: give a list of values for the scenario "
                             f"key '{name}', or named levels ([factors.{name}.LEVEL] tables)")
        for level, table in raw.items():
            if not isinstance(table, dict):
                hint = ""
                if _is_section(name):
                    hint = (f" (for the scenario key '{name}.{level}', quote it: "
                            f"\"{name}.{level}\" = [...])")
                raise ValueError(f"factors.{name}.{level} = {describe_value(table)} is not allowed: a "
                                 f"level must be a table of scenario overrides{hint}")
        return {"levels": raw}
    raise ValueError(f"factors.{name} = {describe_value(raw)} is not allowed: a factor is a list of "
                     "values or a table of named levels")


def level_text(value: Any) -> str:
    """A value-list factor's level name: the value's text (``0.05``, ``static``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return canonical_json(value)


def _is_section(key: str) -> bool:
    parts = ALIASES.get(key, key).replace("__", ".").split(".")
    return _section_model(parts) is not None


def flatten_overrides(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """TOML tables of scenario overrides → dotted keys.

    ``market = { volatility = 0.3 }``, ``market.volatility = 0.3`` and
    ``"market.volatility" = 0.3`` all give ``{"market.volatility": 0.3}``; a table only
    opens where the scenario has a table, so a value that is a table stays a value.
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and _is_section(dotted):
            out.update(flatten_overrides(value, dotted))
        else:
            out[dotted] = value
    return out


# --------------------------------------------------------------------------- loading


def shipped_experiments_dir() -> Path:
    """The folder of experiments shipped with clustersim (installed or source checkout)."""
    return shipped_folder("shipped_experiments", "experiments")


def shipped_experiments() -> dict[str, Path]:
    """Name → path of every shipped experiment file."""
    return shipped_files(shipped_experiments_dir(), EXPERIMENT_SUFFIX)


def resolve_experiment_path(spec: str | Path) -> Path:
    """A path as given, or the shipped experiment of that name (``policy_comparison``)."""
    return resolve_shipped(spec, shipped_experiments(), "experiments", ExperimentError)


def load_experiment(spec: str | Path) -> Experiment:
    """Read and validate the experiment at ``spec`` (a path or a shipped name).

    Every design point is checked by building its scenario, so a file that loads can
    run; anything wrong raises :class:`ExperimentError`.
    """
    path = resolve_experiment_path(spec)
    source = str(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ExperimentError(f"{source}: is a folder, not an experiment file",
                              source=source) from None
    except UnicodeDecodeError as exc:
        raise ExperimentError(f"{source}: not UTF-8 text ({exc.reason})", source=source) from None
    except OSError as exc:
        raise ExperimentError(f"{source}: cannot be read ({exc.strerror})", source=source) from None
    return parse_experiment(text, source=source, folder=path.resolve().parent,
                            default_name=path.stem)


def parse_experiment(text: str, *, source: str = "<experiment>", folder: Path | None = None,
                     default_name: str | None = None) -> Experiment:
    """Parse TOML text into a validated experiment (``folder``: where relative paths start)."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise ExperimentError(f"{source}: malformed TOML: {exc}", source=source) from None
    except RecursionError:
        raise ExperimentError(f"{source}: malformed TOML: nested too deeply",
                              source=source) from None
    if default_name is not None and "name" not in data and re.match(_NAME_PATTERN, default_name):
        data["name"] = default_name
    experiment = experiment_from_dict(data, source=source, folder=folder)
    experiment._text = text
    return experiment


def experiment_from_dict(data: dict[str, Any], *, source: str = "<experiment>",
                         folder: Path | None = None) -> Experiment:
    """Validate a nested dict (as read from TOML) into an experiment, design points included."""
    try:
        experiment = Experiment.model_validate(data, strict=True)
    except ValidationError as exc:
        raise _experiment_error(exc, source, data) from None
    except RecursionError:
        raise ExperimentError(f"{source}: tables or lists nested too deeply",
                              source=source) from None
    experiment._source = source
    experiment._folder = folder
    validate_design(experiment)
    return experiment


# --------------------------------------------------------------------------- design points


class _Point(typing.NamedTuple):
    arm: str
    scenario: str
    levels: dict[str, Any]
    label: str
    overrides: dict[str, Any]
    origins: dict[str, str]  # override key → where it was set (for error messages)
    where: str  # the arm and levels, as keys of the file


def validate_design(experiment: Experiment, overrides: dict[str, Any] | None = None) -> None:
    """Check every design point by building its scenario; raise ExperimentError if one fails.

    Scenarios are validated with the experiment's ``steps`` (so a shock or policy that
    starts after the last month is refused) and with ``overrides`` (the CLI's ``--set``).
    """
    points = _design_points(experiment, overrides)
    _check_size(experiment, experiment.replications, len(points))
    _check_sampler_bounds(experiment)
    bases: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for point in points:
        key = canonical_json([point.scenario, point.overrides])
        if key in seen:
            continue
        seen.add(key)
        base = bases.get(point.scenario)
        if base is None:
            base = bases[point.scenario] = base_scenario(point.scenario).model_dump()
        try:
            scenario_from_dict(base, source="", overrides={**point.overrides,
                                                           "steps": experiment.steps})
        except ScenarioError as exc:
            raise _point_error(experiment, point, exc) from None
    experiment._validated.add(_validation_key(experiment, overrides))


def _validation_key(experiment: Experiment, overrides: dict[str, Any] | None) -> str:
    """What a design check depends on: the design, where paths start, the overrides."""
    return canonical_json([experiment.model_dump(mode="json", exclude={"description"}),
                           str(experiment._folder), overrides or {}])


def _check_sampler_bounds(experiment: Experiment) -> None:
    """Each sampler range's ends must be values the scenario allows (the samples lie between)."""
    problem = salib_problem(experiment)
    if problem is None:
        return
    src = experiment.source
    for written, name, (low, high) in zip(experiment.sampler.parameters, problem["names"],
                                          problem["bounds"], strict=True):
        for i in range(len(experiment.arms)):
            base = base_scenario(_arm_scenario(experiment, i)).model_dump()
            for end, value in (("low", low), ("high", high)):
                if _number_kind(name) == "int":
                    value = math.floor(value + 0.5)
                try:
                    scenario_from_dict(base, source="", overrides={name: value})
                except ScenarioError as exc:
                    detail = str(exc).removeprefix(": ")
                    raise ExperimentError(
                        f"{src}: sampler.parameters.{written} = [{low:g}, {high:g}] is not "
                        f"allowed: its {end} end fails in arms[{i}] "
                        f"({experiment.arms[i].name}): {detail}",
                        source=src, key=f"sampler.parameters.{written}") from None


def _design_points(experiment: Experiment,
                   cli_overrides: dict[str, Any] | None = None) -> list[_Point]:
    """Arms × factor levels (file order, first factor slowest) × samples, overrides merged."""
    src = experiment.source
    common = canonical_overrides(experiment.common, src, "common")
    cli = canonical_overrides(cli_overrides or {}, src, "--set")
    factors = []
    for name, factor in experiment.factors.items():
        if factor.key is not None:  # a list of values for one scenario key
            canonical_overrides({factor.key: None}, src, f"factors.{name}",
                                hint="a list of values is for a scenario key; for other "
                                f"factors write named levels ([factors.{name}.LEVEL] tables)")
        levels = [(level, canonical_overrides(table, src, f"factors.{name}.{level}"))
                  for level, table in factor.levels.items()]
        factors.append((name, levels))
    set_by: dict[str, str] = {}  # key → the first factor that sets it
    for name, levels in factors:
        for level, values in levels:
            for key in values:
                other = set_by.setdefault(key, name)
                if other != name:
                    raise ExperimentError(
                        f"{src}: factors.{name}.{level} sets '{key}', which factor '{other}' "
                        "sets too: the later would hide the earlier; vary each key in one "
                        "factor only", source=src, key=f"factors.{name}.{level}")
    samples = sample_values(experiment)
    sampler_keys = set(samples[0]) if samples else set()
    for name, levels in factors:
        for level, values in levels:
            both = sampler_keys & set(values)
            if both:
                raise ExperimentError(
                    f"{src}: factors.{name}.{level} sets {', '.join(sorted(both))}, which the "
                    "sampler varies too: vary each key in one place only", source=src,
                    key=f"factors.{name}.{level}")
    points = []
    for i, arm in enumerate(experiment.arms):
        scenario = _arm_scenario(experiment, i)
        arm_set = canonical_overrides(arm.set, src, f"arms[{i}].set")
        for combo in itertools.product(*[levels for _, levels in factors]):
            merged, origins = {}, {}
            for where, values in [("common", common), (f"arms[{i}].set", arm_set),
                                  *[(f"factors.{name}.{level}", values)
                                    for (name, _), (level, values) in zip(factors, combo, strict=True)]]:
                merged.update(values)
                origins.update(dict.fromkeys(values, where))
            levels = {name: level for (name, _), (level, _) in zip(factors, combo, strict=True)}
            parts = [arm.name, *(f"{name}={level}" for name, level in levels.items())]
            where = " × ".join([f"arms[{i}] ({arm.name})",
                                *(f"factors.{n}.{lv}" for n, lv in levels.items())])
            for s, values in enumerate(samples or [None]):
                point_overrides, point_origins = dict(merged), dict(origins)
                point_levels, point_parts, point_where = dict(levels), list(parts), where
                if values is not None:
                    point_overrides.update(values)
                    point_origins.update(dict.fromkeys(values, f"sampler (sample {s})"))
                    point_levels["sample"] = s
                    point_parts.append(f"sample={s}")
                    point_where = f"{where} × sample {s}"
                point_overrides.update(cli)
                point_origins.update(dict.fromkeys(cli, "--set"))
                points.append(_Point(arm.name, scenario, point_levels, " | ".join(point_parts),
                                     point_overrides, point_origins, point_where))
    return points


def canonical_overrides(values: dict[str, Any], source: str, where: str,
                        hint: str = "") -> dict[str, Any]:
    """Overrides as written → canonical dotted keys, JSON-able values; errors name ``where``."""
    out: dict[str, Any] = {}
    written: dict[str, str] = {}
    for key, value in flatten_overrides(values).items():
        try:
            canonical = canonical_key(key, source=f"{source}: {where}")
        except ScenarioError as exc:
            raise ExperimentError(f"{exc}{'; ' + hint if hint else ''}", source=source,
                                  key=f"{where}.{key}") from None
        if canonical in _RESERVED_OVERRIDES:
            raise ExperimentError(f"{source}: {where}.{key} is not allowed: "
                                  f"{_RESERVED_OVERRIDES[canonical]}", source=source,
                                  key=f"{where}.{key}")
        if canonical in out:
            raise ExperimentError(f"{source}: {where} sets '{canonical}' twice (as "
                                  f"'{written[canonical]}' and as '{key}')", source=source,
                                  key=f"{where}.{key}")
        problem = _json_problem(value)
        if problem:
            raise ExperimentError(f"{source}: {where}.{key} = {describe_value(value)} is not allowed: "
                                  f"{problem}", source=source, key=f"{where}.{key}")
        out[canonical] = value
        written[canonical] = key
    return out


def _json_problem(value: Any) -> str | None:
    """Why a value cannot be stored as JSON in a run's row (None if it can)."""
    if isinstance(value, bool | int | str) or value is None:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite"
    if isinstance(value, list):
        return next((p for p in map(_json_problem, value) if p), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "table keys must be text"
        return next((p for p in map(_json_problem, value.values()) if p), None)
    return f"a {type(value).__name__} is not a scenario value (numbers, text, true/false, " \
           "lists and tables only)"


def _arm_scenario(experiment: Experiment, index: int) -> str:
    """The arm's scenario as a RunSpec names it: a shipped name, or an absolute path."""
    arm = experiment.arms[index]
    src = experiment.source
    text = arm.scenario
    shipped = shipped_scenarios()
    looks_like_path = "/" in text or "\\" in text or text.endswith(".toml")
    if not looks_like_path:
        if text in shipped:
            return text
        raise ExperimentError(
            f"{src}: arms[{index}].scenario = {text!r} is not allowed: not a shipped scenario"
            f"{did_you_mean(text, list(shipped))}; give a shipped name ({', '.join(shipped)}) "
            "or a path to a .toml file", source=src, key=f"arms[{index}].scenario")
    folder = experiment._folder if experiment._folder is not None else Path.cwd()
    path = Path(text).expanduser()
    path = (path if path.is_absolute() else folder / path).resolve()
    if not path.is_file():
        raise ExperimentError(
            f"{src}: arms[{index}].scenario = {text!r} is not allowed: no file {path} "
            f"(relative paths start at the experiment file's folder, {folder})",
            source=src, key=f"arms[{index}].scenario")
    return str(path)


@lru_cache(maxsize=256)
def _base_scenario_cached(scenario: str, mtime: float) -> Scenario:
    return load_scenario(scenario)


def base_scenario(scenario: str) -> Scenario:
    """The scenario a RunSpec names, without overrides (cached while the file is unchanged)."""
    path = Path(scenario)
    try:
        mtime = path.stat().st_mtime if path.is_absolute() else 0.0
    except OSError:
        mtime = -1.0
    return _base_scenario_cached(scenario, mtime)


def _point_error(experiment: Experiment, point: _Point, exc: ScenarioError) -> ExperimentError:
    """A scenario's complaint about a design point, told in the experiment's terms.

    The message starts with the place in the file that set the offending key (``common``,
    ``arms[1].set``, ``factors.shock.covid``, ``--set``), when one did, and ends with
    the design point and its scenario.
    """
    src = experiment.source
    detail = str(exc).removeprefix(": ")
    # The key pydantic names, or (for checks across fields) the keys the lines start with.
    keys = [exc.key or "", *re.findall(r"(?:^|\n  - )([A-Za-z_][\w.\[\]]*) = ", detail)]
    origin = None
    for named in keys:
        key = named
        while key and origin is None:
            origin = point.origins.get(key)
            key = re.sub(r"(\[\d+\]|\.[^.\[]*)$", "", key) if re.search(r"[.\[]", key) else ""
        if origin:
            break
    context = f"design point {point.where}, scenario {point.scenario}"
    if origin:
        return ExperimentError(f"{src}: {origin}: {detail} (in {context})", source=src,
                               key=f"{origin}.{named}")
    return ExperimentError(f"{src}: {context}: {detail}", source=src, key=exc.key)


def _check_size(experiment: Experiment, replications: int, points: int) -> None:
    runs = points * replications
    if runs > MAX_RUNS:
        raise ExperimentError(
            f"{experiment.source}: {points:,} design points × {replications:,} replications = "
            f"{runs:,} runs is too many: at most {MAX_RUNS:,} runs in one experiment; use fewer "
            "replications, levels or samples, or split the study into several experiments",
            source=experiment.source, key="replications")


# --------------------------------------------------------------------------- samplers


def _sample_count(sampler: Sampler) -> int:
    d = len(sampler.parameters)
    if sampler.method == "morris":
        return sampler.samples * (d + 1)
    if sampler.method == "sobol":
        return sampler.samples * (2 * d + 2 if sampler.second_order else d + 2)
    return sampler.samples


def salib_problem(experiment: Experiment) -> dict[str, Any] | None:
    """The SALib problem dict of the experiment's sampler (None without a sampler)."""
    sampler = experiment.sampler
    if sampler is None:
        return None
    names = [_sampler_key(experiment, key) for key in sampler.parameters]
    for i, name in enumerate(names):
        if name in names[:i]:
            written = list(sampler.parameters)
            raise ExperimentError(
                f"{experiment.source}: sampler.parameters names '{name}' twice (as "
                f"'{written[names.index(name)]}' and as '{written[i]}')",
                source=experiment.source, key=f"sampler.parameters.{written[i]}")
    return {"num_vars": len(names), "names": names,
            "bounds": [[float(lo), float(hi)] for lo, hi in sampler.parameters.values()]}


def _sampler_key(experiment: Experiment, key: str) -> str:
    src = experiment.source
    try:
        canonical = canonical_key(key, source=f"{src}: sampler.parameters")
    except ScenarioError as exc:
        raise ExperimentError(str(exc), source=src, key=f"sampler.parameters.{key}") from None
    if _number_kind(canonical) is None:
        raise ExperimentError(
            f"{src}: sampler.parameters.{key} is not allowed: a sampler varies numbers, and "
            f"'{canonical}' is not a number (use a factor for it)", source=src,
            key=f"sampler.parameters.{key}")
    return canonical


def _number_kind(key: str) -> Literal["int", "float"] | None:
    """Whether a scenario key holds an integer, a float, or neither (for ``policies[0].x``:
    what the field is in the table types that have it)."""
    item = list_item_key(key)
    if item is not None:
        table, _index, field = item
        models = [m for m in _LIST_TABLES[table].values() if field in m.model_fields]
    else:
        parts = key.split(".")
        field = parts[-1]
        model = _section_model(parts[:-1])
        models = [model] if model is not None and field in model.model_fields else []
    kinds: set[Any] = set()
    for model in models:
        annotation = model.model_fields[field].annotation
        kinds |= {annotation} if isinstance(annotation, type) else set(typing.get_args(annotation))
    if bool in kinds:
        return None
    if float in kinds:
        return "float"
    return "int" if int in kinds else None


def sample_matrix(experiment: Experiment) -> np.ndarray | None:
    """The sampler's matrix (one row per sample, one column per parameter), unrounded.

    Seeded from the master seed, so the same file always gives the same samples; this
    is the ``X`` SALib's analysers take.
    """
    sampler = experiment.sampler
    if sampler is None:
        return None
    problem = salib_problem(experiment)
    assert problem is not None
    key = (canonical_json(problem), sampler.method, sampler.samples, sampler.num_levels,
           sampler.second_order, experiment.master_seed)
    return _sample_matrix_cached(key).copy()


@lru_cache(maxsize=32)
def _sample_matrix_cached(key: tuple[Any, ...]) -> np.ndarray:
    import warnings

    from SALib.sample import latin, morris, sobol

    problem_json, method, n, num_levels, second_order, seed = key
    problem = json.loads(problem_json)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib's notes on sample sizes; ours are checked
        if method == "lhs":
            matrix = latin.sample(problem, n, seed=seed)
        elif method == "morris":
            matrix = morris.sample(problem, n, num_levels=num_levels, seed=seed)
        else:
            matrix = sobol.sample(problem, n, calc_second_order=second_order, seed=seed)
    return np.asarray(matrix, dtype=float)


def sample_values(experiment: Experiment) -> list[dict[str, Any]]:
    """One dict of overrides per sample (integer scenario fields rounded); [] without a sampler."""
    matrix = sample_matrix(experiment)
    if matrix is None:
        return []
    problem = salib_problem(experiment)
    assert problem is not None
    names = problem["names"]
    integer = [_number_kind(name) == "int" for name in names]
    # Decimals to 12 significant digits: 0.6, not SALib's 0.6000000000000001.
    return [{name: (math.floor(x + 0.5) if is_int else float(f"{x:.12g}"))
             for name, x, is_int in zip(names, row, integer, strict=True)}
            for row in matrix.tolist()]


# --------------------------------------------------------------------------- expansion


def seed_for(master_seed: int, replication: int) -> int:
    """Replication ``replication``'s seed: the same for every design point, < 2**63."""
    state = np.random.SeedSequence(master_seed, spawn_key=(replication,)).generate_state(
        1, np.uint64)
    return int(state[0] >> np.uint64(1))


def expand(experiment: Experiment, *, replications: int | None = None, steps: int | None = None,
           overrides: dict[str, Any] | None = None) -> list[RunSpec]:
    """Every run of the experiment, replication-major (all points of replication 0 first).

    ``replications``, ``steps`` and ``overrides`` (dotted keys, as ``--set`` gives them)
    replace or add to the file's, e.g. for a quick trial of a big study. The overrides
    are checked against every design point's scenario.
    """
    reps = _checked(experiment, "replications", replications, 1, 10_000)
    months = _checked(experiment, "steps", steps, 1, 1200)
    if _validation_key(experiment, overrides) not in experiment._validated:
        validate_design(experiment, overrides)
    points = _design_points(experiment, overrides)
    _check_size(experiment, reps, len(points))
    specs = []
    for replication in range(reps):
        seed = seed_for(experiment.master_seed, replication)
        for index, point in enumerate(points):
            specs.append(RunSpec(
                experiment=experiment.name, point=index, arm=point.arm, label=point.label,
                levels=point.levels, scenario=point.scenario, overrides=point.overrides,
                replication=replication, seed=seed, steps=months,
                record_every=experiment.record_every, tables=tuple(experiment.tables)))
    return specs


def _checked(experiment: Experiment, name: str, value: int | None, low: int, high: int) -> int:
    if value is None:
        return int(getattr(experiment, name))
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ExperimentError(f"--{name} {value!r} is not allowed: a whole number from {low} to "
                              f"{high:,}", source=experiment.source, key=name)
    return value


def estimate_seconds(spec: RunSpec) -> float:
    """Rough single-core seconds for one run (for ``--dry-run``): set-up plus firm-months."""
    base = base_scenario(spec.scenario)
    firms = spec.overrides.get("firms.count", base.firms.count)
    spin_up = spec.overrides.get("spin_up", base.spin_up)
    policies = spec.overrides.get("policies", base.policies)
    programmes = len(policies) if isinstance(policies, list) else 0
    mode = spec.overrides.get("network_mode", base.network_mode)
    size = float(firms)
    per_firm_month = 1.0 / FIRM_MONTHS_PER_SECOND
    if mode == "static":
        per_firm_month *= STATIC_COST_FACTOR
    work = size * (spec.steps + float(spin_up)) * per_firm_month
    return SETUP_SECONDS + work * (1.0 + POLICY_COST_SHARE * programmes)


# --------------------------------------------------------------------------- writing


def experiment_to_toml(experiment: Experiment) -> str:
    """Write an experiment as TOML text that loads back to the same experiment."""
    lines = [f"name = {_toml(experiment.name)}"]
    if experiment.description:
        lines.append(f"description = {_toml(experiment.description)}")
    for key in ("master_seed", "replications", "steps", "record_every", "baseline"):
        lines.append(f"{key} = {_toml(getattr(experiment, key))}")
    if experiment.common:
        lines += ["", "[common]", *(f"{_toml(k)} = {_toml(v)}" for k, v in experiment.common.items())]
    for arm in experiment.arms:
        lines += ["", "[[arms]]", f"name = {_toml(arm.name)}", f"scenario = {_toml(arm.scenario)}"]
        if arm.set:
            lines.append(f"set = {_toml(arm.set)}")
    listed = {n: f for n, f in experiment.factors.items() if f.values is not None}
    if experiment.factors:
        lines += ["", "[factors]"]
    for name, factor in experiment.factors.items():
        if name in listed:
            lines.append(f"{_toml(name)} = {_toml(factor.values)}")
        else:
            lines.append(f"{_toml(name)} = {_toml(factor.levels)}")
    sampler = experiment.sampler
    if sampler is not None:
        lines += ["", "[sampler]", f"method = {_toml(sampler.method)}",
                  f"samples = {sampler.samples}", f"num_levels = {sampler.num_levels}",
                  f"second_order = {_toml(sampler.second_order)}", "", "[sampler.parameters]",
                  *(f"{_toml(k)} = {_toml(list(v))}" for k, v in sampler.parameters.items())]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    from clustersim.scenario import _toml_value

    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return _toml_value(value)


# --------------------------------------------------------------------------- errors


_MODELS: dict[str, type[BaseModel]] = {"arms": Arm, "sampler": Sampler}


def _allowed_at(loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """Where an unknown key sits, and the keys allowed there."""
    if len(loc) == 1:
        return "the top level", list(Experiment.model_fields)
    head = str(loc[0])
    if head in _MODELS:
        where = "[[arms]]" if head == "arms" else "[sampler]"
        return where, list(_MODELS[head].model_fields)
    return "here", []


def _key_text(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) and parts:
            parts[-1] = f"{parts[-1]}[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def _experiment_error(exc: ValidationError, source: str, data: Any) -> ExperimentError:
    lines: list[str] = []
    first_key = None
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        kind = err.get("type", "")
        message = err.get("msg", "invalid").removeprefix("Value error, ")
        # Dict and tuple fields add positions that are no keys of the file.
        loc = tuple(p for p in loc if p not in ("[key]",))
        key = _key_text(loc) or "(top level)"
        first_key = first_key or key
        if kind == "extra_forbidden":
            where, allowed = _allowed_at(loc)
            lines.append(f"unknown key '{key}'{did_you_mean(str(loc[-1]), allowed)}; keys "
                         f"allowed at {where}: {', '.join(allowed)}")
            continue
        if kind == "value_error" and (not loc or loc[0] in ("factors",) or
                                      (loc and loc[0] == "sampler" and len(loc) <= 2)):
            own = message.split("\n")  # our own checks: each line names its key
            lines.extend(own)
            match = re.match(r"([\w.\[\]]+)( = |: | is )", own[0])
            if match and first_key in (key, None):
                first_key = match.group(1)
            continue
        if kind == "string_pattern_mismatch":
            found, value = lookup(data, loc)
            lines.append(f"{key} = {describe_value(value)} is not allowed: letters, digits, '_', '.' "
                         "and '-' only, starting with a letter or digit (it names files)")
            continue
        if kind == "missing":
            lines.append(f"{key} is missing: {_field_help(loc)}")
            continue
        if kind == "literal_error" and loc and loc[-1] == "method":
            found, value = lookup(data, loc)
            lines.append(f"{key} = {describe_value(value)} is not allowed: expected one of 'lhs', "
                         f"'morris', 'sobol'{did_you_mean(str(value), ['lhs', 'morris', 'sobol'])}")
            continue
        found, value = lookup(data, loc)
        if found:
            lines.append(f"{key} = {describe_value(value)} is not allowed: {message}")
        else:
            lines.append(f"{key}: {message}")
    return ExperimentError(join_problems(source, lines), source=source, key=first_key)


def _field_help(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Experiment
    if loc and str(loc[0]) in _MODELS and len(loc) > 1:
        model = _MODELS[str(loc[0])]
    info = model.model_fields.get(str(loc[-1]))
    if info is not None and info.description:
        return f"required ({info.description})"
    return "required"
