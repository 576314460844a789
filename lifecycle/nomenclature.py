"""ATLAS dataset names: scopes and data types derived from names.

An ATLAS dataset name is dot-separated: ``project.number.stream.prod_step.data_type.tags``, e.g.
``data18_13TeV.00357772.physics_Main.merge.AOD.r13286_p4910``. The scope is the first dot-field,
or the first two for ``user.*`` and ``group.*`` names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_PERSONAL_SCOPES = ("user", "group")
_DID_CHARS = r"[A-Za-z0-9_.\-+/]"
# A data type field: upper-case letters, digits and underscores, starting with a letter (AOD,
# DAOD_PHYSLITE, HITS_FILT, NTUP_PILEUP).
_DATA_TYPE = r"[A-Z][A-Z0-9_]*"


def scope_of(name: str) -> str:
    """The scope the ATLAS rule gives ``name``."""
    fields = name.split(".")
    if fields[0] in _PERSONAL_SCOPES and len(fields) > 1:
        return f"{fields[0]}.{fields[1]}"
    return fields[0]


def normalize_did(did: str) -> str:
    """``scope:name`` for a DID given with or without its scope."""
    did = did.strip()
    return did if ":" in did else f"{scope_of(did)}:{did}"


def normalize_dids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorized :func:`normalize_did`; also returns which values are valid DIDs."""
    text = values.astype("string[pyarrow]")
    has_scope = text.str.contains(":", regex=False).fillna(True)
    dids = text
    if not has_scope.all():
        bare = text[~has_scope]
        fields = bare.str.split(".", n=2, regex=False)
        first = fields.str[0]
        personal = first.isin(_PERSONAL_SCOPES) & fields.str.len().gt(1).fillna(False)
        scope = first.where(~personal, first + "." + fields.str[1])
        dids = text.copy()
        dids[~has_scope] = scope + ":" + bare
    valid = dids.str.fullmatch(rf"{_DID_CHARS}+:{_DID_CHARS}+").fillna(False)
    valid &= ~dids.str.contains(r"(?:^|:)\.|\.(?::|$)").fillna(False)
    return dids, valid.astype(bool)


def infer_data_types(dids: pd.Series) -> pd.Series:
    """The data type field of ATLAS-style names (``AOD``, ``RAW``); null where there is none."""
    names = dids.astype("string[pyarrow]").str.split(":", n=1).str[-1]
    fields = names.str.split(".", regex=False)
    candidate = fields.str[4].where(fields.str.len() >= 5).astype("string[pyarrow]")
    is_type = candidate.str.fullmatch(_DATA_TYPE).fillna(False).astype(bool)
    return candidate.where(is_type).astype("string[pyarrow]")
