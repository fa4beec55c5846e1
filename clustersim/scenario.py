"""Scenario schema, TOML loading and clear errors.

A scenario is one TOML file validated by the pydantic models below. Every model
parameter has its default here and nowhere else (docs/developing.md: one place for each
thing). Money is in thousands of euros (k€), time in months, distance in km.

Errors are raised as :class:`ScenarioError`, whose message names the file, the
dotted key, the value and what is allowed, so the CLI can print it as it is.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from clustersim.config.policies import POLICY_CONFIGS, PolicyConfigUnion
from clustersim.config.shocks import SHOCK_CONFIGS, ShockConfigUnion

SCENARIO_SUFFIX = ".toml"


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used; the message says why."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        super().__init__(message)
        self.source = source
        self.key = key


# --------------------------------------------------------------------------- schema

Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
# Travel times: at least about half a minute, so that distances divide by them safely.
Hours = Annotated[float, Field(ge=0.01, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class _Section(BaseModel):
    """Base for every table: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class FirmsConfig(_Section):
    """The initial population of small firms (SMEs)."""

    count: int = Field(1000, ge=3, le=200_000, description="initial number of firms")
    phases: int = Field(6, ge=2, le=12, description="production phases K in the value chain")
    specialty_weights: Literal["demand", "uniform"] = Field(
        "demand",
        description="how specialties are drawn: in proportion to the work each phase is "
        "demanded for, or uniformly",
    )
    employees_median: float = Field(10.0, gt=0, le=200, allow_inf_nan=False)
    employees_sigma: float = Field(0.8, ge=0, le=2.0, allow_inf_nan=False)
    initial_sizes: Literal["lognormal", "equal"] = Field(
        "lognormal",
        description="initial employees: lognormal(median, sigma), or every firm at the median "
        "(to see whether the size distribution emerges, F1)")
    max_employees: float = Field(249.0, gt=1, le=249.0, allow_inf_nan=False,
                                 description="SMEs stay below 250 employees (F1)")
    secondary_capability_chance: Fraction = 0.5
    knowledge_sigma: float = Field(0.2, ge=0, le=1.0, allow_inf_nan=False)
    initial_cash_months: float = Field(4.0, ge=0, le=36, allow_inf_nan=False,
                                       description="starting cash, in months of fixed costs")
    dependence_cap: float | None = Field(
        None, gt=0, le=1, allow_inf_nan=False,
        description="most of its output a firm takes from one lead over 12 months; it declines "
        "team places beyond it (F6, H6; docs/ODD.md §7.13). None: no cap")


class RegionConfig(_Section):
    """Where firms are and how far apart (km); cooperativeness is a regional trait."""

    layout: Literal["clustered", "dispersed"] = "clustered"
    towns: int | None = Field(None, ge=1, le=200,
                              description="number of towns; default 4 clustered, 12 dispersed")
    size_km: float | None = Field(None, ge=1, le=5000, allow_inf_nan=False,
                                  description="side of the square region; default 80 clustered, 600 dispersed")
    town_spread_km: float | None = Field(None, ge=0.01, le=1000, allow_inf_nan=False,
                                         description="spread of firms around a town; default 6 clustered, 45 dispersed")
    speed_kmh: float = Field(60.0, ge=1, le=300, allow_inf_nan=False)
    search_radius_hours: Hours = Field(
        1.0, le=24, description="random partner search reaches this far (one-hour rule, 003:L3321)")
    cooperativeness: Fraction = Field(0.6, description="regional mean willingness to cooperate")
    cooperativeness_sd: float = Field(0.1, ge=0, le=0.5, allow_inf_nan=False)
    initial_ties_per_firm: float = Field(4.0, ge=0, le=50, allow_inf_nan=False,
                                         description="acquaintances within one hour at month 0")
    # Two cooperation types (docs/ODD.md §7.14): off (None) keeps the one normal draw above.
    habitual_cooperators: Fraction | None = Field(
        None, description="share of firms that cooperate out of habit (003:L394-398, L3257); "
        "the rest are opportunists. None: one normal draw around `cooperativeness` for all")
    habitual_cooperativeness: Fraction = Field(
        0.8, description="mean cooperativeness of habitual cooperators (sd cooperativeness_sd)")
    opportunist_cooperativeness: Fraction = Field(
        0.4, description="mean cooperativeness of opportunists (sd cooperativeness_sd)")
    search_willingness: Fraction | None = Field(
        None, description="regional mean chance that a lead looks for strangers, drawn apart "
        "from cooperativeness (sd cooperativeness_sd); None: search willingness = cooperativeness")

    def resolved(self) -> dict[str, float]:
        """Town count, region size and spread with the layout's defaults filled in."""
        defaults = LAYOUT_DEFAULTS[self.layout]
        return {
            "towns": self.towns if self.towns is not None else defaults["towns"],
            "size_km": self.size_km if self.size_km is not None else defaults["size_km"],
            "town_spread_km": (self.town_spread_km if self.town_spread_km is not None
                               else defaults["town_spread_km"]),
        }


