"""KeyedValues behaves as an insertion-ordered dict of floats, bit for bit and in order."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from clustersim.keyed import KeyedValues

KEYS = st.integers(0, 400) | st.integers(2**40, 2**40 + 5)  # small and wide keys
AMOUNT = st.floats(-5.0, 5.0, allow_nan=False)

operation = st.one_of(
    st.tuples(st.just("set"), KEYS, AMOUNT),
    st.tuples(st.just("add"), st.lists(st.tuples(KEYS, AMOUNT), max_size=80)),
    # take from keys that are there (picked by position) and from some that are not
    st.tuples(st.just("take"), st.lists(st.tuples(st.integers(0, 10**6), AMOUNT), max_size=40),
              st.floats(-1.0, 6.0)),
    st.tuples(st.just("remove"), st.integers(0, 10**6)),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(operation, max_size=40))
def test_keyed_values_match_a_dict(ops):
    keyed, reference = KeyedValues(), {}
    for op in ops:
        if op[0] == "set":
            assert keyed.set(op[1], op[2]) == (op[1] not in reference)
            reference[op[1]] = op[2]
        elif op[0] == "add":
            pairs = op[1]
            keyed.add(np.array([k for k, _ in pairs], dtype=np.int64),
                      np.array([a for _, a in pairs], dtype=np.float64))
            for key, amount in pairs:
                reference[key] = reference.get(key, 0.0) + amount
        elif op[0] == "take":
            there = list(reference)
            pairs = [(there[p % len(there)] if there and p % 5 else 401, a) for p, a in op[1]]
            tolerance = op[2]
            keyed.take(np.array([k for k, _ in pairs], dtype=np.int64),
                       np.array([a for _, a in pairs], dtype=np.float64), tolerance)
            for key, amount in pairs:
                if key in reference:
                    left = reference[key] - amount
                    if left <= tolerance:
                        del reference[key]
                    else:
                        reference[key] = left
        elif reference:
            key = list(reference)[op[1] % len(reference)]
            keyed.remove(key)
            del reference[key]
        keys, values = keyed.items()
        assert list(zip(keys.tolist(), values.tolist(), strict=True)) == list(reference.items())
        assert len(keyed) == len(reference)
        probe = [*reference, 401, 2**40 + 6]
        assert keyed.lookup(np.array(probe, dtype=np.int64)).tolist() == [
            reference.get(k, 0.0) for k in probe]
        assert [keyed.get(k) for k in probe] == [reference.get(k, 0.0) for k in probe]
