"""The audit: every rule of the loaded policies evaluated over the whole catalog, kept as history.

``run_audit`` evaluates and records one audit run (one transaction, one journal entry), and
hands its findings to the caller as a frame or, for output of any size, a chunk of rows at a
time read from the database (:data:`Show`);
``lifecycle.audit.rules`` holds one evaluator per rule type; ``lifecycle.audit.history`` stores
runs, lists them and diffs two of them for nightly cron reports. A service: it may import
``provenance``, ``policy``, ``catalog`` and the leaf modules; never the api or the CLI.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, partial
from itertools import pairwise
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from lifecycle.audit.history import index_by_rule_and_did, record_run
from lifecycle.audit.rules import EVALUATORS, Finding, SqlFindings, json_text
from lifecycle.catalog.sql import by_dialect, driver_mark, insert_rows, statement, temporary_table
from lifecycle.catalog.store import current_actor, snapshot_reader, utcnow
from lifecycle.policy import SEVERITIES, PolicySet, Rule, endpoint_sets
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance.reproducibility import IRREPRODUCIBLE, irreproducible_table
from lifecycle.text import count
from lifecycle.values import envelope, json_value, records, rows_frame

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change

SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3}
FAIL_ON = ("error", "warning", "never")
FINDING_COLUMNS = ["rule", "policy", "did", "severity", "message", "details"]
CHUNK = 5000  # findings read from the database at a time


@dataclass
class AuditReport:
    """One audit run: what was judged, the counts, and every finding."""

    run: dict[str, Any]
    summary: dict[str, Any]
    findings: pd.DataFrame | None = field(repr=False)  # None when run without findings
    columns = tuple(FINDING_COLUMNS)  # of the findings, and of the rows a Show is given

    def fails(self, fail_on: str = "error") -> bool:
        """Whether a finding at or above ``fail_on`` exists (``never``: never fails)."""
        if fail_on == "never":
            return False
        threshold = SEVERITY_RANK[fail_on]
        counts = self.summary["by_severity"]
        return any(n and SEVERITY_RANK[severity] >= threshold for severity, n in counts.items())

    def to_dict(self) -> dict[str, Any]:

        findings = [] if self.findings is None else records(self.findings)
        for finding in findings:
            finding["details"] = json.loads(finding["details"])
        return envelope("audit", self.summary, run=self.run, findings=findings)

    def summary_line(self) -> str:
        counts = self.summary["by_severity"]
        if self.run.get("recorded", True):
            run = f"audit run {self.run['id']}"
        elif self.run.get("preview"):
            run = f"audit as of {self.run['as_of']} (a preview, not recorded)"
        else:
            run = "audit run not recorded"
        return (
            f"{run}: {count(self.summary['findings'], 'finding')} "
            f"({count(counts['error'], 'error')}, {count(counts['warning'], 'warning')}, "
            f"{count(counts['info'], 'info', 'info')}) from {count(self.summary['rules'], 'rule')} "
            f"over {count(self.summary['datasets'], 'dataset')}"
        )


def run_audit(
    conn: Connection,
    change: Change | None,
    policies: PolicySet,
    now: datetime,
    *,
    with_findings: bool = True,
    preview: bool = False,
    show: Show | None = None,
    irreproducible: str | None = None,
    progress: Progress = SILENT,
) -> AuditReport:
    """Evaluate every rule on ``conn`` and, with ``change`` (the caller's write transaction),
    record the run; without it nothing is recorded and the run has no id (``preview``: because
    it is judged as of another time than the present, which the summary line says).

    Without ``record`` the run is not kept (its id is None) and a read transaction will do.

    Findings gather in a temporary table: rules that can flag a large part of the catalog write
    there straight from SQL, the others insert their (few) explained rows. Counts, history and,
    when ``with_findings``, the report's findings are read from it. With ``show``, the findings
    are not gathered in the report: ``show(report, rows)`` is called while the table is there,
    with :class:`FindingRows` giving its rows a chunk at a time (rule order, then DID), to
    write them as they are read. ``irreproducible``: the irreproducible set already in the
    temporary table :data:`~lifecycle.provenance.reproducibility.IRREPRODUCIBLE` of ``conn``
    (the name the reproducibility rule reads), not computed again. ``progress`` hears of each
    rule evaluated.
    """
    if irreproducible not in (None, IRREPRODUCIBLE):
        raise ValueError(f"the audit reads the irreproducible set as {IRREPRODUCIBLE}")
    started = time.perf_counter()
    started_at = utcnow()
    endpoints_by_rule = endpoint_sets(conn, policies)
    temporary_table(conn, FINDINGS_TABLE, findings_columns(conn))
    by_rule = {rule.name: 0 for rule in policies.rules}
    by_severity = {s: 0 for s in SEVERITIES}
    # Each rule's findings are inserted at once, in DID order, at consecutive positions (see
    # position): a rule's range of positions reads them in order, with no index on (rule, DID).
    ranges: dict[str, tuple[int, int]] = {}
    evaluated = _evaluate(conn, policies, now, endpoints_by_rule, irreproducible)
    with progress.phase("auditing: rules evaluated", len(policies.rules)) as phase:
        for rule, inserted in evaluated:
            # counted as inserted (a rule has one severity): no pass over the table to count
            by_rule[rule.name] += inserted
            by_severity[rule.severity] += inserted
            if inserted:
                last = _last_position(conn)
                ranges[rule.name] = (last - inserted + 1, last)
            phase.advance()
    canonical_details(conn, FINDINGS_TABLE)
    total = sum(by_rule.values())
    summary = {
        "findings": total,
        "by_severity": by_severity,
        "by_rule": by_rule,
        "rules": len(policies.rules),
        "datasets": int(conn.exec_driver_sql("SELECT COUNT(*) FROM dataset").scalar() or 0),
    }
    run = {
        "started_at": started_at,
        "as_of": now,
        "actor": change.actor if change is not None else current_actor(),
        "policy_hash": policies.content_hash,
        "policies": ",".join(p.name for p in policies.policies),
        "rule_names": [rule.name for rule in policies.rules],
        "seconds": round(time.perf_counter() - started, 3),
    }
    run["id"] = record_run(conn, run, summary, FINDINGS_TABLE) if change is not None else None
    run["recorded"] = change is not None
    run["preview"] = preview
    if change is not None:
        change.summary = f"audit run {run['id']}: {count(total, 'finding')}"
    report = AuditReport({k: json_value(v) for k, v in run.items()}, summary, None)
    found_rows = FindingRows(conn, tuple(policies.rules), ranges)
    if show is not None:
        show(report, found_rows)
    elif with_findings:
        found = [row for chunk in found_rows for row in chunk]
        report.findings = rows_frame(FINDING_COLUMNS, found)
    conn.exec_driver_sql(f"DROP TABLE {FINDINGS_TABLE}")
    return report


# Evaluate rules on a second connection, on the same snapshot, while this one computes the
# irreproducible set (tests turn it off to compare with the serial evaluation)
CONCURRENT = True


def _evaluate(
    conn: Connection,
    policies: PolicySet,
    now: datetime,
    endpoints: dict[str, list[int] | None],
    irreproducible: str | None = None,
) -> Iterator[tuple[Rule, int]]:
    """Evaluate every rule into :data:`FINDINGS_TABLE`; yields each rule with how many findings
    it inserted.

    Reproducibility rules read the irreproducible set, a temporary table of ``conn``, so they
    run there; the other rules are shared out. Where a second connection can read the same
    snapshot (:func:`~lifecycle.catalog.store.snapshot_reader`: a recorded run on SQLite or
    PostgreSQL), a thread evaluates rules on it from the end of the list while ``conn``
    computes the irreproducible set and then takes rules from the front; the other thread's
    findings come back as rows and are inserted here. Measured at 1 M datasets (SQLite): the
    irreproducible set takes 1.7 s on one core, and the replication, preservation,
    reprocessability and lifetime rules about as long on the other (serial: one after the
    other); on PostgreSQL the server spent 4.9 s on the set and 2.8 s on those rules. Elsewhere
    (in memory, a read transaction) ``conn`` evaluates everything in turn.
    """
    own = [rule for rule in policies.rules if rule.type == "reproducibility"]
    shared = deque(rule for rule in policies.rules if rule.type != "reproducibility")
    reader = snapshot_reader(conn) if CONCURRENT and shared else None
    with ExitStack() as stack:
        elsewhere = None
        if reader is not None:
            pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="audit"))
            elsewhere = pool.submit(_evaluate_on, reader, shared, now, endpoints)
            # on an error here the other thread takes no further rule (and is waited for)
            stack.callback(shared.clear)
        with irreproducible_table(conn, existing=irreproducible) if own else nullcontext():
            for rule in own:
                yield rule, _insert(conn, rule, EVALUATORS[rule.type](conn, rule, now, None))
            while shared:
                try:
                    rule = shared.popleft()
                except IndexError:  # the other thread took the last one
                    break
                found = EVALUATORS[rule.type](conn, rule, now, endpoints.get(rule.name))
                yield rule, _insert(conn, rule, found)
        if elsewhere is not None:
            for rule, found in elsewhere.result():
                yield rule, _insert(conn, rule, found)


def _evaluate_on(
    reader: Callable[[], AbstractContextManager[Connection]],
    shared: deque[Rule],
    now: datetime,
    endpoints: dict[str, list[int] | None],
) -> list[tuple[Rule, list[Finding]]]:
    """Rules taken from the end of ``shared`` until none is left, evaluated on a connection of
    ``reader``; their findings as rows (a query's rows read here, in DID order)."""
    out = []
    with reader() as conn:
        while shared:
            try:
                rule = shared.pop()
            except IndexError:
                break
            found = EVALUATORS[rule.type](conn, rule, now, endpoints.get(rule.name))
            out.append((rule, found.fetch(conn) if isinstance(found, SqlFindings) else found))
    return out


def _insert(conn: Connection, rule: Rule, found: SqlFindings | list[Finding]) -> int:
    """Insert one rule's findings into :data:`FINDINGS_TABLE`; returns how many."""
    if isinstance(found, SqlFindings):
        constants = {"rule": rule.name, "policy": rule.policy, "severity": rule.severity}
        return found.insert_into(conn, FINDINGS_TABLE, constants)
    if not found:
        return 0
    if any(a[0] >= b[0] for a, b in pairwise(found)):  # in DID order, as the table is read
        found = sorted(found, key=itemgetter(0))
    rows = [(rule.name, rule.policy, rule.severity, *finding) for finding in found]
    columns = ("rule", "policy", "severity", "did", "message", "details")
    insert_rows(conn, FINDINGS_TABLE, columns, rows)
    return len(rows)


def position(conn: Connection) -> str:
    """The column of :data:`FINDINGS_TABLE` that numbers its rows in the order inserted:
    SQLite's ``rowid`` (appended rows take the next ones), on PostgreSQL an identity column
    (a session's temporary sequence, drawn row by row as the sorted rows are inserted). A
    rule's findings, inserted at once in DID order, take a range of consecutive positions.

    PostgreSQL keeps no rowid: the findings were read along an index on (rule, DID) in code
    point order, built in 0.3-0.33 s at 1 M datasets (206 k findings); the index on positions
    read in their place is built in 0.08 s, only when the findings are read in order."""
    return by_dialect(conn, sqlite="rowid", postgresql="seq")


def findings_columns(conn: Connection) -> str:
    """The columns of :data:`FINDINGS_TABLE`: :data:`FINDING_COLUMNS`, all text, and the
    :func:`position` where it is not the engine's own."""
    texts = ", ".join(f"{column} TEXT NOT NULL" for column in FINDING_COLUMNS)
    return by_dialect(
        conn, sqlite=texts, postgresql=f"seq BIGINT GENERATED ALWAYS AS IDENTITY, {texts}"
    )


def _last_position(conn: Connection) -> int:
    """The :func:`position` of the last finding inserted into :data:`FINDINGS_TABLE`."""
    sql = by_dialect(
        conn,
        sqlite=f"SELECT MAX(rowid) FROM {FINDINGS_TABLE}",
        postgresql=f"SELECT currval(pg_get_serial_sequence('{FINDINGS_TABLE}', 'seq'))",
    )
    return int(conn.exec_driver_sql(sql).scalar())


Show = Callable[[AuditReport, "FindingRows"], None]
FINDINGS_TABLE = "tmp_audit_finding"


def canonical_details(conn: Connection, table: str) -> None:
    """Write the details of ``table``'s findings as ``json.dumps(..., sort_keys=True)`` does
    where the database quoted a text with characters from U+007F on as they are (see
    :class:`~lifecycle.audit.rules.SqlFindings`): the same finding has the same details
    whichever engine or evaluator wrote it (the history compares them as text, and the JSON
    output splices them in). Only findings with such characters are read, usually none."""
    odd = by_dialect(
        conn,
        sqlite="length(CAST(details AS BLOB)) <> length(details) OR instr(details, char(127)) > 0",
        postgresql="octet_length(details) <> length(details) OR strpos(details, chr(127)) > 0",
    )
    found = conn.exec_driver_sql(f"SELECT rule, did, details FROM {table} WHERE {odd}").all()
    if found:
        index_by_rule_and_did(conn, table)
        conn.execute(
            statement(f"UPDATE {table} SET details = :details WHERE rule = :rule AND did = :did"),
            [
                {"rule": rule, "did": did, "details": json.dumps(json.loads(d), sort_keys=True)}
                for rule, did, d in found
            ],
        )


def csv_field(conn: Connection, column: str) -> str:
    """SQL: the text ``column`` as the csv module writes a field with minimal quoting: as it
    is, or in double quotes with its double quotes doubled when it holds a character
    :func:`csv_quoted` names."""
    find = by_dialect(conn, sqlite="instr", postgresql="strpos")
    character = by_dialect(conn, sqlite="char", postgresql="chr")
    needs_quotes = " OR ".join(f"{find}({column}, {character}({ord(c)})) > 0" for c in csv_quoted())
    return f"""CASE WHEN {needs_quotes} THEN '"' || replace({column}, '"', '""') || '"' """ + (
        f"ELSE {column} END"
    )


def csv_text(value: str) -> str:
    """``value`` as :func:`csv_field` writes it (and the csv module, for a field of a row)."""
    if any(c in value for c in csv_quoted()):
        return '"' + value.replace('"', '""') + '"'
    return value


@cache
def csv_quoted() -> str:
    """The characters for which ``csv.writer(out, lineterminator="\\n")`` quotes a field: the
    delimiter, the quote character and line ends, as this Python's csv module decides (asked,
    not assumed: 3.11 quotes a field with a line feed but not one with a carriage return)."""
    import csv
    import io

    quoted = ""
    for c in ',"\r\n':
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([f"a{c}b"])
        if out.getvalue().startswith('"'):
            quoted += c
    return quoted


@dataclass(frozen=True)
class FindingRows:
    """A run's findings while its findings table exists: iterated, chunks of rows (tuples of
    :data:`FINDING_COLUMNS`) in the order of ``rules``, each rule's in DID order (code points,
    as Python sorts), read along each rule's range of positions (:func:`position`);
    :meth:`first` reads only the first few of each rule (what a table for people shows),
    :meth:`json_texts` the findings as JSON, :meth:`csv_lines` as CSV.

    A rule's name, policy and severity are the same for every finding of the rule (names are
    unique across the loaded policies): they are not read for each finding but put in here, as
    values or, in composed texts, as the text they become."""

    conn: Connection
    rules: tuple[Rule, ...]
    ranges: dict[str, tuple[int, int]]  # rule name -> its first and last position

    def __iter__(self) -> Iterator[list[tuple]]:
        return self._rows()

    def first(self, n: int) -> Iterator[list[tuple]]:
        """The first ``n`` findings of each rule (in the same order), a chunk at a time."""
        return self._rows(n)

    def _rows(self, limit: int | None = None) -> Iterator[list[tuple]]:
        for rule, chunk in self._read("did, message, details", limit=limit):
            name, policy, severity = rule.name, rule.policy, rule.severity
            yield [(name, policy, did, severity, message, d) for did, message, d in chunk]

    def json_texts(self) -> Iterator[list[str]]:
        """Each finding as its compact JSON text, exactly what ``json.dumps`` writes for the
        finding's dict (as in :meth:`AuditReport.to_dict`), a chunk at a time, in order.

        The database composes them from the DID, the message and the details; the rest of
        the text is the rule's, written here by ``json.dumps``. Its JSON quoting is Python's
        for characters below U+007F (:func:`~lifecycle.audit.rules.json_text`) and the details
        are spliced in as stored, already ``json.dumps``'s text (:func:`canonical_details`).
        The few texts with other characters are encoded again here. Measured on 205 k
        findings: 0.1 s, against 0.4 s for composing them in Python from the rows; on
        PostgreSQL quoting the name, policy and severity of every finding took 0.3-0.4 s more.
        """
        mark = driver_mark(self.conn)
        texts = (
            f"{mark} || {json_text(self.conn, 'did')} || {mark} || "
            f"""{json_text(self.conn, "message")} || ', "details": ' || details || '}}'"""
        )

        def rule_texts(rule: Rule) -> tuple[str, str]:
            dumps = json.dumps
            return (
                f'{{"rule": {dumps(rule.name)}, "policy": {dumps(rule.policy)}, "did": ',
                f', "severity": {dumps(rule.severity)}, "message": ',
            )

        encode = json.JSONEncoder().encode  # compact, as json.dumps without options
        for _, chunk in self._read(texts, rule_texts):
            yield [
                text if text.isascii() and "\x7f" not in text else encode(json.loads(text))
                for (text,) in chunk
            ]

    def csv_lines(self) -> Iterator[list[str]]:
        """Each finding as its CSV line, exactly what ``csv.writer(out, lineterminator="\\n")``
        writes for its row (:data:`FINDING_COLUMNS`, header aside), a chunk at a time, in order.

        The database composes them from the DID, the message and the details
        (:func:`csv_field`), the rule's fields are written here as :func:`csv_field` writes
        them. Measured on 206 k findings: the csv module took 1.7 s to write the rows (it
        looks at every character of 190 bytes a row), reading the composed lines takes a
        fraction of that.
        """
        conn, mark = self.conn, driver_mark(self.conn)
        newline = by_dialect(conn, sqlite="char(10)", postgresql="chr(10)")
        fields = " || ',' || ".join(csv_field(conn, column) for column in ("message", "details"))
        lines = f"{mark} || {csv_field(conn, 'did')} || {mark} || {fields} || {newline}"

        def rule_fields(rule: Rule) -> tuple[str, str]:
            return f"{csv_text(rule.name)},{csv_text(rule.policy)},", f",{csv_text(rule.severity)},"

        for _, chunk in self._read(lines, rule_fields):
            yield [text for (text,) in chunk]

    def _read(
        self,
        columns: str,
        constants: Callable[[Rule], tuple[str, ...]] = lambda rule: (),
        limit: int | None = None,
    ) -> Iterator[tuple[Rule, list[tuple]]]:
        """``columns`` of the findings (SQL; ``constants(rule)``: the values of its
        placeholders), rule by rule along their positions, a chunk at a time with its rule,
        from the driver's cursor: SQLAlchemy's row objects cost more than reading the rows
        (200 k findings)."""
        conn, mark = self.conn, driver_mark(self.conn)
        at = position(conn)
        limited = "" if limit is None else f" LIMIT {int(limit)}"
        sql = (
            f"SELECT {columns} FROM {FINDINGS_TABLE} WHERE {at} BETWEEN {mark} AND {mark} "
            f"ORDER BY {at}{limited}"
        )
        if self.ranges and by_dialect(conn, sqlite=False, postgresql=True):
            conn.exec_driver_sql(
                f"CREATE INDEX IF NOT EXISTS ix_{FINDINGS_TABLE}_seq ON {FINDINGS_TABLE} (seq)"
            )
        driver = conn.connection.driver_connection
        cursor_of = by_dialect(
            conn,
            # PostgreSQL: a server-side (named) cursor, else psycopg holds every row; SQLite's
            # cursor steps as it is read anyway
            sqlite=driver.cursor,
            postgresql=partial(driver.cursor, "audit_findings"),
        )
        for rule in self.rules:
            if rule.name not in self.ranges:
                continue
            cursor = cursor_of()
            try:
                cursor.execute(sql, (*constants(rule), *self.ranges[rule.name]))
                while chunk := cursor.fetchmany(CHUNK):
                    yield rule, chunk
            finally:
                cursor.close()
