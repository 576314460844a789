"""Every table for people stays short at grid scale: a 100,000-dataset catalog (generated), each
report's table output within a line budget, the summary on its first lines.

The budget is what a person reads in a terminal: a summary and the first rows of each part, then
"… and M more (--format json lists all)". `datasets list` shows up to its --limit (100 rows by
default in a table) and is budgeted for that. Marked slow; CI runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifecycle.api import Catalog

ROOT = Path(__file__).resolve().parents[1]
LIFECYCLE = str(Path(sys.executable).parent / "lifecycle")
DATASETS = 100_000
BUDGET = 250  # lines of one table report
LISTING_BUDGET = 400  # `datasets list`: its default of 100 rows, names folded at 120 columns

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> dict[str, str]:
    """A generated catalog of 100 k datasets, audited once, and the names the reports take."""
    tmp = tmp_path_factory.mktemp("budget")
    db = str(tmp / "big.db")
    subprocess.run([LIFECYCLE, "generate", str(tmp / "cat"), "--datasets", str(DATASETS),
                    "--seed", "7"], check=True, capture_output=True)  # fmt: skip
    subprocess.run([LIFECYCLE, "--db", db, "import", str(tmp / "cat")], check=True,
                   capture_output=True)  # fmt: skip
    cat = Catalog(db)
    with cat.read() as conn:

        def one(sql: str) -> str:
            return str(conn.execute(sa.text(sql)).scalar())

        names = {
            "db": db,
            "used": one(
                "SELECT d.did FROM production_input i JOIN dataset d ON d.id = i.dataset_id "
                "GROUP BY d.did ORDER BY count(*) DESC, d.did LIMIT 1"
            ),
            "derived": one(
                "SELECT d.did FROM dataset d JOIN production_output o ON o.dataset_id = d.id "
                "WHERE d.data_type LIKE 'DAOD%' ORDER BY d.did LIMIT 1"
            ),
            "site": one(
                "SELECT s.name FROM replica r JOIN endpoint e ON e.id = r.endpoint_id "
                "JOIN site s ON s.id = e.site_id JOIN dataset d ON d.id = r.dataset_id "
                "GROUP BY s.name ORDER BY sum(d.bytes) DESC, s.name LIMIT 1"
            ),
            "scope": one(
                "SELECT scope FROM dataset WHERE kind = 'raw' GROUP BY scope "
                "ORDER BY count(*) DESC, scope LIMIT 1"
            ),
            "tag": one(
                "SELECT t.tag FROM production p JOIN transformation t "
                "ON t.id = p.transformation_id GROUP BY t.tag ORDER BY count(*) DESC LIMIT 1"
            ),
        }
    cat.close()
    policy = str(ROOT / "policies")
    for args in (["audit", "--policy", policy, "--fail-on", "never"],
                 ["expire", "--policy", policy, "--apply"],
                 ["audit", "--policy", policy, "--fail-on", "never"]):  # fmt: skip
        subprocess.run([LIFECYCLE, "--db", db, *args], check=True, capture_output=True)
    return names


REPORTS = {
    "overview": ["overview"],
    "datasets list": ["datasets", "list"],
    "audit": ["audit", "--policy", "{policies}", "--no-record", "--fail-on", "never"],
    "audit history": ["audit", "history"],
    "audit diff": ["audit", "diff"],
    "expire": ["expire", "--policy", "{policies}"],
    "impact": ["impact", "{used}"],
    "lineage": ["lineage", "{derived}"],
    "recipe": ["recipe", "{derived}"],
    "plan reprocess": [
        "plan",
        "reprocess",
        "--select",
        "kind=raw",
        "--select",
        "scope={scope}",
        "--chain",
        "{tag}",
        "--policy",
        "{policies}",
    ],  # fmt: skip
    "simulate loss": ["simulate", "loss", "--site", "{site}", "--policy", "{policies}"],
    "tradeoff": ["tradeoff"],
    "transformations list": ["transformations", "list"],
    "sites usage": ["sites", "usage"],
    "endpoints usage": ["endpoints", "usage"],
    "journal": ["journal"],
    "pins list": ["pins", "list"],
}


@pytest.mark.parametrize("report", sorted(REPORTS))
def test_table_output_stays_within_its_line_budget(big, report):
    args = [a.format(policies=ROOT / "policies", **big) for a in REPORTS[report]]
    done = subprocess.run(
        [LIFECYCLE, "--db", big["db"], *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert done.returncode in (0, 1), done.stderr
    lines = done.stdout.splitlines()
    budget = LISTING_BUDGET if report == "datasets list" else BUDGET
    assert len(lines) <= budget, f"{report}: {len(lines)} lines\n" + "\n".join(lines[:40])
    assert lines, f"{report}: printed nothing"
