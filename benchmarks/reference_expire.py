"""Hand-written reference for the expiry benchmark: the same decisions as plain SQL.

Same database, same "now", same policy (the ATLAS 2015 lifetime rules, written out by hand):
expired = past an explicit ``expires_at``, else past the longest lifetime rule selecting the
dataset; kept when raw/calibration/metadata, pinned, an input (any role) of a ``running``
production, or irreproducible (the textbook recursive CTE: no producer that is ``done`` and whose
transformation records a release and an image digest, or an unavailable irreproducible input; a
null, empty or whitespace-only release or digest records nothing); the rest deleted. Prints the
number to delete and the bytes freed per site as JSON. With ``--apply`` it also marks the
replicas and datasets deleted, in one transaction.

Saved reprocessing plans also protect their inputs in lifecycle; generated catalogs hold none, so
this reference does not look at them.

Usage: python benchmarks/reference_expire.py URL NOW [--apply]
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
IRREPRODUCIBLE = f"""
    WITH RECURSIVE bad(id) AS (
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
        WHERE NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = b.id
                          AND r.state = 'available')
    ) SELECT id FROM bad"""


def main() -> None:
    url, now_text = sys.argv[1], sys.argv[2]
    apply = "--apply" in sys.argv[3:]
    if "://" not in url:
        url = f"sqlite:///{url}"
    now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"

    def ts(value: datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value

    analysis, outreach = now - timedelta(days=1826), now - timedelta(days=3650)
    like = "LIKE" if not sqlite else "GLOB"
    daod, ntup = ("'DAOD_*'", "'NTUP_*'") if sqlite else ("'DAOD\\_%'", "'NTUP\\_%'")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMPORARY TABLE ref_expired (id INTEGER PRIMARY KEY)")
        conn.execute(
            sa.text(
                f"""
                INSERT INTO ref_expired (id)
                SELECT d.id FROM dataset d
                WHERE d.state <> 'deleted' AND d.kind NOT IN ('raw', 'calibration', 'metadata')
                  AND ((d.expires_at IS NOT NULL AND d.expires_at < :now)
                    OR (d.expires_at IS NULL AND d.kind IN ('derived', 'simulated')
                        AND (d.data_type {like} {daod} OR d.data_type {like} {ntup})
                        AND d.created_at < :analysis)
                    OR (d.expires_at IS NULL AND d.kind = 'outreach'
                        AND d.created_at < :outreach))
                  AND NOT EXISTS (SELECT 1 FROM pin n WHERE n.dataset_id = d.id
                                  AND (n.until IS NULL OR n.until > :now))
                """
            ),
            {"now": ts(now), "analysis": ts(analysis), "outreach": ts(outreach)},
        )
        conn.exec_driver_sql(  # the job in flight reads them
            "DELETE FROM ref_expired WHERE id IN (SELECT i.dataset_id FROM production_input i "
            "JOIN production p ON p.id = i.production_id WHERE p.status = 'running')"
        )
        conn.exec_driver_sql(
            f"DELETE FROM ref_expired WHERE id IN (SELECT id FROM ({IRREPRODUCIBLE}) x)"
        )
        freed = conn.exec_driver_sql(
            """
            SELECT s.name, COUNT(*), SUM(d.bytes) FROM ref_expired x
            JOIN replica r ON r.dataset_id = x.id JOIN endpoint e ON e.id = r.endpoint_id
            JOIN site s ON s.id = e.site_id JOIN dataset d ON d.id = x.id
            WHERE r.state IN ('available', 'copying', 'unavailable')
            GROUP BY s.name ORDER BY s.name
            """
        ).all()
        n = conn.exec_driver_sql("SELECT COUNT(*) FROM ref_expired").scalar()
        if apply:
            conn.exec_driver_sql(
                "UPDATE replica SET state = 'deleted' WHERE state IN "
                "('available', 'copying', 'unavailable') "
                "AND dataset_id IN (SELECT id FROM ref_expired)"
            )
            conn.exec_driver_sql(
                "UPDATE dataset SET state = 'deleted' WHERE id IN (SELECT id FROM ref_expired)"
            )
    engine.dispose()
    json.dump({"delete": n, "bytes": {site: int(b) for site, _, b in freed}}, sys.stdout)


if __name__ == "__main__":
    main()
