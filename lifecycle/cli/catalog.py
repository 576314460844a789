"""Commands over the catalog itself: init, db, sites, endpoints, datasets, overview, journal.

Mirrors :mod:`lifecycle.catalog` (the store, its migrations and listing queries) through the
``Catalog`` facade.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from itertools import chain
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Frames, Report, write_table
from lifecycle.text import human_bytes
from lifecycle.values import json_value

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import DatasetDetails, DatasetStatus, Overview

TABLE_ROWS = 100

db_app = typer.Typer(help="The catalog database: schema revision and upgrades.")
sites_app = typer.Typer(help="Computing centres.")
endpoints_app = typer.Typer(help="Storage areas at sites (Rucio RSEs).")
datasets_app = typer.Typer(help="Datasets: list, filter, and show one.")


def init(ctx: typer.Context) -> None:
    """Create the catalog (or bring its schema up to date)."""
    cat = options.catalog(ctx)
    before, after = cat.init()
    state = "created" if before is None else ("upgraded" if before != after else "already current")
    typer.echo(f"catalog {cat.store.display_url()}: schema {after} ({state})")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the catalog schema to this version of lifecycle."""
    with options.unmigrated_catalog(ctx) as cat:
        before, after = cat.upgrade()
    typer.echo(f"schema {before or 'none'} -> {after}" if before != after else f"schema {after}")


@db_app.command("version")
def db_version(ctx: typer.Context) -> None:
    """Print the catalog's schema revision and the one this code expects."""
    with options.unmigrated_catalog(ctx) as cat:
        typer.echo(f"catalog: {cat.revision() or 'none'}  code: {options.api().SCHEMA_HEAD}")


sites_app.command("list")(
    options.listing(
        "sites",
        "sites",
        "List sites with their tier, country, cloud, status and endpoints.",
        kind="sites",
        renamed={"name": "site"},
    )
)


