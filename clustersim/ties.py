"""Trust ties between firms (docs/ODD.md §7.5).

A tie is an undirected pair of firms with a trust level in (floor, 1]. A successful
joint job raises trust by ``gain × cooperativeness × (1 − trust)``; every month trust
decays by ``× (1 − decay × (1.5 − cooperativeness))``; a tie whose trust falls
below ``floor`` is dropped.

Trust is kept by pair key in a :class:`~clustersim.keyed.KeyedValues` (flat arrays in the
order the ties were made, with a hash index): the month's bulk work (joint jobs' pairs, the
decay, trust lookups for delivery) runs compiled over them (:mod:`clustersim.compiled`)
instead of a Python dict entry per tie.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from clustersim import compiled
from clustersim.keyed import KeyedValues

# Monthly decay is × (1 − decay × (OFFSET − cooperativeness)): a pair of fully
# cooperative firms forgets at half the rate, a pair of opportunists at 1.5 times it.
DECAY_COOPERATIVENESS_OFFSET = 1.5

PAIR_KEY_BASE = 1 << 32  # a pair (i, j), i < j, is stored under the key i × base + j


def pair_key(i: int, j: int) -> int:
    """The key of the unordered pair (i, j)."""
    return i * PAIR_KEY_BASE + j if i < j else j * PAIR_KEY_BASE + i


def pair_keys(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """:func:`pair_key` of the pairs (i[k], j[k]), as an array."""
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    return np.minimum(i, j) * PAIR_KEY_BASE + np.maximum(i, j)


def pair_firms(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j), i < j, of ``keys``: the inverse of :func:`pair_keys`."""
    return keys // PAIR_KEY_BASE, keys % PAIR_KEY_BASE


class TieStore:
    """Trust between pairs of firms, with each firm's set of tie partners.

    ``partners`` (firm → set of partners), :attr:`trust` and :meth:`edges` are for reading:
    change ties through the methods, which keep them in step.
    """

    def __init__(self, gain: float, decay: float, floor: float):
        self.gain = gain
        self.decay_rate = decay
        self.floor = floor
        self.partners: dict[int, set[int]] = {}
        self.formed = 0  # ties created since the counters were last reset
        self.dropped = 0
        self._trust = KeyedValues()  # pair key → trust, in the order the ties were made
        self._edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # until a change
        self._dict: dict[int, float] | None = None

    def __len__(self) -> int:
        return len(self._trust)

    def _changed(self) -> None:
        self._edges = None
        self._dict = None

    def _made(self, keys: np.ndarray) -> None:
        """New ties (pair keys, in order): count them and tell both firms."""
        partners = self.partners
        for i, j in zip(*(side.tolist() for side in pair_firms(keys)), strict=True):
            mine = partners.get(i)
            if mine is None:
                partners[i] = {j}
            else:
                mine.add(j)
            theirs = partners.get(j)
            if theirs is None:
                partners[j] = {i}
            else:
                theirs.add(i)
        self.formed += len(keys)

    # ------------------------------------------------------------------ reading

    def get(self, i: int, j: int) -> float:
        """Trust between i and j (0 when they have no tie)."""
        return self._trust.get(pair_key(i, j))

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Trust of each pair in ``keys`` (from :func:`pair_key`; 0 where there is no tie)."""
        return self._trust.lookup(keys)

    @property
    def trust(self) -> dict[int, float]:
        """All ties as a dict, pair key → trust, in the order they were made (built once
        until the ties change; for reading, and for code that looks pairs up one by one)."""
        if self._dict is None:
            keys, values = self._trust.items()
            self._dict = dict(zip(keys.tolist(), values.tolist(), strict=True))
        return self._dict

    def degree(self, i: int) -> int:
        """Number of ties firm i has."""
        return len(self.partners.get(i, ()))

    def mean_pair_trust(self, members: list[int]) -> float:
        """Mean trust over the pairs of a team (1 for a firm working alone)."""
        n = len(members)
        if n < 2:
            return 1.0
        total = 0.0
        for a in range(n):
            for b in range(a + 1, n):
                total += self.get(members[a], members[b])
        return total / (n * (n - 1) / 2)

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All ties as read-only arrays (u, v, trust) with u < v, in the order they were
        made; made once until the ties change (several parts of a month read them)."""
        if self._edges is None:
            keys, values = self._trust.items()
            arrays = (*pair_firms(keys), values)
            for array in arrays:
                array.flags.writeable = False
            self._edges = arrays
        return self._edges

    # ------------------------------------------------------------------ changes

    def set(self, i: int, j: int, value: float) -> None:
        """Create or overwrite the tie (i, j) with trust ``value``."""
        if i == j:
            return
        self._changed()
        key = pair_key(i, j)
        if self._trust.set(key, min(1.0, value)):
            self.partners.setdefault(i, set()).add(j)
            self.partners.setdefault(j, set()).add(i)
            self.formed += 1

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
        self._pass(compiled.tie_after_jobs, np.asarray(keys, dtype=np.int64),
                   np.asarray(cooperativeness, dtype=np.float64),
                   np.asarray(delivered, dtype=np.bool_), float(keep), float(self.gain))

    def lift(self, i: np.ndarray, j: np.ndarray, step: float, least: float) -> None:
        """Pairs (i[k], j[k]) in turn, each as ``set(i, j, max(t + step × (1 − t), least))``
        with t its trust then (0 without a tie): contacts a programme arranges."""
        keys = pair_keys(i, j)[np.asarray(i) != np.asarray(j)]
        self._pass(compiled.tie_lift, keys, float(step), float(least))

    def _pass(self, kernel, keys: np.ndarray, *args) -> None:
        """Run a compiled pass over pairs ``keys`` in turn that may make ties (``kernel``:
        tie_after_jobs or tie_lift), with room for each to be new; tell the new ties' firms."""
        if not len(keys):
            return
        self._changed()
        trust = self._trust
        trust.reserve(len(keys))
        formed = np.empty(len(keys), dtype=np.int64)
        trust.count, made = kernel(trust.table, trust.shift, trust.keys, trust.values,
                                   trust.count, keys, *args, formed)
        self._made(formed[:made])

    def decay(self, cooperativeness: np.ndarray) -> None:
        """Monthly decay of every tie; ties below the floor are dropped.

        A pair's cooperativeness is the mean of its two firms'; more cooperative
        pairs forget more slowly.
        """
        if not len(self):
            return
        self._changed()
        trust = self._trust
        dropped = np.empty(len(self), dtype=np.int64)
        gone = compiled.tie_decay(
            trust.table, trust.shift, trust.keys, trust.values, trust.count,
            np.asarray(cooperativeness, dtype=np.float64), float(self.decay_rate),
            DECAY_COOPERATIVENESS_OFFSET, float(self.floor), PAIR_KEY_BASE, dropped)
        partners = self.partners
        for a, b in zip(*(side.tolist() for side in pair_firms(dropped[:gone])), strict=True):
            partners[a].discard(b)
            partners[b].discard(a)
        self.dropped += gone
        trust.gone += gone
        trust.compact()  # when removed ties' slots are half of them

    def remove_firm(self, i: int) -> None:
        """Firm i exits: all its ties go (counted as dropped)."""
        self._changed()
        for j in self.partners.pop(i, set()):
            self.partners[j].discard(i)
            self._trust.remove(pair_key(i, j))
            self.dropped += 1

    def add_many(self, pairs: Iterable[tuple[int, int, float]]) -> None:
        """Create ties from (i, j, trust) triples (used to seed the month-0 network)."""
        for i, j, value in pairs:
            self.set(i, j, value)
