"""Compiled loops (numba): the model's per-order and per-job work, and network metrics, at C speed.

- **Orders** (docs/ODD.md §7.2): :func:`staff_order` staffs one order as
  :meth:`clustersim.teams.TeamBuilder.staff` does; :func:`staff_month` runs a dynamic
  month's whole order loop (early offers, bids, lead draws, staffing, win draw, commitment).
  :class:`~clustersim.teams.TeamBuilder` uses them in months without partner weights or a
  dependence cap whose partner-candidate sources all give a
  :class:`~clustersim.hooks.CandidateTable`; the Python code runs the other months.
- **Jobs**: :func:`deliver_jobs` (delivery and payment, §7.3) and :func:`learn_from_jobs`
  (learning and innovation, §7.4).
- **Monthly indexes** (:func:`bucket_by_phase`, :func:`partners_by_firm`,
  :func:`cells_by_phase`) and **network metrics** (:func:`twice_triangles_all`,
  :func:`bfs_distance_sums`).
- **Keyed values** (:class:`clustersim.keyed.KeyedValues`: trust by pair, revenue by
  partner) and the month's **tie** updates (:func:`tie_after_jobs`, :func:`tie_decay`).

Each does the Python code's arithmetic in the same order and draws the same random numbers,
so results are bit for bit those of the Python code and the paths can alternate month by
month (a programme starting, say) without changing a run. ``tests/test_compiled.py`` holds
them equal, and the fingerprints did not change when the loops were compiled.

Same draws: the model's ``random.Random`` is a Mersenne Twister (MT19937). For a compiled
loop, its state is copied into an array (:class:`TwisterStream`), every draw is taken from
that array by :func:`next_random`, which reproduces CPython's ``random.random()``
(``_randommodule.c``: ``genrand_uint32`` and ``random_random``) exactly, and the state is
written back at the end of the loop.
"""

from __future__ import annotations

import math
import random

import numpy as np
from numba import njit

from clustersim.region import CELL_KEY_STRIDE


def _compiled(function):
    """``numba.njit``, cached on disk (``__pycache__`` beside this file, else numba's
    user-wide cache) so that each process does not compile again; uncached where no cache
    directory is writable (numba refuses to decorate then), which only costs compile time."""
    try:
        return njit(cache=True)(function)
    except RuntimeError:
        return njit(function)


_N = 624
_M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF
_MASK32 = 0xFFFFFFFF

# Outcome codes of staff_order (TeamBuilder maps them to the lost-order reasons).
STAFFED, NO_PARTNER, NO_CAPACITY = 0, 1, 2


@_compiled
def _twist(mt):
    for kk in range(_N - _M):
        y = (mt[kk] & _UPPER) | (mt[kk + 1] & _LOWER)
        mt[kk] = mt[kk + _M] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
    for kk in range(_N - _M, _N - 1):
        y = (mt[kk] & _UPPER) | (mt[kk + 1] & _LOWER)
        mt[kk] = mt[kk + (_M - _N)] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)
    y = (mt[_N - 1] & _UPPER) | (mt[0] & _LOWER)
    mt[_N - 1] = mt[_M - 1] ^ (y >> 1) ^ (_MATRIX_A if y & 1 else 0)


@_compiled
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


@_compiled
def next_random(state):
    """The next ``random.random()`` of the stream in ``state``: a float in [0, 1)."""
    a = _genrand_uint32(state) >> 5
    b = _genrand_uint32(state) >> 6
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)


@_compiled
def _randbelow(state, n):
    """CPython's ``Random._randbelow_with_getrandbits(n)`` for 1 <= n < 2**32."""
    k = 0
    while n >> k:
        k += 1
    r = _genrand_uint32(state) >> (32 - k)  # getrandbits(k), k <= 32
    while r >= n:
        r = _genrand_uint32(state) >> (32 - k)
    return r


@_compiled
def _sample(state, population, k, out, spare):
    """``random.sample(population, k)`` of CPython 3.11 into ``out[:k]`` (same draws, same
    order); ``spare``: scratch space of at least ``len(population)``."""
    n = population.size
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3) / math.log(4))
    if n <= setsize:
        for i in range(n):
            spare[i] = population[i]
        for i in range(k):
            j = _randbelow(state, n - i)
            out[i] = spare[j]
            spare[j] = spare[n - i - 1]
    else:
        selected = np.zeros(n, dtype=np.bool_)
        for i in range(k):
            j = _randbelow(state, n)
            while selected[j]:
                j = _randbelow(state, n)
            selected[j] = True
            out[i] = population[j]


@_compiled
def python_hypot(dx, dy):
    """``math.hypot(dx, dy)`` as CPython 3.11 computes it (vector_norm): numba's and
    numpy's hypot differ from it in the last bit now and then."""
    a = abs(dx)
    b = abs(dy)
    largest = a if a > b else b
    if largest == 0.0 or math.isinf(largest) or math.isnan(a) or math.isnan(b):
        return math.hypot(dx, dy)
    _, max_e = math.frexp(largest)
    if max_e < -1023:  # subnormal distances: never between two firms
        return math.hypot(dx, dy)
    split = 134217729.0  # 2**27 + 1
    scale = math.ldexp(1.0, -max_e)
    csum, frac1, frac2, frac3 = 1.0, 0.0, 0.0, 0.0
    for value in (a, b):
        x = value * scale
        t = x * split
        hi = t - (t - x)
        lo = x - hi
        x = hi * hi
        old = csum
        csum += x
        frac1 += (old - csum) + x
        x = 2.0 * hi * lo
        old = csum
        csum += x
        frac2 += (old - csum) + x
        frac3 += lo * lo
    h = math.sqrt(csum - 1.0 + (frac1 + frac2 + frac3))
    t = h * split
    hi = t - (t - h)
    lo = h - hi
    x = -hi * hi
    old = csum
    csum += x
    frac1 += (old - csum) + x
    x = -2.0 * hi * lo
    old = csum
    csum += x
    frac2 += (old - csum) + x
    x = -lo * lo
    old = csum
    csum += x
    frac3 += (old - csum) + x
    x = csum - 1.0 + (frac1 + frac2 + frac3)
    return (h + x / (2.0 * h)) / scale


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


