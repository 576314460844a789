"""Loading an exchange directory into the catalog, all or nothing.

Table by table, in dependency order: the reader validates the file on its own; here its rows are
reconciled with the catalog (rows already present with the same content are skipped, a key present
with other content is an error), references are resolved to surrogate ids, the provenance rules are
checked (a dataset is produced at most once, never a raw or calibration dataset, no cycles), and
the new rows are bulk-inserted. The caller runs all of it inside one transaction, so an error in
any table leaves the catalog as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.catalog.bulk import CHUNK_ROWS, IdBlocks, bulk_load, insert_frame, new_ids
from lifecycle.catalog.sql import analyze, by_dialect, statement, temporary_table
from lifecycle.exchange.exporter import IN_CHUNK, IN_LIMIT, catalog_frame
from lifecycle.exchange.reader import Source, find_tables, read_table
from lifecycle.exchange.spec import EXTRA_TABLES, TABLES
from lifecycle.progress import SILENT, Phase, Progress
from lifecycle.text import count, number
from lifecycle.values import json_value
from lifecycle.vocabulary import NON_PRODUCIBLE_KINDS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sqlalchemy.engine import Connection

# Exchange table -> (catalog table, key column) for tables other tables refer to.
_KEYED = {
    "sites": ("site", "name"),
    "endpoints": ("endpoint", "name"),
    "datasets": ("dataset", "did"),
    "transformations": ("transformation", "tag"),
    "productions": ("production", "name"),
}
# Catalog tables whose presence of rows the reconciliation asks about.
CATALOG_TABLES = {
    "sites": "site",
    "endpoints": "endpoint",
    "datasets": "dataset",
    "replicas": "replica",
    "transformations": "transformation",
    "productions": "production",
    "production_io": "production_input",
    "pins": "pin",
}


# Catalog tables with an integer ``id`` that the import hands out.
_ID_TABLES = ("site", "endpoint", "dataset", "replica", "transformation", "production", "pin")
# Exchange table -> catalog tables and their columns (catalog column = frame column).
_ROWS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "sites": [
        ("site", {"id": "_id", "name": "name", "tier": "tier", "country": "country",
                  "cloud": "cloud", "status": "status"}),
    ],
    "endpoints": [
        ("endpoint", {"id": "_id", "name": "name", "site_id": "_site_ref", "media": "media",
                      "capacity_bytes": "capacity_bytes"}),
    ],
    "datasets": [("dataset", {})],
    "replicas": [
        ("replica", {"id": "_id", "dataset_id": "_did_ref", "endpoint_id": "_endpoint_ref",
                     "state": "state", "created_at": "created_at",
                     "accessed_at": "accessed_at"}),
    ],
    "transformations": [
        ("transformation",
         {"id": "_id", **{c: c for c in TABLES["transformations"].column_names}}),
    ],
    "productions": [
        ("production", {"id": "_id", "name": "id", "transformation_id": "_transformation_ref",
                        "conditions_tag": "conditions_tag", "site_id": "_site_ref",
                        "started_at": "started_at", "finished_at": "finished_at",
                        "status": "status"}),
    ],
    "production_io": [
        ("production_input", {"production_id": "_production_ref", "dataset_id": "_did_ref",
                              "role": "role"}),
        ("production_output", {"dataset_id": "_did_ref", "production_id": "_production_ref"}),
    ],
    "pins": [
        ("pin", {"id": "_id", "dataset_id": "_did_ref", "reason": "reason", "until": "until",
                 "actor": "actor"}),
    ],
}  # fmt: skip


@dataclass
class ImportResult:
    """What an import did: new rows per table, and rows that were already in the catalog."""

    directory: Path
    added: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.added.values())

    @property
    def rows(self) -> int:
        """Rows read from the directory's files: new ones and ones already present."""
        return sum(self.added.values()) + sum(self.unchanged.values())

    def summary(self) -> str:
        parts = [f"{number(n)} {t}" for t, n in self.added.items() if n]
        same = sum(self.unchanged.values())
        text = f"imported {self.directory}: " + (", ".join(parts) if parts else "nothing new")
        return text + (f" ({count(same, 'row')} already present)" if same else "")


