"""``lifecycle provenance suggest``: probable parent links read from dataset names."""

from __future__ import annotations

from typing import Annotated

import typer

from lifecycle.cli.options import FormatOption, ListingFormat, catalog, note, show

provenance_app = typer.Typer(help="Provenance records: parent links missing from the catalog.")


def register(app: typer.Typer) -> None:
    app.add_typer(provenance_app, name="provenance")


@provenance_app.command("suggest")
def suggest(
    ctx: typer.Context,
    apply: Annotated[
        bool, typer.Option("--apply", help="Record the applicable links as productions.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why, for the journal (with --apply).")] = None,
    fmt: FormatOption = ListingFormat.table,
) -> None:
    """Probable parents of datasets without a recorded producer, from their AMI tag chains.

    A preview unless --apply: then the applicable links (one candidate, no cycle) are recorded
    as productions with the added tags as transformation, in one journaled transaction.
    """
    suggestions = catalog(ctx).suggest_parents(apply=apply, reason=reason)
    show(_for_people(suggestions) if fmt is ListingFormat.table else suggestions, fmt)
    applicable = int(suggestions["applicable"].sum())
    if apply:
        note(f"recorded {applicable} suggested parent links")
    elif applicable:
        note(f"{applicable} of these links would be recorded; --apply records them")


def _for_people(suggestions):
    """Names short enough for a screen: number and stream (which child and parent share) once,
    then each side's project and what follows them."""
    child = suggestions["child"].str.split(":", n=1).str[-1].str.split(".", n=3)
    parent = suggestions["parent"].str.split(":", n=1).str[-1].str.split(".", n=3)
    people = suggestions.assign(
        child=child.str[0] + " … " + child.str[3], parent=parent.str[0] + " … " + parent.str[3]
    )
    people.insert(0, "number.stream", child.str[1] + "." + child.str[2])
    return people
