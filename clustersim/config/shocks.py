"""The ``[[shocks]]`` tables of a scenario: one config class per shock type (docs/ODD.md §7.12).

Pure schema (pydantic only), so a scenario loads without Mesa or the model; the
behaviour of each type lives in :mod:`clustersim.shocks`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field


class ShockConfig(BaseModel):
    """Fields every ``[[shocks]]`` table has."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    type: str
    start: int = Field(36, ge=0, le=2400, description="month the shock hits")
    duration: int = Field(12, ge=1, le=2400, description="months it lasts")
    magnitude: float = Field(0.5, ge=0, le=1, allow_inf_nan=False)


class DemandDropConfig(ShockConfig):
    """Segment demand × (1 − magnitude) for the duration, then recovers (Covid, 002:L85)."""

    type: Literal["demand_drop"] = "demand_drop"
    segments: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="segments hit; all when not given")


class NewSegmentConfig(ShockConfig):
    """A new segment appears with phases partly adjacent to existing ones (PPE, 002:L113, L151)."""

    type: Literal["new_segment"] = "new_segment"
    magnitude: float = Field(0.3, gt=0, le=5, allow_inf_nan=False,
                             description="the new segment's demand as a share of all base demand")
    phases: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, min_length=1,
        description="phases it needs; two existing phases plus one adjacent when not given")
    reconversion_rate: float = Field(
        0.05, ge=0, le=0.5, allow_inf_nan=False,
        description="capability a firm with related skills (0.3 up to the cover threshold) "
        "and spare capacity gains each month in a phase the new segment needs")


class NicheShiftConfig(ShockConfig):
    """A segment's required phases change for the duration (fashion trend, 003:L1495-1533)."""

    type: Literal["niche_shift"] = "niche_shift"
    segments: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="segments whose phases change; one drawn at random when not given")


class LowCostCompetitionConfig(ShockConfig):
    """The world benchmark jumps and prices fall in commodity segments (001:L3327-3340)."""

    type: Literal["low_cost_competition"] = "low_cost_competition"
    duration: int = Field(120, ge=1, le=2400)
    magnitude: float = Field(0.15, ge=0, le=2, allow_inf_nan=False,
                             description="jump of the world benchmark (quality units)")
    price_drop: float = Field(0.15, ge=0, le=0.9, allow_inf_nan=False,
                              description="share by which prices fall in the segments hit")
    segments: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="segments hit; the commodity segments when not given")


class SupplyDisruptionConfig(ShockConfig):
    """A share of firms (or one town) produces nothing for the duration (002:L85; 000:L21)."""

    type: Literal["supply_disruption"] = "supply_disruption"
    duration: int = Field(3, ge=1, le=2400)
    magnitude: float = Field(0.2, ge=0, le=1, allow_inf_nan=False,
                             description="share of firms hit (ignored when a town is given)")
    town: int | None = Field(None, ge=0, description="hit every firm of this town instead")
    target: Literal["random", "largest_customer"] = Field(
        "random",
        description="random: a share of firms (or a town); largest_customer: the one firm that "
        "paid its partners most over the last 12 months, the 'kingdom' customer others depend "
        "on (H6, docs/ODD.md §7.13)")


class TechnologyShiftConfig(ShockConfig):
    """A segment needs a new phase and knowledge depreciates (embedded electronics, 003:L1680-1710)."""

    type: Literal["technology_shift"] = "technology_shift"
    duration: int = Field(120, ge=1, le=2400)
    magnitude: float = Field(0.3, ge=0, le=1, allow_inf_nan=False,
                             description="share of firms' knowledge that becomes obsolete")
    segments: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="segments that need the new phase; one drawn at random when not given")
    phase: int | None = Field(None, ge=0, description="the phase they newly need; drawn when not given")


SHOCK_CONFIGS = (DemandDropConfig, NewSegmentConfig, NicheShiftConfig, LowCostCompetitionConfig,
                 SupplyDisruptionConfig, TechnologyShiftConfig)
ShockConfigUnion = Annotated[Union[SHOCK_CONFIGS], Field(discriminator="type")]  # noqa: UP007
SHOCK_TYPES = tuple(config.model_fields["type"].default for config in SHOCK_CONFIGS)
