"""Policy instruments: one module per instrument behind one small interface.

Each policy has a ``start`` month, a ``duration`` (then it stops: sunset) and a
``budget``; the model calls :meth:`Policy.step` once a month in MODEL.md §4 step 2.
An instrument registers its class under its type name, so a scenario's
``[[policies]]`` table names it by ``type``. The instruments themselves (brokers,
challenge grants, hubs) arrive with issue 3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


class Policy:
    """Shared interface of every policy instrument."""

    type_name: ClassVar[str] = ""

    def __init__(self, start: int, duration: int, budget: float):
        self.start = start
        self.duration = duration
        self.budget = budget
        self.spent = 0.0

    def active(self, month: int) -> bool:
        """Whether the programme runs in ``month`` (it stops after its duration)."""
        return self.start <= month < self.start + self.duration

    def step(self, model: ClusterModel) -> None:
        """One month of the instrument's work."""
        raise NotImplementedError


REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make an instrument available under its ``type_name``."""
    if not cls.type_name:
        raise ValueError(f"{cls.__name__} needs a type_name")
    REGISTRY[cls.type_name] = cls
    return cls