LAYOUT_DEFAULTS: dict[str, dict[str, float]] = {
    # Emilia-Romagna, Prato: a few dense industrial towns within an hour of each other.
    "clustered": {"towns": 4, "size_km": 80.0, "town_spread_km": 6.0},
    # Alberta 1993: firms scattered over a large province (003:L3329).
    "dispersed": {"towns": 12, "size_km": 600.0, "town_spread_km": 45.0},
}


class MarketConfig(_Section):
    """Segments, demand, orders, and the world's competing producers."""

    segments: int = Field(8, ge=1, le=50)
    max_phases_per_segment: int = Field(4, ge=1, le=12)
    volatility: float = Field(0.15, ge=0, le=1.0, allow_inf_nan=False,
                              description="monthly step size of each segment's log demand")
    mean_reversion: float = Field(0.1, ge=0.01, le=1.0, allow_inf_nan=False)
    target_utilisation: float = Field(0.78, ge=0.01, le=1.5, allow_inf_nan=False)
    expected_win_share: float = Field(0.6, ge=0.01, le=1.0, allow_inf_nan=False)
    demand_scale: float = Field(1.0, ge=0.01, le=10, allow_inf_nan=False)
    work_median: float = Field(4.5, gt=0, le=100, allow_inf_nan=False,
                               description="employee-months of work per phase, median")
    work_sigma: float = Field(0.7, ge=0, le=2, allow_inf_nan=False)
    max_duration: int = Field(3, ge=1, le=12, description="orders last 1..max_duration months")
    price: float = Field(7.0, ge=0.01, le=100, allow_inf_nan=False,
                         description="k€ paid per employee-month of work")
    commodity_share: Fraction = Field(0.25, description="share of segments that are commodities")
    commodity_price_factor: float = Field(0.85, ge=0.01, le=2, allow_inf_nan=False)
    novelty_growth: float = Field(0.004, ge=0, le=0.1, allow_inf_nan=False,
                                  description="monthly growth of novelty requirements")
    commodity_novelty_growth: float = Field(0.001, ge=0, le=0.1, allow_inf_nan=False)
    world_benchmark: float = Field(0.65, ge=-5, le=5, allow_inf_nan=False)
    world_benchmark_growth: float = Field(0.001, ge=-0.1, le=0.1, allow_inf_nan=False)
    win_steepness: float = Field(6.0, ge=0.01, le=100, allow_inf_nan=False)
    knowledge_weight: float = Field(0.5, ge=0, le=10, allow_inf_nan=False)
    export_share: float = Field(
        0.0, ge=0, le=5, allow_inf_nan=False,
        description="export market (docs/ODD.md §7.15): orders from outside the region, as a "
        "share of the segments' demand, on top of it; only firms with export access lead them. "
        "0: no export market")
    export_premium: float = Field(1.2, ge=0.1, le=5, allow_inf_nan=False,
                                  description="export orders pay this × the segment's price")
    export_min_employees: float = Field(
        50.0, ge=1, le=250, allow_inf_nan=False,
        description="firms this large reach export markets on their own; smaller ones through a "
        "hub's export promotion or a formal network's joint marketing")


class TeamsConfig(_Section):
    """How a lead firm staffs an order: the production network forms here."""

    random_search: int = Field(3, ge=0, le=100,
                               description="strangers within reach a lead looks at per phase")
    trust_base: float = Field(0.15, ge=0, le=10, allow_inf_nan=False,
                              description="weight of a stranger relative to trust in partner choice")
    proximity_hours: Hours = Field(1.0, le=24, description="distance decay of partner choice")
    lead_visibility_exponent: float = Field(0.5, ge=0, le=3, allow_inf_nan=False)
    bids: int = Field(3, ge=1, le=20,
                      description="lead firms (or fixed networks) an order is offered to in turn "
                      "until one can staff it: customers shop around")
    lead_premium: Fraction = Field(0.05, description="share of order value the lead firm keeps")
    split_phases: bool = True
    static_min_size: int = Field(3, ge=3, le=50)
    static_max_size: int = Field(13, ge=3, le=100)
    static_members_per_phase: int = Field(2, ge=1, le=10)
    static_initial_trust: Fraction = 0.5

    @model_validator(mode="after")
    def _sizes(self) -> TeamsConfig:
        if self.static_max_size < self.static_min_size:
            raise ValueError(
                f"static_max_size ({self.static_max_size}) must be ≥ static_min_size "
                f"({self.static_min_size})")
        return self


