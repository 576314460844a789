"""``lifecycle report``: the page's numbers, structure, validity, accessibility and files, on
SQLite and PostgreSQL. The browser tests (tests/test_report_browser.py) open the same page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import html5lib
import pytest
from catalogs import mini, write_catalog
from conftest import _BACKENDS, ROOT, SAMPLE_CATALOG, _catalog_urls
from typer.testing import CliRunner

from lifecycle.cli.app import app
from lifecycle.report.page import SECTIONS

runner = CliRunner()
POLICIES = str(ROOT / "policies")
NOW = "2026-06-01T00:00:00Z"
XHTML = "{http://www.w3.org/1999/xhtml}"


def run(url: str, *args: str):
    return runner.invoke(app, ["--db", url, *args])


def sample_report(url: str, out: Path) -> dict:
    """The sample catalog with two stored audit runs (a replica lost between them), its report
    as of NOW, and what ``audit`` and ``overview`` say in JSON at the same time."""
    assert run(url, "import", str(SAMPLE_CATALOG)).exit_code == 0
    assert run(url, "audit", "--policy", POLICIES, "--fail-on", "never", "-q").exit_code == 0
    raw = json.loads(run(url, "datasets", "list", "--kind", "raw", "--format", "json").stdout)
    did = raw["datasets"][0]["did"]
    replicas = json.loads(run(url, "replicas", "list", did, "--format", "json").stdout)
    endpoint = replicas["replicas"][0]["endpoint"]
    lost = run(url, "replicas", "mark-lost", did, endpoint, "--reason", "test", "--apply")
    assert lost.exit_code in (0, 1), lost.output
    assert run(url, "audit", "--policy", POLICIES, "--fail-on", "never", "-q").exit_code == 0
    derived = run(url, "datasets", "list", "--kind", "derived", "--format", "json")
    derived = json.loads(derived.stdout)
    lineage = derived["datasets"][0]["did"]
    done = run(url, "report", "--policy", POLICIES, "--now", NOW, "--lineage", lineage,
               "-o", str(out), "--fail-on", "never")  # fmt: skip
    assert done.exit_code == 0, done.output
    audit = run(url, "audit", "--policy", POLICIES, "--now", NOW, "--format", "json",
                "--fail-on", "never")  # fmt: skip
    overview = run(url, "overview", "--format", "json")
    return {
        "html": out.read_text(encoding="utf-8"),
        "audit": json.loads(audit.stdout),
        "overview": json.loads(overview.stdout),
        "lineage": lineage,
    }


@pytest.fixture(scope="module", params=_BACKENDS)
def reported(request, tmp_path_factory) -> dict:
    """The sample catalog's report, once per module and database (it takes a while)."""
    tmp_path = tmp_path_factory.mktemp("report")
    with _catalog_urls(request.param, tmp_path) as make:
        yield sample_report(make(), tmp_path / "report.html")


def figures(html: str) -> dict[str, str]:
    """``data-key`` -> ``data-value`` of every figure on the page."""
    return dict(re.findall(r'data-key="([^"]*)" data-value="(-?\d+)"', html))


def test_the_numbers_are_those_of_audit_and_overview(reported):
    found = figures(reported["html"])
    audit = reported["audit"]["summary"]
    assert int(found["audit.findings"]) == audit["findings"] > 0
    for severity, n in audit["by_severity"].items():
        assert int(found[f"audit.{severity}"]) == n
    for rule, n in audit["by_rule"].items():
        assert int(found[f"audit.by_rule.{rule}"]) == n
    assert int(found["audit.datasets"]) == audit["datasets"]
    overview = reported["overview"]["summary"]
    for key in ("sites", "endpoints", "datasets", "replicas", "bytes"):
        assert int(found[f"overview.{key}"]) == overview[key]
    kinds = {}
    for row in reported["overview"]["datasets_by_kind"]:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + row["datasets"]
    assert {k: int(found[f"overview.kind.{k}"]) for k in kinds} == kinds


def test_the_history_shows_what_changed_between_the_stored_runs(reported):
    found = figures(reported["html"])
    assert int(found["changes.appeared"]) >= 1  # the lost replica's dataset
    assert 'data-chart="compliance-trend"' in reported["html"]


def test_every_section_is_there_with_what_it_shows(reported):
    html = reported["html"]
    for key in SECTIONS:
        assert re.search(f'<section id="{key}"[^>]*>\\s*<h2 id="h-{key}">', html), key
        assert re.search(f'<h2 id="h-{key}">[^<]+</h2>\\s*<p class="what">[^<]+lifecycle', html)
    assert "Lineage of <code>" in html


def test_the_page_is_valid_html(reported):
    parser = html5lib.HTMLParser(strict=True)
    parser.parse(reported["html"])  # raises on any parse error
    assert not parser.errors


