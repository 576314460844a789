"""The catalog store: URLs, schema creation and migrations, locks, the journal."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import write_lock_held

from lifecycle.api import Catalog
from lifecycle.catalog.migrations import HEAD, REVISIONS
from lifecycle.catalog.store import resolve_url
from lifecycle.errors import CatalogError, CatalogLocked, SchemaTooNew


def test_bare_path_means_sqlite_file(tmp_path):
    assert resolve_url(tmp_path / "x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


def test_default_is_lifecycle_db_in_working_directory(tmp_path, monkeypatch):
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'lifecycle.db'}"
    monkeypatch.setenv("LIFECYCLE_DB", str(tmp_path / "env.db"))
    assert resolve_url(None) == f"sqlite:///{tmp_path / 'env.db'}"


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog(tmp_path / "no" / "such" / "dir.db")


def test_revisions_match_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import lifecycle.catalog.store as store

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(cfg)
    assert script.get_heads() == [HEAD]
    walked = [rev.revision for rev in script.walk_revisions()]
    assert list(reversed(walked)) == list(REVISIONS)


def test_reading_where_there_is_no_catalog_fails_and_creates_nothing(catalog_url, mini_dir):
    """A mistyped --db in cron must fail, not report on an empty catalog it just made."""
    from sqlalchemy.engine import make_url

    cat = Catalog(catalog_url)
    with pytest.raises(CatalogError, match="no catalog there"):
        cat.count_datasets()
    database = make_url(catalog_url).database
    if make_url(catalog_url).get_backend_name() == "sqlite":
        assert not Path(database).exists()
    assert cat.revision() is None
    cat.import_directory(mini_dir)  # import (like init) creates the catalog at the head revision
    assert cat.revision() == HEAD
    assert cat.count_datasets() == 4
    cat.close()


def test_migrated_schema_matches_models(catalog):
    """The recorded migrations build exactly the tables the models declare."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with catalog.store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_newer_schema_is_refused(catalog):
    with catalog.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    fresh = Catalog(catalog.url)
    with pytest.raises(SchemaTooNew, match="newer than this lifecycle"):
        fresh.count_datasets()
    fresh.close()


def test_foreign_database_is_refused(tmp_path):
    path = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE dataset (x INTEGER)")
    engine.dispose()
    cat = Catalog(path)
    with pytest.raises(CatalogError, match="not a lifecycle catalog"):
        cat.count_datasets()
    cat.close()


def test_write_while_locked_raises_catalog_locked(catalog, mini_dir, monkeypatch):
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", "0.2")
    with write_lock_held(catalog.url):
        other = Catalog(catalog.url)
        with pytest.raises(CatalogLocked):
            other.import_directory(mini_dir)
        other.close()
    assert catalog.count_datasets() == 0


def test_reads_are_not_blocked_by_a_writer(catalog, mini_dir, monkeypatch):
    catalog.import_directory(mini_dir)
    monkeypatch.setenv("LIFECYCLE_LOCK_TIMEOUT", "0.2")
    with write_lock_held(catalog.url):
        assert len(catalog.datasets()) == 4


def test_atomic_rolls_back_and_journals_only_changes(catalog):
    from lifecycle.catalog.models import Site

    def failing_change():
        with catalog.atomic("test") as (conn, change):
            conn.execute(sa.insert(Site.__table__).values(name="X", tier=1, country="ch"))
            change.summary = "added X"
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        failing_change()
    assert catalog.sites().empty
    assert catalog.journal().empty
    with catalog.atomic("test", reason="because") as (conn, change):
        conn.execute(sa.insert(Site.__table__).values(name="X", tier=1, country="ch"))
        change.summary = "added X"
    entries = catalog.journal()
    assert list(entries["summary"]) == ["added X"]
    assert entries["actor"].iloc[0] == "tester"
    assert entries["reason"].iloc[0] == "because"
    assert entries["command"].iloc[0] == "test"


def test_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 100)
    cat = Catalog(path)
    with pytest.raises(CatalogError, match="file is not a database"):
        cat.count_datasets()
    cat.close()


def test_older_catalog_is_upgraded_on_first_use_keeping_its_data(catalog_url, mini_dir):
    """A catalog at the first revision, holding data, is migrated to head when next used."""
    cat = Catalog(catalog_url, migrate=False)
    _upgrade_to(
        cat,
        REVISIONS[0],
        "INSERT INTO site (id, name, tier, country, status) VALUES (1, 'OLD', 1, 'ch', 'active')",
    )
    assert cat.revision() == REVISIONS[0]
    cat.close()
    fresh = Catalog(catalog_url)
    assert list(fresh.sites()["name"]) == ["OLD"]
    assert fresh.revision() == HEAD
    fresh.close()


def _pragmas(engine) -> tuple[str, int]:
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        mode = driver.execute("PRAGMA journal_mode").fetchone()[0]
        return mode, driver.execute("PRAGMA foreign_keys").fetchone()[0]


