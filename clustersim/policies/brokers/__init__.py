"""Danish-style network brokers: facilitators who build formal networks (docs/ODD.md §7.10).

Denmark 1989-1992: an awareness campaign, 40 trained brokers for 7,300 small
manufacturers, three stages of grants, networks of three or more firms doing two or
more joint activities, a sunset after three years (003:L1642-1805, L3792-3938).

The programme is split by job, one file each:

- :mod:`~clustersim.policies.brokers.recruitment`: brokers take posts, recruit clients;
- :mod:`~clustersim.policies.brokers.formation`: how a broker forms a formal network and
  tends it (trust);
- :mod:`~clustersim.policies.brokers.stage_grants`: salaries, campaign, stage grants;
- :mod:`~clustersim.policies.brokers.activities`: what active networks do for members;
- :mod:`~clustersim.policies.brokers.norms`: the impannatore's rules.

:class:`BrokersPolicy` below only says in which order they run.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from clustersim.config.policies import BrokersConfig
from clustersim.policies import register
from clustersim.policies.base import Policy
from clustersim.policies.brokers.activities import Activities
from clustersim.policies.brokers.formation import TIE_MARGIN, Formation, propose_groups
from clustersim.policies.brokers.norms import Norms
from clustersim.policies.brokers.recruitment import Recruitment
from clustersim.policies.brokers.stage_grants import STAGE_MONTHS, StageGrants

if TYPE_CHECKING:
    from clustersim.agents.broker import Broker
    from clustersim.model import ClusterModel

__all__ = ["STAGE_MONTHS", "TIE_MARGIN", "BrokersConfig", "BrokersPolicy", "propose_groups"]


@register
class BrokersPolicy(Recruitment, Formation, StageGrants, Activities, Norms, Policy):
    """A Danish broker programme: brokers, an awareness campaign and three grant stages.

    Each month while it runs: brokers are paid, clients whose network formed
    ``graduation_months`` ago graduate, stage grants fall due, brokers recruit
    clients within one hour of their town, group them into formal networks and lift
    the trust among the members of the networks they tend. Every month, running or
    not, the activities of the programme's active networks act on their members
    (published in :meth:`after_month`).
    """

    type_name = "brokers"
    config_class = BrokersConfig

    def __init__(self, config: BrokersConfig, model: ClusterModel, index: int):
        super().__init__(config, model, index)
        self.config: BrokersConfig = config
        self.brokers: list[Broker] = []
        self.network_ids: list[int] = []  # formal networks this programme built
        self.formed: dict[int, int] = {}  # network id → month it formed
        self.grant_log: list[tuple[int, int, str, float]] = []  # (month, network, stage, k€)
        self.sanctioned: set[int] = set()  # firms cut off under the norms
        self.strikes: dict[int, list[int]] = {}  # firm → months it bypassed idle co-members
        self.counts: Counter[str] = Counter()
        self.started = False
        self.campaign_on = False
        # What team formation reads, rebuilt every month (docs/developing.md, performance: O(1) per order).
        self._referrals: dict[int, list[list[int]]] = {}  # client → per phase: fellow clients
        self._coproducers: dict[int, list[list[int]]] = {}  # member → per phase: co-members
        self._idle_pool: dict[int, list[list[int]]] = {}  # member → per phase: idle co-members
        self._idle_co_members: dict[int, set[int]] = {}
        self._idle_phases: dict[int, dict[int, list[int]]] = {}  # network → phase → idle members
        self._rd_tags: set[str] = set()
        self._pool_index: dict[int, list[list[int]]] = {}
        model.hooks.add_partner_candidates(self.name, self._pool, self._pool_table)
        model.hooks.add_innovation_factor(self.name, self._innovation_boost)
        if config.norms and not model.static_mode:
            model.hooks.add_partner_weight(self.name, self._idle_weight)

    def step(self) -> None:
        model = self.model
        month = model.steps
        if not self.started:
            self._start()
        alive = model.firms.alive
        for broker in self.brokers:
            broker.drop_departed(alive)
        self._pay_running_costs()
        for broker in self.brokers:
            self.counts["graduated"] += len(broker.graduate(month))
        self._pay_stage_grants(month)
        self._recruit(month)
        self._form_networks(month)
        self._lift_trust(month)
        self._refresh(month, running=True)

    def after_month(self) -> None:
        if not self.started:
            return
        month = self.model.steps
        for broker in self.brokers:
            broker.drop_departed(self.model.firms.alive)  # clients that exited this month
        if self.active(month):
            self._check_bypasses(month)
        elif not all(b.retired for b in self.brokers):
            for broker in self.brokers:
                broker.retire()  # the facilitator's role is temporary (003:L2931)
        # Effects published now act next month: activities of networks still active then.
        self._refresh(month + 1, running=self.active(month + 1))