def import_directory(
    conn: Connection, directory: Path, progress: Progress = SILENT
) -> ImportResult:
    """Import ``directory`` on ``conn``, inside the caller's transaction.

    Tables are taken one at a time in dependency order (sites before endpoints, datasets before
    replicas, ...): read and validate, reconcile with the catalog, resolve references, insert, then
    let go of the rows, keeping only key -> id maps. Peak memory is one table, not the catalog.
    A later error still undoes everything, because the caller rolls the transaction back.
    ``progress`` hears of each table (rows done of the file's rows, per block inserted).
    """
    files = find_tables(Path(directory))
    return Importer(conn, Path(directory), progress).run(files)


class Importer:
    verb = "importing"  # how a table's phase is named for the watcher ("importing datasets")

    def __init__(self, conn: Connection, directory: Path, progress: Progress = SILENT) -> None:
        self.conn = conn
        self.progress = progress
        self.result = ImportResult(directory)
        self.ids: dict[str, pd.Series] = {}  # exchange table -> Series key -> id (import's keys)
        self.non_producible: pd.Series | None = None  # DID -> kind: raw/calibration in the file
        self._occupied = {t: self._has_rows(c) for t, c in CATALOG_TABLES.items()}

    # -- driver -----------------------------------------------------------------------------
    def run(self, files: dict[str, Path]) -> ImportResult:
        touched = []
        written = [t for name in files for t in _written_tables(name)]
        empty = [t for t in written if not self._has_rows(t)]
        with new_ids(self.conn) as ids, bulk_load(self.conn, empty):
            for name, path in files.items():
                with self.progress.phase(f"{self.verb} {name}") as phase:
                    source = read_table(TABLES[name], path)
                    new = self._reconcile(source)
                    phase.set(len(source.frame) - len(new), total=len(source.frame))
                    new = self._assign_ids(ids, name, new)
                    new = self._resolve_references(source, new)
                    if name == "datasets":
                        self.non_producible = _non_producible(source.frame)
                    if name == "production_io":
                        self._check_provenance(source, new)
                    touched += self._insert(source, new, phase)
                    touched += self._table_done(source, new)
                    del source, new  # keep only the key -> id maps between tables
                    _release_arrow_memory()
            touched += self._done()
        # without statistics the first queries after a bulk import plan as if the tables were empty
        with self.progress.phase("updating the catalog's statistics"):
            analyze(self.conn, *(f'"{table}"' for table in dict.fromkeys(touched)))
        return self.result

    def _table_done(self, source: Source, new: pd.DataFrame) -> list[str]:
        """After a table's new rows are in (sync updates its changed rows here): tables written."""
        return []

    def _done(self) -> list[str]:
        """After the last table (sync marks absent rows here): the catalog tables written."""
        return []

    def _has_rows(self, table: str) -> bool:
        return self.conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first() is not None

    # -- reconciliation with the catalog ------------------------------------------------------
    def _reconcile(self, source: Source) -> pd.DataFrame:
        """Split the file's rows into new ones and ones the catalog holds already (identical)."""
        import pandas as pd

        name = source.table.name
        frame = source.frame
        key = list(source.table.key)
        if not self._occupied[name] or frame.empty:
            new = frame
            existing_ids = pd.Series(dtype="int64")
        else:
            existing = catalog_frame(self.conn, name, frame[key[0]])
            rows = frame.reset_index(names="_row")
            merged = rows.merge(
                existing, on=key, how="left", suffixes=("", "__catalog"), indicator=True
            )
            matched = (merged["_merge"] == "both").to_numpy()
            self._compare(source, merged[matched], existing)
            new = frame[~matched]
            existing_ids = (
                merged.loc[matched].set_index(key[0])["_id"]
                if len(key) == 1 and "_id" in merged.columns
                else pd.Series(dtype="int64")
            )
        self.result.added[name] = len(new)
        self.result.unchanged[name] = len(frame) - len(new)
        if name in _KEYED:
            self.ids[name] = existing_ids.astype("int64")
        return new

    def _compare(self, source: Source, matched: pd.DataFrame, existing: pd.DataFrame) -> None:
        """Error on the first row whose content differs from the catalog's row with its key."""
        first_bad: tuple[int, str, object, object] | None = None
        for column, differ, ours, theirs in differences(source, matched, existing):
            if differ.any():
                pos = int(differ.nonzero()[0][0])
                row = int(matched["_row"].iloc[pos])
                if first_bad is None or row < first_bad[0]:
                    first_bad = (row, column, ours.iloc[pos], theirs.iloc[pos])
        if first_bad is not None:
            row, column, ours_value, theirs_value = first_bad
            raise source.error(
                row,
                column,
                f"duplicate key with different content: the catalog has {show_value(theirs_value)}, "
                f"this row {show_value(ours_value)} (catalog entries are immutable)",
            )

    # -- references ------------------------------------------------------------------------------
    def _assign_ids(self, ids: IdBlocks, name: str, new: pd.DataFrame) -> pd.DataFrame:
        """Number new rows with a block of new ids of their catalog table."""
        import numpy as np
        import pandas as pd

        table = CATALOG_TABLES[name]
        if table not in _ID_TABLES:
            return new
        block = ids.take(table, len(new))
        new["_id"] = np.arange(block.start, block.stop, dtype="int64")
        if name in _KEYED:
            key = TABLES[name].key[0]
            self.ids[name] = pd.concat([self.ids[name], new.set_index(key)["_id"]])
        return new

    def _ids_for(self, target: str, values: pd.Series) -> pd.Series:
        """Surrogate ids for keys of ``target`` (from this import or the catalog); NA if unknown."""
        import pandas as pd

        known = self.ids.get(target, pd.Series(dtype="int64"))
        out = _map_keys(values, known)
        missing = values[out.isna() & values.notna()]
        if not missing.empty and self._occupied[target]:
            table, key = _KEYED[target]
            found = _lookup(self.conn, table, key, ["id"], missing.drop_duplicates())
            if not found.empty:
                out = out.fillna(_map_keys(values, found["id"].astype("int64")))
        return out

    def _resolve_references(self, source: Source, new: pd.DataFrame) -> pd.DataFrame:
        """Add ``<column>_id`` for every reference column; a key found nowhere is an error."""
        for column in source.table.columns:
            if column.references is None:
                continue
            ids = self._ids_for(column.references, new[column.name])
            dangling = new[column.name].notna() & ids.isna()
            if dangling.any():
                row = dangling.idxmax()
                raise source.error(
                    row,
                    column.name,
                    f"unknown {column.references.rstrip('s')} {new.loc[row, column.name]!r} "
                    f"(not in {column.references} of this directory nor in the catalog)",
                )
            new[f"_{column.name}_ref"] = ids
        return new

    # -- provenance rules ------------------------------------------------------------------------
    def _check_provenance(self, source: Source, io: pd.DataFrame) -> None:
        if io.empty:
            return
        outputs = io[io["role"] == "output"]
        twice = outputs.duplicated(subset="did", keep="first")
        if twice.any():
            row = twice.idxmax()
            first = outputs[outputs["did"] == outputs.loc[row, "did"]].iloc[0]
            raise source.error(
                row,
                "did",
                f"dataset {outputs.loc[row, 'did']!r} produced twice (also output of "
                f"{first['production']!r} at row {first.name})",
            )
        if not outputs.empty:
            self._check_output_kinds(source, outputs)
            self._check_existing_producers(source, outputs)
        self._check_acyclic(source, io)

    def _check_output_kinds(self, source: Source, outputs: pd.DataFrame) -> None:
        import pandas as pd

        dids = outputs["did"]
        kinds = pd.Series(pd.NA, index=dids.index, dtype="string[pyarrow]")
        if self.non_producible is not None:
            kinds = kinds.fillna(dids.map(self.non_producible).astype("string[pyarrow]"))
        in_file = self.ids.get("datasets", pd.Series(dtype="int64")).index
        elsewhere = dids[~_is_in(dids, in_file)]
        if not elsewhere.empty:
            found = _lookup(self.conn, "dataset", "did", ["kind"], elsewhere.drop_duplicates())
            kinds = kinds.fillna(dids.map(found["kind"]).astype("string[pyarrow]"))
        bad = kinds.isin(NON_PRODUCIBLE_KINDS).fillna(False)
        if bad.any():
            row = bad.idxmax()
            kind = kinds[row]
            raise source.error(
                row,
                "role",
                f"{kind} dataset {dids[row]!r} cannot be a production output "
                "(raw and calibration data are not reproducible)",
            )

    def _check_existing_producers(self, source: Source, outputs: pd.DataFrame) -> None:
        if not self._occupied["production_io"]:
            return
        existing = _lookup(
            self.conn, "production_output o JOIN production p ON p.id = o.production_id",
            "o.dataset_id", ["p.name"], outputs["_did_ref"].drop_duplicates().astype("int64"),
        )  # fmt: skip
        if existing.empty:
            return
        producer = (
            outputs["_did_ref"].astype("int64").map(existing["name"]).astype("string[pyarrow]")
        )
        clash = producer.notna() & (producer != outputs["production"])
        if clash.any():
            row = clash.idxmax()
            raise source.error(
                row,
                "did",
                f"dataset {outputs.loc[row, 'did']!r} produced twice (the catalog records it as "
                f"output of {producer[row]!r})",
            )

    def _check_acyclic(self, source: Source, io: pd.DataFrame) -> None:
        """Peel sources and sinks off the dataset/production graph; what remains is a cycle."""
        import numpy as np

        offset = 1 << 40  # production nodes live above every dataset id
        is_output = (io["role"] == "output").to_numpy()
        d = io["_did_ref"].to_numpy(dtype="int64")
        p = io["_production_ref"].to_numpy(dtype="int64") + offset
        src = np.where(is_output, p, d)
        dst = np.where(is_output, d, p)
        new_edges = len(src)
        if self._occupied["production_io"]:
            cat_src, cat_dst = self._catalog_edges_downstream(dst, offset)
            src = np.concatenate([src, cat_src])
            dst = np.concatenate([dst, cat_dst])
        _, nodes = np.unique(np.concatenate([src, dst]), return_inverse=True)
        s, t = nodes[: len(src)], nodes[len(src) :]
        alive = np.arange(len(s))
        while len(alive):
            n = int(max(s[alive].max(), t[alive].max())) + 1
            indeg = np.bincount(t[alive], minlength=n)
            outdeg = np.bincount(s[alive], minlength=n)
            keep = (indeg[s[alive]] > 0) & (outdeg[t[alive]] > 0)
            if keep.all():
                break
            alive = alive[keep]
        in_cycle = alive[alive < new_edges]
        if len(alive):
            position = int(in_cycle.max()) if len(in_cycle) else 0
            row = io.index[position]
            raise source.error(
                row,
                "did",
                f"provenance cycle: {io.loc[row, 'did']!r} and production "
                f"{io.loc[row, 'production']!r} lie on a cycle of inputs and outputs",
            )

    def _catalog_edges_downstream(self, starts, offset: int):
        """Catalog edges among the nodes reachable downstream from the new edges' targets.

        Any cycle through a new edge lies there: each of its stretches of catalog edges starts at
        the target of a new edge. A recursive CTE finds that part of the graph, so a small import
        into a large catalog does not read every edge.
        """
        import numpy as np

        temporary_table(self.conn, "tmp_import_start", "n BIGINT PRIMARY KEY")
        # node encoding in SQL: a dataset is its id, a production minus its id
        nodes = np.unique(np.where(starts >= offset, -(starts - offset), starts))
        self.conn.exec_driver_sql(
            # the drivers' own placeholders (sqlite3: qmark, psycopg: format): one executemany
            # of plain tuples, without SQLAlchemy's per-row parameter processing
            by_dialect(
                self.conn,
                sqlite="INSERT INTO tmp_import_start (n) VALUES (?)",
                postgresql="INSERT INTO tmp_import_start (n) VALUES (%s)",
            ),
            [(int(n),) for n in nodes],
        )
        rows = self.conn.exec_driver_sql(
            """
            WITH RECURSIVE edge(src, dst) AS (
                SELECT dataset_id, -production_id FROM production_input
                UNION ALL
                SELECT -production_id, dataset_id FROM production_output
            ),
            reach(n) AS (
                SELECT n FROM tmp_import_start
                UNION
                SELECT e.dst FROM reach JOIN edge e ON e.src = reach.n
            )
            SELECT e.src, e.dst FROM edge e JOIN reach ON reach.n = e.src
            """
        ).fetchall()
        self.conn.exec_driver_sql("DROP TABLE tmp_import_start")
        edges = np.asarray(rows, dtype="int64").reshape(-1, 2)

        def encode(values):
            return np.where(values < 0, -values + offset, values)

        return encode(edges[:, 0]), encode(edges[:, 1])

    # -- inserts -----------------------------------------------------------------------------
    def _insert(self, source: Source, new: pd.DataFrame, phase: Phase) -> list[str]:
        """Bulk-insert the new rows of one exchange table, ``phase`` advanced per block of rows;
        returns the catalog tables written."""
        name = source.table.name
        written = []
        for table, columns in _ROWS[name]:
            rows = new
            if name == "production_io":
                is_output = new["role"] == "output"
                rows = new[is_output] if table == "production_output" else new[~is_output]
            frame = _dataset_rows(rows) if table == "dataset" else _cols(rows, **columns)
            if insert_frame(self.conn, table, frame, phase.advance):
                written.append(table)
        if name in EXTRA_TABLES:
            table, id_column = EXTRA_TABLES[name]
            # a block of rows at a time: the extra columns of a 1 M-dataset import are 4 M
            # (id, key, value) rows, and melted whole they held 0.5 GB at the import's peak
            inserted = 0
            for start in range(0, len(new), CHUNK_ROWS):
                part = _melt(source, new.iloc[start : start + CHUNK_ROWS], id_column)
                inserted += insert_frame(self.conn, table, part)
            if inserted:
                written.append(table)
        return written


