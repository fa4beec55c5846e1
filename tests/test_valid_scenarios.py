"""Valid input never crashes: scenarios drawn across every documented range run, or are
refused with a ScenarioError naming the keys (never a traceback, never a huge allocation).

Values are drawn from each field's own bounds in the schema (so a new parameter is
covered as soon as it is declared), at small sizes so that many examples run quickly.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal

import annotated_types as at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from clustersim.scenario import Scenario, ScenarioError, scenario_from_dict

# Sizes kept small so one example runs in well under a second.
SMALL = {
    ("firms", "count"): st.integers(3, 40),
    ("steps",): st.integers(1, 10),
    ("spin_up",): st.integers(0, 3),
    ("region", "towns"): st.one_of(st.none(), st.integers(1, 6)),
    ("outputs", "path_length_sources"): st.integers(1, 20),
    ("outputs", "network_metrics_every"): st.integers(1, 5),
}
SKIP = {("name",), ("description",), ("outputs", "firm_table_steps"),
        ("outputs", "network_snapshot_steps"), ("policies",), ("shocks",)}


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None, bool, bool]:
    low = high = None
    open_low = open_high = False
    for item in metadata:
        if isinstance(item, at.Ge):
            low = item.ge
        elif isinstance(item, at.Gt):
            low, open_low = item.gt, True
        elif isinstance(item, at.Le):
            high = item.le
        elif isinstance(item, at.Lt):
            high, open_high = item.lt, True
    return low, high, open_low, open_high


def _number(kind: type, metadata: list[Any]) -> st.SearchStrategy:
    low, high, open_low, open_high = _bounds(metadata)
    if kind is int:
        low = -(10**6) if low is None else int(low) + int(open_low)
        high = 10**6 if high is None else int(high) - int(open_high)
        return st.integers(low, high)
    low = -1e6 if low is None else float(low)
    high = 1e6 if high is None else float(high)
    # Edges matter most: the bounds themselves, tiny values, and the range between.
    edges = [v for v in (low, high, low + 1e-9, math.nextafter(low, math.inf)) if
             (v > low or not open_low) and (v < high or not open_high)]
    inner = st.floats(low, high, exclude_min=open_low, exclude_max=open_high,
                      allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(edges), inner) if edges else inner


def _strategy(annotation: Any, metadata: list[Any]) -> st.SearchStrategy | None:
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return _number(annotation, metadata)
    if origin is Literal:
        return st.sampled_from(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = _strategy(options[0], metadata) if len(options) == 1 else None
        return None if inner is None else st.one_of(st.none(), inner)
    return None


def _section(model: type[BaseModel], path: tuple[str, ...]) -> st.SearchStrategy:
    required: dict[str, st.SearchStrategy] = {}
    fields: dict[str, st.SearchStrategy] = {}
    for name, info in model.model_fields.items():
        key = (*path, name)
        if key in SKIP:
            continue
        if key in SMALL:
            required[name] = SMALL[key]
            continue
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sizes = any(k[: len(key)] == key for k in SMALL)
            (required if sizes else fields)[name] = _section(annotation, key)
            continue
        strategy = _strategy(annotation, list(info.metadata))
        if strategy is not None:
            fields[name] = strategy
    # Sizes are always small; every other field is either left at its default or
    # drawn, so defaults mix with extremes.
    return st.fixed_dictionaries(required, optional=fields)


SCENARIOS = _section(Scenario, ())


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=SCENARIOS, seed=st.integers(0, 2**32 - 1))
def test_valid_scenarios_run_or_are_refused_clearly(data, seed):
    from clustersim.model import ClusterModel

    try:
        scenario = scenario_from_dict(data, source="drawn scenario")
    except ScenarioError as exc:
        assert str(exc).startswith("drawn scenario"), str(exc)
        return
    model = ClusterModel(scenario, seed=seed)
    model.run()
    assert len(model.timeseries()) == scenario.steps + 1
