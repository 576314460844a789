"""The output-format registry: every format of every family, by name, in one place.

A **family** is what a format renders: ``listing`` (a :class:`~lifecycle.output.reports.Report`:
table, json, csv, parquet), ``detail`` (a report in several parts: table, json), ``graph`` (a
provenance graph: tree, json, prov-json, prov-n, dot, mermaid), ``recipe`` (text, json, shell),
``plan`` (a reprocessing plan's export: json, parquet) and ``exchange`` (the file formats of the
exchange format, written by :mod:`lifecycle.exchange.exporter`: names only). Built-in formats
register here the way an extension would (:mod:`lifecycle.output.builtins`); the CLI's
``--format`` choices are :func:`names` of a family.

A writer is ``write(value, out)``; ``out`` is a text stream, or a binary one for a format
registered ``binary=True`` (Parquet). A format that is a file rather than text for people
(binary ones, and pictures: SVG, HTML) is registered ``terminal=False``: it goes to ``-o FILE``
or a pipe, never to a terminal (:func:`~lifecycle.output.files.check_terminal`). ``check``
refuses a value before anything is written (a graph too big to draw), so a refusal leaves no
empty file behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lifecycle.errors import UsageError

Writer = Callable[[Any, Any], None]


@dataclass(frozen=True)
class Format:
    """One registered format: its family, name, writer, whether it writes bytes, whether it
    may be written to a terminal, and what refuses a value before writing starts."""

    family: str
    name: str
    write: Writer | None
    binary: bool = False
    terminal: bool = True
    check: Callable[[Any], None] | None = None


FAMILIES: dict[str, dict[str, Format]] = {}


def register(
    family: str,
    name: str,
    *,
    binary: bool = False,
    terminal: bool | None = None,
    check: Callable[[Any], None] | None = None,
) -> Callable[[Writer], Writer]:
    """Register ``write(value, out)`` as format ``name`` of ``family`` (a decorator); a binary
    format is never written to a terminal, nor one registered ``terminal=False``."""
    to_terminal = not binary if terminal is None else terminal and not binary

    def decorate(write: Writer) -> Writer:
        FAMILIES.setdefault(family, {})[name] = Format(
            family, name, write, binary, to_terminal, check
        )
        return write

    return decorate


def declare(family: str, *names: str) -> None:
    """Formats whose writer lives outside this package (their names, for ``--format``)."""
    for name in names:
        FAMILIES.setdefault(family, {})[name] = Format(family, name, None)


def names(family: str) -> tuple[str, ...]:
    """The format names of ``family``, in the order they were registered."""
    return tuple(FAMILIES.get(family, ()))


def lookup(family: str, name: str) -> Format:
    """The format ``name`` of ``family``; a usage error naming ``--format`` if there is none."""
    try:
        return FAMILIES[family][name]
    except KeyError:
        raise UsageError(f"--format: {name!r} is not one of {', '.join(names(family))}") from None