def test_accessibility_basics(reported):
    tree = html5lib.parse(reported["html"])
    assert tree.get("lang") == "en"
    levels = [int(e.tag[-1]) for e in tree.iter() if re.fullmatch(f"{XHTML}h[1-6]", e.tag)]
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    svgs = [e for e in tree.iter() if e.tag.endswith("}svg")]
    assert len(svgs) >= 6
    for svg in svgs:
        title = svg.find("{http://www.w3.org/2000/svg}title")
        assert svg.get("role") == "img"
        assert svg.get("aria-label")
        assert title is not None
        assert title.text.strip()


def test_every_chart_has_its_numbers_behind_it(reported):
    html = reported["html"]
    charts = re.findall(r'<figure><svg[^>]*data-chart="([^"]+)"', html)
    assert {"overview-kinds", "compliance-trend", "storage-endpoints", "lifetime-months"} <= set(
        charts
    )
    parts = html.split("<figure>")[1:]
    for part in parts:
        after = part.split("</figure>", 1)[1]
        assert after.lstrip().startswith("<details><summary>")
        assert "<table>" in after[:400]


def test_self_contained_and_small(reported):
    html = reported["html"]
    assert "<script" not in html
    assert "<link" not in html
    assert not re.search(r'(src|href)="(?!#)', html.replace('xmlns="', "").replace("xmlns:", ""))
    assert "default-src 'none'" in html
    assert len(html.encode()) < 1_000_000
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # charts' ids made unique in the page


def section_text(html: str, key: str) -> str:
    """The text of one section, tags removed."""
    body = html[html.index(f'<section id="{key}"') :]
    return re.sub(r"<[^>]+>", " ", body[: body.index("</section>")])


def test_the_repair_section_shows_the_transfers_and_what_repair_would_do(catalog, tmp_path):
    catalog.import_directory(SAMPLE_CATALOG)
    url, out = catalog.url, tmp_path / "r.html"
    plan = json.loads(run(url, "repair", "--policy", POLICIES, "-f", "json").stdout)
    assert plan["summary"]["transfers"] >= 2
    applied = run(url, "repair", "--policy", POLICIES, "--apply", "--expect",
                  plan["summary"]["digest"])  # fmt: skip
    assert applied.exit_code == 0, applied.output
    assert (
        run(url, "report", "--policy", POLICIES, "-o", str(out), "--fail-on", "never").exit_code
        == 0
    )
    found, html = figures(out.read_text()), out.read_text()
    queued = json.loads(run(url, "transfers", "list", "-f", "json").stdout)
    assert queued["summary"]["by_state"]["queued"] == plan["summary"]["transfers"]
    text = section_text(html, "repair")
    assert re.search(rf"queued\s+{plan['summary']['transfers']}\s", text)
    for site in plan["summary"]["by_target_site"]:  # open transfers by destination site
        assert site in text
    assert int(found["repair.in_flight"]) == plan["summary"]["repaired"]  # all in flight now
    assert int(found["repair.transfers"]) == 0
    # every attempt fails: the failed transfers are listed, and repair plans them again
    failing = run(url, "transfers", "run", "--simulate", "--failure-rate", "1", "--attempts", "1",
                  "--apply")  # fmt: skip
    assert failing.exit_code in (0, 1), failing.output
    assert (
        run(url, "report", "--policy", POLICIES, "-o", str(out), "--fail-on", "never").exit_code
        == 0
    )
    html = out.read_text()
    found, text = figures(html), section_text(html, "repair")
    now = json.loads(run(url, "repair", "--policy", POLICIES, "-f", "json").stdout)["summary"]
    for key in ("violating", "transfers", "in_flight", "lost_for_good"):
        assert int(found[f"repair.{key}"]) == now[key], key
    assert int(found["repair.unrepaired_datasets"]) == now["unrepaired_datasets"]
    assert now["transfers"] == plan["summary"]["transfers"]
    assert "Failed transfers, newest first" in text
    listed = json.loads(run(url, "transfers", "list", "--state", "failed", "-f", "json").stdout)
    for t in listed["transfers"]:
        assert t["did"] in text
    html5lib.HTMLParser(strict=True).parse(html)


def test_the_report_records_nothing(catalog, tmp_path):
    catalog.import_directory(SAMPLE_CATALOG)
    before = len(catalog.journal(None))
    out = tmp_path / "r.html"
    done = run(catalog.url, "report", "--policy", POLICIES, "-o", str(out), "--fail-on", "never")
    assert done.exit_code == 0
    assert len(catalog.journal(None)) == before
    assert catalog.audit_history().empty


def test_a_directory_gets_index_and_a_dated_copy_and_exit_status_as_audit(catalog, tmp_path):
    catalog.import_directory(SAMPLE_CATALOG)
    out = tmp_path / "www"
    fails = run(catalog.url, "report", "--policy", POLICIES, "--now", NOW, "-o", f"{out}/")
    assert fails.exit_code == 1  # the sample catalog has errors: --fail-on error by default
    index, dated = out / "index.html", out / "report-2026-06-01.html"
    assert index.read_bytes() == dated.read_bytes()
    assert "report written to" in fails.output
    again = run(catalog.url, "report", "--policy", POLICIES, "-o", str(out), "--fail-on", "never")
    assert again.exit_code == 0
    assert index.stat().st_mode & 0o044 == 0o044  # readable by a web server


