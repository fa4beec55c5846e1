"""Compiled staffing (clustersim.compiled) gives bit for bit the Python path's results.

The Python staffing in TeamBuilder.staff is the reference; the compiled one must do the
same arithmetic and draw the same random numbers, so that a run is the same whichever
staffs a month. Each case runs a scenario twice, compiled on and off, and compares every
output frame the fingerprints cover.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from fingerprints import _frames

from clustersim import compiled
from clustersim.model import ClusterModel
from clustersim.teams import TeamBuilder
from clustersim.ties import PAIR_KEY_BASE, pair_key


def test_the_twister_reproduces_pythons_random_across_several_twists() -> None:
    source = random.Random(12345)
    source.random()  # start part-way through a block of 624 words
    reference = random.Random()
    reference.setstate(source.getstate())
    stream = compiled.TwisterStream(source)
    draws = [stream.random() for _ in range(2_000)]  # 4,000 words: several twists
    assert draws == [reference.random() for _ in range(2_000)]
    stream.hand_back()
    assert source.getstate() == reference.getstate()  # handed back exactly where it stopped
    assert source.random() == reference.random()


@pytest.mark.parametrize(("n", "k"), [(1, 1), (4, 2), (21, 5), (30, 3), (30, 6), (200, 7),
                                    (5_000, 40), (100, 100)])
def test_sampling_draws_as_random_sample(n: int, k: int) -> None:
    """Both of random.sample's ways (a pool for small populations, a set of picks for
    large ones) with the same draws, and the stream left where random.sample leaves it."""
    source = random.Random(n * 1_000 + k)
    reference = random.Random()
    reference.setstate(source.getstate())
    population = np.arange(10, 10 + 3 * n, 3, dtype=np.int64)
    stream = compiled.TwisterStream(source)
    out, spare = np.zeros(k, np.int64), np.zeros(n, np.int64)
    for _ in range(3):
        compiled._sample(stream.state, population, k, out, spare)
        assert out.tolist() == reference.sample(population.tolist(), k)
    assert stream.random() == reference.random()


def test_python_hypot_is_math_hypot_to_the_last_bit() -> None:
    rng = np.random.default_rng(3)
    for scale in (1e-3, 1.0, 150.0, 1e6):
        pairs = [*rng.uniform(-scale, scale, size=(20_000, 2)).tolist(), [0.0, 2.5], [0.0, 0.0]]
        assert [compiled.python_hypot(a, b) for a, b in pairs] == [math.hypot(a, b)
                                                                   for a, b in pairs]


def run(scenario: str, compiled_on: bool, monkeypatch: pytest.MonkeyPatch, **overrides):
    """Run a scenario with compiled staffing on or off; returns its output frames and how
    many orders compiled code staffed (order by order, or a whole month at a time)."""
    monkeypatch.setattr(TeamBuilder, "use_compiled", compiled_on)
    calls = {"compiled": 0}
    original, original_month = TeamBuilder._staff_compiled, TeamBuilder.staff_month

    def counting(self, order, lead):
        calls["compiled"] += 1
        return original(self, order, lead)

    def counting_month(self, orders, draws):
        for staffed in original_month(self, orders, draws):
            calls["compiled"] += len(staffed.orders)
            yield staffed

    monkeypatch.setattr(TeamBuilder, "_staff_compiled", counting)
    monkeypatch.setattr(TeamBuilder, "staff_month", counting_month)
    model = ClusterModel(scenario, seed=overrides.pop("seed", 11), **overrides)
    model.run()
    return _frames(model), calls["compiled"]


INTELLIGENCE = {"type": "hubs", "start": 2, "duration": 30, "join_rate": 0.1,
                "services": ["market_intelligence"], "early_notice": 0.4}

CASES = {
    # dynamic ties, strangers searched within an hour
    "baseline": ("baseline", {"firms.count": 120, "steps": 24}),
    # fixed networks: designated cooperators, phases split over several members
    "static": ("static", {"firms.count": 120, "steps": 24}),
    # crisis response: more strangers, weighted more (per-firm arrays)
    "response": ("covid_demand_drop", {"firms.count": 120, "steps": 48, "response.enabled": True}),
    # brokers: referrals and co-producers offered through a CandidateTable
    "brokers": ("danish_brokers", {"firms.count": 120, "steps": 24, "policies[0].start": 4,
                                   "policies[0].duration": 8}),
    # hubs: capability databases sampled (random.sample) through a CandidateTable
    "hubs": ("factor_hubs", {"firms.count": 150, "steps": 24, "policies[0].start": 2}),
    # ... short of money (service level < 1: a fractional reach, one more with a chance)
    # and with large hubs (random.sample's other way, for populations above its set size)
    "hubs_reach": ("factor_hubs", {"firms.count": 600, "steps": 14, "policies[0].start": 2,
                                   "policies[0].count": 2, "policies[0].budget": 40,
                                   "policies[0].fee": 0.1, "policies[0].join_rate": 0.08}),
    # impannatore norms (partner weights): Python months between compiled ones, one stream
    "norms": ("emilia_romagna", {"firms.count": 150, "steps": 20, "policies[1].start": 6}),
    # no stranger search, phases never split
    "no_search": ("baseline", {"firms.count": 100, "steps": 18, "teams.random_search": 0,
                               "teams.split_phases": False, "seed": 3}),
    # a programme without partner hooks (grants): compiled in every month
    "grants": ("challenge_grants", {"firms.count": 120, "steps": 30, "policies[0].start": 2}),
    # market intelligence offers orders early; export orders only firms with access lead
    "early_export": ("baseline", {"firms.count": 150, "steps": 20, "policies": [INTELLIGENCE],
                                  "market.export_share": 0.3, "seed": 5}),
    # the same in fixed networks (static leads are drawn in Python, staffing compiled)
    "early_export_static": ("static", {"firms.count": 150, "steps": 20,
                                       "policies": [INTELLIGENCE], "market.export_share": 0.3}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_staffing_gives_the_python_results_bit_for_bit(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, overrides = CASES[case]
    python, python_calls = run(scenario, False, monkeypatch, **dict(overrides))
    fast, fast_calls = run(scenario, True, monkeypatch, **dict(overrides))
    assert python_calls == 0 and fast_calls > 100  # each path really ran
    for name, frame in python.items():
        pd.testing.assert_frame_equal(fast[name], frame, check_exact=True, obj=name)


def test_a_month_staffed_in_many_short_calls_is_the_same_month(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """When its buffers fill, the compiled month stops and goes on where it stopped: with
    room for one order at a time, every order is its own call, and the run is the same."""
    scenario, overrides = CASES["hubs"]
    whole, _ = run(scenario, True, monkeypatch, **dict(overrides))
    monkeypatch.setattr(TeamBuilder, "MONTH_ROOM", 1)
    calls = {"kernel": 0}
    kernel = compiled.staff_month

    def counting(*args):
        calls["kernel"] += 1
        return kernel(*args)

    monkeypatch.setattr(compiled, "staff_month", counting)
    pieces, _staffed = run(scenario, True, monkeypatch, **dict(overrides))
    won = int(pieces["timeseries"]["orders_won"].sum())
    assert calls["kernel"] >= won > 100  # it stops after each order that made assignments
    for name, frame in whole.items():
        pd.testing.assert_frame_equal(pieces[name], frame, check_exact=True, obj=name)


def test_partner_weights_and_the_dependence_cap_keep_the_python_path() -> None:
    """Partner weights (impannatore norms), a candidate source without a table and the
    dependence cap take part in partner choice from Python: in those months the builder
    does not compile (the cases above show the run is still the same one)."""
    model = ClusterModel("emilia_romagna", seed=2, **{"firms.count": 80, "steps": 3})
    model.run()
    assert model.teams.hooks.partner_weights and model.teams._compiled is None
    model = ClusterModel("baseline", seed=2, **{"firms.count": 80, "steps": 2})
    model.step()
    assert model.teams._compiled is not None
    model.hooks.add_partner_candidates("test", lambda lead, phase: [])
    model.step()
    assert model.teams._compiled is None
    model = ClusterModel("baseline", seed=2, **{"firms.count": 80, "steps": 2,
                                                "firms.dependence_cap": 0.3})
    model.run()
    assert model.teams._compiled is None


def test_a_month_hands_the_random_stream_back_even_when_it_fails(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ClusterModel("baseline", seed=4, **{"firms.count": 60, "steps": 3})
    model.step()
    reference = random.Random()
    reference.setstate(model.random.getstate())

    def broken(self, *args):
        self.random()  # one draw from the taken-over stream, then a failure
        raise RuntimeError("boom")

    monkeypatch.setattr(TeamBuilder, "_staff_compiled", broken)  # static mode's way
    monkeypatch.setattr(TeamBuilder, "staff_month", broken)  # dynamic mode's way
    with pytest.raises(RuntimeError, match="boom"):
        model.step()
    reference.random()
    assert np.array_equal(model.random.getstate()[1], reference.getstate()[1])


def test_living_pairs_are_the_pairs_of_each_teams_living_members_in_order() -> None:
    rng = np.random.default_rng(8)
    teams = [rng.choice(40, size=int(k), replace=False).tolist() for k in rng.integers(1, 7, 60)]
    alive = rng.random(40) < 0.8
    coop = rng.random(40)
    flat = np.array([m for team in teams for m in team], dtype=np.int64)
    offsets = np.r_[0, np.cumsum([len(team) for team in teams])].astype(np.int64)
    keys, mean, pair_offsets = compiled.living_pairs(flat, offsets, alive, coop, PAIR_KEY_BASE)
    expected_keys, expected_mean, expected_offsets = [], [], [0]
    for team in teams:
        living = [m for m in team if alive[m]]
        for a in range(len(living)):
            for b in range(a + 1, len(living)):
                expected_keys.append(pair_key(living[a], living[b]))
                expected_mean.append(0.5 * (float(coop[living[a]]) + float(coop[living[b]])))
        expected_offsets.append(len(expected_keys))
    assert keys.tolist() == expected_keys
    assert mean.tolist() == expected_mean
    assert pair_offsets.tolist() == expected_offsets


def test_partners_by_firm_sorts_every_firms_partners_few_or_many() -> None:
    """Ties in any order (firm 0 has 120): every firm's partners sorted, each with its tie's
    trust, as sorting (firm, partner) pairs gives."""
    rng = np.random.default_rng(9)
    pairs = {(0, j) for j in range(1, 121)}
    pairs |= {tuple(sorted(p)) for p in rng.integers(0, 150, size=(400, 2)).tolist() if p[0] != p[1]}
    pairs = [pairs[::-1] if flip else pairs for pairs, flip in
             zip(rng.permutation(sorted(pairs)).tolist(), rng.random(len(pairs)) < 0.5, strict=True)]
    u, v = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
    trust = rng.random(u.size)
    offsets, partners, trusts = compiled.partners_by_firm(u, v, trust, 150)
    src, dst = np.r_[u, v], np.r_[v, u]
    order = np.lexsort((dst, src))
    assert partners.tolist() == dst[order].tolist()
    assert trusts.tolist() == np.r_[trust, trust][order].tolist()
    assert offsets.tolist() == np.searchsorted(src[order], np.arange(151)).tolist()



@pytest.mark.parametrize(("seed", "nodes", "density"), [
    *((seed, (2, 120), (0.02, 0.5)) for seed in range(4)),  # bitsets of neighbours
    *((seed, (compiled.BITSET_NODES + 1, 3000), (0.001, 0.004)) for seed in range(4, 6)),
])  # above BITSET_NODES: each triangle found once, nodes ranked by degree
def test_triangles_of_all_nodes_match_the_count_per_node(seed, nodes, density) -> None:
    """twice_triangles_all gives every node's count as twice_triangles (marking each node's
    neighbours), on both its paths, hubs and equal degrees included."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(*nodes))
    dense = rng.random((n, n)) < rng.uniform(*density)
    hubs = max(1, min(n // 10, 12))
    dense[:hubs] |= rng.random((hubs, n)) < 0.8  # a few hubs
    u, v = np.nonzero(np.triu(dense | dense.T, 1))
    indptr, indices, _ = compiled.partners_by_firm(u.astype(np.int64), v.astype(np.int64),
                                                   np.zeros(u.size), n)
    each, once = np.zeros(n), np.full(n, -1.0)
    compiled.twice_triangles(indptr, indices, np.arange(n, dtype=np.int64), each)
    compiled.twice_triangles_all(indptr, indices, once)
    assert once.tolist() == each.tolist()
    assert each.sum() > 0 or u.size < 3

BOUNDS_SCRIPT = """
import sys
from fingerprints import frame_hash
from clustersim.model import ClusterModel
from clustersim.teams import TeamBuilder
TeamBuilder.MONTH_ROOM = 1  # buffers as small as one order's output: the tightest fit
model = ClusterModel("factor_hubs", seed=1, **OVERRIDES)
model.run()
print(frame_hash(model.timeseries()))
"""


@pytest.mark.slow
def test_a_compiled_month_stays_inside_its_buffers(tmp_path) -> None:
    """With numba's bounds checks on (a fresh cache, so every kernel compiles with them), a
    month of large hub databases, six bids an order and the smallest buffers runs through
    (an order's failed attempts each add offers) and gives the run of the default buffers."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from fingerprints import frame_hash

    overrides = {"firms.count": 200, "steps": 8, "policies[0].start": 1,
                 "policies[0].join_rate": 0.3, "policies[0].database_reach": 20, "teams.bids": 6}
    tests = Path(__file__).resolve().parent
    env = {**os.environ, "NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    script = BOUNDS_SCRIPT.replace("OVERRIDES", repr(overrides))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    model = ClusterModel("factor_hubs", seed=1, **overrides)
    model.run()
    assert done.stdout.strip() == frame_hash(model.timeseries())
