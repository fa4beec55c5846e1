"""The report in a real browser: every chart renders, no console errors, no network.

Opens reports of three small stores (a policy comparison with a failed run, a static vs
dynamic grid, a Morris screening) in headless chromium and saves full-page screenshots
to tests/e2e/artifacts/ (report.png is the policy comparison).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from store_fixtures import morris_store, policy_store, static_dynamic_store

from clustersim.experiments.report import write_report

pytestmark = pytest.mark.e2e

# screenshot → (store, the charts its report has at least)
STORES = {
    "report.png": (policy_store, 8),
    "report-static-dynamic.png": (static_dynamic_store, 11),
    "report-morris.png": (morris_store, 2),
}
# Every chart has drawn: an SVG and at least one trace, bar or heat map inside it.
RENDERED = """
() => [...document.querySelectorAll('.plotly-graph-div')].map(div => ({
    id: div.id,
    svg: div.querySelectorAll('svg.main-svg').length,
    marks: div.querySelectorAll('g.trace, g.hm, image').length,
    laidOut: Boolean(div._fullLayout),
}))
"""


@pytest.mark.parametrize("screenshot", list(STORES))
def test_report_renders_in_chromium(page, screenshot_dir: Path, tmp_path: Path,
                                    screenshot: str) -> None:
    make_store, at_least = STORES[screenshot]
    report = write_report(make_store(), tmp_path / "report.html")
    expected = report.read_text(encoding="utf-8").count("<div class='figure'")
    assert expected >= at_least

    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_function(
        "n => [...document.querySelectorAll('.plotly-graph-div')]"
        ".filter(d => d._fullLayout && d.querySelector('svg.main-svg')).length === n",
        arg=expected, timeout=60_000)
    charts = page.evaluate(RENDERED)

    assert len(charts) == expected
    for chart in charts:
        assert chart["laidOut"] and chart["svg"] >= 1, chart
        assert chart["marks"] >= 1, f"chart {chart['id']} drew nothing"
    assert page.console_errors == []
    assert page.page_errors == []
    outside = [url for url in page.requests if not url.startswith(("file:", "data:", "blob:"))]
    assert outside == [], "the report asked the network for something"
    assert page.locator("h1").inner_text().endswith(": results")

    path = screenshot_dir / screenshot
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 50_000


# Every table that is wider than its container must sit in a box that scrolls sideways.
CUT_OFF = """
() => [...document.querySelectorAll('table')].flatMap(table => {
    let box = table.parentElement;
    const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    while (box && !scrolls(box) && box !== document.body) box = box.parentElement;
    const container = scrolls(box) ? box : table.parentElement;
    const fits = table.scrollWidth <= container.clientWidth + 1;
    const page = document.documentElement;
    const pageFits = page.scrollWidth <= page.clientWidth + 1;
    return fits || (scrolls(box) && pageFits) ? [] : [{
        table: table.id || table.className || table.rows[0].innerText.slice(0, 40),
        width: table.scrollWidth, container: container.clientWidth}];
})
"""


@pytest.mark.parametrize("make_store", [policy_store, static_dynamic_store])
def test_report_answer_first_and_no_table_cut_off(page, screenshot_dir: Path, tmp_path: Path,
                                                  make_store) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    report = write_report(make_store(), tmp_path / "report.html")
    page.goto(report.as_uri(), wait_until="load")
    if make_store is policy_store:  # the verdict table is on the first screen
        box = page.locator("#verdict-table").bounding_box()
        assert box is not None and box["y"] < 900 and box["y"] + box["height"] <= 900 * 1.05
        assert box["x"] + box["width"] <= 1400
        page.screenshot(path=str(screenshot_dir / "report-1400-first-screen.png"))
    assert page.evaluate(CUT_OFF) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
