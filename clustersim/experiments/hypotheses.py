"""Hypotheses an experiment tests: what it expects, and whether its runs bear it out.

An experiment file may state the hypotheses (docs/DOMAIN.md H1-H11) its design answers, one
``[[hypotheses]]`` table each::

    [[hypotheses]]
    id = "H6"
    statement = "Capping dependence on one partner improves survival after a partner shock."
    outcome = "initial_cohort_survival"
    compare = "arm"          # or the name of a factor
    treatment = "cap_30"     # the arm (or level) expected to differ ...
    reference = "no_cap"     # ... from this one (default for arms: the baseline arm)
    expect = "higher"        # or "lower"

After the sweep, :func:`hypothesis_table` takes the treatment minus the reference run by run
(replication r of both ran with the same seed) under every other condition of the design (each
other arm or factor level), with the 95% CI of the mean paired difference, and reads it:
``holds`` (the CI excludes 0 on the expected side), ``opposite`` (it excludes 0 on the other
side) or ``not settled`` (it includes 0, rests on fewer than 3 pairs, or has no width). The
report gives each hypothesis a section of its own. The model is never tuned to make a
hypothesis hold: a hypothesis that does not hold, or holds only under some conditions, is a
result.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clustersim.outcomes import OUTCOMES

if TYPE_CHECKING:
    from clustersim.experiments.analysis import Results

MIN_PAIRS = 3  # fewer pairs settle nothing (as in the report's verdict)
READINGS = ("holds", "opposite", "not settled")


class Hypothesis(BaseModel):
    """One hypothesis an experiment answers (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=20, description="e.g. H6 (docs/DOMAIN.md)")
    statement: str = Field(min_length=1, description="the hypothesis in words")
    outcome: str = Field(description="the run outcome that answers it")
    compare: str = Field("arm", description="'arm', or the name of a factor")
    treatment: str = Field(min_length=1, description="the arm or level expected to differ")
    reference: str | None = Field(None, description="the arm or level it is compared with "
                                  "(default for arms: the baseline arm)")
    expect: Literal["higher", "lower"] = Field(description="how the treatment should differ")


def hypothesis_problems(hypotheses: list[Hypothesis], arms: list[str],
                        factors: dict[str, list[str]]) -> list[str]:
    """What is wrong with each hypothesis given the design's arms and factor levels."""
    problems = []
    for i, h in enumerate(hypotheses):
        where = f"hypotheses[{i}]"
        if h.outcome not in OUTCOMES:
            problems.append(f"{where}.outcome = {h.outcome!r} is not allowed: must be a run "
                            f"outcome ({', '.join(OUTCOMES)})")
        if h.compare == "arm":
            names = arms
        elif h.compare in factors:
            names = factors[h.compare]
            if h.reference is None:
                problems.append(f"{where}.reference is missing: comparing levels of factor "
                                f"{h.compare!r} needs one of {', '.join(names)}")
        else:
            problems.append(f"{where}.compare = {h.compare!r} is not allowed: must be 'arm' "
                            f"or a factor ({', '.join(factors) or 'the experiment has none'})")
            continue
        for key in ("treatment", "reference"):
            value = getattr(h, key)
            if value is not None and value not in names:
                problems.append(f"{where}.{key} = {value!r} is not allowed: must be one of "
                                f"{', '.join(map(str, names))}")
    return problems


def hypotheses_from_toml(text: str | None) -> list[Hypothesis]:
    """The hypotheses of an experiment file's text (as a store keeps it); none if unreadable."""
    if not text:
        return []
    try:
        raw = tomllib.loads(text).get("hypotheses", [])
        return [Hypothesis.model_validate(item) for item in raw]
    except (tomllib.TOMLDecodeError, ValidationError, TypeError, AttributeError):
        return []


