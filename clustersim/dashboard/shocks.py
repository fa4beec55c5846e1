"""Fire a shock into a running model, as if the scenario had scheduled it for next month.

The model's own schedule does the rest: the shock begins in the next month's market
update (before that month's orders are drawn), lasts its ``duration`` months and ends
itself, exactly like a ``[[shocks]]`` table with ``start`` = next month. Only the
model's public surface is used (the :data:`~clustersim.shocks.SHOCKS` registry and
``model.shocks``); the scenario object is left as it was loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clustersim.shocks import SHOCK_CONFIGS, SHOCKS, Shock, ShockConfig

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

SHOCK_CONFIG_CLASSES: dict[str, type[ShockConfig]] = {
    config.model_fields["type"].default: config for config in SHOCK_CONFIGS
}


def shock_config(kind: str, **values: Any) -> ShockConfig:
    """A validated config of shock type ``kind`` with its defaults and ``values``."""
    try:
        config_class = SHOCK_CONFIG_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown shock type {kind!r}; known: {', '.join(SHOCK_CONFIG_CLASSES)}") from None
    return config_class.model_validate({"type": kind, **values})


def fire_shock(model: ClusterModel, kind: str | ShockConfig, **values: Any) -> Shock:
    """Schedule a shock for the model's next month and return it.

    ``kind`` is a shock type name (its config's defaults, changed by ``values``) or a
    config, whose ``start`` is replaced by next month. Segment, phase and town numbers
    in the config are checked against the running model.
    """
    base = shock_config(kind, **values) if isinstance(kind, str) else kind
    config = type(base).model_validate({**base.model_dump(), "start": model.steps + 1})
    _check_targets(model, config)
    shock = SHOCKS[config.type](config, model, len(model.shocks))
    model.shocks.append(shock)
    return shock


def _check_targets(model: ClusterModel, config: ShockConfig) -> None:
    segments = model.market.segment_count
    phases = model.scenario.firms.phases
    towns = len(model.region.towns_xy)
    for index in getattr(config, "segments", None) or []:
        if index >= segments:
            raise ValueError(f"segment {index} does not exist: segments are 0..{segments - 1}")
    for index in [*(getattr(config, "phases", None) or []), getattr(config, "phase", None)]:
        if index is not None and index >= phases:
            raise ValueError(f"phase {index} does not exist: phases are 0..{phases - 1}")
    town = getattr(config, "town", None)
    if town is not None and town >= towns:
        raise ValueError(f"town {town} does not exist: towns are 0..{towns - 1}")
