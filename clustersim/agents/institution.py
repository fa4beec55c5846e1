"""Institutions: the programme owner that pays for policies, and universities.

The programme owner (a government agency such as ERVET or the Danish ministry,
003:L1397, L1642) holds the record of every unit a policy spends. A university or
research centre raises the effect of hub training and of funded joint projects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from clustersim.policies.base import ProgrammeLedger

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


class Institution(mesa.Agent):
    """A programme owner (``kind="agency"``) or a university / research centre."""

    def __init__(self, model: ClusterModel, kind: str = "agency", effect: float = 0.0):
        super().__init__(model)
        self.kind = kind
        self.effect = effect  # a university's boost to training and joint projects
        self.ledger = ProgrammeLedger()