def differences(
    source: Source,
    matched: pd.DataFrame,
    existing: pd.DataFrame,
    *,
    skip: tuple[str, ...] = (),
    unlisted: bool = True,
):
    """Per compared column of rows matched by key: ``(column, differ, ours, theirs)``.

    ``matched`` is the file's rows merged with the catalog's (``<column>__catalog`` where both
    have the column, ``_row`` the file's row number); ``differ`` a boolean array over it, ``ours``
    and ``theirs`` the values. Every non-key column of the file is compared, and every column
    only the catalog has (an extra column the file lacks: its cells count as empty) unless
    ``unlisted`` is false; columns in ``skip`` are not compared. Import compares everything and
    refuses any difference; sync updates the mutable ones.
    """
    import pandas as pd

    if matched.empty:
        return
    ours_columns = set(source.frame.columns)
    theirs_columns = set(existing.columns) - {"_id"}
    columns = [c for c in source.frame.columns if c not in source.table.key and c not in skip]
    if unlisted:
        columns += sorted(theirs_columns - ours_columns)
    missing = pd.Series(pd.NA, index=matched.index, dtype="object")
    for column in columns:
        ours = matched[column] if column in ours_columns else missing
        if column in ours_columns and column in theirs_columns:
            theirs = matched[column + "__catalog"]
        elif column in theirs_columns:
            theirs = matched[column]
        else:
            theirs = missing
        both_na = (ours.isna() & theirs.isna()).to_numpy()
        equal = (ours == theirs).fillna(False).to_numpy(dtype=bool) if len(ours) else both_na
        differ = ~(equal | both_na)
        if source.derived is not None and column in source.derived.columns:
            # a value filled from the name is no content of the file: it stands for an
            # empty cell, and the catalog may lack the key (imported before names filled it)
            derived = source.derived[column].reindex(matched["_row"]).to_numpy(dtype=bool)
            differ &= ~(derived & theirs.isna().to_numpy())
            ours = ours.mask(derived)
        yield column, differ, ours, theirs


