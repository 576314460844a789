"""The report in a real browser: Debian's headless Chromium, driven by playwright.

The system browser only (``executable_path``): nothing is downloaded at test time
(``playwright install`` is never run). Without /usr/bin/chromium these tests are skipped with
the reason, except under CI (``CI`` set), where they fail: ``.ci/run`` installs chromium.
The page is the sample catalog's report (tests/test_report.py builds it the same way); the
numbers shown are compared with ``audit --format json`` and ``overview --format json``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import _catalog_urls
from test_report import sample_report

from lifecycle.report.page import SECTIONS

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[dev]')")
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield found
        found.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("browser")
    with _catalog_urls("sqlite", tmp_path) as make:
        found = sample_report(make(), tmp_path / "report.html")
    found["path"] = tmp_path / "report.html"
    return found


@pytest.fixture
def page(browser, report):
    """The report opened in a fresh context; console errors and page errors collected, any
    request leaving the file refused and collected."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    requests: list[str] = []

    def refuse(route):
        requests.append(route.request.url)
        route.abort()

    opened.route("http*://**", refuse)
    opened.goto(report["path"].as_uri())
    opened.problems, opened.requests = problems, requests
    yield opened
    context.close()


def test_no_console_error_and_no_request(page):
    page.wait_for_load_state("load")
    assert page.problems == []
    assert page.requests == []


def test_every_section_is_shown(page):
    for key in SECTIONS:
        section = page.locator(f"section#{key}")
        assert section.is_visible()
        assert section.locator("h2").inner_text().lower() == key
        assert section.locator("p.what").inner_text().strip()


def test_numbers_on_the_page_equal_audit_and_overview(page, report):
    def shown(key: str) -> int:
        element = page.locator(f'[data-key="{key}"]')
        text = element.inner_text()
        value = int(element.get_attribute("data-value"))
        assert text == f"{value:,}"  # as people read it
        return value

    audit = report["audit"]["summary"]
    assert shown("audit.findings") == audit["findings"]
    for severity, n in audit["by_severity"].items():
        assert shown(f"audit.{severity}") == n
    for rule, n in audit["by_rule"].items():
        assert shown(f"audit.by_rule.{rule}") == n
    overview = report["overview"]["summary"]
    for key in ("sites", "endpoints", "datasets", "replicas"):
        assert shown(f"overview.{key}") == overview[key]
    assert (
        int(page.locator('[data-key="overview.bytes"]').get_attribute("data-value"))
        == (overview["bytes"])
    )


def test_charts_are_drawn_and_not_empty(page):
    charts = page.locator("svg.chart")
    assert charts.count() >= 6
    for n in range(charts.count()):
        chart = charts.nth(n)
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 100
        assert box["height"] > 50
        drawn = chart.evaluate("s => s.querySelectorAll('path, rect, polyline, use').length")
        assert drawn > 5
        assert chart.locator("title").first.text_content().strip()


def test_the_tables_behind_the_charts_open(page):
    details = page.locator("figure + details").first
    table = details.locator("table")
    assert not table.is_visible()
    details.locator("summary").click()
    assert table.is_visible()


def test_a_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image, ImageStat

    shot = page.screenshot(full_page=True)
    image = Image.open(io.BytesIO(shot)).convert("L")
    assert image.size[1] > 2000  # the whole page, not one screen
    assert ImageStat.Stat(image).stddev[0] > 20  # text and charts, not one colour
    chart = page.locator("figure svg.chart").first.screenshot()
    assert ImageStat.Stat(Image.open(io.BytesIO(chart)).convert("L")).stddev[0] > 10


def test_readable_with_javascript_disabled(browser, report):
    context = browser.new_context(java_script_enabled=False)
    try:
        opened = context.new_page()
        opened.goto(report["path"].as_uri())
        assert opened.locator("svg.chart").count() >= 6
        assert opened.locator("section#compliance table").first.is_visible()
    finally:
        context.close()
