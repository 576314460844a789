"""Probable parents of datasets without a recorded producer, read from their ATLAS names.

A derived name carries the AMI tag of every step that made it: ``...merge.AOD.r13286_p4910`` was
made by ``p4910`` from the dataset whose chain is ``r13286`` (the reconstructed AOD), itself made
by ``r13286`` from the RAW, which has no tags. So the probable parent of a dataset without a
producer is the dataset of the same project, number and stream whose tag chain is the longest
strict prefix of its own; the tags in between are what the production added.

Simulation changes project along a chain (EVNT in ``mc15_13TeV``, HITS in ``mc16_13TeV``, AOD in
``mc20_13TeV``), so for ``mcNN_*`` names the campaign number is left out of the match: the DSID,
physics short and energy must agree. Data and validation names match on the whole project.

The whole catalog is handled at once: names are parsed as one column, every prefix of every
child's chain becomes a row, and one join against all candidates' chains finds the parents.
Suggestions are only written by :func:`record_suggestions` (``provenance suggest --apply``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from lifecycle.catalog.bulk import insert_frame, new_ids
from lifecycle.catalog.sql import drop_tables, frame, temporary_table
from lifecycle.errors import CatalogError
from lifecycle.exchange.spec import KEY_LENGTH
from lifecycle.nomenclature import parse_names
from lifecycle.provenance.reproducibility import consumers
from lifecycle.vocabulary import NON_PRODUCIBLE_KINDS

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from lifecycle.catalog.store import Change

COLUMNS = ["child", "parent", "added_tags", "confidence", "applicable", "reason"]
PRODUCTION_PREFIX = "suggested:"
# What a transformation created for a suggestion records: the tag is known, the software is not,
# so its outputs stay irreproducible (no image digest).
UNKNOWN = "unknown"
_KEY = ["family", "number", "stream"]  # family: the project without an MC campaign number


def suggest_parents(conn: Connection) -> pd.DataFrame:
    """Probable parent links for every dataset without a recorded producer.

    One row per (child, parent) with ``added_tags`` (the tags between the parent's chain and the
    child's), ``confidence`` (``high``: one tag added; ``medium``: several, the intermediate
    datasets are not in the catalog; ``low``: not applicable), ``applicable`` (what
    :func:`record_suggestions` writes) and a ``reason``. A child with several equally good parents
    gets one ``low`` row per candidate; a ``_tid`` dataset loses such a tie to the one dataset
    without the suffix, of which it is a part. Raw and calibration datasets never get a parent,
    nor does a child whose candidate parent is already downstream of it (that would be a cycle).
    """
    return _suggestions(conn)[COLUMNS]


def _suggestions(conn: Connection) -> pd.DataFrame:
    """:func:`suggest_parents` with the datasets' ids (``child_id``, ``parent_id``)."""
    import pandas as pd

    empty = pd.DataFrame(columns=[*COLUMNS, "child_id", "parent_id"])
    datasets = frame(
        conn,
        "SELECT d.id, d.did, d.kind, o.dataset_id IS NOT NULL AS produced "
        "FROM dataset d LEFT JOIN production_output o ON o.dataset_id = d.id",
    )
    if datasets.empty:
        return empty
    best = _best_parents(_named(datasets))
    if best.empty:
        return empty
    cycles = _closing_cycles(conn, best[best["applicable"]])
    closing = best.set_index(["child_id", "parent_id"]).index.isin(cycles)
    best.loc[closing, "applicable"] = False
    best.loc[closing, "confidence"] = "low"
    known = set(frame(conn, "SELECT tag FROM transformation")["tag"])
    best["reason"] = _reasons(best, closing, best["added_tags"].isin(known))
    best["applicable"] = best["applicable"].astype(bool)
    return best.sort_values(["child", "parent"])[list(empty.columns)].reset_index(drop=True)


def _named(datasets: pd.DataFrame) -> pd.DataFrame:
    """Datasets whose names follow the nomenclature, with their parsed fields.

    Containers and ``_sub`` datasets (transient parts of a task's output) take no part.
    """
    parsed = parse_names(datasets["did"], explain=False)
    usable = parsed["error"].isna() & ~parsed["container"] & parsed["sub"].isna()
    named = datasets[usable.to_numpy()].copy()
    for column in ["project", "number", "stream", "data_type", "tag_chain", "tid"]:
        named[column] = parsed.loc[usable, column].to_numpy()
    named["family"] = named["project"].str.replace(r"^mc\d{2}", "mc", regex=True)
    return named


