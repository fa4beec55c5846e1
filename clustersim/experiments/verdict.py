"""The answer first: which arm does best on the headline outcomes, at what cost.

:func:`verdict_table` ranks the arms of a study at every factor level (e.g. each shock)
on a few headline outcomes, with each arm's paired difference from the baseline arm, its
95% CI, whether the data support it (the CI excludes 0) and the policy money the arm
actually spent per extra unit of effect. :func:`verdict_sentences` says the same in
words; :func:`spend_table` gives budgets (read from the runs) and money spent. The HTML
report's summary and the dashboard's compare page are both built on these, with the
wording constants below, so they cannot disagree. ``docs/report.md`` explains the choice
of headline outcomes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from clustersim.experiments import analysis
from clustersim.experiments.analysis import Results
from clustersim.outcomes import OUTCOME_INFO

# What a cluster programme is for (innovation, firms that last, output) and the mechanism
# the instruments work through (formal networks, docs/DOMAIN.md H2-H3). Firms alive is
# not one: it counts spin-offs that replace closed firms (see ALIVE_NOTE).
HEADLINE_OUTCOMES = ["innovations", "initial_cohort_survival", "revenue",
                     "formal_network_share"]
# The unit one "extra unit of effect" is counted in, and its size in the outcome's unit.
EFFECT_UNITS = {"share": ("percentage point", 0.01), "0-1": ("percentage point", 0.01),
                "k€": ("k€ of revenue", 1.0)}
MIN_PAIRS = 3  # fewer pairs support no difference (docs/report.md)
EQUAL_TOLERANCE = 0.02  # spends within 2% of each other count as equal

# Wording shared by the report and the dashboard's compare page.
CI_MEANING = (
    "Each number is the arm's outcome minus the no-programme arm's, taken run by run: "
    "replication r of every arm ran with the same seed, so both runs of a pair share their "
    "luck and the difference is the programme's. The 95% confidence interval (CI) is that "
    "of the mean paired difference. Where it excludes 0 the replications support a "
    "difference; where it includes 0 they do not (the effect may be small, absent, or "
    "need more replications). Overlapping intervals of two arms' own means say nothing "
    "either way: compare the paired differences.")
SUPPORTED = "supported by the data (95% CI excludes 0)"
NOT_SUPPORTED = "not supported (95% CI includes 0)"
MULTIPLE_NOTE = ("With many comparisons, about one interval in twenty excludes 0 by chance "
                 "alone; weigh a lone supported difference accordingly.")
ALIVE_NOTE = (
    "Firms alive counts spin-offs as well as the original firms. In the model "
    "(clustersim/model.py, update_demography and enter_spinoffs) idle firms shrink their "
    "staff and firms in the red for too long close; each month, every order lost for want "
    "of capacity or a partner can seed a spin-off (a Poisson draw, spinoff_rate per lost "
    "order), with no limit tied to how many firms closed, and a spin-off starts small "
    "(entrant_employees, 4 by default, against a median of 10). After a shock demand "
    "returns to a cluster that has shed staff, more orders are lost for capacity, and "
    "entries rise. Given enough months after the shock, firms alive can end above the "
    "no-shock level (more, smaller firms) while fewer of the original firms survive. That "
    "is the entry rule at work, not a shock that was good for the cluster: read survival "
    "of the initial firms for what the shock did to existing firms.")

COLUMNS = ["level", "arm", "outcome", "n", "baseline_mean", "mean", "difference", "ci_low",
           "ci_high", "supported", "reading", "rank", "extra_spend", "effect_unit",
           "keur_per_unit", "keur_per_unit_low", "keur_per_unit_high"]


def level_label(row: dict[str, Any], factors: Sequence[str]) -> str:
    """A design point's factor levels as one label (``shock=covid``; ``all runs``)."""
    return " · ".join(f"{f}={row[f]}" for f in factors) or "all runs"


def _better(outcome: str) -> bool | None:
    info = OUTCOME_INFO.get(outcome)
    return info.higher_is_better if info else None


def _reading(outcome: str, low: float, high: float) -> str:
    """better / worse (for outcomes with a direction), higher / lower, or unclear."""
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 <= high:
        return "unclear"
    up = low > 0
    better = _better(outcome)
    if better is None:
        return "higher" if up else "lower"
    return "better" if up == better else "worse"


def _effect_unit(outcome: str) -> tuple[str, float]:
    info = OUTCOME_INFO.get(outcome)
    unit = info.unit if info else ""
    if unit in EFFECT_UNITS:
        return EFFECT_UNITS[unit]
    return (info.label.lower().rstrip("s") if info and unit == "count" else unit or "unit"), 1.0


