# -*- coding: utf-8 -*-
"""Guarded imports of third-party libraries in module_utils (plugins/module_utils/deps.py): the import error is kept,
the engine raises it as a DroverError where the library is needed, and a module fails with Ansible's own message
(a real AnsibleModule, given its arguments the way Ansible's unit-test helper does)."""

from __future__ import annotations

import json
import sys

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
