"""Shared fixtures: a tiny stand-in for ClusterModel, for CLI and output tests."""

from __future__ import annotations

from typing import Any, ClassVar

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from clustersim.scenario import Scenario, scenario_from_dict


class FakeModel:
    """Honours ClusterModel's contract with seeded random numbers and no simulation."""

    constructed: ClassVar[list[FakeModel]] = []

    def __init__(self, scenario: Scenario | None = None, *, seed: int = 0) -> None:
        self.scenario = scenario if scenario is not None else scenario_from_dict({})
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.network_snapshots: dict[int, nx.Graph] = {}
        self._rows: list[dict[str, Any]] = []
        self._firms: list[dict[str, Any]] = []
        FakeModel.constructed.append(self)

    def run(self, steps: int | None = None, on_step: Any = None) -> None:
        total = self.scenario.steps if steps is None else steps
        firms = self.scenario.firms.count
        outputs = self.scenario.outputs
        for step in range(total + 1):
            if step:
                firms += int(self.rng.integers(-2, 3))
            orders = int(self.rng.poisson(20))
            self._rows.append(
                {
                    "step": step,
                    "firms_alive": firms,
                    "orders": orders,
                    "orders_won": int(self.rng.binomial(orders, 0.6)),
                    "innovations": int(self.rng.poisson(2)),
                    "revenue": float(self.rng.gamma(5.0, 100.0)),
                    "mean_degree": float(self.rng.random() * 4),
                }
            )
            if step in outputs.firm_table_steps:
                self._firms += [
                    {"step": step, "firm": i, "cash": float(self.rng.normal())} for i in range(5)
                ]
            if step in outputs.network_snapshot_steps:
                self.network_snapshots[step] = nx.gnp_random_graph(
                    10, 0.3, seed=int(self.rng.integers(1 << 30))
                )
            if step and on_step is not None:
                on_step(step, total)

    def timeseries(self) -> pd.DataFrame:
        return pd.DataFrame(self._rows)

    def firm_table(self) -> pd.DataFrame:
        return pd.DataFrame(self._firms)

    def totals(self) -> dict[str, float]:
        frame = self.timeseries()
        return {
            "orders": float(frame["orders"].sum()),
            "orders_won": float(frame["orders_won"].sum()),
            "revenue": float(frame["revenue"].sum()),
        }


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> type[FakeModel]:
    """Make ``clustersim run`` use :class:`FakeModel`; ``FakeModel.constructed`` records runs."""
    from clustersim import cli

    FakeModel.constructed = []
    monkeypatch.setattr(cli, "_model_class", lambda: FakeModel)
    return FakeModel
