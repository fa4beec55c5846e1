"""What one browser session owns: its settings, its model, and what the page shows of it.

Nothing here imports Solara, so the logic is tested without a browser. The page keeps
one :class:`ExploreSession` per browser session (``solara.use_memo`` in the page
component, never a module global): each session builds, steps and shocks its own model.
Every value typed in a text field arrives as a string (docs/developing.md T6) and is checked by
the ``parse_*`` functions, which raise :class:`InputError` with a message for the page.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from clustersim.policies import POLICY_CONFIGS
from clustersim.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    scenario_from_dict,
    shipped_scenarios,
)

if TYPE_CHECKING:
    import pandas as pd

    from clustersim.model import ClusterModel
    from clustersim.shocks import Shock

# Firms the browser view stays readable and a month stays well under a second with.
DEFAULT_FIRMS = 400
MIN_FIRMS = 20
MAX_FIRMS = 1000
FIRMS_STEP = 10
MAX_SEED = 2**32 - 1
MAX_BUDGET = 1e9  # k€, the schema's own upper bound
DEFAULT_SCENARIO = "baseline"
NETWORK_MODES = ("dynamic", "static")
VOLATILITY_RANGE = (0.0, 0.6)  # monthly step of log demand; the schema allows up to 1
POLICY_DEFAULTS = {config.model_fields["type"].default: config for config in POLICY_CONFIGS}
POLICY_LABELS = {"brokers": "Network brokers", "challenge_grants": "Challenge grants",
                 "hubs": "Service hubs"}


class InputError(ValueError):
    """A value typed or sent by the page that cannot be used; the message says why."""


# --------------------------------------------------------------------------- parsing

_INT_TEXT = re.compile(r"[+]?\d{1,20}", re.ASCII)  # ASCII: no other scripts' digits
_NUMBER_TEXT = re.compile(r"[+]?(\d{1,15}(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?", re.ASCII)


def parse_seed(text: Any) -> int:
    """A seed from a text field: a whole number from 0 to 4,294,967,295."""
    raw = str(text).strip().replace(",", "").replace("_", "") if text is not None else ""
    if not raw:
        raise InputError("Seed: enter a whole number, e.g. 42")
    if not _INT_TEXT.fullmatch(raw):
        raise InputError(f"Seed: {_shown(text)} is not a whole number (0 to {MAX_SEED:,})")
    value = int(raw)
    if value > MAX_SEED:
        raise InputError(f"Seed: {value:,} is too large (0 to {MAX_SEED:,})")
    return value


def parse_budget(text: Any, label: str = "Budget") -> float:
    """A programme budget in k€ from a text field: a number from 0 to 1,000,000,000."""
    raw = str(text).strip().replace(",", "").replace("_", "") if text is not None else ""
    if not raw:
        raise InputError(f"{label}: enter an amount in k€, e.g. 5000")
    if not _NUMBER_TEXT.fullmatch(raw):
        raise InputError(f"{label}: {_shown(text)} is not a number of k€")
    value = float(raw)
    if not math.isfinite(value) or value > MAX_BUDGET:
        raise InputError(f"{label}: {_shown(text)} is too large (at most {MAX_BUDGET:,.0f} k€)")
    return value


def parse_firms(value: Any) -> int:
    """A number of firms from a slider, a text field or a link."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise InputError(f"Firms: {_shown(value)} is not a number") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"Firms: {_shown(value)} is not a whole number")
    count = int(number)
    if not MIN_FIRMS <= count <= MAX_FIRMS:
        raise InputError(f"Firms: {count:,} is outside {MIN_FIRMS}–{MAX_FIRMS:,} "
                         "(the browser view stays readable up to about a thousand)")
    return count