def reading(expect: str, low: float, high: float, n: int) -> str:
    """holds / opposite / not settled, from the paired difference's CI."""
    if n < MIN_PAIRS or not (math.isfinite(low) and math.isfinite(high)) or low == high:
        return "not settled"
    if low <= 0 <= high:
        return "not settled"
    up = low > 0
    return "holds" if up == (expect == "higher") else "opposite"


def hypothesis_table(results: Results, hypothesis: Hypothesis) -> pd.DataFrame:
    """Per condition (the other arms and factor levels): n pairs, reference and treatment
    means, the paired difference with its 95% CI, and the reading."""
    from clustersim.experiments.analysis import CONFIDENCE, _contrast

    h = hypothesis
    columns = ["condition", "n", "reference_mean", "mean", "difference", "ci_low", "ci_high",
               "reading"]
    reference = h.reference if h.reference is not None else results.baseline_arm
    if h.outcome not in results.summaries.columns or reference is None:
        return pd.DataFrame(columns=columns)
    table = _contrast(results, h.compare, reference, [h.outcome], CONFIDENCE)
    if not len(table):
        return pd.DataFrame(columns=columns)
    table = table[table[h.compare].astype(str) == str(h.treatment)]
    others = [c for c in ["arm", *results.factors] if c != h.compare]
    varied = [c for c in others if results.summaries[c].astype(str).nunique() > 1]
    rows = []
    for row in table.to_dict("records"):
        condition = " · ".join(f"{c}={row[c]}" for c in varied) or "all runs"
        rows.append({"condition": condition, "n": int(row["n"]),
                     "reference_mean": row["reference_mean"], "mean": row["mean"],
                     "difference": row["difference"], "ci_low": row["ci_low"],
                     "ci_high": row["ci_high"],
                     "reading": reading(h.expect, row["ci_low"], row["ci_high"], int(row["n"]))})
    return pd.DataFrame(rows, columns=columns)


def summary_sentence(hypothesis: Hypothesis, table: pd.DataFrame) -> str:
    """One sentence: where the hypothesis holds, where the opposite, where nothing is settled."""
    if not len(table):
        return "The runs in this store cannot answer it."
    parts = []
    for word in READINGS:
        where = table.loc[table["reading"] == word, "condition"].tolist()
        if where:
            parts.append(f"{word} under {', '.join(where)}" if where != ["all runs"]
                         else word)
    return f"{hypothesis.id}: " + "; ".join(parts) + "."


def crossing_sentence(table: pd.DataFrame) -> str:
    """Where the paired difference changes sign along one numeric condition (e.g. the levels
    of demand volatility): linear interpolation between the two levels that bracket it.
    Empty unless every condition is ``key=number`` for one key and there are ≥ 3 of them."""
    levels = []
    for condition, difference in zip(table["condition"], table["difference"], strict=True):
        key, _, value = str(condition).partition("=")
        try:
            levels.append((key, float(value), float(difference)))
        except ValueError:
            return ""
    if len(levels) < 3 or len({k for k, _, _ in levels}) != 1:
        return ""
    key = levels[0][0]
    levels.sort(key=lambda item: item[1])
    crossings = []
    for (_, x0, d0), (_, x1, d1) in itertools.pairwise(levels):
        if d0 == 0 or (d0 < 0) != (d1 < 0):
            x = x0 if d0 == d1 else x0 + (x1 - x0) * d0 / (d0 - d1)
            crossings.append(f"about {key} = {x:.3g} (between {x0:g} and {x1:g})")
    if not crossings:
        sign = "positive" if levels[0][2] > 0 else "negative"
        return (f"The mean difference is {sign} at every level of {key} from {levels[0][1]:g} "
                f"to {levels[-1][1]:g}: no crossing point in this range.")
    return ("The mean difference changes sign at " + "; ".join(crossings)
            + " (point estimates; read each level's CI).")


def results_hypotheses(results: Results) -> list[Hypothesis]:
    """The hypotheses the store's experiment file states."""
    meta: dict[str, Any] = results.meta
    return hypotheses_from_toml(meta.get("experiment_toml"))
