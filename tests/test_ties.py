"""Trust ties: reinforcement, weakening, decay with a floor, exits, and the store's invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.ties import TieStore, pair_key

GAIN, DECAY, FLOOR = 0.5, 0.08, 0.1


def make_store() -> TieStore:
    return TieStore(gain=GAIN, decay=DECAY, floor=FLOOR)


def check_consistent(store: TieStore) -> None:
    """Partners are symmetric and name exactly the pairs that have a trust value."""
    pairs = {pair_key(i, j) for i, partners in store.partners.items() for j in partners}
    assert pairs == set(store.trust)
    for i, partners in store.partners.items():
        assert i not in partners
        for j in partners:
            assert i in store.partners[j]
    for i in store.partners:
        assert store.degree(i) == len(store.partners[i])


# --------------------------------------------------------------------------- keys


def test_pair_key_is_unordered_and_distinct():
    assert pair_key(3, 7) == pair_key(7, 3)
    keys = {pair_key(i, j) for i in range(40) for j in range(i + 1, 40)}
    assert len(keys) == 40 * 39 // 2
    assert pair_key(0, 2**31) != pair_key(1, 0)


# --------------------------------------------------------------------------- joint work


def test_reinforce_creates_ties_between_strangers():
    store = make_store()
    store.reinforce([1, 2, 3], [0.4, 0.6, 0.8])
    assert store.formed == 3
    assert store.get(1, 2) == pytest.approx(GAIN * 0.5)  # mean cooperativeness of the pair
    assert store.get(1, 3) == pytest.approx(GAIN * 0.6)
    assert store.get(3, 2) == pytest.approx(GAIN * 0.7)
    assert store.partners == {1: {2, 3}, 2: {1, 3}, 3: {1, 2}}


def test_reinforce_closes_part_of_the_gap_to_full_trust():
    store = make_store()
    store.set(4, 9, 0.6)
    store.formed = 0
    store.reinforce([9, 4], [0.5, 0.9])
    assert store.get(4, 9) == pytest.approx(0.6 + GAIN * 0.7 * (1 - 0.6))
    assert store.formed == 0  # an existing tie is not formed again
    for _ in range(200):
        store.reinforce([4, 9], [1.0, 1.0])
    assert store.get(4, 9) <= 1.0
    assert store.get(4, 9) == pytest.approx(1.0)


def test_a_firm_working_alone_forms_no_tie():
    store = make_store()
    store.reinforce([5], [0.9])
    assert len(store) == 0
    assert store.formed == 0
    assert store.mean_pair_trust([5]) == 1.0


def test_weaken_multiplies_existing_trust_and_creates_nothing():
    store = make_store()
    store.set(1, 2, 0.8)
    store.weaken([1, 2, 3], keep=0.7)
    assert store.get(1, 2) == pytest.approx(0.56)
    assert store.get(1, 3) == 0.0
    assert len(store) == 1
    check_consistent(store)


def test_mean_pair_trust_counts_strangers_as_zero():
    store = make_store()
    store.set(1, 2, 0.6)
    store.set(2, 3, 0.3)
    assert store.mean_pair_trust([1, 2, 3]) == pytest.approx(0.3)


def test_set_ignores_self_ties_and_caps_at_one():
    store = make_store()
    store.set(4, 4, 0.9)
    assert len(store) == 0
    store.set(4, 5, 1.7)
    assert store.get(5, 4) == 1.0
    store.set(5, 4, 0.3)  # overwrite, not a new tie
    assert store.get(4, 5) == 0.3
    assert store.formed == 1


# --------------------------------------------------------------------------- decay


def test_decay_follows_the_pair_cooperativeness():
    store = make_store()
    store.set(0, 1, 0.8)
    store.set(1, 2, 0.5)
    coop = np.array([0.2, 0.6, 1.0])
    store.decay(coop)
    assert store.get(0, 1) == pytest.approx(0.8 * (1 - DECAY * (1.5 - 0.4)))
    assert store.get(1, 2) == pytest.approx(0.5 * (1 - DECAY * (1.5 - 0.8)))
    assert store.dropped == 0


def test_decay_drops_ties_below_the_floor_and_keeps_partners_symmetric():
    store = make_store()
    store.set(0, 1, FLOOR * 1.01)  # falls below the floor after one month
    store.set(0, 2, 0.9)
    store.set(1, 3, FLOOR * 1.01)
    store.decay(np.full(4, 0.5))
    assert store.dropped == 2
    assert store.get(0, 1) == 0.0 and store.get(1, 3) == 0.0
    assert store.partners[0] == {2}
    assert store.partners[1] == set()
    assert store.partners[3] == set()
    check_consistent(store)


def test_cooperative_pairs_keep_ties_longer():
    months_kept = {}
    for coop in (0.2, 0.9):
        store = make_store()
        store.set(0, 1, 0.5)
        months = 0
        while len(store):
            store.decay(np.array([coop, coop]))
            months += 1
        months_kept[coop] = months
    assert months_kept[0.9] > months_kept[0.2]


def test_decay_of_an_empty_store():
    store = make_store()
    store.decay(np.zeros(0))
    assert len(store) == 0 and store.dropped == 0


# --------------------------------------------------------------------------- exits and export


def test_remove_firm_drops_all_its_ties():
    store = make_store()
    for j in (2, 3, 4):
        store.set(1, j, 0.5)
    store.set(2, 3, 0.5)
    store.remove_firm(1)
    assert store.dropped == 3
    assert len(store) == 1
    assert store.get(2, 3) == 0.5
    assert 1 not in store.partners
    assert all(1 not in partners for partners in store.partners.values())
    store.remove_firm(99)  # a firm with no ties
    assert store.dropped == 3
    check_consistent(store)


def test_edges_round_trip():
    store = make_store()
    rng = np.random.default_rng(0)
    for _ in range(200):
        i, j = rng.integers(0, 60, size=2).tolist()
        store.set(i, j, float(rng.uniform(FLOOR, 1.0)))
    u, v, trust = store.edges()
    assert len(u) == len(store)
    assert np.all(u < v)
    copy = make_store()
    copy.add_many(zip(u.tolist(), v.tolist(), trust.tolist(), strict=True))
    assert copy.trust == store.trust
    assert copy.partners == {k: p for k, p in store.partners.items() if p}
    empty_u, empty_v, empty_t = make_store().edges()
    assert len(empty_u) == len(empty_v) == len(empty_t) == 0


# --------------------------------------------------------------------------- invariants

N_FIRMS = 12
firm = st.integers(0, N_FIRMS - 1)
coop_value = st.floats(0.0, 1.0)
operation = st.one_of(
    st.tuples(
        st.just("reinforce"),
        st.lists(firm, min_size=1, max_size=6, unique=True),
        st.lists(coop_value, min_size=6, max_size=6),
    ),
    st.tuples(
        st.just("weaken"), st.lists(firm, min_size=1, max_size=6, unique=True), st.floats(0.0, 1.0)
    ),
    st.tuples(st.just("decay")),
    st.tuples(st.just("remove"), firm),
    st.tuples(st.just("set"), firm, firm, st.floats(0.0, 2.0)),
)


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(operation, max_size=40),
    coop=st.lists(coop_value, min_size=N_FIRMS, max_size=N_FIRMS),
    gain=st.floats(0.0, 1.0),
    decay=st.floats(0.0, 1.0),
    floor=st.floats(0.0, 1.0),
)
def test_store_stays_consistent_under_any_sequence(ops, coop, gain, decay, floor):
    store = TieStore(gain=gain, decay=decay, floor=floor)
    cooperativeness = np.array(coop)
    for op in ops:
        kind = op[0]
        if kind == "reinforce":
            store.reinforce(op[1], op[2][: len(op[1])])
        elif kind == "weaken":
            store.weaken(op[1], op[2])
        elif kind == "decay":
            store.decay(cooperativeness)
            assert all(floor <= t <= 1.0 for t in store.trust.values())
        elif kind == "remove":
            store.remove_firm(op[1])
        else:
            store.set(op[1], op[2], op[3])
        check_consistent(store)
        assert all(0.0 <= t <= 1.0 for t in store.trust.values())
        # Every tie ever formed is either still there or counted as dropped.
        assert len(store) == store.formed - store.dropped


def test_edges_are_made_again_after_every_kind_of_change():
    """edges() is kept until the ties change: each change gives the dict's current ties."""
    store = TieStore(gain=0.3, decay=0.1, floor=0.05)

    def current():
        return sorted((pair_key(i, j), t) for i, j, t in zip(*store.edges(), strict=True))

    def expected():
        return sorted(store.trust.items())

    store.set(0, 1, 0.5)
    store.set(1, 2, 0.06)
    assert current() == expected()
    assert store.edges() is store.edges()  # kept while nothing changes
    with pytest.raises(ValueError):
        store.edges()[2][0] = 1.0  # read-only: a caller cannot change them for the others
    changes = [lambda: store.reinforce([0, 1, 3], [0.5, 0.5, 0.5]),
               lambda: store.weaken([0, 1], 0.5),
               lambda: store.decay(np.full(4, 0.5)),
               lambda: store.set(2, 3, 0.9),
               lambda: store.remove_firm(3)]
    for change in changes:
        store.edges()
        change()
        assert current() == expected()