def _written_tables(name: str) -> list[str]:
    """The catalog tables the rows of exchange table ``name`` go to."""
    extra = [EXTRA_TABLES[name][0]] if name in EXTRA_TABLES else []
    return [table for table, _ in _ROWS[name]] + extra


def _map_keys(values: pd.Series, known: pd.Series) -> pd.Series:
    """``values`` looked up in ``known`` (key -> int id) with an Arrow hash join; NA if absent.

    Arrow's ``index_in`` hashes the keys once without building Python objects, which keeps a
    2.4 M-row lookup into 1 M keys within a few hundred MB.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if known.empty:
        return pd.Series(pd.NA, index=values.index, dtype="Int64")
    keys = pa.array(known.index.astype("string[pyarrow]").array)
    wanted = pa.array(values.astype("string[pyarrow]").array)
    position = pc.index_in(wanted, value_set=keys)
    ids = pa.array(known.to_numpy(dtype="int64"))
    mapped = pc.take(ids, position)  # null where the key is unknown
    return pd.Series(
        pd.arrays.IntegerArray(np.asarray(mapped.fill_null(0)), np.asarray(mapped.is_null())),
        index=values.index,
    )


def _is_in(values: pd.Series, keys: pd.Index) -> np.ndarray:
    """Which ``values`` are among the text ``keys``, as one Arrow hash lookup (pandas' ``isin``
    of Arrow strings first turns every key into a Python object: 10 s for 1 M DIDs)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.is_in(
        pa.array(values.astype("string[pyarrow]").array),
        value_set=pa.array(keys.astype("string[pyarrow]").array),
    )
    return np.asarray(found.fill_null(False), dtype=bool)


