# -*- coding: utf-8 -*-
"""What each module carries to the managed host, and which module_utils need AnsibleModule.

AnsiballZ ships every module_util a module imports, transitively: every import statement in a file counts, at any
depth (a function's import too), and a package's `__init__.py` comes with each file of it. This walks the same graph
from the source, without running anything."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
COLLECTION = "ansible_collections.drover.fleet."
MODULE_UTILS = ROOT / "plugins" / "module_utils"


def _file_of(name: str) -> Path | None:
    """The file of a collection module name (`ansible_collections.drover.fleet.plugins...`), None when none exists."""
    if not name.startswith(COLLECTION):
        return None
    path = ROOT.joinpath(*name[len(COLLECTION):].split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def _imported_names(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            # `from package import module` imports a module too
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def shipped_module_utils(module: str) -> set:
    """The collection's module_utils files (relative to plugins/module_utils) that `plugins/modules/<module>.py` pulls in."""
    seen: set = set()
    todo = [ROOT / "plugins" / "modules" / f"{module}.py"]
    while todo:
        path = todo.pop()
        for name in _imported_names(path):
            found = _file_of(name)
            if found is None or found in seen:
                continue
            seen.add(found)
            todo.append(found)
            # a package's __init__ comes along with each of its files
            for package in found.parents:
                if package == MODULE_UTILS or MODULE_UTILS not in package.parents:
                    break
                if (package / "__init__.py").is_file() and package / "__init__.py" not in seen:
                    seen.add(package / "__init__.py")
    return {str(path.relative_to(MODULE_UTILS)) for path in seen if MODULE_UTILS in path.parents}


def test_the_walk_finds_what_a_module_imports():
    shipped = shipped_module_utils("haproxy_config")
    assert {"haproxy/reload.py", "haproxy/runtime.py", "errors.py", "haproxy/__init__.py"} <= shipped


@pytest.mark.parametrize("module", ["haproxy_server", "haproxy_info"])
def test_runtime_modules_do_not_ship_the_reload_code(module):
    shipped = shipped_module_utils(module)
    assert "haproxy/runtime.py" in shipped
    assert not shipped & {"haproxy/reload.py", "haproxy/slot_changes.py", "haproxy/preflight.py", "haproxy/render.py"}


def test_haproxy_process_ships_process_control_without_the_reload_code():
    shipped = shipped_module_utils("haproxy_process")
    assert "haproxy/process.py" in shipped
    assert "haproxy/reload.py" not in shipped


def test_no_module_util_imports_ansible_module():
    """The engine is pure: AnsibleModule belongs to the modules (docs/architecture.md)."""
    offenders = []
    for path in sorted(MODULE_UTILS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ansible.module_utils.basic") \
                    and any(alias.name == "AnsibleModule" for alias in node.names):
                offenders.append(str(path.relative_to(MODULE_UTILS)))
    assert offenders == []
