"""Compiled staffing (numba): the per-order partner choice of docs/ODD.md §7.2 at C speed.

:class:`clustersim.teams.TeamBuilder` staffs an order with :meth:`~TeamBuilder.staff`, in
plain Python. When nothing outside the builder takes part in partner choice (no programme
adds candidates or weights through the hooks, no dependence cap), it calls
:func:`staff_order` here instead, which does the same arithmetic in the same order and
draws the same random numbers: results are bit for bit those of the Python code, so the
two paths can alternate month by month (a programme starting, say) without changing a
run. ``tests/test_compiled.py`` holds them equal.

Same draws: the model's ``random.Random`` is a Mersenne Twister (MT19937). For a month
staffed here, its state is copied into an array (:class:`TwisterStream`), every draw of the
month's order loop is taken from that array by :func:`next_random`, which reproduces
CPython's ``random.random()`` (``_randommodule.c``: ``genrand_uint32`` and
``random_random``) exactly, and the state is written back at the end of the loop.
"""

from __future__ import annotations

import math
import random

import numpy as np
from numba import njit

_N = 624
_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF
_MASK32 = 0xFFFFFFFF

# Outcome codes of staff_order (TeamBuilder maps them to the lost-order reasons).
STAFFED, NO_PARTNER, NO_CAPACITY = 0, 1, 2


@njit(cache=True)
def _twist(mt):
    for kk in range(_N - _M):
        y = (mt[kk] & _UPPER) | (mt[kk + 1] & _LOWER)
        mt[kk] = mt[kk + _M] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
    for kk in range(_N - _M, _N - 1):
        y = (mt[kk] & _UPPER) | (mt[kk + 1] & _LOWER)
        mt[kk] = mt[kk + (_M - _N)] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
    y = (mt[_N - 1] & _UPPER) | (mt[0] & _LOWER)
    mt[_N - 1] = mt[_M - 1] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)


@njit(cache=True)
def _genrand_uint32(state):
    """state[:624]: the twister's words; state[624]: the index of the next one."""
    if state[_N] >= _N:
        _twist(state)
        state[_N] = 0
    y = state[state[_N]]
    state[_N] += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    return y & _MASK32


@njit(cache=True)
def next_random(state):
    """The next ``random.random()`` of the stream in ``state``: a float in [0, 1)."""
    a = _genrand_uint32(state) >> 5
    b = _genrand_uint32(state) >> 6
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


class TwisterStream:
    """A ``random.Random``'s stream, taken over for a while and then handed back."""

    def __init__(self, source: random.Random):
        self.source = source
        version, words, self._gauss = source.getstate()
        self.state = np.array(words, dtype=np.int64)  # 624 words and the index
        self._version = version

    def random(self) -> float:
        return next_random(self.state)

    def hand_back(self) -> None:
        """Put the stream, as far as it was drawn here, back into its ``random.Random``."""
        self.source.setstate((self._version, tuple(self.state.tolist()), self._gauss))


# ----------------------------------------------------------------------- staffing


@njit(cache=True)
def _hood_pick(cells_keys, cells_start, cells_end, members, key0, pick_index):
    """The ``pick_index``-th member of the 3 × 3 cells around ``key0`` (in the order of
    :meth:`clustersim.region.CellIndex.neighbourhood`), or -1 (always for a ``pick_index``
    of -1); also returns how many members the cells hold (all of them when not found)."""
    total = 0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            key = key0 + dx * 1_000_003 + dy
            slot = np.searchsorted(cells_keys, key)
            if slot < cells_keys.size and cells_keys[slot] == key:
                size = cells_end[slot] - cells_start[slot]
                if 0 <= pick_index - total < size:
                    return members[cells_start[slot] + pick_index - total], total
                total += size
    return -1, total


@njit(cache=True)
def _is_partner(part_offsets, part_ids, lead, c):
    lo, hi = part_offsets[lead], part_offsets[lead + 1]
    slot = lo + np.searchsorted(part_ids[lo:hi], c)
    return slot < hi and part_ids[slot] == c


@njit(cache=True)
def _available(free, out_firm, out_take, n_out, firm):
    """A firm's free capacity less what this order already gave it (``free − used``, with
    ``used`` summed in assignment order, as the Python code's dict does)."""
    used = 0.0
    for a in range(n_out):
        if out_firm[a] == firm:
            used += out_take[a]
    return free[firm] - used


@njit(cache=True)
def _assign(out_firm, out_phase, out_take, n_out, firm, phase, take):
    out_firm[n_out] = firm
    out_phase[n_out] = phase
    out_take[n_out] = take
    return n_out + 1


