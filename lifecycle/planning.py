"""Reprocessing plans: rebuild derived formats from selected inputs with new software or calibration.

A plan takes selected inputs (raw data, usually) and a chain of transformation tags, e.g.
``r99999,p99998,p99999``, and makes one step per input and tag: step 1 reads the input (plus the
calibration), each later step reads the previous step's output. Outputs are named the ATLAS way:
same project, number and stream as the input, the production step of the tag's letter (``r``:
recon, ``p``: deriv, ...), the output data type, and the tag chain so far.

What each tag produces: ``TAG:DATA_TYPE`` in the chain says it; else the transformation's
``output_data_type`` parameter; else the data type its earlier productions made most often; else
the tag letter's usual output (``r``: AOD, ``e``: EVNT, ``s``/``a``: HITS, ``d``: RDO).

For every step: estimated output bytes (input bytes times the transformation's ``output_ratio``,
1 when unknown), events (the input's), CPU hours (events times ``cpu_seconds_per_event``), where
the input is read from (a disk replica when there is one, else a tape replica that must be staged:
bytes to recall per tape endpoint), and where the output goes: a disk endpoint at the site that
runs the step, plus what the loaded ``replication`` rules selecting the output ask for.

**Blockers** are listed, never hidden, and a plan with blockers cannot be applied: an input with
no available replica, no calibration (or the calibration not available), a transformation
unknown or without release or image digest, a name outside the nomenclature, an output that
exists already. The summary also lists the existing derived datasets that the new outputs
supersede (same project, number, stream and data type, another tag chain): candidates for expiry
once the campaign is done.

Everything is computed over whole tables (a few SQL queries, then pandas), never per input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.errors import UsageError
from lifecycle.provenance.reproducibility import is_recorded

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change
    from lifecycle.policy import PolicySet, Selector

# The usual production step and output of each AMI tag letter.
STEP_OF_LETTER = {"e": "evgen", "s": "simul", "a": "simul", "d": "digit", "r": "recon",
                  "p": "deriv", "m": "merge", "t": "tagmerge", "f": "recon"}  # fmt: skip
OUTPUT_OF_LETTER = {"e": "EVNT", "s": "HITS", "a": "HITS", "d": "RDO", "r": "AOD", "f": "AOD"}
STEP_COLUMNS = ["seq", "production", "transformation", "conditions_tag", "site", "output_did",
                "output_data_type", "output_bytes", "output_events", "cpu_hours", "placement"]  # fmt: skip


@dataclass(frozen=True)
class ChainLink:
    """One tag of a chain, with the data type it produces when the chain says so."""

    tag: str
    data_type: str | None = None

    @classmethod
    def parse_chain(cls, text: str) -> list[ChainLink]:
        """``r99999,p99998:DAOD_PHYS`` -> links; a malformed chain is a usage error."""
        import re

        links = []
        for part in [p.strip() for p in text.split(",")]:
            found = re.fullmatch(r"([a-z])(\d+)(?::([A-Z][A-Z0-9_]*))?", part)
            if not found:
                raise UsageError(
                    f"--chain: {part!r} is not an AMI tag (a letter and digits, e.g. r99999), "
                    "optionally with :DATA_TYPE"
                )
            links.append(cls(found[1] + found[2], found[3]))
        if len({link.tag for link in links}) != len(links):
            raise UsageError(f"--chain: {text!r} repeats a tag")
        return links


@dataclass
class ReprocessingPlan:
    """A computed plan (saved or not)."""

    name: str
    selection: dict[str, list[str]]
    chain: list[ChainLink]
    conditions_tag: str | None
    inputs: pd.DataFrame  # id, did, bytes, events, source endpoint/site/media, calibration
    steps: pd.DataFrame  # STEP_COLUMNS
    step_inputs: pd.DataFrame  # seq, did, role
    blockers: pd.DataFrame  # subject, detail
    staging: pd.DataFrame  # endpoint, site, bytes
    supersedes: pd.DataFrame  # did, by
    id: int | None = None
    created_at: datetime | None = None
    actor: str | None = None
    applied_at: datetime | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        placed = (
            self.steps["placement"].map(lambda p: len([e for e in p.split(",") if e]))
            if len(self.steps)
            else None
        )
        return {
            "inputs": int(len(self.inputs)),
            "steps": int(len(self.steps)),
            "events": _exact_sum(self.inputs["events"]) if len(self.inputs) else 0,
            "cpu_hours": round(float(self.steps["cpu_hours"].sum()), 3) if len(self.steps) else 0,
            "bytes_staged": _exact_sum(self.staging["bytes"]) if len(self.staging) else 0,
            "bytes_staged_by_site": (
                {k: _exact_sum(v) for k, v in self.staging.groupby("site")["bytes"]}
                if len(self.staging)
                else {}
            ),
            "bytes_written": _exact_sum(self.steps["output_bytes"].astype(object) * placed)
            if len(self.steps)
            else 0,
            "supersedes": int(len(self.supersedes)),
            "blockers": int(len(self.blockers)),
        }

    def to_dict(self) -> dict[str, Any]:
        from lifecycle.formats import json_value, records

        steps = records(self.steps)
        by_seq: dict[int, list[dict[str, str]]] = {}
        for row in self.step_inputs.itertuples(index=False):
            by_seq.setdefault(int(row.seq), []).append({"did": row.did, "role": row.role})
        for step in steps:
            step["inputs"] = by_seq.get(step["seq"], [])
            step["placement"] = step["placement"].split(",") if step["placement"] else []
        return {
            "id": self.id,
            "name": self.name,
            "created_at": json_value(self.created_at),
            "actor": self.actor,
            "applied_at": json_value(self.applied_at),
            "selection": self.selection,
            "chain": [f"{c.tag}:{c.data_type}" if c.data_type else c.tag for c in self.chain],
            "conditions_tag": self.conditions_tag,
            "summary": self.summary(),
            "blockers": records(self.blockers),
            "staging": records(self.staging),
            "supersedes": records(self.supersedes),
            "steps": steps,
        }


# -- planning ------------------------------------------------------------------------------------


# The largest float64 below 2**63: an estimate (bytes times an output ratio) is held there, so it
# stays a storable BIGINT however large the inputs and ratios are.
_LARGEST_FLOAT = float(2**63 - 1024)


def _exact_sum(values: pd.Series) -> int:
    """The sum of an integer column as an exact Python int: pandas' own sum of int64 wraps
    around silently beyond 2**63 - 1 (byte and event counts of a whole campaign can get there)."""
    return sum(map(int, values.dropna()))


def plan_reprocess(
    conn: Connection,
    selector: Selector,
    chain: list[ChainLink],
    conditions_tag: str | None = None,
    name: str | None = None,
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> ReprocessingPlan:
    """Compute a plan (nothing is written); see the module docstring."""
    import pandas as pd

    from lifecycle.catalog.models import indexed_text_problem
    from lifecycle.catalog.store import utcnow

    if not chain:
        raise UsageError("--chain: give at least one transformation tag")
    now = now or utcnow()
    name = name or f"reprocess-{'-'.join(c.tag for c in chain)}-{now:%Y%m%dT%H%M%S}"
    problem = indexed_text_problem(name)  # plan names are unique: an index entry on both engines
    if problem is not None:
        raise UsageError(f"--name: the plan name has {problem}")
    if conn.execute(sa.text("SELECT 1 FROM plan WHERE name = :n"), {"n": name}).first():
        raise UsageError(f"--name: a plan named {name!r} exists already")
    inputs = _inputs(conn, selector)
    if inputs.empty:
        raise UsageError("--select: no dataset matches (see 'lifecycle datasets list')")
    blockers: list[tuple[str, str]] = []
    transformations = _transformations(conn, chain, blockers)
    _calibration(conn, inputs, conditions_tag, blockers)
    blockers += [
        (did, "no available replica to read")
        for did in inputs.loc[inputs["source_endpoint"].isna(), "did"]
    ]
    steps, step_inputs = _steps(inputs, chain, transformations, conditions_tag, name, blockers)
    _check_outputs_new(conn, steps, blockers)
    steps["placement"] = _placement(conn, steps, policies)
    staging = (
        inputs[inputs["source_media"] == "tape"]
        .groupby(["source_endpoint", "source_site"], as_index=False)["bytes"]
        .agg(_exact_sum)
        .rename(columns={"source_endpoint": "endpoint", "source_site": "site"})
        .sort_values("endpoint", ignore_index=True)
    )
    return ReprocessingPlan(
        name=name,
        selection=selector.as_dict(),
        chain=chain,
        conditions_tag=conditions_tag,
        inputs=inputs,
        steps=steps[STEP_COLUMNS],
        step_inputs=step_inputs,
        blockers=pd.DataFrame(blockers, columns=["subject", "detail"]).drop_duplicates(
            ignore_index=True
        ),
        staging=staging[["endpoint", "site", "bytes"]],
        supersedes=_supersedes(conn, steps),
        created_at=now,
    )


def _inputs(conn: Connection, selector: Selector) -> pd.DataFrame:
    """Selected datasets (not deleted) with the replica to read: disk first, then tape."""
    from lifecycle.audit.rules import selection
    from lifecycle.catalog.queries import rows_frame
    from lifecycle.policy import Rule

    where, params = selection(Rule(name="plan", type="plan", policy="", file="", select=selector))
    statement = sa.text(
        f"""
        SELECT c.id, c.did, c.scope, c.kind, c.data_type, c.bytes, c.events,
               e.name AS source_endpoint, s.name AS source_site, e.media AS source_media
        FROM (
            SELECT d.id, d.did, d.scope, d.kind, d.data_type, d.bytes, d.events,
                   (SELECT r.endpoint_id FROM replica r JOIN endpoint e2 ON e2.id = r.endpoint_id
                    WHERE r.dataset_id = d.id AND r.state = 'available'
                    ORDER BY CASE WHEN e2.media = 'disk' THEN 0 ELSE 1 END, e2.name
                    LIMIT 1) AS endpoint_id
            FROM dataset d WHERE {where} AND d.state <> 'deleted'
        ) c
        LEFT JOIN endpoint e ON e.id = c.endpoint_id
        LEFT JOIN site s ON s.id = e.site_id
        ORDER BY c.did
        """
    ).bindparams(
        *(sa.bindparam(k, expanding=True) for k, v in params.items() if isinstance(v, list))
    )
    result = conn.execute(statement, params)
    return rows_frame(result.keys(), result.fetchall())


def _transformations(
    conn: Connection, chain: list[ChainLink], blockers: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """The chain's transformations with the data type each produces; blockers for the rest."""
    rows = conn.execute(
        sa.text(
            """
            SELECT t.id, t.tag, t.name, t.release, t.image_digest, t.cpu_seconds_per_event,
                   t.output_ratio,
                   (SELECT p.value FROM transformation_parameter p WHERE p.transformation_id = t.id
                      AND p.key = 'output_data_type') AS declared
            FROM transformation t WHERE t.tag IN :tags
            """
        ).bindparams(sa.bindparam("tags", expanding=True)),
        {"tags": [c.tag for c in chain]},
    ).mappings()
    found = {row["tag"]: dict(row) for row in rows}
    for link in chain:
        t = found.get(link.tag)
        if t is None:
            blockers.append((link.tag, "transformation unknown (import it first)"))
            found[link.tag] = {"tag": link.tag, "cpu_seconds_per_event": None,
                               "output_ratio": None, "data_type": link.data_type}  # fmt: skip
            continue
        if not is_recorded(t["release"]):
            blockers.append((link.tag, "transformation records no software release"))
        if not is_recorded(t["image_digest"]):
            blockers.append((link.tag, "transformation records no image digest"))
        usual_type, usual_step = _usual_output(conn, t["id"])
        t["data_type"] = link.data_type or t["declared"] or usual_type
        t["data_type"] = t["data_type"] or OUTPUT_OF_LETTER.get(link.tag[0])
        t["prod_step"] = usual_step
        if not t["data_type"]:
            blockers.append(
                (link.tag, f"cannot tell what {link.tag} produces: write {link.tag}:DATA_TYPE")
            )
    return found


