"""Sync's pre-filter: the rows of a snapshot table identical to the catalog's, set aside in Arrow.

A nightly snapshot repeats almost all of the catalog. Comparing every row in SQL (a scratch table
of the file's rows and a join per table) cost a sync 2.8 times a fresh import at 1 M datasets.
Here the catalog's table is read once straight into Arrow (by ADBC on a connection of its own
while the sync holds the write lock and has written nothing, :mod:`lifecycle.catalog.arrow_reader`;
else through the driver's cursor, a block of rows at a time, no pandas), both sides are put in
one canonical form per column type (int64, float64, UTC microseconds, text), and each file row's
catalog row is found by key with Arrow's hash lookup (replicas, production_io and pins by ids on
the bare tables, the file's names mapped to ids in Arrow; two ids as one int64):

- a file row whose key the catalog holds and whose every compared value is equal (null equal to
  null) is **identical**: it is dropped before the sync's comparison;
- every other row (new, differing, or one whose values could not be put in the canonical form)
  goes on to the sync's own comparison, unchanged, with the importer's checks and refusals;
- the catalog's rows the file does not list (the anti-join) are what ``--complete`` needs.

Measured figures and what remains: benchmarks/README.md, "Sync speed, second step" and "third
step". Either way of reading gives the same values: ADBC's columns are accepted only with the
types their values must have (:func:`_fits`), else the driver's cursor reads the table.

Only equality ever drops a row, so a value normalised differently on the two sides costs time,
never a wrong answer. Extra cells (attributes, metadata, parameters) are compared as one text
per row: every non-empty cell as ``<length>:<key><length>:<value>`` in key order, built by the
database from the catalog's key/value table and by Arrow from the file's extra columns. Lengths
make the text unambiguous for untrusted keys and values (the reader refuses NUL characters, the
one place where SQLite's ``length`` would stop short); a catalog key the file has no column for
makes the texts differ, and the row is then judged by the sync's comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.catalog.sql import by_dialect
from lifecycle.exchange.exporter import catalog_query
from lifecycle.exchange.reader import Source
from lifecycle.exchange.spec import EXTRA_TABLES, Table
from lifecycle.values import to_utc

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.arrow_reader import ArrowReader

FETCH_ROWS = 100_000  # rows fetched and turned into Arrow at a time (Python objects are the peak)
_EXTRAS = "_extras"  # the extra cells of a row, as one text


@dataclass
class Prefiltered:
    """What the pre-filter found for one table: the file's row numbers still to compare (new or
    differing: the sync's own comparison judges them), and the catalog ids the file lacks
    (``None`` when not asked for)."""

    rows: np.ndarray
    unlisted: np.ndarray | None


# Tables whose key refers to other tables: compared on the catalog's bare table by ids (the
# file's keys mapped to ids in Arrow) rather than through joins that spell the names (a join of
# 1.7 M replicas to their datasets and endpoints took 15 s of a 1 M sync's CPU).
_BY_ID = ("replicas", "production_io", "pins")
# Exchange table -> the catalog's (key, id) columns and table, for the references above.
_IDS = {
    "datasets": (["did", "id"], "dataset"),
    "endpoints": (["name", "id"], "endpoint"),
    "productions": (["name", "id"], "production"),
}


# Exchange table -> the catalog table and columns whose unique index or constraint makes its
# key unique (tests/test_sync_prefilter.py finds each in the schema, on both databases), so
# that no key can be found twice. production_io is a UNION ALL of inputs and outputs: a pair
# in both would be a key twice, which only the provenance checks refuse, so it is counted.
UNIQUE_KEYS = {
    "sites": ("site", ("name",)),
    "endpoints": ("endpoint", ("name",)),
    "datasets": ("dataset", ("did",)),
    "replicas": ("replica", ("dataset_id", "endpoint_id")),
    "transformations": ("transformation", ("tag",)),
    "productions": ("production", ("name",)),
    "pins": ("pin", ("dataset_id", "actor", "reason")),
}


class Prefilter:
    """The pre-filter of one sync: keeps the catalog's key -> id lists of the referenced tables
    (from their own comparison, else read once) between tables.

    ``outside`` reads the catalog's rows straight into Arrow on a connection of its own
    (:mod:`lifecycle.catalog.arrow_reader`), which sees the catalog as last committed: the
    caller gives one only while it holds the write lock, and calls :meth:`wrote` at its first
    write to the catalog, after which every row is read through ``conn`` (its own writes
    included)."""

    def __init__(self, conn: Connection, outside: ArrowReader | None = None) -> None:
        self.conn = conn
        self.outside = outside
        self.ids: dict[str, tuple[Any, Any]] = {}  # exchange table -> (keys, ids) as Arrow
        self.read_through: dict[str, str] = {}  # table -> "arrow" or "driver": how it was read

    def wrote(self) -> None:
        """The caller has written to the catalog: the outside reader no longer sees what it
        reads."""
        self.outside = None

    def __call__(self, source: Source, *, unlisted: bool = False) -> Prefiltered:
        """Split ``source``'s rows into identical to the catalog's (dropped) and the rest.

        ``unlisted`` asks also for the ids of the catalog's rows whose key the file lacks.
        """
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        table = source.table
        compared = [c for c in table.column_names if c not in table.key + source.absent]
        ours = _file_side(source, compared)
        theirs = self._catalog_side(table, compared)
        everything = Prefiltered(source.frame.index.to_numpy(dtype="int64"), None)
        if theirs is None:  # a value the canonical form does not take: compare every row
            return everything
        if table.name in _IDS and table.key[0] in theirs.column_names:
            self.ids[table.name] = (
                theirs[table.key[0]].combine_chunks(),
                theirs["c:_id"].combine_chunks(),
            )
        if table.name in _BY_ID:
            ours = self._with_ids(ours, table)
            if ours is None:
                return everything
        file_keys, recorded_keys = _keys(ours, theirs, table.key)
        recorded_keys = recorded_keys.combine_chunks()
        unique = table.name in UNIQUE_KEYS  # else count: 1.3 s of CPU for 1 M DIDs
        if not unique and pc.count_distinct(recorded_keys).as_py() != len(recorded_keys):
            return everything  # a key twice in the catalog: let the sync's comparison judge
        # Arrow's hash lookup rather than its join: the same answer for unique keys, without
        # the join's execution plan and threads (0.1 s against 0.3 s of CPU, 1.9 s of wall
        # time under load, for the 172,306 replicas of 100 k datasets)
        position = pc.index_in(file_keys, value_set=recorded_keys)
        same = pc.is_valid(position)
        for name in compared:
            same = pc.and_(same, _equal(ours[f"s:{name}"], theirs[f"c:{name}"].take(position)))
        if table.name in EXTRA_TABLES:
            mine = ours[f"s:{_EXTRAS}"]
            recorded = pc.fill_null(theirs[f"c:{_EXTRAS}"].take(position), "")
            same = pc.and_(same, pc.fill_null(pc.equal(mine, recorded), False))
        differing = pc.invert(pc.fill_null(same, False))
        rows = ours["_row"].filter(differing).to_numpy()
        absent = None
        if unlisted:
            listed = pc.is_in(recorded_keys, value_set=file_keys)
            absent = theirs["c:_id"].filter(pc.invert(listed)).to_numpy().astype("int64")
        del ours, theirs, recorded_keys, file_keys, position
        pa.default_memory_pool().release_unused()  # as the importer does after each table
        return Prefiltered(np.asarray(rows, dtype="int64"), absent)

    def _with_ids(self, ours, table: Table):
        """The file's reference key columns as the catalog's ids (null: a key it lacks, so the
        row is new to it); ``None`` if the catalog's keys could not be read."""
        import pyarrow.compute as pc

        for index, name in enumerate(ours.column_names):
            target = table.column(name).references if name in table.key else None
            if target is None:
                continue
            found = self._ids_of(target)
            if found is None:
                return None
            keys, ids = found
            mapped = ids.take(pc.index_in(ours[name], value_set=keys))
            ours = ours.set_column(index, name, mapped)
        return ours

    def _ids_of(self, target: str):
        import pyarrow as pa

        if target not in self.ids:
            items, source = _IDS[target]
            found = self._fetch(source, items, source, [pa.large_string(), pa.int64()])
            if found is None:
                return None
            self.ids[target] = (found[0].combine_chunks(), found[1].combine_chunks())
        return self.ids[target]

    def _catalog_side(self, table: Table, compared: list[str]):
        """The catalog's table as Arrow: the key, ``c:_id``, ``c:<column>`` canonical
        (``c:_extras`` for tables with extra cells); ``None`` if a value resists. The key
        columns of :data:`_BY_ID`'s tables hold ids."""
        import pyarrow as pa

        selected = [*table.key, *compared]
        key_types = [_canonical_type(table.column(c).type) for c in table.key]
        if table.name in _BY_ID:
            listed = [c for c in compared if c not in table.key]
            if table.name == "pins":  # its key holds text besides the id
                key_types = [pa.int64(), pa.large_string(), pa.large_string()]
                selected = [*table.key, *listed]
                items, source = ["id", "dataset_id", "actor", "reason", *listed], "pin"
            elif table.name == "replicas":
                key_types = [pa.int64(), pa.int64()]
                items, source = ["id", "dataset_id", "endpoint_id", *listed], "replica"
            else:  # production_io: role is its one compared column
                key_types = [pa.int64(), pa.int64()]
                selected = [*table.key, "role"] if "role" in compared else list(table.key)
                role = ", role" if "role" in compared else ""
                output = ", 'output'" if "role" in compared else ""
                items = ["one", "production_id", "dataset_id", *(["role"] if role else [])]
                source = (
                    f"(SELECT 1 AS one, production_id, dataset_id{role} FROM production_input "
                    f"UNION ALL SELECT 1, production_id, dataset_id{output} "
                    "FROM production_output) io"
                )
        else:
            query = catalog_query(table.name)
            id_column = "x._id" if "_id" in query.split(" FROM ")[0] else "1"
            items = [id_column, *(f"x.{c}" for c in selected)]
            if table.name in EXTRA_TABLES:
                items.append(f"({_extras_sql(self.conn, table.name)})")
            source = f"({query}) x"
        value_types = [_canonical_type(table.column(c).type) for c in selected[len(table.key) :]]
        types = [pa.int64(), *key_types, *value_types]
        names = ["c:_id", *table.key, *(f"c:{c}" for c in selected[len(table.key) :])]
        if table.name in EXTRA_TABLES:
            types.append(pa.large_string())
            names.append(f"c:{_EXTRAS}")
        columns = self._fetch(table.name, items, source, types)
        if columns is None:
            return None
        return pa.table(dict(zip(names, columns, strict=True)))

    def _fetch(self, name: str, items: list[str], source: str, types: list):
        """``SELECT items FROM source`` as chunked Arrow arrays of ``types``: through the
        :class:`~lifecycle.catalog.arrow_reader.ArrowReader` while the caller has not written,
        else (or where it declines a value) through ``conn``'s cursor; ``None`` if a value does
        not convert."""
        if self.outside is not None:
            kinds = [_kind(t) for t in types]
            columns = self.outside.read(items, source, kinds)
            if columns is not None:
                columns = _canonical_columns(columns, types)
            if columns is not None:
                self.read_through[name] = "arrow"
                return columns
        self.read_through[name] = "driver"
        return _fetch(self.conn, f"SELECT {', '.join(items)} FROM {source}", types)


