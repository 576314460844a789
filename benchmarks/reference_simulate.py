"""Hand-written reference for the loss-simulation benchmark: the same answers as plain SQL.

Same database, same site, same "now", the ATLAS 2015 replication rule written out by hand (raw,
two tape copies at distinct sites, seven days' grace). Every replica at the site is gone; it
computes the datasets left without an available replica, which of them a recipe can rebuild
(one recursive walk over (dataset, needed dataset) pairs through inputs without an available
replica afterwards; every needed dataset must have a producer that is ``done`` and whose
transformation records a release and an image digest, a null, empty or whitespace-only value
recording nothing) and in how many productions, the replication violations the loss creates,
and for every other dataset losing a replica the copies to make again from a surviving replica
(disk first, then by endpoint name), with the bytes per source site. Prints it all as JSON.

Usage: python benchmarks/reference_simulate.py URL SITE NOW
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
UNAVAILABLE = """NOT EXISTS (SELECT 1 FROM replica r WHERE r.dataset_id = {d}
    AND r.state = 'available' AND NOT EXISTS (SELECT 1 FROM ref_gone g WHERE g.id = r.id){fence})"""


def main() -> None:
    url, site, now_text = sys.argv[1], sys.argv[2], sys.argv[3]
    if "://" not in url:
        url = f"sqlite:///{url}"
    now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
    engine = sa.create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    cutoff = now - timedelta(days=7)
    if sqlite:
        cutoff = cutoff.strftime("%Y-%m-%d %H:%M:%S.%f")
    with engine.begin() as conn:
        run = conn.exec_driver_sql
        run("CREATE TEMPORARY TABLE ref_gone (id INTEGER PRIMARY KEY)")
        conn.execute(
            sa.text(
                "INSERT INTO ref_gone (id) SELECT r.id FROM replica r WHERE r.endpoint_id IN "
                "(SELECT e.id FROM endpoint e JOIN site s ON s.id = e.site_id WHERE s.name = :s)"
            ),
            {"s": site},
        )
        run("CREATE TEMPORARY TABLE ref_touched (id INTEGER PRIMARY KEY, lost INT, kept INT)")
        run(
            """
            INSERT INTO ref_touched (id, lost, kept)
            SELECT r.dataset_id, COUNT(g.id), COUNT(*) - COUNT(g.id)
            FROM replica r LEFT JOIN ref_gone g ON g.id = r.id
            WHERE r.state = 'available' AND r.dataset_id IN (
                SELECT r2.dataset_id FROM ref_gone g2 JOIN replica r2 ON r2.id = g2.id
                WHERE r2.state = 'available')
            GROUP BY r.dataset_id
            """
        )
        # recipes of the derived datasets left without a replica
        run("CREATE TEMPORARY TABLE ref_need (root INT, id INT, PRIMARY KEY (root, id))")
        if sqlite:
            step = f"""SELECT n.root, i.dataset_id FROM need n
                JOIN production_output o ON o.dataset_id = n.id
                JOIN production_input i ON i.production_id = o.production_id
                WHERE {UNAVAILABLE.format(d="i.dataset_id", fence="")}"""
        else:  # a lateral lookup per walked dataset: PostgreSQL hashes whole tables otherwise
            step = f"""SELECT n.root, x.id FROM need n CROSS JOIN LATERAL (
                SELECT i.dataset_id AS id FROM production_output o
                JOIN production_input i ON i.production_id = o.production_id
                WHERE o.dataset_id = n.id AND {UNAVAILABLE.format(d="i.dataset_id", fence=" OFFSET 0")}
                OFFSET 0) x"""
        run(
            f"""
            INSERT INTO ref_need (root, id)
            WITH RECURSIVE need(root, id) AS (
                SELECT t.id, t.id FROM ref_touched t JOIN dataset d ON d.id = t.id
                WHERE t.kept = 0 AND d.kind IN ('derived', 'simulated', 'outreach')
                UNION
                {step}
            ) SELECT root, id FROM need
            """
        )
        roots = run(  # a needed dataset without a done producer recording both is missing
            f"""
            SELECT n.root, COUNT(DISTINCT o.production_id),
                   SUM(CASE WHEN o.production_id IS NULL OR p.status <> 'done'
                            OR COALESCE(trim(t.release, '{BLANKS}'), '') = ''
                            OR COALESCE(trim(t.image_digest, '{BLANKS}'), '') = ''
                       THEN 1 ELSE 0 END)
            FROM ref_need n
            LEFT JOIN production_output o ON o.dataset_id = n.id
            LEFT JOIN production p ON p.id = o.production_id
            LEFT JOIN transformation t ON t.id = p.transformation_id
            GROUP BY n.root
            """
        ).all()
        steps = {root: int(n) for root, n, bad in roots if not bad}
        productions = 0
        if steps:
            run("CREATE TEMPORARY TABLE ref_ok (id INTEGER PRIMARY KEY)")
            conn.execute(
                sa.text("INSERT INTO ref_ok (id) VALUES (:id)"), [{"id": i} for i in steps]
            )
            productions = run(
                "SELECT COUNT(DISTINCT o.production_id) FROM ref_need n "
                "JOIN production_output o ON o.dataset_id = n.id "
                "WHERE n.root IN (SELECT id FROM ref_ok)"
            ).scalar()
        losing = run(
            "SELECT d.id, d.did, d.kind, d.bytes FROM ref_touched t JOIN dataset d ON d.id = t.id "
            "WHERE t.kept = 0"
        ).all()
        losing.sort(key=lambda row: row[1])
        lost = [
            {"did": did, "kind": kind, "bytes": size,
             "reason": "not reproducible" if kind in ("derived", "simulated", "outreach")
             else f"{kind} cannot be regenerated"}
            for i, did, kind, size in losing if i not in steps
        ]  # fmt: skip
        recoverable = [
            {"did": did, "kind": kind, "bytes": size, "steps": steps[i]}
            for i, did, kind, size in losing
            if i in steps
        ]
        violations = conn.execute(
            sa.text(
                """
                SELECT d.did, COUNT(DISTINCT e.site_id) AS before,
                       COUNT(DISTINCT CASE WHEN g.id IS NULL THEN e.site_id END) AS after
                FROM ref_touched t JOIN dataset d ON d.id = t.id
                JOIN replica r ON r.dataset_id = d.id AND r.state = 'available'
                JOIN endpoint e ON e.id = r.endpoint_id AND e.media = 'tape'
                LEFT JOIN ref_gone g ON g.id = r.id
                WHERE d.kind = 'raw' AND d.state <> 'deleted' AND d.created_at <= :cutoff
                GROUP BY d.id, d.did
                HAVING COUNT(DISTINCT e.site_id) >= 2
                   AND COUNT(DISTINCT CASE WHEN g.id IS NULL THEN e.site_id END) < 2
                """
            ),
            {"cutoff": cutoff},
        ).all()
        copies = run(
            """
            SELECT d.did, x.lost, x.lost * d.bytes, e.name, s.name, e.media
            FROM (SELECT t.id, t.lost, r.endpoint_id,
                         ROW_NUMBER() OVER (PARTITION BY t.id ORDER BY
                             CASE WHEN e.media = 'disk' THEN 0 ELSE 1 END, e.name) AS n
                  FROM ref_touched t CROSS JOIN replica r  -- SQLite: the few datasets first
                  JOIN endpoint e ON e.id = r.endpoint_id
                  WHERE r.dataset_id = t.id AND t.kept > 0 AND r.state = 'available'
                    AND NOT EXISTS (SELECT 1 FROM ref_gone g WHERE g.id = r.id)) x
            JOIN dataset d ON d.id = x.id
            JOIN endpoint e ON e.id = x.endpoint_id JOIN site s ON s.id = e.site_id
            WHERE x.n = 1
            """
        ).all()
        violations.sort(key=lambda row: row[0])
        copies.sort(key=lambda row: row[0])
    engine.dispose()
    by_site: dict[str, list[int]] = {}
    for _, replicas, size, _, source_site, _ in copies:
        entry = by_site.setdefault(source_site, [0, 0, 0])
        entry[0] += 1
        entry[1] += replicas
        entry[2] += int(size)
    document = {
        "lost": lost,
        "recoverable": recoverable,
        "violations": [{"did": did, "before": b, "after": a} for did, b, a in violations],
        "re_replicate": [
            {
                "did": did,
                "replicas": n,
                "bytes": int(size),
                "source": endpoint,
                "source_site": source_site,
                "source_media": media,
            }
            for did, n, size, endpoint, source_site, media in copies
        ],  # fmt: skip
        "summary": {
            "lost": len(lost),
            "recoverable": len(recoverable),
            "recipe_steps": sum(steps.values()),
            "productions_to_rerun": int(productions or 0),
            "violations": len(violations),
            "re_replicate": {
                "datasets": len(copies),
                "bytes": sum(int(c[2]) for c in copies),
                "by_source_site": {k: v for k, v in sorted(by_site.items())},
            },
        },
    }
    sys.stdout.write(json.dumps(document) + "\n")  # dumps: the C encoder (dump is pure Python)


if __name__ == "__main__":
    main()