def verdict_table(results: Results, outcomes: Sequence[str] | None = None,
                  confidence: float = analysis.CONFIDENCE) -> pd.DataFrame:
    """Per factor level, arm and headline outcome: the paired difference from the baseline
    arm with its CI, whether the data support it, the arm's rank and its cost per unit.

    Columns: ``level`` (e.g. ``shock=covid``), ``arm``, ``outcome``, ``n`` (pairs),
    ``baseline_mean``, ``mean`` (the arm's, over the pairs), ``difference``, ``ci_low``,
    ``ci_high``, ``supported`` (the CI excludes 0, has some width and comes from at least
    :data:`MIN_PAIRS` pairs), ``reading`` (better, worse, higher,
    lower or unclear), ``rank`` (1 = best at that level, the baseline arm included at a
    difference of 0; by point estimate: read it with ``supported``), ``extra_spend`` (k€
    of policy money the arm spent beyond the baseline, mean over the pairs),
    ``effect_unit`` and ``keur_per_unit`` (k€ spent per extra unit of effect) with its CI
    (the inverse of :func:`~clustersim.experiments.analysis.value_for_money`'s), given only
    where the difference is supported and an improvement. The baseline arm has one row per
    level and outcome with a difference of 0. Empty without a baseline and a second arm.
    """
    names = [o for o in (outcomes or HEADLINE_OUTCOMES) if o in results.outcomes]
    diff = analysis.differences(results, names, confidence) if names else pd.DataFrame()
    if not len(diff):
        return pd.DataFrame(columns=COLUMNS)
    factors = results.factors
    diff = diff.assign(level=[level_label(r, factors) for r in diff.to_dict("records")])
    money = _costs(results, names, confidence)
    table = diff.merge(money, on=["point", "outcome"], how="left")
    table["supported"] = [_supported(lo, hi, n) for lo, hi, n in
                          zip(table["ci_low"], table["ci_high"], table["n"], strict=True)]
    table["reading"] = [_reading(o, lo, hi) if ok else "unclear" for o, lo, hi, ok in
                        zip(table["outcome"], table["ci_low"], table["ci_high"],
                            table["supported"], strict=True)]
    costs = ["keur_per_unit", "keur_per_unit_low", "keur_per_unit_high"]
    table.loc[~table["supported"].astype(bool), costs] = math.nan
    table = table.rename(columns={"reference_mean": "baseline_mean"})
    baseline = _baseline_rows(table, results.baseline_arm)
    table = pd.concat([table, baseline], ignore_index=True)
    table["rank"] = _ranks(table)
    order = {a: i for i, a in enumerate(results.arms)}
    levels = {v: i for i, v in enumerate(dict.fromkeys(table["level"]))}
    table = table.assign(_l=table["level"].map(levels), _o=table["outcome"].map(names.index),
                         _a=table["arm"].map(order))
    table = table.sort_values(["_l", "_o", "_a"]).reset_index(drop=True)
    return table[COLUMNS]


def _supported(low: float, high: float, n: int) -> bool:
    """The CI excludes 0, from at least :data:`MIN_PAIRS` pairs and with some width (pairs
    that all differ by the same amount give a zero-width interval, which is no evidence)."""
    if n < MIN_PAIRS or not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return False
    return low > 0 or high < 0


def _baseline_rows(table: pd.DataFrame, baseline: str | None) -> pd.DataFrame:
    rows = table.drop_duplicates(["level", "outcome"])[["level", "outcome", "n",
                                                        "baseline_mean"]].copy()
    unit = [_effect_unit(o)[0] for o in rows["outcome"]]
    return rows.assign(arm=baseline, mean=rows["baseline_mean"], difference=0.0,
                       ci_low=math.nan, ci_high=math.nan, supported=False,
                       reading="reference", extra_spend=0.0, effect_unit=unit,
                       keur_per_unit=math.nan, keur_per_unit_low=math.nan,
                       keur_per_unit_high=math.nan)


def _ranks(table: pd.DataFrame) -> pd.Series:
    """1 = best at the level on that outcome (more is better unless the outcome says not)."""
    sign = table["outcome"].map(lambda o: -1.0 if _better(o) is False else 1.0)
    score = table["difference"] * sign
    return score.groupby([table["level"], table["outcome"]]).rank(
        ascending=False, method="min").astype(int)