@njit(cache=True)
def staff_order(rng, lead, phases, work, duration, free, capability, cover_threshold,
                pool_firm, pool_weight, pool_offsets, n_phases,
                search, search_chance, search_draws, stranger_weight, x, y, r2, scale,
                cell_km, cell_phase_offsets, cells_keys, cells_start, cells_end, cell_members,
                part_offsets, part_ids, max_split, eps,
                out_firm, out_phase, out_take, scratch_firm, scratch_weight, scratch_avail):
    """Staff one order for ``lead`` as :meth:`TeamBuilder.staff` does (no hooks, no cap).

    Writes the assignments to ``out_*`` and returns (outcome, assignments, failed phase,
    strangers looked at). ``free`` is read, not changed (the caller commits a won order).
    """
    n_out = 0
    strangers = 0
    lx = x[lead]
    ly = y[lead]
    for k in range(len(phases)):
        phase = phases[k]
        need = work[k] / duration
        lead_covers = capability[lead, phase] >= cover_threshold
        if lead_covers:
            avail = _available(free, out_firm, out_take, n_out, lead)
            if avail > eps:
                take = need if need < avail else avail
                n_out = _assign(out_firm, out_phase, out_take, n_out, lead, phase, take)
                need -= take
        if need <= eps:
            continue
        # Candidates: tie partners (or fixed network) covering the phase, then strangers.
        slot = lead * n_phases + phase
        start, end = pool_offsets[slot], pool_offsets[slot + 1]
        count = 0
        for i in range(start, end):
            scratch_firm[count] = pool_firm[i]
            scratch_weight[count] = pool_weight[i]
            count += 1
        pooled = count
        if search and next_random(rng) < search_chance[lead]:
            base = cell_phase_offsets[phase]
            stop = cell_phase_offsets[phase + 1]
            keys = cells_keys[base:stop]
            starts = cells_start[base:stop]
            ends = cells_end[base:stop]
            key0 = math.floor(lx / cell_km) * 1_000_003 + math.floor(ly / cell_km)
            size = _hood_pick(keys, starts, ends, cell_members, key0, -1)[1]
            if size > 0:
                draws = search_draws[lead]
                weight0 = stranger_weight[lead]
                strangers += draws
                for _ in range(draws):
                    c, _total = _hood_pick(keys, starts, ends, cell_members, key0,
                                           int(next_random(rng) * size))
                    if c == lead or _is_partner(part_offsets, part_ids, lead, c):
                        continue
                    seen = False
                    for j in range(pooled, count):
                        if scratch_firm[j] == c:
                            seen = True
                            break
                    if seen:
                        continue
                    d2 = (x[c] - lx) ** 2 + (y[c] - ly) ** 2
                    if d2 <= r2:
                        scratch_firm[count] = c
                        scratch_weight[count] = weight0 * math.exp(-math.sqrt(d2) * scale)
                        count += 1
        if count == 0 and not lead_covers:
            return NO_PARTNER, n_out, phase, strangers
        # Scores of those with free capacity, in candidate order.
        scored = 0
        for i in range(count):
            c = scratch_firm[i]
            avail = _available(free, out_firm, out_take, n_out, c)
            if avail <= eps:
                continue
            factor = 1.0 if avail >= need else math.sqrt(avail / need)
            scratch_weight[scored] = capability[c, phase] * scratch_weight[i] * factor
            scratch_firm[scored] = c
            scratch_avail[scored] = avail
            scored += 1
        if scored == 0:
            return NO_CAPACITY, n_out, phase, strangers
        for _pick in range(max_split):
            if scored == 0:
                break
            total = 0.0
            for i in range(scored):
                total += scratch_weight[i]
            chosen = 0
            if total > 0.0:
                threshold = next_random(rng) * total
                chosen = scored - 1
                for i in range(scored):
                    threshold -= scratch_weight[i]
                    if threshold < 0.0:
                        chosen = i
                        break
            c = scratch_firm[chosen]
            avail = scratch_avail[chosen]
            for i in range(chosen, scored - 1):  # list.pop(chosen)
                scratch_firm[i] = scratch_firm[i + 1]
                scratch_weight[i] = scratch_weight[i + 1]
                scratch_avail[i] = scratch_avail[i + 1]
            scored -= 1
            take = need if need < avail else avail
            n_out = _assign(out_firm, out_phase, out_take, n_out, c, phase, take)
            need -= take
            if need <= eps:
                break
        if need > eps:
            return NO_CAPACITY, n_out, phase, strangers
    return STAFFED, n_out, -1, strangers
