"""Regenerate docs/report-SECTION.png: one screenshot per section of the sample catalog's report.

``make docs-screenshots`` runs it. The catalog is the sample catalog with two stored audit runs
(a replica of raw data lost between them, so the trend and the changes show something), its
report as of a fixed time with the lineage of one derived dataset; the page is opened in
Debian's headless chromium through playwright (the system browser: nothing is downloaded) and
each ``<section>`` photographed alone.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

from lifecycle.cli.app import app

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-06-01T00:00:00Z"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def lifecycle(db: Path, *args: str) -> str:
    done = CliRunner().invoke(app, ["--db", str(db), *args])
    if done.exit_code not in (0, 1):
        sys.exit(f"lifecycle {' '.join(args)}: exit {done.exit_code}: {done.output}")
    return done.stdout


def build(work: Path) -> Path:
    db, policies = work / "sample.db", str(ROOT / "policies")
    lifecycle(db, "import", str(ROOT / "sample_catalog"))
    lifecycle(db, "audit", "--policy", policies, "--fail-on", "never", "-q")
    raw = json.loads(lifecycle(db, "datasets", "list", "--kind", "raw", "--format", "json"))
    did = raw["datasets"][0]["did"]
    replicas = json.loads(lifecycle(db, "replicas", "list", did, "--format", "json"))
    endpoint = replicas["replicas"][0]["endpoint"]
    lifecycle(db, "replicas", "mark-lost", did, endpoint, "--reason", "tape lost", "--apply")
    lifecycle(db, "audit", "--policy", policies, "--fail-on", "never", "-q")
    # repair queues new copies; the simulated grid moves them for an hour, some attempts failing
    plan = json.loads(lifecycle(db, "repair", "--policy", policies, "--format", "json"))
    lifecycle(db, "repair", "--policy", policies, "--apply", "--expect", plan["summary"]["digest"])
    lifecycle(db, "transfers", "run", "--simulate", "--hours", "1", "--failure-rate", "0.5",
              "--attempts", "1", "--seed", "3", "--apply")  # fmt: skip
    derived = json.loads(lifecycle(db, "datasets", "list", "--kind", "derived", "--format", "json"))
    decade = work / "decade.json"  # three simulated years, drawn in the Durability section
    lifecycle(db, "simulate", "years", "3", "--policy", policies, "--seed", "1", "--format",
              "json", "-o", str(decade))  # fmt: skip
    page = work / "report.html"
    lifecycle(db, "report", "--policy", policies, "--now", NOW, "-o", str(page), "--fail-on",
              "never", "--lineage", derived["datasets"][-1]["did"], "--decade", str(decade))  # fmt: skip
    return page


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs"
    with tempfile.TemporaryDirectory() as work, sync_playwright() as p:
        page_file = build(Path(work))
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(page_file.as_uri())
        for key in page.eval_on_selector_all("main > section", "all => all.map(s => s.id)"):
            target = out / f"report-{key}.png"
            page.locator(f"section#{key}").screenshot(path=str(target))
            print(f"wrote {target.relative_to(ROOT)}")
        browser.close()


if __name__ == "__main__":
    main()
