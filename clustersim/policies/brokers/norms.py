"""Impannatore norms: winners pass work to members that missed, price-cutters are cut off.

With ``norms`` on (dynamic mode), a member leading an order favours co-members that had
little work (a partner weight); a lead that gives a phase to an outsider while a
co-member with that phase is idle strikes, and after ``norms_strikes`` strikes within
12 months it is cut off from its network and the programme (003:L1497-1512;
docs/ODD.md §7.10). Bypasses are counted with norms off too, for comparison.
"""

from __future__ import annotations


class Norms:
    """Mixin of :class:`~clustersim.policies.brokers.BrokersPolicy`: the impannatore's rules."""

    def _idle_weight(self, lead: int, candidate: int) -> float:
        """Norms (a): a member leading an order favours co-members that had little work.

        A partner weight (dynamic mode only): an idle co-member's chance of being chosen
        is multiplied by ``norms_idle_weight``, so winners pass excess work to members
        that missed (003:L1500-1505).
        """
        idle = self._idle_co_members.get(lead)
        return self.config.norms_idle_weight if idle and candidate in idle else 1.0

    def _check_bypasses(self, month: int) -> None:
        """Count orders whose lead gave a phase to an outsider while a co-member with it was idle.

        With norms such a lead is a price-cutter in this model: it takes the work
        outside instead of sharing it with members that missed. After
        ``norms_strikes`` bypasses within 12 months it is cut off from its network
        and from the programme (003:L1497-1499).
        """
        if not self._idle_phases:
            return
        f = self.model.firms
        network_of = f.formal_network
        for job in self.model.jobs_won:
            lead = job.lead
            net = int(network_of[lead])
            idle = self._idle_phases.get(net)
            if idle is None or not f.alive[lead]:
                continue
            in_team = set(job.members)
            outsider_phases = {
                phase
                for firm, phase, _ in job.assignments
                if firm != lead and network_of[firm] != net
            }
            passed = any(network_of[m] == net for m in job.members[1:])
            bypassed = any(m not in in_team for p in outsider_phases for m in idle.get(p, ()))
            self.counts["idle_network_jobs"] += 1
            self.counts["idle_network_jobs_shared"] += int(passed)
            if bypassed:
                self.counts["bypasses"] += 1
                if self.config.norms:
                    self._strike(lead, net, month)

    def _strike(self, firm: int, network_id: int, month: int) -> None:
        record = [m for m in self.strikes.get(firm, []) if month - m < 12]
        record.append(month)
        self.strikes[firm] = record
        if len(record) >= self.config.norms_strikes:
            self._cut_off(firm, network_id)

    def _cut_off(self, firm: int, network_id: int) -> None:
        """Sanction: the firm leaves its network, the broker's caseload and the programme."""
        model = self.model
        model.formal_networks.remove_member(network_id, firm)
        model.firms.formal_network[firm] = -1
        for broker in self.brokers:
            broker.drop_client(firm)
        self.sanctioned.add(firm)
        self.strikes.pop(firm, None)
        self.counts["sanctions"] += 1
