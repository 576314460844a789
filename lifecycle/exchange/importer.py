"""Loading a validated exchange directory into the catalog, all or nothing.

The reader has checked each file on its own. Here each table is reconciled with the catalog
(rows already present with the same content are skipped, a key present with other content is an
error), references are resolved to surrogate ids, the provenance rules are checked (a dataset is
produced at most once, never a raw or calibration dataset, no cycles), and only then are the new
rows bulk-inserted. The caller runs this inside one transaction, so any error leaves the catalog
as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lifecycle.catalog.bulk import insert_frame, reset_sequences
from lifecycle.catalog.models import NON_PRODUCIBLE_KINDS
from lifecycle.exchange.exporter import _IN_CHUNK, _IN_LIMIT, catalog_frame
from lifecycle.exchange.reader import Source, read_directory
from lifecycle.exchange.spec import TABLES

if TYPE_CHECKING:
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
_CATALOG_TABLE = {
    "sites": "site",
    "endpoints": "endpoint",
    "datasets": "dataset",
    "replicas": "replica",
    "transformations": "transformation",
    "productions": "production",
    "production_io": "production_input",
    "pins": "pin",
}


@dataclass
class ImportResult:
    """What an import did: new rows per table, and rows that were already in the catalog."""

    directory: Path
    added: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(self.added.values())

    def summary(self) -> str:
        parts = [f"{n} {t}" for t, n in self.added.items() if n]
        same = sum(self.unchanged.values())
        text = f"imported {self.directory}: " + (", ".join(parts) if parts else "nothing new")
        return text + (f" ({same} rows already present)" if same else "")


def read_sources(directory: Path) -> dict[str, Source]:
    """Validate every file of ``directory`` (no database needed)."""
    return read_directory(Path(directory))


def import_directory(conn: Connection, directory: Path, sources: dict[str, Source] | None = None):
    """Import ``directory`` on ``conn`` (inside the caller's transaction)."""
    sources = sources if sources is not None else read_sources(directory)
    return _Import(conn, Path(directory), sources).run()


class _Import:
    def __init__(self, conn: Connection, directory: Path, sources: dict[str, Source]) -> None:
        self.conn = conn
        self.sources = sources
        self.result = ImportResult(directory)
        self.ids: dict[str, pd.Series] = {}  # exchange table -> Series key -> id (import's keys)
        self.new: dict[str, pd.DataFrame] = {}
        self._occupied = {t: self._has_rows(c) for t, c in _CATALOG_TABLE.items()}

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> ImportResult:
        for name in TABLES:
            source = self.sources.get(name)
            if source is not None:
                self._reconcile(source)
        self._resolve_references()
        self._check_provenance()
        self._insert()
        return self.result

    def _has_rows(self, table: str) -> bool:
        return self.conn.exec_driver_sql(f'SELECT 1 FROM "{table}" LIMIT 1').first() is not None

    # -- reconciliation with the catalog ------------------------------------------------------
    def _reconcile(self, source: Source) -> None:
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
        self.new[name] = new
        if name in _KEYED:
            self.ids[name] = existing_ids.astype("int64")

    def _compare(self, source: Source, matched: pd.DataFrame, existing: pd.DataFrame) -> None:
        """Error on the first row whose content differs from the catalog's row with its key."""
        import pandas as pd

        if matched.empty:
            return
        ours_columns = set(source.frame.columns)
        theirs_columns = set(existing.columns) - {"_id"}
        columns = [c for c in source.frame.columns if c not in source.table.key]
        columns += sorted(theirs_columns - ours_columns)
        missing = pd.Series(pd.NA, index=matched.index, dtype="object")
        first_bad: tuple[int, str, object, object] | None = None
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
                f"duplicate key with different content: the catalog has {_show(theirs_value)}, "
                f"this row {_show(ours_value)} (catalog entries are immutable)",
            )

    # -- references ------------------------------------------------------------------------------
    def _assign_ids(self, name: str) -> None:
        import numpy as np
        import pandas as pd

        table = _CATALOG_TABLE[name]
        new = self.new.get(name)
        if new is None:
            return
        start = self._next_id(table)
        new = new.copy()
        new["_id"] = np.arange(start, start + len(new), dtype="int64")
        self.new[name] = new
        if name in _KEYED:
            key = TABLES[name].key[0]
            self.ids[name] = pd.concat([self.ids[name], new.set_index(key)["_id"]])

    def _next_id(self, table: str) -> int:
        value = self.conn.exec_driver_sql(f'SELECT MAX(id) FROM "{table}"').scalar()
        return int(value or 0) + 1

    def _ids_for(self, target: str, values: pd.Series) -> pd.Series:
        """Surrogate ids for keys of ``target`` (from this import or the catalog); NA if unknown."""
        import pandas as pd

        known = self.ids.get(target, pd.Series(dtype="int64"))
        known = known[~known.index.duplicated()]
        out = values.map(known)
        missing = values[out.isna() & values.notna()]
        if not missing.empty and self._occupied[target]:
            table, key = _KEYED[target]
            found = _lookup(self.conn, table, key, ["id"], missing.drop_duplicates())
            out = out.fillna(values.map(found["id"])) if not found.empty else out
        return out.astype("Int64")

    def _resolve_references(self) -> None:
        for name in TABLES:
            if name in self.new and name != "production_io":
                self._assign_ids(name)
        for name, new in self.new.items():
            source = self.sources[name]
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
                new[column.name + "_id"] = ids
            self.new[name] = new

    # -- provenance rules ------------------------------------------------------------------------
    def _check_provenance(self) -> None:
        io = self.new.get("production_io")
        if io is None or io.empty:
            return
        source = self.sources["production_io"]
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

        kinds = pd.Series(dtype="string[pyarrow]")
        datasets = self.sources.get("datasets")
        if datasets is not None:
            kinds = datasets.frame.set_index("did")["kind"]
        kind = outputs["did"].map(kinds).astype("string[pyarrow]")
        unknown = outputs.loc[kind.isna(), "did"]
        if not unknown.empty:
            found = _lookup(self.conn, "dataset", "did", ["kind"], unknown.drop_duplicates())
            kind = kind.fillna(outputs["did"].map(found["kind"]).astype("string[pyarrow]"))
        bad = kind.isin(NON_PRODUCIBLE_KINDS).fillna(False)
        if bad.any():
            row = bad.idxmax()
            raise source.error(
                row,
                "role",
                f"{kind[row]} dataset {outputs.loc[row, 'did']!r} cannot be a production output "
                "(raw and calibration data are not reproducible)",
            )

    def _check_existing_producers(self, source: Source, outputs: pd.DataFrame) -> None:
        if not self._occupied["production_io"]:
            return
        existing = catalog_frame(self.conn, "production_io", None)
        existing = existing[(existing["role"] == "output") & existing["did"].isin(outputs["did"])]
        if existing.empty:
            return
        producer = outputs["did"].map(existing.set_index("did")["production"])
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
        d = io["did_id"].to_numpy(dtype="int64")
        p = io["production_id"].to_numpy(dtype="int64") + offset
        src = np.where(is_output, p, d)
        dst = np.where(is_output, d, p)
        new_edges = len(src)
        if self._occupied["production_io"]:
            cat_in = np.asarray(
                self.conn.exec_driver_sql(
                    "SELECT dataset_id, production_id FROM production_input"
                ).fetchall(),
                dtype="int64",
            ).reshape(-1, 2)
            cat_out = np.asarray(
                self.conn.exec_driver_sql(
                    "SELECT production_id, dataset_id FROM production_output"
                ).fetchall(),
                dtype="int64",
            ).reshape(-1, 2)
            src = np.concatenate([src, cat_in[:, 0], cat_out[:, 0] + offset])
            dst = np.concatenate([dst, cat_in[:, 1] + offset, cat_out[:, 1]])
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

    # -- inserts -----------------------------------------------------------------------------
    def _insert(self) -> None:
        new = self.new
        frames: list[tuple[str, pd.DataFrame]] = []
        if "sites" in new:
            frames.append(
                (
                    "site",
                    _cols(
                        new["sites"],
                        id="_id",
                        name="name",
                        tier="tier",
                        country="country",
                        cloud="cloud",
                        status="status",
                    ),
                )
            )
        if "endpoints" in new:
            e = new["endpoints"]
            frames.append(
                (
                    "endpoint",
                    _cols(
                        e,
                        id="_id",
                        name="name",
                        site_id="site_id",
                        media="media",
                        capacity_bytes="capacity_bytes",
                    ),
                )
            )
            frames.append(
                ("endpoint_attribute", _melt(self.sources["endpoints"], e, "endpoint_id"))
            )
        if "transformations" in new:
            t = new["transformations"]
            cols = {c: c for c in TABLES["transformations"].column_names}
            frames.append(("transformation", _cols(t, id="_id", **cols)))
            frames.append(
                (
                    "transformation_parameter",
                    _melt(self.sources["transformations"], t, "transformation_id"),
                )
            )
        if "datasets" in new:
            frames.append(("dataset", _dataset_rows(new["datasets"])))
            frames.append(
                ("dataset_metadata", _melt(self.sources["datasets"], new["datasets"], "dataset_id"))
            )
        if "productions" in new:
            frames.append(
                (
                    "production",
                    _cols(
                        new["productions"],
                        id="_id",
                        name="id",
                        transformation_id="transformation_id",
                        conditions_tag="conditions_tag",
                        site_id="site_id",
                        started_at="started_at",
                        finished_at="finished_at",
                        status="status",
                    ),
                )
            )
        if "production_io" in new:
            io = new["production_io"]
            out = io["role"] == "output"
            frames.append(
                (
                    "production_input",
                    _cols(
                        io[~out], production_id="production_id", dataset_id="did_id", role="role"
                    ),
                )
            )
            frames.append(
                (
                    "production_output",
                    _cols(io[out], dataset_id="did_id", production_id="production_id"),
                )
            )
        if "replicas" in new:
            frames.append(
                (
                    "replica",
                    _cols(
                        new["replicas"],
                        id="_id",
                        dataset_id="did_id",
                        endpoint_id="endpoint_id",
                        state="state",
                        created_at="created_at",
                        accessed_at="accessed_at",
                    ),
                )
            )
        if "pins" in new:
            frames.append(
                (
                    "pin",
                    _cols(
                        new["pins"],
                        id="_id",
                        dataset_id="did_id",
                        reason="reason",
                        until="until",
                        actor="actor",
                    ),
                )
            )
        touched = []
        for table, frame in frames:
            if insert_frame(self.conn, table, frame):
                touched.append(table)
        reset_sequences(
            self.conn,
            [
                t
                for t in touched
                if t
                in ("site", "endpoint", "dataset", "replica", "transformation", "production", "pin")
            ],
        )


