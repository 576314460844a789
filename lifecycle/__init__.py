"""lifecycle: data lifecycle and provenance for raw, calibration and derived datasets.

``from lifecycle import Catalog`` gives the Python API (:mod:`lifecycle.api`), with the names its
methods take: ``WhatIf`` (replicas to treat as gone), ``Selector`` (which datasets), ``PolicySet``
and ``load_policies``. The facade and the generator load SQLAlchemy, pandas and numpy, so these
names are imported on first use: the command line starts fast.

Layers (DESIGN.md; ``tests/test_layers.py`` enforces them): ``cli -> api -> services ->
provenance -> policy, exchange -> catalog -> leaves``, the output registry beside the CLI. Each
package's docstring says what it owns and what it may import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.errors import LifecycleError

__version__ = "0.1.0"
# the public names of the Python API, each re-exported from lifecycle.api on first use
_FROM_API = ("Catalog", "PolicySet", "Selector", "WhatIf", "load_policies")
__all__ = [
    "Catalog",
    "LifecycleError",
    "PolicySet",
    "Selector",
    "WhatIf",
    "generate",
    "load_policies",
]

if TYPE_CHECKING:
    from lifecycle.api import Catalog, PolicySet, Selector, WhatIf, load_policies
    from lifecycle.generate import generate


def __getattr__(name: str) -> Any:
    if name in _FROM_API:
        import lifecycle.api

        return getattr(lifecycle.api, name)
    if name == "generate":
        from lifecycle.generate import generate

        return generate
    raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
