"""docs/VALIDATION.md from results stores: every figure in it comes from a command.

``clustersim validation STORE... -o docs/VALIDATION.md`` reads the stores of the calibration and
hypothesis studies and writes one Markdown page: how the model is held to the stylised facts
(the distance the calibration minimises), the facts table of each store (mean and 95% CI per
arm against the sources' range), each stated hypothesis's answer per condition, what the model
does not reproduce (every fact whose interval lies wholly outside its range), and the commands
that regenerate each store. Nothing in the page is typed by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from clustersim.experiments import hypotheses as hyp
from clustersim.experiments.analysis import Results, _method, load_results
from clustersim.facts import FACTS, NOT_MEASURED, facts_table

INTRO = """\
# Validation: the model against the stylised facts and the hypotheses

This page is written by `clustersim validation` from the results stores listed under
[Regenerate](#regenerate); every number in it comes from those stores. The stylised facts
(F1-F11) and hypotheses (H1-H11) are defined in [DOMAIN.md](DOMAIN.md); how each fact is
measured in a run is in `clustersim/facts.py`.

## Method

Each stylised fact the model can be held to has a measure (one number per run) and a target
range read from the sources. A fact **holds** for an arm when the 95% confidence interval of its
mean over the replications lies inside the range, is **not reproduced** when the interval lies
wholly outside it, and is **unclear** otherwise. Calibration (`clustersim calibrate`, see
docs/sweeps.md) samples the free parameters with a Latin hypercube, runs replications of each
sample, and ranks the samples by the distance √(mean over facts of (gap / range width)²), where a
fact's gap is how far the mean lies outside its range (0 inside); the best sample is then refined
in a shrunk range. A hypothesis is answered by the paired difference between the arms (or factor
levels) its study names, under every other condition of the design: it **holds** where the 95% CI
excludes 0 on the expected side, is **opposite** where it excludes 0 on the other side, and is
**not settled** otherwise. No mechanism or parameter is tuned to make a hypothesis hold.
"""


def _ci(mean: float, low: float, high: float) -> str:
    if not math.isfinite(mean):
        return "–"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def _markdown(frame: pd.DataFrame) -> str:
    """A small DataFrame as a Markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def facts_section(name: str, results: Results) -> tuple[str, list[str]]:
    """The facts table of one store, and the facts it does not reproduce."""
    table = facts_table(results)
    if not len(table):
        return "", []
    shown = pd.DataFrame({
        "arm": table["arm"], "fact": table["fact"], "measure": table["measure"],
        "mean [95% CI]": [_ci(m, lo, hi) for m, lo, hi in
                          zip(table["mean"], table["ci_low"], table["ci_high"], strict=True)],
        "runs": table["n"], "target": table["target"], "holds": table["holds"],
        "source": table["source"]})
    missed = [f"{r.fact} ({r.measure}) in `{name}`, arm {r.arm}: {_ci(r.mean, r.ci_low, r.ci_high)}"
              f" against {r.target}" for r in table.itertuples() if r.holds == "no"]
    return f"### `{name}`\n\n{_markdown(shown)}\n", missed


def hypotheses_section(name: str, results: Results) -> str:
    """Each hypothesis the store's experiment states, with its reading per condition."""
    parts = []
    for h in hyp.results_hypotheses(results):
        table = hyp.hypothesis_table(results, h)
        reference = h.reference or results.baseline_arm
        crossing = hyp.crossing_sentence(table) if len(table) else ""
        parts.append(f"### {h.id}: {h.statement}\n\nStudy `{name}`: {h.outcome}, {h.compare} "
                     f"**{h.treatment}** minus **{reference}**, expected {h.expect}. "
                     f"**{hyp.summary_sentence(h, table)}**" + (f" {crossing}" if crossing else "")
                     + "\n")
        if len(table):
            shown = pd.DataFrame({
                "condition": table["condition"], "pairs": table["n"],
                f"{reference}": [f"{v:.3g}" for v in table["reference_mean"]],
                f"{h.treatment}": [f"{v:.3g}" for v in table["mean"]],
                "difference [95% CI]": [_ci(m, lo, hi) for m, lo, hi in zip(
                    table["difference"], table["ci_low"], table["ci_high"], strict=True)],
                "reading": table["reading"]})
            parts.append(_markdown(shown) + "\n")
    return "\n".join(parts)


def calibration_section(name: str, results: Results, top: int = 5) -> str:
    """A calibration store (Latin hypercube): the samples nearest the facts, and each fact
    at the best sample. Empty for any other store."""
    from clustersim.experiments.calibrate import (
        CalibrationError,
        calibration_table,
        gap_summary,
        scenario_lines,
    )

    if _method(results) != "lhs":
        return ""
    try:
        table = calibration_table(results)
    except CalibrationError as exc:
        return f"### `{name}`\n\n{exc}\n"
    parameters = table.attrs["parameters"]
    shown = table.head(top)[["point", *parameters, "runs", "facts_in_range", "distance"]]
    shown = shown.map(lambda v: f"{v:.4g}" if isinstance(v, float) else v)
    gaps = gap_summary(table).map(lambda v: f"{v:.3g}" if isinstance(v, float) else v)
    lines = "\n".join(scenario_lines(table.iloc[0], parameters, name))
    return (f"### `{name}`\n\n{len(table)} samples; the {len(shown)} nearest the facts "
            f"(distance 0: every fact in range):\n\n{_markdown(shown)}\n\nEach fact at the "
            f"best sample, and how many samples put it in range:\n\n{_markdown(gaps)}\n\n"
            f"The best sample as scenario lines:\n\n```toml\n{lines}\n```\n")


def sensitivity_section(name: str, results: Results) -> str:
    """A Sobol store: first-order and total indices of the headline outcomes, per arm."""
    from clustersim.experiments.analysis import sobol_table
    from clustersim.experiments.verdict import HEADLINE_OUTCOMES

    outcomes = [o for o in HEADLINE_OUTCOMES if o in results.outcomes]
    table = sobol_table(results, outcomes)
    # An outcome that does not vary in an arm (no formal networks without brokers) has
    # nothing to decompose: its indices are 0 by convention, not findings.
    spread = results.summaries.groupby("arm")[outcomes].std()
    flat = {(arm, o) for arm in spread.index for o in outcomes if not spread.loc[arm, o] > 0}
    table = table[[(a, o) not in flat for a, o in zip(table["stratum"], table["outcome"],
                                                       strict=True)]]
    if not len(table):
        return ""
    table = table.sort_values(["outcome", "stratum", "ST"], ascending=[True, True, False])
    shown = pd.DataFrame({
        "outcome": table["outcome"], "arm": table["stratum"], "parameter": table["parameter"],
        "S1 ± 95%": [f"{a:.2f} ± {b:.2f}" for a, b in zip(table["S1"], table["S1_conf"],
                                                        strict=True)],
        "ST ± 95%": [f"{a:.2f} ± {b:.2f}" for a, b in zip(table["ST"], table["ST_conf"],
                                                        strict=True)]})
    return (f"### `{name}`\n\nS1: the share of an outcome's variance over the design that "
            "one parameter explains alone; ST: with its interactions. Where an instrument's "
            "outcome depends on a parameter the baseline's does not, its ranking rests on "
            f"that assumption.\n\n{_markdown(shown)}\n")


def verdict_section(name: str, results: Results) -> str:
    """A study (arms, no sampler, stated hypotheses): each arm against the baseline arm on
    the headline outcomes, per factor level (the report's verdict table)."""
    from clustersim.experiments.verdict import verdict_table

    if _method(results) or not hyp.results_hypotheses(results):
        return ""  # a sample, or a set of scenarios side by side, is no comparison of arms
    table = verdict_table(results)
    table = table[table["arm"] != results.baseline_arm]
    if not len(table):
        return ""
    shown = pd.DataFrame({
        "level": table["level"], "arm": table["arm"], "outcome": table["outcome"],
        "pairs": table["n"],
        "difference [95% CI]": [_ci(m, lo, hi) for m, lo, hi in zip(
            table["difference"], table["ci_low"], table["ci_high"], strict=True)],
        "reading": table["reading"], "rank": table["rank"]})
    return (f"### `{name}`\n\nEach arm minus the baseline arm **{results.baseline_arm}** "
            "(paired by seed) on the headline outcomes, per factor level; rank 1 is best at "
            f"that level, by point estimate.\n\n{_markdown(shown)}\n")


def _command(path: Path, results: Results) -> str:
    """The sweep that remakes a store: its experiment with the steps, replications and
    overrides the store was made with."""
    meta = results.meta
    words = [f"clustersim sweep experiments/{results.experiment}.toml"]
    replications = int(results.runs["replication"].max()) + 1 if len(results.runs) else 0
    words.append(f"--replications {replications}")
    if meta.get("steps"):
        words.append(f"--steps {meta['steps']}")
    overrides = meta.get("overrides")
    if isinstance(overrides, str) and overrides not in ("", "{}"):
        words.append(f"(overrides {overrides})")
    words.append(f"--store {path.name}")
    return (f"- `{path.name}`: {len(results.summaries)} runs done; "
            f"`{' '.join(words)}` (fingerprint {str(meta.get('fingerprint', ''))[:12]})")


def validation_page(stores: Sequence[str | Path]) -> str:
    """The whole page for these stores."""
    facts_parts, hypothesis_parts, missed, commands = [], [], [], []
    calibration_parts, sensitivity_parts, verdict_parts = [], [], []
    for store in map(Path, stores):
        results = load_results(store, timeseries=False)
        calibration = calibration_section(store.stem, results)
        if calibration:
            calibration_parts.append(calibration)
        if not _method(results):  # facts pooled over a sampler's samples would mean nothing
            section, lost = facts_section(store.stem, results)
            if section:
                facts_parts.append(section)
            missed += lost
        sensitivity = sensitivity_section(store.stem, results)
        if sensitivity:
            sensitivity_parts.append(sensitivity)
        verdict = verdict_section(store.stem, results)
        if verdict:
            verdict_parts.append(verdict)
        answer = hypotheses_section(store.stem, results)
        if answer:
            hypothesis_parts.append(answer)
        commands.append(_command(store, results))
    inputs = "\n".join(f"- {fact}: {how}" for fact, how in NOT_MEASURED.items())
    measured = sorted({f.id for f in FACTS}, key=lambda i: int(i[1:]))
    parts = [INTRO,
             f"## Stylised facts\n\nMeasured: {', '.join(measured)}. Not measured:\n\n{inputs}\n",
             *(facts_parts or ["No store given measures a stylised fact.\n"]),
             *(["## Calibration\n", *calibration_parts] if calibration_parts else []),
             "## Hypotheses\n", *(hypothesis_parts or ["No store given states a hypothesis.\n"]),
             *(["## Arms against the baseline (verdict tables)\n", *verdict_parts]
               if verdict_parts else []),
             *(["## Sensitivity\n", *sensitivity_parts] if sensitivity_parts else []),
             "## What the model does not reproduce\n",
             "\n".join(f"- {m}" for m in missed) + "\n" if missed else
             "Every measured fact holds or is unclear in the stores above.\n",
             "## Regenerate\n\nEach store comes from one sweep; then `clustersim validation "
             "STORE... -o docs/VALIDATION.md` rewrites this page.\n",
             "\n".join(commands) + "\n",
             f"\n_Written {datetime.now(UTC).strftime('%Y-%m-%d')} by `clustersim validation`._\n"]
    return "\n".join(parts)


def write_validation(stores: Sequence[str | Path], output: str | Path) -> Path:
    """Write the page (through a temporary file, so a reader never sees half of it)."""
    output = Path(output)
    text = validation_page(stores)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return output
