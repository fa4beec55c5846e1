"""The dashboard in a real browser: Debian's chromium, driven by playwright.

One server for the module (`clustersim dashboard` in a subprocess on a free port, with a
small results store in its results folder), without internet: its CDN address points at a
closed local port, so the page's browser files must come with the install (solara-assets,
see clustersim/dashboard/assets.py), and the tab of the offline test aborts every request
that leaves this computer. Screenshots and a timing log go to
tests/e2e/artifacts/. Twenty concurrent sessions run in their own browser contexts
through playwright's async API, in a thread of their own (the sync API of the shared
``page`` fixture owns this thread's event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ARTIFACTS, CHROMIUM_ARGS, chromium_executable

pytestmark = pytest.mark.e2e

SERVER_START_SECONDS = 120
WAIT_MS = 60_000
SESSIONS = 20
SESSION_WAIT_MS = 180_000
TIMING_LOG = ARTIFACTS / "dashboard-timing.log"
NO_CDN = "http://127.0.0.1:9/"  # the discard port: nothing answers
OFFLINE_SECONDS = 15


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    results: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def offline_environment(**extra: str) -> dict[str, str]:
    """The server's environment with no internet: Solara's CDN is a closed local port, and no
    cache folder is named (the install's files are used), unless ``extra`` names one."""
    env = {k: v for k, v in os.environ.items() if k != "SOLARA_ASSETS_PROXY_CACHE_DIR"}
    return {**env, "SOLARA_ASSETS_CDN": NO_CDN, **extra}


def timing(line: str) -> None:
    """Print a measured figure and keep it in the timing log."""
    print(line)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with TIMING_LOG.open("a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def small_store(folder: Path) -> Path:
    """Three arms × two replications of a tiny model, written by the store helpers' code."""
    store_fixtures = pytest.importorskip("store_fixtures")
    from clustersim.experiments.execute import execute

    specs = [store_fixtures.spec("dashboard_e2e", point, arm, {},
                                 {"policies": store_fixtures.POLICY.get(arm, [])}, replication)
             for point, arm in enumerate(("baseline", "brokers", "hubs"))
             for replication in range(2)]
    meta = store_fixtures.make_meta("dashboard_e2e",
                                    description="Three arms, two replications (browser test).")
    return store_fixtures.write_store(folder / "dashboard_e2e.duckdb", meta,
                                      [(spec, execute(spec)) for spec in specs])


@contextlib.contextmanager
def running_server(folder: Path, results: Path, env: dict[str, str],
                   token: str | None = None) -> Iterator[Server]:
    """`clustersim dashboard` on a free port until the block ends; its log in folder/server.log.
    With ``token``, the server's url carries it."""
    port = _free_port()
    log = folder / "server.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "clustersim.cli", "dashboard", "--port", str(port),
             "--results", str(results), *(["--token", token] if token else [])],
            cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    link = f"http://127.0.0.1:{port}/" + (f"?token={token}" if token else "")
    running = Server(link, process, log, results)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not running.answers():
            if not running.alive() or time.monotonic() > deadline:
                pytest.fail(f"the dashboard did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        timing(f"server: answered after {time.perf_counter() - started:.1f} s")
        yield running
    finally:
        if running.alive():
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if chromium_executable() is None:
        pytest.skip("chromium not found on PATH")
    folder = tmp_path_factory.mktemp("dashboard")
    results = folder / "results"
    results.mkdir()
    store = small_store(results)
    (folder / "outside.duckdb").write_bytes(store.read_bytes())  # a real store, outside
    try:
        with running_server(folder, results, offline_environment()) as running:
            yield running
    finally:
        log = folder / "server.log"
        shutil.copyfile(log, ARTIFACTS / "dashboard-server.log") if log.exists() else None


# --------------------------------------------------------------------------- helpers


def open_explore(page: Any, server: Server, query: str = "") -> float:
    """Open the explore page; returns the seconds until the map is drawn."""
    started = time.perf_counter()
    page.goto(server.url + query)
    page.locator(".cs-status").wait_for(timeout=WAIT_MS)
    page.locator(".cs-plot-map .main-svg").first.wait_for(timeout=WAIT_MS)
    page.locator(".cs-plot-policy .main-svg").first.wait_for(timeout=WAIT_MS)
    return time.perf_counter() - started


def status(page: Any) -> dict[str, int]:
    element = page.locator(".cs-status")
    return {key: int(element.get_attribute(f"data-{key}"))
            for key in ("month", "alive", "firms", "seed", "revision")}


def chart(page: Any, name: str) -> dict[str, Any]:
    """What plotly.js drew in a chart: its traces' x and y (from ``_fullData``: the figure's
    JSON carries numbers as base64 typed arrays, which plotly.js decodes there), its title
    and how many shapes (shock bands) it has."""
    return page.evaluate(
        """name => {
            const gd = document.querySelector('.cs-plot-' + name + ' .js-plotly-plot');
            return {x: gd._fullData.map(t => Array.from(t.x || [])),
                    y: gd._fullData.map(t => Array.from(t.y || [])),
                    title: (gd.layout.title && gd.layout.title.text) || '',
                    shapes: (gd.layout.shapes || []).length};
        }""", name)


def wait_month(page: Any, month: int) -> None:
    page.locator(f".cs-status[data-month='{month}']").wait_for(timeout=WAIT_MS)


def step_and_time(page: Any, name: str = "survival") -> tuple[float, float]:
    """Press Step; seconds until the status shows the new month, and until the chart has it."""
    month = status(page)["month"] + 1
    started = time.perf_counter()
    page.locator(".cs-step").click()
    wait_month(page, month)
    shown = time.perf_counter() - started
    page.wait_for_function(
        """([name, n]) => {
            const gd = document.querySelector('.cs-plot-' + name + ' .js-plotly-plot');
            return gd && gd._fullData && gd._fullData[0].x.length === n;
        }""", arg=[name, month + 1], timeout=WAIT_MS)
    return shown, time.perf_counter() - started


def screenshot(page: Any, name: str) -> Path:
    """A screenshot of the whole page (the content scrolls inside the layout: tall viewport)."""
    page.set_viewport_size({"width": 1366, "height": 2150})
    page.wait_for_timeout(600)  # let plotly resize to the new viewport
    path = ARTIFACTS / name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    return path


def only_local(requests: list[str], server: Server) -> list[str]:
    """Requests that went anywhere but the dashboard's own server."""
    base = server.url.rstrip("/")
    return [u for u in requests if not u.startswith((base, "blob:", "data:"))]


# --------------------------------------------------------------------------- the pages


def test_explore_page_loads_without_errors(server, page, console_errors, page_errors, requests):
    seconds = open_explore(page, server)
    timing(f"explore page (400 firms): map and charts drawn {seconds:.2f} s after opening")
    page.wait_for_timeout(1500)  # late errors (fonts, widgets) show up here
    assert console_errors == [] and page_errors == []
    assert only_local(requests, server) == []  # nothing from the internet
    first = status(page)
    assert (first["month"], first["firms"], first["seed"]) == (0, 400, 0)
    assert "Month 0" in chart(page, "map")["title"]
    text = page.locator("body").inner_text()
    for word in ("agent-based model", "Firm", "Tie", "Broker", "Service hub"):
        assert word in text or word.lower() in text.lower()
    screenshot(page, "explore.png")
    drawn = [step_and_time(page)[1] for _ in range(3)]
    timing("step + redraw at 400 firms, click to charts redrawn (s): "
           + ", ".join(f"{s:.2f}" for s in drawn) + f" (load average {os.getloadavg()[0]:.1f})")
    assert console_errors == [] and page_errors == []


def installed_files() -> set[str]:
    """The files solara-assets installed (``<package>@<version>/...``): the install, not a cache."""
    import importlib.metadata

    names = set()
    for file in importlib.metadata.distribution("solara-assets").files or []:
        parts = file.parts
        if "cdn" in parts:
            names.add("/".join(parts[parts.index("cdn") + 1:]))
    return names


def test_page_works_without_internet(server, page, console_errors, page_errors):
    """Only this computer answers (the tab aborts every other request, the server's CDN is a
    closed port): the explore page shows its scenario picker within 15 s."""
    left = []

    def local_only(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "http://localhost", "data:",
                           "blob:")):
            route.continue_()
        else:
            left.append(url)
            route.abort()

    page.route("**/*", local_only)
    started = time.perf_counter()
    page.goto(server.url)
    page.get_by_text("Scenario", exact=True).first.wait_for(timeout=OFFLINE_SECONDS * 1000)
    timing(f"offline: scenario picker shown {time.perf_counter() - started:.1f} s after opening")
    page.locator(".cs-plot-map .main-svg").first.wait_for(timeout=WAIT_MS)  # plotly.js: local
    assert left == [] and console_errors == [] and page_errors == []
    cdn = "/_solara/cdn/"
    served = {u.split(cdn, 1)[1].split("?")[0] for u in page.requests if cdn in u}
    assert served and served <= installed_files()  # every front-end file came with the install
    assert "Could not load URL" not in server.log.read_text()
    screenshot(page, "explore-offline.png")


def test_missing_browser_files_are_said_in_the_terminal_and_on_the_page(page, tmp_path):
    """No browser files (an empty folder named, no CDN): one line at start-up with the fix,
    and the page shows readable text, not white."""
    empty = tmp_path / "empty"
    empty.mkdir()
    env = offline_environment(SOLARA_ASSETS_PROXY_CACHE_DIR=str(empty))
    with running_server(tmp_path, tmp_path, env) as bare:
        log = bare.log.read_text()
        (line,) = [x for x in log.splitlines() if "browser files are missing" in x]
        assert f"fix: python -m clustersim.dashboard.assets {empty}" in line
        page.goto(bare.url)
        heading = page.get_by_text("The dashboard could not load its browser files")
        heading.wait_for(timeout=OFFLINE_SECONDS * 1000)
        assert "solara-assets" in page.locator("body").inner_text()
        screenshot(page, "assets-missing.png")


def test_token_lets_in_only_its_link(page, tmp_path):
    with running_server(tmp_path, tmp_path, offline_environment(), token="workshop-2024") as gated:
        bare = gated.url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError, match="403"):
            urllib.request.urlopen(bare, timeout=5)
        page.goto(gated.url)  # the link sets the cookie; the page's websocket carries it
        page.locator(".cs-status").wait_for(timeout=WAIT_MS)
        page.goto(bare)  # and the cookie alone now lets this browser in
        page.locator(".cs-status").wait_for(timeout=WAIT_MS)