class ProductionConfig(_Section):
    """Costs and delivery."""

    wage: float = Field(4.0, ge=0, le=100, allow_inf_nan=False, description="k€ per employee-month")
    overhead: float = Field(0.5, ge=0, le=1000, allow_inf_nan=False, description="k€ per firm-month")
    rd_share: float = Field(0.03, ge=0, le=1, allow_inf_nan=False,
                            description="R&D spending as a share of the wage bill")
    failure_base: Fraction = 0.02
    failure_trust_effect: Fraction = 0.08
    failure_distance_effect: float = Field(0.03, ge=0, le=1, allow_inf_nan=False,
                                           description="added failure chance per hour of travel")
    failure_penalty: Fraction = Field(0.3, description="share of value lost on a failed delivery")
    failure_trust_loss: Fraction = 0.3


class LearningConfig(_Section):
    """Knowledge, capabilities and innovation."""

    rd_catch_up: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                               description="monthly share of the gap to the frontier that R&D closes")
    spillover: float = Field(0.01, ge=0, le=1, allow_inf_nan=False)
    capability_learning: float = Field(0.002, ge=0, le=1, allow_inf_nan=False)
    innovation_base: float = Field(0.012, ge=0, le=1, allow_inf_nan=False)
    diversity_bonus: float = Field(0.3, ge=0, le=5, allow_inf_nan=False)
    innovation_lift: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                                   description="knowledge added per innovation, × novelty requirement")
    imitation: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                             description="monthly share of a firm's lead over the frontier that "
                             "the world imitates away")
    rivalry_response: float = Field(
        0.0, ge=0, le=10, allow_inf_nan=False,
        description="ψ: R&D effort is 1 + ψ × the share of same-specialty rivals ahead in "
        "knowledge (Porter's local rivalry, 003:L2220-2235); 0 = fixed R&D (docs/ODD.md §7.16)")
    rivalry_norm: Literal["compete", "dampen"] = Field(
        "compete",
        description="dampen: members of one network stop counting each other as rivals and "
        "measure themselves by their network's best member of their specialty "
        "(designated cooperators, 003:L1885-1896)")


class TiesConfig(_Section):
    """Trust between firms (docs/ODD.md §7.5)."""

    gain: Fraction = 0.5
    decay: Fraction = 0.1
    floor: Fraction = 0.2
    initial_trust_low: Fraction = 0.25
    initial_trust_high: Fraction = 0.5

    @model_validator(mode="after")
    def _range(self) -> TiesConfig:
        if self.initial_trust_high < self.initial_trust_low:
            raise ValueError("initial_trust_high must be ≥ initial_trust_low")
        return self


class DemographyConfig(_Section):
    """Exit, growth and entry."""

    grace: int = Field(6, ge=1, le=120, description="months of negative cash before exit")
    cash_buffer_months: float = Field(4.0, ge=0, le=120, allow_inf_nan=False,
                                      description="owners withdraw cash above this many months of costs")
    growth_rate: float = Field(0.01, ge=0, le=1, allow_inf_nan=False)
    shrink_rate: float = Field(0.02, ge=0, le=1, allow_inf_nan=False)
    growth_mode: Literal["threshold", "proportional"] = Field(
        "threshold",
        description="threshold: busy firms grow by growth_rate, idle ones shrink by shrink_rate; "
        "proportional: every firm's size changes each month by a random share of itself that "
        "rises with its load (Gibrat's law, docs/ODD.md §7.6)")
    growth_noise: float = Field(0.03, ge=0, le=1, allow_inf_nan=False,
                                description="proportional growth: sd of the monthly log change "
                                "that does not depend on load (luck, one customer more or less)")
    busy_threshold: Fraction = 0.85
    idle_threshold: Fraction = 0.5
    spinoff_rate: float = Field(0.05, ge=0, le=1, allow_inf_nan=False,
                                description="entries per order lost for a missing phase or capacity")
    entrant_employees: float = Field(4.0, ge=1, le=249, allow_inf_nan=False)


class OutputsConfig(_Section):
    """What a run records beyond the monthly time series."""

    firm_table_steps: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    network_snapshot_steps: list[Annotated[int, Field(ge=0)]] = Field(default_factory=list)
    network_metrics_every: int = Field(1, ge=1, le=1200)
    path_length_sources: int = Field(
        50, ge=1, le=100_000,
        description="average path length is exact up to this many firms, sampled from as many above")
    clustering_sample: int = Field(
        2000, ge=1, le=1_000_000,
        description="average clustering is exact up to this many firms, estimated from this "
        "many sampled firms above (standard error ≤ 0.5 / √n)")