def _non_producible(datasets: pd.DataFrame) -> pd.Series:
    """DID -> kind for the raw and calibration datasets of a datasets file."""
    kept = datasets[datasets["kind"].isin(NON_PRODUCIBLE_KINDS)]
    return kept.set_index("did")["kind"]


def _release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _lookup(conn: Connection, table: str, key: str, columns: list[str], keys: pd.Series):
    """``columns`` of catalog rows whose ``key`` is in ``keys``, indexed by key."""
    import pandas as pd

    source = table if " " in table else f'"{table}"'  # a table, or a join of tables
    names = [c.split(".")[-1] for c in columns]
    select = f"SELECT {key} AS _key, {', '.join(columns)} FROM {source}"
    values = keys.dropna().tolist()
    if len(values) > IN_LIMIT:
        result = conn.exec_driver_sql(select)
        frame = pd.DataFrame(result.fetchall(), columns=["_key", *names])
        frame = frame[frame["_key"].isin(set(values))]
    else:
        keyed = statement(f"{select} WHERE {key} IN :keys", {"keys": values})
        parts = [
            pd.DataFrame(
                conn.execute(keyed, {"keys": values[i : i + IN_CHUNK]}).fetchall(),
                columns=["_key", *names],
            )
            for i in range(0, len(values), IN_CHUNK)
        ]
        frame = pd.concat(parts) if parts else pd.DataFrame(columns=["_key", *names])
    return frame.set_index("_key")


