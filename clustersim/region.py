"""The region: towns and firm locations in km, travel time, and a spatial index.

`clustered` places firms around a few towns within an hour of each other
(Emilia-Romagna, Prato); `dispersed` scatters them around many towns over a large
province (Alberta, 003:L3329). The one-hour rule (003:L3321) works through
:meth:`Region.travel_hours` and the search radius of :class:`CellIndex`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from clustersim.scenario import RegionConfig


@dataclass
class Region:
    """Towns on a square map of ``size_km``; firms cluster around them."""

    towns_xy: np.ndarray  # (T, 2) km
    town_weights: np.ndarray  # (T,) share of firms per town
    size_km: float
    town_spread_km: float
    speed_kmh: float
    search_radius_km: float

    @classmethod
    def from_config(cls, cfg: RegionConfig, rng: np.random.Generator) -> Region:
        """Draw town positions and sizes for the configured layout."""
        values = cfg.resolved()
        towns = int(values["towns"])
        size = float(values["size_km"])
        margin = 0.15 * size
        xy = rng.uniform(margin, size - margin, size=(towns, 2))
        weights = rng.lognormal(0.0, 0.5, size=towns)
        return cls(
            towns_xy=xy,
            town_weights=weights / weights.sum(),
            size_km=size,
            town_spread_km=float(values["town_spread_km"]),
            speed_kmh=cfg.speed_kmh,
            search_radius_km=cfg.search_radius_hours * cfg.speed_kmh,
        )

    def place_firms(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Locations (x, y) in km for ``n`` new firms around towns drawn by size."""
        town = rng.choice(len(self.towns_xy), size=n, p=self.town_weights)
        offset = rng.normal(0.0, self.town_spread_km, size=(n, 2))
        xy = np.clip(self.towns_xy[town] + offset, 0.0, self.size_km)
        return xy[:, 0].copy(), xy[:, 1].copy()

    def place_near(self, x: float, y: float, spread_km: float, rng: np.random.Generator
                   ) -> tuple[float, float]:
        """A location about ``spread_km`` from (x, y), inside the region."""
        dx, dy = rng.normal(0.0, spread_km, size=2)
        return (float(min(max(x + dx, 0.0), self.size_km)),
                float(min(max(y + dy, 0.0), self.size_km)))

    def nearest_town(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the nearest town for each location."""
        d2 = (x[:, None] - self.towns_xy[None, :, 0]) ** 2 + (y[:, None] - self.towns_xy[None, :, 1]) ** 2
        return np.argmin(d2, axis=1)

    def travel_hours(self, x1: float, y1: float, x2: float, y2: float) -> float:
        """Travel time in hours between two points (straight line at ``speed_kmh``)."""
        return math.hypot(x1 - x2, y1 - y2) / self.speed_kmh


# A cell (cx, cy) is stored under the key cx × CELL_KEY_STRIDE + cy.
CELL_KEY_STRIDE = 1_000_003


def cell_keys(x: np.ndarray, y: np.ndarray, cell_km: float) -> np.ndarray:
    """The key ``cx × CELL_KEY_STRIDE + cy`` of the square cell ``cell_km`` wide holding each
    point (x, y)."""
    return (np.floor(x / cell_km).astype(np.int64) * CELL_KEY_STRIDE
            + np.floor(y / cell_km).astype(np.int64))


def cell_arrays(x: np.ndarray, y: np.ndarray, members: np.ndarray, cell_km: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``members`` bucketed in square cells ``cell_km`` wide, as flat arrays: each occupied
    cell's key (:func:`cell_keys`, ascending), where its members start and end in the
    members sorted by cell (ascending firm order within a cell), and those sorted members."""
    keys = cell_keys(x[members], y[members], cell_km)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) \
        if len(sorted_keys) else np.zeros(0, dtype=np.int64)
    ends = np.r_[starts[1:], len(sorted_keys)].astype(np.int64)
    return sorted_keys[starts], starts, ends, members[order]


class CellIndex:
    """Firms bucketed in square cells one search radius wide.

    A firm's neighbourhood (its cell and the eight around it) holds every firm within
    the search radius, so random partner search never scans the whole cluster
    (docs/developing.md, performance).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, members: np.ndarray, cell_km: float):
        self.cell_km = max(cell_km, 1e-9)
        self.x = x
        self.y = y
        self._hoods: dict[int, list[int]] = {}
        self._cells: dict[int, list[int]] = {}
        if len(members) == 0:
            return
        keys, starts, ends, sorted_members = cell_arrays(x, y, members, self.cell_km)
        self._cells: dict[int, list[int]] = {
            key: sorted_members[s:e].tolist()
            for key, s, e in zip(keys.tolist(), starts.tolist(), ends.tolist(), strict=True)
        }

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """Cell coordinates of a point."""
        return math.floor(x / self.cell_km), math.floor(y / self.cell_km)

    def neighbourhood(self, x: float, y: float) -> list[int]:
        """Members in the 3 × 3 cells around (x, y): a superset of those within one radius."""
        cx, cy = self.cell_of(x, y)
        key = cx * CELL_KEY_STRIDE + cy
        hood = self._hoods.get(key)
        if hood is None:
            hood = []
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    hood.extend(self._cells.get((cx + dx) * CELL_KEY_STRIDE + (cy + dy), ()))
            self._hoods[key] = hood
        return hood