@_compiled
def _hood_cells(cells_keys, cells_start, cells_end, key0, lo, hi):
    """The occupied cells of the 3 × 3 around ``key0``, in the order of
    :meth:`clustersim.region.CellIndex.neighbourhood`: their member ranges go to ``lo``/``hi``;
    returns how many cells and how many members they hold."""
    cells = 0
    total = 0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            key = key0 + dx * CELL_KEY_STRIDE + dy
            slot = np.searchsorted(cells_keys, key)
            if slot < cells_keys.size and cells_keys[slot] == key:
                lo[cells] = cells_start[slot]
                hi[cells] = cells_end[slot]
                total += hi[cells] - lo[cells]
                cells += 1
    return cells, total


@_compiled
def _hood_member(members, lo, hi, cells, pick_index):
    """The ``pick_index``-th member of the cells found by :func:`_hood_cells`."""
    for c in range(cells):
        size = hi[c] - lo[c]
        if pick_index < size:
            return members[lo[c] + pick_index]
        pick_index -= size
    return -1


@_compiled
def _tie(part_offsets, part_ids, lead, c):
    """Index of the tie (lead, c) in ``part_ids``, or -1."""
    lo, hi = part_offsets[lead], part_offsets[lead + 1]
    slot = lo + np.searchsorted(part_ids[lo:hi], c)
    return slot if slot < hi and part_ids[slot] == c else -1


@_compiled
def _available(free, out_firm, out_take, n_out, firm):
    """A firm's free capacity less what this order already gave it (``free − used``, with
    ``used`` summed in assignment order, as the Python code's dict does)."""
    used = 0.0
    for a in range(n_out):
        if out_firm[a] == firm:
            used += out_take[a]
    return free[firm] - used


@_compiled
def _assign(out_firm, out_phase, out_take, n_out, firm, phase, take):
    out_firm[n_out] = firm
    out_phase[n_out] = phase
    out_take[n_out] = take
    return n_out + 1


@_compiled
def staff_order(rng, lead, phases, work, duration, free, capability, cover_threshold,
                pool_firm, pool_weight, pool_offsets, n_phases,
                search, search_chance, search_draws, stranger_weight, x, y, r2, scale,
                cell_km, cell_phase_offsets, cells_keys, cells_start, cells_end, cell_members,
                part_offsets, part_ids, part_trust, alive, trust_base, speed, proximity_hours,
                n_tables, tab_group, tab_row_base, tab_offsets, tab_firms, tab_sampled,
                tab_reach_base, tab_reach, max_split, eps,
                out_firm, out_phase, out_take, scratch_firm, scratch_weight, scratch_avail,
                sample_out, sample_spare, mark, hood, offer_firm, offer_table):
    """Staff one order for ``lead`` as :meth:`TeamBuilder.staff` does (no partner weights,
    no dependence cap; partner-candidate sources as :class:`~clustersim.hooks.CandidateTable`).

    ``mark`` (one slot per firm and a last one for the counter) marks the firms already
    among a phase's candidates; ``hood`` (18 slots) holds the member ranges of the cells
    around the lead (scratch from the caller: no allocation per call). Writes the assignments to ``out_*`` and what sampling tables
    offered to ``offer_*``;
    returns (outcome, assignments, failed phase, strangers looked at, offers). ``free`` is
    read, not changed (the caller commits a won order).
    """
    n_out = 0
    strangers = 0
    n_offers = 0
    hood_lo = hood[:9]  # member ranges of the cells around the lead
    hood_hi = hood[9:]
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
        stamp = mark[-1] + 1  # a firm is among this phase's candidates if mark[firm] == stamp
        mark[-1] = stamp
        for i in range(start, end):
            scratch_firm[count] = pool_firm[i]
            scratch_weight[count] = pool_weight[i]
            mark[pool_firm[i]] = stamp
            count += 1
        if search and next_random(rng) < search_chance[lead]:
            base = cell_phase_offsets[phase]
            stop = cell_phase_offsets[phase + 1]
            keys = cells_keys[base:stop]
            starts = cells_start[base:stop]
            ends = cells_end[base:stop]
            key0 = math.floor(lx / cell_km) * CELL_KEY_STRIDE + math.floor(ly / cell_km)
            cells, size = _hood_cells(keys, starts, ends, key0, hood_lo, hood_hi)
            if size > 0:
                draws = search_draws[lead]
                weight0 = stranger_weight[lead]
                strangers += draws
                for _ in range(draws):
                    c = _hood_member(cell_members, hood_lo, hood_hi, cells,
                                     int(next_random(rng) * size))
                    if c == lead or _tie(part_offsets, part_ids, lead, c) >= 0:
                        continue
                    if mark[c] == stamp:  # a stranger already drawn (ties were skipped)
                        continue
                    d2 = (x[c] - lx) ** 2 + (y[c] - ly) ** 2
                    if d2 <= r2:
                        mark[c] = stamp
                        scratch_firm[count] = c
                        scratch_weight[count] = weight0 * math.exp(-math.sqrt(d2) * scale)
                        count += 1
        # Candidates programmes add (CandidateTable), weighted like any tie partner.
        for t in range(n_tables):
            g = tab_group[t, lead]
            if g < 0:
                continue
            row = tab_row_base[t] + g * n_phases + phase
            first, last = tab_offsets[row], tab_offsets[row + 1]
            picks = tab_firms[first:last]
            if tab_sampled[t]:
                wanted = tab_reach[tab_reach_base[t] + g]
                reach = int(wanted)
                if wanted > reach and next_random(rng) < wanted - reach:
                    reach += 1
                if picks.size > reach:
                    _sample(rng, picks, reach, sample_out, sample_spare)
                    picks = sample_out[:reach]
                for c in picks:
                    offer_firm[n_offers] = c
                    offer_table[n_offers] = t
                    n_offers += 1
            for c in picks:
                if (c != lead and mark[c] != stamp and alive[c]
                        and capability[c, phase] >= cover_threshold):
                    slot = _tie(part_offsets, part_ids, lead, c)
                    trust = part_trust[slot] if slot >= 0 else 0.0
                    hours = python_hypot(x[c] - lx, y[c] - ly) / speed
                    mark[c] = stamp
                    scratch_firm[count] = c
                    scratch_weight[count] = (trust_base + trust) * math.exp(-hours / proximity_hours)
                    count += 1
        if count == 0 and not lead_covers:
            return NO_PARTNER, n_out, phase, strangers, n_offers
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
            return NO_CAPACITY, n_out, phase, strangers, n_offers
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
            return NO_CAPACITY, n_out, phase, strangers, n_offers
    return STAFFED, n_out, -1, strangers, n_offers


