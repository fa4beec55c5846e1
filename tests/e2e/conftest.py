"""Browser fixtures for the end-to-end tests: Debian's chromium driven by playwright.

Never `playwright install`: the tests use the system chromium (`shutil.which`) with the
flags docs/developing.md T10 lists, in a fresh profile folder per test session. Without
chromium or playwright the browser tests are skipped, with the reason.

Fixtures: ``browser_context`` (session), ``page`` (a new tab per test, its console
errors, page errors and network requests recorded), ``console_errors``,
``page_errors``, ``requests`` and ``screenshot_dir`` (tests/e2e/artifacts/).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def chromium_executable() -> str | None:
    """The system chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless chromium with a fresh profile, shared by the session's tests."""
    executable = chromium_executable()
    if executable is None:
        message = ("chromium not found on PATH: install Debian's `chromium` package "
                   "(never `playwright install`)")
        if os.environ.get("CLUSTERSIM_REQUIRE_BROWSER"):  # set by .ci/run: never skip in CI
            pytest.fail(message)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e .[test])")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1366, "height": 900}, device_scale_factor=1)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A new tab. ``page.console_errors``, ``page.page_errors`` and ``page.requests``
    (every URL it asked for) fill in as it runs; the tab closes after the test."""
    tab = browser_context.new_page()
    tab.console_errors = []
    tab.page_errors = []
    tab.requests = []
    tab.on("console", lambda message: tab.console_errors.append(message.text)
           if message.type == "error" else None)
    tab.on("pageerror", lambda error: tab.page_errors.append(str(error)))
    tab.on("request", lambda request: tab.requests.append(request.url))
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture
def console_errors(page: Any) -> list[str]:
    """Console messages of type error in this test's tab."""
    return page.console_errors


@pytest.fixture
def page_errors(page: Any) -> list[str]:
    """Uncaught JavaScript exceptions in this test's tab."""
    return page.page_errors


@pytest.fixture
def requests(page: Any) -> list[str]:
    """Every URL this test's tab requested."""
    return page.requests


@pytest.fixture
def screenshot_dir() -> Path:
    """tests/e2e/artifacts/ (created; not committed): where tests save screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
