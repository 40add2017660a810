# -*- coding: utf-8 -*-
"""Bad input the reader used to accept, each refused (or warned about) where it was written. Where the point is what
HAProxy makes of a value, the real HAProxy 2.6 shows it."""

from __future__ import annotations

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeClient
from ansible_collections.drover.fleet.tests.support.haproxy_harness import haproxy_check, start_haproxy
from ansible_collections.drover.fleet.tests.support.helpers import free_port

DEFAULTS = "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\n"


def listening_on(port: int) -> str:
    return f"frontend f\n bind 127.0.0.1:{port}\n default_backend b\n"


def the_issue(text: str):
    """The one error that load_text reports for `text`."""
    with pytest.raises(DslError) as error:
        load_text(text, "in.yml")
    assert len(error.value.issues) == 1, str(error.value)
    return error.value.issues[0]


def located(issue) -> tuple:
    return issue.code, issue.origin.path, issue.origin.line, issue.origin.column


def gateway_with_route(target: str, settings: str = "{}") -> str:
    return f"name: g\nport: 80\nroutes:\n  '{target}': {settings}\n"


# --- what a rewrite or a condition may read ---------------------------------------------------------------------------

@pytest.mark.parametrize("rewrite, refused", [
    ("/x%[str(a),map(/etc/hostname,zz)] if TRUE", "map"),
    ("/x%[hostname] if TRUE", "hostname"),
    ("/x%[req.hdr(a),map_beg(/etc/passwd)] if TRUE", "map_beg"),
    ("/x%[last_rule_file] if TRUE", "last_rule_file"),
    ("/x%[req.hdr(a),set-var(txn.drover_rcn)] if TRUE", "set-var"),
    ("/x if { str(a),map(/etc/hostname) -m found }", "map"),
    ("/x if { path -f /etc/passwd }", "-f"),
])
def test_a_rewrite_may_not_read_the_load_balancers_files_or_facts(rewrite, refused):
    issue = the_issue("name: g\nport: 80\nroutes:\n  '[h:1]':\n    rewrites:\n      - path: '" + rewrite + "'\n")
    assert located(issue) == ("IllegalRewrite", "routes[[h:1]].rewrites[0].path", 6, 15)
    assert f"{refused} would reach into the load balancer itself" in issue.allowed


@pytest.mark.parametrize("condition", ["< hdr(x),map(/etc/passwd) -m found >", "hdr_sub(user-agent) -f /etc/passwd",
                                       "< req.hdr(x),set-var(txn.drover_rcn) -m found >", "< hostname -m sub a >"])
def test_a_raw_acl_in_a_condition_may_not_read_them_either(condition):
    issue = the_issue(gateway_with_route("[h:1]", "{condition: '" + condition + "'}"))
    assert located(issue) == ("ConditionSyntaxError", "routes[[h:1]].condition", 4, 24)
    assert "would reach into the load balancer itself" in issue.message


def test_rewrites_and_raw_acls_that_read_the_request_stay_valid():
    load_text(gateway_with_route("[h:1]", "{condition: '< hdr_beg(host) -i api. >', rewrites: [{path: '/v2%[path] if { path_beg /api }'}]}"))


# --- external targets ---------------------------------------------------------------------------------------------------

# how HAProxy 2.6 (through the C library's resolver) reads each host of an external target
HAPROXY_READS = {"127.0.0.010": "127.0.0.8", "2130706433": "127.0.0.1", "127.1": "127.0.0.1", "0x7f.1": "127.0.0.1",
                 "0177.0.0.1": "127.0.0.1", "127.0.0.8": "127.0.0.8"}


@pytest.mark.parametrize("host", sorted(HAPROXY_READS.keys() - {"127.0.0.8"}) + ["10.0.0.010", "0x7f000001", "256.0.0.1", "1.2.3"])
def test_an_external_target_is_a_host_name_or_a_canonical_ipv4_address(host):
    issue = the_issue(gateway_with_route(f"[{host}:8080]"))
    assert located(issue)[:2] == ("IllegalExternalRoute", f"routes[[{host}:8080]]")
    assert "without leading zeros" in issue.allowed


@pytest.mark.parametrize("host", ["127.0.0.8", "10.0.0.8", "0.0.0.1", "example.com", "1.example.com", "web", "a-1.b2.example"])
def test_canonical_external_targets_stay_valid(host):
    load_text(gateway_with_route(f"[{host}:8080]"))


@pytest.mark.haproxy
def test_haproxy_reads_a_non_canonical_ipv4_address_as_another_address(tmp_path):
    socket = str(tmp_path / "admin.sock")
    servers = "".join(f" server s{index} {host}:8080\n" for index, host in enumerate(HAPROXY_READS))
    port = free_port()
    config = f"global\n stats socket {socket} level admin\n{DEFAULTS}{listening_on(port)}backend b\n{servers}"
    with start_haproxy({"haproxy.cfg": config}, tmp_path, socket, [port]):
        read = {state.name: state.address for state in RuntimeClient(socket).show_servers_state("b")}
    assert {host: read[f"s{index}"] for index, host in enumerate(HAPROXY_READS)} == HAPROXY_READS


