"""The dashboard's pages as Solara components: Explore and Compare.

Each browser session gets its own :class:`~clustersim.dashboard.state.ExploreSession`
(held by ``solara.use_memo`` in :func:`Explore`, never in a module global) and its own
reactive values (``solara.use_reactive``): visitors never see or step each other's
model. The logic lives in :mod:`~clustersim.dashboard.state`,
:mod:`~clustersim.dashboard.figures` and :mod:`~clustersim.dashboard.compare`; this
module only lays it out and wires the buttons.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from dataclasses import replace
from typing import Any

import solara

from clustersim.dashboard import state, texts
from clustersim.dashboard.figures import CHART_TITLES, COLOUR_MODES
from clustersim.dashboard.plotly_view import PlotlyView
from clustersim.scenario import ScenarioError, shipped_scenarios

logger = logging.getLogger(__name__)

PLAY_INTERVAL = 0.3  # seconds: a month lasts at least this long while playing
TEXT_STYLE = {"line-height": "1.45", "font-size": "0.95rem"}


@solara.component
def Prose(content: str, classes: list[str] | None = None):
    """Fixed HTML text (never anything a visitor typed)."""
    return solara.HTML(tag="div", unsafe_innerHTML=content, classes=classes or [], style=TEXT_STYLE)


class SessionHolder:
    """One browser tab's explore session, kept by the layout so that it outlives a visit
    to the compare page (the page components unmount when the tab changes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: state.ExploreSession | None = None
        self.problems: list[str] = []

    def get(self, search: str | None) -> tuple[state.ExploreSession, list[str]]:
        with self.lock:
            if self.session is None:
                self.session, self.problems = _new_session(search)
            return self.session, self.problems


SessionContext = solara.create_context(None)


@solara.component
def Layout(children: list[Any] | None = None):
    """The app bar with one tab per page (named by the routes' labels) around every page."""
    holder = solara.use_memo(SessionHolder, [])
    SessionContext.provide(holder)
    route_current, routes = solara.use_route()
    index = routes.index(route_current) if route_current in routes else 0
    tabs = solara.lab.Tabs(value=index, align="center", children=[
        solara.lab.Tab(route.label, path_or_route=route, classes=[f"cs-tab-{route.label.lower()}"])
        for route in routes])
    return solara.AppLayout(children=[solara.AppBar(children=[tabs]), *(children or [])],
                            title="clustersim: a manufacturing cluster")


# --------------------------------------------------------------------------- explore


def _new_session(search: str | None) -> tuple[state.ExploreSession, list[str]]:
    """A session from the link's settings; the default one if they cannot be built."""
    settings, problems = state.settings_from_query(search)
    try:
        return state.ExploreSession(settings), problems
    except (state.InputError, ScenarioError) as exc:
        return state.ExploreSession(), [*problems, str(exc)]


def _budget_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e15 else str(value)


def _checked(parse, *args) -> str | None:
    """The message of what ``parse`` refuses, or None."""
    try:
        parse(*args)
    except state.InputError as exc:
        return str(exc)
    return None


def _typed_settings(draft: state.ExploreSettings, seed_text: str,
                    budgets: dict[str, str]) -> tuple[state.ExploreSettings, list[str]]:
    """The draft with the text fields applied, and every problem with them."""
    problems = []
    settings = draft
    try:
        settings = replace(settings, seed=state.parse_seed(seed_text))
    except state.InputError as exc:
        problems.append(str(exc))
    for choice in draft.policies:
        try:
            budget = state.parse_budget(budgets.get(choice.type, ""), choice.label)
            settings = settings.with_policy(choice.type, budget=budget)
        except state.InputError as exc:
            problems.append(str(exc))
    return settings, problems


def _model_stopped(notice, exc: Exception) -> None:
    """Log a failed month and say on the page what happened (the page stays up)."""
    logger.exception("model step failed")
    notice.set(f"The model stopped with an error: {exc}")


def _use_play_loop(session: state.ExploreSession, playing, revision, notice) -> None:
    """Hook: while ``playing``, step the model in a background thread, one month at most
    every :data:`PLAY_INTERVAL` seconds, until the run ends, fails or is paused."""

    def play_loop(cancel: threading.Event) -> None:
        if not playing.value:
            return
        while not cancel.is_set():
            started = time.perf_counter()
            try:
                going = session.step()
            except Exception as exc:  # the page stays up and says what happened
                _model_stopped(notice, exc)
                playing.set(False)
                return
            revision.set(session.revision)
            if not going:
                playing.set(False)
                return
            cancel.wait(max(0.02, PLAY_INTERVAL - (time.perf_counter() - started)))

    solara.use_thread(play_loop, dependencies=[playing.value], intrusive_cancel=False)


class _ExploreActions:
    """What the explore page's buttons do to its session; the page's reactive values
    (``revision``, ``playing``, ``notice``) carry the outcome back to the page."""

    def __init__(self, session: state.ExploreSession, draft, seed_text, budgets, revision,
                 playing, notice) -> None:
        self.session, self.draft, self.seed_text, self.budgets = session, draft, seed_text, budgets
        self.revision, self.playing, self.notice = revision, playing, notice

    def reset(self) -> None:
        self.playing.set(False)
        settings, problems = _typed_settings(self.draft.value, self.seed_text.value,
                                             self.budgets.value)
        if problems:
            self.notice.set("Not reset: " + " ".join(problems))
            return
        try:
            self.session.reset(settings)
        except state.InputError as exc:
            self.notice.set(f"Not reset: {exc}")
            return
        self.notice.set("")
        self.revision.set(self.session.revision)

    def step(self) -> None:
        try:
            self.session.step()
        except Exception as exc:
            _model_stopped(self.notice, exc)
        self.revision.set(self.session.revision)

    def play_pause(self) -> None:
        if not self.playing.value and not self.session.running:
            self.notice.set("The run has ended: press Reset to start a new one.")
            return
        self.playing.set(not self.playing.value)

    def fire(self, kind: str) -> None:
        try:
            self.session.fire_shock(kind)
        except (state.InputError, ValueError) as exc:
            self.notice.set(str(exc))
            return
        self.notice.set("")
        self.revision.set(self.session.revision)


@solara.component
def Explore():
    router = solara.use_router()
    own = solara.use_memo(SessionHolder, [])  # used when the page is shown without Layout
    holder = solara.use_context(SessionContext) or own
    session, link_problems = holder.get(router.search)
    draft = solara.use_reactive(session.settings)
    seed_text = solara.use_reactive(str(session.settings.seed))
    budgets = solara.use_reactive({p.type: _budget_text(p.budget) for p in session.settings.policies})
    revision = solara.use_reactive(session.revision)
    playing = solara.use_reactive(False)
    colour_by = solara.use_reactive("specialty")
    notice = solara.use_reactive(" ".join(link_problems) if link_problems else "")
    _use_play_loop(session, playing, revision, notice)

    snap = solara.use_memo(lambda: session.snapshot(colour_by.value),
                           [revision.value, colour_by.value])
    typed, field_problems = _typed_settings(draft.value, seed_text.value, budgets.value)
    pending = not field_problems and typed != session.settings
    actions = _ExploreActions(session, draft, seed_text, budgets, revision, playing, notice)

    solara.Title("clustersim · explore")
    with solara.Sidebar():
        Controls(draft, seed_text, budgets, pending=pending, playing=playing.value,
                 running=snap.running, on_reset=actions.reset, on_step=actions.step,
                 on_play=actions.play_pause, on_shock=actions.fire)
    with solara.Column(style={"padding": "0 8px", "max-width": "1500px"}):
        _explore_intro(notice.value)
        Status(snap)
        ShockBanner(snap)
        _explore_figures(snap, colour_by)
        _explore_timing(snap)


def _explore_intro(notice: str) -> None:
    """The page's heading, its explanations and any notice (inside the page's column)."""
    solara.HTML(tag="h2", unsafe_innerHTML="Explore: a cluster of small manufacturers",
                style={"margin": "4px 0"})
    Prose(texts.EXPLORE_INTRO)
    with solara.Details("What am I looking at? (firms, ties, brokers, hubs, shocks)"):
        Prose(texts.EXPLORE_GLOSSARY)
    Prose(texts.EXPLORE_HOW)
    if notice:
        solara.Error(notice, classes=["cs-notice"])


def _explore_figures(snap: state.Snapshot, colour_by) -> None:
    """The map with its colour switch, then the four charts two by two."""
    with solara.Card(style={"padding": "4px"}):
        with solara.Row(style={"align-items": "center"}):
            solara.Text("Colour firms by:")
            solara.ToggleButtonsSingle(
                value=colour_by.value, on_value=colour_by.set, dense=True,
                children=[solara.Button(label, value=key, classes=[f"cs-colour-{key}"])
                          for key, label in COLOUR_MODES.items()])
        PlotlyView(snap.figures["map"], name="map")
    with solara.Columns([1, 1]):
        for key in ("innovation", "survival"):
            PlotlyView(snap.figures[key], name=key)
    with solara.Columns([1, 1]):
        for key in ("network", "policy"):
            PlotlyView(snap.figures[key], name=key)


def _explore_timing(snap: state.Snapshot) -> None:
    """How long the last month and its figures took, or what to press first."""
    seconds = snap.seconds
    solara.Text(f"Last month ran in {seconds.get('step', 0):.2f} s; the map took "
                f"{seconds.get('network_figure', 0):.2f} s and the charts "
                f"{seconds.get('charts', 0):.2f} s to build." if snap.month else
                "Press Step to run the first month, or Play to keep going.",
                classes=["cs-timing"], style={"font-size": "0.8rem", "color": "#666"})


@solara.component
def Status(snap: state.Snapshot):
    """Month, firms, seed: the session's own numbers, in words and as data attributes."""
    s = snap.settings
    alive = int(snap.stats.get("firms_alive", 0))
    share = snap.stats.get("formal_network_share", 0.0)
    spent = snap.stats.get("policy_spend_cum", 0.0)
    ended = "" if snap.running else " · <b>run finished</b>: press Reset for a new one"
    content = (
        f'<div class="cs-status" data-month="{snap.month}" data-alive="{alive}" '
        f'data-firms="{s.n_firms}" data-seed="{s.seed}" data-revision="{snap.revision}">'
        f"Month <b>{snap.month}</b> of {snap.steps} · <b>{alive:,}</b> firms alive "
        f"(of {s.n_firms:,} at the start) · {share:.0%} in formal networks · policy spend "
        f"{spent:,.0f} k€ · scenario <b>{html.escape(s.scenario)}</b>, {s.network_mode} "
        f"networks, seed {s.seed}{ended}</div>")
    return solara.HTML(tag="div", unsafe_innerHTML=content,
                       style={"font-size": "1rem", "margin": "6px 0"})


@solara.component
def ShockBanner(snap: state.Snapshot):
    """A banner while a shock lasts (or is about to hit next month)."""
    if not snap.shocks:
        return solara.Div()
    lines = []
    for shock in snap.shocks:
        if shock.running:
            left = shock.stop - snap.month - 1
            lines.append(f"{shock.label} since month {shock.start}: {max(left, 0)} more month"
                         f"{'' if left == 1 else 's'} to go (ends in month {shock.stop})")
        else:
            lines.append(f"{shock.label} fired: it hits next month (month {shock.start}) and "
                         f"lasts {shock.stop - shock.start} months")
    return solara.Warning("Shock: " + "; ".join(lines), classes=["cs-shock-banner"],
                          icon="mdi-flash")


@solara.component
def Controls(draft, seed_text, budgets, *, pending: bool, playing: bool, running: bool,
             on_reset, on_step, on_play, on_shock):
    """Scenario, sliders, switches, seed; reset, play, step; shock buttons."""
    settings: state.ExploreSettings = draft.value
    names = list(shipped_scenarios())

    def set_field(**changes: Any) -> None:
        draft.set(replace(draft.value, **changes))

    def choose_scenario(name: str) -> None:
        try:
            fresh = state.settings_for_scenario(name, seed=draft.value.seed)
        except (state.InputError, ScenarioError) as exc:
            logger.warning("scenario %r refused: %s", name, exc)
            return
        draft.set(fresh)
        budgets.set({p.type: _budget_text(p.budget) for p in fresh.policies})

    with solara.Column(gap="4px"):
        with solara.Row(gap="6px", style={"flex-wrap": "wrap"}):
            solara.Button("Reset", on_click=on_reset, color="primary", classes=["cs-reset"],
                          icon_name="mdi-restart")
            solara.Button("Pause" if playing else "Play", on_click=on_play, color="primary",
                          classes=["cs-play"], disabled=not running and not playing,
                          icon_name="mdi-pause" if playing else "mdi-play")
            solara.Button("Step", on_click=on_step, classes=["cs-step"],
                          disabled=playing or not running, icon_name="mdi-step-forward")
        if pending:
            solara.Info("Settings changed: press Reset to start a run with them.", dense=True,
                        classes=["cs-pending"])
        solara.Select("Scenario", values=names, value=settings.scenario, on_value=choose_scenario)
        solara.SliderInt(f"Firms: {settings.n_firms}", value=settings.n_firms,
                         min=state.MIN_FIRMS, max=state.MAX_FIRMS, step=state.FIRMS_STEP,
                         on_value=lambda v: set_field(n_firms=int(v)))
        solara.SliderFloat(f"Demand volatility: {settings.volatility:.2f}",
                           value=settings.volatility, min=state.VOLATILITY_RANGE[0],
                           max=state.VOLATILITY_RANGE[1], step=0.01,
                           on_value=lambda v: set_field(volatility=round(float(v), 4)))
        solara.SliderFloat(f"Cooperativeness: {settings.cooperativeness:.2f}",
                           value=settings.cooperativeness, min=0.0, max=1.0, step=0.05,
                           on_value=lambda v: set_field(cooperativeness=round(float(v), 4)))
        solara.Text("Production networks:", style={"font-size": "0.85rem"})
        solara.ToggleButtonsSingle(value=settings.network_mode, values=list(state.NETWORK_MODES),
                                   on_value=lambda v: set_field(network_mode=v), dense=True)
        solara.Text("Policies (budget in k€ over the programme):",
                    style={"font-size": "0.85rem", "margin-top": "6px"})
        for choice in settings.policies:
            PolicyControl(draft, budgets, choice)
        solara.InputText("Seed", value=seed_text.value, on_value=seed_text.set,
                         continuous_update=True, error=_checked(state.parse_seed, seed_text.value) or False,
                         classes=["cs-seed"])
        solara.Text("Fire a shock now:", style={"font-size": "0.85rem", "margin-top": "6px"})
        for kind, label in state.SHOCK_BUTTONS.items():
            solara.Button(label, on_click=lambda kind=kind: on_shock(kind), color="warning",
                          outlined=True, disabled=not running, classes=[f"cs-shock-{kind}"],
                          icon_name="mdi-flash")


@solara.component
def PolicyControl(draft, budgets, choice: state.PolicyChoice):
    text = budgets.value.get(choice.type, "")

    def switch(on: bool) -> None:
        draft.set(draft.value.with_policy(choice.type, enabled=bool(on)))

    def set_budget(value: str) -> None:
        budgets.set({**budgets.value, choice.type: value})

    with solara.Row(gap="4px", style={"align-items": "center"}):
        solara.Switch(label=choice.label, value=choice.enabled, on_value=switch)
        solara.InputText("budget k€", value=text, on_value=set_budget, continuous_update=True,
                         error=_checked(state.parse_budget, text, choice.label) or False,
                         dense=True, classes=[f"cs-budget-{choice.type}"],
                         style={"max-width": "110px"})


# --------------------------------------------------------------------------- compare


@solara.component
def Compare():
    from clustersim.dashboard import compare, results

    folder = solara.use_memo(results.results_dir, [])
    refresh = solara.use_reactive(0)
    stores = solara.use_memo(lambda: results.list_stores(folder), [refresh.value])
    typed = solara.use_reactive(stores[0] if stores else "")
    view = solara.use_reactive(None)
    error = solara.use_reactive("")
    request = solara.use_reactive((0, ""))  # (how many opens so far, the store asked for)
    loading = solara.use_reactive(False)

    def load(cancel: threading.Event) -> None:
        count, name = request.value
        if not count:
            return
        try:
            opened = compare.open_view(name, folder)
        except compare.CompareError as exc:
            if not cancel.is_set():
                error.set(str(exc))
                loading.set(False)
            return
        if not cancel.is_set():
            error.set("")
            view.set(opened)
            loading.set(False)

    solara.use_thread(load, dependencies=[request.value], intrusive_cancel=False)

    def open_store() -> None:
        loading.set(True)
        request.set((request.value[0] + 1, typed.value))

    solara.Title("clustersim · compare")
    with solara.Column(style={"padding": "0 8px", "max-width": "1500px"}):
        solara.HTML(tag="h2", unsafe_innerHTML="Compare: policy options from a sweep",
                    style={"margin": "4px 0"})
        Prose(texts.COMPARE_INTRO)
        solara.Text(f"Results folder on the server: {folder.name}/ ({len(stores)} store"
                    f"{'' if len(stores) == 1 else 's'})",
                    style={"font-size": "0.85rem", "color": "#555"})
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            if stores:
                solara.Select("Stores found", values=stores,
                              value=typed.value if typed.value in stores else None,
                              on_value=typed.set, style={"min-width": "260px"})
            else:
                solara.Text("No results stores (.duckdb) in the results folder yet.")
            solara.InputText("Store (a name inside the results folder)", value=typed.value,
                             on_value=typed.set, continuous_update=True, classes=["cs-store-name"],
                             style={"min-width": "320px"})
            solara.Button("Open", on_click=open_store, color="primary", classes=["cs-open"])
            solara.Button("Refresh list", on_click=lambda: refresh.set(refresh.value + 1),
                          text=True)
        if loading.value:
            solara.Text(f"Opening {request.value[1]} ...", classes=["cs-loading"])
            solara.ProgressLinear(True)
        elif error.value:
            solara.Error(error.value, classes=["cs-compare-error"])
        if view.value is not None and not loading.value:
            CompareView(view.value)


@solara.component
def CompareView(view):
    solara.HTML(tag="h3", unsafe_innerHTML=html.escape(view.title), style={"margin": "8px 0 2px"})
    if view.description:
        solara.Text(view.description, style={"font-size": "0.9rem"})
    solara.Text(view.summary, classes=["cs-compare-summary"], style={"font-size": "0.9rem"})
    for title, table_html in view.tables:
        solara.HTML(tag="h4", unsafe_innerHTML=html.escape(title), style={"margin": "10px 0 2px"})
        solara.HTML(tag="div", unsafe_innerHTML=table_html, classes=["cs-arm-table"],
                    style={"overflow-x": "auto", "font-size": "0.85rem"})
    for key, figure in view.figures:
        PlotlyView(figure, name="report-" + key.replace(":", "-"))


__all__ = ["CHART_TITLES", "Compare", "Explore", "Layout"]