class InstitutionsConfig(_Section):
    """Institutions beyond the programme owner (which is always there)."""

    university: bool = Field(False, description="a university or research centre in the region")
    university_effect: float = Field(0.5, ge=0, le=10, allow_inf_nan=False,
                                     description="relative boost to hub training and joint projects")


class ResponseConfig(_Section):
    """Firms' response to crisis and opportunity (docs/ODD.md §7.14, H11; 003:L3257-3262).

    A firm's openness o = min(1, sensitivity × (crisis_weight × threat + opportunity_weight
    × opportunity)) is its chance that the gain it sees in new partners clears its hurdle."""

    enabled: bool = Field(False, description="firms respond to perceived threat and opportunity")
    sensitivity: float = Field(1.0, ge=0, le=50, allow_inf_nan=False,
                               description="openness per unit of perceived change in business")
    crisis_weight: float = Field(1.0, ge=0, le=10, allow_inf_nan=False,
                                 description="weight of the lagged threat (a fall in revenue)")
    opportunity_weight: float = Field(1.0, ge=0, le=10, allow_inf_nan=False,
                                      description="weight of a rise in revenue (an opportunity)")
    extra_strangers: float = Field(1.0, ge=0, le=10, allow_inf_nan=False,
                                   description="strangers looked at × (1 + this × openness)")
    stranger_acceptance: float = Field(1.0, ge=0, le=10, allow_inf_nan=False,
                                       description="a stranger's partner weight × (1 + this × openness)")
    join_lift: float = Field(1.0, ge=0, le=10, allow_inf_nan=False,
                             description="hub joining and broker recruitment × (1 + this × openness)")