def _fetch(conn: Connection, sql: str, types: list):
    """The columns of ``sql`` as chunked Arrow arrays of ``types``, a block of rows at a time
    through the driver's own cursor (no per-row objects of SQLAlchemy); ``None`` if a value
    does not convert."""
    import pyarrow as pa

    blocks = []
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        while True:
            fetched = cursor.fetchmany(FETCH_ROWS)
            if not fetched:
                break
            block = _block(list(zip(*fetched, strict=True)), types)
            if block is None:
                return None
            blocks.append(block)
    finally:
        cursor.close()
    if not blocks:
        blocks = [[pa.array([], type=t) for t in types]]
    return [pa.chunked_array([b[i] for b in blocks], type=t) for i, t in enumerate(types)]


def _keys(ours, theirs, key: tuple[str, ...]):
    """The key of each row of the file (``ours``) and of the catalog (``theirs``) as one value,
    the same way on both sides so that a file key meets only its equal:

    - two ids (replicas, production_io) as one integer, the first shifted past the second's
      32 bits, where every id on either side is from 0 to 2^31 - 1 (2^32 - 1 for the second);
      hashing one int64 instead of a text of two took the replicas' keys of a 1 M sync from
      about 3 s of CPU to under 1 s (building the texts, their uniqueness, the lookup);
    - else the columns as text joined by NUL, which the reader refuses in text.

    A null part (a name the catalog lacks) makes the key null, found nowhere."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(key) == 1:
        return ours[key[0]], theirs[key[0]]
    if len(key) == 2 and _fits_in_one_integer([t[k] for t in (ours, theirs) for k in key]):
        first, second = key
        return tuple(
            pc.add(pc.shift_left(t[first].cast(pa.int64()), 32), t[second].cast(pa.int64()))
            for t in (ours, theirs)
        )
    text = pa.large_string()
    nul = pa.scalar("\x00", text)
    return tuple(
        pc.binary_join_element_wise(*(t[k].cast(text) for k in key), nul) for t in (ours, theirs)
    )


def _fits_in_one_integer(columns: list) -> bool:
    """Whether ``columns`` (first key column of each side, then the second: ours first, theirs
    second, as :func:`_keys` lists them) are integers from 0 to 2^31 - 1, resp. 2^32 - 1."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ours_first, ours_second, theirs_first, theirs_second = columns
    for column, limit in (
        (ours_first, 2**31 - 1),
        (theirs_first, 2**31 - 1),
        (ours_second, 2**32 - 1),
        (theirs_second, 2**32 - 1),
    ):
        if not pa.types.is_integer(column.type):
            return False
        low, high = pc.min_max(column).values()
        if low.is_valid and (low.as_py() < 0 or high.as_py() > limit):
            return False
    return True


