"""Every module and filter of the collection has an `ansible-doc` page that renders, with examples and return values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DOC = Path(sys.executable).parent / "ansible-doc"
MODULES = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
FILTERS = sorted(p.stem for p in (REPO / "plugins" / "filter").glob("*.py") if p.stem != "__init__")


def doc(kind: str, name: str) -> dict:
    result = subprocess.run([ANSIBLE_DOC, "-t", kind, "--json", f"drover.fleet.{name}"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    return json.loads(result.stdout)[f"drover.fleet.{name}"]


@pytest.mark.parametrize("name", MODULES)
def test_module_doc(name):
    page = doc("module", name)
    assert page["doc"]["short_description"] and page["doc"]["description"]
    assert page["examples"].lstrip().startswith("---") and f"drover.fleet.{name}" in page["examples"]
    assert page["return"] is not None


@pytest.mark.parametrize("name", FILTERS)
def test_filter_doc(name):
    page = doc("filter", name)
    assert page["doc"]["short_description"]
    assert f"drover.fleet.{name}" in page["examples"]
    assert "_value" in page["return"]


def test_every_plugin_is_found():
    assert {"haproxy_config", "haproxy_server", "haproxy_info"} <= set(MODULES)
    assert {"blueprint_load", "to_haproxy_cfg", "condition_to_acl"} <= set(FILTERS)
