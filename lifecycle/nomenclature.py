"""ATLAS dataset names: scopes, and the fields of the nomenclature.

An ATLAS dataset name is dot-separated: ``project.number.stream.prod_step.data_type.tags``, e.g.
``data18_13TeV.00357772.physics_Main.merge.AOD.r13286_p4910``. The number is a run number (8
digits) for data, a DSID (6 digits) for simulation, or a period (``periodAllYear``) for period
containers; the third field is the stream (data) or the physics short (simulation); the last field
is the AMI tag chain, each tag one lower-case letter and a number, optionally followed by the
``_tid<task>_<nn>`` suffix of a task's output and the ``_sub<n>`` suffix of its transient parts.
Raw data carry no tag field; a container may be written with a trailing ``/``. The scope is the
first dot-field, or the first two for ``user.*`` and ``group.*`` names, whose remainder is
free-form; a DID written ``scope:name`` keeps its own scope (``archive:mc20_13TeV...``).

:func:`parse_name` parses one name; :func:`parse_names` parses a whole column at once (one RE2
regex through pyarrow, with :func:`parse_name` only for the names that regex rejects, so both give
the same answer by construction). :func:`name_metadata` gives the dataset metadata a name implies,
which import fills in where a file leaves it empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_PERSONAL_SCOPES = ("user", "group")
# A whole DID in one RE2 pass: scope and name of letters, digits and ``_.-+/``, neither starting
# nor ending with a dot.
_DID_PART = r"[A-Za-z0-9_\-+/](?:[A-Za-z0-9_.\-+/]*[A-Za-z0-9_\-+/])?"
_VALID_DID = rf"^{_DID_PART}:{_DID_PART}$"
# The scope of a name given without one: its first field, or the first two of a personal scope.
_BARE_SCOPE = rf"^(?P<scope>(?:{'|'.join(_PERSONAL_SCOPES)})\.[^.]*|[^.]*)"
# A data type field: upper-case letters, digits and underscores, starting with a letter (AOD,
# DAOD_PHYSLITE, HITS_FILT, NTUP_PILEUP).
_DATA_TYPE = r"[A-Z][A-Z0-9_]*"

# The grammar, field by field; the same patterns build the whole-name regex and the diagnosis.
_SCOPE = r"[A-Za-z0-9_.\-]+"
_PROJECT = r"(?:data|mc)\d{2}(?:_[A-Za-z0-9]+)?|valid\d+"
_NUMBER = r"\d{8}|\d{6}|period[A-Za-z0-9]+"
_STREAM = r"[A-Za-z0-9][A-Za-z0-9_\-]*"
_PROD_STEP = r"[a-z]+|PhysCont"
_TYPE = _DATA_TYPE + r"|log"  # task log tarballs are the one lower-case data type
_TAGS = r"[a-z]\d+(?:_[a-z]\d+)*"
_CONTAINER_VERSION = r"grp\d{2}_v\d+"  # period containers: grp15_v01
_VERSION = (
    rf"(?:(?P<container_version>{_CONTAINER_VERSION})(?:_(?P<version_tags>{_TAGS}))?"
    rf"|(?P<tags>{_TAGS}))"
    r"(?:_tid(?P<tid>\d+)(?:_\d+)?)?(?:_sub(?P<sub>\d+))?"
)
_NAME = (
    rf"(?:(?P<scope>{_SCOPE}):)?"
    rf"(?P<project>{_PROJECT})\.(?P<number>{_NUMBER})\.(?P<stream>{_STREAM})"
    rf"\.(?P<prod_step>{_PROD_STEP})\.(?P<data_type>{_TYPE})(?:\.{_VERSION})?"
    r"(?P<container>/)?"
)
_NAME_RE = re.compile(_NAME, re.ASCII)  # \d is ASCII only, as in RE2
_WHOLE_NAME = f"^(?:{_NAME})$"  # the same for pyarrow's RE2, anchored
_TAG_RE = re.compile(r"([a-z])(\d+)", re.ASCII)
# Per-file parts that follow a dataset name in a file name: ._lb0154._SFO-1._0001.data,
# ._000455.pool.root.1, and common file extensions.
_FILE_SUFFIX_RE = re.compile(
    r"(?:\._[A-Za-z0-9\-]+)+(?:\.[A-Za-z0-9]+)*$"
    r"|\.(?:pool\.)?root(?:\.\d+)?$|\.h5$|\.tar\.gz$|\.tgz$|\.data$",
    re.ASCII,
)


@dataclass(frozen=True)
class Tag:
    """One AMI tag: ``r13286`` is letter ``r``, number 13286."""

    letter: str
    number: int

    def __str__(self) -> str:
        return f"{self.letter}{self.number}"


@dataclass(frozen=True)
class ParsedName:
    """A dataset name split by the ATLAS nomenclature.

    ``error`` is None when the name follows the nomenclature, else why it does not; then only
    ``name`` and ``scope`` are set. ``number`` is the second field as written (a zero-padded run
    number, a DSID or a period); ``tag_chain`` is the AMI tags as written, without the container
    version and the ``_tid`` / ``_sub`` suffixes (empty for raw data).
    """

    name: str
    scope: str | None
    project: str | None = None
    number: str | None = None
    stream: str | None = None
    prod_step: str | None = None
    data_type: str | None = None
    tag_chain: str | None = None
    container_version: str | None = None
    tid: int | None = None
    sub: int | None = None
    container: bool = False
    error: str | None = None

    @property
    def tags(self) -> list[Tag]:
        """The AMI tags of the chain, in order."""
        return [Tag(letter, int(n)) for letter, n in _TAG_RE.findall(self.tag_chain or "")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; ``tags`` as a list of ``{"letter", "number"}``."""
        return {
            "name": self.name,
            "scope": self.scope,
            "project": self.project,
            "number": self.number,
            "stream": self.stream,
            "prod_step": self.prod_step,
            "data_type": self.data_type,
            "tags": [{"letter": t.letter, "number": t.number} for t in self.tags],
            "tag_chain": self.tag_chain,
            "container_version": self.container_version,
            "tid": self.tid,
            "sub": self.sub,
            "container": self.container,
            "error": self.error,
        }


