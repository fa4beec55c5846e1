"""Calibration against the stylised facts: rank a sampled design by its distance to them.

A calibration is a sweep whose experiment file samples the free parameters (``[sampler]``
with ``method = "lhs"``, docs/experiments.md) with a few replications per sample. Every run
keeps the fact measures (:mod:`clustersim.facts`), so afterwards each sample gets the mean of
each measure over its replications and a distance to the facts' target ranges:

    distance = √( mean over facts f of (gap_f / scale_f)² )

where ``gap_f`` is how far the mean lies outside fact f's range (0 inside it) and ``scale_f``
the width of the range (1 for a one-sided range such as "≥ 1"). A distance of 0 means every
fact's mean lies in its range; 0.5 means the means miss by half a range width on average.
Only the facts every sample measures are used, so the distances compare like with like.

:func:`refine_experiment` writes the local refinement: the same file with each parameter's
range shrunk around the best sample (and a new seed), to be swept and ranked in turn.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clustersim.experiments.design import _number_kind
from clustersim.facts import FACTS, Fact

if TYPE_CHECKING:
    from clustersim.experiments.analysis import Results


class CalibrationError(ValueError):
    """A store that cannot be ranked (no sampler, no fact measured); the message says why."""


def fact_gap(fact: Fact, value: float) -> float:
    """How far ``value`` lies outside the fact's range, in widths of the range (0 inside)."""
    if not math.isfinite(value):
        return math.nan
    gap = max(fact.low - value, 0.0, value - fact.high)
    if math.isfinite(fact.high) and fact.high > fact.low:
        return gap / (fact.high - fact.low)
    return gap


def _off_centre(fact: Fact, value: float) -> float:
    """How far ``value`` lies from the middle of a two-sided range, in range widths (0 for a
    one-sided range): breaks ties between samples that put every fact in range."""
    if not (math.isfinite(value) and math.isfinite(fact.high) and fact.high > fact.low):
        return 0.0
    return abs(value - (fact.low + fact.high) / 2) / (fact.high - fact.low)


def distance(gaps: Sequence[float]) -> float:
    """Root mean square of the gaps (NaN when there is none)."""
    values = [g for g in gaps if math.isfinite(g)]
    return math.sqrt(sum(g * g for g in values) / len(values)) if values else math.nan


def _facts_measured(summaries: pd.DataFrame, wanted: Sequence[str] | None) -> list[Fact]:
    """The facts to use: those asked for (by id or measure) that every sample measures."""
    chosen = [f for f in FACTS if wanted is None or f.id in wanted or f.measure in wanted]
    if wanted is not None:
        known = {f.id for f in FACTS} | {f.measure for f in FACTS}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise CalibrationError(f"unknown fact(s) {', '.join(unknown)}: choose from "
                                   f"{', '.join(sorted({f.id for f in FACTS}))}")
    by_point = summaries.groupby("point")
    usable = []
    for fact in chosen:
        if fact.measure in summaries.columns and by_point[fact.measure].apply(
                lambda s: s.notna().any()).all():
            usable.append(fact)
    return usable


def experiment_facts(results: Results) -> list[str] | None:
    """The facts the store's experiment file names (``facts = [...]``), or None."""
    text = results.meta.get("experiment_toml")
    if not text:
        return None
    try:
        named = tomllib.loads(text).get("facts")
    except tomllib.TOMLDecodeError:
        return None
    return list(named) if named else None


