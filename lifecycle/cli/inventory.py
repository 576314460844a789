"""``lifecycle transformations list|show`` and ``lifecycle productions show``.

Mirrors :mod:`lifecycle.inventory` through the ``Catalog`` facade. Tables start with a summary
and are bounded (the first rows, then "… and M more"); json and csv list everything.
"""

from __future__ import annotations

from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table
from lifecycle.text import human_bytes

if TYPE_CHECKING:
    from lifecycle.api import ProductionDetails, TransformationDetails, TransformationListing

TRANSFORMATIONS_ON_SCREEN = 50
ROWS_ON_SCREEN = 20  # productions of a transformation; inputs, outputs of a production

transformations_app = typer.Typer(help="Transformations (AMI tags): list, and show one.")
productions_app = typer.Typer(help="Productions (executions of transformations): show one.")


@transformations_app.command("list")
def transformations_list(
    ctx: typer.Context,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="GLOB", help="Tag glob (repeatable).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(metavar="GLOB", help="Name glob, e.g. 'Reco_tf'.")
    ] = None,
    release: Annotated[
        str | None, typer.Option(metavar="GLOB", help="Release glob, e.g. 'Athena,24.*'.")
    ] = None,
    data_type: Annotated[
        list[str] | None,
        typer.Option(
            "--data-type", metavar="GLOB", help="Produced this data type (glob, repeatable)."
        ),
    ] = None,
    missing_digest: Annotated[
        bool, typer.Option("--missing-digest", help="Only those without an image digest.")
    ] = False,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """List transformations: release, image digest recorded, productions, outputs, last used."""
    listing = options.catalog(ctx).transformations(
        tag=tag, name=name, release=release, data_type=data_type, missing_digest=missing_digest
    )
    people = partial(_transformations, listing)
    options.emit(Report(listing.transformations, document=listing.to_dict, people=people), fmt)


def _transformations(listing: TransformationListing, out: IO[str]) -> None:
    s = listing.summary
    options.line(
        out,
        f"{options.count(s['transformations'], 'transformation')}: "
        f"{s['without_image_digest']:,} without an image digest, {s['unused']:,} unused; "
        f"{options.count(s['productions'], 'production')}, "
        f"{options.count(s['outputs'], 'output')} ({human_bytes(s['output_bytes'])})",
    )
    shown = options.yes_no(listing.transformations, "has_image_digest")
    options.bounded_table(shown, out, "transformations", TRANSFORMATIONS_ON_SCREEN)


@transformations_app.command("show")
def transformations_show(
    ctx: typer.Context,
    tag: Annotated[str, typer.Argument(metavar="TAG", help="Transformation tag, e.g. r13286.")],
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Show one transformation: fields, parameters, what it produced, its productions (csv:
    the productions)."""
    details = options.catalog(ctx).transformation(tag)
    people = partial(_transformation, details)
    options.emit(Report(details.productions, document=details.to_dict, people=people), fmt)


def _transformation(details: TransformationDetails, out: IO[str]) -> None:
    import pandas as pd

    fields = dict(details.transformation)
    fields["has_image_digest"] = "yes" if fields["has_image_digest"] else "no"
    fields.update({f"parameter.{k}": v for k, v in details.parameters.items()})
    table = pd.DataFrame({"field": list(fields), "value": list(fields.values())})
    write_table(table, out, f"transformation {fields['tag']}")
    s = details.summary
    statuses = ", ".join(f"{n:,} {status}" for status, n in s["by_status"].items())
    text = options.count(s["productions"], "production")
    if statuses:
        text += f" ({statuses}) at {options.count(s['sites'], 'site')}"
    if s["first_used"]:
        text += f", {s['first_used']} to {s['last_used']}"
    text += f"; {options.count(s['inputs'], 'input')}, {options.count(s['outputs'], 'output')}"
    options.line(out, f"{text} ({human_bytes(s['output_bytes'])})")
    if not details.outputs_by_data_type.empty:
        write_table(details.outputs_by_data_type, out, "outputs by kind and data type")
    options.bounded_table(details.productions, out, "productions, newest first", ROWS_ON_SCREEN)


@productions_app.command("show")
def productions_show(
    ctx: typer.Context,
    production: Annotated[
        str, typer.Argument(metavar="ID", help="Production id, e.g. task-23721729.")
    ],
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Show one production: transformation, status, site, times, inputs and outputs (csv: its
    datasets, role 'output' for the outputs)."""
    details = options.catalog(ctx).production(production)
    people = partial(_production, details)
    options.emit(Report(details.datasets, document=details.to_dict, people=people), fmt)


def _production(details: ProductionDetails, out: IO[str]) -> None:
    import pandas as pd

    fields = dict(details.production)
    fields["has_image_digest"] = "yes" if fields["has_image_digest"] else "no"
    table = pd.DataFrame({"field": list(fields), "value": list(fields.values())})
    write_table(table, out, f"production {fields['production']}")
    s = details.summary
    roles = ", ".join(f"{n:,} {role}" for role, n in s["inputs_by_role"].items())
    text = options.count(s["inputs"], "input") + (f" ({roles})" if roles else "")
    text += f", {human_bytes(s['input_bytes'])}, {s['inputs_without_available_replica']:,} "
    text += "without an available replica; "
    text += f"{options.count(s['outputs'], 'output')}, {human_bytes(s['output_bytes'])}"
    options.line(out, text)
    options.bounded_table(details.inputs, out, "inputs", ROWS_ON_SCREEN)
    options.bounded_table(details.outputs.drop(columns="role"), out, "outputs", ROWS_ON_SCREEN)


GROUPS = {"transformations": transformations_app, "productions": productions_app}
