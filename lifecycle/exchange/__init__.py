"""The catalog exchange format (FORMAT.md): a directory of tables in CSV or Parquet.

- ``spec``: the format's tables and columns as data; imports only leaf modules, so the generator
  writes the format without loading the database stack;
- ``reader``: files read into validated, normalized frames (no database);
- ``exporter``: the catalog read back as exchange tables, and ``export_directory``;
- ``importer``: ``import_directory`` validates a directory completely, then loads it in one
  transaction;
- ``sync``: ``sync_directory`` merges a snapshot of the grid (new rows as import adds them,
  mutable fields updated and journaled, history refused); ``sync_report`` its options and
  report.

Export -> import -> export gives identical tables. The package may import ``catalog`` and leaf
modules. Importing it loads only ``spec``: import the reader, exporter and importer by name.
"""

from lifecycle.exchange.spec import TABLES

__all__ = ["TABLES"]