def _cols(frame: pd.DataFrame, **mapping: str) -> pd.DataFrame:
    """The columns of ``frame`` renamed to a catalog table's (target=source)."""
    out = frame[list(mapping.values())]  # copy-on-write: no data is copied here
    out.columns = list(mapping.keys())
    return out


def _melt(source: Source, frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Extra columns of new rows as (id, key, value) rows, nulls left out."""
    import pandas as pd

    if not source.extras or frame.empty:
        return pd.DataFrame(columns=[id_column, "key", "value"])
    long = frame[["_id", *source.extras]].melt(id_vars="_id", var_name="_key", value_name="_value")
    long = long[long["_value"].notna()]
    # in primary-key order, the key's index grows at its end rather than at random places
    long = long.sort_values(["_id", "_key"], kind="stable")
    long.columns = [id_column, "key", "value"]
    long["key"] = long["key"].astype("string[pyarrow]")
    return long


def _dataset_rows(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    # Arrow splits a million DIDs in a fraction of a second; pandas' str.split goes per value
    split = pc.split_pattern(
        pa.array(frame["did"].astype("string[pyarrow]").array), ":", max_splits=1
    )
    out = _cols(
        frame,
        id="_id",
        did="did",
        kind="kind",
        data_type="data_type",
        bytes="bytes",
        files="files",
        events="events",
        created_at="created_at",
        expires_at="expires_at",
        state="state",
    )
    for i, column in enumerate(("scope", "name")):
        values = pd.arrays.ArrowStringArray(pc.list_element(split, i))
        out.insert(2 + i, column, pd.Series(values, index=frame.index))
    return out


def show_value(value) -> str:
    """A catalog or file value in a message: ``empty`` for null, else its JSON-like repr."""
    import pandas as pd

    return "empty" if pd.isna(value) else repr(json_value(value))
