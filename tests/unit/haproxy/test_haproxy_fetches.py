"""The sample fetch names the validators trust, against the real `haproxy -c` (2.6)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import rewrite_problem
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.fetches import (
    ACL_ONLY_NAMES, HOST_FACT_FETCHES, SAMPLE_FETCH_NAMES, host_access, is_value_fetch)
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


# Rewrites (`<new path> if <condition>`) that HAProxy 2.6 takes, each reading a file, a fact or a variable of the load
# balancer itself; the rewrite rule refuses every one.
HOST_READING_REWRITES = [
    ("/x%[str(a),map(/etc/hostname,zz)]", "TRUE"),
    ("/x%[req.hdr(a),map_beg_int(/etc/hostname,0)]", "TRUE"),
    ("/x%[hostname]", "TRUE"),
    ("/x%[env(HOME)]", "TRUE"),
    ("/x%[last_rule_file]", "TRUE"),
    ("/x%[ssl_fc_session_key]", "TRUE"),
    ("/x%[req.hdr(a),jwt_verify(HS256,secret)]", "TRUE"),
    ("/x%[req.hdr(a),set-var(txn.drover_rcn)]", "TRUE"),
    ("/x", "{ str(a),map(/etc/hostname) -m found }"),
    ("/x", "{ req.hdr(a),set-var(txn.drover_rcn) -m found }"),
    ("/x", "{ path -f /etc/passwd }"),
    ("/x", "METH_GET { path -i -M -f /etc/hostname }"),
]


def test_haproxy_takes_rewrites_that_read_the_load_balancer_and_the_rewrite_rule_refuses_them(tmp_path):
    rules = "".join(f" http-request set-path {path} if {condition}\n" for path, condition in HOST_READING_REWRITES)
    (tmp_path / "haproxy.cfg").write_text(HEAD + rules + " server s 127.0.0.1:1\n")
    result = haproxy_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [rule for rule in HOST_READING_REWRITES if rewrite_problem(*rule) is None] == []


def test_rewrites_that_read_only_the_request_stay_allowed():
    assert rewrite_problem("/v2%[path]", "{ path_beg /api } { hdr(hostname) -m str map }") is None
    assert rewrite_problem("/x%[req.hdr(host),lower]%[date]%[be_name]", "{ path -m str -- -f }") is None


def test_host_reading_names_are_real_haproxy_names():
    assert HOST_FACT_FETCHES <= SAMPLE_FETCH_NAMES
    assert host_access("str(a),map_regm(/x)") == "map_regm" and host_access("str(a),lua.hello") == "lua.hello"
    assert host_access("req.hdr(hostname)") is None and host_access("str(map)") is None