class Scenario(_Section):
    """One complete, validated scenario."""

    name: str = Field("unnamed", min_length=1, max_length=200)
    description: str = ""
    steps: int = Field(120, ge=1, le=2400, description="months to run")
    spin_up: int = Field(
        12, ge=0, le=120,
        description="months run before month 0 so that jobs in progress and working ties "
        "exist at the start; firms neither pay costs, grow, exit nor enter then")
    network_mode: Literal["static", "dynamic"] = "dynamic"
    firms: FirmsConfig = Field(default_factory=FirmsConfig)
    region: RegionConfig = Field(default_factory=RegionConfig)
    market: MarketConfig = Field(default_factory=MarketConfig)
    teams: TeamsConfig = Field(default_factory=TeamsConfig)
    production: ProductionConfig = Field(default_factory=ProductionConfig)
    learning: LearningConfig = Field(default_factory=LearningConfig)
    ties: TiesConfig = Field(default_factory=TiesConfig)
    demography: DemographyConfig = Field(default_factory=DemographyConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    institutions: InstitutionsConfig = Field(default_factory=InstitutionsConfig)
    response: ResponseConfig = Field(default_factory=ResponseConfig)
    policies: list[PolicyConfigUnion] = Field(
        default_factory=list, description="policy programmes, one [[policies]] table each")
    shocks: list[ShockConfigUnion] = Field(
        default_factory=list, description="market shocks, one [[shocks]] table each")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems = []
        if self.market.max_phases_per_segment > self.firms.phases:
            problems.append(
                f"market.max_phases_per_segment = {self.market.max_phases_per_segment} is not "
                f"allowed: must be ≤ firms.phases ({self.firms.phases})")
        if self.demography.entrant_employees > self.firms.max_employees:
            problems.append(
                f"demography.entrant_employees = {self.demography.entrant_employees:g} is not "
                f"allowed: must be ≤ firms.max_employees ({self.firms.max_employees:g})")
        for table, items in (("policies", self.policies), ("shocks", self.shocks)):
            for i, item in enumerate(items):
                if item.start >= self.steps:
                    problems.append(f"{table}[{i}].start = {item.start} is not allowed: must be "
                                    f"before the run's end (steps = {self.steps})")
        towns = self.region.resolved()["towns"]
        for i, shock in enumerate(self.shocks):
            for index in getattr(shock, "segments", None) or []:
                if index >= self.market.segments:
                    problems.append(f"shocks[{i}].segments contains {index}: segments are numbered "
                                    f"0..{self.market.segments - 1}")
            for index in [*(getattr(shock, "phases", None) or []), getattr(shock, "phase", None)]:
                if index is not None and index >= self.firms.phases:
                    problems.append(f"shocks[{i}] names phase {index}: phases are numbered "
                                    f"0..{self.firms.phases - 1}")
            town = getattr(shock, "town", None)
            if town is not None and town >= towns:
                problems.append(f"shocks[{i}].town = {town} is not allowed: towns are numbered "
                                f"0..{towns - 1}")
        problems.extend(_order_flow_problems(self))
        if problems:
            raise ValueError("; ".join(problems))
        return self


# Orders a firm may expect per month, at most and at least, for a scenario to be run: above,
# one month's orders would not fit in memory at large sizes (the default is about 1); below,
# nothing would ever happen (and shares of zero demand are undefined).
MAX_ORDERS_PER_FIRM_MONTH = 50.0
MIN_ORDERS_PER_FIRM_MONTH = 1e-4
# Keys that set the expected order flow, named when it is out of bounds.
_ORDER_FLOW_KEYS = ("market.work_median", "market.work_sigma", "market.demand_scale",
                    "market.expected_win_share", "market.target_utilisation",
                    "firms.employees_median", "firms.employees_sigma")


def expected_orders_per_firm_month(sc: Scenario, phases_per_order: float) -> float:
    """Orders per firm and month the market is calibrated to (docs/ODD.md §7.1): the demanded
    work (capacity × target utilisation / expected win share) over the work of an order."""
    firms, market = sc.firms, sc.market
    spread = math.exp(min(firms.employees_sigma**2 / 2, 50.0))  # lognormal mean / median
    employees = min(max(1.0, firms.employees_median * spread), firms.max_employees)
    work = market.work_median * math.exp(market.work_sigma**2 / 2) * phases_per_order
    demand = employees * market.target_utilisation * market.demand_scale * (1 + market.export_share)
    supply = market.expected_win_share * work
    return demand / supply if supply > 0 else math.inf


def _order_flow_problems(sc: Scenario) -> list[str]:
    """The order flow must stay between the bounds, whatever the segments' phases turn out to be."""
    most = expected_orders_per_firm_month(sc, 1.0)
    least = expected_orders_per_firm_month(sc, float(sc.market.max_phases_per_segment))
    keys = ", ".join(_ORDER_FLOW_KEYS)
    if most > MAX_ORDERS_PER_FIRM_MONTH:
        return [f"these values ask for up to {most:.3g} orders per firm and month (at most "
                f"{MAX_ORDERS_PER_FIRM_MONTH:g} allowed, the default is about 1): raise "
                f"market.work_median or lower market.demand_scale (the flow is set by {keys})"]
    if not least >= MIN_ORDERS_PER_FIRM_MONTH:
        return [f"these values ask for only {least:.3g} orders per firm and month (at least "
                f"{MIN_ORDERS_PER_FIRM_MONTH:g} needed): lower market.work_median or raise "
                f"market.demand_scale (the flow is set by {keys})"]
    return []


# Short names accepted as model keyword arguments (for mesa.batch_run, SolaraViz, EMA).
ALIASES: dict[str, str] = {
    "n_firms": "firms.count",
    "volatility": "market.volatility",
    "layout": "region.layout",
    "cooperativeness": "region.cooperativeness",
    "segments": "market.segments",
    "phases": "firms.phases",
}


# --------------------------------------------------------------------------- loading


def shipped_folder(installed: str, source: str) -> Path:
    """A folder of shipped files: ``clustersim/<installed>`` in a wheel, ``<source>`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / installed, here.parent / source):
        if candidate.is_dir():
            return candidate
    return here.parent / source


def shipped_files(folder: Path, suffix: str = SCENARIO_SUFFIX) -> dict[str, Path]:
    """Name → path of every ``*suffix`` file in ``folder`` (none if it does not exist)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob(f"*{suffix}"))}


def resolve_shipped(spec: str | Path, shipped: dict[str, Path], kind: str,
                    error: type[ScenarioError] = ScenarioError) -> Path:
    """A path as given, or the shipped file of that name; else ``error`` listing them."""
    path = Path(spec)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # name too long, embedded NUL: not a file we can read
        exists = False
    if exists:
        return path
    if str(spec) in shipped:
        return shipped[str(spec)]
    if path.suffix == "" and path.name in shipped:
        return shipped[path.name]
    names = ", ".join(shipped) or "none found"
    raise error(f"{spec}: file not found{did_you_mean(path.stem, list(shipped))} "
                f"(shipped {kind}: {names})", source=str(spec))


def shipped_scenarios_dir() -> Path:
    """The folder of scenarios shipped with clustersim (installed or source checkout)."""
    return shipped_folder("scenarios", "scenarios")


