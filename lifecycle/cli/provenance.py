"""Provenance: ``lineage``, ``impact`` and ``recipe`` of a dataset; ``provenance suggest``.

Mirrors :mod:`lifecycle.provenance` (and :mod:`lifecycle.suggest`) through the ``Catalog``
facade; graphs and recipes are written by the output registry's ``graph`` and ``recipe`` formats.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table

if TYPE_CHECKING:
    import pandas as pd

provenance_app = typer.Typer(help="Provenance records: parent links missing from the catalog.")


@provenance_app.command("suggest")
def suggest(
    ctx: typer.Context,
    apply: Annotated[
        bool, typer.Option("--apply", help="Record the applicable links as productions.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why, for the journal (with --apply).")] = None,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Probable parents of datasets without a recorded producer, from their AMI tag chains.

    A preview unless --apply: then the applicable links (one candidate, no cycle) are recorded
    as productions with the added tags as transformation, in one journaled transaction.
    """
    suggestions = options.catalog(ctx).suggest_parents(apply=apply, reason=reason)
    people = partial(_for_people, suggestions)
    report = Report(suggestions, people=people, kind="provenance-suggest", items="suggestions")
    options.emit(report, fmt)
    applicable = int(suggestions["applicable"].sum())
    if apply:
        options.note(f"recorded {options.count(applicable, 'suggested parent link')}")
    elif applicable:
        options.note(
            f"{options.number(applicable)} of these links would be recorded; --apply records them"
        )


def _for_people(suggestions: pd.DataFrame, out: IO[str]) -> None:
    """A table with names short enough for a screen: number and stream (which child and parent
    share) once, then each side's project and what follows them."""
    child = suggestions["child"].str.split(":", n=1).str[-1].str.split(".", n=3)
    parent = suggestions["parent"].str.split(":", n=1).str[-1].str.split(".", n=3)
    people = suggestions.assign(
        child=child.str[0] + " … " + child.str[3], parent=parent.str[0] + " … " + parent.str[3]
    )
    people.insert(0, "number.stream", child.str[1] + "." + child.str[2])
    write_table(people, out)


GraphFormatOption = Annotated[
    options.GraphFormat,
    typer.Option(
        "--format",
        "-f",
        help="tree for people (a summary, then at most 80 entries: json lists all); json, "
        "prov-json, prov-n or prov-xml (W3C PROV) for tools; dot or mermaid for diagram tools; "
        "svg or html (a page holding the svg) for a picture, drawn without Graphviz, to -o FILE "
        "or a pipe; openlineage: one OpenLineage RunEvent a line (NDJSON) per production shown.",
    ),
]
DepthOption = Annotated[
    int | None,
    typer.Option(
        "--depth",
        min=0,
        max=options.INT_MAX,
        help="At most this many productions away (default: no limit).",
    ),
]
MaxNodesOption = Annotated[
    int,
    typer.Option(
        "--max-nodes",
        min=1,
        max=options.INT_MAX,
        help="Show at most this many datasets (the graph is then truncated).",
    ),
]


DidArgument = Annotated[str, typer.Argument(help="Dataset (scope:name, or an ATLAS-style name).")]


def _walk(direction: str, summary: str) -> Callable[..., None]:
    """The command showing the ``direction`` walk (``lineage`` or ``impact``) from a dataset."""

    def command(
        ctx: typer.Context,
        did: DidArgument,
        depth: DepthOption = None,
        max_nodes: MaxNodesOption = 10_000,
        fmt: GraphFormatOption = options.GraphFormat.tree,
    ) -> None:
        options.emit(getattr(options.catalog(ctx), direction)(did, depth, max_nodes), fmt)

    command.__doc__ = summary
    return command


lineage = _walk(
    "lineage",
    "How DID was produced: every production and input up to its raw and calibration roots.",
)
impact = _walk("impact", "What depends on DID, directly or not, counted by kind and data type.")


def recipe(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset to rebuild.")],
    fmt: Annotated[
        options.RecipeFormat,
        typer.Option("--format", "-f", help="text for people, json for tools, shell to run."),
    ] = options.RecipeFormat.text,
) -> None:
    """The productions that rebuild DID from available data, in order; exit 1 if impossible."""
    found = options.catalog(ctx).recipe(did)
    options.emit(found, fmt)
    if not found.reproducible:
        raise typer.Exit(1)


def export_lineage(
    ctx: typer.Context,
    fmt: Annotated[
        options.RunsFormat,
        typer.Option(
            "--format",
            "-f",
            help="openlineage: one OpenLineage RunEvent a line (NDJSON), as OpenLineage "
            "consumers (Marquez, ...) take them.",
        ),
    ] = options.RunsFormat.openlineage,
    experiment: Annotated[
        str,
        typer.Option(
            envvar="LIFECYCLE_EXPERIMENT",
            help="The experiment: jobs are in the namespace lifecycle://EXPERIMENT, datasets in "
            "lifecycle://EXPERIMENT/SCOPE (lineage --format openlineage reads "
            "LIFECYCLE_EXPERIMENT too).",
        ),
    ] = "atlas",
) -> None:
    """The whole catalog's lineage: every production as a run with its inputs and outputs,
    streamed to -o FILE or stdout.

    A finished production is a COMPLETE event (FAIL if it failed) at its end; a running one a
    START event at its start. Run ids are stable: exporting again gives the same runs.
    """
    with options.catalog(ctx).lineage_runs(experiment) as runs:
        options.emit(runs, fmt)


COMMANDS = {
    "lineage": lineage,
    "impact": impact,
    "recipe": recipe,
    "export-lineage": export_lineage,
}
GROUPS = {"provenance": provenance_app}
