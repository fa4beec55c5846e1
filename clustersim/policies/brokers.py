"""Danish-style network brokers: facilitators who build formal networks (MODEL.md §2, §5).

Denmark 1989-1992: an awareness campaign, 40 trained brokers for 7,300 small
manufacturers, three stages of grants, networks of three or more firms doing two or
more joint activities, a sunset after three years (003:L1642-1805, L3792-3938).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from clustersim.policies.base import PolicyConfig


class BrokersConfig(PolicyConfig):
    """Danish-style network brokers (003:L1642-1805, L2915-2950, L3357-3415)."""

    type: Literal["brokers"] = "brokers"
    brokers_per_1000: float = Field(5.5, ge=0, le=100, allow_inf_nan=False,
                                    description="brokers per 1,000 firms; Denmark: 40 for 7,300 (F3)")
    caseload: int = Field(25, ge=1, le=500, description="most client firms a broker holds at once")
    quality: Literal["trained", "untrained"] = Field(
        "trained", description="trained full-time facilitators or part-time officials (003:L3412)")
    awareness: bool = Field(True, description="national awareness campaign (003:L1655)")
    campaign_cost: float = Field(15.0, ge=0, le=1e6, allow_inf_nan=False,
                                 description="k€ per month the campaign costs while it runs")
    recruitment: float = Field(0.15, ge=0, le=1, allow_inf_nan=False,
                               description="monthly chance scale: cooperativeness × (threat + awareness)")
    salary: float = Field(8.0, ge=0, le=1e4, allow_inf_nan=False, description="k€ per broker-month")
    min_size: int = Field(3, ge=3, le=100, description="firms in a formal network (003:L1668)")
    max_size: int = Field(8, ge=3, le=100)
    min_activities: int = Field(2, ge=2, le=4, description="joint activities per network (003:L1668)")
    graduation_months: int = Field(6, ge=1, le=120,
                                   description="clients leave the caseload this long after their network forms")
    trust_lift: float = Field(0.04, ge=0, le=1, allow_inf_nan=False,
                              description="monthly trust gain among a network's members while its broker tends it "
                              "(halved for untrained brokers)")
    grant_feasibility: float = Field(10.0, ge=0, le=1e6, allow_inf_nan=False,
                                     description="k€ per network when it forms (stage 1)")
    grant_planning: float = Field(30.0, ge=0, le=1e6, allow_inf_nan=False,
                                  description="k€ per network still active after 3 months (stage 2)")
    grant_implementation: float = Field(90.0, ge=0, le=1e6, allow_inf_nan=False,
                                        description="k€ per network still active after 9 months (stage 3)")
    joint_marketing_visibility: float = Field(0.3, ge=0, le=10, allow_inf_nan=False,
                                              description="members see this much more of the market")
    front_office_saving: float = Field(0.03, ge=0, le=0.5, allow_inf_nan=False,
                                       description="share of members' fixed costs a shared front office saves")
    joint_rd_innovation: float = Field(0.5, ge=0, le=10, allow_inf_nan=False,
                                       description="extra innovation chance of teams with two or more members")
    norms: bool = Field(False, description="impannatore rules: sanction price-cutters, pass excess "
                                           "work to members that missed (003:L1497-1512)")

    @model_validator(mode="after")
    def _sizes(self) -> BrokersConfig:
        if self.max_size < self.min_size:
            raise ValueError(f"max_size ({self.max_size}) must be ≥ min_size ({self.min_size})")
        return self