def shipped_scenarios() -> dict[str, Path]:
    """Name → path of every shipped scenario file."""
    return shipped_files(shipped_scenarios_dir())


def resolve_scenario_path(spec: str | Path) -> Path:
    """A path as given, or the shipped scenario of that name (``baseline``)."""
    return resolve_shipped(spec, shipped_scenarios(), "scenarios")


def load_scenario(spec: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """Read, validate and return the scenario at ``spec`` with dotted-key ``overrides`` applied."""
    path = resolve_scenario_path(spec)
    source = str(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ScenarioError(f"{source}: is a folder, not a scenario file", source=source) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{source}: not UTF-8 text ({exc.reason})", source=source) from None
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot be read ({exc.strerror})", source=source) from None
    return parse_scenario(text, source=source, overrides=overrides)


def parse_scenario(text: str, *, source: str = "<scenario>",
                   overrides: dict[str, Any] | None = None) -> Scenario:
    """Parse TOML text into a validated scenario."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:  # ValueError: int over 4,300 digits
        raise ScenarioError(f"{source}: malformed TOML: {exc}", source=source) from None
    except RecursionError:
        raise ScenarioError(f"{source}: malformed TOML: nested too deeply", source=source) from None
    if not data:
        raise ScenarioError(
            f"{source}: the scenario file is empty (no keys): a scenario sets at least its "
            "name and what differs from the defaults; start from the shipped one "
            "(clustersim validate baseline, scenarios/baseline.toml)", source=source)
    return scenario_from_dict(data, source=source, overrides=overrides)


def scenario_from_dict(data: dict[str, Any], *, source: str = "<scenario>",
                       overrides: dict[str, Any] | None = None,
                       strict: bool = True) -> Scenario:
    """Validate a nested dict (as read from TOML) plus dotted overrides into a Scenario.

    ``strict`` refuses values of the wrong type (a string for a number); keyword
    arguments from Python tools pass ``strict=False`` so that ``"0.4"`` from a text
    field still reads as 0.4 (docs/developing.md T6).
    """
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a table of keys", source=source)
    try:
        merged = _deep_copy(data)
    except RecursionError:
        raise ScenarioError(f"{source}: tables or lists nested too deeply", source=source) from None
    canonical = [(canonical_key(key, source=source), value) for key, value in (overrides or {}).items()]
    # A whole list (policies = [...]) is set before any field of one of its tables.
    canonical.sort(key=lambda item: item[0] not in _LIST_TABLES)
    for key, value in canonical:
        _set_dotted(merged, key, value, source=source)
    try:
        return Scenario.model_validate(merged, strict=strict)
    except ValidationError as exc:
        raise _scenario_error(exc, source, merged) from None


def canonical_key(key: str, *, source: str = "<override>") -> str:
    """``market__volatility`` or an alias like ``volatility`` → ``market.volatility``."""
    if not isinstance(key, str) or not key:
        raise ScenarioError(f"{source}: override key {key!r} must be a non-empty string",
                            source=source)
    key = ALIASES.get(key, key).replace("__", ".")
    key = _LIST_DOTTED.sub(r"\1[\2].", key)  # policies.0.start (from policies__0__start)
    if list_item_key(key) is not None:
        _check_list_field(key, source)
        return key
    _check_known_key(key, source)
    return key


# ``policies[0].start``: a field of one table of a list of tables ([[policies]], [[shocks]]).
_LIST_KEY = re.compile(r"^(policies|shocks)\[(\d+)\]\.([A-Za-z_]\w*)$")
_LIST_DOTTED = re.compile(r"^(policies|shocks)\.(\d+)\.")


def list_item_key(key: str) -> tuple[str, int, str] | None:
    """``policies[0].start`` → ("policies", 0, "start"); None for any other key."""
    match = _LIST_KEY.match(key)
    return (match[1], int(match[2]), match[3]) if match else None


def _list_fields(table: str) -> list[str]:
    """Every field some table of the list ``table`` has (type-specific ones included)."""
    return list(dict.fromkeys(f for config in _LIST_TABLES[table].values()
                              for f in config.model_fields))


def _check_list_field(key: str, source: str) -> None:
    """A list item's field must exist in some table type (the type is checked on merging)."""
    table, _index, field = list_item_key(key)  # type: ignore[misc]
    allowed = [f for f in _list_fields(table) if f != "type"]
    if field == "type":
        raise ScenarioError(f"{source}: {key} cannot be overridden: a table's type decides its "
                            f"other keys; replace the whole list instead ({table} = [...])",
                            source=source, key=key)
    if field not in allowed:
        raise ScenarioError(f"{source}: unknown key '{key}'{did_you_mean(field, allowed)}; keys "
                            f"allowed in a [[{table}]] table: {', '.join(allowed)}",
                            source=source, key=key)


def parse_override(assignment: str, *, source: str = "--set") -> tuple[str, Any]:
    """``market.volatility=0.4`` → (key, value); the value is read as a TOML value."""
    if "=" not in assignment:
        raise ScenarioError(
            f"{source}: {assignment!r} is not KEY=VALUE (for example market.volatility=0.4)",
            source=source)
    key, raw = (part.strip() for part in assignment.split("=", 1))
    key = canonical_key(key, source=source)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as static or clustered is taken as a string
    except (ValueError, RecursionError):  # an integer over 4,300 digits, deep nesting
        raise ScenarioError(f"{source}: the value for '{key}' is too large or nested too deeply",
                            source=source, key=key) from None
    return key, value


def scenario_to_toml(scenario: Scenario) -> str:
    """Write a scenario back as TOML text (every value resolved), e.g. for a run's record."""
    data = scenario.model_dump(mode="json")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in data.items() if k in _LIST_TABLES}
    top = {k: v for k, v in data.items() if k not in tables and k not in arrays}
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items() if v is not None]
    for section, values in tables.items():
        lines += ["", f"[{section}]"]
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None)
    for section, items in arrays.items():
        for values in items:
            lines += ["", f"[[{section}]]"]
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None)
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_toml_char(c) for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_char(char: str) -> str:
    if char in '"\\':
        return "\\" + char
    if char == "\n":
        return "\\n"
    if (ord(char) < 0x20 and char != "\t") or char == "\x7f":
        return f"\\u{ord(char):04x}"
    return char