def test_slider_then_step_changes_the_charts(server, page, console_errors, page_errors):
    open_explore(page, server)
    page.get_by_text("What am I looking at?").click()  # the glossary opens
    track = page.locator(".v-slider").first  # Firms: 20 to 1,000, by 10
    box = track.bounding_box()
    page.mouse.click(box["x"] + box["width"] * (300 - 20) / 980, box["y"] + box["height"] / 2)
    thumb = page.locator("[role=slider]").first
    page.wait_for_function("el => el.getAttribute('aria-valuenow') !== '400'",
                           arg=thumb.element_handle(), timeout=WAIT_MS)
    firms = int(thumb.get_attribute("aria-valuenow"))
    assert 250 <= firms <= 350, firms
    page.get_by_text(f"Firms: {firms}").wait_for(timeout=WAIT_MS)
    page.locator(".cs-pending").wait_for(timeout=WAIT_MS)  # "press Reset to start a run"
    started = time.perf_counter()
    page.locator(".cs-reset").click()
    page.locator(f".cs-status[data-firms='{firms}'][data-month='0']").wait_for(timeout=WAIT_MS)
    page.wait_for_function(
        """n => {
            const gd = document.querySelector('.cs-plot-survival .js-plotly-plot');
            return gd && gd._fullData && gd._fullData[0].y[0] === n;
        }""", arg=firms, timeout=WAIT_MS)
    timing(f"reset to {firms} firms: new run shown after {time.perf_counter() - started:.2f} s")
    before = chart(page, "survival")
    assert before["x"][0] == [0] and before["y"][0] == [firms]
    for month in (1, 2, 3):
        shown, drawn = step_and_time(page)
        timing(f"step to month {month} with {firms} firms: status {shown:.2f} s, charts "
               f"redrawn {drawn:.2f} s after the click")
    after = chart(page, "survival")
    assert after["x"][0] == [0, 1, 2, 3]
    assert "Month 3" in chart(page, "map")["title"]
    assert chart(page, "innovation")["x"][0] == [0, 1, 2, 3]
    assert console_errors == [] and page_errors == []