class DictTies:
    """The tie store's rules on a plain dict (insertion-ordered, as the store keeps its
    ties): the reference the array store must match exactly, order of ties included."""

    def __init__(self, gain: float, decay: float, floor: float):
        self.gain, self.decay_rate, self.floor = gain, decay, floor
        self.trust: dict[int, float] = {}
        self.formed = self.dropped = 0

    def set(self, i, j, value):
        if i != j:
            key = pair_key(i, j)
            self.formed += key not in self.trust
            self.trust[key] = min(1.0, value)

    def pairs(self, members, coop, delivered, keep):
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                key = pair_key(members[a], members[b])
                old = self.trust.get(key)
                if delivered:
                    if old is None:
                        self.formed += 1
                        old = 0.0
                    c = 0.5 * (coop[a] + coop[b])
                    self.trust[key] = old + self.gain * c * (1.0 - old)
                elif old is not None:
                    self.trust[key] = old * keep

    def decay(self, coop):
        kept = {}
        for key, value in self.trust.items():
            i, j = divmod(key, 1 << 32)
            value *= 1.0 - self.decay_rate * (1.5 - 0.5 * (coop[i] + coop[j]))
            if value >= self.floor:
                kept[key] = value
            else:
                self.dropped += 1
        self.trust = kept

    def remove_firm(self, i):
        for key in [k for k in self.trust if i in divmod(k, 1 << 32)]:
            del self.trust[key]
            self.dropped += 1


