"""Challenge grants: competitive calls that fund joint projects of consortia (docs/ODD.md §7.9).

Arkansas-style: consortia of three or more firms propose joint work; the best
proposals get a grant for half the project cost, the firms pay the other half
(003:L1968-1992, L4137-4148, L4232-4235). Forced marriages between firms that do
not trust each other tend to fail (003:L3337).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from clustersim.config.policies import ChallengeGrantsConfig
from clustersim.policies import register
from clustersim.policies.base import RECIPIENT_FIRM, Policy
from clustersim.targeting import targeted

if TYPE_CHECKING:
    from clustersim.model import ClusterModel


def success_chance(trust: float, success_base: float, trust_effect: float) -> float:
    """Chance that a joint project succeeds, given its members' mean pair trust (0..1).

    ``success_base × ((1 − trust_effect) + trust_effect × trust)``: a consortium of
    strangers (trust 0) succeeds with ``success_base × (1 − trust_effect)``, one whose
    members fully trust each other with ``success_base`` (forced marriages fail, H8,
    003:L3337).
    """
    trust = min(1.0, max(0.0, trust))
    return success_base * ((1.0 - trust_effect) + trust_effect * trust)


@dataclass
class JointProject:
    """A funded joint project of a consortium: who, when, how much, and how it ended."""

    id: int
    policy: str  # the programme that funds it, e.g. "challenge_grants#0"
    members: list[int]  # the consortium at funding, lead (or broker's first pick) first
    start: int  # month funded; the first month of work
    months: int  # months of work
    grant: float  # k€ committed by the programme: (1 − match_share) × cost
    cost: float  # k€ the project costs in all; the members pay it and get the grant back
    trust: float  # mean pair trust among the members at funding
    score: float  # the call's score (0..1)
    broker_prepared: bool = False  # proposed by a broker from its clients (H8)
    running: bool = True
    months_done: int = 0
    grant_paid: float = 0.0  # k€ paid to members so far
    spent: float = 0.0  # k€ of project cost members have paid so far
    outcome: str = ""  # "succeeded" or "failed" once ended
    tasks_failed: int = 0  # emergent failure: monthly joint tasks that failed (H8)

    @property
    def unpaid(self) -> float:
        """Grant money still reserved for this project (k€)."""
        return max(0.0, self.grant - self.grant_paid) if self.running else 0.0


@dataclass(frozen=True)
class Call:
    """One call for proposals: its month, money and how many proposals it funded."""

    month: int
    budget: float  # k€ available to this call
    proposals: int
    broker_proposals: int
    funded: int
    committed: float  # k€ of grants committed


@dataclass
class _Proposal:
    members: list[int]
    broker_prepared: bool
    complementarity: float = 0.0
    knowledge: float = 0.0
    trust: float = 0.0
    score: float = 0.0


@register
class ChallengeGrantsPolicy(Policy):
    """Challenge grants: periodic calls fund the best consortia's joint projects (docs/ODD.md §7.9).

    Every ``call_every`` months while the programme runs a call opens with the money
    not yet committed spread over the calls left. Lead firms (and brokers, when a
    broker programme runs) propose consortia; the best-scored are funded until the
    call's money is spent. The grant is reserved at funding and paid monthly, so
    projects funded before the sunset run to their end after it.
    """

    type_name = "challenge_grants"
    config_class = ChallengeGrantsConfig

    def __init__(self, config: ChallengeGrantsConfig, model: ClusterModel, index: int):
        super().__init__(config, model, index)
        self.cfg = config
        self.projects: list[JointProject] = []  # every project this programme funded
        self.calls: list[Call] = []
        self._running: list[JointProject] = []

    # ----------------------------------------------------------------- money

    @property
    def reserved(self) -> float:
        """Grant money committed to running projects and not yet paid (k€)."""
        return sum(p.unpaid for p in self._running)

    @property
    def uncommitted(self) -> float:
        """Budget a call may still commit: what is left, less what running projects are owed."""
        return max(0.0, self.remaining - self.reserved)

    def calls_left(self, month: int) -> int:
        """Calls still to open from ``month`` (a call month) to the sunset, this one included."""
        end = self.start + self.duration
        return max(1, -(-(end - month) // self.cfg.call_every))

    # ----------------------------------------------------------------- the monthly work

    def step(self) -> None:
        """Open a call in call months (only called while the programme runs)."""
        month = self.model.steps
        if (month - self.start) % self.cfg.call_every == 0:
            self.open_call(month)

    def after_month(self) -> None:
        """Run every funded project for one month (also after the sunset)."""
        if not self._running:
            return
        frontier = self._frontier()
        for project in self._running:
            self._run_project_month(project, frontier)
        self._running = [p for p in self._running if p.running]

    # ----------------------------------------------------------------- calls

    def open_call(self, month: int) -> Call:
        """Collect proposals, score them and fund the best until the call's money is spent."""
        cfg, model = self.cfg, self.model
        budget = self.uncommitted / self.calls_left(month)
        f = model.firms
        n = f.n
        # Firms already in a running joint project (of any programme) join no other.
        busy = np.zeros(n, dtype=bool)
        for project in model.joint_projects:
            if project.running:
                busy[getattr(project, "members", [])] = True
        # Arkansas-style match: each member must be able to pay its whole share of the
        # match from cash at the call (003:L4232-4235).
        match_need = cfg.match_share * cfg.project_cost_per_member
        eligible = f.alive[:n] & ~busy & (f.cash[:n] >= match_need) & (f.cash[:n] > 0)
        frontier = self._frontier()
        ratio = f.knowledge[:n] / np.maximum(frontier[f.specialty[:n]], 1e-9)
        if cfg.targeting == "spread":  # firms it funded before take no part again
            eligible = targeted(model, eligible, "spread", self.supported)
        leads = targeted(model, eligible, cfg.targeting)
        proposals = self._lead_proposals(eligible, ratio, leads)
        from_brokers = self._broker_proposals(eligible, ratio)
        proposals += from_brokers
        funded: list[JointProject] = []
        committed = 0.0
        if proposals:
            self._score(proposals, ratio)
            taken = busy.copy()
            order = sorted(range(len(proposals)), key=lambda k: (-proposals[k].score, k))
            left = budget
            for k in order:
                proposal = proposals[k]
                grant = (
                    (1.0 - cfg.match_share) * cfg.project_cost_per_member * len(proposal.members)
                )
                if grant > left or taken[proposal.members].any():
                    continue
                taken[proposal.members] = True
                left -= grant
                committed += grant
                funded.append(self._fund(proposal, grant, month))
        call = Call(month, budget, len(proposals), len(from_brokers), len(funded), committed)
        self.calls.append(call)
        return call

    def _lead_proposals(self, eligible: np.ndarray, ratio: np.ndarray,
                        leads: np.ndarray) -> list[_Proposal]:
        """Lead firms (of ``leads``: the targeted ones), drawn by size × knowledge, each
        propose a consortium of eligible firms from their ties."""
        cfg, model = self.cfg, self.model
        candidates = np.flatnonzero(leads & eligible)
        if len(candidates) == 0:
            return []
        # A weighted random order without replacement (Efraimidis-Spirakis keys): bigger,
        # more knowledgeable firms are likelier to lead, as enterprising lead firms do
        # (003:L2812). Leads that cannot fill a consortium are skipped.
        weight = model.firms.employees[candidates] * np.maximum(ratio[candidates], 1e-9)
        keys = np.log(model.rng.random(len(candidates))) / weight
        leads = candidates[np.argsort(-keys, kind="stable")].tolist()
        sizes = model.rng.integers(
            cfg.min_consortium, cfg.max_consortium + 1, size=len(leads)
        ).tolist()
        partners = model.ties.partners
        proposals: list[_Proposal] = []
        for lead, size in zip(leads, sizes, strict=True):
            if len(proposals) >= cfg.proposals_per_call:
                break
            ties = [j for j in sorted(partners.get(lead, ())) if eligible[j]]
            members = self._assemble(lead, ties, size)
            if members is not None:
                proposals.append(_Proposal(members, broker_prepared=False))
        return proposals

    def _broker_proposals(self, eligible: np.ndarray, ratio: np.ndarray) -> list[_Proposal]:
        """Brokers of a running broker programme each propose one consortium of their clients.

        A broker picks the largest group of its eligible clients that share a formal
        network (trust the broker has built, H8, 003:L3825-3837), or all its eligible
        clients when no such group is big enough; the most knowledgeable leads it.
        """
        cfg, model = self.cfg, self.model
        month = model.steps
        formal = model.firms.formal_network
        proposals: list[_Proposal] = []
        for policy in model.policies:
            if getattr(policy, "type_name", "") != "brokers" or not policy.active(month):
                continue
            for broker in getattr(policy, "brokers", ()):
                clients = sorted(
                    {int(getattr(c, "idx", c)) for c in getattr(broker, "clients", ())}
                )
                clients = [c for c in clients if c < len(eligible) and eligible[c]]
                if len(clients) < cfg.min_consortium:
                    continue
                groups: dict[int, list[int]] = {}
                for c in clients:
                    net = int(formal[c])
                    if net >= 0:
                        groups.setdefault(net, []).append(c)
                best = max(sorted(groups.items()), key=lambda kv: len(kv[1]), default=(-1, []))[1]
                group = best if len(best) >= cfg.min_consortium else clients
                lead = max(group, key=lambda c: (float(ratio[c]), -c))
                size = int(model.rng.integers(cfg.min_consortium, cfg.max_consortium + 1))
                members = self._assemble(lead, [c for c in group if c != lead], size)
                if members is not None:
                    proposals.append(_Proposal(members, broker_prepared=True))
        return proposals

    def _assemble(self, lead: int, candidates: list[int], size: int) -> list[int] | None:
        """A consortium of ``lead`` and up to ``size − 1`` candidates, complementary first.

        Candidates are taken by trust in the lead; a firm whose specialty the consortium
        already has is taken only to reach ``min_consortium``. None if too few.
        """
        cfg, ties = self.cfg, self.model.ties
        specialty = self.model.firms.specialty
        if len(candidates) + 1 < cfg.min_consortium:
            return None
        ranked = sorted(candidates, key=lambda j: (-ties.get(lead, j), j))
        members = [lead]
        have = {int(specialty[lead])}
        rest = []
        for j in ranked:
            if len(members) >= size:
                break
            s = int(specialty[j])
            if s in have:
                rest.append(j)
            else:
                members.append(j)
                have.add(s)
        for j in rest:
            if len(members) >= cfg.min_consortium:
                break
            members.append(j)
        if len(members) < cfg.min_consortium:
            for j in ranked:  # fewer rest than needed: any candidate not yet taken
                if len(members) >= cfg.min_consortium:
                    break
                if j not in members:
                    members.append(j)
        return members if len(members) >= cfg.min_consortium else None

    def _score(self, proposals: list[_Proposal], ratio: np.ndarray) -> None:
        """Score on complementarity, knowledge and trust: the mean of the three percentile ranks.

        Like an evaluation panel, each criterion ranks the call's proposals against each
        other, so the three weigh equally whatever their scales.
        """
        specialty = self.model.firms.specialty
        ties = self.model.ties
        for p in proposals:
            p.complementarity = len({int(specialty[m]) for m in p.members}) / len(p.members)
            p.knowledge = float(np.mean(ratio[p.members]))
            p.trust = ties.mean_pair_trust(p.members)
        count = len(proposals)
        ranks = [  # ties share their mean rank (pandas, imported already; scipy.stats is slow to import)
            pd.Series([getattr(p, name) for p in proposals]).rank(method="average").to_numpy() / count
            for name in ("complementarity", "knowledge", "trust")
        ]
        for k, p in enumerate(proposals):
            p.score = float((ranks[0][k] + ranks[1][k] + ranks[2][k]) / 3.0)

    def _fund(self, proposal: _Proposal, grant: float, month: int) -> JointProject:
        cfg, model = self.cfg, self.model
        project = JointProject(
            id=len(model.joint_projects),
            policy=self.name,
            members=list(proposal.members),
            start=month,
            months=cfg.project_months,
            grant=grant,
            cost=cfg.project_cost_per_member * len(proposal.members),
            trust=proposal.trust,
            score=proposal.score,
            broker_prepared=proposal.broker_prepared,
        )
        model.joint_projects.append(project)
        self.projects.append(project)
        self.supported.update(project.members)
        self._running.append(project)
        model.month["joint_projects_started"] += 1
        return project

    # ----------------------------------------------------------------- running projects

    def _frontier(self) -> np.ndarray:
        """The novelty requirement each phase's firms catch up to (the knowledge frontier)."""
        return self.model.market.phase_frontier()

    def _run_project_month(self, project: JointProject, frontier: np.ndarray) -> None:
        """Members pay the month's cost, get their grant share back and learn; the last month ends it."""
        cfg, model = self.cfg, self.model
        f = model.firms
        members = [m for m in project.members if f.alive[m]]
        if len(members) < 2:
            self._end(project, members, succeeded=False)
            return
        cost = cfg.project_cost_per_member / cfg.project_months  # k€ per member-month
        grant = (1.0 - cfg.match_share) * cost
        gain = cfg.knowledge_gain
        if model.university is not None:
            gain *= 1.0 + model.university.effect  # a research partner (docs/ODD.md §2)
        for m in members:
            f.cash[m] -= cost  # the whole monthly cost; the grant share comes back below
            model.ledger["project_spend"] += cost
            project.spent += cost
            project.grant_paid += self.pay(
                min(grant, project.unpaid), RECIPIENT_FIRM, m, "joint project"
            )
            f.knowledge[m] += gain * frontier[f.specialty[m]]
        project.months_done += 1
        if cfg.project_failure == "emergent":
            self._joint_task(project, members)
        if project.months_done >= project.months:
            succeeded = model.random.random() < self.success_chance(project)
            self._end(project, members, succeeded)

    def _joint_task(self, project: JointProject, members: list[int]) -> None:
        """A month of joint work that fails by the production rule from the trust the members
        hold now (docs/ODD.md §7.3), and builds trust when it goes well or erodes it when it
        does not, as teams' work does (§7.5): trust is built in stages (003:L3334-3339)."""
        model = self.model
        f, prod = model.firms, model.scenario.production
        lead = members[0]
        hours = max(math.hypot(f.x[m] - f.x[lead], f.y[m] - f.y[lead]) for m in members)
        hours /= model.region.speed_kmh
        chance = min(1.0, prod.failure_base
                     + prod.failure_trust_effect * (1.0 - model.ties.mean_pair_trust(members))
                     + prod.failure_distance_effect * hours)
        if model.random.random() < chance:
            project.tasks_failed += 1
            model.ties.weaken(members, 1.0 - prod.failure_trust_loss)
        else:
            model.ties.reinforce(members, [float(f.cooperativeness[m]) for m in members])

    def success_chance(self, project: JointProject) -> float:
        """Chance that ``project`` succeeds (H8): from its members' trust at funding, or, with
        emergent failure, success_base × the share of its monthly tasks done well."""
        cfg = self.cfg
        if cfg.project_failure == "emergent":
            done = max(project.months_done, 1)
            return cfg.success_base * (1.0 - project.tasks_failed / done)
        return success_chance(project.trust, cfg.success_base, cfg.trust_effect)

    def _end(self, project: JointProject, members: list[int], succeeded: bool) -> None:
        """Close a project: success innovates and builds trust, failure erodes it."""
        model = self.model
        f = model.firms
        project.running = False
        project.outcome = "succeeded" if succeeded else "failed"
        if succeeded:
            model.month["joint_projects_succeeded"] += 1
            model.month["innovations"] += 1
            frontier = self._frontier()
            for m in members:
                f.knowledge[m] += self.cfg.success_lift * frontier[f.specialty[m]]
                f.innovations[m] += 1
                f.last_innovation[m] = model.steps
            model.ties.reinforce(members, [float(f.cooperativeness[m]) for m in members])
        elif len(members) >= 2:
            model.ties.weaken(members, 1.0 - model.scenario.production.failure_trust_loss)