# ----------------------------------------------------------------------- monthly indexes


@_compiled
def bucket_by_phase(src, dst, covers):
    """Edges ``src → dst`` grouped by (src, phase dst covers), bucket ``src × phases +
    phase``, in edge order within a bucket (a stable counting sort). Returns the edge of
    each entry and the buckets' offsets (bucket k is ``offsets[k]:offsets[k + 1]``)."""
    n, phases = covers.shape
    # Each firm's covered phases as a list, so that an edge reads its partner's once.
    first = np.zeros(n + 1, dtype=np.int64)
    for f in range(n):
        first[f + 1] = first[f]
        for p in range(phases):
            if covers[f, p]:
                first[f + 1] += 1
    covered = np.empty(first[n], dtype=np.int64)
    for f in range(n):
        k = first[f]
        for p in range(phases):
            if covers[f, p]:
                covered[k] = p
                k += 1
    offsets = np.zeros(n * phases + 1, dtype=np.int64)
    for e in range(src.size):
        d = dst[e]
        for i in range(first[d], first[d + 1]):
            offsets[src[e] * phases + covered[i] + 1] += 1
    for k in range(1, offsets.size):
        offsets[k] += offsets[k - 1]
    fill = offsets[:-1].copy()
    edges = np.empty(offsets[-1], dtype=np.int64)
    for e in range(src.size):
        d = dst[e]
        for i in range(first[d], first[d + 1]):
            k = src[e] * phases + covered[i]
            edges[fill[k]] = e
            fill[k] += 1
    return edges, offsets


@_compiled
def cells_by_phase(cell_key, by_cell, covers):
    """:func:`clustersim.region.cell_arrays` for every phase at once: for phase p, the firms
    with ``covers[firm, p]`` bucketed by ``cell_key``, each occupied cell's key, start and
    end in the phase's sorted members (offset by the members of the phases before), and
    those members, phases one after the other; ``cell_offsets[p]:cell_offsets[p + 1]`` are
    phase p's cells. ``by_cell``: all firms sorted by (cell key, firm), so that picking a
    phase's firms in that order sorts them as ``cell_arrays`` does."""
    n_phases = covers.shape[1]
    total = 0
    for i in range(by_cell.size):
        for p in range(n_phases):
            if covers[by_cell[i], p]:
                total += 1
    keys = np.empty(total, dtype=np.int64)
    starts = np.empty(total, dtype=np.int64)
    ends = np.empty(total, dtype=np.int64)
    members = np.empty(total, dtype=np.int64)
    cell_offsets = np.zeros(n_phases + 1, dtype=np.int64)
    done = 0
    cells = 0
    for p in range(n_phases):
        first = cells
        for i in range(by_cell.size):
            firm = by_cell[i]
            if not covers[firm, p]:
                continue
            key = cell_key[firm]
            if cells == first or keys[cells - 1] != key:
                if cells > first:
                    ends[cells - 1] = done
                keys[cells] = key
                starts[cells] = done
                cells += 1
            members[done] = firm
            done += 1
        if cells > first:
            ends[cells - 1] = done
        cell_offsets[p + 1] = cells
    return keys[:cells], starts[:cells], ends[:cells], members, cell_offsets