WIDE = 300  # enough firms for thousands of ties: slots and the hash table grow, and removed
# ties leave gaps in the table that later searches must step over


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.one_of(
           st.tuples(st.just("team"), st.lists(st.integers(0, WIDE - 1), min_size=2, max_size=12,
                                               unique=True), st.booleans()),
           st.tuples(st.just("decay")),
           st.tuples(st.just("remove"), st.integers(0, WIDE - 1)),
           st.tuples(st.just("set"), st.integers(0, WIDE - 1), st.integers(0, WIDE - 1),
                     st.floats(0.0, 1.5))), max_size=60),
       seed=st.integers(0, 2**32 - 1))
def test_store_matches_a_dict_of_ties_in_values_and_order(ops, seed):
    rng = np.random.default_rng(seed)
    coop = rng.random(WIDE)
    store, reference = TieStore(0.4, 0.05, 0.08), DictTies(0.4, 0.05, 0.08)
    for op in ops:
        if op[0] == "team":
            members, delivered = op[1], op[2]
            c = coop[members].tolist()
            (store.reinforce(members, c) if delivered else store.weaken(members, 0.7))
            reference.pairs(members, c, delivered, 0.7)
        elif op[0] == "decay":
            store.decay(coop)
            reference.decay(coop)
        elif op[0] == "remove":
            store.remove_firm(op[1])
            reference.remove_firm(op[1])
        else:
            store.set(*op[1:])
            reference.set(*op[1:])
        assert list(store.trust.items()) == list(reference.trust.items())  # bit for bit
        keys = np.array([*reference.trust, pair_key(0, WIDE)], dtype=np.int64)
        assert store.lookup(keys).tolist() == [*reference.trust.values(), 0.0]
        assert (store.formed, store.dropped, len(store)) == (
            reference.formed, reference.dropped, len(reference.trust))
    u, v, t = store.edges()
    assert [pair_key(a, b) for a, b in zip(u.tolist(), v.tolist(), strict=True)] == list(reference.trust)
    assert t.tolist() == list(reference.trust.values())
    check_consistent(store)


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=60),
       step=st.floats(0.0, 1.0), least=st.floats(0.0, 1.2), seed=st.integers(0, 1000))
def test_lift_is_get_then_set_pair_by_pair(pairs, step, least, seed):
    """Repeated pairs, self-pairs and existing ties included, as the Python code did it."""
    lifted, reference = (TieStore(0.4, 0.05, 0.08) for _ in range(2))
    for store in (lifted, reference):  # the same ties to start from
        store.reinforce(np.random.default_rng(seed).permutation(31)[:6].tolist(), [0.5] * 6)
    lifted.lift(np.array([a for a, _ in pairs], dtype=np.int64),
                np.array([b for _, b in pairs], dtype=np.int64), step, least)
    for a, b in pairs:
        old = reference.get(a, b)
        reference.set(a, b, max(old + step * (1.0 - old), least))
    assert list(lifted.trust.items()) == list(reference.trust.items())
    assert lifted.partners == reference.partners and lifted.formed == reference.formed
