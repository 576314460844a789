"""The catalog exchange format (FORMAT.md): a directory of tables in CSV or Parquet.

``import_directory`` validates a directory completely, then loads it in one transaction;
``export_directory`` writes the catalog back in the same shape, so that export -> import -> export
gives identical tables.
"""

from lifecycle.exchange.exporter import export_directory
from lifecycle.exchange.importer import ImportResult, import_directory
from lifecycle.exchange.spec import TABLES

__all__ = ["TABLES", "ImportResult", "export_directory", "import_directory"]
