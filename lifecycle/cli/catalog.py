"""Commands over the catalog itself: init, db, sites, endpoints, datasets, replicas, overview."""

from __future__ import annotations

from typing import Annotated

import typer

from lifecycle.cli.options import (
    INT_MAX,
    DetailFormat,
    DetailFormatOption,
    FormatOption,
    ListingFormat,
    catalog,
    emit_json,
    note,
    show,
)

TABLE_ROWS = 1000

db_app = typer.Typer(help="The catalog database: schema revision and upgrades.")
sites_app = typer.Typer(help="Computing centres.")
endpoints_app = typer.Typer(help="Storage areas at sites (Rucio RSEs).")
datasets_app = typer.Typer(help="Datasets: list, filter, and show one.")
replicas_app = typer.Typer(help="Copies of datasets on endpoints.")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("overview")(overview)
    app.command("journal")(journal)
    app.add_typer(db_app, name="db")
    app.add_typer(sites_app, name="sites")
    app.add_typer(endpoints_app, name="endpoints")
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(replicas_app, name="replicas")


def init(ctx: typer.Context) -> None:
    """Create the catalog (or bring its schema up to date)."""
    cat = catalog(ctx)
    before, after = cat.init()
    state = "created" if before is None else ("upgraded" if before != after else "already current")
    typer.echo(f"catalog {cat.store.display_url()}: schema {after} ({state})")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the catalog schema to this version of lifecycle."""
    from lifecycle.api import Catalog

    cat = Catalog(ctx.find_root().obj.get("db"), migrate=False)
    try:
        before, after = cat.upgrade()
    finally:
        cat.close()
    typer.echo(f"schema {before or 'none'} -> {after}" if before != after else f"schema {after}")


@db_app.command("version")
def db_version(ctx: typer.Context) -> None:
    """Print the catalog's schema revision and the one this code expects."""
    from lifecycle.api import Catalog
    from lifecycle.catalog.migrations import HEAD

    cat = Catalog(ctx.find_root().obj.get("db"), migrate=False)
    try:
        typer.echo(f"catalog: {cat.revision() or 'none'}  code: {HEAD}")
    finally:
        cat.close()


@sites_app.command("list")
def sites_list(ctx: typer.Context, fmt: FormatOption = ListingFormat.table) -> None:
    """List sites with their tier, country, cloud, status and endpoints."""
    show(catalog(ctx).sites(), fmt, "sites")


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
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """List endpoints with their site and attributes."""
    show(catalog(ctx).endpoints(site=site, media=media, expression=expression), fmt, "endpoints")


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
            max=INT_MAX,
            help="At most this many rows; 0 for all [default: 1000 in a table, all in json/csv].",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """List datasets, filtered by kind, data type, scope, name and site."""
    if limit is None:  # people get a screenful; scripts get everything they asked for
        limit = TABLE_ROWS if fmt is ListingFormat.table else 0
    frame = catalog(ctx).datasets(
        kind=kind, data_type=data_type, scope=scope, name=name, site=site, limit=limit or None
    )
    if limit and len(frame) == limit:
        note(f"showing the first {limit} datasets; --limit 0 lists all")
    show(frame, fmt, "datasets")


@datasets_app.command("show")
def datasets_show(
    ctx: typer.Context, did: str, fmt: DetailFormatOption = DetailFormat.table
) -> None:
    """Show one dataset: metadata, replicas, producer and consumers."""
    details = catalog(ctx).dataset(did)
    if fmt is DetailFormat.json:
        emit_json(details.to_dict())
        return
    import pandas as pd

    fields = {**details.dataset, **{f"metadata.{k}": v for k, v in details.metadata.items()}}
    show(pd.DataFrame({"field": list(fields), "value": list(fields.values())}), fmt, did)
    show(details.replicas, fmt, "replicas")
    if details.producer is None:
        note("producer: none recorded")
    else:
        producer = details.producer
        show(
            pd.DataFrame({"field": list(producer), "value": list(producer.values())}),
            fmt,
            "produced by",
        )
        show(details.producer_inputs, fmt, "inputs of the producing production")
    show(details.consumers, fmt, "used by")
    if not details.pins.empty:
        show(details.pins, fmt, "pins")


@replicas_app.command("list")
def replicas_list(ctx: typer.Context, did: str, fmt: FormatOption = ListingFormat.table) -> None:
    """List the replicas of one dataset."""
    show(catalog(ctx).replicas(did), fmt, f"replicas of {did}")


def overview(ctx: typer.Context, fmt: DetailFormatOption = DetailFormat.table) -> None:
    """The catalog at a glance: sites by tier, datasets by kind and data type, replicas."""
    result = catalog(ctx).overview()
    if fmt is DetailFormat.json:
        emit_json(result.to_dict())
        return
    show(result.sites_by_tier, fmt, "sites by tier")
    show(result.datasets_by_kind, fmt, "datasets by kind and data type")
    show(result.replicas_by_state, fmt, "replicas by media and state")


def journal(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Entries at or after this time (ISO 8601).")
    ] = None,
    did: Annotated[str | None, typer.Option("--did", help="Entries touching this dataset.")] = None,
    limit: Annotated[
        int, typer.Option(min=0, max=INT_MAX, help="The most recent N entries; 0 for all.")
    ] = 50,
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """The journal of changes: who changed what, when, why, with which command."""
    from lifecycle.cli.options import parse_time

    entries = catalog(ctx).journal(limit or None, parse_time(since, "--since"), did)
    show(entries, fmt, "journal")
