"""lifecycle: data lifecycle and provenance for raw, calibration and derived datasets.

``from lifecycle import Catalog`` gives the Python API; heavy modules load on first use so the
command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Catalog", "LifecycleError", "generate"]

if TYPE_CHECKING:
    from lifecycle.api import Catalog
    from lifecycle.errors import LifecycleError
    from lifecycle.generate import generate


def __getattr__(name: str) -> Any:
    if name == "Catalog":
        from lifecycle.api import Catalog

        return Catalog
    if name == "LifecycleError":
        from lifecycle.errors import LifecycleError

        return LifecycleError
    if name == "generate":
        from lifecycle.generate import generate

        return generate
    raise AttributeError(f"module 'lifecycle' has no attribute {name!r}")
