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
