"""JSON written as it is encoded: the one JSON writer of every command.

:func:`write_json` writes exactly ``json.dumps(value, indent=2)`` and a newline, but a long list
(a listing's rows, a report's entries) goes out a chunk of entries at a time, so the whole text
is never held in memory. With ``compact_entries`` the entries of the lists in a document are
written one per line, compactly, by the C encoder (``indent`` falls back to the pure-Python
encoder, several times slower): for reports listing hundreds of thousands of datasets. Either
way ``json.loads`` of the output is the value. A document's list may also be :class:`Entries`:
entries produced a chunk at a time (rows read from the database as they are written), so that
the list is never held in memory either, and they may come already encoded (each entry its
compact JSON text, made by a producer that knows its entries' shape faster than the encoder).
A value of a document may be :class:`Later`: computed when it is written, after the entries
before it (a listing's totals, counted as its rows go out).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, TextIO

CHUNK = 2000  # list entries encoded at a time
_encode = json.JSONEncoder().encode  # compact, as json.dumps without options


@dataclass(frozen=True)
class Entries:
    """A list in a document whose entries come a chunk at a time: written as that list is.

    ``encoded``: each entry is given as its compact JSON text (exactly what the compact encoder
    writes for it): written as it is in compact entries, decoded to be indented otherwise.
    """

    chunks: Iterable[list[Any]]
    encoded: bool = False


@dataclass(frozen=True)
class Later:
    """A value in a document known only once what precedes it was written (the totals of a
    listing streamed before them): ``value()`` is called when the writer gets to it."""

    value: Callable[[], Any]


def write_json(value: Any, out: TextIO, *, compact_entries: bool = False) -> None:
    """Write ``value`` to ``out`` as indented JSON and a newline (see the module docstring)."""
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        out.write("{\n")
        last = len(value) - 1
        for n, (key, item) in enumerate(value.items()):
            out.write(f"  {json.dumps(key)}: ")
            if isinstance(item, Later):
                item = item.value()
            if isinstance(item, Entries):
                chunks, encoded = item.chunks, item.encoded and compact_entries
                if item.encoded and not compact_entries:
                    chunks = ([json.loads(entry) for entry in chunk] for chunk in chunks)
                _write_chunks(chunks, out, "  ", compact_entries, encoded=encoded)
            elif isinstance(item, list) and item:
                _write_list(item, out, "  ", compact_entries)
            else:
                out.write(_indented(item, "  "))
            out.write(",\n" if n < last else "\n")
        out.write("}\n")
    elif isinstance(value, list) and value:
        _write_list(value, out, "", False)
        out.write("\n")
    else:
        out.write(json.dumps(value, indent=2) + "\n")


def _write_list(entries: list[Any], out: TextIO, pad: str, compact: bool) -> None:
    _write_chunks(_chunks(entries), out, pad, compact)


def _write_chunks(
    chunks: Iterable[list[Any]], out: TextIO, pad: str, compact: bool, *, encoded: bool = False
) -> None:
    """The entries of ``chunks`` as one array at ``pad`` (``[]`` when there are none);
    ``encoded`` (with ``compact``): the entries are their JSON texts already."""
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        out.write("[\n" if first else ",\n")
        first = False
        if compact and encoded:
            out.write(f"{pad}  " + f",\n{pad}  ".join(chunk))
        elif compact:
            out.write(",\n".join(f"{pad}  {_encode(entry)}" for entry in chunk))
        else:
            out.write(_indented_entries(chunk, pad))
    out.write("[]" if first else f"\n{pad}]")


def _indented_entries(chunk: list[Any], pad: str) -> str:
    """The entries of ``chunk`` as they stand inside an indented array at ``pad``, without the
    brackets: ``json.dumps(chunk, indent=2)`` less its first and last line, re-indented."""
    text = json.dumps(chunk, indent=2)[2:-2]
    return pad + text.replace("\n", "\n" + pad) if pad else text


def _indented(value: Any, pad: str) -> str:
    """``value`` indented as it stands one level inside a document."""
    return json.dumps(value, indent=2).replace("\n", "\n" + pad)


def in_chunks(entries: Iterable[Any]) -> Iterator[list[Any]]:
    """The entries of ``entries`` (an iterator, made as it is read) a chunk at a time, for
    :class:`Entries`."""
    it = iter(entries)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def _chunks(entries: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(entries), CHUNK):
        yield entries[start : start + CHUNK]
