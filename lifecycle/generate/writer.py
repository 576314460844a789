"""``generate()``: build a catalog and write its eight tables as Parquet, each atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.generate.builder import ProgressCallback, build
from lifecycle.generate.tables import TABLES, schemas

if TYPE_CHECKING:
    import pyarrow as pa

ROW_GROUP = 262_144


@dataclass(frozen=True)
class GenerateSummary:
    """What :func:`generate` wrote: the directory, rows per table, and planted violations.

    ``planted`` keys: ``raw_single_tape_copy`` (RAW with one available tape replica),
    ``raw_tape_copies_same_site`` (RAW whose two tape replicas are DATATAPE and MCTAPE of one
    site), ``transformation_without_digest`` (null ``image_digest``), ``datasets_without_digest``
    (outputs of those transformations), ``expired_derived`` (kind derived, ``expires_at`` before
    2025-07-01), ``lost_replica`` (replicas in state lost).
    """

    directory: Path
    rows: dict[str, int]
    planted: dict[str, int]


def generate(
    directory: Path,
    datasets: int,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> GenerateSummary:
    """Write a synthetic catalog of ``datasets`` datasets into ``directory`` as Parquet tables.

    ``progress(stage, done, total)`` is called as work advances: stage ``build`` counts build
    steps, stage ``write`` counts rows written; each ends with ``done == total``. Existing
    tables of the same names are replaced (each file is written aside and renamed into place).
    """
    if datasets < 1:
        raise ValueError(f"datasets must be at least 1, got {datasets}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    columns, planted = build(datasets, seed, progress)
    schema = schemas()

    def column(values: object, kind: pa.DataType) -> pa.Array:
        return values if isinstance(values, pa.Array) else pa.array(values, kind)

    tables = {
        name: pa.Table.from_arrays(
            [column(columns[name][f.name], f.type) for f in schema[name]], schema=schema[name]
        )
        for name in TABLES
    }
    total = sum(t.num_rows for t in tables.values())
    done = 0
    for name, table in tables.items():
        path = directory / f"{name}.parquet"
        partial = directory / f".{name}.parquet.partial"
        with pq.ParquetWriter(partial, table.schema, compression="zstd") as writer:
            for offset in range(0, table.num_rows, ROW_GROUP):
                chunk = table.slice(offset, ROW_GROUP)
                writer.write_table(chunk)
                done += chunk.num_rows
                if progress is not None:
                    progress("write", done, total)
        os.replace(partial, path)
        stale = directory / f"{name}.csv"
        if stale.exists():  # one file per table, or import refuses the directory
            stale.unlink()
    return GenerateSummary(
        directory=directory,
        rows={name: t.num_rows for name, t in tables.items()},
        planted=planted,
    )