def test_shock_button_turns_the_banner_on(server, page, console_errors, page_errors):
    open_explore(page, server, "?firms=200&seed=3")
    assert page.locator(".cs-shock-banner").count() == 0
    page.locator(".cs-step").click()
    wait_month(page, 1)
    page.locator(".cs-shock-demand_drop").click()
    banner = page.locator(".cs-shock-banner")
    banner.wait_for(timeout=WAIT_MS)
    assert "Demand drop fired" in banner.inner_text()
    page.locator(".cs-shock-supply_disruption").click()
    page.get_by_text("Supply disruption fired").wait_for(timeout=WAIT_MS)
    step_and_time(page)
    page.get_by_text("Demand drop since month 2").wait_for(timeout=WAIT_MS)
    assert chart(page, "survival")["shapes"] == 2  # a red band per shock
    screenshot(page, "explore-shock.png")
    assert console_errors == [] and page_errors == []


def test_play_runs_until_pause(server, page, console_errors, page_errors):
    open_explore(page, server, "?firms=60&seed=5")
    page.locator(".cs-play").click()  # Play
    page.wait_for_function(
        "() => +document.querySelector('.cs-status').dataset.month >= 3", timeout=WAIT_MS)
    assert page.locator(".cs-step").is_disabled()  # no stepping by hand while playing
    page.locator(".cs-play").click()  # Pause
    page.wait_for_function("() => !document.querySelector('.cs-step').disabled",
                           timeout=WAIT_MS)
    paused = status(page)["month"]
    page.wait_for_timeout(1500)
    assert status(page)["month"] <= paused + 1  # at most the month in progress finishes
    still = status(page)["month"]
    page.wait_for_timeout(1000)
    assert status(page)["month"] == still
    assert len(chart(page, "survival")["x"][0]) == still + 1
    assert console_errors == [] and page_errors == []


