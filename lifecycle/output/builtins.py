"""The built-in formats of every family, registered in the order ``--help`` lists them."""

from __future__ import annotations

from lifecycle.output.diagrams import write_dot, write_mermaid
from lifecycle.output.graph_tree import write_tree
from lifecycle.output.graphs import write_graph_json
from lifecycle.output.lines import line_writer
from lifecycle.output.openlineage import write_graph_openlineage, write_runs_openlineage
from lifecycle.output.prov import write_prov_json, write_prov_n, write_prov_xml
from lifecycle.output.recipes import write_recipe_json, write_recipe_shell, write_recipe_text
from lifecycle.output.registry import declare, register
from lifecycle.output.reports import (
    write_document,
    write_people,
    write_records_csv,
    write_records_parquet,
)
from lifecycle.output.svg import check_size, write_html, write_svg

for _family in ("listing", "detail"):
    register(_family, "table")(write_people)
    register(_family, "json")(write_document)
register("listing", "csv")(write_records_csv)
register("detail", "csv")(write_records_csv)  # a report of one thing: its few rows
register("listing", "parquet", binary=True)(write_records_parquet)

register("plan", "json")(write_document)
register("plan", "parquet", binary=True)(write_records_parquet)

register("graph", "tree")(write_tree)
register("graph", "json")(write_graph_json)
register("graph", "prov-json")(write_prov_json)
register("graph", "prov-n")(write_prov_n)
register("graph", "dot")(write_dot)
register("graph", "mermaid")(write_mermaid)
register("graph", "svg", terminal=False, check=check_size)(write_svg)
register("graph", "html", terminal=False, check=check_size)(write_html)
register("graph", "prov-xml")(write_prov_xml)
register("graph", "openlineage")(write_graph_openlineage)

register("recipe", "text")(write_recipe_text)
register("recipe", "json")(write_recipe_json)
register("recipe", "shell")(write_recipe_shell)

# the whole catalog's lineage, streamed (export-lineage): one OpenLineage RunEvent a line
register("runs", "openlineage")(write_runs_openlineage)

declare("exchange", "csv", "parquet")  # lifecycle.exchange.exporter writes the directory

# a repair plan: its report as any listing's, and as Rucio rules (JSON lines, or rucio add-rule)
register("repair", "table")(write_people)
register("repair", "json")(write_document)
register("repair", "csv")(write_records_csv)
register("repair", "rucio")(line_writer("rucio"))
register("repair", "rucio-shell")(line_writer("rucio-shell"))
