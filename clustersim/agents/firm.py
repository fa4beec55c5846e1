"""Small firms (SMEs): their state lives in numpy arrays owned by the model.

Every month touches every firm's cash, capacity, knowledge and capabilities, so
those live in :class:`FirmState` arrays indexed by the firm's ``idx``
(docs/developing.md: hot state in numpy). A :class:`Firm` is the Mesa agent that reads
and writes its own row; firms are never re-indexed, an exit only clears ``alive``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from clustersim.model import ClusterModel

COVER_THRESHOLD = 0.5  # a firm covers a phase when its capability there is at least this

# name → dtype of each per-firm array; capability is (n, K) and set up separately.
_FIELDS: dict[str, type] = {
    "alive": bool,
    "x": np.float64,  # km
    "y": np.float64,
    "town": np.int64,
    "specialty": np.int64,
    "knowledge": np.float64,
    "employees": np.float64,  # full-time equivalents; capacity = employees employee-months/month
    "cash": np.float64,  # k€
    "cooperativeness": np.float64,
    "habitual": bool,  # cooperates out of habit (two-type population, docs/ODD.md §7.14)
    "search_willingness": np.float64,  # chance a lead looks for strangers (§7.2)
    "openness": np.float64,  # this month's response to crisis and opportunity (§7.14)
    "threat": np.float64,  # perceived competitive threat, lagged (003:L3070)
    "rivalry_pressure": np.float64,  # share of local rivals ahead in knowledge (§7.16)
    "negative_months": np.int64,
    "born": np.int64,  # month of entry (0 for the initial cohort)
    "network": np.int64,  # fixed network id in static mode, −1 otherwise
    "load": np.float64,  # work committed this month, employee-months
    "utilisation": np.float64,  # smoothed load / capacity
    "revenue_month": np.float64,
    "revenue_fast": np.float64,  # exponentially smoothed revenue, 3-month time constant
    "revenue_slow": np.float64,  # exponentially smoothed revenue, 12-month time constant
    "orders_led": np.int64,
    "orders_joined": np.int64,
    "orders_lost": np.int64,
    "innovations": np.int64,
    "last_innovation": np.int64,
    "failed_innovation": np.int64,  # last month a product it led lost to the world's (missed the trend)
    "revenue_cum": np.float64,
    "visibility": np.float64,  # multiplies the chance of seeing orders (policies raise it)
    "formal_network": np.int64,  # broker-made formal network, −1 if none
    "hub": np.int64,  # service hub the firm is a member of, −1 if none
    "fixed_cost_factor": np.float64,  # × fixed costs (shared front office, shared equipment)
    "quality_bonus": np.float64,  # added to a team's quality when the firm works on an order
    "disrupted": bool,  # produces nothing this month (supply disruption)
}


class FirmState:
    """Struct of arrays for all firms ever created; grows by doubling as firms enter."""

    THREAT_LAG = 6  # months between a fall in orders and the owner noticing it

    def __init__(self, n: int, phases: int):
        self.n = 0
        self.phases = phases
        self._allocated = 0
        for name, dtype in _FIELDS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))
        self.capability = np.zeros((0, phases))
        self.threat_signal = np.zeros((0, self.THREAT_LAG + 1))  # months t−LAG .. t
        self._reserve(max(n, 8))

    def _reserve(self, size: int) -> None:
        if size <= self._allocated:
            return
        for name in _FIELDS:
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        for name in ("capability", "threat_signal"):
            old = getattr(self, name)
            new = np.zeros((size, old.shape[1]))
            new[: self.n] = old[: self.n]
            setattr(self, name, new)
        self._allocated = size

    def add(self, count: int) -> np.ndarray:
        """Make room for ``count`` new firms; returns their indices (fields zeroed)."""
        start = self.n
        if start + count > self._allocated:
            self._reserve(max(2 * self._allocated, start + count))
        self.n = start + count
        idx = np.arange(start, start + count)
        self.network[idx] = -1
        self.last_innovation[idx] = -(10**6)
        self.failed_innovation[idx] = -(10**6)
        self.visibility[idx] = 1.0
        self.formal_network[idx] = -1
        self.hub[idx] = -1
        self.fixed_cost_factor[idx] = 1.0
        return idx

    def view(self, name: str) -> np.ndarray:
        """The used part of an array (firms 0..n−1)."""
        return getattr(self, name)[: self.n]

    def alive_indices(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n])

    def monthly_costs(self, wage: float, overhead: float) -> np.ndarray:
        """Fixed costs per firm-month (wages plus overhead, less what shared services save), k€."""
        return (wage * self.employees[: self.n] + overhead) * self.fixed_cost_factor[: self.n]


class Firm(mesa.Agent):
    """A small manufacturing firm, specialised in one production phase.

    Its numbers live in the model's :class:`FirmState`; attributes here are views of
    row ``idx``, so agent-level tools (Mesa's AgentSet, DataCollector agent reporters,
    SolaraViz) see the same values the vectorised month uses.
    """

    def __init__(self, model: ClusterModel, idx: int):
        super().__init__(model)
        self.idx = idx

    def _state(self) -> FirmState:
        return self.model.firms

    @property
    def alive(self) -> bool:
        return bool(self._state().alive[self.idx])

    @property
    def specialty(self) -> int:
        return int(self._state().specialty[self.idx])

    @property
    def capability(self) -> np.ndarray:
        return self._state().capability[self.idx]

    @property
    def knowledge(self) -> float:
        return float(self._state().knowledge[self.idx])

    @property
    def employees(self) -> float:
        return float(self._state().employees[self.idx])

    @property
    def cash(self) -> float:
        return float(self._state().cash[self.idx])

    @property
    def cooperativeness(self) -> float:
        return float(self._state().cooperativeness[self.idx])

    @property
    def position(self) -> tuple[float, float]:
        state = self._state()
        return float(state.x[self.idx]), float(state.y[self.idx])

    def covers(self, phase: int) -> bool:
        """Whether the firm can do ``phase`` itself."""
        return bool(self._state().capability[self.idx, phase] >= COVER_THRESHOLD)

    def tie_partners(self) -> list[Firm]:
        """Firms this one has a trust tie with."""
        agents = self.model.firm_agents
        return [agents[j] for j in sorted(self.model.ties.partners.get(self.idx, ()))]

    def __repr__(self) -> str:
        return (f"Firm(idx={self.idx}, specialty={self.specialty}, employees={self.employees:.1f}, "
                f"cash={self.cash:.1f}, alive={self.alive})")