@_compiled
def partners_by_firm(u, v, trust, n):
    """Each firm's tie partners in ascending order, with the tie's trust, from the ties
    (u, v, trust), each tie once: (offsets, partners, trust); firm f's are
    ``offsets[f]:offsets[f + 1]``. Rows are filled in tie order, then transposed: reading
    firms in ascending order and writing each into its partners' rows sorts every row (the
    graph is symmetric) in linear time."""
    offsets = np.zeros(n + 1, dtype=np.int64)
    for e in range(u.size):
        offsets[u[e] + 1] += 1
        offsets[v[e] + 1] += 1
    for f in range(1, n + 1):
        offsets[f] += offsets[f - 1]
    fill = offsets[:-1].copy()
    unsorted = np.empty(offsets[-1], dtype=np.int64)
    unsorted_trust = np.empty(offsets[-1], dtype=np.float64)
    for e in range(u.size):
        unsorted[fill[u[e]]] = v[e]
        unsorted_trust[fill[u[e]]] = trust[e]
        fill[u[e]] += 1
        unsorted[fill[v[e]]] = u[e]
        unsorted_trust[fill[v[e]]] = trust[e]
        fill[v[e]] += 1
    fill[:] = offsets[:-1]
    partners = np.empty(offsets[-1], dtype=np.int64)
    trusts = np.empty(offsets[-1], dtype=np.float64)
    for f in range(n):
        for e in range(offsets[f], offsets[f + 1]):
            p = unsorted[e]
            partners[fill[p]] = f
            trusts[fill[p]] = unsorted_trust[e]
            fill[p] += 1
    return offsets, partners, trusts


# ----------------------------------------------------------------------- a month's orders

# Outcome codes of staff_month per order (LOST_TO_WORLD: staffed, but the world won it).
WON, LOST_TO_WORLD = 0, 3
# Flags of staff_month per order.
EARLY_OFFERED, EARLY_STAFFED = 1, 2


@_compiled
def _draw_lead(firms, cum, offsets, segment, u):
    """:meth:`TeamBuilder.draw_lead` on flat pools: bisect_right in the segment's slice."""
    lo, hi = offsets[segment], offsets[segment + 1]
    if lo == hi or cum[hi - 1] <= 0:
        return -1
    slot = lo + np.searchsorted(cum[lo:hi], u * cum[hi - 1], side="right")
    return firms[slot if slot < hi - 1 else hi - 1]


@_compiled
def _win_chance(segment, cap, team_knowledge, novelty, benchmark, knowledge_weight, steepness):
    """:meth:`clustersim.market.Market.win_probability`, same arithmetic."""
    quality = cap + knowledge_weight * math.log(max(team_knowledge, 1e-9) / novelty[segment])
    z = steepness * (quality - benchmark[segment])
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


@_compiled
def staff_month(first, rng, order_segment, order_offsets, order_phases, order_work,
                order_duration, order_export, draws, early, lead_pools, export_pools,
                early_pools, quality_bonus, knowledge, market, geometry, staff_before,
                staff_after, results, assigned, offered, totals):
    """The order loop of :meth:`clustersim.model.ClusterModel.form_teams` in dynamic mode,
    from order ``first``: early offers, bids, staffing (:func:`staff_order`), the win draw
    and the commitment of won orders' capacity, drawing what the Python loop draws in the
    same order.

    Per order it writes ``results`` (lead or -1, outcome, failed phase, flags, first
    assignment and count in ``assigned``, longest travel hours); a won order's
    assignments go to ``assigned`` (firm, phase, load), every offer sampling tables made
    to ``offered`` (lead, firm, table). ``totals`` holds (strangers looked at,
    assignments, offers) and is not reset here. Returns the next order to staff: it stops
    early when ``assigned`` or ``offered`` might not hold another order's output.
    """
    res_lead, res_code, res_failed, res_flags, res_start, res_count, res_hours = results
    month_firm, month_phase, month_take = assigned
    offer_lead = offered[0]
    novelty, benchmark, knowledge_weight, steepness = market
    free, capability, x, y, speed = geometry  # the arrays staff_before holds too
    out_firm = staff_after[0]
    out_phase = staff_after[1]
    out_take = staff_after[2]
    room = out_firm.size  # most assignments one order can make
    # An order makes up to 1 + bids staffing attempts (the early offer, then each bid), and
    # every attempt may add a staffing call's worth of offers.
    offer_room = staff_after[-2].size * (draws.shape[1] + 1)
    n_orders = order_segment.size
    o = first
    while o < n_orders:
        if totals[1] + room > month_firm.size or totals[2] + offer_room > offer_lead.size:
            return o
        segment = order_segment[o]
        phases = order_phases[order_offsets[o]:order_offsets[o + 1]]
        work = order_work[order_offsets[o]:order_offsets[o + 1]]
        duration = order_duration[o]
        lead = -1
        outcome = NO_PARTNER
        count = 0
        failed = -1
        flags = 0
        bid = True
        if early > 0 and not order_export[o]:
            u0 = next_random(rng)
            if u0 < early:
                early_lead = _draw_lead(early_pools[0], early_pools[1], early_pools[2],
                                        segment, u0 / early)
                if early_lead >= 0:
                    flags = EARLY_OFFERED
                    lead = early_lead
                    outcome, count, failed = _attempt(rng, lead, phases, work, duration,
                                                      staff_before, staff_after, offered, totals)
                    if outcome == STAFFED:
                        flags = EARLY_OFFERED | EARLY_STAFFED
                        bid = False
        if bid:
            for b in range(draws.shape[1]):
                if order_export[o]:
                    candidate = _draw_lead(export_pools[0], export_pools[1], export_pools[2],
                                           segment, draws[o, b])
                else:
                    candidate = _draw_lead(lead_pools[0], lead_pools[1], lead_pools[2],
                                           segment, draws[o, b])
                if candidate < 0:
                    break
                lead = candidate
                outcome, count, failed = _attempt(rng, lead, phases, work, duration,
                                                  staff_before, staff_after, offered, totals)
                if outcome == STAFFED:
                    break
        res_lead[o] = lead
        res_failed[o] = failed
        res_flags[o] = flags
        res_count[o] = 0
        res_hours[o] = 0.0
        if lead < 0 or outcome != STAFFED:
            res_code[o] = outcome
            o += 1
            continue
        # The team's quality: mean capability (+ quality bonus) over assignments, and the
        # mean knowledge of its distinct members (lead first, as the Python code's dict).
        cap = 0.0
        for a in range(count):
            cap += capability[out_firm[a], out_phase[a]] + quality_bonus[out_firm[a]]
        cap /= count
        team_knowledge = knowledge[lead]
        members = 1
        hours = 0.0
        for a in range(count):
            firm = out_firm[a]
            if firm == lead:
                continue
            hours = max(hours, python_hypot(x[firm] - x[lead], y[firm] - y[lead]) / speed)
            seen = False
            for e in range(a):
                if out_firm[e] == firm:
                    seen = True
                    break
            if not seen:
                team_knowledge += knowledge[firm]
                members += 1
        team_knowledge /= members
        if next_random(rng) >= _win_chance(segment, cap, team_knowledge, novelty, benchmark,
                                           knowledge_weight, steepness):
            res_code[o] = LOST_TO_WORLD
            o += 1
            continue
        res_code[o] = WON
        res_hours[o] = hours
        res_start[o] = totals[1]
        res_count[o] = count
        for a in range(count):  # commit: the capacity is taken for the month's later orders
            free[out_firm[a]] -= out_take[a]
            month_firm[totals[1]] = out_firm[a]
            month_phase[totals[1]] = out_phase[a]
            month_take[totals[1]] = out_take[a]
            totals[1] += 1
        o += 1
    return o