def _usual_output(conn: Connection, transformation_id: int) -> tuple[str | None, str | None]:
    """The data type a transformation's earlier productions made most often, and the
    production step their names show (``merge`` for a p-tag that merges AODs, say)."""
    from collections import Counter

    from lifecycle.nomenclature import parse_name

    rows = conn.execute(
        sa.text(
            """
            SELECT d.did, d.data_type FROM production p
            JOIN production_output o ON o.production_id = p.id JOIN dataset d ON d.id = o.dataset_id
            WHERE p.transformation_id = :t AND d.data_type IS NOT NULL
            ORDER BY d.id LIMIT 200
            """
        ),
        {"t": transformation_id},
    ).all()
    if not rows:
        return None, None
    data_type = Counter(t for _, t in rows).most_common(1)[0][0]
    steps = Counter(parse_name(did).prod_step for did, t in rows if t == data_type) - Counter(
        {None: 10**9}
    )
    return data_type, (steps.most_common(1)[0][0] if steps else None)


def _calibration(
    conn: Connection,
    inputs: pd.DataFrame,
    conditions_tag: str | None,
    blockers: list[tuple[str, str]],
) -> None:
    """Set ``calibration`` (a DID or None) and ``conditions`` per input; blockers when missing.

    With a conditions tag: the latest calibration dataset whose name carries the tag, for every
    input. Without: the calibration and conditions of each input's latest ``done`` production (as
    the reprocessability rule reads it; a failed or running one proves nothing); raw data
    that was never processed then has no known calibration (a blocker).
    """
    from lifecycle.catalog.queries import rows_frame
    from lifecycle.provenance.reproducibility import LATEST_PRODUCTION_ORDER, available

    if conditions_tag:
        row = _calibration_for(conn, conditions_tag)
        if row is None:
            blockers.append((conditions_tag, "no calibration dataset for these conditions"))
        elif not row[1]:
            blockers.append((row[0], "calibration has no available replica"))
        inputs["calibration"] = row[0] if row else None
        inputs["conditions"] = conditions_tag
        return
    result = conn.execute(
        sa.text(
            f"""
            WITH latest AS (
                SELECT i.dataset_id, p.id AS production_id, p.conditions_tag,
                       ROW_NUMBER() OVER (PARTITION BY i.dataset_id
                                          ORDER BY {LATEST_PRODUCTION_ORDER}) AS rank
                FROM production_input i JOIN production p ON p.id = i.production_id
                WHERE i.role = 'input' AND p.status = 'done' AND i.dataset_id IN ({_ids(inputs)})
            )
            SELECT l.dataset_id AS id, l.conditions_tag AS conditions,
                   MIN(c.did) AS calibration,
                   MIN(CASE WHEN {available("c.id")} THEN 1 ELSE 0 END) AS calibration_ok
            FROM latest l
            LEFT JOIN production_input ci ON ci.production_id = l.production_id
                 AND ci.role = 'calibration'
            LEFT JOIN dataset c ON c.id = ci.dataset_id
            WHERE l.rank = 1
            GROUP BY l.dataset_id, l.conditions_tag
            """
        )
    )
    latest = rows_frame(result.keys(), result.fetchall())
    merged = inputs[["id", "did"]].merge(latest, on="id", how="left")
    inputs["calibration"] = merged["calibration"].to_numpy()
    inputs["conditions"] = merged["conditions"].to_numpy()
    # raw data is reconstructed with calibration; derived inputs need it only if they had it
    missing = merged["calibration"].isna().to_numpy() & (inputs["kind"] == "raw").to_numpy()
    blockers += [
        (did, "no calibration known from an earlier production: pass --conditions")
        for did in merged.loc[missing, "did"]
    ]
    unavailable = merged["calibration"].notna() & (merged["calibration_ok"].fillna(1) == 0)
    blockers += [
        (calibration, "calibration has no available replica")
        for calibration in merged.loc[unavailable, "calibration"].unique()
    ]


