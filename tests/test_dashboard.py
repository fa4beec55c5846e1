"""The dashboard's logic without a browser: input checks, sessions, shocks, figures, the
results folder, the compare view and the ``clustersim dashboard`` command.

Browser tests are in tests/e2e/test_dashboard_browser.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clustersim.dashboard import compare, figures, results, server, state
from clustersim.dashboard.shocks import fire_shock, shock_config
from clustersim.dashboard.state import ExploreSession, InputError, settings_for_scenario

SMALL = 40  # firms: each session model here builds in well under a second


def small_settings(scenario: str = "baseline", **changes) -> state.ExploreSettings:
    return replace(settings_for_scenario(scenario), **{"n_firms": SMALL, **changes})


# --------------------------------------------------------------------------- text fields


@pytest.mark.parametrize(("text", "value"), [("42", 42), (" 7 ", 7), ("0", 0), ("1,000", 1000),
                                             (str(2**32 - 1), 2**32 - 1), (5, 5)])
def test_seed_accepts_whole_numbers(text, value):
    assert state.parse_seed(text) == value


@pytest.mark.parametrize("text", ["", "  ", "abc", "1.5", "-3", "1e3", str(2**32), "9" * 5000,
                                  "0x10", None, "١٢"])
def test_seed_refuses_anything_else_with_a_message(text):
    with pytest.raises(InputError, match=r"^Seed: "):
        state.parse_seed(text)


@pytest.mark.parametrize(("text", "value"), [("5000", 5000.0), ("2.5e3", 2500.0), (" 0 ", 0.0),
                                             ("1,200.5", 1200.5), (".5", 0.5)])
def test_budget_accepts_amounts(text, value):
    assert state.parse_budget(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-1", "nan", "inf", "1e10", "5000 k€", "1e999"])
def test_budget_refuses_text_negative_and_huge(text):
    with pytest.raises(InputError, match=r"^Grants: "):
        state.parse_budget(text, "Grants")


@pytest.mark.parametrize("value", ["abc", 5, 1001, 20.5, "nan", None])
def test_firm_count_is_checked(value):
    with pytest.raises(InputError, match=r"^Firms: "):
        state.parse_firms(value)
    assert state.parse_firms("400") == 400


def test_scenario_must_be_shipped():
    with pytest.raises(InputError, match="not a shipped scenario"):
        state.parse_scenario_name("../../etc/passwd")
    assert state.parse_scenario_name("baseline") == "baseline"


# --------------------------------------------------------------------------- settings


def test_defaults_follow_the_scenario():
    base = settings_for_scenario("baseline")
    assert base.n_firms == state.DEFAULT_FIRMS  # baseline has 1,000: capped for the browser
    assert [p.type for p in base.policies] == list(state.POLICY_DEFAULTS)
    assert not any(p.enabled for p in base.policies)
    assert base.policy("brokers").budget == 5000.0  # the config class's default

    emilia = settings_for_scenario("emilia_romagna")
    assert emilia.policy("hubs").enabled and emilia.policy("hubs").budget == 7200.0
    assert emilia.policy("brokers").enabled and emilia.policy("brokers").budget == 9000.0
    assert not emilia.policy("challenge_grants").enabled
    assert emilia.cooperativeness == 0.8


def test_scenario_built_from_the_controls():
    settings = (small_settings("emilia_romagna", volatility=0.3, cooperativeness=0.25,
                               network_mode="static")
                .with_policy("brokers", enabled=False)
                .with_policy("challenge_grants", enabled=True, budget=1234.0)
                .with_policy("hubs", budget=100.0))
    scenario = state.build_scenario(settings)
    assert scenario.firms.count == SMALL
    assert scenario.market.volatility == 0.3
    assert scenario.region.cooperativeness == 0.25
    assert scenario.network_mode == "static"
    by_type = {p.type: p for p in scenario.policies}
    assert set(by_type) == {"hubs", "challenge_grants"}
    assert by_type["hubs"].count == 2  # the scenario's own programme, with the new budget
    assert by_type["hubs"].budget == 100.0
    assert by_type["challenge_grants"].budget == 1234.0
    assert scenario.outputs.firm_table_steps == []


def test_link_settings_are_checked_one_by_one():
    settings, problems = state.settings_from_query("scenario=dynamic&firms=120&seed=9&mode=static")
    assert (settings.scenario, settings.n_firms, settings.seed, settings.network_mode) == (
        "dynamic", 120, 9, "static")
    assert problems == []
    settings, problems = state.settings_from_query("firms=lots&seed=-1&colour=red&volatility=2")
    assert settings == settings_for_scenario("baseline")
    assert len(problems) == 4
    assert any(p.startswith("Firms: ") for p in problems)
    assert any("unknown setting 'colour'" in p for p in problems)


def test_validated_refuses_bad_values_from_a_crafted_message():
    with pytest.raises(InputError, match="Network mode"):
        small_settings(network_mode="fluid").validated()
    with pytest.raises(InputError, match="Demand volatility"):
        small_settings(volatility="high").validated()


# --------------------------------------------------------------------------- sessions


def test_sessions_are_independent_and_deterministic():
    from clustersim.model import ClusterModel

    a = ExploreSession(small_settings(seed=1))
    b = ExploreSession(small_settings(seed=2, n_firms=60))
    for _ in range(3):
        a.step()
    assert (a.model.steps, b.model.steps) == (3, 0)
    assert b.model.firms.n == 60 and a.model.initial_cohort == SMALL
    alone = ClusterModel(state.build_scenario(a.settings), seed=1)
    for _ in range(3):
        alone.step()
    # stepping a session is stepping its own model (NaN ratios compared as equal)
    assert alone.timeseries().equals(a.model.timeseries())


def test_reset_applies_settings_and_keeps_the_old_model_on_error():
    session = ExploreSession(small_settings())
    session.step()
    before = session.model
    with pytest.raises(InputError, match="Seed"):
        session.reset(replace(session.settings, seed="abc"))
    assert session.model is before
    session.reset(replace(session.settings, seed=5, n_firms=50))
    assert session.model is not before
    assert (session.model.steps, session.model.firms.n, session.settings.seed) == (0, 50, 5)


def test_a_fired_shock_hits_next_month_and_the_banner_says_so():
    session = ExploreSession(small_settings())
    session.step()
    session.fire_shock("demand_drop")
    [status] = state.shock_statuses(session.model)
    assert (status.label, status.start, status.running) == ("Demand drop", 2, False)
    assert session.model.market.demand_index() > 0.0
    before = session.model.market.demand_index()
    session.step()
    [status] = state.shock_statuses(session.model)
    assert status.running and status.stop == 2 + 12
    assert session.model.stats["shock_active"] == 1
    assert session.model.market.demand_index() < 0.75 * before  # half the demand, with noise
    assert session.model.events_frame().to_dict("records") == [
        {"month": 2, "shock": "demand_drop#0", "event": "start"}]


def test_supply_disruption_and_low_cost_competition_fire_too():
    session = ExploreSession(small_settings())
    session.fire_shock("supply_disruption")
    session.fire_shock("low_cost_competition")
    benchmark = session.model.market.benchmark.copy()
    session.step()
    model = session.model
    assert model.firms.disrupted[: model.firms.n].sum() == round(0.2 * SMALL)
    assert (model.market.benchmark >= benchmark).all() and (model.market.benchmark > benchmark).any()
    assert {s.label for s in state.shock_statuses(model)} == {"Supply disruption",
                                                              "Low-cost competition"}


def test_shocks_are_refused_when_unknown_or_after_the_run():
    session = ExploreSession(small_settings())
    with pytest.raises(InputError, match="Shock: 'meteor'"):
        session.fire_shock("meteor")
    session.model.running = False
    with pytest.raises(InputError, match="run has ended"):
        session.fire_shock("demand_drop")
    with pytest.raises(ValueError, match="unknown shock type"):
        shock_config("meteor")
    with pytest.raises(ValueError, match="segment 99 does not exist"):
        fire_shock(session.model, "demand_drop", segments=[99])


def test_step_stops_at_the_end_of_the_run():
    settings = small_settings()
    session = ExploreSession(settings)
    session.model.scenario.steps = 2
    assert session.step() is True
    assert session.step() is False
    assert session.step() is False
    assert session.model.steps == 2


# --------------------------------------------------------------------------- figures


@pytest.fixture(scope="module")
def stepped() -> ExploreSession:
    session = ExploreSession(replace(settings_for_scenario("emilia_romagna"), n_firms=120))
    for _ in range(3):
        session.step()
    session.fire_shock("supply_disruption")
    session.step()
    return session


def test_ties_are_a_few_traces_of_the_strongest(stepped):
    model = stepped.model
    fig = figures.network_figure(model, "network", max_ties=100)
    lines = [t for t in fig["data"] if t["mode"] == "lines"]
    assert len(lines) == len(figures.TIE_BANDS)  # one trace per trust band, never per tie
    drawn = sum(int(np.isnan(t["x"]).sum()) for t in lines)  # a gap after every tie
    assert drawn == min(100, len(model.ties))
    assert all(np.nanmin(t["y"]) >= 0 for t in lines if len(t["y"]))  # km on the map
    assert len(fig["data"]) < 15
    assert "NaN" not in figures.figure_json(fig)  # gaps are JSON nulls
    strongest = np.sort(model.ties.edges()[2])[-100:]
    widths = {t["line"]["width"] for t in lines if len(t["x"])}
    assert max(widths) == figures.TIE_BANDS[int(np.searchsorted(
        [b[0] for b in figures.TIE_BANDS], strongest[-1], side="right")) - 1][1]


def test_strongest_ties_picks_the_highest_trust():
    trust = np.array([0.3, 0.9, 0.5, 0.95, 0.1])
    assert sorted(figures.strongest_ties(trust, 2).tolist()) == [1, 3]
    assert figures.strongest_ties(trust, 10).tolist() == [0, 1, 2, 3, 4]
    assert figures.strongest_ties(trust, 0).tolist() == []


@pytest.mark.parametrize("colour_by", list(figures.COLOUR_MODES))
def test_every_living_firm_is_drawn_once_with_its_state(stepped, colour_by):
    model = stepped.model
    fig = figures.network_figure(model, colour_by)
    firms = [t for t in fig["data"] if t.get("hovertemplate") and "text" in t
             and t["name"] not in ("service hub", "brokers")]
    assert sum(len(t["x"]) for t in firms) == int(model.firms.alive[: model.firms.n].sum())
    texts = [text for t in firms for text in t["text"]]
    assert all(text.startswith("<b>Firm ") and "employees" in text for text in texts)
    stopped = int((model.firms.disrupted & model.firms.alive)[: model.firms.n].sum())
    assert sum("supply disruption" in text for text in texts) == stopped > 0
    names = {t["name"] for t in fig["data"]}
    assert f"production stopped ({stopped})" in names  # red rings around them
    assert "service hub" in names and "brokers" in names  # emilia_romagna runs both
    assert figures.as_figure(fig).layout.uirevision == "network"  # valid plotly


def test_unknown_colour_mode_is_refused(stepped):
    with pytest.raises(ValueError, match="colour_by"):
        figures.network_figure(stepped.model, "rainbow")


def test_charts_cover_every_month_and_mark_the_shock(stepped):
    charts = figures.chart_figures(stepped.model.timeseries(), figures.shock_periods(stepped.model))
    assert set(charts) == set(figures.CHART_TITLES)
    for fig in charts.values():
        assert len(fig["data"][0]["x"]) == stepped.model.steps + 1
        assert len(fig["layout"]["shapes"]) == 1
        assert fig["layout"]["annotations"][0]["text"] == "supply disruption"
        figures.as_figure(fig)  # every property is one plotly knows
    text = figures.figure_json(charts["survival"])
    assert '"type":"scatter"' in text and "NaN" not in text


def test_snapshot_builds_everything_and_times_it(stepped):
    snap = stepped.snapshot("hub")
    assert set(snap.figures) == {"map", *figures.CHART_TITLES}
    assert snap.month == stepped.model.steps and snap.stats["firms_alive"] > 0
    assert set(snap.seconds) == {"step", "network_figure", "charts"}


# --------------------------------------------------------------------------- results folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    (root / "sub").mkdir(parents=True)
    (root / "a.duckdb").write_bytes(b"x")
    (root / "sub" / "b.duckdb").write_bytes(b"x")
    (root / "notes.txt").write_text("x")
    outside = tmp_path / "secret.duckdb"
    outside.write_bytes(b"x")
    (root / "link.duckdb").symlink_to(outside)
    (root / "inside_link.duckdb").symlink_to(root / "a.duckdb")
    return root


def test_stores_inside_the_folder_resolve(folder):
    assert results.resolve_store("a.duckdb", folder) == folder / "a.duckdb"
    assert results.resolve_store("sub/b.duckdb", folder) == folder / "sub" / "b.duckdb"
    assert results.resolve_store("inside_link.duckdb", folder) == folder / "a.duckdb"
    assert results.list_stores(folder) == ["a.duckdb", "inside_link.duckdb", "sub/b.duckdb"]


@pytest.mark.parametrize(("name", "message"), [
    ("../secret.duckdb", "only files inside the results folder"),
    ("sub/../../secret.duckdb", "only files inside the results folder"),
    ("/etc/passwd", "not an absolute path"),
    ("~/x.duckdb", "not an absolute path"),
    ("link.duckdb", "points outside the results folder"),
    ("notes.txt", "not a results store"),
    ("missing.duckdb", "no such store"),
    ("sub", "not a results store"),
    ("", "Choose a results store"),
    ("a\x00.duckdb", "not a results store name"),
])
def test_anything_outside_the_folder_is_refused(folder, name, message):
    with pytest.raises(results.ResultsPathError, match=message):
        results.resolve_store(name, folder)


def test_results_folder_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    assert results.results_dir() == tmp_path.resolve()
    monkeypatch.delenv(results.RESULTS_ENV)
    assert results.results_dir() == (Path.cwd() / "results").resolve()


# --------------------------------------------------------------------------- compare view


@pytest.fixture(scope="module")
def store_folder(tmp_path_factory) -> Path:
    store_fixtures = pytest.importorskip("store_fixtures")
    folder = tmp_path_factory.mktemp("results")
    store_fixtures.copy_store(store_fixtures.policy_store(), folder)
    (folder / "broken.duckdb").write_bytes(b"not a database at all")
    return folder


def test_compare_view_shows_the_arms(store_folder):
    view = compare.open_view("tiny_policy.duckdb", store_folder)
    assert view.arms == ["baseline", "brokers", "hubs"]
    assert "3 arms" in view.summary and "1 failed" in view.summary
    arms_table = view.tables[0][1]
    for label in ("baseline | shock=none", "brokers | shock=covid", "hubs | shock=none"):
        assert label in arms_table
    assert len(view.tables) == 2  # the arms, and their differences from the baseline
    assert view.figures and all(hasattr(fig, "to_json") for _, fig in view.figures)


def test_compare_refuses_bad_stores_with_a_message(store_folder):
    with pytest.raises(compare.CompareError, match=r"broken\.duckdb") as info:
        compare.open_view("broken.duckdb", store_folder)
    assert str(store_folder) not in str(info.value)  # names the store, not the server's path
    with pytest.raises(compare.CompareError, match="only files inside"):
        compare.open_view("../x.duckdb", store_folder)


def test_tables_escape_names_from_the_store():
    import pandas as pd

    table = pd.DataFrame({"point": [0], "label": ["<script>alert(1)</script>"], "outcome":
                          ["innovations"], "n": [2], "mean": [1.5], "ci_low": [1.0],
                          "ci_high": [2.0]})
    html = compare.arms_html(table)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "1.5 [1, 2]" in html


# --------------------------------------------------------------------------- server and CLI


def test_server_command_line_binds_to_localhost_by_default():
    args = server.solara_arguments(server.DEFAULT_HOST, 8765)
    assert args[:2] == ["run", "clustersim.dashboard.app"]
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert "--production" in args and "--no-check-version" in args
    with pytest.raises(ValueError, match="port"):
        server.check_port(70000)
    env = server.server_environment("some/where")
    assert Path(env[results.RESULTS_ENV]).is_absolute()
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"


def test_dashboard_command(monkeypatch, tmp_path):
    from clustersim import cli, dashboard

    calls = []
    monkeypatch.setattr(dashboard, "serve", lambda **kw: calls.append(kw))
    runner = CliRunner()
    done = runner.invoke(cli.app, ["dashboard", "--results", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert calls == [{"host": "127.0.0.1", "port": 8765, "results_dir": tmp_path, "token": None}]
    done = runner.invoke(cli.app, ["dashboard", "--port", "abc"])
    assert done.exit_code == 2 and calls[1:] == []
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    done = runner.invoke(cli.app, ["dashboard", "--results", str(afile)])
    assert done.exit_code == 2 and "is a file" in done.output
    assert calls[1:] == []


def test_browser_files_are_the_ones_solara_asks_for_and_come_with_the_install():
    from clustersim.dashboard import assets

    files = assets.required_files()
    packages = assets.required_packages(files)
    assert any(p.startswith("@widgetti/solara-vuetify-app@") for p in packages)
    assert any(p.startswith("requirejs@") for p in packages)
    assert any(f.endswith(".min.js") for f in files) and not any("{" in f for f in files)
    # the pin in pyproject.toml holds every package this Solara asks for, and is installed
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert f'"{assets.SOLARA_ASSETS}"' in pyproject
    assert set(packages) <= assets.SOLARA_ASSETS_PACKAGES
    installed = assets.solara_assets_folder()
    assert installed is not None and assets.missing(installed, files) == []
    for package in assets.SOLARA_ASSETS_PACKAGES:
        assert (installed / package / "package.json").is_file()
    page_text = (Path(assets.__file__).parent / "browser" / "custom.js").read_text()
    assert assets.SOLARA_ASSETS in page_text  # the page's own message names the same pin


def test_missing_browser_files_give_one_line_with_the_fix(monkeypatch, tmp_path):
    from clustersim.dashboard import assets

    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path))  # the user's folder, and it is empty
    found = assets.find()
    assert found.folder is None and found.looked_in == tmp_path
    line = found.message()
    assert "\n" not in line and line.startswith("warning: the dashboard's browser files are missing")
    assert found.missing[0] in line and str(tmp_path) in line
    assert line.endswith(f"fix: python -m clustersim.dashboard.assets {tmp_path}")
    # without that variable and without solara-assets: the pip command of the pinned package
    monkeypatch.delenv(assets.CACHE_ENV)
    monkeypatch.setattr(assets, "solara_assets_folder", lambda: None)
    monkeypatch.setattr(assets, "candidates", lambda: [tmp_path])
    assert assets.find().fix == f'pip install "{assets.SOLARA_ASSETS}"'
    # a Solara asking for versions solara-assets lacks: the npm route
    newer = ["@widgetti/solara-vuetify-app@99.0.0/dist/x.js"]
    assert assets.find(newer).fix.startswith("python -m clustersim.dashboard.assets")
    # and serve() prints it before the server starts
    lines = server.startup_warnings("127.0.0.1", None, assets.find())
    assert lines == [assets.find().message()]


def test_prepare_copies_from_solara_assets_without_npm(tmp_path):
    from clustersim.dashboard import assets

    folder = assets.prepare(tmp_path / "offline", npm="/nonexistent/npm")
    assert assets.missing(folder) == []
    assert not list(folder.rglob("*.map"))


def test_open_host_warns_and_the_token_is_checked():
    from clustersim.dashboard.assets import Found

    found = Found(Path("/x"))
    assert server.startup_warnings("127.0.0.1", None, found) == []
    assert server.startup_warnings("localhost", None, found) == []
    assert server.startup_warnings("::1", None, found) == []
    (line,) = server.startup_warnings("0.0.0.0", None, found)
    assert "anyone" in line and "--token" in line
    (line,) = server.startup_warnings("192.168.1.5", "s3cret-token", found)
    assert "anyone" in line and "secret" in line
    assert server.check_token(None) is None and server.check_token("abcd-1234") == "abcd-1234"
    for bad in ("short", "has space in it", "semi;colon-x"):
        with pytest.raises(ValueError, match="token"):
            server.check_token(bad)


def _asgi_get(app, query: str = "", cookie: str = "") -> tuple[int, dict[str, str]]:
    """Status and headers of one GET / through an ASGI app (no HTTP client needed)."""
    import asyncio

    scope = {"type": "http", "method": "GET", "path": "/", "raw_path": b"/", "root_path": "",
             "query_string": query.encode(), "headers": [(b"cookie", cookie.encode())] if cookie
             else [], "scheme": "http", "server": ("127.0.0.1", 80), "http_version": "1.1"}
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    # In a thread of its own: an earlier test of the app may leave this thread's loop running.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def test_token_gate_lets_through_only_the_secret():
    from starlette.responses import PlainTextResponse

    gate = server.TokenGate(PlainTextResponse("inside"), token="s3cret-token")
    assert _asgi_get(gate)[0] == 403
    assert _asgi_get(gate, "token=wrong-token")[0] == 403
    status, headers = _asgi_get(gate, "token=s3cret-token")
    assert status == 200  # and the page's own requests will carry the cookie
    assert headers["set-cookie"].startswith(f"{server.TOKEN_COOKIE}=s3cret-token;")
    assert _asgi_get(gate, cookie=f"{server.TOKEN_COOKIE}=s3cret-token")[0] == 200
    assert _asgi_get(gate, cookie=f"{server.TOKEN_COOKIE}=other-token")[0] == 403