def parse_fraction(value: Any, label: str, low: float = 0.0, high: float = 1.0) -> float:
    """A number in [low, high] from a slider or a link."""
    try:
        number = float(str(value).strip())
    except ValueError:
        raise InputError(f"{label}: {_shown(value)} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise InputError(f"{label}: {_shown(value)} is outside {low:g}–{high:g}")
    return number


def parse_scenario_name(value: Any) -> str:
    """One of the shipped scenarios' names."""
    name = str(value).strip()
    names = list(shipped_scenarios())
    if name not in names:
        raise InputError(f"Scenario: {_shown(value)} is not a shipped scenario "
                         f"({', '.join(names)})")
    return name


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class PolicyChoice:
    """One policy instrument: on or off, and its total budget (k€)."""

    type: str
    enabled: bool
    budget: float

    @property
    def label(self) -> str:
        return POLICY_LABELS.get(self.type, self.type)


@dataclass(frozen=True)
class ExploreSettings:
    """Everything the explore page's controls set; a model is built from these alone."""

    scenario: str = DEFAULT_SCENARIO
    n_firms: int = DEFAULT_FIRMS
    volatility: float = 0.15
    cooperativeness: float = 0.6
    network_mode: str = "dynamic"
    policies: tuple[PolicyChoice, ...] = ()
    seed: int = 0

    def policy(self, type_name: str) -> PolicyChoice:
        for choice in self.policies:
            if choice.type == type_name:
                return choice
        raise KeyError(type_name)

    def with_policy(self, type_name: str, **changes: Any) -> ExploreSettings:
        """These settings with one policy switched or given another budget."""
        policies = tuple(replace(p, **changes) if p.type == type_name else p for p in self.policies)
        return replace(self, policies=policies)

    def validated(self) -> ExploreSettings:
        """These settings with every value checked (raises :class:`InputError`)."""
        return replace(
            self,
            scenario=parse_scenario_name(self.scenario),
            n_firms=parse_firms(self.n_firms),
            volatility=parse_fraction(self.volatility, "Demand volatility", *VOLATILITY_RANGE),
            cooperativeness=parse_fraction(self.cooperativeness, "Cooperativeness"),
            network_mode=_parse_mode(self.network_mode),
            policies=tuple(PolicyChoice(p.type, bool(p.enabled), parse_budget(p.budget, p.label))
                           for p in self.policies),
            seed=parse_seed(self.seed),
        )


def _parse_mode(value: Any) -> str:
    mode = str(value).strip()
    if mode not in NETWORK_MODES:
        raise InputError(f"Network mode: {_shown(value)} is not one of {', '.join(NETWORK_MODES)}")
    return mode


def settings_for_scenario(name: str, seed: int = 0) -> ExploreSettings:
    """The controls' starting values for a shipped scenario.

    Firms: the scenario's count, at most :data:`DEFAULT_FIRMS`. Each policy is on with
    the scenario's budget if the scenario has it, else off with its config class's
    default budget.
    """
    scenario = load_scenario(parse_scenario_name(name))
    present = {config.type: config for config in scenario.policies}
    policies = tuple(
        PolicyChoice(type_name, type_name in present,
                     float((present.get(type_name) or default()).budget))
        for type_name, default in POLICY_DEFAULTS.items()
    )
    return ExploreSettings(
        scenario=name,
        n_firms=max(MIN_FIRMS, min(DEFAULT_FIRMS, scenario.firms.count)),
        volatility=min(scenario.market.volatility, VOLATILITY_RANGE[1]),
        cooperativeness=scenario.region.cooperativeness,
        network_mode=scenario.network_mode,
        policies=policies,
        seed=seed,
    )


def settings_from_query(search: str | None) -> tuple[ExploreSettings, list[str]]:
    """Settings from a link's query string (``?scenario=dynamic&firms=200&seed=7``).

    Unknown or invalid values are ignored with a message each, so a bad link still
    opens the page.
    """
    problems: list[str] = []
    query = {k: v[-1] for k, v in parse_qs(search or "", keep_blank_values=True).items()}
    name = DEFAULT_SCENARIO
    if "scenario" in query:
        try:
            name = parse_scenario_name(query["scenario"])
        except InputError as exc:
            problems.append(str(exc))
    settings = settings_for_scenario(name)
    parsers = {
        "firms": ("n_firms", parse_firms),
        "seed": ("seed", parse_seed),
        "volatility": ("volatility",
                       lambda v: parse_fraction(v, "Demand volatility", *VOLATILITY_RANGE)),
        "cooperativeness": ("cooperativeness", lambda v: parse_fraction(v, "Cooperativeness")),
        "mode": ("network_mode", _parse_mode),
    }
    for key, raw in query.items():
        if key == "scenario":
            continue
        if key not in parsers:
            problems.append(f"Link: unknown setting {_shown(key)} ignored "
                            f"(known: scenario, {', '.join(parsers)})")
            continue
        attribute, parse = parsers[key]
        try:
            settings = replace(settings, **{attribute: parse(raw)})
        except InputError as exc:
            problems.append(str(exc))
    return settings, problems


def build_scenario(settings: ExploreSettings) -> Scenario:
    """The scenario a session's model runs: the shipped one with the controls applied.

    A policy switched on keeps the scenario's own programme (with the budget set here)
    or, if the scenario has none, gets its config class's defaults. Firm tables and
    network snapshots are switched off: the page draws the network itself.
    """
    base = load_scenario(settings.scenario)
    data = base.model_dump()
    data["firms"]["count"] = settings.n_firms
    data["market"]["volatility"] = settings.volatility
    data["region"]["cooperativeness"] = settings.cooperativeness
    data["network_mode"] = settings.network_mode
    data["outputs"]["firm_table_steps"] = []
    data["outputs"]["network_snapshot_steps"] = []
    policies = []
    for choice in settings.policies:
        if not choice.enabled:
            continue
        own = [p for p in data["policies"] if p["type"] == choice.type]
        chosen = own or [POLICY_DEFAULTS[choice.type]().model_dump()]
        policies += [{**p, "budget": choice.budget} for p in chosen]
    data["policies"] = policies
    return scenario_from_dict(data, source=f"dashboard settings ({settings.scenario})")


# --------------------------------------------------------------------------- shocks

SHOCK_BUTTONS: dict[str, str] = {
    "demand_drop": "Demand drop",
    "supply_disruption": "Supply disruption",
    "low_cost_competition": "Low-cost competition",
}


@dataclass(frozen=True)
class ShockStatus:
    """A shock the banner reports: fired or scheduled, running or about to hit."""

    name: str
    label: str
    start: int
    stop: int  # first month without it
    running: bool


def shock_statuses(model: ClusterModel) -> list[ShockStatus]:
    """Shocks that are running now or hit next month (the banner's content)."""
    now = model.steps
    out = []
    for shock in model.shocks:
        if shock.ended:
            continue
        running = shock.running()
        if running or shock.start == now + 1:
            out.append(ShockStatus(shock.name, SHOCK_BUTTONS.get(shock.config.type,
                                                                 shock.config.type.replace("_", " ")),
                                   shock.start, shock.stop, running))
    return out


# --------------------------------------------------------------------------- session


@dataclass
class Snapshot:
    """What the page shows after a change: read under the session's lock in one go."""

    revision: int
    month: int
    steps: int
    running: bool
    stats: dict[str, float]
    timeseries: pd.DataFrame
    shocks: list[ShockStatus]
    settings: ExploreSettings
    figures: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class ExploreSession:
    """One browser session's model and the lock that keeps its play loop and buttons apart.

    Every change (build, step, shock) happens under ``lock`` and raises ``revision``;
    the page re-reads a :class:`Snapshot` when the revision changes.
    """

    def __init__(self, settings: ExploreSettings | None = None):
        self.lock = threading.RLock()
        self.settings = (settings or settings_for_scenario(DEFAULT_SCENARIO)).validated()
        self.model: ClusterModel = self._build(self.settings)
        self.revision = 0
        self.last_step_seconds = 0.0

    @staticmethod
    def _build(settings: ExploreSettings) -> ClusterModel:
        from clustersim.model import ClusterModel

        return ClusterModel(build_scenario(settings), seed=settings.seed)

    def reset(self, settings: ExploreSettings) -> None:
        """A new model at month 0 from ``settings`` (validated first; the old one stays on error)."""
        checked = settings.validated()
        try:
            model = self._build(checked)
        except ScenarioError as exc:
            raise InputError(str(exc)) from None
        from clustersim.experiments.execute import release

        with self.lock:
            old, self.settings, self.model = self.model, checked, model
            self.revision += 1
        release(old)  # a long workshop resets hundreds of models in one server

    def step(self, months: int = 1) -> bool:
        """Run up to ``months`` months; returns whether the run can go on."""
        import time

        with self.lock:
            for _ in range(months):
                if not self.model.running:
                    break
                started = time.perf_counter()
                self.model.step()
                self.last_step_seconds = time.perf_counter() - started
            self.revision += 1
            return bool(self.model.running)

    @property
    def running(self) -> bool:
        return bool(self.model.running)

    def fire_shock(self, kind: str) -> Shock:
        """Fire a shock of ``kind`` now: it hits from next month, with its type's defaults."""
        from clustersim.dashboard.shocks import fire_shock

        if kind not in SHOCK_BUTTONS:
            raise InputError(f"Shock: {_shown(kind)} is not one of {', '.join(SHOCK_BUTTONS)}")
        with self.lock:
            if not self.model.running:
                raise InputError("The run has ended: press Reset to start again, then fire the shock")
            shock = fire_shock(self.model, kind)
            self.revision += 1
            return shock

    def snapshot(self, colour_by: str | None = None, max_ties: int | None = None) -> Snapshot:
        """The numbers and figures the page shows now (figures only if ``colour_by`` is given)."""
        import time

        from clustersim.dashboard import figures

        with self.lock:
            model = self.model
            series = model.timeseries()
            shocks = shock_statuses(model)
            snap = Snapshot(self.revision, model.steps, model.scenario.steps, bool(model.running),
                            dict(model.stats), series, shocks, self.settings)
            if colour_by is not None:
                started = time.perf_counter()
                snap.figures["map"] = figures.network_figure(
                    model, colour_by=colour_by,
                    max_ties=figures.MAX_TIES if max_ties is None else max_ties)
                middle = time.perf_counter()
                snap.figures.update(figures.chart_figures(series, figures.shock_periods(model)))
                snap.seconds = {"step": self.last_step_seconds,
                                "network_figure": middle - started,
                                "charts": time.perf_counter() - middle}
            return snap
