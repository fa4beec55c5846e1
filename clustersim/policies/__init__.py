"""Policy instruments: one module per instrument behind one small interface.

Each instrument module defines a config class (its ``[[policies]]`` table in the
scenario schema) and a :class:`~clustersim.policies.base.Policy` subclass registered
with :func:`register`. Adding an instrument is one new module and its import below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

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

# Each registered instrument names its own config class: the schema's union is built from them.
POLICY_CONFIGS = tuple(policy.config_class for policy in REGISTRY.values())
PolicyConfigUnion = Annotated[Union[POLICY_CONFIGS], Field(discriminator="type")]  # noqa: UP007
POLICY_TYPES = tuple(config.model_fields["type"].default for config in POLICY_CONFIGS)


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