def _costs(results: Results, names: list[str], confidence: float) -> pd.DataFrame:
    """k€ actually spent per extra unit of effect, from the paired value for money."""
    columns = ["point", "outcome", "extra_spend", "effect_unit", "keur_per_unit",
               "keur_per_unit_low", "keur_per_unit_high"]
    money = analysis.value_for_money(results, names, confidence)
    if not len(money):
        return pd.DataFrame(columns=columns)
    rows = []
    for r in money.to_dict("records"):
        unit, size = _effect_unit(r["outcome"])
        cost = low = high = math.nan
        good = _reading(r["outcome"], r["ci_low"], r["ci_high"]) in ("better", "higher")
        if good and r["extra_spend"] > 0:
            per_unit = np.array([r["per_keur"], r["ci_low"], r["ci_high"]]) / size
            with np.errstate(divide="ignore"):
                cost, high, low = (1.0 / per_unit).tolist()
            if _better(r["outcome"]) is False:
                cost, low, high = -cost, -high, -low
        rows.append({"point": r["point"], "outcome": r["outcome"],
                     "extra_spend": r["extra_spend"], "effect_unit": unit,
                     "keur_per_unit": cost, "keur_per_unit_low": low,
                     "keur_per_unit_high": high})
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- money


def arm_budgets(results: Results) -> dict[str, float]:
    """Each arm's total policy budget in k€, read from its runs' scenario and overrides
    (the sum of its ``[[policies]]`` budgets, each per 1,000 firms times the runs' firm
    count; 0 without a policy, NaN if unreadable)."""
    from clustersim.scenario import load_scenario

    runs = results.runs
    budgets: dict[str, float] = {}
    if not len(runs) or "scenario" not in runs.columns:
        return budgets
    for record in runs.drop_duplicates("arm").to_dict("records"):
        try:
            overrides = json.loads(record.get("overrides") or "{}")
            scenario = load_scenario(record["scenario"], overrides)
            firms = scenario.firms.count
            budgets[record["arm"]] = float(sum(p.total_budget(firms) for p in scenario.policies))
        except Exception:  # an old store or a scenario file that is gone: no budget shown
            budgets[record["arm"]] = math.nan
    return budgets


def spend_table(results: Results) -> pd.DataFrame:
    """Per arm: ``budget`` (k€, from the runs), ``spent`` (mean policy money paid out over
    its done runs, k€), ``spent_min``, ``spent_max`` and ``runs``."""
    columns = ["arm", "budget", "spent", "spent_min", "spent_max", "runs"]
    frame = results.summaries
    if analysis.SPEND_OUTCOME not in frame.columns or not len(frame):
        return pd.DataFrame(columns=columns)
    spent = (frame.groupby("arm", sort=False)[analysis.SPEND_OUTCOME]
             .agg(spent="mean", spent_min="min", spent_max="max", runs="count").reset_index())
    budgets = arm_budgets(results)
    spent["budget"] = spent["arm"].map(budgets).astype(float)
    order = {a: i for i, a in enumerate(results.arms)}
    return spent.sort_values("arm", key=lambda s: s.map(order)).reset_index(drop=True)[columns]


def _equal(values: Sequence[float]) -> bool:
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2:
        return len(values) == 1
    top = max(abs(v) for v in values)
    return top == 0 or (max(values) - min(values)) <= EQUAL_TOLERANCE * top


def money_sentence(results: Results, spend: pd.DataFrame | None = None) -> str:
    """Budgets and money spent in one sentence, saying when they are equal."""
    spend = spend_table(results) if spend is None else spend
    programmes = spend[spend["arm"] != results.baseline_arm]
    if not len(programmes):
        return ""
    budgets, spent = programmes["budget"].tolist(), programmes["spent"].tolist()
    if _equal(budgets):
        text = f"Every programme had the same budget, {money_text(budgets[0])} k€"
    else:
        text = "Budgets differ: " + ", ".join(
            f"{a} {money_text(b)} k€" for a, b in zip(programmes["arm"], budgets, strict=True))
    if _equal(spent):
        text += f"; each spent the same, {money_text(spent[0])} k€ on average per run"
        text += (", so the money per unit of effect ranks the arms as the differences do."
                 if _equal(budgets) else ".")
    else:
        text += "; they spent different amounts (mean per run): " + ", ".join(
            f"{a} {money_text(s)} k€" for a, s in zip(programmes["arm"], spent, strict=True)) + "."
    return text + " Budgets are read from the runs; spend is what the programmes paid out."


def description_check(description: str, budgets: Sequence[float]) -> str:
    """A warning when the experiment's description names k€ amounts that are none of the
    budgets the runs actually had (e.g. a full-size study's figure in a smaller one)."""
    known = {round(b, 2) for b in budgets if math.isfinite(b) and b > 0}
    named = {round(float(m.replace(",", "")), 2)
             for m in re.findall(r"(\d[\d,]*(?:\.\d+)?)\s*k€", description)}
    stray = sorted(named - known)
    if not known or not stray:
        return ""
    return (f"The description mentions {', '.join(money_text(v) + ' k€' for v in stray)}, which is "
            f"not a budget of these runs ({', '.join(money_text(v) + ' k€' for v in sorted(known))}"
            "); the budgets in this report are read from the runs.")


