"""Firm effects: what programmes do to firms' visibility, fixed costs and quality.

A policy mechanism, not firm behaviour: brokers' networks (joint marketing, scouting,
a shared front office) and hubs' services (market intelligence, export promotion,
shared equipment) publish per-firm values under their own names; the model composes
them into the firm arrays once a month, right after the programmes' step
(docs/hooks.md, "firm effects").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from clustersim.agents.firm import FirmState


class Effects:
    """Per-firm effects that policies put on firms, composed once a month.

    Each policy publishes, under its own ``source`` name, a mapping firm → value for
    a field; publishing again replaces that source's mapping. :meth:`apply` rebuilds
    the firm arrays from all sources, so effects from brokers and hubs combine
    instead of overwriting each other, and vanish when a source withdraws them.

    - ``visibility``: × (1 + value) on the chance of seeing orders
    - ``fixed_cost``: × (1 − value) on fixed costs (savings)
    - ``quality``: + value on a team's quality when the firm works on an order
    """

    FIELDS = ("visibility", "fixed_cost", "quality")

    def __init__(self) -> None:
        self._layers: dict[tuple[str, str], dict[int, float]] = {}

    def put(self, source: str, field: str, values: dict[int, float]) -> None:
        """Replace what ``source`` contributes to ``field``."""
        if field not in self.FIELDS:
            raise ValueError(f"unknown effect field {field!r}; allowed: {', '.join(self.FIELDS)}")
        self._layers[(source, field)] = dict(values)

    def clear(self, source: str) -> None:
        """Withdraw every effect of ``source``."""
        for key in [k for k in self._layers if k[0] == source]:
            del self._layers[key]

    def apply(self, firms: FirmState) -> None:
        """Rebuild visibility, fixed-cost factor and quality bonus from all sources."""
        n = firms.n
        firms.visibility[:n] = 1.0
        firms.fixed_cost_factor[:n] = 1.0
        firms.quality_bonus[:n] = 0.0
        for (_source, field), values in self._layers.items():
            if not values:
                continue
            idx = np.fromiter(values.keys(), dtype=np.int64, count=len(values))
            val = np.fromiter(values.values(), dtype=np.float64, count=len(values))
            if field == "visibility":
                firms.visibility[idx] *= 1.0 + val
            elif field == "fixed_cost":
                firms.fixed_cost_factor[idx] *= np.clip(1.0 - val, 0.0, 1.0)
            else:
                firms.quality_bonus[idx] += val
