"""Trained and untrained brokers differ in more than the trust lift (003:L3400-3415)."""

import numpy as np

from clustersim.model import ClusterModel
from clustersim.policies.brokers.formation import propose_groups


def test_untrained_brokers_group_clients_as_they_come():
    rng_seed = 5
    pool = list(range(40))
    specialty = np.array([i % 4 for i in range(40)])
    x = np.zeros(40)
    y = np.zeros(40)
    distinct = {}
    for complementary in (True, False):
        groups = propose_groups(pool, specialty, x, y, 60.0, 3, 8,
                                np.random.default_rng(rng_seed), complementary=complementary)
        distinct[complementary] = np.mean([len({specialty[m] for m in g}) / len(g) for g in groups])
        assert all(3 <= len(g) <= 8 for g in groups)
    assert distinct[True] > distinct[False]


def network_stats(quality: str, seed: int) -> tuple[list[int], float]:
    policy = {"type": "brokers", "start": 2, "duration": 24, "brokers_per_1000": 20.0,
              "quality": quality}
    model = ClusterModel(seed=seed, n_firms=150, steps=24, policies=[policy],
                         **{"region.cooperativeness": 0.5})
    model.run()
    nets = model.formal_networks.networks
    spec = model.firms.specialty
    return [len(n.activities) for n in nets], float(np.mean(
        [len({int(spec[m]) for m in n.members}) / max(1, len(n.members)) for n in nets]))


def test_untrained_networks_start_the_minimum_of_activities():
    trained, _ = network_stats("trained", 4)
    untrained, _ = network_stats("untrained", 4)
    assert untrained and set(untrained) == {2}
    assert max(trained) > 2
