"""Following the grid: a snapshot in the exchange format merged into the catalog (``lifecycle sync``).

The snapshot is read, table by table, exactly as :mod:`lifecycle.exchange.importer` reads an
import (same reader, reconciliation, references and provenance checks: the sync is an import whose
comparison of matched rows is its own). New rows are added as import adds them. A row the catalog
holds already may differ only in a **mutable** field (:data:`MUTABLE`): each such value becomes an
update, journaled with its old and new value (``journal_change``). Everything else is history and
a difference is refused with file, row, column and the recorded value:

- a transformation's ``release`` and ``image_digest`` may be filled once where the catalog holds
  none (blank counts as none, DESIGN.md invariant 4); a different recorded value is refused, as a
  changed digest makes a new transformation, not an edit of the old one;
- a dataset's ``bytes``, ``files`` and ``events`` change only while the catalog's dataset is
  ``open``;
- a replica's ``created_at`` changes only while the catalog's replica is ``copying``: a copy in
  flight is made when it completes, and a source may give a time for it before (Rucio: its rule's
  creation, to the second, which the replica's own can pass by one);
- a production already in the catalog takes no new ``production_io`` rows: its inputs and
  outputs are history (a second producer of a dataset is refused as import refuses it);
- an endpoint's attributes are mutable: a new column adds one, a changed cell changes it, and an
  empty cell (or a column the snapshot's endpoints table lacks) **removes** it, for the endpoints
  that table lists: the snapshot's row is the endpoint's whole description, as export writes it.

Absence means nothing unless declared (:class:`Completeness`): ``replicas:EXPR`` says the
snapshot lists every replica on the endpoints the expression selects, so live replicas there that
it lacks are marked ``deleted``; ``datasets:GLOB`` does so for the datasets of matching scopes
(and their live replicas the snapshot does not list). Replicas already ``lost`` or ``deleted``, and
datasets ``lost`` or ``deleted``, stay as recorded.

Replica state changes are checked last, all together: per endpoint, more than ``max_change`` per
cent of its replicas (not deleted before the sync) changing state or disappearing is refused
(:class:`SafetyLimit`) unless forced. Then the loss they cause is computed before they are applied
(the caller's ``on_loss``: the loss simulation, which lives above this layer), so datasets left
without an available replica are reported in its words.

Rows identical to the catalog's are set aside first, in Arrow (:mod:`.sync_prefilter`); only
the rest reach the SQL comparison below and the importer's checks. ``_Sync.prefilter = False``
turns that off (the tests compare both ways).

Updates are set-based: the changed values of one column go to a scratch table and one
``UPDATE ... FROM`` applies them. The caller runs everything in one transaction; a preview is the
same run, rolled back.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.arrow_reader import ArrowReader, arrow_reader
from lifecycle.catalog.bulk import CHUNK_ROWS, insert_frame
from lifecycle.catalog.queries import endpoint_records
from lifecycle.catalog.sql import (
    JOURNAL_CHANGE_COLUMNS,
    analyze,
    by_dialect,
    drop_tables,
    rows,
    temporary_table,
)
from lifecycle.errors import InvalidExpression, UsageError
from lifecycle.exchange.exporter import catalog_query
from lifecycle.exchange.importer import CATALOG_TABLES, Importer, differences, show_value
from lifecycle.exchange.reader import Source, find_tables
from lifecycle.exchange.spec import EXTRA_TABLES
from lifecycle.exchange.sync_prefilter import Prefilter
from lifecycle.exchange.sync_report import (
    Completeness,
    LossCheck,
    SafetyLimit,
    SyncOptions,
    SyncReport,
    iso_time,
)
from lifecycle.expressions import select
from lifecycle.progress import SILENT, Phase, Progress
from lifecycle.values import format_timestamps, json_value

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

# Exchange table -> its fields a sync may change (column names are the catalog's too).
MUTABLE: dict[str, tuple[str, ...]] = {
    "sites": ("status", "tier", "cloud"),
    "endpoints": ("capacity_bytes",),  # and the attributes
    "datasets": ("state", "expires_at"),
    "replicas": ("state", "accessed_at"),
    "productions": ("status", "started_at", "finished_at"),
    "pins": ("until",),
}
WHILE_OPEN = ("bytes", "files", "events")  # datasets: while the catalog's dataset is open
WHILE_COPYING = ("created_at",)  # replicas: while the catalog's replica is copying
ONCE_RECORDED = {"transformations": ("release", "image_digest")}  # filled where blank
LIVE_REPLICA_STATES = ("available", "copying", "unavailable")  # absence marks these deleted
LIVE_DATASET_STATES = ("open", "closed")
# The snapshot's time, when not given: the newest of these timestamps in it (end-of-life times
# such as expires_at and a pin's until lie in the future and say nothing of when it was taken).
_EVENT_TIMES = ("created_at", "accessed_at", "started_at", "finished_at")

CHANGED = "tmp_sync_changed"  # every changed value, old and new, for the journal
STATE = "tmp_sync_replica_state"  # replica state changes, applied last (id, old, new, absent)
SEEN_DATASETS = "tmp_sync_seen_dataset"  # catalog datasets the snapshot lists
SEEN_REPLICAS = "tmp_sync_seen_replica"  # catalog replicas the snapshot lists
VALUE = "tmp_sync_value"  # one column's new values (id, value), then one UPDATE
ATTRIBUTES = "tmp_sync_attribute"  # endpoint attributes set or removed
GONE = "tmp_sync_gone"  # replicas going from available to another state (the loss)
INCOMING = "tmp_sync_incoming"  # one table of the snapshot, to compare in SQL
INCOMING_EXTRAS = "tmp_sync_incoming_extra"  # its extra cells (_row, key, value)
# catalog ids the snapshot does not list, from the pre-filter (per --complete domain)
UNLISTED = {"datasets": "tmp_sync_unlisted_dataset", "replicas": "tmp_sync_unlisted_replica"}
_COMPLETE_DOMAINS = {"datasets": "datasets", "replicas": "replicas"}  # exchange table -> domain
_SCRATCH = (
    STATE, SEEN_DATASETS, SEEN_REPLICAS, VALUE, ATTRIBUTES, GONE, INCOMING, INCOMING_EXTRAS,
    *UNLISTED.values(),
)  # fmt: skip


def sync_directory(
    conn: Connection,
    directory: Path,
    options: SyncOptions | None = None,
    on_loss: LossCheck | None = None,
    progress: Progress = SILENT,
) -> SyncReport:
    """Merge the snapshot ``directory`` into the catalog on ``conn``, in the caller's transaction.

    Raises :class:`~lifecycle.errors.ImportRowError` for a row that breaks the format or changes
    history, :class:`SafetyLimit` for too many replica changes on an endpoint (unless
    ``options.force``). The caller commits (``--apply``) or rolls back (a preview); scratch
    tables are left for the journal: ``CHANGED`` (see :data:`JOURNAL_CHANGE_COLUMNS`).
    """
    options = options or SyncOptions()
    files = find_tables(Path(directory))
    for complete in options.complete:
        if complete.domain not in files:
            raise UsageError(
                f"--complete {complete}: the snapshot has no {complete.domain} table; it cannot "
                f"list every {complete.domain.rstrip('s')}"
            )
    # the pre-filter reads the catalog on a connection of its own while conn holds the write
    # lock (no other run commits meanwhile) and until the sync's first write: see _wrote
    with arrow_reader(conn) as outside:
        sync = _Sync(conn, Path(directory), options, on_loss, progress, outside)
        sync.run(files)
    return sync.report


class _Sync(Importer):
    verb = "syncing"
    prefilter = True  # rows identical to the catalog's set aside in Arrow (tests turn it off)

    def __init__(
        self,
        conn: Connection,
        directory: Path,
        options: SyncOptions,
        on_loss: LossCheck | None,
        progress: Progress = SILENT,
        outside: ArrowReader | None = None,
    ) -> None:
        super().__init__(conn, directory, progress)
        self.options = options
        self.on_loss = on_loss
        self.report = SyncReport(directory, options, as_of=options.as_of)
        self.report.added = self.result.added
        self.report.unchanged = self.result.unchanged
        # rows above these ids are new in this sync: not before it, never absent
        self.floor = {
            t: int(conn.exec_driver_sql(f'SELECT COALESCE(MAX(id), 0) FROM "{t}"').scalar())
            for t in ("dataset", "replica", "production")
        }
        self.newest: datetime | None = None
        temporary_table(conn, CHANGED, JOURNAL_CHANGE_COLUMNS)
        temporary_table(
            conn,
            STATE,
            "id BIGINT PRIMARY KEY, old_state TEXT NOT NULL, new_state TEXT NOT NULL, "
            "absent INTEGER NOT NULL",
        )
        for seen in (SEEN_DATASETS, SEEN_REPLICAS):  # an id may be listed twice: no key
            temporary_table(conn, seen, "id BIGINT NOT NULL")
        self.pending: list[tuple[str, str, pd.DataFrame]] = []  # (table, column, (id, value))
        self.attributes: list[pd.DataFrame] = []  # endpoint_id, key, value (null: removed)
        self.unlisted: dict[str, str] = {}  # --complete domain -> its UNLISTED table, if filled
        self.arrow = Prefilter(conn, outside)

    # -- the rows to compare: new or differing, found by SQL ----------------------------------
    def _reconcile(self, source: Source) -> pd.DataFrame:
        """Rows identical to the catalog's are set aside first: in Arrow (:mod:`.sync_prefilter`,
        which also finds the catalog's rows the file lacks, for ``--complete``), then what is
        left in the database: the file's rows go to a scratch table and one join finds those new
        or differing; only they are compared in pandas (the importer's reconciliation reads the
        catalog's whole table into a frame, 5 times slower than the import itself at 1 M
        datasets)."""
        self._note_times(source.frame)
        name = source.table.name
        if not self._occupied[name]:
            return super()._reconcile(source)
        total = len(source.frame)
        if self.prefilter:
            domain = _COMPLETE_DOMAINS.get(name)
            asked = any(c.domain == domain for c in self.options.complete)
            found = self.arrow(source, unlisted=asked)
            source.frame = source.frame.loc[found.rows]
            if found.unlisted is not None:
                self._remember_unlisted(domain, found.unlisted)
        if not source.frame.empty:
            source.frame = source.frame.loc[self._differing(source)]
        new = super()._reconcile(source)
        self.result.unchanged[name] += total - len(source.frame)
        return new

    def _remember_unlisted(self, domain: str, ids) -> None:
        """The catalog's ids the snapshot does not list (the pre-filter's anti-join): absence
        is then judged against them instead of against every id the snapshot lists."""
        import pandas as pd

        table = UNLISTED[domain]
        temporary_table(self.conn, table, "id BIGINT PRIMARY KEY")
        insert_frame(self.conn, table, pd.DataFrame({"id": ids}))
        self.unlisted[domain] = table

    def _differing(self, source: Source) -> list[int]:
        """Row numbers of ``source`` whose key the catalog lacks or whose row differs there."""
        name = source.table.name
        table = source.table
        query = f"SELECT 1 AS _hit, x.* FROM ({catalog_query(name)}) x"
        columns = ", ".join(table.column_names)
        drop_tables(self.conn, INCOMING)
        self.conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {INCOMING} AS SELECT CAST(0 AS BIGINT) AS _row, {columns} "
            f"FROM ({catalog_query(name)}) x WHERE 1 = 0"
        )
        insert_frame(self.conn, INCOMING, source.frame[list(table.column_names)].reset_index(
            names="_row"))  # fmt: skip
        analyze(self.conn, INCOMING)
        # NULL-safe equality: SQLite's IS, PostgreSQL's IS NOT DISTINCT FROM (the same meaning)
        same = by_dialect(
            self.conn, sqlite="c.{0} IS t.{0}", postgresql="c.{0} IS NOT DISTINCT FROM t.{0}"
        )
        on = " AND ".join(f"c.{k} = t.{k}" for k in table.key)
        compared = [c for c in table.column_names if c not in table.key + source.absent]
        equal = " AND ".join(same.format(c) for c in compared)
        found = {
            row[0] for row in self.conn.exec_driver_sql(_differing_sql(name, query, on, equal))
        }
        if name in EXTRA_TABLES:
            found |= self._differing_extras(source, query, on)
        if name == "replicas" and any(c.domain == "replicas" for c in self.options.complete):
            self.conn.exec_driver_sql(
                f"INSERT INTO {SEEN_REPLICAS} (id) SELECT c._id FROM {INCOMING} t "
                f"JOIN ({query}) c ON {on}"
            )
        if name == "datasets" and any(c.domain == "datasets" for c in self.options.complete):
            self.conn.exec_driver_sql(
                f"INSERT INTO {SEEN_DATASETS} (id) SELECT c._id FROM {INCOMING} t "
                f"JOIN ({query}) c ON {on}"
            )
        drop_tables(self.conn, INCOMING)
        return sorted(found)

    def _differing_extras(self, source: Source, query: str, on: str) -> set[int]:
        """Rows whose extra cells (attributes, metadata, parameters) differ from the catalog's:
        a cell it lacks or holds otherwise, or a key it holds that the row leaves empty."""
        extra, id_column = EXTRA_TABLES[source.table.name]
        temporary_table(self.conn, INCOMING_EXTRAS, "_row BIGINT NOT NULL, key TEXT, value TEXT")
        frame = source.frame
        for start in range(0, len(frame), CHUNK_ROWS):
            part = frame.iloc[start : start + CHUNK_ROWS][source.extras].reset_index(names="_row")
            long = part.melt(id_vars="_row", var_name="key", value_name="value")
            long = long[long["value"].notna()]
            long["key"] = long["key"].astype("string[pyarrow]")
            long["value"] = long["value"].astype("string[pyarrow]")
            insert_frame(self.conn, INCOMING_EXTRAS, long)
        self.conn.exec_driver_sql(
            f"CREATE INDEX {INCOMING_EXTRAS}_row ON {INCOMING_EXTRAS} (_row, key)"
        )
        analyze(self.conn, INCOMING_EXTRAS)
        # the catalog's keys the row leaves empty: any key for an endpoint (its row is its
        # whole description), else only the columns the file has (a column it lacks is not
        # described by the snapshot)
        listed = "" if source.table.name == "endpoints" else "AND m.key IN :keys "
        found = {
            row["_row"] for row in rows(
                self.conn,
                f"SELECT t._row FROM {INCOMING} t JOIN ({query}) c ON {on} "
                f"JOIN {INCOMING_EXTRAS} x ON x._row = t._row "
                f"LEFT JOIN {extra} m ON m.{id_column} = c._id AND m.key = x.key "
                f"WHERE m.value IS NULL OR m.value <> x.value "
                f"UNION ALL SELECT t._row FROM {INCOMING} t JOIN ({query}) c ON {on} "
                f"JOIN {extra} m ON m.{id_column} = c._id {listed}AND NOT EXISTS (SELECT 1 "
                f"FROM {INCOMING_EXTRAS} x WHERE x._row = t._row AND x.key = m.key)",
                **({} if not listed else {"keys": list(source.extras) or [""]}),
            )
        }  # fmt: skip
        drop_tables(self.conn, INCOMING_EXTRAS)
        return found

    # -- matched rows: updates or refusals ---------------------------------------------------
    def _compare(self, source: Source, matched: pd.DataFrame, existing: pd.DataFrame) -> None:
        name = source.table.name
        if name == "replicas":
            self._remember_seen(SEEN_REPLICAS, matched["_id"])
        first_bad: tuple[int, str, str] | None = None
        described = differences(
            source, matched, existing, skip=source.absent, unlisted=name == "endpoints"
        )
        for column, differ, ours, theirs in described:
            if not differ.any():
                continue
            allowed = self._allowed(source, column, matched, theirs)
            refused = differ & ~allowed
            if refused.any():
                pos = int(refused.nonzero()[0][0])
                row = int(matched["_row"].iloc[pos])
                if first_bad is None or row < first_bad[0]:
                    state = matched["state__catalog"].iloc[pos] if name == "datasets" else None
                    first_bad = (row, column, _refusal(name, column, ours.iloc[pos],
                                                       theirs.iloc[pos], state))  # fmt: skip
            elif first_bad is None:  # (after a refusal the whole sync fails: nothing to take)
                self._take(source, column, matched[differ], ours[differ], theirs[differ])
        if first_bad is not None:
            raise source.error(*first_bad)

    def _allowed(self, source: Source, column: str, matched: pd.DataFrame, theirs: pd.Series):
        """Which differing values of ``column`` the sync may change (a boolean array)."""
        import numpy as np

        name = source.table.name
        size = len(matched)
        if column in MUTABLE.get(name, ()):
            return np.ones(size, dtype=bool)
        if name == "endpoints" and column not in source.table.column_names:
            return np.ones(size, dtype=bool)  # an attribute
        if name == "datasets" and column in WHILE_OPEN:
            return (matched["state__catalog"] == "open").fillna(False).to_numpy(dtype=bool)
        if name == "replicas" and column in WHILE_COPYING:
            return (matched["state__catalog"] == "copying").fillna(False).to_numpy(dtype=bool)
        if column in ONCE_RECORDED.get(name, ()):
            blank = theirs.astype("string").str.strip().fillna("") == ""
            return blank.to_numpy(dtype=bool)
        return np.zeros(size, dtype=bool)

    def _take(
        self, source: Source, column: str, rows_: pd.DataFrame, ours: pd.Series, theirs: pd.Series
    ) -> None:
        """Record the changed values of ``column``: for the report, the journal and the update."""
        import pandas as pd

        name = source.table.name
        table = CATALOG_TABLES[name]
        ids = rows_["_id"].astype("int64")
        is_attribute = name == "endpoints" and column not in source.table.column_names
        entity = "endpoint_attribute" if is_attribute else table
        old, new = _texts(theirs), _texts(ours)
        journal = pd.DataFrame(
            {"entity": entity, "entity_id": ids.to_numpy(), "field": column,
             "old_value": old, "new_value": new}
        )  # fmt: skip
        keys = rows_[list(source.table.key)].to_dict("records")
        self.report.changes += [
            {"table": name, "key": {k: json_value(v) for k, v in key.items()},
             "field": column, "old": json_value(o), "new": json_value(n), "reason": "snapshot"}
            for key, o, n in zip(keys, theirs.tolist(), ours.tolist(), strict=True)
        ]  # fmt: skip
        counted = self.report.updated.setdefault(name, {})
        counted[column] = counted.get(column, 0) + len(ids)
        if name == "replicas" and column == "state":
            frame = pd.DataFrame(
                {"id": ids.to_numpy(), "old_state": old, "new_state": new, "absent": 0}
            )
            insert_frame(self.conn, STATE, frame)  # journaled and applied last, checked
            return
        insert_frame(self.conn, CHANGED, journal)
        if is_attribute:
            self.attributes.append(
                pd.DataFrame({"endpoint_id": ids.to_numpy(), "key": column,
                              "value": ours.astype("string[pyarrow]").to_numpy()})
            )  # fmt: skip
        else:
            values = pd.DataFrame({"id": ids.to_numpy(), "value": ours.to_numpy()})
            values["value"] = values["value"].astype(ours.dtype)
            self.pending.append((table, column, values))

    # -- provenance: a production's inputs are history ----------------------------------------
    def _check_provenance(self, source: Source, io: pd.DataFrame) -> None:
        if not io.empty:
            known = io["_production_ref"].astype("int64") <= self.floor["production"]
            source.refuse(
                known,
                "production",
                lambda row: (
                    f"production {io.loc[row, 'production']!r} is in the catalog already: its "
                    f"inputs and outputs are history, and {io.loc[row, 'did']!r} was not among "
                    "them (a new run is a new production)"
                ),
            )
        super()._check_provenance(source, io)

    # -- writes: new rows, then each table's updates ------------------------------------------
    def _insert(self, source: Source, new: pd.DataFrame, phase: Phase) -> list[str]:
        return self._wrote(super()._insert(source, new, phase))

    def _wrote(self, written: list[str]) -> list[str]:
        """The catalog tables just written; from the first one on, the pre-filter reads through
        this connection (its outside reader sees the catalog as it was before the sync). Before
        the first table only the indexes of empty tables may have been dropped (``bulk_load``):
        no row the outside reader reads changed."""
        if written:
            self.arrow.wrote()
        return written

    def _table_done(self, source: Source, new: pd.DataFrame) -> list[str]:
        return self._wrote(self._apply_updates(source))

    def _apply_updates(self, source: Source) -> list[str]:
        name = source.table.name
        if name == "datasets" and "datasets" in self.ids:
            ids = self.ids["datasets"]
            self._remember_seen(SEEN_DATASETS, ids[ids <= self.floor["dataset"]])
        written = []
        for table, column, values in self.pending:
            self._update(table, column, values)
            written.append(table)
        self.pending = []
        if self.attributes:
            self._set_attributes()
            written.append("endpoint_attribute")
        return written

    def _note_times(self, frame: pd.DataFrame) -> None:
        for column in _EVENT_TIMES:
            if column in frame.columns and len(frame):
                newest = frame[column].max()
                if newest is not None and newest == newest:  # not NaT
                    value = newest.to_pydatetime()
                    self.newest = value if self.newest is None else max(self.newest, value)

    def _remember_seen(self, table: str, ids: pd.Series) -> None:
        """Ids of catalog rows the snapshot lists (absence is judged against them)."""
        import pandas as pd

        insert_frame(self.conn, table, pd.DataFrame({"id": ids.astype("int64").to_numpy()}))

    def _update(self, table: str, column: str, values: pd.DataFrame) -> None:
        """One UPDATE for every changed value of ``column`` (a scratch table of id, value)."""
        drop_tables(self.conn, VALUE)
        # the scratch column takes the catalog column's own type on either engine
        self.conn.exec_driver_sql(
            f'CREATE TEMPORARY TABLE {VALUE} AS SELECT id, {column} AS value FROM "{table}" '
            "WHERE 1 = 0"
        )
        insert_frame(self.conn, VALUE, values)
        self.conn.exec_driver_sql(f"CREATE UNIQUE INDEX {VALUE}_id ON {VALUE} (id)")
        self.conn.exec_driver_sql(
            f'UPDATE "{table}" SET {column} = v.value FROM {VALUE} v WHERE v.id = "{table}".id'
        )
        drop_tables(self.conn, VALUE)

    def _set_attributes(self) -> None:
        import pandas as pd

        changed = pd.concat(self.attributes, ignore_index=True)
        self.attributes = []
        temporary_table(self.conn, ATTRIBUTES, "endpoint_id BIGINT, key TEXT, value TEXT")
        insert_frame(self.conn, ATTRIBUTES, changed)
        self.conn.exec_driver_sql(
            f"DELETE FROM endpoint_attribute WHERE EXISTS (SELECT 1 FROM {ATTRIBUTES} a "
            "WHERE a.endpoint_id = endpoint_attribute.endpoint_id "
            "AND a.key = endpoint_attribute.key)"
        )
        self.conn.exec_driver_sql(
            f"INSERT INTO endpoint_attribute (endpoint_id, key, value) "
            f"SELECT endpoint_id, key, value FROM {ATTRIBUTES} WHERE value IS NOT NULL"
        )
        drop_tables(self.conn, ATTRIBUTES)

    # -- after the last table: absence, the safety limit, the loss, replica states ---------------
    def _done(self) -> list[str]:
        if self.report.as_of is None:
            self.report.as_of = self.newest
        written = []
        try:
            with self.progress.phase("marking what the snapshot no longer lists"):
                for complete in self.options.complete:
                    if complete.domain == "replicas":
                        self._absent_replicas(complete)
                    else:
                        written += self._absent_datasets(complete)
                self._check_limit()
                written += self._apply_replica_states()
        finally:
            drop_tables(self.conn, *_SCRATCH)
        return written

    def _absent_replicas(self, complete: Completeness) -> None:
        """Live replicas on the selected endpoints that the snapshot does not list."""
        try:
            names = select(complete.pattern, endpoint_records(self.conn))
        except InvalidExpression as exc:
            raise UsageError(f"--complete {complete}: {exc}") from exc
        live = ", ".join(f"'{s}'" for s in LIVE_REPLICA_STATES)
        self._mark_absent(
            f"SELECT r.id, r.state FROM replica r JOIN endpoint e ON e.id = r.endpoint_id "
            f"WHERE e.name IN :names AND r.state IN ({live}) AND r.id <= :floor "
            f"AND {self._unlisted('r.id', 'replicas')} "
            f"AND r.id NOT IN (SELECT id FROM {STATE})",
            names=names,
            floor=self.floor["replica"],
        )

    def _absent_datasets(self, complete: Completeness) -> list[str]:
        """Datasets of the matching scopes the snapshot does not list, and their live replicas
        (those it does not list either)."""
        scopes = [
            row["scope"]
            for row in rows(self.conn, "SELECT DISTINCT scope FROM dataset")
            if fnmatch.fnmatchcase(row["scope"], complete.pattern)
        ]
        live = ", ".join(f"'{s}'" for s in LIVE_DATASET_STATES)
        absent = rows(
            self.conn,
            f"SELECT d.id, d.did, d.state FROM dataset d WHERE d.scope IN :scopes "
            f"AND d.state IN ({live}) AND d.id <= :floor "
            f"AND {self._unlisted('d.id', 'datasets')}",
            scopes=scopes or [""],
            floor=self.floor["dataset"],
        )
        if not absent:
            return []
        import pandas as pd

        ids = [row["id"] for row in absent]
        insert_frame(
            self.conn,
            CHANGED,
            pd.DataFrame({"entity": "dataset", "entity_id": ids, "field": "state",
                          "old_value": [row["state"] for row in absent],
                          "new_value": "deleted"}),
        )  # fmt: skip
        reason = self._absence_reason()
        self.report.changes += [
            {"table": "datasets", "key": {"did": row["did"]}, "field": "state",
             "old": row["state"], "new": "deleted", "reason": reason}
            for row in absent
        ]  # fmt: skip
        self.report.absent["datasets"] = self.report.absent.get("datasets", 0) + len(absent)
        drop_tables(self.conn, VALUE)
        temporary_table(self.conn, VALUE, "id BIGINT PRIMARY KEY")
        insert_frame(self.conn, VALUE, pd.DataFrame({"id": ids}))
        self.conn.exec_driver_sql(
            f"UPDATE dataset SET state = 'deleted' WHERE id IN (SELECT id FROM {VALUE})"
        )
        replicas = ", ".join(f"'{s}'" for s in LIVE_REPLICA_STATES)
        self._mark_absent(
            f"SELECT r.id, r.state FROM replica r WHERE r.dataset_id IN (SELECT id FROM {VALUE}) "
            f"AND r.state IN ({replicas}) AND r.id NOT IN (SELECT id FROM {STATE})"
        )
        drop_tables(self.conn, VALUE)
        return ["dataset"]

    def _mark_absent(self, query: str, **params: Any) -> None:
        """Replicas ``query`` finds (id, state) go to ``deleted``, as absent from the snapshot."""
        import pandas as pd

        found = rows(self.conn, query, **params)
        if not found:
            return
        frame = pd.DataFrame(found)
        insert_frame(
            self.conn,
            STATE,
            pd.DataFrame({"id": frame["id"], "old_state": frame["state"],
                          "new_state": "deleted", "absent": 1}),
        )  # fmt: skip
        keys = rows(
            self.conn,
            "SELECT r.id, d.did, e.name AS endpoint FROM replica r "
            "JOIN dataset d ON d.id = r.dataset_id JOIN endpoint e ON e.id = r.endpoint_id "
            f"WHERE r.id IN (SELECT id FROM {STATE} WHERE absent = 1)",
        )
        state = dict(zip(frame["id"], frame["state"], strict=True))
        reason = self._absence_reason()
        self.report.changes += [
            {"table": "replicas", "key": {"did": k["did"], "endpoint": k["endpoint"]},
             "field": "state", "old": state[k["id"]], "new": "deleted", "reason": reason}
            for k in sorted(keys, key=lambda k: (k["did"], k["endpoint"])) if k["id"] in state
        ]  # fmt: skip
        self.report.absent["replicas"] = self.report.absent.get("replicas", 0) + len(found)

    def _unlisted(self, column: str, domain: str) -> str:
        """The condition that ``column`` (an id) is one the snapshot does not list."""
        if domain in self.unlisted:
            return f"{column} IN (SELECT id FROM {self.unlisted[domain]})"
        seen = SEEN_REPLICAS if domain == "replicas" else SEEN_DATASETS
        return f"{column} NOT IN (SELECT id FROM {seen})"

    def _absence_reason(self) -> str:
        when = iso_time(self.report.as_of) if self.report.as_of else "unknown time"
        return f"absent from snapshot of {when}"

    def _check_limit(self) -> None:
        """Refuse when an endpoint would see more than ``max_change`` per cent of its replicas
        (those not deleted before the sync) change state or disappear, unless forced."""
        found = rows(
            self.conn,
            f"""
            SELECT e.name AS endpoint, c.n AS changing,
                   (SELECT COUNT(*) FROM replica r WHERE r.endpoint_id = c.endpoint_id
                    AND r.state <> 'deleted' AND r.id <= :floor) AS replicas
            FROM (SELECT r.endpoint_id, COUNT(*) AS n FROM {STATE} s
                  JOIN replica r ON r.id = s.id GROUP BY r.endpoint_id) c
            JOIN endpoint e ON e.id = c.endpoint_id
            ORDER BY e.name
            """,
            floor=self.floor["replica"],
        )
        limit = self.options.max_change
        over = [
            {"endpoint": r["endpoint"], "changing": int(r["changing"]),
             "replicas": int(r["replicas"])}
            for r in found if r["changing"] * 100 > limit * r["replicas"]
        ]  # fmt: skip
        over.sort(key=lambda r: (-r["changing"] / max(r["replicas"], 1), r["endpoint"]))
        if over and not self.options.force:
            raise SafetyLimit(over, limit)
        self.report.forced = over

    def _apply_replica_states(self) -> list[str]:
        """Replica states: those not taking an available replica away first, then the loss is
        computed on that catalog, then the rest. Each change is journaled."""
        has_changes = self.conn.exec_driver_sql(f"SELECT 1 FROM {STATE} LIMIT 1").first()
        if has_changes is None:
            return []
        self.conn.exec_driver_sql(f"INSERT INTO {CHANGED} SELECT 'replica', id, 'state', "
                                  f"old_state, new_state FROM {STATE}")  # fmt: skip
        update = (
            "UPDATE replica SET state = s.new_state FROM {0} s WHERE s.id = replica.id AND ({1})"
        )
        losing = "s.old_state = 'available' AND s.new_state <> 'available'"
        self.conn.exec_driver_sql(update.format(STATE, f"NOT ({losing})"))
        temporary_table(self.conn, GONE)
        self.conn.exec_driver_sql(f"INSERT INTO {GONE} (id) SELECT s.id FROM {STATE} s "
                                  f"WHERE {losing}")  # fmt: skip
        if self.on_loss is not None:
            loss = self.on_loss(self.conn, GONE)
            self.report.lost, self.report.recoverable = loss.lost, loss.recoverable
        self.conn.exec_driver_sql(update.format(STATE, losing))
        return ["replica"]


def _differing_sql(name: str, query: str, on: str, equal: str) -> str:
    """The SELECT of the ``_row`` of every row of :data:`INCOMING` (alias ``t``) that the
    catalog's table ``name`` (``query``, alias ``c``) lacks or holds otherwise.

    Written so that SQLite drives it from the scratch table through the catalog's own indexes:
    a LEFT JOIN to an exchange-shaped SELECT with joins (replicas, productions, pins) is not
    flattened, so SQLite materialised the whole catalog table and built an automatic index on it
    for every sync (1.2 s of replicas at 100 k); an inner join for the differing rows and a
    NOT EXISTS for the new ones are flattened (a one-table SELECT keeps the LEFT JOIN: one
    index lookup per row instead of two, 24.5 s against 39.4 s for datasets at 1 M).
    production_io's SELECT is a UNION ALL, never flattened: its rows are looked up by id in
    production_input / production_output instead (key (production, did); a row whose role
    differs counts as lacking, found either way).
    """
    if name == "production_io":
        return (
            f"SELECT t._row FROM {INCOMING} t LEFT JOIN production p ON p.name = t.production "
            "LEFT JOIN dataset d ON d.did = t.did WHERE NOT (CASE WHEN t.role = 'output' "
            "THEN EXISTS (SELECT 1 FROM production_output o WHERE o.dataset_id = d.id "
            "AND o.production_id = p.id) ELSE EXISTS (SELECT 1 FROM production_input i "
            "WHERE i.production_id = p.id AND i.dataset_id = d.id AND i.role = t.role) END)"
        )
    if " JOIN " not in catalog_query(name):  # one table: SQLite flattens the LEFT JOIN
        return (
            f"SELECT t._row FROM {INCOMING} t LEFT JOIN ({query}) c ON {on} "
            f"WHERE c._hit IS NULL OR NOT ({equal or '1 = 1'})"
        )
    return (
        f"SELECT t._row FROM {INCOMING} t JOIN ({query}) c ON {on} "
        f"WHERE NOT ({equal or '1 = 1'}) "
        f"UNION ALL SELECT t._row FROM {INCOMING} t "
        f"WHERE NOT EXISTS (SELECT 1 FROM ({query}) c WHERE {on})"
    )


def _refusal(table: str, column: str, ours: Any, theirs: Any, state: Any) -> str:
    recorded = f"the catalog has {show_value(theirs)}, this row {show_value(ours)}"
    if column in ONCE_RECORDED.get(table, ()):
        return (
            f"{recorded}: a transformation's {column} is immutable once recorded (a changed "
            f"{column} makes a new transformation: give it a new tag)"
        )
    if table == "datasets" and column in WHILE_OPEN:
        return (
            f"{recorded}: the {column} of a {state} dataset is history (bytes, files and events "
            "change only while the catalog's dataset is open)"
        )
    mutable = ", ".join(MUTABLE.get(table, ())) or "none"
    return f"{recorded}: {column} is history and cannot change (a sync updates {mutable})"


def _texts(values: pd.Series) -> list[str | None]:
    """Values as the journal keeps them: text, ISO 8601 UTC for times, None for null."""
    import pandas as pd

    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        values = format_timestamps(values)
    return [None if pd.isna(v) else str(v) for v in values.tolist()]


def pause_before_commit() -> None:
    """Fault injection, as ``expire --apply`` has it: ``LIFECYCLE_PAUSE_BEFORE_COMMIT=SECONDS``
    sleeps with the changes made but not committed, so a test can kill the process there."""
    import os

    pause = os.environ.get("LIFECYCLE_PAUSE_BEFORE_COMMIT")
    if pause:
        import sys
        import time

        print("lifecycle: paused before commit", file=sys.stderr, flush=True)
        time.sleep(float(pause))