def test_invalid_input_is_refused_with_a_message(server, page, console_errors, page_errors):
    open_explore(page, server, "?firms=100&seed=abc&colour=red")
    notice = page.locator(".cs-notice")
    assert "Seed: 'abc' is not a whole number" in notice.inner_text()  # a bad link opens anyway
    assert "unknown setting 'colour'" in notice.inner_text()
    seed = page.locator(".cs-seed input")
    seed.fill("twelve")
    page.locator(".cs-seed.error--text, .cs-seed .error--text").first.wait_for(timeout=WAIT_MS)
    page.locator(".cs-budget-brokers input").fill("lots")
    page.locator(".cs-reset").click()
    page.get_by_text("Not reset: Seed: 'twelve' is not a whole number").wait_for(timeout=WAIT_MS)
    assert "Network brokers: 'lots' is not a number of k€" in notice.inner_text()
    assert status(page)["firms"] == 100  # the old run is still there, and still steps
    step_and_time(page)
    seed.fill("7")
    page.locator(".cs-budget-brokers input").fill("2500")
    page.locator(".cs-reset").click()
    page.locator(".cs-status[data-seed='7'][data-month='0']").wait_for(timeout=WAIT_MS)
    assert page.locator(".cs-notice").count() == 0
    assert server.answers()
    assert console_errors == [] and page_errors == []