# --- deployables --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("deployable", ["img:1;$(id)", "--privileged", "magneticio/Sava:1.0", "sava:", "sava:-1", "sava@sha256:abc",
                                        "/sava", "sava//x", "registry:5000/", "a" * 256])
def test_a_deployable_is_an_image_reference(deployable):
    issue = the_issue(f"name: b\ndeployable: '{deployable}'\n")
    assert located(issue) == ("InvalidValue", "deployable", 2, 13)
    assert issue.allowed.startswith("an image reference, [registry[:port]/]path[:tag][@digest]")


@pytest.mark.parametrize("deployable", ["magneticio/sava:1.0.0", "anaconda", "vamp/solid-barbershop", "magneticio/sava:runner_1.0",
                                        "localhost/drover-demo:1.0", "registry.example.com:5000/team/app__x/web-1:V1.2",
                                        "docker.io/library/nginx:1.25@sha256:" + "0a" * 32, "[::1]:5000/app"])
def test_image_references_stay_valid(deployable):
    load_text(f"name: b\ndeployable: '{deployable}'\n")
    load_text(f"name: b\ndeployable: {{type: container/docker, definition: '{deployable}'}}\n")


# --- balance algorithms and virtual hosts -------------------------------------------------------------------------------

@pytest.mark.parametrize("balance", ["random(0)", "uri len 0", "uri depth 0", "uri whole depth 0"])
def test_balance_arguments_start_at_one(balance):
    issue = the_issue(gateway_with_route("[h:1]", f"{{balance: '{balance}'}}"))
    assert located(issue) == ("IllegalBalance", "routes[[h:1]].balance", 4, 22)


@pytest.mark.haproxy
def test_haproxy_refuses_the_balance_arguments_the_reader_refuses(tmp_path):
    def haproxy_takes(balance: str) -> bool:
        (tmp_path / "haproxy.cfg").write_text(f"{DEFAULTS}{listening_on(1)}backend b\n balance {balance}\n server s 127.0.0.1:1\n")
        return haproxy_check(tmp_path).returncode == 0

    assert [b for b in ("random(0)", "uri len 0", "uri depth 0") if haproxy_takes(b)] == []
    assert all(haproxy_takes(b) for b in ("random(1)", "random(999)", "uri len 1", "uri depth 1", "uri whole len 99999"))
    load_text(gateway_with_route("[h:1]", "{balance: 'random(1)'}"))


@pytest.mark.parametrize("host", ["a.example.com:0", "a.example.com:65536", "a.example.com:99999"])
def test_a_virtual_host_port_is_from_1_to_65535(host):
    issue = the_issue(f"name: g\nport: 80\nvirtual_hosts: ['{host}']\nroutes: ['[h:1]']\n")
    assert located(issue) == ("IllegalGatewayVirtualHosts", "virtual_hosts[0]", 3, 17)
    load_text("name: g\nport: 80\nvirtual_hosts: ['a.example.com:1', 'b.example.com:65535']\nroutes: ['[h:1]']\n")


# --- weights and strengths ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("weight, why", [("0.001%", "below"), ("0.015%", "not a multiple of"), ("99.999%", "not a multiple of")])
def test_a_weight_is_a_whole_number_of_hundredths_of_a_percent(weight, why):
    issue = the_issue(f"name: g\nport: 80\nroutes:\n  '[h:1]': {{weight: {weight}}}\n  '[h:2]': {{}}\n")
    assert located(issue) == ("GatewayRouteWeightError", "routes[[h:1]].weight", 4, 21)
    assert issue.message == f"route weight: {weight} is {why} the 0.01% resolution of HAProxy's weighted draw"
    assert "in steps of 0.01%" in issue.allowed


def test_a_condition_strength_has_the_same_resolution():
    issue = the_issue("name: g\nport: 80\nroutes:\n  '[h:1]': {condition: host = a, condition_strength: 0.001%}\n")
    assert located(issue)[:2] == ("GatewayRouteConditionStrengthError", "routes[[h:1]].condition_strength")
    load_text("name: g\nport: 80\nroutes:\n  '[h:1]': {weight: 0.01%, condition: host = a, condition_strength: 99.99%}\n"
              "  '[h:2]': {weight: 99.99%}\n")


# --- SLA and escalation types -------------------------------------------------------------------------------------------

def test_an_sla_or_escalation_type_close_to_a_known_one_is_warned_about():
    artifacts = load_text("name: s\ntype: response_time_sliding_windows\nescalations:\n  - type: scale_instance\n    minimum: 1\n"
                          "  - type: vital-cloud\n", "in.yml")
    assert [(w.code, w.origin.file, w.origin.line, w.origin.column, w.origin.path) for w in artifacts.warnings] == [
        ("UnknownTypeNearMiss", "in.yml", 2, 7, "type"),
        ("UnknownTypeNearMiss", "in.yml", 4, 11, "escalations[0].type"),
    ]
    assert artifacts.warnings[0].message.endswith("did you mean 'response_time_sliding_window'?")
    assert artifacts.warnings[1].message.endswith("did you mean 'scale_instances'?")