@_compiled
def _attempt(rng, lead, phases, work, duration, staff_before, staff_after, offered, totals):
    """One lead tries to staff an order (:func:`staff_order`); what sampling tables offered
    goes to ``offered`` (lead, firm, table). Returns (outcome, assignments, failed phase)."""
    outcome, count, failed, strangers, offers = staff_order(
        rng, lead, phases, work, duration, *staff_before, *staff_after)
    totals[0] += strangers
    offer_firm = staff_after[-2]
    offer_table = staff_after[-1]
    for i in range(offers):
        offered[0][totals[2]] = lead
        offered[1][totals[2]] = offer_firm[i]
        offered[2][totals[2]] = offer_table[i]
        totals[2] += 1
    return outcome, count, failed


# ----------------------------------------------------------------------- network metrics


@_compiled
def twice_triangles(indptr, indices, nodes, out):
    """For each node of ``nodes``: twice the triangles through it, i.e. the row sums of
    (A @ A) ∘ A for a simple undirected graph in CSR form: with the node's neighbours
    marked, how many marked neighbours each of its neighbours has."""
    marked = np.zeros(indptr.size - 1, dtype=np.bool_)
    for k in range(nodes.size):
        v = nodes[k]
        for e in range(indptr[v], indptr[v + 1]):
            marked[indices[e]] = True
        count = 0
        for e in range(indptr[v], indptr[v + 1]):
            a = indices[e]
            for f in range(indptr[a], indptr[a + 1]):
                if marked[indices[f]]:
                    count += 1
        for e in range(indptr[v], indptr[v + 1]):
            marked[indices[e]] = False
        out[k] = count


BITSET_NODES = 2048  # up to this many nodes, triangles are counted on neighbour bitsets


