"""Challenge grants: competitive calls that fund joint projects of consortia (MODEL.md §5).

Arkansas-style: consortia of three or more firms propose joint work; the best
proposals get a grant for half the project cost, the firms pay the other half
(003:L1968-1992, L4137-4148, L4232-4235). Forced marriages between firms that do
not trust each other tend to fail (003:L3337).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from clustersim.policies.base import PolicyConfig


class ChallengeGrantsConfig(PolicyConfig):
    """Periodic calls for joint projects, scored on complementarity, knowledge and trust."""

    type: Literal["challenge_grants"] = "challenge_grants"
    call_every: int = Field(6, ge=1, le=120, description="months between calls")
    proposals_per_call: int = Field(30, ge=1, le=100_000,
                                    description="lead firms that put a consortium forward per call")
    min_consortium: int = Field(3, ge=3, le=100, description="firms in a consortium (at least 3)")
    max_consortium: int = Field(6, ge=3, le=100)
    project_cost_per_member: float = Field(
        40.0, gt=0, le=1e6, allow_inf_nan=False, description="k€ a project costs per member, in all")
    match_share: float = Field(0.5, ge=0, le=1, allow_inf_nan=False,
                               description="share of the cost the firms pay (Arkansas: 50%)")
    project_months: int = Field(12, ge=1, le=120)
    success_base: float = Field(0.8, ge=0, le=1, allow_inf_nan=False,
                                description="success chance of a consortium whose members fully trust each other")
    trust_effect: float = Field(0.6, ge=0, le=1, allow_inf_nan=False,
                                description="how much of the success chance depends on trust (H8)")
    knowledge_gain: float = Field(0.01, ge=0, le=1, allow_inf_nan=False,
                                  description="monthly knowledge gain of members, × the frontier")
    success_lift: float = Field(0.1, ge=0, le=1, allow_inf_nan=False,
                                description="knowledge added to members by a successful project, × the frontier")

    @model_validator(mode="after")
    def _sizes(self) -> ChallengeGrantsConfig:
        if self.max_consortium < self.min_consortium:
            raise ValueError(f"max_consortium ({self.max_consortium}) must be ≥ min_consortium "
                             f"({self.min_consortium})")
        return self