FIELDS = tuple(ParsedName.__dataclass_fields__)


def scope_of(name: str) -> str:
    """The scope the ATLAS rule gives ``name``."""
    fields = name.split(".")
    if fields[0] in _PERSONAL_SCOPES and len(fields) > 1:
        return f"{fields[0]}.{fields[1]}"
    return fields[0]


def parse_name(name: str) -> ParsedName:
    """Split ``name`` (``scope:name`` or a bare name) by the ATLAS dataset nomenclature."""
    text = name.strip()
    match = _NAME_RE.fullmatch(text)
    if match is not None:
        return _from_groups(text, match.groupdict())
    scope, _, bare = text.partition(":") if ":" in text else (None, "", text)
    container = bare.endswith("/")
    bare = bare.rstrip("/")
    if not bare:
        return ParsedName(text, scope or None, container=container, error="empty name")
    return ParsedName(
        text, scope or scope_of(bare), container=container, error=_diagnose(scope, bare)
    )


def _from_groups(name: str, groups: dict[str, str | None]) -> ParsedName:
    """A ParsedName from the whole-name regex's groups (``None`` or ``""`` when unmatched)."""
    g = {k: (v or None) for k, v in groups.items()}
    tags = g["tags"] or g["version_tags"]
    return ParsedName(
        name,
        scope=g["scope"] or g["project"],
        project=g["project"],
        number=g["number"],
        stream=g["stream"],
        prod_step=g["prod_step"],
        data_type=g["data_type"],
        tag_chain=tags or "",
        container_version=g["container_version"],
        tid=int(g["tid"]) if g["tid"] else None,
        sub=int(g["sub"]) if g["sub"] else None,
        container=g["container"] is not None,
    )


def _fits(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value, re.ASCII) is not None


def _diagnose(scope: str | None, name: str) -> str:
    """Why ``name`` (without scope and trailing ``/``) does not follow the nomenclature."""
    fields = name.split(".")
    if fields[0] in _PERSONAL_SCOPES:
        who = "nick" if fields[0] == "user" else "group"
        return (
            f"{fields[0]}-scope name: free-form after {fields[0]}.<{who}>, "
            "not the ATLAS nomenclature"
        )
    if scope is not None and not _fits(_SCOPE, scope):
        return f"scope {scope!r} holds characters a scope cannot"
    suffix = _FILE_SUFFIX_RE.search(name)
    if suffix is not None:
        stem = name[: suffix.start()]
        dataset = f" of dataset {stem!r}" if _NAME_RE.fullmatch(stem) else ""
        return f"file-name prefix, not a dataset: per-file suffix {suffix.group()!r}{dataset}"
    if not _fits(_PROJECT, fields[0]):
        return (
            f"project {fields[0]!r} is not an ATLAS project (dataNN_<energy>, mcNN_<energy>, "
            "validN)"
        )
    if len(fields) < 5 or len(fields) > 6:
        return (
            f"{len(fields)} dot-fields; the nomenclature has 6 "
            "(project.number.stream.prod_step.data_type.tags), 5 for raw data"
        )
    checks = (
        (_NUMBER, "dataset number", "a run number (8 digits), a DSID (6 digits) or a period"),
        (_STREAM, "stream / physics short", "letters, digits, '_' and '-'"),
        (_PROD_STEP, "production step", "lower-case letters (evgen, simul, recon, deriv, ...)"),
        (_TYPE, "data type", "upper-case letters, digits and '_' (AOD, DAOD_PHYSLITE) or log"),
    )
    for value, (pattern, what, expected) in zip(fields[1:5], checks, strict=True):
        if not _fits(pattern, value):
            return f"{what} {value!r} is not {expected}"
    return _diagnose_version(fields[5])


