"""Fixed runs give the outputs recorded in tests/data/fingerprints.json, bit for bit.

A refactoring must leave these equal. A change that alters the model's behaviour on
purpose regenerates them (``python tests/fingerprints.py --update``) in the same
commit and says why.
"""

import json

import pytest
from fingerprints import RUNS, STORE, run_fingerprint

EXPECTED = json.loads(STORE.read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_run_matches_stored_fingerprint(name):
    assert run_fingerprint(name) == EXPECTED[name]


def test_a_missing_column_changes_the_fingerprint():
    import pandas as pd
    from fingerprints import frame_hash

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    assert frame_hash(frame, ["a", "b"]) == frame_hash(frame)
    assert frame_hash(frame.assign(c=5), ["a", "b"]) == frame_hash(frame)
    assert frame_hash(frame[["a"]], ["a", "b"]) != frame_hash(frame)