def test_bulk_import_leaves_a_new_sqlite_catalog_in_wal_with_foreign_keys_on(tmp_path, mini_dir):
    """Import loads a new file with a rollback journal and without SQLite's per-row foreign key
    lookups; afterwards the file is in WAL and every pooled connection checks references."""
    catalog = Catalog(str(tmp_path / "new.db"))
    seen = []

    def watch(conn, cursor, statement, *_):
        if statement.startswith('INSERT INTO "dataset"') or statement.startswith("BEGIN"):
            driver = conn.connection.driver_connection
            seen.append(driver.execute("PRAGMA foreign_keys").fetchone()[0])

    sa.event.listen(catalog.store.engine, "before_cursor_execute", watch)
    catalog.import_directory(mini_dir)
    sa.event.remove(catalog.store.engine, "before_cursor_execute", watch)
    assert 0 in seen  # the import's transaction ran without them
    assert _pragmas(catalog.store.engine) == ("wal", 1)
    # the pool's connections check references again
    with pytest.raises(sa.exc.IntegrityError), catalog.atomic("test") as (conn, _):
        conn.exec_driver_sql(
            "INSERT INTO replica (dataset_id, endpoint_id, state, created_at) "
            "VALUES (999999, 999999, 'available', '2020-01-01 00:00:00')"
        )
    catalog.close()


def test_bulk_import_into_an_existing_catalog_keeps_wal(tmp_path, mini_dir):
    catalog = Catalog(str(tmp_path / "old.db"))
    catalog.init()
    catalog.import_directory(mini_dir)
    assert _pragmas(catalog.store.engine) == ("wal", 1)
    assert catalog.count_datasets() == 4
    catalog.close()


def test_key_value_tables_lose_their_rowid_on_sqlite_keeping_their_rows(catalog_url):
    """Migration 0005 rebuilds dataset metadata, endpoint attributes and transformation
    parameters without rowid on SQLite (one b-tree, the primary key's); rows survive it."""
    cat = Catalog(catalog_url, migrate=False)
    _upgrade_to(
        cat,
        "0004",
        "INSERT INTO site (id, name, tier, country, status) VALUES (1, 'S', 1, 'ch', 'active')",
        "INSERT INTO endpoint (id, name, site_id, media) VALUES (1, 'S_TAPE', 1, 'tape')",
        "INSERT INTO endpoint_attribute VALUES (1, 'zone', 'b'), (1, 'kind', 'a')",
        "INSERT INTO dataset (id, did, scope, name, kind, bytes, files, created_at, state) "
        "VALUES (1, 's:n', 's', 'n', 'raw', 1, 1, '2020-01-01 00:00:00', 'closed')",
        "INSERT INTO dataset_metadata VALUES (1, 'run_number', '7'), (1, 'project', 'p')",
    )
    cat.close()
    fresh = Catalog(catalog_url)
    with fresh.read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT dataset_id, key, value FROM dataset_metadata ORDER BY key"
        ).all()
        attributes = conn.exec_driver_sql("SELECT key FROM endpoint_attribute ORDER BY key").all()
        if conn.dialect.name == "sqlite":
            tables = dict(
                conn.exec_driver_sql(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN "
                    "('dataset_metadata', 'endpoint_attribute', 'transformation_parameter')"
                ).all()
            )
            assert len(tables) == 3
            assert all(sql.rstrip().endswith("WITHOUT ROWID") for sql in tables.values())
    assert [tuple(r) for r in rows] == [(1, "project", "p"), (1, "run_number", "7")]
    assert [a for (a,) in attributes] == ["kind", "zone"]
    assert fresh.revision() == HEAD
    fresh.close()


