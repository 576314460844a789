"""Provenance: the graph of datasets and productions, and the questions asked of it.

- :mod:`~lifecycle.provenance.reproducibility`: the shared reproducibility service (audit,
  expiry, recipes, what-if);
- :mod:`~lifecycle.provenance.graph`: lineage (upstream) and impact (downstream) walks;
- :mod:`~lifecycle.provenance.recipe`: the ordered productions that rebuild a dataset.

Their renderings (tree, dot, mermaid, W3C PROV; recipes as text and shell) are output formats:
:mod:`lifecycle.output`. The reproducibility service owns its temporary tables
(:func:`irreproducible_table`, :func:`what_if`): no other module spells their names. May import
``policy``, ``exchange``, ``catalog`` and the leaf modules; never a service, the api or the CLI.
"""

from lifecycle.provenance.reproducibility import (
    GONE_TABLE,
    WhatIf,
    available,
    copied_irreproducible,
    irreproducible_cte,
    irreproducible_reasons,
    irreproducible_rows,
    irreproducible_sql,
    irreproducible_table,
    materialize_irreproducible,
    reproducibility,
    what_if,
)

__all__ = [
    "GONE_TABLE",
    "WhatIf",
    "available",
    "copied_irreproducible",
    "irreproducible_cte",
    "irreproducible_reasons",
    "irreproducible_rows",
    "irreproducible_sql",
    "irreproducible_table",
    "materialize_irreproducible",
    "reproducibility",
    "what_if",
]
