"""The catalog layer: tables, storage, migrations and named queries."""

from lifecycle.catalog.facade import Catalog

__all__ = ["Catalog"]
