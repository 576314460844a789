"""Broad selections read in table order on SQLite (``selected_datasets``), by the audit's
lifetime rule and by expiry's lifetime candidates alike."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from lifecycle.policy import load_policies, selected_datasets

POLICY = """
[policy]
name = "lifetimes"
description = "test"

[[rule]]
name = "derived-lifetime"
type = "lifetime"
description = "half the mini catalog: derived data"
select = {{ kind = ["derived"] }}
lifetime = "1d"
severity = "info"

[[rule]]
name = "one-dataset-lifetime"
type = "lifetime"
description = "one raw dataset"
select = {{ did = ["{did}"] }}
lifetime = "2d"
severity = "info"
"""


def _policies(tmp_path: Path, did: str):
    path = tmp_path / "lifetimes.toml"
    path.write_text(POLICY.format(did=did))
    return load_policies([path])


def test_broad_selections_are_read_in_table_order_on_sqlite(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    raw = catalog.datasets()
    did = raw[raw["kind"] == "raw"]["did"].iloc[0]
    broad, narrow = _policies(tmp_path, did).rules
    sqlite = catalog.store.engine.dialect.name == "sqlite"
    with catalog.read() as conn:
        assert selected_datasets(conn, broad) == (
            "dataset d NOT INDEXED" if sqlite else "dataset d"
        )
        assert selected_datasets(conn, narrow) == "dataset d"


def test_expiry_reads_its_broad_lifetime_candidates_in_table_order(catalog, mini_dir, tmp_path):
    catalog.import_directory(mini_dir)
    raw = catalog.datasets()
    did = raw[raw["kind"] == "raw"]["did"].iloc[0]
    policies = _policies(tmp_path, did)
    seen: list[str] = []

    def record(conn, cursor, statement, *_):
        if "INSERT INTO tmp_expire_candidate (id, lifetime_seconds" in statement:
            seen.append(" ".join(statement.split()))

    sa.event.listen(catalog.store.engine, "before_cursor_execute", record)
    try:
        catalog.expire(policies, datetime(2030, 1, 1, tzinfo=UTC))
    finally:
        sa.event.remove(catalog.store.engine, "before_cursor_execute", record)
    assert len(seen) == 2  # one candidate insert per lifetime rule
    scanned = [s for s in seen if "FROM dataset d NOT INDEXED" in s]
    sqlite = catalog.store.engine.dialect.name == "sqlite"
    assert len(scanned) == (1 if sqlite else 0)
