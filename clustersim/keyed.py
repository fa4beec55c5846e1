"""Float values under int64 keys, in flat arrays: a dict's behaviour for bulk compiled work.

:class:`KeyedValues` keeps each key (an int64 ≥ 0) and its value in a slot; slots are in
the order the keys came in, and a key removed and added again goes to the end, as in a
Python dict, so sums over them come out in the same order, bit for bit. An
open-addressing hash table (:mod:`clustersim.compiled`, "keyed values") finds a key's slot;
the month's bulk work (ties after jobs, their decay, partner revenue) runs compiled over the
arrays instead of touching a Python dict entry by entry: at 100,000 firms there are about
1.5 million ties.
"""

from __future__ import annotations

import numpy as np

from clustersim import compiled

_MIN_SLOTS = 16


def _table_size(slots: int) -> int:
    """Hash table entries for ``slots`` keys: the power of two at least twice as many."""
    return 1 << (2 * slots - 1).bit_length()


class KeyedValues:
    """An insertion-ordered map int64 key → float64 value in arrays.

    ``keys``/``values`` hold the slots (``count`` used, removed keys' included, as
    ``SLOT_GONE``); ``table``/``shift`` the hash index. Compiled kernels take these
    arrays; Python code reads through the methods.
    """

    def __init__(self) -> None:
        self.keys = np.full(_MIN_SLOTS, compiled.SLOT_GONE, dtype=np.int64)
        self.values = np.zeros(_MIN_SLOTS, dtype=np.float64)
        self.count = 0  # slots used, removed keys' included
        self.gone = 0  # removed keys' slots among them
        self.index(_table_size(_MIN_SLOTS))

    def __len__(self) -> int:
        return self.count - self.gone

    def index(self, size: int) -> None:
        """A fresh hash table of ``size`` entries (a power of two) over the used slots."""
        self.table = np.full(size, compiled.TABLE_EMPTY, dtype=np.int64)
        self.shift = 64 - (size.bit_length() - 1)
        compiled.keyed_index(self.table, self.shift, self.keys, self.count)

    def reserve(self, extra: int) -> None:
        """Room for ``extra`` new keys: slots, and a table at most half full."""
        need = self.count + extra
        if need > self.keys.size:
            size = max(2 * self.keys.size, need)
            self.keys = np.concatenate([self.keys, np.full(size - self.keys.size,
                                                           compiled.SLOT_GONE, np.int64)])
            self.values = np.concatenate([self.values, np.zeros(size - self.values.size)])
        if 2 * need > self.table.size:
            self.index(_table_size(self.keys.size))

    def compact(self) -> None:
        """Drop removed keys' slots (when they are many), keeping the order."""
        if self.gone and 2 * self.gone >= self.count:
            keys, values = self.items()
            room = max(_MIN_SLOTS, 2 * keys.size)
            self.keys = np.full(room, compiled.SLOT_GONE, dtype=np.int64)
            self.values = np.zeros(room)
            self.keys[: keys.size], self.values[: keys.size] = keys, values
            self.count, self.gone = keys.size, 0
            self.index(max(self.table.size, _table_size(room)))

    # ------------------------------------------------------------------ reading

    def slot(self, key: int, create: bool = False) -> int:
        """The slot of ``key`` (-1 if none); with ``create`` a new key gets slot ``count``
        (value 0; the caller counts it after :meth:`reserve`)."""
        return compiled.keyed_slot(self.table, self.shift, self.keys, self.values, self.count,
                                   key, create)

    def get(self, key: int, default: float = 0.0) -> float:
        slot = self.slot(key)
        return float(self.values[slot]) if slot >= 0 else default

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The value of each of ``keys`` (0 where there is none)."""
        out = np.empty(len(keys), dtype=np.float64)
        compiled.keyed_lookup(self.table, self.shift, self.keys, self.values,
                              np.asarray(keys, dtype=np.int64), out)
        return out

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values, in order (copies)."""
        keys, values = self.keys[: self.count], self.values[: self.count]
        if self.gone:
            live = keys != compiled.SLOT_GONE
            return keys[live], values[live]
        return keys.copy(), values.copy()

    # ------------------------------------------------------------------ changes

    def set(self, key: int, value: float) -> bool:
        """Set ``key``'s value; True if the key is new."""
        self.reserve(1)
        slot = self.slot(key, create=True)
        new = slot == self.count
        if new:
            self.count += 1
        self.values[slot] = value
        return new

    def add(self, keys: np.ndarray, amounts: np.ndarray) -> None:
        """Add ``amounts`` to their keys' values, in turn (a new key starts from 0)."""
        if len(keys):
            self.reserve(len(keys))
            self.count = compiled.keyed_add(self.table, self.shift, self.keys, self.values,
                                            self.count, np.asarray(keys, dtype=np.int64),
                                            np.asarray(amounts, dtype=np.float64))

    def take(self, keys: np.ndarray, amounts: np.ndarray, tolerance: float) -> None:
        """Take ``amounts`` from their keys' values, in turn; a key left with ``tolerance`` or
        less goes (keys not there are skipped)."""
        if len(keys):
            self.gone += compiled.keyed_take(self.table, self.shift, self.keys, self.values,
                                             np.asarray(keys, dtype=np.int64),
                                             np.asarray(amounts, dtype=np.float64), tolerance)
            self.compact()

    def remove(self, key: int) -> None:
        """Remove ``key``, which must be there."""
        compiled.keyed_remove(self.table, self.shift, self.keys, key)
        self.gone += 1
