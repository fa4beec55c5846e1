"""Resilience figures: depth of the drop after a shock and months to recover."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from clustersim.model import ClusterModel
from clustersim.resilience import RESILIENCE_COLUMNS, model_resilience, resilience, resilience_table
from clustersim.scenario import load_scenario, scenario_from_dict
from clustersim.shocks import DemandDropConfig


def series(values: list[float], column: str = "revenue") -> pd.DataFrame:
    return pd.DataFrame({column: values})


def test_step_drop_and_step_recovery_give_exact_depth_and_months() -> None:
    frame = series([100.0] * 12 + [40.0] * 6 + [100.0] * 12)
    figures = resilience(frame, start=12)
    assert figures["baseline"] == 100.0
    assert figures["depth"] == pytest.approx(0.6)
    assert figures["trough_month"] == 12
    assert figures["months_to_recover"] == 6 and figures["recovery_month"] == 18
    assert figures["recovered"] is True


def test_gradual_recovery_counts_months_to_95_percent_of_the_pre_shock_mean() -> None:
    # Pre-shock mean 100 (alternating 90/110); drop to 50, then +10 a month: 60, 70, ..., 100.
    before = [90.0, 110.0] * 6
    after = [50.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 100.0, 100.0, 100.0]
    frame = series(before + after)
    raw = resilience(frame, start=12, smooth=1)
    assert raw["depth"] == pytest.approx(0.5)
    assert raw["months_to_recover"] == 6  # 100 ≥ 95 first in month 18
    smoothed = resilience(frame, start=12, smooth=3)
    # Forward means: month 17 → (90 + 100 + 100) / 3 = 96.7 ≥ 95; month 16 → 90 < 95.
    assert smoothed["months_to_recover"] == 5
    assert smoothed["depth"] == pytest.approx(1 - (50 + 50 + 60) / 3 / 100)


def test_a_series_that_never_recovers_has_no_recovery_month() -> None:
    figures = resilience(series([200.0] * 12 + [150.0] * 24), start=12)
    assert figures["depth"] == pytest.approx(0.25)
    assert figures["months_to_recover"] is None and figures["recovery_month"] is None
    assert figures["recovered"] is False
    table = resilience_table([DemandDropConfig(start=12)], series([200.0] * 12 + [150.0] * 24))
    assert math.isnan(table["months_to_recover"].iloc[0])


def test_a_one_month_blip_is_not_a_recovery() -> None:
    values = [100.0] * 12 + [50.0] * 3 + [100.0] + [50.0] * 8
    assert resilience(series(values), start=12, smooth=1)["months_to_recover"] == 3
    assert resilience(series(values), start=12, smooth=3)["months_to_recover"] is None


def test_no_drop_below_the_recovery_level_means_zero_months() -> None:
    figures = resilience(series([100.0] * 12 + [97.0] * 5 + [120.0] * 5), start=12)
    assert figures["months_to_recover"] == 0
    assert figures["depth"] == pytest.approx(0.03)
    rise = resilience(series([100.0] * 12 + [130.0] * 6), start=12)
    assert rise["depth"] < 0 and rise["months_to_recover"] == 0


def test_baseline_uses_only_the_months_before_the_shock() -> None:
    frame = series([1000.0] * 6 + [100.0] * 12 + [40.0] * 6 + [100.0] * 6)
    figures = resilience(frame, start=18, baseline_months=12)
    assert figures["baseline"] == 100.0 and figures["depth"] == pytest.approx(0.6)
    wider = resilience(frame, start=18, baseline_months=18)
    assert wider["baseline"] == pytest.approx((6 * 1000 + 12 * 100) / 18)


def test_window_end_excludes_a_later_drop() -> None:
    values = [100.0] * 12 + [80.0] * 3 + [100.0] * 5 + [10.0] * 5
    frame = series(values)
    assert resilience(frame, start=12, end=20)["depth"] == pytest.approx(0.2)
    assert resilience(frame, start=12)["depth"] == pytest.approx(0.9)
    shocks = [DemandDropConfig(start=12, duration=3), DemandDropConfig(start=20, duration=5)]
    table = resilience_table(shocks, frame)
    assert list(table.columns) == RESILIENCE_COLUMNS
    assert table["depth"].tolist() == pytest.approx([0.2, 1 - 10 / 95])  # months 8-19: mean 95
    assert table["months_to_recover"].iloc[0] == 3 and math.isnan(table["months_to_recover"].iloc[1])


def test_step_column_gives_the_months_and_month_zero_is_left_out() -> None:
    # Month 0 is the initial state (revenue 0 by construction) and must not pull the baseline.
    frame = pd.DataFrame({"step": np.arange(25), "revenue": [0.0] + [100.0] * 11 + [60.0] * 13})
    figures = resilience(frame.iloc[::-1], start=11, baseline_months=12)
    assert figures["baseline"] == 100.0
    assert figures["depth"] == pytest.approx(0.4) and figures["recovered"] is False


def test_undefined_figures_are_nan_and_bad_arguments_raise() -> None:
    empty_before = resilience(series([50.0] * 10), start=0)
    assert math.isnan(empty_before["depth"]) and empty_before["months_to_recover"] is None
    with pytest.raises(KeyError, match="revenue"):
        resilience(series([1.0] * 5, column="orders"), start=2)
    with pytest.raises(ValueError, match="smooth"):
        resilience(series([1.0] * 5), start=2, smooth=0)


def test_a_real_covid_run_loses_revenue() -> None:
    data = load_scenario("covid_demand_drop").model_dump()
    data.update(steps=40, firms={**data["firms"], "count": 120})
    data["shocks"][0].update(start=20, duration=8, magnitude=0.6)
    model = ClusterModel(scenario_from_dict(data, source="test"), seed=2)
    model.run()
    table = model_resilience(model)
    assert len(table) == 1 and table["start"].iloc[0] == 20 and table["end"].iloc[0] == 28
    assert table["depth"].iloc[0] > 0.2
    orders = model_resilience(model, column="orders")
    assert orders["depth"].iloc[0] == pytest.approx(0.6, abs=0.15)