def test_catalog_text_is_escaped(catalog, tmp_path):
    tables = mini()
    hostile = '<script>alert("x")</script>&amp;'
    old = tables["sites"][0]["name"]
    for rows in tables.values():
        for row in rows:
            for key, value in row.items():
                if value == old:
                    row[key] = hostile
    catalog.import_directory(write_catalog(tmp_path / "in", tables))
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[policy]\nname = "p"\n[[rule]]\nname = "two-copies"\ntype = "replication"\n'
        'severity = "error"\nselect = { kind = ["raw"] }\ncopies = 3\n'
    )
    page = catalog.report(policy).html
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;" in page
    html5lib.HTMLParser(strict=True).parse(page)


def test_the_cli_starts_without_matplotlib():
    code = "import sys, lifecycle.cli.app\nprint('matplotlib' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_help_names_the_options():
    found = runner.invoke(app, ["report", "--help"])
    assert found.exit_code == 0
    for option in ("--lineage", "--output", "--fail-on", "--now", "--policy"):
        assert option in found.output


def test_output_into_a_missing_directory_is_refused_before_the_work(catalog, tmp_path):
    for target in (tmp_path / "missing" / "r.html", f"{tmp_path / 'missing' / 'www'}/"):
        done = run(catalog.url, "report", "--policy", POLICIES, "-o", str(target))
        assert done.exit_code == 2
        assert "does not exist" in done.output
    assert not (tmp_path / "missing").exists()


def test_an_empty_catalog_gives_a_valid_page(catalog, tmp_path):
    policy = tmp_path / "p.toml"
    policy.write_text(
        '[policy]\nname = "p"\n[[rule]]\nname = "keep-raw"\ntype = "preservation"\n'
        'select = { kind = ["raw"] }\nseverity = "error"\n'
    )
    out = tmp_path / "empty.html"
    done = run(catalog.url, "report", "--policy", str(policy), "-o", str(out))
    assert done.exit_code == 0, done.output
    html = out.read_text()
    html5lib.HTMLParser(strict=True).parse(html)
    assert figures(html)["audit.findings"] == "0"
    assert figures(html)["overview.datasets"] == "0"


def test_a_saved_simulated_decade_is_drawn_in_the_durability_section(catalog, tmp_path):
    catalog.import_directory(SAMPLE_CATALOG)
    saved = tmp_path / "decade.json"
    done = run(catalog.url, "simulate", "years", "2", "--policy", POLICIES, "--seed", "1",
               "-f", "json", "-o", str(saved))  # fmt: skip
    assert done.exit_code in (0, 1), done.output
    years = json.loads(saved.read_text())["years"]
    out = tmp_path / "r.html"
    made = run(catalog.url, "report", "--policy", POLICIES, "--decade", str(saved), "-o", str(out),
               "--fail-on", "never")  # fmt: skip
    assert made.exit_code == 0, made.output
    html = out.read_text()
    found = figures(html)
    assert int(found["decade.lost"]) == sum(y["lost"] for y in years)
    assert int(found["decade.lost_raw"]) == sum(y["lost_raw"] for y in years)
    text = section_text(html, "durability")
    assert 'data-chart="durability-decade"' in html
    assert "The simulated 2 years" in text
    for y in years:  # the table behind the chart: year, lost to date, raw lost, findings open
        assert re.search(rf"\b{y['year']}\s+\d+\s+\d+\s+{y['findings']}\s+{y['transfers']}\s", text)
    html5lib.HTMLParser(strict=True).parse(html)
    without = run(catalog.url, "report", "--policy", POLICIES, "-o", str(out), "--fail-on", "never")
    assert without.exit_code == 0
    assert 'data-chart="durability-decade"' not in out.read_text()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[1", "not JSON"),
        ('{"kind": "audit", "summary": {}}', "not a saved run of 'lifecycle simulate years"),
        ('{"kind": "simulate-years", "summary": {}, "years": []}', "years: must be a non-empty"),
        ('{"kind": "simulate-years", "summary": {}, "years": [{"year": 1, "lost": true}]}',
         "years[0].lost: must be a whole number"),
        ('{"kind": "simulate-years", "summary": {}, "years": [{"year": 2, "lost": 0, '
         '"lost_raw": 0, "findings": 0, "irreproducible_derived": 0, "transfers": 0}]}',
         "years 1, 2, 3"),
    ],
)  # fmt: skip
def test_a_bad_decade_file_is_one_line_exit_2_before_any_work(catalog, tmp_path, text, says):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    out = tmp_path / "r.html"
    done = run(catalog.url, "report", "--policy", POLICIES, "--decade", str(bad), "-o", str(out))
    assert done.exit_code == 2
    assert says in done.output
    assert f"--decade {bad}" in done.output
    assert len(done.output.strip().splitlines()) == 1
    assert not out.exists()