def test_compare_page_shows_the_arms_of_a_store(server, page, console_errors, page_errors):
    page.goto(server.url + "compare")
    page.get_by_text("Compare: policy options from a sweep").wait_for(timeout=WAIT_MS)
    assert "replications" in page.locator("body").inner_text()
    name = page.locator(".cs-store-name input")
    assert name.input_value() == "dashboard_e2e.duckdb"  # the store found in the folder
    started = time.perf_counter()
    page.locator(".cs-open").click()
    table = page.locator(".cs-arm-table").first
    table.wait_for(timeout=WAIT_MS)
    page.locator(".cs-plot .main-svg").first.wait_for(timeout=WAIT_MS)
    timing(f"compare page: store opened and drawn in {time.perf_counter() - started:.2f} s")
    text = table.inner_text()
    for arm in ("baseline", "brokers", "hubs"):
        assert arm in text
    assert "3 arms: baseline, brokers, hubs" in page.locator(".cs-compare-summary").inner_text()
    screenshot(page, "compare.png")
    for outside, message in (("../outside.duckdb", "only files inside the results folder"),
                             (str(server.results.parent / "outside.duckdb"), "not an absolute path"),
                             ("missing.duckdb", "no such store")):
        name.fill(outside)
        page.locator(".cs-open").click()
        page.locator(".cs-compare-error", has_text=message).wait_for(timeout=WAIT_MS)
    assert server.answers()
    assert console_errors == [] and page_errors == []


# --------------------------------------------------------------------------- many sessions


def _expected(firms: int, seed: int, months: int) -> int:
    """Firms alive after ``months`` in a model of our own with the session's settings."""
    from clustersim.dashboard.state import ExploreSession, settings_from_query

    session = ExploreSession(settings_from_query(f"firms={firms}&seed={seed}")[0])
    session.step(months)
    return int(session.model.stats["firms_alive"])


async def _session(browser: Any, url: str, index: int, firms: int, seed: int,
                   months: int) -> dict[str, Any]:
    # a smaller window: a fifth less drawing for twenty pages on two cores
    context = await browser.new_context(viewport={"width": 960, "height": 700})
    page = await context.new_page()
    page.set_default_timeout(SESSION_WAIT_MS)  # twenty pages load at once on two cores
    page.set_default_navigation_timeout(SESSION_WAIT_MS)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    started = time.perf_counter()
    await page.goto(f"{url}?firms={firms}&seed={seed}")
    status_element = page.locator(".cs-status")
    await status_element.wait_for()
    await page.locator(".cs-plot-map .main-svg").first.wait_for()
    loaded = time.perf_counter() - started
    for month in range(1, months + 1):
        await page.locator(".cs-step").click()
        await page.locator(f".cs-status[data-month='{month}']").wait_for()
    values = {key: int(await status_element.get_attribute(f"data-{key}"))
              for key in ("firms", "seed", "month", "alive")}
    await page.wait_for_function(  # the map follows the status line
        """m => {
            const gd = document.querySelector('.cs-plot-map .js-plotly-plot');
            return gd && gd.layout.title.text.startsWith('Month ' + m + ':');
        }""", arg=months)
    title = await page.evaluate(
        "() => document.querySelector('.cs-plot-map .js-plotly-plot').layout.title.text")
    await context.close()
    return {"index": index, "loaded": loaded, "seconds": time.perf_counter() - started,
            "errors": errors, "map_title": title, **values}


def _run_sessions(url: str, plan: list[tuple[int, int]], months: int) -> list[dict[str, Any]]:
    from playwright.async_api import async_playwright

    async def main() -> list[dict[str, Any]]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
            try:
                return await asyncio.gather(*(
                    _session(browser, url, i, firms, seed, months)
                    for i, (firms, seed) in enumerate(plan)))
            finally:
                await browser.close()

    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            outcome["sessions"] = asyncio.run(main())
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=worker, name="twenty-sessions")
    thread.start()
    thread.join(timeout=600)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["sessions"]


def test_twenty_concurrent_sessions_each_step_their_own_model(server):
    months = 2
    plan = [(20 + 5 * i, 100 + i) for i in range(SESSIONS)]  # every session differs
    started = time.perf_counter()
    sessions = _run_sessions(server.url, plan, months)
    timing(f"{SESSIONS} concurrent sessions (20-115 firms, {months} steps each) in "
           f"{time.perf_counter() - started:.1f} s; slowest page opened in "
           f"{max(s['loaded'] for s in sessions):.1f} s")
    for session, (firms, seed) in zip(sessions, plan, strict=True):
        assert session["errors"] == [], session
        assert (session["firms"], session["seed"], session["month"]) == (firms, seed, months)
        assert session["alive"] == _expected(firms, seed, months), session
        assert re.match(rf"Month {months}: {session['alive']:,} firms", session["map_title"])
    assert server.answers()
