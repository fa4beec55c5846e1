"""How a broker forms a formal network, and tends it while it is young (docs/ODD.md §7.10).

A broker groups its unplaced clients into networks of complementary firms within one
hour of each other (:func:`propose_groups`), registers each as a formal network with
two or more joint activities (003:L1668), places its members (they graduate
``graduation_months`` later) and, while it tends a network, lifts the trust among its
members so that the ties it creates survive the monthly decay.
"""

from __future__ import annotations

import numpy as np

from clustersim.formal import ACTIVITIES
from clustersim.ties import DECAY_COOPERATIVENESS_OFFSET

# A tie a broker creates must survive the monthly decay (× at most
# 1 − DECAY_COOPERATIVENESS_OFFSET × decay, for the least cooperative pair): it starts
# this far above the level that decays to the floor.
TIE_MARGIN = 0.02


def propose_groups(
    pool: list[int],
    specialty: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    radius_km: float,
    min_size: int,
    max_size: int,
    rng: np.random.Generator,
    complementary: bool = True,
) -> list[list[int]]:
    """Group a broker's unplaced clients (``pool``, sorted) into future networks of complementary firms.

    Each group grows from a randomly drawn client: first clients of a specialty
    the group lacks (complementary phases), then any client if the group is still
    below ``min_size``; every member is within ``radius_km`` (one hour's travel,
    003:L3321) of every other. Groups below ``min_size`` are not proposed. An untrained
    broker (``complementary`` False) lacks the knowledge of how networks work (003:L3405-3410)
    and groups clients as they come, within reach, up to ``min_size``.
    """
    if len(pool) < min_size:
        return []
    ids = np.asarray(pool, dtype=np.int64)
    px, py = x[ids], y[ids]
    near = np.hypot(px[:, None] - px[None, :], py[:, None] - py[None, :]) <= radius_km
    spec = specialty[ids].tolist()
    used = [False] * len(pool)
    groups: list[list[int]] = []
    order = rng.permutation(len(pool)).tolist()
    for seed in order:
        if used[seed]:
            continue
        group = [seed]
        have = {spec[seed]}
        for distinct_only in ((True, False) if complementary else (False,)):
            for c in order:
                if len(group) >= max_size or (not distinct_only and len(group) >= min_size):
                    break
                if used[c] or c in group or (distinct_only and spec[c] in have):
                    continue
                if all(near[c, g] for g in group):
                    group.append(c)
                    have.add(spec[c])
        if len(group) >= min_size:
            for g in group:
                used[g] = True
            groups.append(sorted(pool[g] for g in group))
    return groups


class Formation:
    """Mixin of :class:`~clustersim.policies.brokers.BrokersPolicy`: networks built and tended."""

    def _form_networks(self, month: int) -> None:
        """Brokers group complementary clients within an hour of each other into formal networks."""
        model, cfg = self.model, self.config
        f = model.firms
        radius = model.region.search_radius_km
        for broker in self.brokers:
            if not broker.working:
                continue
            groups = propose_groups(
                broker.unplaced_clients(),
                f.specialty, f.x, f.y, radius, cfg.min_size, cfg.max_size, model.rng,
                complementary=cfg.quality == "trained",
            )
            for members in groups:
                for m in members:
                    old = int(f.formal_network[m])
                    if old >= 0:  # a lapsed network it was still listed in
                        model.formal_networks.remove_member(old, m)
                network = model.formal_networks.create(
                    members, self._choose_activities(), month, broker=broker.unique_id
                )
                f.formal_network[members] = network.id
                broker.place(members, network.id, month, cfg.graduation_months)
                self.network_ids.append(network.id)
                self.formed[network.id] = month
                self.counts["networks_formed"] += 1
                self._grant(network.id, "feasibility", cfg.grant_feasibility, month)

    def _choose_activities(self) -> tuple[str, ...]:
        """At least ``min_activities`` joint activities (003:L1668), in ACTIVITIES order; an
        untrained broker, with another job (003:L3412-3415), starts no more than the minimum."""
        rng = self.model.rng
        most = len(ACTIVITIES) if self.config.quality == "trained" else self.config.min_activities
        k = int(rng.integers(self.config.min_activities, most + 1))
        picks = sorted(rng.choice(len(ACTIVITIES), size=k, replace=False).tolist())
        return tuple(ACTIVITIES[i] for i in picks)

    def _tended(self, network_id: int, month: int) -> bool:
        """A broker tends a network until its members graduate."""
        return month < self.formed[network_id] + self.config.graduation_months

    def _lift_trust(self, month: int) -> None:
        """Working brokers build trust among the members of the networks they tend.

        trust ← max(trust + lift × (1 − trust), level that survives one decay); lift is
        ``trust_lift``, halved for untrained brokers (003:L3412).
        """
        cfg, model = self.config, self.model
        ties = model.ties
        survive = ties.floor / max(1.0 - DECAY_COOPERATIVENESS_OFFSET * ties.decay_rate, 1e-3) + TIE_MARGIN
        lift = cfg.trust_lift * (1.0 if cfg.quality == "trained" else 0.5)
        networks = model.formal_networks.networks
        for broker in self.brokers:
            if not broker.working:
                continue
            for net_id in broker.networks:
                network = networks[net_id]
                if not self._tended(net_id, month) or not network.active(month):
                    continue
                members = np.array(sorted(network.members), dtype=np.int64)
                a, b = np.triu_indices(len(members), 1)  # pairs a < b, row by row
                ties.lift(members[a], members[b], lift, survive)