def _diagnose_version(version: str) -> str:
    if not version:
        return "empty tag field after the data type"
    for token in version.split("_"):
        if _fits(r"tid\d+|sub\d+|\d+", token):
            continue
        if not _fits(r"[a-z]\d+", token):
            return (
                f"tag {token!r} in {version!r} is not an AMI tag "
                "(one lower-case letter and digits, e.g. r13286)"
            )
    if _fits(r"(?:tid|sub)\d+.*", version):
        return f"no AMI tags before the suffix in {version!r}"
    if _fits(r".*_(?:tid|sub)\d+.*", version):
        return f"the _tid<task>_<nn> and _sub<n> suffixes do not close the tag chain {version!r}"
    return f"tags {version!r} are not an AMI tag chain (e.g. e6337_s3681_r13167_p5855)"


def parse_names(names: Iterable[str] | pd.Series, *, explain: bool = True) -> pd.DataFrame:
    """:func:`parse_name` over a column of names, as a DataFrame with one column per field.

    ``tag_chain`` stands for the tag list (see :attr:`ParsedName.tags`). The index is that of
    ``names`` when it is a Series; a null name gives the error "missing name". With
    ``explain=False`` a rejected name gets a generic error instead of the reason, which saves
    the per-name diagnosis when only the parsed fields matter.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    series = names if isinstance(names, pd.Series) else pd.Series(list(names), dtype=object)
    text = _arrow_text(series)
    matched = pc.extract_regex(text, _WHOLE_NAME)
    valid = matched.is_valid()

    def group(name: str) -> pa.Array:
        values = pc.struct_field(matched, name)
        return pc.if_else(pc.and_(valid, pc.not_equal(values, "")), values, None)

    columns = {
        "name": text,
        "scope": pc.coalesce(group("scope"), group("project")),
        **{f: group(f) for f in ("project", "number", "stream", "prod_step", "data_type")},
        "tag_chain": pc.if_else(
            valid, pc.coalesce(group("tags"), group("version_tags"), pa.scalar("")), None
        ),
        "container_version": group("container_version"),
        "tid": pc.cast(group("tid"), pa.int64()),
        "sub": pc.cast(group("sub"), pa.int64()),
        "container": pc.fill_null(pc.equal(group("container"), "/"), False),
        "error": pa.nulls(len(text), text.type),
    }
    rejected = pc.invert(valid)
    if pc.any(rejected).as_py():
        columns.update(_rejected_columns(columns, text.filter(rejected), rejected, explain))
    return pd.DataFrame(
        {name: _to_pandas(values, series.index) for name, values in columns.items()}
    )


def _arrow_text(series: pd.Series):
    """A column of names as one Arrow string array, surrounding whitespace trimmed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(series.astype("string[pyarrow]").array)
    if isinstance(text, pa.ChunkedArray):  # (wrapping it in pa.chunked_array converts per value)
        text = text.combine_chunks()
    return pc.utf8_trim_whitespace(text)


def _rejected_columns(columns: dict, texts, rejected, explain: bool) -> dict:
    """``name``, ``scope``, ``container`` and ``error`` with the rejected rows filled in."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parsed = [
        ParsedName("", None, error="missing name")
        if value is None
        else parse_name(value)
        if explain
        else _rejected(value)
        for value in texts.to_pylist()
    ]
    out = {}
    for field in ("scope", "container", "error"):
        values = pa.array([getattr(p, field) for p in parsed], columns[field].type)
        out[field] = pc.replace_with_mask(columns[field], rejected, values)
    return out


def _rejected(name: str) -> ParsedName:
    """A rejected name's scope and container flag, with a generic error (no diagnosis)."""
    scope, _, bare = name.partition(":") if ":" in name else (None, "", name)
    error = "does not follow the ATLAS dataset nomenclature"
    return ParsedName(
        name, scope or scope_of(bare.rstrip("/")), container=bare.endswith("/"), error=error
    )


