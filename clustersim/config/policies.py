"""The ``[[policies]]`` tables of a scenario: one config class per instrument (docs/ODD.md §7.8-7.11).

Pure schema (pydantic only), so a scenario loads without Mesa or the model; the
behaviour of each instrument lives in :mod:`clustersim.policies`. Adding an
instrument adds its config class here and one line to ``POLICY_CONFIGS``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

# A programme's budget is stated per this many firms, so that shrinking a region for a quick
# study keeps the money per firm (docs/ODD.md §7.8).
BUDGET_PER_FIRMS = 1000.0


class PolicyConfig(BaseModel):
    """Fields every ``[[policies]]`` table has; instruments add their own."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    type: str
    start: int = Field(24, ge=1, le=2400,
                       description="month the programme starts (1 = the first simulated month)")
    duration: int = Field(36, ge=1, le=2400, description="months it runs before its sunset")
    budget: float = Field(5000.0, ge=0, le=1e9, allow_inf_nan=False,
                          description="k€ the programme may spend in all, per 1,000 firms of the "
                          "region (firms.count): a region of 200 firms gets a fifth of it")

    def total_budget(self, firms: int) -> float:
        """What the programme may spend in all in a region of ``firms`` firms at the start (k€)."""
        return self.budget * firms / BUDGET_PER_FIRMS


TARGETING_DESCRIPTION = ("whom the programme may support: open (its own rules alone), central "
                         "or peripheral (top or bottom quarter of firms by ties), small_firms "
                         "(under 10 employees), spread (firms it has not supported before); "
                         "docs/ODD.md §7.8")
Targeting = Literal["open", "central", "peripheral", "small_firms", "spread"]


class ChallengeGrantsConfig(PolicyConfig):
    """Periodic calls for joint projects, scored on complementarity, knowledge and trust."""

    type: Literal["challenge_grants"] = "challenge_grants"
    targeting: Targeting = Field("open", description=TARGETING_DESCRIPTION + " (who may lead a "
                                 "proposal; with spread, who may be in a funded consortium)")
    call_every: int = Field(6, ge=1, le=120, description="months between calls")
    proposals_per_call: int = Field(
        30, ge=1, le=100_000, description="lead firms that put a consortium forward per call"
    )
    min_consortium: int = Field(3, ge=3, le=100, description="firms in a consortium (at least 3)")
    max_consortium: int = Field(6, ge=3, le=100)
    project_cost_per_member: float = Field(
        40.0, ge=0.01, le=1e6, allow_inf_nan=False, description="k€ a project costs per member, in all"
    )
    match_share: float = Field(
        0.5,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="share of the cost the firms pay (Arkansas: 50%)",
    )
    project_months: int = Field(12, ge=1, le=120)
    project_failure: Literal["trust_parameter", "emergent"] = Field(
        "trust_parameter",
        description="trust_parameter: success chance = success_base × ((1 − trust_effect) + "
        "trust_effect × trust at funding); emergent: members do a joint task every month, which "
        "fails by the production rule from the trust they hold then, and builds or erodes it; "
        "success chance = success_base × the share of tasks done well (H8, docs/ODD.md §7.9)")
    success_base: float = Field(
        0.8,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="success chance of a consortium whose members fully trust each other",
    )
    trust_effect: float = Field(
        0.6,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="how much of the success chance depends on trust (H8)",
    )
    knowledge_gain: float = Field(
        0.01,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly knowledge gain of members, × the frontier",
    )
    success_lift: float = Field(
        0.1,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="knowledge added to members by a successful project, × the frontier",
    )

    @model_validator(mode="after")
    def _sizes(self) -> ChallengeGrantsConfig:
        if self.max_consortium < self.min_consortium:
            raise ValueError(
                f"max_consortium ({self.max_consortium}) must be ≥ min_consortium "
                f"({self.min_consortium})"
            )
        return self


# --------------------------------------------------------------------------- the programme


