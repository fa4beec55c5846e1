"""Brokers' money: salaries, the awareness campaign and the three stages of grants.

Stage 1 (feasibility) is paid when a network forms, stage 2 (planning) 3 months later
and stage 3 (implementation) 9 months later, each only if the network is still active;
grants never eat the salaries and campaign of the months still to come
(003:L1642-1805; docs/ODD.md §7.10).
"""

from __future__ import annotations

from clustersim.policies.base import RECIPIENT_FIRM, RECIPIENT_OUTSIDE

STAGE_MONTHS = {"feasibility": 0, "planning": 3, "implementation": 9}  # after formation


class StageGrants:
    """Mixin of :class:`~clustersim.policies.brokers.BrokersPolicy`: what the programme pays."""

    def _monthly_running_cost(self) -> float:
        cfg = self.config
        return len(self.brokers) * cfg.salary + (cfg.campaign_cost if cfg.awareness else 0.0)

    def _pay_running_costs(self) -> None:
        """Salaries, then the campaign; an unpaid broker does not work this month."""
        cfg = self.config
        for broker in self.brokers:
            broker.working = cfg.salary <= 0 or self.remaining >= cfg.salary - 1e-9
            if broker.working and cfg.salary > 0:
                self.pay(cfg.salary, RECIPIENT_OUTSIDE, -1, "broker_salary")
        self.campaign_on = cfg.awareness and (
            cfg.campaign_cost <= 0 or self.remaining >= cfg.campaign_cost - 1e-9
        )
        if self.campaign_on and cfg.campaign_cost > 0:
            self.pay(cfg.campaign_cost, RECIPIENT_OUTSIDE, -1, "awareness_campaign")

    def _grant_room(self, month: int) -> float:
        """What grants may still use: the budget less salaries and campaign of the months to come."""
        months_after = max(0, self.start + self.duration - 1 - month)
        return max(0.0, self.remaining - self._monthly_running_cost() * months_after)

    def _grant(self, network_id: int, stage: str, amount: float, month: int) -> None:
        """A stage grant to a network, split equally among its members (k€)."""
        members = sorted(self.model.formal_networks.networks[network_id].members)
        amount = min(amount, self._grant_room(month))
        if amount <= 1e-9 or not members:
            return
        share = amount / len(members)
        paid = sum(self.pay(share, RECIPIENT_FIRM, m, f"{stage}_grant") for m in members)
        if paid > 0:
            self.grant_log.append((month, network_id, stage, paid))

    def _pay_stage_grants(self, month: int) -> None:
        """Planning grant 3 months after formation, implementation at 9, if the network is still active."""
        cfg = self.config
        networks = self.model.formal_networks.networks
        for net_id in self.network_ids:
            age = month - self.formed[net_id]
            if age == STAGE_MONTHS["planning"] and networks[net_id].active(month):
                self._grant(net_id, "planning", cfg.grant_planning, month)
            elif age == STAGE_MONTHS["implementation"] and networks[net_id].active(month):
                self._grant(net_id, "implementation", cfg.grant_implementation, month)
