"""The package's shape: no import cycles, and every import goes to the same layer or below.

The layers are those written at the top of pyinit/__init__.py.  Imports inside functions count
too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pyinit"

# Lowest first; mirrors pyinit/__init__.py.
LAYERS = {
    "bottom": {
        "config",
        "errors",
        "log",
        "signals",
        "options",
        "cparse",
        "procfs",
        "linux",
        "procfile",
        "_license",
    },
    "mechanisms": {"spawn", "users", "terminal", "oom", "relay", "ownership"},
    "command": {"personalities"},
    "run": {"startup", "supervisor", "leftovers"},
    "entry": {"main", "__main__", "launcher"},
}
RANK = {name: rank for rank, names in enumerate(LAYERS.values()) for name in names}
# Outside the layers: they drive pyinit as a process and may use the bottom layer only (and
# the probe's bootstrap, the script that becomes pyinit, calls pyinit's main).
OUTSIDE = {"probe", "pytest_plugin", "harness"}
ENTRY_FROM_OUTSIDE = {("probe.bootstrap", "main")}


def unit(module: str) -> str:
    """The unit a dotted module name belongs to: its first part below pyinit."""
    return module.split(".")[0] if module else ""


def _type_checking_block(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _runtime_nodes(tree: ast.AST):
    """Every node but those under `if TYPE_CHECKING:` (annotations only, not dependencies)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not _type_checking_block(child))


def imports_of(path: Path) -> set[str]:
    """pyinit-relative names of the pyinit modules this file imports at run time (anywhere)."""
    package = path.relative_to(PACKAGE).with_suffix("").parts[:-1]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = ".".join(list(package[: len(package) - node.level + 1]) + [node.module or ""]).strip(
                    "."
                )
            elif (node.module or "").startswith("pyinit."):
                target = node.module[len("pyinit.") :]
            else:
                continue
            found.add(target)
            for alias in node.names:  # `from . import x`, where x is a module
                name = "%s.%s" % (target, alias.name) if target else alias.name
                if (PACKAGE / (name.replace(".", "/") + ".py")).exists() or (
                    PACKAGE / name.replace(".", "/")
                ).is_dir():
                    found.add(name)
        elif isinstance(node, ast.Import):
            found.update(
                alias.name[len("pyinit.") :] for alias in node.names if alias.name.startswith("pyinit.")
            )
    return {name for name in found if name}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


GRAPH = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_unit_is_placed_in_a_layer():
    units = {unit(name) for name in GRAPH if name} - OUTSIDE
    assert units <= set(RANK), units - set(RANK)


@pytest.mark.parametrize("module", sorted(name for name in GRAPH if name))
def test_imports_go_to_the_same_layer_or_below(module):
    here = unit(module)
    for target in GRAPH[module]:
        there = unit(target)
        if there == here or not there:
            continue
        if here in OUTSIDE:
            allowed = there in OUTSIDE or RANK[there] == 0 or (module, target) in ENTRY_FROM_OUTSIDE
            assert allowed, "%s imports %s" % (module, target)
        elif there in OUTSIDE:  # the entry starts `pyinit probe`, a program of its own
            assert here in LAYERS["entry"], "%s imports %s" % (module, target)
        else:
            assert RANK[there] <= RANK[here], "%s imports %s" % (module, target)


def test_there_is_no_import_cycle():
    nodes = {name for name in GRAPH if name}

    def resolve(target: str) -> str | None:
        while target and target not in nodes:  # `from .x import y`: the module x
            target = target.rpartition(".")[0]
        return target or None

    edges = {name: {resolve(target) for target in GRAPH[name]} - {None, name} for name in nodes}
    # A package's __init__ importing its own submodules is not a cycle of units: drop those.
    for name in nodes:
        edges[name] = {target for target in edges[name] if not target.startswith(name + ".")}
    visiting, done, cycles = set(), set(), []

    def visit(node, path):
        if node in done:
            return
        if node in visiting:
            cycles.append(path[path.index(node) :] + [node])
            return
        visiting.add(node)
        for target in sorted(edges[node]):
            visit(target, path + [target])
        visiting.discard(node)
        done.add(node)

    for node in sorted(nodes):
        visit(node, [node])
    assert cycles == []


def test_the_loop_never_imports_parsing_or_start_up():
    loop = GRAPH["supervisor"]
    assert not {unit(name) for name in loop} & {"personalities", "startup", "spawn", "options", "main"}
