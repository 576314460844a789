"""Fixtures: a fresh catalog per test on SQLite, and again on PostgreSQL when configured.

``LIFECYCLE_TEST_POSTGRES`` holds a PostgreSQL URL; each test gets its own schema there (through
the connection's ``search_path``), dropped when the test ends.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))

from catalogs import mini, write_catalog  # noqa: E402

from lifecycle.api import Catalog  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = ROOT / "sample_catalog"
POSTGRES = os.environ.get("LIFECYCLE_TEST_POSTGRES")

_BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not POSTGRES, reason="LIFECYCLE_TEST_POSTGRES is not set"),
    ),
]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch, tmp_path):
    """No test reads the developer's LIFECYCLE_DB or LIFECYCLE_POLICY or writes ./lifecycle.db."""
    monkeypatch.delenv("LIFECYCLE_DB", raising=False)
    monkeypatch.delenv("LIFECYCLE_POLICY", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)  # tables take their width from it
    monkeypatch.setenv("LIFECYCLE_ACTOR", "tester")
    monkeypatch.chdir(tmp_path)


def postgres_schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=_BACKENDS)
def backend(request) -> str:
    return request.param


@contextmanager
def _catalog_urls(backend: str, tmp_path: Path) -> Iterator:
    """A factory of empty catalog databases on ``backend``, all removed afterwards."""
    schemas: list[str] = []
    admin = sa.create_engine(POSTGRES) if backend == "postgresql" else None

    def make() -> str:
        if admin is None:
            return f"sqlite:///{tmp_path / f'catalog-{uuid.uuid4().hex[:8]}.db'}"
        schema = f"lc_test_{uuid.uuid4().hex[:16]}"
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        schemas.append(schema)
        return postgres_schema_url(POSTGRES, schema)

    try:
        yield make
    finally:
        if admin is not None:
            with admin.begin() as conn:
                for schema in schemas:
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()


@pytest.fixture
def new_catalog_url(backend, tmp_path):
    """A factory of empty catalog databases on this test's backend, all removed afterwards."""
    with _catalog_urls(backend, tmp_path) as make:
        yield make


@pytest.fixture
def postgres_catalog_url(tmp_path):
    """An empty catalog schema on PostgreSQL, for what only PostgreSQL has (dropped afterwards)."""
    if not POSTGRES:
        pytest.skip("LIFECYCLE_TEST_POSTGRES is not set")
    with _catalog_urls("postgresql", tmp_path) as make:
        yield make()


@pytest.fixture
def catalog_url(new_catalog_url) -> str:
    """The URL of an empty catalog database of its own."""
    return new_catalog_url()


@pytest.fixture
def catalog(catalog_url):
    """A fresh, empty catalog (schema created)."""
    cat = Catalog(catalog_url)
    cat.init()
    yield cat
    cat.close()


@pytest.fixture
def mini_dir(tmp_path) -> Path:
    """The small hand-built catalog of ``tests/catalogs.py`` as a CSV directory."""
    return write_catalog(tmp_path / "mini", mini())


def snapshot(cat: Catalog) -> dict[str, list[tuple]]:
    """Every row of every catalog table, in a stable order."""
    from sqlmodel import SQLModel

    out = {}
    with cat.read() as conn:
        for table in SQLModel.metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted(tuple(map(repr, row)) for row in rows)
    return out


@contextmanager
def write_lock_held(url: str) -> Iterator[None]:
    """Another run holding the catalog's write lock (in a thread) while the block runs."""
    holder = Catalog(url)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.atomic("holder"):
            locked.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(10), "the holder never got the lock"
        yield
    finally:
        release.set()
        thread.join()
        holder.close()