@_compiled
def twice_triangles_all(indptr, indices, out):
    """:func:`twice_triangles` for every node. Up to BITSET_NODES nodes: each tie (a, b) adds
    the common neighbours of a and b, counted on bitsets of the neighbours (a word holds 64
    nodes), to both. Above: each triangle found once, nodes ranked by (degree, index), each
    node's ties to higher-ranked nodes kept, a triangle a < b < c (by rank) counted from a
    through b (Schank and Wagner's forward algorithm). Either is far less work than marking
    every node's neighbours where some nodes have many ties."""
    n = indptr.size - 1
    out[:] = 0.0
    if n <= BITSET_NODES:
        words = (n + 63) // 64
        bits = np.zeros((n, max(words, 1)), dtype=np.uint64)
        for a in range(n):
            for e in range(indptr[a], indptr[a + 1]):
                b = indices[e]
                bits[a, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
        for a in range(n):
            for e in range(indptr[a], indptr[a + 1]):
                b = indices[e]
                if b > a:
                    common = 0
                    for w in range(words):
                        common += _bit_count(bits[a, w] & bits[b, w])
                    out[a] += common
                    out[b] += common
        return
    up_offsets = np.zeros(n + 1, dtype=np.int64)
    for a in range(n):
        da = indptr[a + 1] - indptr[a]
        count = 0
        for e in range(indptr[a], indptr[a + 1]):
            b = indices[e]
            db = indptr[b + 1] - indptr[b]
            if db > da or (db == da and b > a):
                count += 1
        up_offsets[a + 1] = up_offsets[a] + count
    up = np.empty(up_offsets[n], dtype=np.int64)
    for a in range(n):
        da = indptr[a + 1] - indptr[a]
        k = up_offsets[a]
        for e in range(indptr[a], indptr[a + 1]):
            b = indices[e]
            db = indptr[b + 1] - indptr[b]
            if db > da or (db == da and b > a):
                up[k] = b
                k += 1
    mark = np.full(n, -1, dtype=np.int64)
    for a in range(n):
        for e in range(up_offsets[a], up_offsets[a + 1]):
            mark[up[e]] = a
        for e in range(up_offsets[a], up_offsets[a + 1]):
            b = up[e]
            for f in range(up_offsets[b], up_offsets[b + 1]):
                c = up[f]
                if mark[c] == a:
                    out[a] += 2.0
                    out[b] += 2.0
                    out[c] += 2.0


@_compiled
def ordered_dot(a, b):
    """Σ a[i]·b[i] summed in index order: the same bits on every machine (BLAS's dot splits
    long vectors over threads, so its last bits depend on how many it uses)."""
    total = 0.0
    for i in range(a.size):
        total += a[i] * b[i]
    return total


@_compiled
def component_labels(indptr, indices):
    """Connected components of an undirected graph in CSR form: (how many, each node's
    label), labelled in order of their lowest node (as scipy's ``connected_components``)."""
    n = indptr.size - 1
    labels = np.full(n, -1, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    count = 0
    for start in range(n):
        if labels[start] >= 0:
            continue
        labels[start] = count
        queue[0] = start
        head, tail = 0, 1
        while head < tail:
            v = queue[head]
            head += 1
            for e in range(indptr[v], indptr[v + 1]):
                w = indices[e]
                if labels[w] < 0:
                    labels[w] = count
                    queue[tail] = w
                    tail += 1
        count += 1
    return count, labels


_ONE = np.uint64(1)


@_compiled
def _bit_count(x):
    """Set bits of a uint64 (SWAR popcount), as an int64."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@_compiled
def bfs_distance_sums(indptr, indices, sources, reached):
    """Breadth-first search from each of ``sources``: the sum of hop distances to every
    node reached, over all sources; ``reached[k]`` gets how many nodes source k reached
    (itself included).

    Up to 64 searches run at once, level by level, each node holding a bit per search
    (multi-source BFS, Then et al. 2014, VLDB 8(4)): a node's edges are read once per level
    at which any of the searches reaches it, not once per search.
    """
    n = indptr.size - 1
    seen = np.zeros(n, dtype=np.uint64)
    frontier = np.zeros(n, dtype=np.uint64)
    arriving = np.zeros(n, dtype=np.uint64)
    total = 0
    for first in range(0, sources.size, 64):
        last = min(first + 64, sources.size)
        seen[:] = 0
        frontier[:] = 0
        for k in range(first, last):
            bit = _ONE << np.uint64(k - first)
            seen[sources[k]] |= bit
            frontier[sources[k]] |= bit
        level = 0
        active = True
        while active:
            level += 1
            for v in range(n):
                searches = frontier[v]
                if searches != 0:
                    for e in range(indptr[v], indptr[v + 1]):
                        arriving[indices[e]] |= searches
            active = False
            for v in range(n):
                new = arriving[v] & ~seen[v]
                arriving[v] = 0
                frontier[v] = new
                if new != 0:
                    seen[v] |= new
                    total += level * _bit_count(new)
                    active = True
        for v in range(n):  # each search's count of nodes reached
            bits = seen[v]
            while bits != 0:
                lowest = bits & (~bits + _ONE)
                reached[first + _bit_count(lowest - _ONE)] += 1
                bits &= bits - _ONE
    return total


# ----------------------------------------------------------------------- learning


@_compiled
def learn_from_jobs(rng, members, member_offsets, assigned_firm, assigned_phase,
                    assigned_offsets, failed, segment, factors, alive, capability, knowledge,
                    specialty, innovations, last_innovation, novelty, capability_learning,
                    spillover, innovation_base, diversity_bonus, innovation_lift, month):
    """The per-job part of :meth:`clustersim.model.ClusterModel.learn_and_innovate`, job by
    job in the same order with the same draws: learning by doing, knowledge spillover
    within the team and, for delivered jobs, the innovation draw (``factors[j]``: the
    innovation-chance hooks' factors for job j, applied in turn). Returns the innovations."""
    count = 0
    team = np.empty(max(1, members.size), dtype=np.int64)
    known = np.empty(max(1, members.size), dtype=np.float64)
    for j in range(segment.size):
        size = 0
        for i in range(member_offsets[j], member_offsets[j + 1]):
            if alive[members[i]]:
                team[size] = members[i]
                size += 1
        if size == 0:
            continue
        for a in range(assigned_offsets[j], assigned_offsets[j + 1]):
            firm, phase = assigned_firm[a], assigned_phase[a]
            if alive[firm]:
                capability[firm, phase] += capability_learning * (1.0 - capability[firm, phase])
        best = knowledge[team[0]]
        total = 0.0
        for i in range(size):
            known[i] = knowledge[team[i]]
            best = max(best, known[i])
            total += known[i]
        for i in range(size):
            knowledge[team[i]] = known[i] + spillover * (best - known[i])  # spillover, 003:L2379
        if failed[j]:
            continue
        level = novelty[segment[j]]
        diversity = 0
        for i in range(size):
            first = True
            for e in range(i):
                if specialty[team[e]] == specialty[team[i]]:
                    first = False
                    break
            if first:
                diversity += 1
        chance = (innovation_base * min(1.0, (total / size) / level)
                  * (1.0 + diversity_bonus * (diversity - 1)))
        for h in range(factors.shape[1]):
            chance *= factors[j, h]
        if next_random(rng) < chance:
            count += 1
            lift = innovation_lift * level  # additive, never compounding
            for i in range(size):
                knowledge[team[i]] += lift
                innovations[team[i]] += 1
                last_innovation[team[i]] = month
    return count


# ----------------------------------------------------------------------- delivery


@_compiled
def pair_keys(members, offsets, base):
    """Each team's pairs (a < b by position) as tie keys (``min × base + max``, as
    :func:`clustersim.ties.pair_key`), teams one after the other, and each team's offsets."""
    pair_offsets = np.zeros(offsets.size, dtype=np.int64)
    for j in range(offsets.size - 1):
        size = offsets[j + 1] - offsets[j]
        pair_offsets[j + 1] = pair_offsets[j] + size * (size - 1) // 2
    keys = np.empty(pair_offsets[-1], dtype=np.int64)
    k = 0
    for j in range(offsets.size - 1):
        for a in range(offsets[j], offsets[j + 1]):
            for b in range(a + 1, offsets[j + 1]):
                i, m = members[a], members[b]
                keys[k] = i * base + m if i < m else m * base + i
                k += 1
    return keys, pair_offsets


@_compiled
def living_pairs(members, offsets, alive, cooperativeness, base):
    """Each team's pairs of living members (a < b by position) as tie keys (as
    :func:`pair_keys`) with the pair's mean cooperativeness, teams one after the other, and
    each team's offsets into them."""
    living = np.empty(members.size, dtype=np.int64)
    living_offsets = np.zeros(offsets.size, dtype=np.int64)
    count = 0
    for j in range(offsets.size - 1):
        for i in range(offsets[j], offsets[j + 1]):
            if alive[members[i]]:
                living[count] = members[i]
                count += 1
        living_offsets[j + 1] = count
    keys, pair_offsets = pair_keys(living[:count], living_offsets, base)
    mean = np.empty(keys.size, dtype=np.float64)
    k = 0
    for j in range(offsets.size - 1):
        for a in range(living_offsets[j], living_offsets[j + 1]):
            for b in range(a + 1, living_offsets[j + 1]):
                mean[k] = 0.5 * (cooperativeness[living[a]] + cooperativeness[living[b]])
                k += 1
    return keys, mean, pair_offsets


@_compiled
def deliver_jobs(rng, lead, value, export, max_hours, members, offsets, pair_trust,
                 pair_offsets, any_disrupted, disrupted, assigned_firm, assigned_load,
                 assigned_offsets, alive, cash, revenue_month, failure_base,
                 failure_trust_effect, failure_distance_effect, failure_penalty, lead_premium,
                 sums, failed, payer, payee, paid):
    """The jobs loop of :meth:`clustersim.model.ClusterModel.produce_and_pay`, job by job in
    the same order with the same draws: whether each fails (``failed``), what the customer
    pays the lead and the lead its partners by their share of the work (in ``cash`` and
    ``revenue_month``). ``sums`` carries (customer payments, partner payments made,
    partner payments received, export revenue) on from the values given; each payment to
    a partner is written to ``payer``/``payee``/``paid``. Returns (failures, payments)."""
    failures = 0
    payments = 0
    width = 1
    for j in range(lead.size):
        width = max(width, assigned_offsets[j + 1] - assigned_offsets[j])
    share_firm = np.empty(width, dtype=np.int64)
    share_load = np.empty(width, dtype=np.float64)
    for j in range(lead.size):
        boss = lead[j]
        if not alive[boss]:
            failed[j] = True
            failures += 1
            continue  # the lead has gone: nobody delivers, nobody is paid
        # Low trust and long distances make a delivery fail more often; a member that
        # produced nothing makes it fail.
        chance = 1.0
        blocked = False
        if any_disrupted:
            for i in range(offsets[j], offsets[j + 1]):
                if disrupted[members[i]]:
                    blocked = True
                    break
        if not blocked:
            size = offsets[j + 1] - offsets[j]
            trust = 1.0
            if size >= 2:
                total = 0.0
                for p in range(pair_offsets[j], pair_offsets[j + 1]):
                    total += pair_trust[p]
                trust = total / (size * (size - 1) / 2)
            chance = min(1.0, failure_base + failure_trust_effect * (1.0 - trust)
                         + failure_distance_effect * max_hours[j])
        failed[j] = next_random(rng) < chance
        if failed[j]:
            failures += 1
        amount = value[j] * (1.0 - failure_penalty) if failed[j] else value[j]
        if export[j]:
            sums[3] += amount
        cash[boss] += amount
        revenue_month[boss] += amount
        sums[0] += amount
        shares = 0  # living firms' summed load, in order of first appearance
        for a in range(assigned_offsets[j], assigned_offsets[j + 1]):
            firm = assigned_firm[a]
            if not alive[firm]:
                continue
            slot = shares
            for s in range(shares):
                if share_firm[s] == firm:
                    slot = s
                    break
            if slot == shares:
                share_firm[slot] = firm
                share_load[slot] = 0.0
                shares += 1
            share_load[slot] += assigned_load[a]
        load = 0.0
        for s in range(shares):
            load += share_load[s]
        if load <= 0:
            continue
        pot = amount * (1.0 - lead_premium)
        for s in range(shares):
            firm = share_firm[s]
            if firm == boss:
                continue
            pay = pot * share_load[s] / load
            cash[boss] -= pay
            revenue_month[boss] -= pay
            sums[1] += pay
            cash[firm] += pay
            revenue_month[firm] += pay
            sums[2] += pay
            payer[payments] = boss
            payee[payments] = firm
            paid[payments] = pay
            payments += 1
    return failures, payments


# ------------------------------------------------------------------------- keyed values
# clustersim.keyed.KeyedValues keeps int64 keys (≥ 0) with float64 values in slots, in the
# order the keys came in (as a dict keeps them), found through an open-addressing hash
# table: table entries hold a slot, TABLE_EMPTY (never used; a search stops there) or
# TABLE_GONE (its key was removed; a search goes on past it). A removed key's slot holds
# SLOT_GONE until the slots are compacted.
TABLE_EMPTY, TABLE_GONE, SLOT_GONE = -1, -2, -1
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing: the top bits of key × 2^64/φ


@_compiled
def _table_position(key, shift):
    return np.int64((np.uint64(key) * np.uint64(_GOLDEN)) >> np.uint64(shift))


@_compiled
def keyed_slot(table, shift, keys, values, count, key, create):
    """The slot of ``key``; -1 if there is none, unless ``create``: then the key gets slot
    ``count`` (value 0), and the caller counts it. The table must have a free entry."""
    mask = table.size - 1
    pos = _table_position(key, shift)
    reuse = -1
    while True:
        s = table[pos]
        if s == TABLE_EMPTY:
            break
        if s == TABLE_GONE:
            if reuse < 0:
                reuse = pos
        elif keys[s] == key:
            return s
        pos = (pos + 1) & mask
    if not create:
        return -1
    table[reuse if reuse >= 0 else pos] = count
    keys[count] = key
    values[count] = 0.0
    return count


@_compiled
def keyed_remove(table, shift, keys, key):
    """Remove ``key`` (which must be there) from the table; its slot becomes SLOT_GONE."""
    mask = table.size - 1
    pos = _table_position(key, shift)
    while True:
        s = table[pos]
        if s >= 0 and keys[s] == key:
            table[pos] = TABLE_GONE
            keys[s] = SLOT_GONE
            return
        pos = (pos + 1) & mask


@_compiled
def keyed_index(table, shift, keys, count):
    """Fill an all-TABLE_EMPTY ``table`` with slots 0..count−1 (those not removed)."""
    mask = table.size - 1
    for s in range(count):
        key = keys[s]
        if key == SLOT_GONE:
            continue
        pos = _table_position(key, shift)
        while table[pos] != TABLE_EMPTY:
            pos = (pos + 1) & mask
        table[pos] = s


@_compiled
def keyed_lookup(table, shift, keys, values, query, out):
    """The value of each key in ``query`` (0 where there is none) into ``out``."""
    for q in range(query.size):
        s = keyed_slot(table, shift, keys, values, 0, query[q], False)
        out[q] = values[s] if s >= 0 else 0.0


@_compiled
def keyed_add(table, shift, keys, values, count, query, amounts):
    """Add ``amounts`` to their keys' values in turn (a new key from 0). Room for every key
    to be new is the caller's. Returns the slots used."""
    for q in range(query.size):
        s = keyed_slot(table, shift, keys, values, count, query[q], True)
        if s == count:
            count += 1
        values[s] += amounts[q]
    return count


@_compiled
def keyed_take(table, shift, keys, values, query, amounts, tolerance):
    """Take ``amounts`` from their keys' values in turn (a key not there is skipped); a key
    left with ``tolerance`` or less is removed. Returns how many were removed."""
    removed = 0
    for q in range(query.size):
        s = keyed_slot(table, shift, keys, values, 0, query[q], False)
        if s < 0:
            continue
        left = values[s] - amounts[q]
        if left <= tolerance:
            keyed_remove(table, shift, keys, query[q])
            removed += 1
        else:
            values[s] = left
    return removed


# ----------------------------------------------------------------------------------- ties


@_compiled
def _tie_made(table, shift, keys, trust, count, key, formed, made):
    """The slot of tie ``key``, made (trust 0) if there is none, its key then added to
    ``formed``. Returns (slot, slots used, ties formed)."""
    s = keyed_slot(table, shift, keys, trust, count, key, True)
    if s == count:
        count += 1
        formed[made] = key
        made += 1
    return s, count, made


@_compiled
def tie_after_jobs(table, shift, keys, trust, count, query, cooperativeness, delivered, keep,
                   gain, formed):
    """:meth:`clustersim.ties.TieStore.after_jobs`: pairs in turn; a delivered job's pair
    gains ``gain × cooperativeness × (1 − trust)`` (a new tie from 0), a failed job's
    existing tie keeps ``keep`` of its trust. New ties' keys go to ``formed``, in order.
    Room for every pair to be new is the caller's. Returns (slots used, ties formed)."""
    made = 0
    for q in range(query.size):
        if delivered[q]:
            s, count, made = _tie_made(table, shift, keys, trust, count, query[q], formed, made)
            old = trust[s]
            trust[s] = old + gain * cooperativeness[q] * (1.0 - old)
        else:
            s = keyed_slot(table, shift, keys, trust, count, query[q], False)
            if s >= 0:
                trust[s] = trust[s] * keep
    return count, made


@_compiled
def tie_lift(table, shift, keys, trust, count, query, step, least, formed):
    """Pairs in turn: trust rises to max(trust + ``step`` × (1 − trust), ``least``), at most 1
    (a new tie from 0), as :meth:`clustersim.ties.TieStore.lift`. New ties' keys go to
    ``formed``, in order; room for every pair to be new is the caller's. Returns (slots used,
    ties formed)."""
    made = 0
    for q in range(query.size):
        s, count, made = _tie_made(table, shift, keys, trust, count, query[q], formed, made)
        old = trust[s]
        lifted = old + step * (1.0 - old)
        value = least if least > lifted else lifted
        trust[s] = value if value < 1.0 else 1.0
    return count, made


@_compiled
def tie_decay(table, shift, keys, trust, count, cooperativeness, rate, offset, floor, base,
              dropped):
    """Monthly decay of slots 0..count−1 (removed ones skipped), in place: trust ×
    (1 − rate × (offset − the pair's mean cooperativeness)). A tie that falls below
    ``floor`` is removed and its key goes to ``dropped``. Returns how many were dropped."""
    gone = 0
    for s in range(count):
        key = keys[s]
        if key == SLOT_GONE:
            continue
        coop = 0.5 * (cooperativeness[key // base] + cooperativeness[key % base])
        value = trust[s] * (1.0 - rate * (offset - coop))
        if value >= floor:
            trust[s] = value
        else:
            keyed_remove(table, shift, keys, key)
            dropped[gone] = key
            gone += 1
    return gone