def calibration_table(results: Results, facts: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per sample (per arm and factor level): parameter values, runs, each fact's mean
    over the replications, its gap, and the distance; sorted best first."""
    from clustersim.experiments.analysis import _sample_design

    design = _sample_design(results)
    if design is None:
        raise CalibrationError(f"{results.path}: not a sampled design; a calibration sweeps an "
                               "experiment file with a [sampler] (method = \"lhs\")")
    problem, strata = design
    summaries = results.summaries
    if facts is None:
        facts = experiment_facts(results)
    used = _facts_measured(summaries, facts)
    if not used:
        raise CalibrationError(f"{results.path}: no stylised fact is measured by every sample "
                               "(runs too short, or the scenario has no programme the facts "
                               "need); `clustersim facts` shows what the runs measure")
    means = summaries.groupby("point")[[f.measure for f in used]].mean()
    runs = summaries.groupby("point").size()
    rows = []
    for stratum in strata:
        for i, point in enumerate(stratum.points["point"].tolist()):
            row: dict[str, Any] = {"stratum": stratum.label, "point": int(point),
                                   "runs": int(runs.get(point, 0))}
            row.update(zip(problem["names"], stratum.x[i].tolist(), strict=True))
            gaps = []
            for fact in used:
                value = float(means.loc[point, fact.measure])
                row[fact.measure] = value
                gaps.append(fact_gap(fact, value))
            row["facts_in_range"] = sum(g == 0 for g in gaps)
            row["distance"] = distance(gaps)
            row["off_centre"] = distance([_off_centre(f, row[f.measure]) for f in used])
            rows.append(row)
    # Ties (several samples with every fact in range) go to the one nearest the ranges' centres.
    table = pd.DataFrame(rows).sort_values(["distance", "off_centre", "point"], kind="stable")
    table.attrs["facts"] = [f.measure for f in used]
    table.attrs["parameters"] = list(problem["names"])
    table.attrs["bounds"] = [list(b) for b in problem["bounds"]]
    return table.reset_index(drop=True)


def refined_bounds(best: pd.Series, parameters: Sequence[str], bounds: Sequence[Sequence[float]],
                   shrink: float = 0.25) -> dict[str, tuple[float, float]]:
    """Each parameter's range shrunk to ``shrink`` of its width, centred on the best sample
    and kept inside the original range."""
    if not 0 < shrink < 1:
        raise CalibrationError(f"shrink = {shrink} is not allowed: must be between 0 and 1")
    out = {}
    for name, (low, high) in zip(parameters, bounds, strict=True):
        half = (high - low) * shrink / 2
        centre = min(max(float(best[name]), low + half), high - half)
        out[name] = (centre - half, centre + half)
    return out


def refine_experiment(experiment_toml: str, new_bounds: dict[str, tuple[float, float]],
                      suffix: str = "_refine") -> str:
    """The experiment file's text with the sampler ranges replaced, the name suffixed and the
    master seed moved on (so the refinement draws new samples and has a store of its own)."""
    text = re.sub(r'(?m)^(name\s*=\s*")([^"]*)(")', lambda m: m[1] + m[2] + suffix + m[3],
                  experiment_toml, count=1)
    text = re.sub(r"(?m)^(master_seed\s*=\s*)(\d+)", lambda m: f"{m[1]}{int(m[2]) + 1}", text,
                  count=1)
    for name, (low, high) in new_bounds.items():
        pattern = re.compile(rf'(?m)^(\s*"?{re.escape(name)}"?\s*=\s*)\[[^\]]*\]')
        if not pattern.search(text):
            raise CalibrationError(f"cannot find the range of {name} in the experiment file")
        text = pattern.sub(lambda m, lo=low, hi=high: f"{m[1]}[{_short(lo)}, {_short(hi)}]",
                           text, count=1)
    return text


def _short(value: float) -> str:
    return f"{value:.6g}"


def scenario_lines(best: pd.Series, parameters: Sequence[str], store: str) -> list[str]:
    """TOML lines for a scenario file, grouped under their tables: each calibrated value
    with a comment saying where it comes from (the store, the sample and its distance)."""
    lines: list[str] = []
    table = None
    for name in sorted(parameters, key=lambda key: key.rpartition(".")[0]):
        section, _, key = name.rpartition(".")
        if section != table:
            table = section
            list_item = re.fullmatch(r"(\w+)\[(\d+)\]", section)
            lines.append(f"[{section}]" if not list_item else
                         f"# in [[{list_item[1]}]] number {int(list_item[2]) + 1} ({section}):")
        value = float(best[name])
        if _number_kind(name) == "int":  # the runs used the sample rounded to a whole number
            value = float(round(value))
        text = str(round(value)) if abs(value - round(value)) < 1e-9 else _short(value)
        lines.append(f"{key} = {text}  # calibrated: {store}, point {int(best['point'])}, "
                     f"distance {best['distance']:.3g}")
    return lines


def gap_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per fact: its mean over the best sample's runs and how many samples put it in range."""
    facts = {f.measure: f for f in FACTS}
    best = table.iloc[0]
    rows = []
    for measure in table.attrs.get("facts", []):
        fact = facts[measure]
        in_range = np.array([fact_gap(fact, v) == 0 for v in table[measure]])
        rows.append({"fact": fact.id, "measure": fact.short, "target": fact.target,
                     "best": float(best[measure]), "samples_in_range": int(in_range.sum()),
                     "samples": len(table)})
    return pd.DataFrame(rows)
