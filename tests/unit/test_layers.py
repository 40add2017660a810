# -*- coding: utf-8 -*-
"""The import rules between the engine's parts (docs/architecture.md, Layout), checked on every import statement of
plugins/module_utils and drover_cli, those inside functions included.

The engine's subpackages are layers, lowest first; each may import itself and the layers below it, never one above.
A few files are leaves that a lower layer may use: they belong to their package by concept, but import only what the
lowest layer that uses them may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_UTILS = REPO / "plugins" / "module_utils"
PREFIX = "ansible_collections.drover.fleet."

# lowest first: a top-level module (errors.py) or a subpackage
LAYERS = ("errors", "deps", "conditions", "dsl", "routing", "haproxy", "keepalived", "fleet", "sla")
# leaf file -> the lowest layer that may import it; the leaf itself imports only what that layer may
LEAVES = {
    "haproxy/quoting.py": "conditions",   # HAProxy's words and quoting: the condition compiler and the reader write them
    "haproxy/fetches.py": "conditions",   # HAProxy's fetches and converters: what a condition or rewrite may read
    "sla/capacity.py": "routing",         # the slots an SLA may scale a service to: the routing plan declares them
}


def unit_of(relative: str) -> str:
    """The layer a module_utils file belongs to: its subpackage, or its own name at the top."""
    first = relative.split("/")[0]
    return first[:-3] if first.endswith(".py") else first


def rank_of(relative: str) -> int:
    return LAYERS.index(LEAVES.get(relative, unit_of(relative)))


def allowed(relative: str, target: str) -> bool:
    """Whether module_utils file `relative` may import `target` (a file, or a subpackage as `name/`)."""
    if target in LEAVES:
        return rank_of(target) <= rank_of(relative)
    if unit_of(target) == unit_of(relative) and relative not in LEAVES:
        return True
    return rank_of(target) < rank_of(relative)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in `path`; `from package import module` gives package.module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
                continue
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


def module_utils_target(dotted: str) -> str | None:
    """The module_utils file (relative path) or subpackage (`name/`) a dotted module names, None when it names none."""
    base = PREFIX + "plugins.module_utils."
    if not dotted.startswith(base):
        return None
    relative = dotted[len(base):].replace(".", "/")
    if (MODULE_UTILS / f"{relative}.py").is_file():
        return f"{relative}.py"
    if (MODULE_UTILS / relative).is_dir():
        return f"{relative}/"
    return None   # a name imported from a module (`from x.errors import DroverError`): the module is listed too


def module_utils_files() -> list[str]:
    return sorted(str(path.relative_to(MODULE_UTILS)) for path in MODULE_UTILS.rglob("*.py"))


def forbidden_imports(relative: str) -> list[str]:
    path = MODULE_UTILS / relative
    problems = []
    for line, dotted in imported_modules(path):
        where = f"plugins/module_utils/{relative}:{line}: {dotted}"
        if dotted.startswith("."):
            problems.append(f"{where}: a relative import (module_utils import each other absolutely)")
        elif dotted.startswith(PREFIX) and not dotted.startswith(PREFIX + "plugins.module_utils"):
            problems.append(f"{where}: module_utils import only module_utils (they are shipped to managed hosts alone)")
        elif dotted.split(".")[0] == "drover_cli":
            problems.append(f"{where}: the engine never imports the command line")
        else:
            target = module_utils_target(dotted)
            if target is not None and not allowed(relative, target):
                level = f"a leaf at the level of {LEAVES[relative]}" if relative in LEAVES else f"layer {unit_of(relative)}"
                problems.append(f"{where}: {level} may not import {target} (layers, lowest first: {', '.join(LAYERS)}; leaves: "
                                f"{', '.join(f'{leaf} from {layer} up' for leaf, layer in LEAVES.items())})")
    return problems


def test_every_part_of_module_utils_has_its_place_in_the_layers():
    units = {unit_of(relative) for relative in module_utils_files()} - {"__init__"}
    assert units <= set(LAYERS), f"add {sorted(units - set(LAYERS))} to LAYERS here and to docs/architecture.md, Layout"
    assert all((MODULE_UTILS / leaf).is_file() for leaf in LEAVES)


@pytest.mark.parametrize("relative", module_utils_files())
def test_module_utils_import_only_what_the_layers_allow(relative):
    assert forbidden_imports(relative) == []


def test_a_forbidden_import_is_found(tmp_path, monkeypatch):
    """The check itself: an upward import, one inside a function, a leaf importing its own package, a relative import."""
    fake = tmp_path / "module_utils"
    for relative, text in {
        "dsl/reader.py": "from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import plan\n",
        "dsl/model.py": "def f():\n    from ansible_collections.drover.fleet.plugins.module_utils.haproxy import render\n",
        "haproxy/quoting.py": "from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import render\n",
        "haproxy/render.py": "from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import q\n"
                             "from ansible_collections.drover.fleet.plugins.module_utils.routing import plan\n",
        "conditions/api.py": "from ..errors import DroverError\n",
        "routing/plan.py": "from ansible_collections.drover.fleet.plugins.module_utils.sla.capacity import SlotSizer\n",
        "sla/capacity.py": "from ansible_collections.drover.fleet.plugins.module_utils.routing.names import x\n",
        "routing/names.py": "",
    }.items():
        (fake / relative).parent.mkdir(parents=True, exist_ok=True)
        (fake / relative).write_text(text)
    monkeypatch.setitem(globals(), "MODULE_UTILS", fake)
    checked = ("dsl/reader.py", "dsl/model.py", "haproxy/quoting.py", "haproxy/render.py", "conditions/api.py", "routing/plan.py", "sla/capacity.py")
    assert [bool(forbidden_imports(relative)) for relative in checked] == [True, True, True, False, True, False, True]


def drover_cli_imports(path: Path) -> list[tuple[int, str]]:
    return [(line, dotted) for line, dotted in imported_modules(path) if dotted.split(".")[0] == "drover_cli"]


@pytest.mark.parametrize("path", sorted((REPO / "drover_cli").rglob("*.py")), ids=lambda path: str(path.relative_to(REPO)))
def test_the_lab_is_a_part_of_its_own(path):
    """drover_cli/lab/ imports nothing of the command line around it, and only main.py (which adds `drover lab`)
    imports the lab."""
    relative = path.relative_to(REPO / "drover_cli")
    for line, dotted in drover_cli_imports(path):
        if relative.parts[0] == "lab":
            assert dotted.startswith("drover_cli.lab"), f"{relative}:{line}: {dotted}"
        elif str(relative) != "main.py":
            assert not dotted.startswith("drover_cli.lab"), f"{relative}:{line}: {dotted}"
