"""The layering contract (DESIGN.md "Layers"), read from the source: imports run one way.

``cli -> api -> services -> provenance -> policy, exchange -> catalog -> leaves``, with the output
registry beside the CLI. A unit is a top-level module or package of ``lifecycle``; an import counts
wherever it stands (module top or inside a function) unless it is under ``if TYPE_CHECKING:``, which
never runs. ``make lint`` runs this file; the checker is tested on small trees written here, so a
broken checker fails too.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "lifecycle"

LEAVES = ("errors", "vocabulary", "values", "text", "expressions", "nomenclature", "progress")
SERVICES = ("audit", "expiry", "deletion", "pins", "planning", "simulate", "suggest", "tradeoff")
SERVICES += ("generate", "inventory", "accounting", "status", "report")
SERVICES += ("consistency", "dark", "repair", "transfers", "rucio", "durability")
RANK = {
    **dict.fromkeys(LEAVES, 0),
    "catalog": 1,
    "output": 1,  # the output registry: leaves only, so the CLI imports it without SQLAlchemy
    "policy": 2,
    "exchange": 2,
    "provenance": 3,
    **dict.fromkeys(SERVICES, 4),
    "api": 5,
    "cli": 6,
}
# Units that may import each other (without cycles): the leaves, and the services.
PEERS = {0, 4}
# Narrower than their rank: what these units may import at all.
ONLY = {
    "cli": {"api", "output", *LEAVES},
    "output": set(LEAVES),
}
# Imports of lifecycle's own modules inside functions: only these, each because the module loads a
# heavy third-party package at import: the facade loads SQLAlchemy (the CLI reaches it through one
# gateway, so ``--help`` starts fast; the package root re-exports it lazily), the generator loads
# numpy (``audit --quiet`` from cron loads no numpy). Everything else imports at the top of its file.
LATE_ALLOWED = {
    ("lifecycle", "lifecycle.api"),
    ("lifecycle", "lifecycle.generate"),
    ("lifecycle.cli.options", "lifecycle.api"),
    ("lifecycle.api.documents", "lifecycle.generate"),
}
MAX_LINES = 800  # migrations aside


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool, package: str, known: set[str]):
    """(imported module, line, inside a function) for every runtime import of ``package``;
    ``from package import name`` counts as importing ``package.name`` when that is a module."""
    here = module if is_package else module.rsplit(".", 1)[0]

    def visit(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    yield from visit(sub, in_function)
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, inner
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = here.split(".")[: len(here.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    name = f"{target}.{alias.name}"
                    yield (name if name in known else target), child.lineno, inner
            yield from visit(child, inner)

    for target, line, late in visit(tree, False):
        if target == package or target.startswith(package + "."):
            yield target, line, late


def _unit(module: str, package: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else package


def layering_problems(root: Path, package: str = "lifecycle") -> list[str]:
    """Every breach of the contract in the package at ``root``, one line each."""
    problems: list[str] = []
    edges: dict[str, dict[str, str]] = defaultdict(dict)  # unit -> unit -> where
    paths = sorted(root.rglob("*.py"))
    known = {_module_name(path, root, package) for path in paths}
    for path in paths:
        relative = path.relative_to(root)
        module = _module_name(path, root, package)
        text = path.read_text(encoding="utf-8")
        if "migrations" not in relative.parts and text.count("\n") > MAX_LINES:
            problems.append(f"{relative}: {text.count(chr(10))} lines (at most {MAX_LINES})")
        tree = ast.parse(text)
        source = _unit(module, package)
        for target, line, late in _imports(
            tree, module, path.name == "__init__.py", package, known
        ):
            where = f"{relative}:{line}"
            if late and (module, target) not in LATE_ALLOWED:
                problems.append(f"{where}: imports {target} inside a function")
            goal = _unit(target, package)
            if goal == source or source == package:
                continue
            if goal == package:
                problems.append(f"{where}: imports the package root; import the module itself")
                continue
            edges[source].setdefault(goal, where)
            if source not in RANK or goal not in RANK:
                unknown = source if source not in RANK else goal
                problems.append(f"{where}: unit {unknown!r} has no layer in the contract")
                continue
            if source in ONLY and goal not in ONLY[source]:
                allowed = ", ".join(sorted(ONLY[source]))
                problems.append(f"{where}: {source} imports {goal} (it may import {allowed})")
            elif RANK[goal] > RANK[source] or (
                RANK[goal] == RANK[source] and RANK[source] not in PEERS
            ):
                problems.append(f"{where}: {source} imports {goal}, a layer above or beside it")
    problems += [f"cycle between units: {' -> '.join(c)}" for c in _cycles(edges)]
    return problems


def _cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle per strongly connected group of units (Tarjan), as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [[*group, group[0]] for group in groups]


def test_lifecycle_keeps_its_layers():
    problems = layering_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_every_unit_has_a_layer():
    units = {p.stem for p in ROOT.glob("*.py")} | {
        p.parent.name for p in ROOT.glob("*/__init__.py")
    }
    units.discard("__init__")
    assert units <= set(RANK), sorted(units - set(RANK))


def test_every_package_says_what_it_owns_and_may_import():
    for init in sorted(ROOT.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc.lower(), f"{init.relative_to(ROOT)}: docstring says what it imports"


# -- the checker, on small trees ------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "__init__.py").touch()
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"catalog/__init__.py": "import pkg.audit\n", "audit.py": ""}, "a layer above"),
        ({"policy.py": "from pkg import exchange\n", "exchange.py": ""}, "beside it"),
        ({"cli.py": "from pkg.catalog import x\n", "catalog.py": ""}, "it may import"),
        ({"output.py": "from pkg.provenance import x\n", "provenance.py": ""}, "it may import"),
        ({"audit.py": "import pkg.expiry\n", "expiry.py": "from pkg import audit\n"}, "cycle"),
        ({"audit.py": "def f():\n    from pkg.catalog import x\n"}, "inside a function"),
        ({"audit.py": "from pkg import helpers\n", "helpers.py": ""}, "has no layer"),
        ({"audit.py": "x = 1\n" * (MAX_LINES + 1)}, "lines (at most"),
    ],
)
def test_the_checker_finds_each_kind_of_breach(tmp_path, files, expected):
    problems = layering_problems(_tree(tmp_path, files), "pkg")
    assert any(expected in p for p in problems), problems


def test_the_checker_passes_downward_and_type_only_imports(tmp_path):
    files = {
        "audit.py": "from pkg.catalog import q\nfrom pkg.expiry import e\n",
        "expiry.py": "from pkg.errors import E\n",
        "catalog/__init__.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.audit import A\n"
        ),
        "errors.py": "",
        "cli/__init__.py": "from pkg.api import Catalog\nfrom pkg.output import render\n",
        "api.py": "",
        "output.py": "from pkg.text import printable\n",
        "text.py": "",
    }
    assert layering_problems(_tree(tmp_path, files), "pkg") == []