# --------------------------------------------------------------------------- helpers


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


# Tables that are lists of typed items (``[[policies]]``, ``[[shocks]]``): type → config class.
_LIST_TABLES: dict[str, dict[str, type[BaseModel]]] = {
    "policies": {c.model_fields["type"].default: c for c in POLICY_CONFIGS},
    "shocks": {c.model_fields["type"].default: c for c in SHOCK_CONFIGS},
}


def _section_model(path: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Scenario
    for part in path:
        if model is None or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model


def _location(loc: tuple[Any, ...]) -> tuple[str, tuple[Any, ...], list[str] | None]:
    """Pydantic's error location → (key as users write it, path into the data, allowed keys).

    ``("policies", 0, "brokers", "caseload")`` → ``"policies[0].caseload"``: list
    positions in brackets, the union's tag dropped.
    """
    parts: list[str] = []
    path: list[Any] = []
    allowed: list[str] | None = None
    i = 0
    while i < len(loc):
        part = loc[i]
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
            path.append(part)
            table = _LIST_TABLES.get(str(loc[i - 1])) if i else None
            if table is not None and i + 1 < len(loc) and loc[i + 1] in table:
                allowed = list(table[loc[i + 1]].model_fields)
                i += 1  # skip the tag
        else:
            parts.append(str(part))
            path.append(part)
        i += 1
    return ".".join(parts), tuple(path), allowed


def _allowed_keys(path: list[str]) -> list[str]:
    model = _section_model(path)
    return list(model.model_fields) if model is not None else []


def _check_known_key(key: str, source: str) -> None:
    parts = key.split(".")
    for depth in range(len(parts)):
        allowed = _allowed_keys(parts[:depth])
        if parts[depth] not in allowed:
            where = f"[{'.'.join(parts[:depth])}]" if depth else "the top level"
            # A short or dotted key is the likelier meaning: n_firm → n_firms, not firms.
            hint = (did_you_mean(key, [*ALIASES, *leaf_keys()]) if depth == 0 else "") or \
                did_you_mean(parts[depth], allowed)
            raise ScenarioError(
                f"{source}: unknown key '{key}'{hint}; "
                f"keys allowed at {where}: {', '.join(allowed)}",
                source=source, key=key)
        if depth == 0 and parts[0] in _LIST_TABLES and len(parts) > 1:
            raise ScenarioError(
                f"{source}: '{key}' is not allowed: {parts[0]} is a list of tables; set a key "
                f"of one of them by its position, e.g. {parts[0]}[0].{parts[-1]}",
                source=source, key=key)
        if depth < len(parts) - 1 and _section_model(parts[: depth + 1]) is None:
            raise ScenarioError(f"{source}: '{'.'.join(parts[: depth + 1])}' is a value, not a table",
                                source=source, key=key)
    if _section_model(parts) is not None:
        raise ScenarioError(
            f"{source}: '{key}' is a table; set one of its keys: {', '.join(_allowed_keys(parts))}",
            source=source, key=key)


def leaf_keys() -> list[str]:
    """Every settable dotted key of a scenario's tables (``market.volatility``, ...)."""
    keys = []
    for name, info in Scenario.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            keys.extend(f"{name}.{field}" for field in model.model_fields)
        elif name not in _LIST_TABLES:
            keys.append(name)
    return keys


def _set_list_item(data: dict[str, Any], key: str, value: Any, *, source: str) -> None:
    """Set one field of one [[policies]] or [[shocks]] table, naming what exists if it cannot."""
    table, index, field = list_item_key(key)  # type: ignore[misc]
    items = data.get(table)
    items = items if isinstance(items, list) else []
    listing = ", ".join(f"{table}[{i}]: {item.get('type', '?') if isinstance(item, dict) else '?'}"
                        for i, item in enumerate(items)) or "none"
    if index >= len(items) or not isinstance(items[index], dict):
        raise ScenarioError(f"{source}: {key} is not allowed: the scenario has {len(items)} "
                            f"[[{table}]] table(s) ({listing})", source=source, key=key)
    item = items[index]
    config = _LIST_TABLES[table].get(str(item.get("type")))
    if config is not None and field not in config.model_fields:
        allowed = [f for f in config.model_fields if f != "type"]
        raise ScenarioError(
            f"{source}: unknown key '{key}'{did_you_mean(field, allowed)}; {table}[{index}] is a "
            f"{item.get('type')} table, whose keys are: {', '.join(allowed)}",
            source=source, key=key)
    item[field] = value


def _set_dotted(data: dict[str, Any], key: str, value: Any, *, source: str) -> None:
    if list_item_key(key) is not None:
        _set_list_item(data, key, value, source=source)
        return
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ScenarioError(f"{source}: '{part}' must be a table, found {child!r}",
                                source=source, key=key)
        node = child
    node[parts[-1]] = value


def did_you_mean(word: str, allowed: list[str]) -> str:
    """" (did you mean 'x'?)" for the closest allowed word, or nothing."""
    close = difflib.get_close_matches(str(word), allowed, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def lookup(data: Any, loc: tuple[Any, ...]) -> tuple[bool, Any]:
    """(found, value) at a pydantic error location in nested dicts and lists."""
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]
        else:
            return False, None
    return True, node


def join_problems(source: str, lines: list[str]) -> str:
    """One message for a file's problems: ``file: problem``, or a bulleted list of them."""
    if len(lines) == 1:
        return f"{source}: {lines[0]}"
    return f"{source}: {len(lines)} problems:\n" + "\n".join(f"  - {line}" for line in lines)


def describe_value(value: Any) -> str:
    """A value as an error message shows it: repr, cut at 80 characters."""
    try:
        text = repr(value)
    except ValueError:  # holds an int longer than Python's 4,300-digit str limit
        if isinstance(value, int):
            return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
        return f"a {type(value).__name__} holding an integer too long to print"
    if isinstance(value, float) and not math.isfinite(value):
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _scenario_error(exc: ValidationError, source: str, data: dict[str, Any]) -> ScenarioError:
    lines = []
    first_key = None
    for err in exc.errors(include_url=False):
        key, loc, item_keys = _location(tuple(err.get("loc", ())))
        key = key or "(top level)"
        first_key = first_key or key
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            allowed = item_keys if item_keys is not None else _allowed_keys([str(p) for p in loc[:-1]])
            where = f"[{parent}]" if parent else "the top level"
            lines.append(
                f"unknown key '{key}'{did_you_mean(str(loc[-1]), allowed)}; "
                f"keys allowed at {where}: {', '.join(allowed)}")
            continue
        found, value = lookup(data, loc)
        message = err.get("msg", "invalid").removeprefix("Value error, ")
        if kind == "union_tag_invalid":
            tags = ", ".join(repr(t) for t in _LIST_TABLES.get(str(loc[0]), {}))
            found, value = lookup(data, (*loc, "type"))
            lines.append(f"{key}.type = {describe_value(value)} is not allowed: expected one of {tags}")
            continue
        if kind == "union_tag_not_found":
            tags = ", ".join(repr(t) for t in _LIST_TABLES.get(str(loc[0]), {}))
            lines.append(f"{key}: every table needs a 'type', one of {tags}")
            continue
        if not loc:  # cross-field checks: each problem already names its key
            lines.extend(message.split("; "))
            continue
        if found:
            lines.append(f"{key} = {describe_value(value)} is not allowed: {message}")
        else:
            lines.append(f"{key}: {message}")
    return ScenarioError(join_problems(source, lines), source=source, key=first_key)
