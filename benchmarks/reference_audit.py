"""Hand-written reference for the audit benchmark: the ATLAS 2015 checks as plain SQL.

Same database file (or PostgreSQL schema) as ``lifecycle audit``, same "now", same semantics; it
returns the flagged DIDs per rule and prints their counts as JSON. Reproducible: a producer that
is ``done`` and whose transformation records a release and an image digest (a null, empty or
whitespace-only value records nothing), every input available or reproducible; a raw dataset's
latest production is its latest ``done`` one. No policy parsing, no messages, no history: the
floor an audit could reach.

Usage: python benchmarks/reference_audit.py URL NOW
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta

import sqlalchemy as sa

# Python's whitespace (what str.strip() removes), written out: a value made only of these is blank.
BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
AVAILABLE = "EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = {d} AND r.state = 'available')"


def checks(now: datetime, sqlite: bool) -> dict[str, tuple[str, dict]]:
    def ts(value: datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value

    return {
        "raw-archival-copies": (
            """SELECT d.did FROM dataset d
               LEFT JOIN replica r ON r.dataset_id = d.id AND r.state = 'available'
                 AND r.endpoint_id IN (SELECT id FROM endpoint WHERE media = 'tape')
               LEFT JOIN endpoint e ON e.id = r.endpoint_id
               WHERE d.kind = 'raw' AND d.state <> 'deleted' AND d.created_at <= :grace
               GROUP BY d.id, d.did HAVING COUNT(DISTINCT e.site_id) < 2""",
            {"grace": ts(now - timedelta(days=7))},
        ),
        "raw-preserved": (
            f"""SELECT d.did FROM dataset d WHERE d.kind = 'raw' AND d.created_at <= :grace
                AND (d.state IN ('deleted', 'lost') OR NOT {AVAILABLE.format(d="d.id")})""",
            {"grace": ts(now - timedelta(days=1))},
        ),
        "raw-reprocessable": (
            f"""SELECT d.did FROM dataset d WHERE d.kind = 'raw' AND d.created_at <= :grace
                AND (NOT {AVAILABLE.format(d="d.id")} OR EXISTS (
                  SELECT 1 FROM production_input i
                  JOIN production p ON p.id = i.production_id
                  JOIN production_input c ON c.production_id = p.id AND c.role = 'calibration'
                  WHERE i.dataset_id = d.id AND i.role = 'input' AND p.status = 'done'
                    AND NOT {AVAILABLE.format(d="c.dataset_id")}
                    AND NOT EXISTS (  -- a later production read it: p is not the latest
                      SELECT 1 FROM production_input i2
                      JOIN production p2 ON p2.id = i2.production_id
                      WHERE i2.dataset_id = d.id AND i2.role = 'input'
                        AND p2.status = 'done' AND p2.id <> p.id
                        AND ((p2.started_at IS NOT NULL AND p.started_at IS NULL)
                             OR p2.started_at > p.started_at
                             OR ((p2.started_at = p.started_at
                                  OR (p2.started_at IS NULL AND p.started_at IS NULL))
                                 AND p2.name > p.name)))))""",
            {"grace": ts(now - timedelta(days=1))},
        ),
        "calibration-preserved": (
            f"""SELECT d.did FROM dataset d WHERE d.kind = 'calibration'
                AND (d.state IN ('deleted', 'lost') OR NOT {AVAILABLE.format(d="d.id")})""",
            {},
        ),
        "metadata-preserved": (
            f"""SELECT d.did FROM dataset d WHERE d.kind = 'metadata'
                AND (d.state IN ('deleted', 'lost') OR NOT {AVAILABLE.format(d="d.id")})""",
            {},
        ),
        "derived-reproducible": (
            f"""WITH RECURSIVE bad(id) AS (
                  SELECT d.id FROM dataset d WHERE NOT EXISTS (
                    SELECT 1 FROM production_output o JOIN production p ON p.id = o.production_id
                    JOIN transformation t ON t.id = p.transformation_id
                    WHERE o.dataset_id = d.id AND p.status = 'done'
                      AND COALESCE(trim(t.release, '{BLANKS}'), '') <> ''
                      AND COALESCE(trim(t.image_digest, '{BLANKS}'), '') <> '')
                  UNION
                  SELECT o.dataset_id FROM bad b
                  JOIN production_input i ON i.dataset_id = b.id
                  JOIN production_output o ON o.production_id = i.production_id
                  WHERE NOT {AVAILABLE.format(d="b.id")})
                SELECT d.did FROM bad JOIN dataset d ON d.id = bad.id
                WHERE d.kind IN ('derived', 'simulated')""",
            {},
        ),
        "analysis-formats-lifetime": (
            """SELECT d.did FROM dataset d
               WHERE d.kind IN ('derived', 'simulated')
                 AND (d.data_type LIKE 'DAOD\\_%' ESCAPE '\\' OR d.data_type LIKE 'NTUP\\_%' ESCAPE '\\')
                 AND d.state <> 'deleted'
                 AND ((d.expires_at IS NOT NULL AND d.expires_at < :now)
                      OR (d.expires_at IS NULL AND d.created_at < :cutoff))
                 AND NOT EXISTS (SELECT 1 FROM pin n WHERE n.dataset_id = d.id
                                 AND (n.until IS NULL OR n.until > :now))""",
            {"now": ts(now), "cutoff": ts(now - timedelta(days=1826))},
        ),
        "outreach-lifetime": (
            """SELECT d.did FROM dataset d
               WHERE d.kind = 'outreach' AND d.state <> 'deleted'
                 AND ((d.expires_at IS NOT NULL AND d.expires_at < :now)
                      OR (d.expires_at IS NULL AND d.created_at < :cutoff))
                 AND NOT EXISTS (SELECT 1 FROM pin n WHERE n.dataset_id = d.id
                                 AND (n.until IS NULL OR n.until > :now))""",
            {"now": ts(now), "cutoff": ts(now - timedelta(days=3650))},
        ),
    }


def main() -> None:
    url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2].replace("Z", "+00:00"))
    engine = sa.create_engine(url)
    counts = {}
    with engine.connect() as conn:
        for rule, (sql, params) in checks(now, engine.dialect.name == "sqlite").items():
            counts[rule] = len(conn.execute(sa.text(sql), params).fetchall())
    engine.dispose()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