@endpoints_app.command("list")
def endpoints_list(
    ctx: typer.Context,
    site: Annotated[str | None, typer.Option(help="Only endpoints of this site.")] = None,
    media: Annotated[str | None, typer.Option(help="Only tape or disk endpoints.")] = None,
    expression: Annotated[
        str | None,
        typer.Option(
            "--expression", "-e", help="Rucio-style endpoint expression, e.g. 'tier<2&media=tape'."
        ),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """List endpoints with their site and attributes."""
    found = options.catalog(ctx).endpoints(site=site, media=media, expression=expression)
    found = _endpoint_records(found)
    people = partial(_endpoints, found)
    options.emit(Report(found, title="endpoints", people=people, kind="endpoints"), fmt)


TB = 10**12  # bytes in a TB, as the free-form attribute freespace_tb counts them


def _endpoint_records(found: pd.DataFrame) -> pd.DataFrame:
    """The endpoints as every report names things: ``endpoint`` for the name, free space as
    ``free_bytes`` (an integer) for the attribute ``freespace_tb`` when endpoints have it."""
    import pandas as pd

    found = found.rename(columns={"name": "endpoint"})
    if "freespace_tb" in found.columns and "free_bytes" not in found.columns:
        tb = pd.to_numeric(found["freespace_tb"], errors="coerce")
        free = [None if v != v else round(v * TB) for v in tb.astype("float64")]
        found.insert(
            list(found.columns).index("freespace_tb"), "free_bytes", pd.array(free, dtype="Int64")
        )
        found = found.drop(columns="freespace_tb")
    return found


def _endpoints(found: pd.DataFrame, out: IO[str]) -> None:
    """The endpoints table: boolean attributes as the expressions write them (``true``)."""
    shown = found.copy()
    for column in shown.columns:
        if str(shown[column].dtype) in ("bool", "boolean"):
            shown[column] = shown[column].map({True: "true", False: "false"}).astype(object)
    write_table(shown, out, "endpoints")


@datasets_app.command("list")
def datasets_list(
    ctx: typer.Context,
    kind: Annotated[list[str] | None, typer.Option(help="Kind (repeatable).")] = None,
    data_type: Annotated[
        list[str] | None, typer.Option("--data-type", help="Data type glob (repeatable).")
    ] = None,
    scope: Annotated[list[str] | None, typer.Option(help="Scope (repeatable).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Name glob (* and ?); with a ':' it matches the DID.")
    ] = None,
    site: Annotated[str | None, typer.Option(help="Only datasets with a replica here.")] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            max=options.INT_MAX,
            help="At most this many rows; 0 for all (default: 100 in a table, all in json/csv).",
            show_default=False,
        ),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """List datasets, filtered by kind, data type, scope, name and site."""
    if limit is None:  # people get a screenful; scripts get everything they asked for
        limit = TABLE_ROWS if fmt is options.ListingFormat.table else 0
    filters = {"kind": kind, "data_type": data_type, "scope": scope, "name": name, "site": site}
    streamed = fmt in (options.ListingFormat.csv, options.ListingFormat.json)  # any length
    if not streamed:
        frame = options.catalog(ctx).datasets(**filters, limit=limit or None)
        if limit and len(frame) == limit:
            options.note(f"showing the first {limit:,} datasets; --limit 0 lists all")
        options.show(frame, fmt, "datasets", kind="datasets")
        return
    chunks = options.catalog(ctx).dataset_chunks(**filters, limit=limit or None)
    first = next(chunks)  # the filters are checked before anything is written
    listed = [0]
    frames = Frames(_counted(chain([first], chunks), listed))
    options.emit(Report(frames, title="datasets", kind="datasets"), fmt)
    if limit and listed[0] == limit:
        options.note(f"showing the first {limit:,} datasets; --limit 0 lists all")


def _counted(frames: Iterator[pd.DataFrame], rows: list[int]) -> Iterator[pd.DataFrame]:
    """``frames``, adding up their rows in ``rows[0]`` as they go by."""
    for frame in frames:
        rows[0] += len(frame)
        yield frame


@datasets_app.command("show")
def datasets_show(
    ctx: typer.Context,
    did: str,
    policy: options.PolicyOption = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """One dataset's status, then its details: every rule that selects it and whether it passes,
    its end of life and why, whether it can be rebuilt, pins, plans that read it, replicas,
    producer and consumers (csv: its fields and metadata, one row each)."""
    import pandas as pd

    with options.optional_policies(policy, "rules are not checked") as found:
        status = options.catalog(ctx).dataset_status(did, found)
    details = status.details
    metadata = {f"metadata.{k}": v for k, v in details.metadata.items()}
    values = {**details.dataset, **metadata}
    fields = pd.DataFrame(
        {"field": list(values), "value": [_cell(v) for v in values.values()]}, dtype="string"
    )
    options.emit(
        Report(fields, document=status.to_dict, people=lambda out: _status(status, did, out)),
        fmt,
    )


def _status(status: DatasetStatus, did: str, out: IO[str]) -> None:
    """The status first (``| head`` shows it), then the details."""
    import pandas as pd

    summary = status.summary()
    rules = status.rules
    failing = summary["failing"]
    eol = status.end_of_life
    parts = [
        f"{failing} of {options.count(len(rules), 'rule')} failing"
        if rules
        else "no rule selects it",
        "reproducible" if status.reproducible else "not reproducible",
        f"{options.count(summary['available_replicas'], 'available replica')}",
    ]
    if summary["pinned"]:
        parts.append("pinned")
    if summary["plans"]:
        parts.append(f"read by {options.count(summary['plans'], 'saved plan')}")
    options.line(out, f"{did}: {'; '.join(parts)}")
    if eol:
        when = json_value(eol.get("at"))
        text = (
            f"end of life: {when} ({eol['from']})" if when else f"end of life: none ({eol['from']})"
        )
        if eol.get("decision"):
            text += f"; expiry would {eol['decision']} it ({eol['reason']})"
        options.line(out, text)
    if not status.reproducible:
        reasons = sorted({m["reason"] for m in status.missing})
        options.line(out, f"cannot be rebuilt: {'; '.join(reasons)}")
    durable = status.durability
    if durable.get("status") == "regenerable":
        options.line(out, "durability: regenerable (reproducible from what is preserved)")
    elif durable:
        shown = "-" if durable["nines"] is None else f"{durable['nines']:.1f}"
        text = (f"durability: {shown} nines (annual probability of loss "
                f"{durable['probability']:.3g}; {durable['why']}; see 'lifecycle durability')")  # fmt: skip
        options.line(out, text)
    if rules:
        write_table(pd.DataFrame(rules)[["rule", "type", "severity", "verdict", "message"]], out,
                    "rules that select it")  # fmt: skip
    if status.plans is not None and len(status.plans):
        write_table(status.plans, out, "saved plans that read it")
    _dataset(status.details, did, out)


def _dataset(details: DatasetDetails, did: str, out: IO[str]) -> None:
    import pandas as pd

    def fields(values: dict) -> pd.DataFrame:
        return pd.DataFrame({"field": list(values), "value": list(values.values())})

    metadata = {f"metadata.{k}": v for k, v in details.metadata.items()}
    write_table(fields({**_readable(details.dataset), **metadata}), out, did)
    write_table(details.replicas, out, "replicas")
    if details.producer is None:
        options.note("producer: none recorded")
    else:
        write_table(fields(details.producer), out, "produced by")
        write_table(details.producer_inputs, out, "inputs of the producing production")
    write_table(details.consumers, out, "used by")
    if not details.pins.empty:
        write_table(details.pins, out, "pins")
    if details.rules is not None and not details.rules.empty:
        write_table(details.rules, out, "Rucio replication rules")


def _cell(value) -> str | None:
    """A field's value as csv text: ISO times, true/false, empty for none."""
    value = json_value(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def _readable(dataset: dict) -> dict:
    """The dataset's fields for people: its size in bytes humanised (and exact, grouped), file
    and event counts grouped in thousands (json keeps the integers)."""
    shown = dict(dataset)
    size = json_value(shown.get("bytes"))
    if size is not None:
        shown["bytes"] = f"{human_bytes(size)} ({size:,} bytes)"
    for key in ("files", "events"):
        value = json_value(shown.get(key))
        if value is not None:
            shown[key] = f"{value:,}"
    return shown


def overview(ctx: typer.Context, fmt: options.FormatOption = options.ListingFormat.table) -> None:
    """The catalog at a glance: sites by tier, datasets by kind and data type, replicas (csv:
    one row per group, its table named in 'section')."""
    result = options.catalog(ctx).overview()
    options.emit(
        Report(
            result.rows(),
            document=result.to_dict,
            people=lambda out: _overview(result, out),
        ),
        fmt,
    )


def _overview(result: Overview, out: IO[str]) -> None:
    total = result.summary()
    options.line(
        out,
        f"{options.count(total['sites'], 'site')}, {options.count(total['endpoints'], 'endpoint')}"
        f"; {options.count(total['datasets'], 'dataset')} ({human_bytes(total['bytes'])}); "
        f"{options.count(total['replicas'], 'replica')}",
    )
    write_table(result.sites_by_tier, out, "sites by tier")
    write_table(result.datasets_by_kind, out, "datasets by kind and data type")
    write_table(result.replicas_by_state, out, "replicas by media and state")


def journal(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Entries at or after this time (ISO 8601).")
    ] = None,
    did: Annotated[str | None, typer.Option("--did", help="Entries touching this dataset.")] = None,
    limit: Annotated[
        int, typer.Option(min=0, max=options.INT_MAX, help="The most recent N entries; 0 for all.")
    ] = 50,
    changes: Annotated[
        int | None,
        typer.Option(
            "--changes",
            min=1,
            max=options.INT_MAX,
            help="The values entry N changed, old and new, instead of the entries.",
        ),
    ] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """The journal of changes: who changed what, when, why, with which command."""
    cat = options.catalog(ctx)
    if changes is not None:
        found = cat.journal_changes(changes)
        options.show(
            found, fmt, f"journal entry {changes}", kind="journal-changes", items="changes"
        )
        return
    entries = cat.journal(limit or None, options.parse_time(since, "--since"), did)
    options.show(entries, fmt, "journal", kind="journal", items="entries")


COMMANDS = {"init": init, "overview": overview, "journal": journal}
GROUPS = {"db": db_app, "sites": sites_app, "endpoints": endpoints_app, "datasets": datasets_app}