SERVICES = (
    "training",
    "market_intelligence",
    "capability_database",
    "shared_equipment",
    "export_promotion",
    "technology_transfer",
)
Service = Literal[
    "training", "market_intelligence", "capability_database", "shared_equipment",
    "export_promotion", "technology_transfer",
]
# What hubs offer unless a scenario says otherwise: every service but technology transfer,
# which a scenario switches on (docs/ODD.md §7.11).
DEFAULT_SERVICES = SERVICES[:5]


class HubsConfig(PolicyConfig):
    """Service centres at town centres with switchable services."""

    type: Literal["hubs"] = "hubs"
    count: int = Field(1, ge=1, le=100, description="hubs, placed at the largest towns")
    services: list[Service] = Field(
        default_factory=lambda: list(DEFAULT_SERVICES),
        description="services the hubs offer (default: all but technology_transfer)",
    )
    seed_money: float = Field(
        30.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="k€ of public money per hub per month while the programme runs",
    )
    fee: float = Field(
        0.4, ge=0, le=1e4, allow_inf_nan=False, description="k€ per member per month"
    )
    # 0.1 (not 0.5): with all five services a member costs 0.5 k€ a month against a 0.4 k€
    # fee, so fees carry the bulk of a hub's costs (≈70% at ~150 members) without ever
    # covering them (F8, 003:L1402-1405, L2669). At 0.5 fees covered only ~15%.
    cost_per_member: float = Field(
        0.1,
        ge=0,
        le=1e4,
        allow_inf_nan=False,
        description="k€ per member per month that each service costs to deliver",
    )
    fixed_cost: float = Field(
        10.0, ge=0, le=1e6, allow_inf_nan=False,
        description="k€ per month of running the programme's hubs per 1,000 firms in the "
        "region, shared equally by the hubs (so a scaled-down region has cheaper hubs, as "
        "budgets are per 1,000 firms)",
    )
    reach_hours: float = Field(
        1.0,
        ge=0.01,
        le=24,
        allow_inf_nan=False,
        description="firms within this travel time of a hub may join",
    )
    # 0.005 (not 0.03): at 0.03 membership of a 1,000-firm cluster passed 50% within four
    # years; at 0.005 it settles near 20% (F7: 15 active of 98, 003:L4173-4176).
    join_rate: float = Field(
        0.005,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly chance scale of joining when the expected benefit "
        "exceeds the fee (inertia, against F7's thin participation)",
    )
    leave_rate: float = Field(
        0.15,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly chance that a member who has not used a service leaves",
    )
    training_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly capability gain of trained members, × (1 − capability)",
    )
    intelligence_visibility: float = Field(0.2, ge=0, le=10, allow_inf_nan=False)
    early_notice: float = Field(
        0.0,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="market intelligence: chance that a domestic order is first offered to "
        "a member before the market hears of it (0 = off; docs/ODD.md §7.11)",
    )
    equipment_saving: float = Field(
        0.03,
        ge=0,
        le=0.5,
        allow_inf_nan=False,
        description="share of fixed costs shared equipment saves",
    )
    equipment_quality: float = Field(
        0.03,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="quality added to teams' bids by shared equipment",
    )
    def fixed_cost_per_hub(self, firms: int) -> float:
        """Each hub's fixed cost a month: ``fixed_cost`` per 1,000 firms, shared by the hubs."""
        return self.fixed_cost * firms / BUDGET_PER_FIRMS / self.count

    export_visibility: float = Field(0.2, ge=0, le=10, allow_inf_nan=False)
    transfer_rate: float = Field(
        0.02,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="technology transfer: monthly share of a member's gap to its phase's "
        "knowledge frontier the hub closes, × service level (× (1 + university effect))",
    )
    database_reach: int = Field(
        4,
        ge=0,
        le=1000,
        description="co-members a capability-database search adds to a partner pool",
    )
    meetings: float = Field(
        0.05,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly chance a member meets another member (weak tie)",
    )