def _best_parents(named: pd.DataFrame) -> pd.DataFrame:
    """Each child's candidates with the longest strict-prefix chain, ties resolved or marked."""
    import pandas as pd

    children = named[
        ~named["produced"].astype(bool)
        & ~named["kind"].isin(NON_PRODUCIBLE_KINDS)
        & (named["tag_chain"] != "")
    ]
    candidates = named[named["data_type"] != "log"]  # a task's log tarball is never an input
    prefixes = _prefixes(children)
    if prefixes.empty or candidates.empty:
        return pd.DataFrame()
    pairs = prefixes.merge(
        candidates[["id", "did", "tid", *_KEY, "tag_chain"]].rename(
            columns={"id": "parent_id", "did": "parent", "tag_chain": "prefix"}
        ),
        on=[*_KEY, "prefix"],
    )
    if pairs.empty:
        return pd.DataFrame()
    longest = pairs.groupby("child_id")["depth"].transform("max")
    best = pairs[pairs["depth"] == longest].copy()
    # a tie between one dataset and _tid parts of it goes to the dataset
    whole = best["tid"].isna()
    wholes = whole.groupby(best["child_id"]).transform("sum")
    ties = best.groupby("child_id")["parent_id"].transform("size")
    best = best[~((ties > 1) & (wholes == 1) & ~whole)].copy()
    best["candidates"] = best.groupby("child_id")["parent_id"].transform("size")
    best["applicable"] = best["candidates"] == 1
    best["confidence"] = "low"
    best.loc[best["applicable"] & (best["steps"] == 1), "confidence"] = "high"
    best.loc[best["applicable"] & (best["steps"] > 1), "confidence"] = "medium"
    return best.reset_index(drop=True)