def _equal(a, b):
    """Null-safe equality of two Arrow columns: both empty, or both the same value."""
    import pyarrow.compute as pc

    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.or_(both_null, pc.fill_null(pc.equal(a, b), False))


def _canonical_type(column_type: str):
    import pyarrow as pa

    if column_type == "int":
        return pa.int64()
    if column_type == "float":
        return pa.float64()
    if column_type == "timestamp":
        return pa.timestamp("us", tz="UTC")
    return pa.large_string()


# -- the file's side --------------------------------------------------------------------------
def _file_side(source: Source, compared: list[str]):
    """The file's rows as an Arrow table: ``_row``, the key, ``s:<column>`` canonical."""
    import pyarrow as pa

    frame = source.frame
    table = source.table
    columns: dict[str, Any] = {"_row": pa.array(frame.index.to_numpy(dtype="int64"))}
    for name in table.key:
        columns[name] = _file_column(frame[name], table.column(name).type)
    for name in compared:
        columns[f"s:{name}"] = _file_column(frame[name], table.column(name).type)
    if table.name in EXTRA_TABLES:
        columns[f"s:{_EXTRAS}"] = _file_extras(source)
    return pa.table(columns)


def _file_column(values, column_type: str):
    import pyarrow as pa

    arrow = pa.array(values, from_pandas=True)
    wanted = _canonical_type(column_type)
    if pa.types.is_timestamp(arrow.type) and arrow.type.tz is None:
        arrow = arrow.cast(pa.timestamp("us")).cast(wanted)  # the reader's times are UTC
    return arrow.cast(wanted)


