"""Brokers take up their posts and recruit client firms (docs/ODD.md §7.10).

Brokers are spread over towns by their number of living firms; each month a broker
with room signs up willing firms within one hour of its town: a firm not yet in an
active formal network, nor anyone's client, agrees with a monthly chance
recruitment × cooperativeness × (threat + awareness lift while the campaign runs).
"""

from __future__ import annotations

import math

import numpy as np

from clustersim.agents.broker import Broker
from clustersim.cooperation import joining_factor
from clustersim.targeting import targeted


class Recruitment:
    """Mixin of :class:`~clustersim.policies.brokers.BrokersPolicy`: brokers and their clients."""

    def _start(self) -> None:
        """Create the brokers, spread over towns by their number of living firms."""
        model, cfg = self.model, self.config
        self.started = True
        count = math.floor(cfg.brokers_per_1000 * model.initial_cohort / 1000.0 + 0.5)
        if cfg.brokers_per_1000 > 0:
            count = max(1, count)
        towns_xy = model.region.towns_xy
        f = model.firms
        per_town = np.bincount(f.town[f.alive_indices()], minlength=len(towns_xy)).astype(float)
        if per_town.sum() <= 0:
            per_town[:] = 1.0
        quota = count * per_town / per_town.sum()
        allotted = np.floor(quota).astype(np.int64)
        for t in np.argsort(-(quota - allotted), kind="stable")[: count - int(allotted.sum())]:
            allotted[t] += 1  # largest remainders
        for town, k in enumerate(allotted.tolist()):
            for _ in range(k):
                self.brokers.append(
                    Broker(
                        model,
                        len(self.brokers),
                        town,
                        float(towns_xy[town, 0]),
                        float(towns_xy[town, 1]),
                        cfg.quality,
                        cfg.caseload,
                    )
                )

    def _in_active_network(self, month: int) -> np.ndarray:
        f = self.model.firms
        net = f.formal_network[: f.n]
        networks = self.model.formal_networks.networks
        if not networks:
            return np.zeros(f.n, dtype=bool)
        active = np.array([n.active(month) for n in networks] + [False], dtype=bool)
        return active[net]  # −1 indexes the trailing False

    def _recruit(self, month: int) -> None:
        """Brokers with room sign up willing firms within one hour of their town.

        A firm not yet in an active formal network, nor anyone's client, agrees with a
        monthly chance recruitment × cooperativeness × (threat + awareness lift while
        the campaign runs) (docs/ODD.md §2).
        """
        model, cfg = self.model, self.config
        hiring = [b for b in self.brokers if b.working and b.room > 0]
        if not hiring:
            return
        f = model.firms
        n = f.n
        free = f.alive[:n] & ~self._in_active_network(month)
        for broker in self.brokers:
            free[sorted(broker.clients)] = False
        if self.sanctioned:
            free[sorted(self.sanctioned)] = False
        free = targeted(model, free, cfg.targeting, self.supported)  # docs/ODD.md §7.8
        lift = cfg.awareness_lift if self.campaign_on else 0.0
        chance = cfg.recruitment * f.cooperativeness[:n] * (f.threat[:n] + lift)
        chance = chance * joining_factor(f, slice(0, n), model.scenario.response)  # §7.14
        willing = np.flatnonzero(free & (model.rng.random(n) < chance))
        if len(willing) == 0:
            return
        taken = np.zeros(n, dtype=bool)
        radius = model.region.search_radius_km
        shift = month % len(hiring)  # brokers take turns at going first
        for broker in hiring[shift:] + hiring[:shift]:
            near = willing[
                ~taken[willing]
                & (np.hypot(f.x[willing] - broker.x, f.y[willing] - broker.y) <= radius)
            ]
            if len(near) == 0:
                continue
            picks = near[model.rng.permutation(len(near))[: broker.room]]
            new = broker.take_on(sorted(picks.tolist()))
            taken[new] = True
            self.supported.update(new)
            self.counts["recruited"] += len(new)