def _prefixes(children: pd.DataFrame) -> pd.DataFrame:
    """One row per child and strict prefix of its tag chain: ``prefix``, ``depth`` (its number
    of tags), ``added_tags`` (the rest of the chain) and ``steps`` (how many tags that is)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if children.empty:
        return pd.DataFrame()
    chains = pa.array(children["tag_chain"].to_numpy(dtype=object), pa.string())
    tags = pc.split_pattern(chains, "_")
    length = pc.list_value_length(tags).to_numpy()
    parts = []
    for depth in range(int(length.max())):
        has = length > depth
        chosen = tags.filter(pa.array(has))
        part = children.loc[has, ["id", "did", *_KEY]].rename(
            columns={"id": "child_id", "did": "child"}
        )
        part["prefix"] = pc.binary_join(pc.list_slice(chosen, 0, depth), "_").to_numpy(
            zero_copy_only=False
        )
        part["added_tags"] = pc.binary_join(pc.list_slice(chosen, depth), "_").to_numpy(
            zero_copy_only=False
        )
        part["depth"] = depth
        part["steps"] = length[has] - depth
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _closing_cycles(conn: Connection, pairs: pd.DataFrame) -> set[tuple[int, int]]:
    """(child, parent) pairs where the parent lies downstream of the child already.

    Recording such a link would close a provenance cycle. One recursive walk downstream from
    every child that is some production's input (most have no consumers, so the walk is short).
    """
    if pairs.empty:
        return set()
    table = temporary_table(conn, "tmp_suggested_pair", "child_id BIGINT, parent_id BIGINT")
    try:
        insert_frame(conn, table, pairs[["child_id", "parent_id"]].astype("int64"))
        rows = conn.exec_driver_sql(
            f"""
            WITH RECURSIVE {_downstream(f"SELECT DISTINCT child_id FROM {table}")}
            SELECT s.child_id, s.parent_id FROM {table} s
            JOIN reach r ON r.start = s.child_id AND r.id = s.parent_id
            """
        ).fetchall()
    finally:
        drop_tables(conn, table)
    return {(int(c), int(p)) for c, p in rows}


def _downstream(starts: str) -> str:
    """``reach(start, id)``: every dataset downstream of each ``child_id`` that ``starts`` selects."""
    return f"""reach(start, id) AS (
        SELECT s.child_id, o.dataset_id FROM ({starts}) s {consumers("s.child_id")}
        UNION
        SELECT r.start, o.dataset_id FROM reach r {consumers("r.id")}
    )"""


def _reasons(best: pd.DataFrame, closing, known: pd.Series) -> pd.Series:
    """Why each suggestion, and what recording it would use."""
    prefix = best["prefix"].where(best["prefix"] != "", "no tags")
    text = "parent has " + prefix + ", child adds " + best["added_tags"]
    steps = best["steps"].astype(str)
    between = " (" + steps + " steps; the datasets between are not in the catalog)"
    text = text.mask(best["steps"] > 1, text + between)
    ties = best["candidates"].astype(str)
    text = text.mask(best["candidates"] > 1, text + "; " + ties + " equally good parents")
    text = text.mask(closing, text + "; the parent is already downstream of the child")
    tag = best["added_tags"]
    use = ("; recorded with transformation " + tag + " of the catalog").where(
        known,
        "; recorded with a new transformation " + tag + " (software unknown, no image digest)",
    )
    return text.mask(best["applicable"], text + use)


def production_name(did: str) -> str:
    """The deterministic name of the production recorded for a suggestion for ``did``."""
    name = PRODUCTION_PREFIX + did
    if len(name) <= KEY_LENGTH:
        return name
    return PRODUCTION_PREFIX + hashlib.sha256(did.encode()).hexdigest()


def record_suggestions(conn: Connection, change: Change) -> pd.DataFrame:
    """Record the applicable suggestions as productions, inside the caller's transaction.

    Each child gets a production ``suggested:<did>`` with the parent as its input and the
    transformation tagged by the added tags, created when the catalog lacks it with name and
    release ``unknown`` and no image digest: the link is known, the software is not, so the
    child stays irreproducible unless that transformation was already recorded in full.
    Journals the change on ``change`` and returns the suggestions, as :func:`suggest_parents`.
    """
    import pandas as pd

    suggestions = _suggestions(conn)
    todo = suggestions[suggestions["applicable"]]
    if todo.empty:
        return suggestions[COLUMNS]
    names = todo["child"].map(production_name)
    clash = frame(
        conn, "SELECT name FROM production WHERE name LIKE :prefix", prefix=PRODUCTION_PREFIX + "%"
    )
    taken = names[names.isin(set(clash["name"]))]
    if not taken.empty:
        raise CatalogError(f"production {taken.iloc[0]!r} exists already; nothing was recorded")
    tags = frame(conn, "SELECT id, tag FROM transformation").set_index("tag")["id"]
    new_tags = sorted(set(todo["added_tags"]) - set(tags.index))
    with new_ids(conn) as ids:
        created = pd.DataFrame(
            {
                "id": ids.take("transformation", len(new_tags)),
                "tag": new_tags,
                "name": UNKNOWN,
                "release": UNKNOWN,
            }
        )
        insert_frame(conn, "transformation", created)
        tags = pd.concat([tags, created.set_index("tag")["id"]])
        block = ids.take("production", len(todo))
        production_ids = pd.Series(block, dtype="int64")
        productions = pd.DataFrame(
            {
                "id": production_ids,
                "name": names.to_numpy(),
                "transformation_id": todo["added_tags"].map(tags).astype("int64").to_numpy(),
                "status": "done",
            }
        )
        edges = {"production_id": production_ids}
        inputs = pd.DataFrame(
            {**edges, "dataset_id": todo["parent_id"].to_numpy(), "role": "input"}
        )
        outputs = pd.DataFrame({"dataset_id": todo["child_id"].to_numpy(), **edges})
        for table, rows in (
            ("production", productions),
            ("production_input", inputs),
            ("production_output", outputs),
        ):
            insert_frame(conn, table, rows)
    first = block.start
    _check_acyclic(conn, first, first + len(todo) - 1)
    change.datasets_sql = (  # the children, for 'journal --did'
        "SELECT dataset_id AS id FROM production_output "
        f"WHERE production_id BETWEEN {first} AND {first + len(todo) - 1}"
    )
    change.summary = f"recorded {len(todo)} suggested parent links as productions" + (
        f" ({len(new_tags)} new transformations, software unknown)" if new_tags else ""
    )
    return suggestions[COLUMNS]


def _check_acyclic(conn: Connection, first: int, last: int) -> None:
    """Refuse links that close a cycle through several suggestions at once (the caller rolls back).

    :func:`suggest_parents` drops links whose parent is already downstream of the child; a cycle
    could still run through two new links and old edges between them.
    """
    starts = (
        "SELECT dataset_id AS child_id FROM production_output "
        f"WHERE production_id BETWEEN {int(first)} AND {int(last)}"
    )
    cycle = conn.exec_driver_sql(
        f"WITH RECURSIVE {_downstream(starts)} SELECT start FROM reach WHERE start = id LIMIT 1"
    ).first()
    if cycle is not None:
        did = conn.exec_driver_sql(f"SELECT did FROM dataset WHERE id = {int(cycle[0])}").scalar()
        raise CatalogError(
            f"suggested links would make {did!r} its own ancestor; nothing was recorded"
        )
