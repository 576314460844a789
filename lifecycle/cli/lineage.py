"""Provenance queries: ``lineage``, ``impact`` and ``recipe`` of one dataset."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from lifecycle.cli.options import catalog, emit_json


class GraphFormat(StrEnum):
    """Renderings of a provenance graph (``lifecycle.provenance.render`` registers them)."""

    tree = "tree"
    json = "json"
    prov_json = "prov-json"
    prov_n = "prov-n"
    dot = "dot"
    mermaid = "mermaid"


class RecipeFormat(StrEnum):
    text = "text"
    json = "json"
    shell = "shell"


GraphFormatOption = Annotated[
    GraphFormat,
    typer.Option(
        "--format",
        "-f",
        help="tree for people; json, prov-json or prov-n (W3C PROV) for tools; dot or mermaid "
        "for diagrams.",
    ),
]
DepthOption = Annotated[
    int | None,
    typer.Option("--depth", min=0, help="At most this many productions away [default: no limit]."),
]
MaxNodesOption = Annotated[
    int,
    typer.Option(
        "--max-nodes", min=1, help="Show at most this many datasets (the graph is then truncated)."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("lineage")(lineage)
    app.command("impact")(impact)
    app.command("recipe")(recipe)


def lineage(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset (scope:name, or an ATLAS-style name).")],
    depth: DepthOption = None,
    max_nodes: MaxNodesOption = 10_000,
    fmt: GraphFormatOption = GraphFormat.tree,
) -> None:
    """How DID was produced: every production and input up to its raw and calibration roots."""
    _render(catalog(ctx).lineage(did, depth, max_nodes), fmt)


def impact(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset (scope:name, or an ATLAS-style name).")],
    depth: DepthOption = None,
    max_nodes: MaxNodesOption = 10_000,
    fmt: GraphFormatOption = GraphFormat.tree,
) -> None:
    """What depends on DID, directly or not, counted by kind and data type."""
    _render(catalog(ctx).impact(did, depth, max_nodes), fmt)


def recipe(
    ctx: typer.Context,
    did: Annotated[str, typer.Argument(help="Dataset to rebuild.")],
    fmt: Annotated[
        RecipeFormat,
        typer.Option("--format", "-f", help="text for people, json for tools, shell to run."),
    ] = RecipeFormat.text,
) -> None:
    """The productions that rebuild DID from available data, in order; exit 1 if impossible."""
    from lifecycle.provenance.recipe import to_shell, to_text

    found = catalog(ctx).recipe(did)
    if fmt is RecipeFormat.json:
        emit_json(found.to_dict())
    elif fmt is RecipeFormat.shell:
        sys.stdout.write(to_shell(found))
    else:
        sys.stdout.write(to_text(found))
    if not found.reproducible:
        raise typer.Exit(1)


def _render(graph, fmt: GraphFormat) -> None:
    from lifecycle.provenance.render import render_graph

    render_graph(graph, fmt.value, sys.stdout)
