"""Stylised facts (docs/DOMAIN.md F1-F11) as measures of a run, and how a store meets them.

Each fact the model can be held to has a *measure*: one number per run, computed when the
run ends (:func:`fact_measures`, kept with the run's outcomes in a results store), a
*target* range read from the sources, and the source lines. :func:`facts_table` gives,
per arm of a sweep, each measure's mean with a 95% confidence interval over the
replications and whether the model meets the target: ``yes`` when the whole interval is
inside the range, ``no`` when the whole interval is outside it, ``unclear`` otherwise.

A measure is NaN where the run cannot show the fact (no broker programme for F2, no
low-cost competition for F10, a run too short to reach the month the fact is about), and
such runs are left out of that fact. Facts that are inputs rather than results (F3: broker
density; F11: shorter product cycles, an input of the market) are listed with how the model
takes them, not measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from clustersim.experiments.analysis import Results
    from clustersim.model import ClusterModel

# Months after a broker programme's start at which F2's share is read (Denmark: more than
# 3,000 of 7,300 firms in networks by 1991, two to three years after the 1989 start).
F2_MONTHS = 36
# Months after the sunset over which F4's persistence is read.
F4_MONTHS = 12
# Output share above which a firm counts as dependent on one partner (F6).
DEPENDENCE_THRESHOLD = 0.3


@dataclass(frozen=True)
class Fact:
    """One stylised fact: what it says, the measure and range that test it, its source."""

    id: str
    statement: str
    measure: str  # name of the run-level measure (a column of the summaries)
    short: str  # a few words for tables
    label: str  # what the measure is, in full
    low: float  # target range, inclusive
    high: float
    source: str
    note: str = ""
    strict_high: bool = False  # the measure must stay below ``high``, not reach it

    @property
    def target(self) -> str:
        """The range in words: "≥ 1", "< 1", "0.31 – 0.51", "≥ 0.5 and < 1"."""
        below = f"< {self.high:g}" if self.strict_high else f"≤ {self.high:g}"
        if math.isinf(self.high):
            return f"≥ {self.low:g}"
        if self.low <= 0:
            return below
        if self.strict_high:
            return f"≥ {self.low:g} and {below}"
        return f"{self.low:g} – {self.high:g}"

    def holds(self, ci_low: float, ci_high: float) -> str:
        """``yes`` if the interval lies inside the range, ``no`` if wholly outside, else ``unclear``."""
        return verdict(self.low, self.high, ci_low, ci_high, self.strict_high)


FACTS: tuple[Fact, ...] = (
    Fact(
        "F1",
        "firm sizes are strongly right-skewed; nearly all firms have 50 or fewer "
        "employees (none reaches 250: SMEs by definition)",
        "firms_under_50_share",
        "share under 50 employees",
        "share of living firms under 50 employees at the end",
        0.9,
        1.0,
        "003:L78, L521, L1365",
    ),
    Fact(
        "F1",
        "firm sizes are strongly right-skewed",
        "size_skewness",
        "size skewness",
        "skewness of living firms' employees at the end",
        1.0,
        math.inf,
        "003:L78, L521, L1365",
        "a sample skewness of 1 or more counts as strongly right-skewed",
    ),
    Fact(
        "F2",
        "a national broker package reaches a large share of small firms quickly",
        "formal_share_36m",
        "in formal networks at +36 months",
        f"share of firms in active formal networks {F2_MONTHS} months "
        "after the broker programme starts",
        0.31,
        0.51,
        "003:L1673, L3850",
        "Denmark: more than 3,000 of 7,300 (0.41) by 1991; ± 0.10; measured where the "
        "broker programme has a national awareness campaign (the Danish package)",
    ),
    Fact(
        "F4",
        "networks outlive the subsidies",
        "networks_persist_12m",
        "networks still active 12 months after the sunset",
        f"formal networks active {F4_MONTHS} months after the programme's sunset, per "
        "network active at the sunset",
        0.8,
        1.0,
        "003:L1744-1750",
        "94% of Danish participants meant to go on collaborating",
    ),
    Fact(
        "F5",
        "formal networks are small",
        "formal_network_mean_size",
        "mean formal network size",
        "mean members of the formal networks active at the end",
        3.0,
        13.0,
        "003:L1668, L1714-1719, L4155, L4221",
        "at least 3; examples of 5, 8 and 13",
    ),
    Fact(
        "F6",
        "firms limit dependence on one partner",
        "dependent_firms_share",
        "firms > 30% on one partner",
        f"share of firms taking more than {DEPENDENCE_THRESHOLD:.0%} of their output from "
        "one partner, at the end",
        0.0,
        0.5,
        "003:L2277-2282, L4327",
        "the sources advise 20-30% at most; most firms under it",
    ),
    Fact(
        "F7",
        "active participation in broad networks is thin",
        "hub_member_share",
        "hub members",
        "share of firms that are hub members, mean over the hub programme",
        0.08,
        0.25,
        "003:L4173-4176",
        "the Heat Treaters Network: 15 active of 98 (0.15)",
    ),
    Fact(
        "F8",
        "service centres need subsidy: fees carry most of the cost, few ever self-fund",
        "hub_self_funding",
        "hub fees / costs",
        "hubs' fees / cost of their services, mean over the hub programme",
        0.5,
        1.0,
        "003:L1402-1405, L2669",
        strict_high=True,
    ),
    Fact(
        "F10",
        "under low-cost competition a cluster can shrink in firms yet grow in output",
        "firms_change_low_cost",
        "firms, end / at the shock",
        "firms alive at the end / firms alive when low-cost competition starts",
        0.0,
        1.0,
        "001:L3315-3330, L3468",
        strict_high=True,
    ),
    Fact(
        "F10",
        "under low-cost competition a cluster can shrink in firms yet grow in output",
        "revenue_per_firm_change_low_cost",
        "revenue per firm, after / before",
        "revenue per firm, last 12 months / 12 months before low-cost competition",
        1.0,
        math.inf,
        "001:L3315-3330, L3468",
    ),
)
FACT_MEASURES: tuple[str, ...] = tuple(dict.fromkeys(f.measure for f in FACTS))

# Facts that are inputs of the model or out of its reach, and what it does with them.
NOT_MEASURED: dict[str, str] = {
    "F3": "an input: brokers_per_1000 = 5.5 (one broker per about 180 firms)",
    "F9": "not measured: the model has no cluster organisation whose project output "
    "depends on its participant count",
    "F11": "an input: the novelty requirements' growth (market.novelty_growth) sets how fast "
    "products age",
}


def fact_measures(model: ClusterModel, timeseries: pd.DataFrame) -> dict[str, float]:
    """Every fact measure of a finished run (NaN where the run cannot show the fact)."""
    out = dict.fromkeys(FACT_MEASURES, math.nan)
    out.update(_size_measures(model))
    out.update(_broker_measures(model, timeseries))
    out.update(_hub_measures(model, timeseries))
    out.update(_low_cost_measures(model, timeseries))
    if "dependent_firms_share" in timeseries.columns:
        out["dependent_firms_share"] = float(timeseries["dependent_firms_share"].iloc[-1])
    return out


def _size_measures(model: ClusterModel) -> dict[str, float]:
    f = model.firms
    employees = f.employees[: f.n][f.alive[: f.n]]
    if len(employees) == 0:
        return {}
    skew = math.nan
    spread = float(employees.std())
    if len(employees) > 2 and spread > 0:
        skew = float(((employees - employees.mean()) ** 3).mean() / spread**3)
    return {"firms_under_50_share": float((employees < 50).mean()), "size_skewness": skew}


def _value_at(timeseries: pd.DataFrame, column: str, month: int) -> float:
    """``column`` in month ``month`` (NaN when the run did not reach it)."""
    rows = timeseries.loc[timeseries["step"] == month, column]
    return float(rows.iloc[0]) if len(rows) else math.nan


def _first_policy(model: ClusterModel, kind: str) -> tuple[int, int] | None:
    """(start, duration) of the first programme of type ``kind``, if any."""
    config = _first_config(model, kind)
    return None if config is None else (config.start, config.duration)


def _first_config(model: ClusterModel, kind: str):
    """The first programme of type ``kind``, if any."""
    return next((c for c in model.scenario.policies if c.type == kind), None)


def _broker_measures(model: ClusterModel, ts: pd.DataFrame) -> dict[str, float]:
    programme = _first_policy(model, "brokers")
    if programme is None:
        return {}
    start, duration = programme
    sizes = [len(net.members) for net in model.formal_networks.active(model.steps)]
    last = start + duration - 1  # the programme's last month: networks active at the sunset
    at_sunset = _value_at(ts, "formal_networks_active", last)
    later = _value_at(ts, "formal_networks_active", last + F4_MONTHS)
    # F2 is a fact about a national package: brokers backed by an awareness campaign.
    national = bool(getattr(_first_config(model, "brokers"), "awareness", False))
    return {
        "formal_share_36m": (_value_at(ts, "formal_network_share", start + F2_MONTHS)
                             if national else math.nan),
        "networks_persist_12m": later / at_sunset if at_sunset > 0 else math.nan,
        "formal_network_mean_size": float(np.mean(sizes)) if sizes else math.nan,
    }


def _hub_measures(model: ClusterModel, ts: pd.DataFrame) -> dict[str, float]:
    programme = _first_policy(model, "hubs")
    if programme is None:
        return {}
    start, duration = programme
    running = ts[(ts["step"] >= start) & (ts["step"] < start + duration)]
    if not len(running):
        return {}
    alive = running["firms_alive"].to_numpy(dtype=float)
    share = np.divide(
        running["hub_members"].to_numpy(dtype=float),
        alive,
        out=np.full(len(alive), np.nan),
        where=alive > 0,
    )
    ratio = running["hub_self_funding_ratio"].to_numpy(dtype=float)
    return {"hub_member_share": _nanmean(share), "hub_self_funding": _nanmean(ratio)}


def _low_cost_measures(model: ClusterModel, ts: pd.DataFrame) -> dict[str, float]:
    starts = [s.start for s in model.scenario.shocks if s.type == "low_cost_competition"]
    if not starts:
        return {}
    start = starts[0]
    before = ts[(ts["step"] >= start - 12) & (ts["step"] < start) & (ts["step"] > 0)]
    end = int(ts["step"].iloc[-1])
    after = ts[ts["step"] > max(start, end - 12)]
    if not len(before) or not len(after):
        return {}
    firms_then = float(before["firms_alive"].iloc[-1])
    per_firm_before = float((before["revenue"] / before["firms_alive"]).mean())
    per_firm_after = float((after["revenue"] / after["firms_alive"]).mean())
    return {
        "firms_change_low_cost": float(ts["firms_alive"].iloc[-1]) / firms_then
        if firms_then > 0
        else math.nan,
        "revenue_per_firm_change_low_cost": per_firm_after / per_firm_before
        if per_firm_before > 0
        else math.nan,
    }


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else math.nan


# --------------------------------------------------------------------------- a store's facts


def verdict(
    low: float, high: float, ci_low: float, ci_high: float, strict_high: bool = False
) -> str:
    """``yes`` if [ci_low, ci_high] lies inside [low, high] (below ``high`` when
    ``strict_high``), ``no`` if wholly outside, else ``unclear``."""
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "unclear"
    under = ci_high < high if strict_high else ci_high <= high
    if ci_low >= low and under:
        return "yes"
    over = ci_low >= high if strict_high else ci_low > high
    if ci_high < low or over:
        return "no"
    return "unclear"


def facts_table(results: Results, by: str = "arm") -> pd.DataFrame:
    """Per group (``arm`` by default) and fact: measure, n, mean, 95% CI, target, holds."""
    from clustersim.experiments.analysis import mean_ci

    frame = results.summaries
    rows = []
    groups = frame.groupby(by, sort=False) if by in frame.columns else [("all", frame)]
    for group, runs in groups:
        for fact in FACTS:
            if fact.measure not in runs.columns:
                continue
            values = runs[fact.measure].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if not len(values):
                continue
            ci = mean_ci(values)
            rows.append(
                {
                    by: group,
                    "fact": fact.id,
                    "statement": fact.statement,
                    "measure": fact.short,
                    "n": len(values),
                    "mean": ci["mean"],
                    "ci_low": ci["ci_low"],
                    "ci_high": ci["ci_high"],
                    "target": fact.target,
                    "holds": fact.holds(ci["ci_low"], ci["ci_high"]),
                    "source": fact.source,
                    "note": fact.note,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            by,
            "fact",
            "statement",
            "measure",
            "n",
            "mean",
            "ci_low",
            "ci_high",
            "target",
            "holds",
            "source",
            "note",
        ],
    )