def _file_extras(source: Source):
    """Each row's non-empty extra cells as one text, in key order (see the module's note)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = pa.repeat(pa.scalar("", pa.large_string()), len(source.frame))
    text = pa.large_string()
    colon, empty = pa.scalar(":", text), pa.scalar("", text)
    for key in sorted(source.extras):
        value = pa.array(source.frame[key], from_pandas=True).cast(text)
        head = pa.scalar(f"{len(key)}:{key}", text)
        piece = pc.binary_join_element_wise(
            head, pc.utf8_length(value).cast(text), colon, value, empty
        )
        out = pc.binary_join_element_wise(out, pc.fill_null(piece, empty), empty)
    return out


# -- the catalog's side ---------------------------------------------------------------------
def _kind(wanted) -> str:
    """The column type (exchange spec's words) of a canonical Arrow type."""
    import pyarrow as pa

    if pa.types.is_integer(wanted):
        return "int"
    if pa.types.is_floating(wanted):
        return "float"
    return "timestamp" if pa.types.is_timestamp(wanted) else "text"


def _fits(given, wanted) -> bool:
    """Whether the outside reader's type ``given`` is one a column of ``wanted`` may have."""
    import pyarrow as pa

    t = pa.types
    text = t.is_string(given) or t.is_large_string(given)
    if t.is_null(given):  # no value at all
        return True
    if t.is_integer(wanted):
        return t.is_integer(given)
    if t.is_floating(wanted):
        return t.is_floating(given)
    if t.is_timestamp(wanted):
        return text or t.is_timestamp(given)
    return text


def _canonical_columns(columns: list, types: list) -> list | None:
    """Columns as the outside reader typed them, in the canonical ``types``; ``None`` unless
    each has the type its values must have (then the driver's cursor reads the table, and
    :func:`_block` judges its values as before): integers for int, floats for float, text for
    text, text (SQLite) or times (PostgreSQL) for timestamps. SQLite's TEXT columns hold only
    text (numbers put there are stored as text), so a text column read as text is the driver's
    text too."""
    import pyarrow as pa

    out = []
    for column, wanted in zip(columns, types, strict=True):
        if not _fits(column.type, wanted):
            return None
        try:
            if pa.types.is_timestamp(wanted) and not pa.types.is_timestamp(column.type):
                column = column.cast(pa.timestamp("us"))  # SQLite's UTC text, as _timestamps
            elif pa.types.is_timestamp(column.type) and column.type.tz is None:
                column = column.cast(pa.timestamp("us"))  # naive: UTC, as to_utc takes it
            out.append(column.cast(wanted))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None
    return out


def _block(values: list[tuple], types: list) -> list | None:
    """One fetched block, column by column, as Arrow arrays of the canonical types."""
    import pyarrow as pa

    out = []
    for column, wanted in zip(values, types, strict=True):
        if pa.types.is_timestamp(wanted):
            converted = _timestamps(column, wanted)
            if converted is None:
                return None
            out.append(converted)
            continue
        try:
            out.append(pa.array(column, type=wanted))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return None
    return out


def _timestamps(column: tuple, wanted):
    """Catalog timestamps as UTC microseconds: SQLite's UTC text parsed by Arrow, with pandas'
    reading (the exporter's) where Arrow declines; PostgreSQL's aware datetimes through pandas."""
    import pandas as pd
    import pyarrow as pa

    if all(v is None or isinstance(v, str) for v in column[:1000]):
        try:
            text = pa.array(column, type=pa.large_string())
            return text.cast(pa.timestamp("us")).cast(wanted)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
    try:
        return pa.array(to_utc(pd.Series(column, dtype=object)), from_pandas=True).cast(wanted)
    except (ValueError, TypeError, pa.ArrowInvalid):
        return None


def _extras_sql(conn: Connection, name: str) -> str:
    """The extra cells of catalog row ``x._id`` as one text in key order (a correlated
    subquery: one seek of the key/value table's primary key, (id, key), per row)."""
    extra, id_column = EXTRA_TABLES[name]
    piece = "length(key) || ':' || key || length(value) || ':' || value"
    return by_dialect(
        conn,
        # SQLite 3.40 has no ORDER BY inside group_concat: the rows come in the primary key's
        # order, (id, key), which the aggregate keeps; were it ever otherwise, rows would
        # differ and be compared by the sync itself (slower, never wrong). PostgreSQL orders the
        # keys itself, in byte order ("C") as Python's sort of the file's column names does.
        sqlite=f"SELECT group_concat({piece}, '') FROM {extra} WHERE {id_column} = x._id",
        postgresql=(
            f"SELECT string_agg({piece}, '' ORDER BY key COLLATE \"C\") FROM {extra} "
            f"WHERE {id_column} = x._id"
        ),
    )