def _calibration_for(conn: Connection, tag: str) -> tuple[str, bool] | None:
    """The latest calibration dataset whose name has ``tag`` as a whole dot-separated field
    (``calib.CONDBR2-BLKPA-RUN2-09.v02``), versions compared as numbers; with availability."""
    import re

    from lifecycle.provenance.reproducibility import available

    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        sa.text(
            f"SELECT d.did, d.name, {available('d.id')} AS ok FROM dataset d "
            "WHERE d.kind = 'calibration' AND (d.name LIKE :inner ESCAPE '\\' "
            "OR d.name LIKE :last ESCAPE '\\')"
        ),
        {"inner": f"%.{escaped}.%", "last": f"%.{escaped}"},
    ).all()
    if not rows:
        return None

    def version(name: str) -> tuple:
        return tuple(int(n) for n in re.findall(r"\d+", name.rsplit(".", 1)[-1]))

    did, _, ok = max(rows, key=lambda r: (version(r[1]), r[1]))
    return did, bool(ok)


def _ids(inputs: pd.DataFrame) -> str:
    """Integer ids inlined into SQL (they come from the database, never from users)."""
    return ", ".join(str(int(i)) for i in inputs["id"]) or "NULL"


def _steps(
    inputs: pd.DataFrame,
    chain: list[ChainLink],
    transformations: dict[str, dict[str, Any]],
    conditions_tag: str | None,
    plan_name: str,
    blockers: list[tuple[str, str]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (input, tag): names, sizes, events, CPU; and the inputs of every step."""
    import pandas as pd

    from lifecycle.nomenclature import parse_names

    names = parse_names(inputs["did"], explain=True)
    bad = names["error"].notna().to_numpy()
    blockers += [
        (did, f"name outside the ATLAS nomenclature ({why}): outputs cannot be named")
        for did, why in zip(inputs.loc[bad, "did"], names.loc[bad, "error"], strict=True)
    ]
    base = inputs.loc[~bad].reset_index(drop=True)
    parsed = names.loc[~bad].reset_index(drop=True)
    prefix = (
        parsed["scope"] + ":" + parsed["project"] + "." + parsed["number"] + "." + parsed["stream"]
    )
    n, k = len(base), len(chain)
    frames, inputs_of = [], []
    previous = base["did"]
    size = base["bytes"].astype("float64")
    events = base["events"]
    # the new tags extend the input's own chain (an AOD r13286 re-derived with p99999 gives
    # ..._r13286_p99999); raw data has none
    chain_so_far = parsed["tag_chain"].fillna("").astype(object)
    for position, link in enumerate(chain):
        t = transformations[link.tag]
        chain_so_far = chain_so_far.map(lambda c, tag=link.tag: f"{c}_{tag}" if c else tag)
        data_type = t.get("data_type") or "UNKNOWN"
        step = t.get("prod_step") or STEP_OF_LETTER.get(link.tag[0], "reproc")
        output = prefix + f".{step}.{data_type}." + chain_so_far
        size = size * float(t.get("output_ratio") or 1.0)
        cpu = events.astype("float64").fillna(0) * float(t.get("cpu_seconds_per_event") or 0)
        cpu = (cpu / 3600).round(3)
        seq = pd.Series(range(n), dtype="int64") * k + position + 1
        frames.append(
            pd.DataFrame(
                {
                    "seq": seq,
                    "production": [f"{plan_name}/{s}" for s in seq],
                    "transformation": link.tag,
                    "conditions_tag": base["conditions"]
                    if conditions_tag is None
                    else conditions_tag,
                    "site": base["source_site"],
                    "output_did": output,
                    "output_data_type": data_type,
                    # an estimate: held at the largest byte count a catalog stores
                    "output_bytes": size.round().clip(upper=_LARGEST_FLOAT).astype("int64"),
                    "output_events": events,
                    "cpu_hours": cpu,
                }
            )
        )
        inputs_of.append(pd.DataFrame({"seq": seq, "did": previous, "role": "input"}))
        if position == 0:
            calibrated = base["calibration"].notna()
            inputs_of.append(
                pd.DataFrame(
                    {
                        "seq": seq[calibrated],
                        "did": base.loc[calibrated, "calibration"],
                        "role": "calibration",
                    }
                )  # fmt: skip
            )
        previous = output
    steps = pd.concat(frames, ignore_index=True).sort_values("seq", ignore_index=True)
    step_inputs = pd.concat(inputs_of, ignore_index=True).sort_values(
        ["seq", "role", "did"], ignore_index=True
    )
    return steps, step_inputs


def _check_outputs_new(conn: Connection, steps: pd.DataFrame, blockers) -> None:
    """An output that exists already, or that two steps would make, is a blocker."""
    if steps.empty:
        return
    twice = steps.loc[steps["output_did"].duplicated(), "output_did"].unique()
    blockers += [(did, "two steps of the plan would make this output") for did in twice]
    outputs = list(steps["output_did"].unique())
    for i in range(0, len(outputs), 500):
        for (did,) in conn.execute(
            sa.text("SELECT did FROM dataset WHERE did IN :d").bindparams(
                sa.bindparam("d", expanding=True)
            ),
            {"d": outputs[i : i + 500]},
        ):
            blockers.append((did, "output exists already (choose another tag chain)"))


def _placement(conn: Connection, steps: pd.DataFrame, policies: PolicySet | None) -> pd.Series:
    """Endpoints for each output: a disk endpoint at the step's site, plus what the loaded
    replication rules selecting the output ask for. Decided once per (site, data type)."""
    import pandas as pd

    from lifecycle.catalog.queries import endpoint_records
    from lifecycle.expressions import select

    endpoints = endpoint_records(conn)
    rules = [
        r for r in (policies.rules if policies else ())
        if r.type == "replication" and _selects_derived(r)
    ]  # fmt: skip
    matching = {r.name: set(select(r.endpoints, endpoints)) if r.endpoints != "*" else None
                for r in rules}  # fmt: skip
    decided: dict[tuple[str | None, str], str] = {}
    for site, data_type in (
        steps[["site", "output_data_type"]].drop_duplicates().itertuples(index=False)
    ):
        disks = [e for e in endpoints if e["media"] == "disk"
                 and e.get("site_status", "active") == "active"]  # fmt: skip
        # a disk at the running site, else the nearest-tier active disk (the output must land)
        local = [e["name"] for e in disks if e.get("site") == site]
        chosen = (
            local[:1]
            or [e["name"] for e in sorted(disks, key=lambda e: (e.get("tier", 9), e["name"]))][:1]
        )
        for rule in rules:
            if not _rule_selects(rule, data_type):
                continue
            allowed = [e for e in endpoints if matching[rule.name] is None
                       or e["name"] in matching[rule.name]]  # fmt: skip
            units = {_unit(e, rule.distinct) for e in allowed if e["name"] in chosen}
            for e in sorted(allowed, key=lambda e: (e.get("site") != site, e["name"])):
                if len(units) >= (rule.copies or 0):
                    break
                if (
                    _unit(e, rule.distinct) not in units
                    and e.get("site_status", "active") == "active"
                ):
                    chosen.append(e["name"])
                    units.add(_unit(e, rule.distinct))
        decided[(site, data_type)] = ",".join(dict.fromkeys(chosen))
    keys = list(zip(steps["site"], steps["output_data_type"], strict=True))
    return pd.Series([decided[key] for key in keys], index=steps.index, dtype="object")


def _selects_derived(rule) -> bool:
    return not rule.select.kind or "derived" in rule.select.kind


def _rule_selects(rule, data_type: str) -> bool:
    from fnmatch import fnmatchcase

    globs = rule.select.data_type
    return not globs or any(fnmatchcase(data_type, g) for g in globs)


def _unit(endpoint: dict[str, Any], distinct: str) -> Any:
    return endpoint["name"] if distinct == "endpoint" else endpoint.get(distinct)


def _supersedes(conn: Connection, steps: pd.DataFrame) -> pd.DataFrame:
    """Existing derived datasets with the project, number, stream, production step and data type
    of a new output, and another tag chain: what the campaign's outputs replace."""
    import pandas as pd

    from lifecycle.catalog.queries import rows_frame

    empty = pd.DataFrame(columns=["did", "by"])
    if steps.empty:
        return empty
    types = sorted(steps["output_data_type"].unique())
    result = conn.execute(
        sa.text(
            "SELECT did, data_type FROM dataset WHERE kind IN ('derived', 'simulated') "
            "AND state <> 'deleted' AND data_type IN :types"
        ).bindparams(sa.bindparam("types", expanding=True)),
        {"types": types},
    )
    existing = rows_frame(result.keys(), result.fetchall())
    if existing.empty:
        return empty

    def key(dids: pd.Series, data_types: pd.Series) -> pd.Series:
        fields = dids.str.split(".", n=4, regex=False)  # project.number.stream.prod_step
        same = fields.str[0] + "." + fields.str[1] + "." + fields.str[2] + "." + fields.str[3]
        return same + "|" + data_types

    new = pd.DataFrame(
        {"key": key(steps["output_did"], steps["output_data_type"]), "by": steps["output_did"]}
    )
    old = pd.DataFrame({"key": key(existing["did"], existing["data_type"]), "did": existing["did"]})
    out = old.merge(new, on="key")
    out = out[out["did"] != out["by"]]
    return out[["did", "by"]].drop_duplicates().sort_values(["did", "by"], ignore_index=True)


# -- saved plans -----------------------------------------------------------------------------------


def save_plan(conn: Connection, change: Change, plan: ReprocessingPlan) -> int:
    """Store the plan (one transaction with its journal entry); returns its id."""
    import pandas as pd

    from lifecycle.catalog.bulk import insert_frame
    from lifecycle.catalog.models import Plan

    summary = plan.summary()
    for total in ("events", "bytes_staged", "bytes_written"):
        if summary[total] > 2**63 - 1:  # exact, beyond what a BIGINT column holds
            raise UsageError(
                f"--select: the plan's {total.replace('_', ' ')} ({summary[total]}) is more than "
                f"a catalog stores ({2**63 - 1}); select fewer inputs"
            )
    plan_id = conn.execute(
        sa.insert(Plan.__table__).values(
            name=plan.name,
            created_at=plan.created_at,
            actor=change.actor,
            selection=json.dumps(plan.selection, sort_keys=True),
            chain=",".join(f"{c.tag}:{c.data_type}" if c.data_type else c.tag for c in plan.chain),
            conditions_tag=plan.conditions_tag,
            inputs=summary["inputs"],
            steps=summary["steps"],
            events=summary["events"],
            cpu_hours=summary["cpu_hours"],
            bytes_staged=summary["bytes_staged"],
            bytes_written=summary["bytes_written"],
            blockers=summary["blockers"],
        )
    ).inserted_primary_key[0]
    steps = plan.steps.copy()
    steps.insert(0, "plan_id", plan_id)
    steps["output_events"] = steps["output_events"].astype("Int64")
    insert_frame(conn, "plan_step", steps)
    step_inputs = plan.step_inputs.copy()
    step_inputs.insert(0, "plan_id", plan_id)
    insert_frame(conn, "plan_step_input", step_inputs.drop_duplicates(["seq", "did"]))
    read = set(plan.inputs["id"].astype("int64"))
    calibrations = sorted(set(plan.inputs.get("calibration", pd.Series(dtype="object")).dropna()))
    if calibrations:
        read |= {
            int(i)
            for (i,) in conn.execute(
                sa.text("SELECT id FROM dataset WHERE did IN :dids").bindparams(
                    sa.bindparam("dids", expanding=True)
                ),
                {"dids": calibrations},
            )
        }
    insert_frame(
        conn,
        "plan_input",
        pd.DataFrame({"plan_id": plan_id, "dataset_id": sorted(read)}, dtype="int64"),
    )
    notes = pd.concat(
        [
            plan.blockers.assign(kind="blocker", bytes=None),
            plan.supersedes.rename(columns={"did": "subject", "by": "detail"}).assign(
                kind="supersedes", bytes=None
            ),
            plan.staging.rename(columns={"endpoint": "subject", "site": "detail"}).assign(
                kind="staging"
            ),
        ],
        ignore_index=True,
    )
    notes.insert(0, "plan_id", plan_id)
    notes["bytes"] = notes["bytes"].astype("Int64")
    insert_frame(conn, "plan_note", notes[["plan_id", "kind", "subject", "detail", "bytes"]])
    change.summary = (
        f"saved plan {plan_id} ({plan.name}): {summary['steps']} steps over "
        f"{summary['inputs']} inputs, {summary['blockers']} blockers"
    )
    change.datasets_sql = f"SELECT dataset_id AS id FROM plan_input WHERE plan_id = {int(plan_id)}"
    plan.id = plan_id
    plan.actor = change.actor
    return plan_id


def plans(conn: Connection) -> pd.DataFrame:
    from lifecycle.catalog.queries import frame

    return frame(
        conn,
        """
        SELECT id, name, created_at, actor, chain, conditions_tag, inputs, steps, events,
               cpu_hours, bytes_staged, bytes_written, blockers, applied_at, applied_by
        FROM plan ORDER BY id
        """,
    )


def load_plan(conn: Connection, plan_id: int) -> ReprocessingPlan:
    """A saved plan, as computed when it was saved."""

    from lifecycle.catalog.queries import frame, utc_datetime

    row = conn.execute(sa.text("SELECT * FROM plan WHERE id = :id"), {"id": plan_id}).mappings()
    row = row.first()
    if row is None:
        raise UsageError(f"no plan {plan_id} (see 'lifecycle plan list')")
    steps = frame(
        conn,
        f"SELECT {', '.join(STEP_COLUMNS)} FROM plan_step WHERE plan_id = :p ORDER BY seq",
        p=plan_id,
    )
    step_inputs = frame(
        conn, "SELECT seq, did, role FROM plan_step_input WHERE plan_id = :p ORDER BY seq, did",
        p=plan_id,
    )  # fmt: skip
    notes = frame(
        conn,
        "SELECT kind, subject, detail, bytes FROM plan_note WHERE plan_id = :p ORDER BY id",
        p=plan_id,
    )
    inputs = frame(
        conn,
        "SELECT d.id, d.did, d.bytes, d.events FROM plan_input pi JOIN dataset d "
        "ON d.id = pi.dataset_id WHERE pi.plan_id = :p AND d.kind <> 'calibration' ORDER BY d.did",
        p=plan_id,
    )

    def notes_of(kind: str, columns: dict[str, str]) -> pd.DataFrame:
        part = notes[notes["kind"] == kind].rename(columns=columns)
        return part[list(columns.values())].reset_index(drop=True)

    chain = [
        ChainLink(*(part.split(":", 1) if ":" in part else (part, None)))
        for part in row["chain"].split(",")
    ]
    return ReprocessingPlan(
        name=row["name"],
        selection=json.loads(row["selection"]),
        chain=chain,
        conditions_tag=row["conditions_tag"],
        inputs=inputs,
        steps=steps,
        step_inputs=step_inputs,
        blockers=notes_of("blocker", {"subject": "subject", "detail": "detail"}),
        staging=notes_of("staging", {"subject": "endpoint", "detail": "site", "bytes": "bytes"}),
        supersedes=notes_of("supersedes", {"subject": "did", "detail": "by"}),
        id=int(row["id"]),
        created_at=utc_datetime(row["created_at"]),
        actor=row["actor"],
        applied_at=utc_datetime(row["applied_at"]),
    )


def _name_metadata_rows(steps: pd.DataFrame) -> pd.DataFrame:
    """(dataset_id, key, value) rows of what the new datasets' names imply: the same metadata
    an import fills from a name (:func:`~lifecycle.nomenclature.name_metadata`), so an export of
    an applied plan imports back unchanged."""
    from lifecycle.nomenclature import METADATA_KEYS, name_metadata

    implied = name_metadata(steps["output_did"])[list(METADATA_KEYS)]
    implied.insert(0, "dataset_id", steps["dataset_id"].to_numpy())
    rows = implied.melt(id_vars="dataset_id", var_name="key", value_name="value")
    return rows[rows["value"].notna()].reset_index(drop=True)


def apply_plan(conn: Connection, change: Change, plan_id: int, now: datetime) -> dict[str, int]:
    """Simulate the campaign: register its productions, new datasets and their replicas."""
    import pandas as pd

    from lifecycle.catalog.bulk import insert_frame
    from lifecycle.errors import PlanBlocked

    plan = load_plan(conn, plan_id)
    if plan.applied_at is not None:
        raise UsageError(f"plan {plan_id} was applied already, on {plan.applied_at:%Y-%m-%d}")
    if len(plan.blockers):
        raise PlanBlocked(plan_id, len(plan.blockers))
    changed = _blockers_now(conn, plan)
    if changed:
        raise PlanBlocked(plan_id, len(changed), changed[0])
    steps = plan.steps
    max_dataset = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM dataset").scalar()
    max_production = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM production").scalar()
    max_replica = conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM replica").scalar()
    steps = steps.assign(
        dataset_id=range(max_dataset + 1, max_dataset + 1 + len(steps)),
        production_id=range(max_production + 1, max_production + 1 + len(steps)),
    )
    fields = steps["output_did"].str.split(":", n=1, regex=False)
    stamp = pd.Timestamp(now).tz_convert("UTC") if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
    insert_frame(
        conn,
        "dataset",
        pd.DataFrame(
            {
                "id": steps["dataset_id"],
                "did": steps["output_did"],
                "scope": fields.str[0],
                "name": fields.str[1],
                "kind": "derived",
                "data_type": steps["output_data_type"],
                "bytes": steps["output_bytes"].astype("int64"),
                "files": 1,
                "events": steps["output_events"].astype("Int64"),
                "created_at": stamp,
                "expires_at": pd.Series([None] * len(steps), dtype="datetime64[us, UTC]"),
                "state": "closed",
            }
        ),
    )
    insert_frame(conn, "dataset_metadata", _name_metadata_rows(steps))
    transformation_ids = dict(
        conn.execute(
            sa.text("SELECT tag, id FROM transformation WHERE tag IN :t").bindparams(
                sa.bindparam("t", expanding=True)
            ),
            {"t": sorted(steps["transformation"].unique())},
        ).all()
    )
    site_ids = dict(conn.execute(sa.text("SELECT name, id FROM site")).all())
    insert_frame(
        conn,
        "production",
        pd.DataFrame(
            {
                "id": steps["production_id"],
                "name": steps["production"],
                "transformation_id": steps["transformation"].map(transformation_ids),
                "conditions_tag": steps["conditions_tag"],
                "site_id": steps["site"].map(site_ids).astype("Int64"),
                "started_at": stamp,
                "finished_at": stamp,
                "status": "done",
            }
        ),
    )
    dataset_ids = dict(zip(steps["output_did"], steps["dataset_id"], strict=True))
    existing = plan.step_inputs[~plan.step_inputs["did"].isin(dataset_ids)]["did"].unique()
    for i in range(0, len(existing), 500):
        dataset_ids.update(
            conn.execute(
                sa.text("SELECT did, id FROM dataset WHERE did IN :d").bindparams(
                    sa.bindparam("d", expanding=True)
                ),
                {"d": list(existing[i : i + 500])},
            ).all()
        )
    production_of = dict(zip(steps["seq"], steps["production_id"], strict=True))
    io = plan.step_inputs
    insert_frame(
        conn,
        "production_input",
        pd.DataFrame(
            {
                "production_id": io["seq"].map(production_of),
                "dataset_id": io["did"].map(dataset_ids),
                "role": io["role"],
            }
        ),
    )
    insert_frame(
        conn,
        "production_output",
        pd.DataFrame({"dataset_id": steps["dataset_id"], "production_id": steps["production_id"]}),
    )
    endpoint_ids = dict(conn.execute(sa.text("SELECT name, id FROM endpoint")).all())
    placed = (
        steps[["dataset_id", "placement"]]
        .assign(endpoint=steps["placement"].str.split(","))
        .explode("endpoint")
    )
    placed = placed[placed["endpoint"].fillna("") != ""]
    insert_frame(
        conn,
        "replica",
        pd.DataFrame(
            {
                "id": range(max_replica + 1, max_replica + 1 + len(placed)),
                "dataset_id": placed["dataset_id"].to_numpy(),
                "endpoint_id": placed["endpoint"].map(endpoint_ids).to_numpy(),
                "state": "available",
                "created_at": stamp,
                "accessed_at": pd.Series([None] * len(placed), dtype="datetime64[us, UTC]"),
            }
        ),
    )
    from lifecycle.catalog.bulk import reset_sequences

    reset_sequences(conn, ["dataset", "production", "replica"])
    conn.execute(
        sa.text("UPDATE plan SET applied_at = :at, applied_by = :by WHERE id = :id").bindparams(
            sa.bindparam("at", type_=_timestamp_type())
        ),
        {"at": now, "by": change.actor, "id": plan_id},
    )
    change.summary = (
        f"applied plan {plan_id} ({plan.name}): {len(steps)} productions, "
        f"{len(steps)} datasets, {len(placed)} replicas"
    )
    change.datasets_sql = (
        f"SELECT id FROM dataset WHERE id > {int(max_dataset)} "
        f"AND id <= {int(max_dataset + len(steps))}"
    )
    return {"productions": len(steps), "datasets": len(steps), "replicas": len(placed)}


def _blockers_now(conn: Connection, plan: ReprocessingPlan) -> list[str]:
    """What changed since the plan was saved and now blocks it: an existing input without an
    available replica (or gone), an output that now exists."""
    from lifecycle.provenance.reproducibility import available

    made = set(plan.steps["output_did"])
    needed = sorted(set(plan.step_inputs["did"]) - made)
    problems = []
    for i in range(0, len(needed), 500):
        part = needed[i : i + 500]
        ok = {
            did
            for did, is_available in conn.execute(
                sa.text(
                    f"SELECT d.did, {available('d.id')} FROM dataset d WHERE d.did IN :d"
                ).bindparams(sa.bindparam("d", expanding=True)),
                {"d": part},
            )
            if is_available
        }
        problems += [f"{did} has no available replica any more" for did in part if did not in ok]
    outputs = sorted(made)
    for i in range(0, len(outputs), 500):
        problems += [
            f"{did} exists now"
            for (did,) in conn.execute(
                sa.text("SELECT did FROM dataset WHERE did IN :d").bindparams(
                    sa.bindparam("d", expanding=True)
                ),
                {"d": outputs[i : i + 500]},
            )
        ]
    return problems


FREED = "tmp_plan_freed"  # the inputs of a deleted plan, then those no plan protects any more


@dataclass
class PlanDeletion:
    """What ``plan delete`` changed: the plan gone, and the inputs it no longer protects.

    A plan protects its inputs from expiry while it can still be applied (not applied, no
    blockers). ``freed`` counts the inputs no other plan protects; ``eligible`` are those that
    ``expire --apply`` would now delete (decided only when policies were given: ``decided``).
    """

    id: int
    name: str
    steps: int
    inputs: int
    protected_by_it: bool
    why_not: str | None = None  # why the plan protected nothing
    freed: int = 0
    decided: bool = False
    eligible: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)  # freed and past their end: keep reasons

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def lines(self, shown: int = 5) -> list[str]:
        steps = f"{self.steps} step{'s' if self.steps != 1 else ''}"
        inputs = f"{self.inputs} input{'s' if self.inputs != 1 else ''}"
        out = [f"deleted plan {self.id} ({self.name}): {steps}, {inputs}"]
        if not self.protected_by_it:
            out.append(f"it protected no input from expiry ({self.why_not})")
            return out
        others = self.inputs - self.freed
        if not self.freed:
            if others:
                out.append("its inputs stay protected from expiry by another plan")
            return out
        out.append(
            f"{self.freed} input{'s' if self.freed != 1 else ''} no longer protected from expiry"
            + (f" ({others} still protected by another plan)" if others else "")
        )
        if self.decided:
            n = len(self.eligible)
            names = ", ".join(self.eligible[:shown]) + (
                f" and {n - shown} more" if n > shown else ""
            )
            out.append(
                f"{n} of them now eligible for expiry ('lifecycle expire --apply' would delete "
                f"{'it' if n == 1 else 'them'}){': ' + names if n else ''}"
            )
            alive = self.freed - n - sum(self.kept.values())
            kept = [f"{count} {why}" for why, count in sorted(self.kept.items())]
            kept += [f"{alive} not past their end of life"] if alive else []
            if kept:
                out.append("the others are still kept: " + ", ".join(kept))
        return out


def delete_plan(
    conn: Connection,
    change: Change,
    plan_id: int,
    policies: PolicySet | None = None,
    now: datetime | None = None,
) -> PlanDeletion:
    """Forget a saved plan (its inputs are no longer protected from expiry by it).

    Deleting a plan deletes no data, so it acts directly. The result says which inputs no
    plan protects any more and, with ``policies``, which of them expiry would now delete.
    """
    from lifecycle.catalog.store import utcnow
    from lifecycle.expiry import _planned_inputs_sql, expire

    row = conn.execute(
        sa.text("SELECT name, steps, inputs, applied_at, blockers FROM plan WHERE id = :id"),
        {"id": plan_id},
    ).first()
    if row is None:
        raise UsageError(f"no plan {plan_id} (see 'lifecycle plan list')")
    name, steps, inputs, applied_at, blockers = row
    result = PlanDeletion(plan_id, name, int(steps), int(inputs), not applied_at and not blockers)
    if applied_at:
        result.why_not = "it was applied"
    elif blockers:
        result.why_not = f"it has {blockers} blocker{'s' if blockers != 1 else ''}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FREED}")
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {FREED} (id INTEGER PRIMARY KEY)")
    try:
        conn.execute(
            sa.text(
                f"INSERT INTO {FREED} (id) SELECT dataset_id FROM plan_input WHERE plan_id = :id"
            ),
            {"id": plan_id},
        )
        for table in ("plan_note", "plan_input", "plan_step_input", "plan_step"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE plan_id = :id"), {"id": plan_id})
        conn.execute(sa.text("DELETE FROM plan WHERE id = :id"), {"id": plan_id})
        if result.protected_by_it:
            planned = _planned_inputs_sql(conn)
            conn.exec_driver_sql(f"DELETE FROM {FREED} WHERE id IN ({planned})")
            result.freed = int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {FREED}").scalar())
            if policies is not None and result.freed:
                decisions = expire(conn, policies, now or utcnow(), only=f"SELECT id FROM {FREED}")
                decisions = decisions.decisions
                result.decided = True
                result.eligible = sorted(decisions.loc[decisions["decision"] == "delete", "did"])
                kept = decisions.loc[decisions["decision"] == "keep", "reason"]
                result.kept = {
                    str(k): int(v) for k, v in kept.str.split(":").str[0].value_counts().items()
                }
    finally:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FREED}")
    freed = result.freed
    change.summary = f"deleted plan {plan_id} ({name})" + (
        f": {freed} input{'s' if freed != 1 else ''} no longer protected from expiry"
        if freed
        else ""
    )
    return result


def _timestamp_type():
    from lifecycle.catalog.models import Plan

    return Plan.__table__.c.applied_at.type