def _lookup(conn: Connection, table: str, key: str, columns: list[str], keys: pd.Series):
    """``columns`` of catalog rows whose ``key`` is in ``keys``, indexed by key."""
    import pandas as pd

    select = f'SELECT {key} AS _key, {", ".join(columns)} FROM "{table}"'
    values = keys.dropna().tolist()
    if len(values) > _IN_LIMIT:
        result = conn.exec_driver_sql(select)
        frame = pd.DataFrame(result.fetchall(), columns=["_key", *columns])
        frame = frame[frame["_key"].isin(set(values))]
    else:
        statement = sa.text(f"{select} WHERE {key} IN :keys").bindparams(
            sa.bindparam("keys", expanding=True)
        )
        parts = [
            pd.DataFrame(
                conn.execute(statement, {"keys": values[i : i + _IN_CHUNK]}).fetchall(),
                columns=["_key", *columns],
            )
            for i in range(0, len(values), _IN_CHUNK)
        ]
        frame = pd.concat(parts) if parts else pd.DataFrame(columns=["_key", *columns])
    return frame.set_index("_key")


def _cols(frame: pd.DataFrame, **mapping: str) -> pd.DataFrame:
    """The columns of ``frame`` renamed to a catalog table's (target=source)."""
    out = frame[list(mapping.values())].copy()
    out.columns = list(mapping.keys())
    return out


def _melt(source: Source, frame: pd.DataFrame, id_column: str) -> pd.DataFrame:
    """Extra columns of new rows as (id, key, value) rows, nulls left out."""
    import pandas as pd

    if not source.extras or frame.empty:
        return pd.DataFrame(columns=[id_column, "key", "value"])
    long = frame[["_id", *source.extras]].melt(id_vars="_id", var_name="key", value_name="value")
    long = long[long["value"].notna()]
    long.columns = [id_column, "key", "value"]
    long["key"] = long["key"].astype("string[pyarrow]")
    return long


def _dataset_rows(frame: pd.DataFrame) -> pd.DataFrame:
    split = frame["did"].str.split(":", n=1)
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
    out.insert(2, "scope", split.str[0])
    out.insert(3, "name", split.str[1])
    return out


def _show(value) -> str:
    import pandas as pd

    return "empty" if pd.isna(value) else repr(value)