class BrokersConfig(PolicyConfig):
    """Danish-style network brokers (003:L1642-1805, L2915-2950, L3357-3415)."""

    type: Literal["brokers"] = "brokers"
    targeting: Targeting = Field("open", description=TARGETING_DESCRIPTION + " (who is recruited)")
    brokers_per_1000: float = Field(
        5.5,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="brokers per 1,000 firms; Denmark: 40 for 7,300 (F3)",
    )
    caseload: int = Field(25, ge=1, le=500, description="most client firms a broker holds at once")
    quality: Literal["trained", "untrained"] = Field(
        "trained", description="trained full-time facilitators or part-time officials (003:L3412)"
    )
    awareness: bool = Field(True, description="national awareness campaign (003:L1655)")
    campaign_cost: float = Field(
        15.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="k€ per month the campaign costs while it runs",
    )
    recruitment: float = Field(
        0.15,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly chance scale: cooperativeness × (threat + awareness)",
    )
    salary: float = Field(8.0, ge=0, le=1e4, allow_inf_nan=False, description="k€ per broker-month")
    min_size: int = Field(3, ge=3, le=100, description="firms in a formal network (003:L1668)")
    max_size: int = Field(8, ge=3, le=100)
    min_activities: int = Field(
        2, ge=2, le=4, description="joint activities per network (003:L1668)"
    )
    graduation_months: int = Field(
        6,
        ge=1,
        le=120,
        description="clients leave the caseload this long after their network forms",
    )
    trust_lift: float = Field(
        0.04,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="monthly trust gain among a network's members while its broker tends it "
        "(halved for untrained brokers)",
    )
    grant_feasibility: float = Field(
        10.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="k€ per network when it forms (stage 1)",
    )
    grant_planning: float = Field(
        30.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="k€ per network still active after 3 months (stage 2)",
    )
    grant_implementation: float = Field(
        90.0,
        ge=0,
        le=1e6,
        allow_inf_nan=False,
        description="k€ per network still active after 9 months (stage 3)",
    )
    joint_marketing_visibility: float = Field(
        0.3,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="members see this much more of the market",
    )
    front_office_saving: float = Field(
        0.03,
        ge=0,
        le=0.5,
        allow_inf_nan=False,
        description="share of members' fixed costs a shared front office saves",
    )
    joint_rd_innovation: float = Field(
        0.5,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="extra innovation chance of teams with two or more members",
    )
    norms: bool = Field(
        False,
        description="impannatore rules: sanction price-cutters, pass excess "
        "work to members that missed (003:L1497-1512)",
    )
    awareness_lift: float = Field(
        0.5,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="added to a firm's perceived threat in the recruitment "
        "chance while the awareness campaign runs",
    )
    scouting_visibility: float = Field(
        0.2,
        ge=0,
        le=10,
        allow_inf_nan=False,
        description="members of networks a broker tends see this much "
        "more of the market (brokers scout orders, 003:L2931)",
    )
    norms_idle_weight: float = Field(
        5.0,
        ge=1,
        le=1000,
        allow_inf_nan=False,
        description="with norms: partner-choice weight × this for co-members "
        "that had little work (utilisation below demography.idle_threshold)",
    )
    norms_pass_to: Literal["idle", "failed_innovation", "both"] = Field(
        "idle",
        description="with norms: the members winners pass work to: idle ones (utilisation "
        "below demography.idle_threshold), those whose product missed the trend (an order they "
        "led lost to the world's producers in the last 12 months, 003:L1500-1512), or both",
    )
    norms_strikes: int = Field(
        3,
        ge=1,
        le=100,
        description="with norms: a member that bypasses idle co-members this many "
        "times within 12 months is cut off from its network",
    )

    @model_validator(mode="after")
    def _sizes(self) -> BrokersConfig:
        if self.max_size < self.min_size:
            raise ValueError(f"max_size ({self.max_size}) must be ≥ min_size ({self.min_size})")
        return self


# One line per instrument: the scenario schema's union of ``[[policies]]`` tables.
POLICY_CONFIGS = (
    BrokersConfig,
    ChallengeGrantsConfig,
    HubsConfig,
)
PolicyConfigUnion = Annotated[Union[POLICY_CONFIGS], Field(discriminator="type")]  # noqa: UP007
POLICY_TYPES = tuple(config.model_fields["type"].default for config in POLICY_CONFIGS)
