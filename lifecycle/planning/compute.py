"""Computing a reprocessing plan: one step per input and tag, named, costed, placed, and its
blockers and supersessions found (nothing is written; :mod:`.persistence` saves the result).

Step 1 reads the input (plus the calibration), each later step reads the previous step's output.
Outputs are named the ATLAS way: same project, number and stream as the input, the production
step of the tag's letter (``r``: recon, ``p``: deriv, ...), the output data type, and the tag
chain so far.

What each tag produces: ``TAG:DATA_TYPE`` in the chain says it; else the transformation's
``output_data_type`` parameter; else the data type its earlier productions made most often; else
the tag letter's usual output (``r``: AOD, ``e``: EVNT, ``s``/``a``: HITS, ``d``: RDO).

For every step: estimated output bytes (input bytes times the transformation's ``output_ratio``,
1 when unknown), events (the input's), CPU hours (events times ``cpu_seconds_per_event``); where
the input is read from and where the output goes are decided by :mod:`.inputs` and
:mod:`.placement`.

Everything is computed over whole tables (a few SQL queries, then pandas), never per input.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from lifecycle.catalog.queries import existing_dids
from lifecycle.catalog.sql import frame, rows
from lifecycle.catalog.store import utcnow
from lifecycle.errors import UsageError
from lifecycle.nomenclature import parse_name, parse_names
from lifecycle.planning.inputs import add_calibration, select_inputs
from lifecycle.planning.model import (
    LARGEST_ESTIMATE,
    NAME_TAKEN,
    STEP_COLUMNS,
    ChainLink,
    ReprocessingPlan,
)
from lifecycle.planning.persistence import name_taken
from lifecycle.planning.placement import output_placement, tape_staging
from lifecycle.policy import PolicySet, Selector
from lifecycle.progress import SILENT, Progress
from lifecycle.provenance.reproducibility import is_recorded
from lifecycle.text import indexed_text_problem

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

# The usual production step and output of each AMI tag letter.
STEP_OF_LETTER = {"e": "evgen", "s": "simul", "a": "simul", "d": "digit", "r": "recon",
                  "p": "deriv", "m": "merge", "t": "tagmerge", "f": "recon"}  # fmt: skip
OUTPUT_OF_LETTER = {"e": "EVNT", "s": "HITS", "a": "HITS", "d": "RDO", "r": "AOD", "f": "AOD"}


def plan_reprocess(
    conn: Connection,
    selector: Selector,
    chain: list[ChainLink],
    conditions_tag: str | None = None,
    name: str | None = None,
    policies: PolicySet | None = None,
    now: datetime | None = None,
    progress: Progress = SILENT,
) -> ReprocessingPlan:
    """Compute a plan (nothing is written); see the package and module docstrings.

    A name that a saved plan has already is no error here (a preview saves nothing): the
    plan's ``notes`` say so, and saving it is refused.
    """
    import pandas as pd

    if not chain:
        raise UsageError("--chain: give at least one transformation tag")
    now = now or utcnow()
    name = name or f"reprocess-{'-'.join(c.tag for c in chain)}-{now:%Y%m%dT%H%M%S}"
    problem = indexed_text_problem(name)  # plan names are unique: an index entry on both engines
    if problem is not None:
        raise UsageError(f"--name: the plan name has {problem}")
    with progress.stages("planning", 4) as stage:
        with stage("selecting the inputs"):
            inputs = select_inputs(conn, selector)
        if inputs.empty:
            raise UsageError("--select: no dataset matches (see 'lifecycle datasets list')")
        blockers: list[tuple[str, str]] = []
        with stage("finding transformations and calibration"):
            transformations = _transformations(conn, chain, blockers)
            add_calibration(conn, inputs, conditions_tag, blockers)
        blockers += [
            (did, "no available replica to read")
            for did in inputs.loc[inputs["source_endpoint"].isna(), "did"]
        ]
        with stage("making the steps"):
            args = (inputs, chain, transformations, conditions_tag, name, blockers)
            steps, step_inputs = _steps(*args)
            _check_outputs_new(conn, steps, blockers)
        with stage("placing the outputs"):
            steps["placement"] = output_placement(conn, steps, policies)
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
        staging=tape_staging(inputs),
        supersedes=_supersedes(conn, steps),
        created_at=now,
        notes=[NAME_TAKEN.format(name=name)] if name_taken(conn, name) else [],
    )


def _transformations(
    conn: Connection, chain: list[ChainLink], blockers: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """The chain's transformations with the data type each produces; blockers for the rest."""
    found = {
        row["tag"]: row
        for row in rows(
            conn,
            """
        SELECT t.id, t.tag, t.name, t.release, t.image_digest, t.cpu_seconds_per_event,
               t.output_ratio,
               (SELECT p.value FROM transformation_parameter p WHERE p.transformation_id = t.id
                  AND p.key = 'output_data_type') AS declared
        FROM transformation t WHERE t.tag IN :tags
        """,
            tags=[c.tag for c in chain],
        )
    }
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
                    "output_bytes": size.round().clip(upper=LARGEST_ESTIMATE).astype("int64"),
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
    blockers += [
        (did, "output exists already (choose another tag chain)")
        for did in existing_dids(conn, list(steps["output_did"].unique()))
    ]


def _supersedes(conn: Connection, steps: pd.DataFrame) -> pd.DataFrame:
    """Existing derived datasets with the project, number, stream, production step and data type
    of a new output, and another tag chain: what the campaign's outputs replace."""
    import pandas as pd

    empty = pd.DataFrame(columns=["did", "by"])
    if steps.empty:
        return empty
    types = sorted(steps["output_data_type"].unique())
    existing = frame(
        conn,
        "SELECT did, data_type FROM dataset WHERE kind IN ('derived', 'simulated') "
        "AND state <> 'deleted' AND data_type IN :types",
        types=types,
    )
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
