# -*- coding: utf-8 -*-
"""Guarded imports of third-party libraries in module_utils (plugins/module_utils/deps.py): the import error is kept,
the engine raises it as a DroverError where the library is needed, and a module fails with Ansible's own message
(a real AnsibleModule, given its arguments the way Ansible's unit-test helper does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.testing import patch_module_args

from ansible_collections.drover.fleet.plugins.module_utils.deps import MissingLibraryError, OptionalLibrary
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError


def missing() -> OptionalLibrary:
    library = OptionalLibrary("drover_no_such_library", "drover-no-such-library >= 2")
    with library.guard():
        import drover_no_such_library  # noqa: F401  pylint: disable=import-error,unused-import
    return library


def test_a_missing_library_is_recorded_not_raised():
    library = missing()
    assert not library.found
    assert "import drover_no_such_library" in library.error
    assert library.error_summary == "ModuleNotFoundError: No module named 'drover_no_such_library'"


def test_a_present_library_is_found():
    library = OptionalLibrary("json")
    with library.guard():
        import json as _json  # noqa: F401  pylint: disable=reimported,unused-import
    assert library.found and library.error is None and library.requirement == "json"
    library.require("to read JSON")
    library.check(None, "to read JSON")  # nothing to report: the module is not even looked at


def test_an_error_other_than_a_missing_library_is_a_bug_and_raises():
    library = OptionalLibrary("broken")
    with pytest.raises(ZeroDivisionError):
        with library.guard():
            raise ZeroDivisionError("a library that fails while importing itself")
    assert not library.found and library.error is None


def test_the_engine_raises_a_drover_error_naming_the_library_the_reason_and_the_python():
    with pytest.raises(DroverError) as caught:
        missing().require("to compute percentiles")
    assert isinstance(caught.value, MissingLibraryError)
    assert str(caught.value) == (
        "the Python library drover-no-such-library >= 2 is needed to compute percentiles, but drover_no_such_library cannot "
        f"be imported by {sys.executable}: ModuleNotFoundError: No module named 'drover_no_such_library'; install it for "
        "that Python (pip install 'drover-no-such-library >= 2')")


def test_a_module_fails_with_missing_required_lib(capsys):
    library = missing()
    with patch_module_args({}), pytest.raises(SystemExit) as exited:
        library.check(AnsibleModule(argument_spec={}), "to compute percentiles")
    assert exited.value.code == 1
    result = json.loads(capsys.readouterr().out)
    assert result["failed"]
    assert result["msg"] == missing_required_lib("drover-no-such-library >= 2", reason="to compute percentiles")
    assert "This is required to compute percentiles." in result["msg"]


# Imports the modules named on the command line with every other import outside the standard library refused, except
# Ansible's own (AnsiballZ ships ansible.module_utils with a module): what a managed host with a bare Python has, and
# what ansible-test's sanity `import` test gives module_utils.
STDLIB_ONLY = """
import importlib, importlib.abc, sys
ALLOWED = set(sys.stdlib_module_names) | {"ansible", "ansible_collections"} | {name.split(".")[0] for name in sys.argv[1:]}
class StandardLibraryOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] not in ALLOWED:
            raise ModuleNotFoundError(f"No module named {name!r} (only the standard library here)", name=name)
for name in [name for name in sys.modules if name.split(".")[0] not in ALLOWED]:
    del sys.modules[name]
sys.meta_path.insert(0, StandardLibraryOnly())
for name in sys.argv[1:]:
    importlib.import_module(name)
"""


def import_with_the_standard_library_only(names: list[str], path: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(path)) if path else None
    return subprocess.run([sys.executable, "-c", STDLIB_ONLY, *names], capture_output=True, text=True, check=False, env=env)


def test_every_module_util_imports_with_the_standard_library_only():
    root = Path(__file__).resolve().parents[2] / "plugins" / "module_utils"
    names = ["ansible_collections.drover.fleet.plugins.module_utils." + ".".join(path.relative_to(root).with_suffix("").parts)
             for path in sorted(root.rglob("*.py")) if path.name != "__init__.py"]
    result = import_with_the_standard_library_only(names)
    assert result.returncode == 0, result.stderr[-2000:]


def test_an_unguarded_third_party_import_fails_that_check(tmp_path):
    (tmp_path / "unguarded.py").write_text("import yaml\n")
    (tmp_path / "guarded.py").write_text("from ansible_collections.drover.fleet.plugins.module_utils.deps import OptionalLibrary\n"
                                         "YAML = OptionalLibrary('PyYAML')\nwith YAML.guard():\n    import yaml\n"
                                         "assert not YAML.found\n")
    guarded = import_with_the_standard_library_only(["guarded"], tmp_path)
    assert guarded.returncode == 0, guarded.stderr
    refused = import_with_the_standard_library_only(["unguarded"], tmp_path)
    assert refused.returncode != 0 and "No module named 'yaml' (only the standard library here)" in refused.stderr