def test_dataset_dids_become_a_named_unique_index_keeping_rows_and_references(catalog_url):
    """Migration 0006 replaces the DID table constraint by the unique index ``ix_dataset_did``
    (on SQLite by rebuilding the table others reference): ids, rows and the references to them
    survive, and a duplicate DID is still refused by the database."""
    cat = Catalog(catalog_url, migrate=False)
    _upgrade_to(
        cat,
        "0005",
        "INSERT INTO site (id, name, tier, country, status) VALUES (1, 'S', 1, 'ch', 'active')",
        "INSERT INTO endpoint (id, name, site_id, media) VALUES (1, 'S_TAPE', 1, 'tape')",
        "INSERT INTO dataset (id, did, scope, name, kind, bytes, files, created_at, state) "
        "VALUES (7, 's:a', 's', 'a', 'raw', 1, 1, '2020-01-01 00:00:00', 'closed'), "
        "(3, 's:b', 's', 'b', 'raw', 2, 1, '2020-01-01 00:00:00', 'closed')",
        "INSERT INTO replica (dataset_id, endpoint_id, state, created_at) "
        "VALUES (7, 1, 'available', '2020-01-01 00:00:00')",
        "INSERT INTO dataset_metadata VALUES (3, 'run_number', '7')",
    )
    cat.close()
    fresh = Catalog(catalog_url)
    with fresh.read() as conn:
        assert conn.exec_driver_sql("SELECT id, did FROM dataset ORDER BY id").all() == [
            (3, "s:b"),
            (7, "s:a"),
        ]
        joined = conn.exec_driver_sql(
            "SELECT d.did FROM replica r JOIN dataset d ON d.id = r.dataset_id"
        ).all()
        assert joined == [("s:a",)]
        indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("dataset")}
        assert indexes["ix_dataset_did"]["unique"]
        assert {"ix_dataset_scope", "ix_dataset_data_type", "ix_dataset_kind_data_type"} <= set(
            indexes
        )
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    with pytest.raises(sa.exc.IntegrityError), fresh.atomic("test") as (conn, _):
        conn.exec_driver_sql(
            "INSERT INTO dataset (did, scope, name, kind, bytes, files, created_at, state) "
            "VALUES ('s:a', 's', 'a', 'raw', 1, 1, '2020-01-01 00:00:00', 'closed')"
        )
    # references are checked again once the upgrade is over
    with pytest.raises(sa.exc.IntegrityError), fresh.atomic("test") as (conn, _):
        conn.exec_driver_sql(
            "INSERT INTO replica (dataset_id, endpoint_id, state, created_at) "
            "VALUES (999, 1, 'available', '2020-01-01 00:00:00')"
        )
    assert fresh.revision() == HEAD
    fresh.close()


def _alembic_config():
    """Alembic's configuration for the catalog's migrations (a connection still to be given)."""
    from alembic.config import Config

    import lifecycle.catalog.store as store

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(store.__file__).parent / "migrations"))
    return cfg


def _upgrade_to(cat: Catalog, revision: str, *statements: str) -> None:
    """Bring ``cat`` (opened with ``migrate=False``) to ``revision`` and run ``statements``
    there: an older catalog holding data, for the migrations after it to carry forward."""
    from alembic import command

    cfg = _alembic_config()
    with cat.store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        for sql in statements:
            conn.exec_driver_sql(sql)


def test_audit_findings_name_their_runs_without_foreign_keys_after_0012(catalog_url):
    """Migration 0012 drops the foreign keys of ``audit_finding.first_run`` and ``last_run``
    (PostgreSQL checked them a query per inserted finding), keeping the rows and the indexes;
    its downgrade declares them again."""
    from alembic import command

    cat = Catalog(catalog_url, migrate=False)
    _upgrade_to(
        cat,
        "0011",
        "INSERT INTO audit_run (id, started_at, as_of, actor, policy_hash, policies, rule_names, "
        "rules, findings, errors, warnings, infos, seconds) VALUES "
        "(1, '2020-01-01 00:00:00', '2020-01-01 00:00:00', 'a', 'h', 'p', '[\"r\"]', 1, 2, 2, "
        "0, 0, 0.1), (2, '2020-01-02 00:00:00', '2020-01-02 00:00:00', 'a', 'h', 'p', "
        "'[\"r\"]', 1, 1, 1, 0, 0, 0.1)",
        "INSERT INTO audit_finding (id, first_run, last_run, rule, policy, did, severity, "
        "message, details) VALUES (1, 1, 1, 'r', 'p', 's:a', 'error', 'm', '{}'), "
        "(2, 1, NULL, 'r', 'p', 's:b', 'error', 'm', '{}')",
    )
    cat.close()
    fresh = Catalog(catalog_url)
    rows = "SELECT id, first_run, last_run, did FROM audit_finding ORDER BY id"
    kept = [(1, 1, 1, "s:a"), (2, 1, None, "s:b")]
    indexes = {"ix_audit_finding_first_run", "ix_audit_finding_open", "ix_audit_finding_rule_did"}
    with fresh.read() as conn:
        assert [tuple(r) for r in conn.exec_driver_sql(rows)] == kept
        assert sa.inspect(conn).get_foreign_keys("audit_finding") == []
        assert indexes <= {i["name"] for i in sa.inspect(conn).get_indexes("audit_finding")}
    assert fresh.revision() == HEAD == "0012"
    cfg = _alembic_config()
    with fresh.store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
        foreign = sa.inspect(conn).get_foreign_keys("audit_finding")
        assert sorted((k["constrained_columns"], k["referred_table"]) for k in foreign) == [
            (["first_run"], "audit_run"),
            (["last_run"], "audit_run"),
        ]
        assert [tuple(r) for r in conn.exec_driver_sql(rows)] == kept
        assert indexes <= {i["name"] for i in sa.inspect(conn).get_indexes("audit_finding")}
    with pytest.raises(sa.exc.IntegrityError), fresh.store.engine.begin() as conn:
        conn.exec_driver_sql(  # a finding of no run is refused again
            "INSERT INTO audit_finding (first_run, rule, policy, did, severity, message, details) "
            "VALUES (99, 'r', 'p', 's:c', 'error', 'm', '{}')"
        )
    fresh.close()
