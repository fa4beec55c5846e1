"""Trust ties between firms (docs/ODD.md §7.5).

A tie is an undirected pair of firms with a trust level in (floor, 1]. A successful
joint job raises trust by ``gain × cooperativeness × (1 − trust)``; every month trust
decays by ``× (1 − decay × (1.5 − cooperativeness))``; a tie whose trust falls
below ``floor`` is dropped. Per-order lookups use plain dicts (fast for scalars);
the monthly decay touches every tie at once with numpy.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Monthly decay is × (1 − decay × (OFFSET − cooperativeness)): a pair of fully
# cooperative firms forgets at half the rate, a pair of opportunists at 1.5 times it.
DECAY_COOPERATIVENESS_OFFSET = 1.5

PAIR_KEY_BASE = 1 << 32  # a pair (i, j), i < j, is stored under the key i × base + j


def pair_key(i: int, j: int) -> int:
    """The dict key of the unordered pair (i, j)."""
    return i * PAIR_KEY_BASE + j if i < j else j * PAIR_KEY_BASE + i


class TieStore:
    """Trust between pairs of firms, with each firm's set of tie partners.

    ``trust`` and ``partners`` are for reading: change ties through the methods, which keep
    the two and the arrays of :meth:`edges` in step.
    """

    def __init__(self, gain: float, decay: float, floor: float):
        self.gain = gain
        self.decay_rate = decay
        self.floor = floor
        self.trust: dict[int, float] = {}
        self.partners: dict[int, set[int]] = {}
        self.formed = 0  # ties created since the counters were last reset
        self.dropped = 0
        self._edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # until a change

    def __len__(self) -> int:
        return len(self.trust)

    def get(self, i: int, j: int) -> float:
        """Trust between i and j (0 when they have no tie)."""
        return self.trust.get(pair_key(i, j), 0.0)

    def degree(self, i: int) -> int:
        """Number of ties firm i has."""
        return len(self.partners.get(i, ()))

    def set(self, i: int, j: int, value: float) -> None:
        """Create or overwrite the tie (i, j) with trust ``value``."""
        if i == j:
            return
        self._edges = None
        key = pair_key(i, j)
        if key not in self.trust:
            self.formed += 1
            self.partners.setdefault(i, set()).add(j)
            self.partners.setdefault(j, set()).add(i)
        self.trust[key] = min(1.0, value)

    def reinforce(self, members: list[int], cooperativeness: list[float]) -> None:
        """A team delivered: trust between every pair rises (creates ties between strangers)."""
        pairs = list(self._pairs(members))
        mean = [0.5 * (cooperativeness[a] + cooperativeness[b]) for a, b in pairs]
        self.after_jobs(np.array([pair_key(members[a], members[b]) for a, b in pairs], dtype=np.int64),
                        np.array(mean, dtype=np.float64), np.ones(len(pairs), dtype=bool), 1.0)

    def weaken(self, members: list[int], keep: float) -> None:
        """A team failed to deliver: existing trust between its pairs × ``keep``."""
        pairs = list(self._pairs(members))
        self.after_jobs(np.array([pair_key(members[a], members[b]) for a, b in pairs], dtype=np.int64),
                        np.zeros(len(pairs)), np.zeros(len(pairs), dtype=bool), keep)

    @staticmethod
    def _pairs(members: list[int]) -> Iterable[tuple[int, int]]:
        """Positions (a, b), a < b, of a team's pairs, in the order trust is updated."""
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                yield a, b

    def after_jobs(self, keys: np.ndarray, cooperativeness: np.ndarray, delivered: np.ndarray,
                   keep: float) -> None:
        """Completed jobs' pairs in turn (keys from :func:`pair_key`): a delivered job's pair
        is reinforced as :meth:`reinforce` does (``cooperativeness``: the pair's mean), a
        failed job's existing tie weakened as :meth:`weaken` does."""
        if not len(keys):
            return
        self._edges = None
        trust, partners, gain = self.trust, self.partners, self.gain
        for key, c, success in zip(keys.tolist(), cooperativeness.tolist(), delivered.tolist(),
                                   strict=True):
            old = trust.get(key)
            if success:
                if old is None:
                    self.formed += 1
                    i, j = divmod(key, PAIR_KEY_BASE)
                    partners.setdefault(i, set()).add(j)
                    partners.setdefault(j, set()).add(i)
                    old = 0.0
                trust[key] = old + gain * c * (1.0 - old)
            elif old is not None:
                trust[key] = old * keep

    def mean_pair_trust(self, members: list[int]) -> float:
        """Mean trust over the pairs of a team (1 for a firm working alone)."""
        n = len(members)
        if n < 2:
            return 1.0
        total = 0.0
        for a in range(n):
            for b in range(a + 1, n):
                total += self.trust.get(pair_key(members[a], members[b]), 0.0)
        return total / (n * (n - 1) / 2)

    def decay(self, cooperativeness: np.ndarray) -> None:
        """Monthly decay of every tie; ties below the floor are dropped.

        A pair's cooperativeness is the mean of its two firms'; more cooperative
        pairs forget more slowly.
        """
        if not self.trust:
            return
        keys = np.fromiter(self.trust.keys(), dtype=np.int64, count=len(self.trust))
        values = np.fromiter(self.trust.values(), dtype=np.float64, count=len(self.trust))
        i, j = keys // PAIR_KEY_BASE, keys % PAIR_KEY_BASE
        coop = 0.5 * (cooperativeness[i] + cooperativeness[j])
        values *= 1.0 - self.decay_rate * (DECAY_COOPERATIVENESS_OFFSET - coop)
        keep = values >= self.floor
        if not keep.all():
            for a, b in zip(i[~keep].tolist(), j[~keep].tolist(), strict=True):
                self.partners[a].discard(b)
                self.partners[b].discard(a)
            self.dropped += int((~keep).sum())
        keys, values = keys[keep], values[keep]
        self.trust = dict(zip(keys.tolist(), values.tolist(), strict=True))
        self._edges = self._frozen(keys, values)

    def remove_firm(self, i: int) -> None:
        """Firm i exits: all its ties go (counted as dropped)."""
        self._edges = None
        for j in self.partners.pop(i, set()):
            self.partners[j].discard(i)
            del self.trust[pair_key(i, j)]
            self.dropped += 1

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All ties as read-only arrays (u, v, trust) with u < v, in the dict's order; made
        once until the ties change (several parts of a month read them)."""
        if self._edges is None:
            keys = np.fromiter(self.trust.keys(), dtype=np.int64, count=len(self.trust))
            values = np.fromiter(self.trust.values(), dtype=np.float64, count=len(self.trust))
            self._edges = self._frozen(keys, values)
        return self._edges

    @staticmethod
    def _frozen(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        arrays = (keys // PAIR_KEY_BASE, keys % PAIR_KEY_BASE, values)
        for array in arrays:
            array.flags.writeable = False
        return arrays

    def add_many(self, pairs: Iterable[tuple[int, int, float]]) -> None:
        """Create ties from (i, j, trust) triples (used to seed the month-0 network)."""
        for i, j, value in pairs:
            self.set(i, j, value)
