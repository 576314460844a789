"""lifecycle: data lifecycle and provenance for raw, calibration and derived datasets.

``from lifecycle import Catalog`` gives the Python API (:mod:`lifecycle.api`). The facade and the
generator load SQLAlchemy, pandas and numpy, so they are imported on first use: the command line
starts fast.

Layers (DESIGN.md; ``tests/test_layers.py`` enforces them): ``cli -> api -> services ->
provenance -> policy, exchange -> catalog -> leaves``, the output registry beside the CLI. Each
package's docstring says what it owns and what it may import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.errors import LifecycleError

__version__ = "0.1.0"
__all__ = ["Catalog", "LifecycleError", "generate"]

if TYPE_CHECKING:
    from lifecycle.api import Catalog
    from lifecycle.generate import generate


def __getattr__(name: str) -> Any:
    if name == "Catalog":
        from lifecycle.api import Catalog

        return Catalog
    if name == "generate":
        from lifecycle.generate import generate

        return generate
    raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
