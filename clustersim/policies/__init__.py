"""Policy instruments: what each programme does, behind one small interface.

Each instrument's ``[[policies]]`` table is a config class in
:mod:`clustersim.config.policies` (schema only, no Mesa); its behaviour is a
:class:`~clustersim.policies.base.Policy` subclass here, registered with
:func:`register`. Adding an instrument is one config class, one module and its import
below. Where a programme acts on the month is listed in docs/hooks.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clustersim.config.policies import POLICY_CONFIGS, POLICY_TYPES, PolicyConfigUnion
from clustersim.policies.base import (
    RECIPIENT_FIRM,
    RECIPIENT_HUB,
    RECIPIENT_OUTSIDE,
    Payment,
    Policy,
    PolicyConfig,
    ProgrammeLedger,
)

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make an instrument available under its ``type_name``."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} needs a type_name")
    REGISTRY[cls.type_name] = cls
    return cls


from clustersim.policies import brokers, grants, hubs  # noqa: E402, F401  (they register themselves)

# Every [[policies]] type of the schema has its behaviour, and each behaviour its config.
if {REGISTRY[t].config_class for t in POLICY_TYPES} != set(POLICY_CONFIGS):
    raise ImportError("clustersim.policies: REGISTRY and config.policies.POLICY_CONFIGS disagree")


def build_policies(model: ClusterModel) -> list[Policy]:
    """The scenario's programmes, in the order its ``[[policies]]`` tables list them."""
    return [REGISTRY[config.type](config, model, i) for i, config in enumerate(model.scenario.policies)]


__all__ = [
    "POLICY_CONFIGS",
    "POLICY_TYPES",
    "RECIPIENT_FIRM",
    "RECIPIENT_HUB",
    "RECIPIENT_OUTSIDE",
    "REGISTRY",
    "Payment",
    "Policy",
    "PolicyConfig",
    "PolicyConfigUnion",
    "ProgrammeLedger",
    "build_policies",
    "register",
]