def money_text(value: float) -> str:
    """An amount of k€ for reading: whole k€ from 100 up, else three digits."""
    if not math.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


# --------------------------------------------------------------------------- words


def effect_text(outcome: str, value: float, signed: bool = True) -> str:
    """A difference in readable units: shares as percentage points, else the outcome's."""
    if value is None or not math.isfinite(value):
        return "–"
    info = OUTCOME_INFO.get(outcome)
    unit = info.unit if info else ""
    if unit in ("share", "0-1"):
        text, suffix = f"{value * 100:.1f}", " pp"
    else:
        size = abs(value)
        text = f"{value:,.0f}" if size >= 100 else f"{value:.3g}" if size else "0"
        suffix = " k€" if unit == "k€" else ""
    if signed and value > 0:
        text = "+" + text
    return text.replace("-", "−") + suffix


def level_text(outcome: str, value: float) -> str:
    """A mean in readable units: shares as percentages."""
    info = OUTCOME_INFO.get(outcome)
    if info is not None and info.unit in ("share", "0-1") and math.isfinite(value):
        return f"{value * 100:.1f}%"
    return effect_text(outcome, value, signed=False)


def interval_text(outcome: str, low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "no CI"
    return f"{effect_text(outcome, low)} to {effect_text(outcome, high)}"


def cost_text(row: dict[str, Any]) -> str:
    """``83 k€ per innovation (95% CI 50–240)``, or why there is no cost per unit."""
    cost = row.get("keur_per_unit", math.nan)
    if not math.isfinite(cost):
        return ""
    low, high = row["keur_per_unit_low"], row["keur_per_unit_high"]
    bounds = (f" (95% CI {money_text(low)}–{money_text(high)})"
              if math.isfinite(low) and math.isfinite(high) and low > 0 else
              f" (95% CI from {money_text(low)}, no upper bound)" if math.isfinite(low) else "")
    return f"{money_text(cost)} k€ per {row['effect_unit']}{bounds}"


def outcome_name(outcome: str) -> str:
    info = OUTCOME_INFO.get(outcome)
    if outcome == "initial_cohort_survival":
        return "survival of the initial firms"
    return info.label.lower() if info else outcome


def verdict_sentences(table: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Per level: what the data support and what they do not, in sentences."""
    out = []
    for level, part in table[table["reading"] != "reference"].groupby("level", sort=False):
        lines = []
        for r in part[part["supported"]].to_dict("records"):
            verb = {"better": "improves", "worse": "worsens", "higher": "raises",
                    "lower": "lowers"}[r["reading"]]
            cost = cost_text(r)
            lines.append(
                f"{r['arm']} {verb} {outcome_name(r['outcome'])}: "
                f"{effect_text(r['outcome'], r['difference'])} "
                f"(95% CI {interval_text(r['outcome'], r['ci_low'], r['ci_high'])})"
                + (f", at {cost}" if cost else "") + ".")
        unclear = part[~part["supported"]]
        if len(unclear):
            by_arm = []
            for arm, sub in unclear.groupby("arm", sort=False):
                total = int((part["arm"] == arm).sum())
                what = ("any headline outcome" if len(sub) == total else
                        ", ".join(outcome_name(o) for o in sub["outcome"]))
                by_arm.append(f"{arm} on {what}")
            lines.append("No difference from the baseline is supported for "
                         + "; ".join(by_arm) + " (95% CI includes 0).")
        out.append((str(level), lines))
    return out


def alive_note(results: Results) -> str:
    """:data:`ALIVE_NOTE` with this study's numbers, where a factor level ends with more
    firms alive than the first level but a lower survival of the initial firms."""
    needed = {"firms_alive", "initial_cohort_survival", "entries"}
    frame = results.summaries
    if not needed <= set(frame.columns) or not results.factors or not len(frame):
        return ""
    factor = results.factors[0]
    means = frame.groupby(factor, sort=False)[sorted(needed)].mean()
    levels = [v for v in analysis.level_order(results, factor) if v in means.index]
    if len(levels) < 2:
        return ""
    first = means.loc[levels[0]]
    found = []
    for level in levels[1:]:
        row = means.loc[level]
        if (row["firms_alive"] > first["firms_alive"]
                and row["initial_cohort_survival"] < first["initial_cohort_survival"]):
            found.append(
                f"under {factor}={level}, {row['firms_alive']:.0f} firms alive at the end "
                f"against {first['firms_alive']:.0f} at {levels[0]}, with "
                f"{row['entries']:.0f} spin-offs against {first['entries']:.0f} and "
                f"{row['initial_cohort_survival'] * 100:.0f}% of the initial firms alive "
                f"against {first['initial_cohort_survival'] * 100:.0f}% (means over all arms)")
    if not found:
        return ""
    return "Here: " + "; ".join(found) + ". " + ALIVE_NOTE
