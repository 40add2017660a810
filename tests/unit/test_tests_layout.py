"""The tests mirror the engine's tree: each subpackage of plugins/module_utils has its folder under tests/unit/, and
pytest can collect the whole of tests/ in one run."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULE_UTILS = REPO / "plugins" / "module_utils"


def test_every_module_utils_subpackage_has_its_unit_tests_folder():
    subpackages = {path.parent.name for path in MODULE_UTILS.glob("*/__init__.py")}
    missing = {name for name in subpackages if not list((REPO / "tests" / "unit" / name).glob("test_*.py"))}
    assert not missing, f"module_utils subpackages without tests/unit/<subpackage>/test_*.py: {sorted(missing)}"


def test_test_file_names_are_unique():
    # the test folders are not packages, so pytest imports each test file by its base name: two with one name cannot
    # both be collected, and `pytest tests` stops at the second
    names = Counter(path.name for path in (REPO / "tests").rglob("test_*.py"))
    assert not [name for name, count in names.items() if count > 1]
