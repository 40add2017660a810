"""haproxy/sockets.py is the one place for HAProxy's default socket paths: roles and playbooks either leave a module
its own default (omit) or read a role variable, whose default is the same path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.sockets import DEFAULT_ADMIN_SOCKET, DEFAULT_MASTER_SOCKET

REPO = Path(__file__).resolve().parents[3]
DEFAULTS = {"admin_socket": DEFAULT_ADMIN_SOCKET, "master_socket": DEFAULT_MASTER_SOCKET}


def task_files():
    return sorted([*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/handlers/*.yml"), *REPO.glob("playbooks/*.yml")])


@pytest.mark.parametrize("path", task_files(), ids=lambda path: str(path.relative_to(REPO)))
def test_no_task_writes_a_default_socket_path_again(path):
    text = path.read_text()
    assert DEFAULT_ADMIN_SOCKET not in text and DEFAULT_MASTER_SOCKET not in text


def role_socket_defaults():
    """(role, variable, default in defaults/main.yml, default in meta/argument_specs.yml) of each socket variable."""
    found = []
    for defaults_file in sorted(REPO.glob("roles/*/defaults/main.yml")):
        role = defaults_file.parents[1]
        defaults = yaml.safe_load(defaults_file.read_text()) or {}
        specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
        for name, value in defaults.items():
            kind = next((kind for kind in DEFAULTS if name.endswith(kind)), None)
            if kind:
                found.append((role.name, name, kind, value, specs[name].get("default")))
    return found


def test_role_socket_variables_default_to_the_modules_defaults():
    found = role_socket_defaults()
    assert {entry[:2] for entry in found} >= {("haproxy", "haproxy_admin_socket"), ("haproxy", "haproxy_master_socket")}
    for role, name, kind, value, documented in found:
        assert value == documented == DEFAULTS[kind], (role, name)
