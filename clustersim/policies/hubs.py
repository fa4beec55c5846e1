"""Factor-creating service hubs: public seed money for sector service centres (MODEL.md §2, §5).

ERVET's centres in Emilia-Romagna (CITER, RESFOR, SVEX) and Denmark's DATCH: firms
pay fees for services, public money seeds the centre, and few ever become
self-funding (003:L1397-1461, L2669, L2965-3005; F8). "Production networks can arise
organically if hubs are in place and widely used" (003:L326, H3).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clustersim.policies.base import PolicyConfig

SERVICES = ("training", "market_intelligence", "capability_database", "shared_equipment",
            "export_promotion")
Service = Literal["training", "market_intelligence", "capability_database", "shared_equipment",
                  "export_promotion"]


class HubsConfig(PolicyConfig):
    """Service centres at town centres with switchable services."""

    type: Literal["hubs"] = "hubs"
    count: int = Field(1, ge=1, le=100, description="hubs, placed at the largest towns")
    services: list[Service] = Field(default_factory=lambda: list(SERVICES),
                                    description="services the hubs offer")
    seed_money: float = Field(30.0, ge=0, le=1e6, allow_inf_nan=False,
                              description="k€ of public money per hub per month while the programme runs")
    fee: float = Field(0.4, ge=0, le=1e4, allow_inf_nan=False, description="k€ per member per month")
    cost_per_member: float = Field(0.5, ge=0, le=1e4, allow_inf_nan=False,
                                   description="k€ per member per month that each service costs to deliver")
    fixed_cost: float = Field(10.0, ge=0, le=1e6, allow_inf_nan=False,
                              description="k€ per hub per month")
    reach_hours: float = Field(1.0, gt=0, le=24, allow_inf_nan=False,
                               description="firms within this travel time of a hub may join")
    join_rate: float = Field(0.03, ge=0, le=1, allow_inf_nan=False,
                             description="monthly chance scale of joining when the expected benefit "
                             "exceeds the fee (inertia, against F7's thin participation)")
    leave_rate: float = Field(0.15, ge=0, le=1, allow_inf_nan=False,
                              description="monthly chance that a member who has not used a service leaves")
    training_rate: float = Field(0.01, ge=0, le=1, allow_inf_nan=False,
                                 description="monthly capability gain of trained members, × (1 − capability)")
    intelligence_visibility: float = Field(0.2, ge=0, le=10, allow_inf_nan=False)
    equipment_saving: float = Field(0.03, ge=0, le=0.5, allow_inf_nan=False,
                                    description="share of fixed costs shared equipment saves")
    equipment_quality: float = Field(0.03, ge=0, le=1, allow_inf_nan=False,
                                     description="quality added to teams' bids by shared equipment")
    export_visibility: float = Field(0.2, ge=0, le=10, allow_inf_nan=False)
    database_reach: int = Field(4, ge=0, le=1000,
                                description="co-members a capability-database search adds to a partner pool")
    meetings: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                            description="monthly chance a member meets another member (weak tie)")
