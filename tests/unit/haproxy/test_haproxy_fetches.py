"""The sample fetch names the validators trust, against the real `haproxy -c` (2.6)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.fetches import ACL_ONLY_NAMES, SAMPLE_FETCH_NAMES, is_value_fetch
from ansible_collections.drover.fleet.tests.support.haproxy_harness import haproxy_check

HEAD = "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind 127.0.0.1:1\n default_backend b\nbackend b\n"


def config_with(paths: list[str], directory: Path) -> str:
    (directory / "haproxy.cfg").write_text(HEAD + "".join(f" http-request set-path {path} if TRUE\n" for path in paths) + " server s 127.0.0.1:1\n")
    result = haproxy_check(directory)
    return result.stdout + result.stderr


def test_acl_only_names_are_exactly_the_ones_haproxy_refuses_as_a_value(tmp_path):
    refused = {name for name in SAMPLE_FETCH_NAMES if f"unknown fetch method '{name}'" in config_with([f"/x%[{name}]"], tmp_path)}
    assert refused == ACL_ONLY_NAMES
    assert not is_value_fetch("path_beg") and is_value_fetch("path") and is_value_fetch("req.hdr(host),lower")