def _to_pandas(values, index) -> pd.Series:
    """An Arrow column as a pandas one: Arrow-backed strings, nullable integers, numpy booleans."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_large_string(values.type) or pa.types.is_string(values.type):
        data = pd.arrays.ArrowStringArray(values)
    elif pa.types.is_integer(values.type):
        data = values.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get).array
    else:
        data = values.to_numpy(zero_copy_only=False)
    return pd.Series(data, index=index)


def normalize_did(did: str) -> str:
    """``scope:name`` for a DID given with or without its scope."""
    did = did.strip()
    return did if ":" in did else f"{scope_of(did)}:{did}"


def normalize_dids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorized :func:`normalize_did` (without its strip); also returns which values are valid
    DIDs. In Arrow, chunk by chunk (pandas' string methods took 1.4 s of a million DIDs, these
    0.3 s; a chunk without a bare name is kept as it is, not copied): a name without scope takes
    the scope its first field (or ``user.x``, ``group.x``) gives, and one regex checks every DID."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values.astype("string[pyarrow]").array)
    chunks = text.chunks if isinstance(text, pa.ChunkedArray) else [text]
    dids = pa.chunked_array([_with_scope(chunk) for chunk in chunks], type=text.type)
    valid = pc.fill_null(pc.match_substring_regex(dids, _VALID_DID), False)
    return (
        pd.Series(pd.arrays.ArrowStringArray(dids), index=values.index),
        pd.Series(valid.to_numpy(), index=values.index),
    )


def _with_scope(names):
    """An Arrow array of names with ``scope:`` put before those given without one."""
    import pyarrow as pa
    import pyarrow.compute as pc

    bare = pc.invert(pc.fill_null(pc.match_substring(names, ":"), True))
    if not pc.any(bare).as_py():
        return names
    given = names.filter(bare)
    scope = pc.struct_field(pc.extract_regex(given, _BARE_SCOPE), "scope")
    joined = pc.binary_join_element_wise(scope, given, pa.scalar(":", names.type))
    return pc.replace_with_mask(names, bare, joined)


def infer_data_types(dids: pd.Series) -> pd.Series:
    """The data type of each name (``AOD``, ``RAW``, ``log``); null where there is none.

    Names that follow the nomenclature give its data type field. Other ATLAS-style names
    (``calib.data15_13TeV.00266904.LArPedestals.COND.v0001``) give their fifth dot-field when it
    looks like a data type, as imports always have.
    """
    return name_metadata(dids)["data_type"]


# Dataset metadata keys a name that follows the nomenclature gives (see name_metadata).
METADATA_KEYS = ("project", "run_number", "dsid", "stream", "prod_step")


def name_metadata(dids: pd.Series) -> pd.DataFrame:
    """The data type and the :data:`METADATA_KEYS` each name implies, one text column each.

    A name that follows the nomenclature gives ``project``, ``stream`` (the physics stream of
    data, the physics short of simulation) and ``prod_step``; its number is the ``run_number`` of
    a data project (``dataNN_*``) and the ``dsid`` of any other (``mcNN_*``, ``validN``), written
    as the integer without zero padding (``357772``), as metadata writes it; a period container
    gives neither. Other names give no metadata, and ``data_type`` as :func:`infer_data_types`
    says. The index is that of ``dids``.

    Only the whole-name regex runs, without the diagnosis of rejected names.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    matched = pc.extract_regex(_arrow_text(dids), _WHOLE_NAME)  # null where rejected
    project = pc.struct_field(matched, "project")
    number = pc.struct_field(matched, "number")
    digits = pc.match_substring_regex(number, r"^\d+$")  # not a period
    number = pc.cast(pc.cast(pc.if_else(digits, number, None), pa.int64()), pa.string())
    is_data = pc.starts_with(project, "data")
    columns = {
        "data_type": pc.struct_field(matched, "data_type"),
        "project": project,
        "run_number": pc.if_else(is_data, number, None),
        "dsid": pc.if_else(is_data, None, number),
        "stream": pc.struct_field(matched, "stream"),
        "prod_step": pc.struct_field(matched, "prod_step"),
    }
    out = pd.DataFrame({k: _to_pandas(v, dids.index) for k, v in columns.items()})
    rejected = pc.invert(matched.is_valid()).to_numpy(zero_copy_only=False)
    if rejected.any():
        out["data_type"] = out["data_type"].fillna(_fifth_field_types(dids[rejected]))
    return out


def _fifth_field_types(dids: pd.Series) -> pd.Series:
    names = dids.astype("string[pyarrow]").str.split(":", n=1).str[-1]
    fields = names.str.split(".", regex=False)
    candidate = fields.str[4].where(fields.str.len() >= 5).astype("string[pyarrow]")
    is_type = candidate.str.fullmatch(_DATA_TYPE).fillna(False).astype(bool)
    return candidate.where(is_type).astype("string[pyarrow]")
