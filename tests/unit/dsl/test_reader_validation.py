# -*- coding: utf-8 -*-
"""Every validation rule of the reader: its code, dotted path, line and column, what was found and what is
allowed; and all issues of an input reported at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths, load_text, read_artifact
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import plan

BREED = "name: b\ndeployable: img/b\n"
# a blueprint whose breed is inline, so its ports are known
WEB = "name: bp\nclusters:\n  web:\n    breed: {name: 'w:1', deployable: img/w, ports: {http: 80/http, db: 5432/tcp}}\n"


def issues_of(text: str, kind: str | None = None) -> list[tuple]:
    """(code, path, line, column) of every issue; `kind` reads one artifact, else the text goes through load_text."""
    with pytest.raises(DslError) as error:
        if kind:
            read_artifact(kind, text, "in.yml")
        else:
            load_text(text, "in.yml")
    assert all(issue.origin.file == "in.yml" for issue in error.value.issues)
    return [(issue.code, issue.origin.path, issue.origin.line, issue.origin.column) for issue in error.value.issues]


def only_issue(text: str, kind: str | None = None):
    with pytest.raises(DslError) as error:
        if kind:
            read_artifact(kind, text, "in.yml")
        else:
            load_text(text, "in.yml")
    assert len(error.value.issues) == 1, str(error.value)
    return error.value.issues[0]


CASES = [
    # weights
    ("gateway", "name: g\nport: 80\nroutes:\n  a: {weight: 50%}\n", ("GatewayRouteWeightError", "routes", 4, 3)),
    ("gateway", "name: g\nport: 80\nroutes:\n  a: {weight: 50%}\n  b: {weight: 60%}\n", ("GatewayRouteWeightError", "routes", 4, 3)),
    ("gateway", "name: g\nport: 80\nroutes:\n  a: {weight: 101%}\n", ("GatewayRouteWeightError", "routes[a].weight", 4, 15)),
    ("gateway", "name: g\nport: 80\nroutes:\n  a: {weight: -1%}\n", ("GatewayRouteWeightError", "routes[a].weight", 4, 15)),
    ("blueprint", WEB + "gateways:\n  8080:\n    routes:\n      web/http: {weight: 70%}\n      web/db: {weight: 40%}\n",
     ("GatewayRouteWeightError", "gateways.8080.routes", 8, 7)),
    ("blueprint", "name: bp\nclusters:\n  c:\n    gateways:\n      routes:\n        'a:1': {weight: 90%}\n        'b:1': {weight: 20%}\n"
                  "    services: ['a:1', 'b:1']\n", ("GatewayRouteWeightError", "clusters.c.gateways.routes", 6, 9)),
    ("blueprint", "name: bp\nclusters:\n  sava:\n    gateways:\n      routes:\n        'sava:1.1': {weight: 9O%}\n    services: ['sava:1.1']\n",
     ("GatewayRouteWeightError", "clusters.sava.gateways.routes[sava:1.1].weight", 6, 30)),
    # condition strength
    ("gateway", "name: g\nport: 80\nroutes:\n  a: {condition: host = x, condition_strength: 150%}\n",
     ("GatewayRouteConditionStrengthError", "routes[a].condition_strength", 4, 48)),
    # sticky
    ("gateway", "name: g\nport: 80\nsticky: server\n", ("IllegalGatewayStickyValue", "sticky", 3, 9)),
    ("gateway", "name: g\nport: 80/tcp\nsticky: route\n", ("StickyPortTypeError", "sticky", 3, 9)),
    ("blueprint", WEB + "    gateways:\n      db: {sticky: instance}\n", ("StickyPortTypeError", "clusters.web.gateways.db.sticky", 6, 20)),
    # conditions on tcp
    ("gateway", "name: g\nport: 80/tcp\nroutes:\n  a: {condition: host = x}\n", ("ConditionPortTypeError", "routes[a].condition", 4, 18)),
    ("blueprint", WEB + "gateways:\n  9000/tcp:\n    routes:\n      web/db: {condition: {ref: mobile}}\n",
     ("ConditionPortTypeError", "gateways.9000/tcp.routes[web/db].condition", 8, 27)),
    # duplicate routes and ports
    ("gateway", "name: g\nport: 80\nroutes:\n  - a\n  - b\n  - a\n", ("DuplicateRouteError", "routes[a]", 6, 5)),
    ("blueprint", WEB + "gateways:\n  8080: web/http\n  8080/tcp: web/db\n", ("DuplicateGatewayPortError", "gateways.8080/tcp", 7, 13)),
    # unresolved gateway ports and cluster routes
    ("blueprint", WEB + "gateways:\n  8080: nope/http\n", ("UnresolvedGatewayPortError", "gateways.8080.routes[nope/http]", 6, 9)),
    ("blueprint", WEB + "gateways:\n  8080: web/admin\n", ("UnresolvedGatewayPortError", "gateways.8080.routes[web/admin]", 6, 9)),
    ("blueprint", WEB + "gateways:\n  8080: web\n", ("IllegalAnonymousRoutingPortMappingError", "gateways.8080.routes[web]", 6, 9)),
    ("blueprint", WEB + "gateways:\n  8080: other/web/http\n", ("UnresolvedGatewayPortError", "gateways.8080.routes[other/web/http]", 6, 9)),
    ("blueprint", WEB + "    gateways:\n      admin: {sticky: route}\n", ("UnresolvedGatewayPortError", "clusters.web.gateways.admin", 6, 14)),
    ("blueprint", WEB + "    gateways: {sticky: route}\n", ("IllegalAnonymousRoutingPortMappingError", "clusters.web.gateways", 5, 15)),
    ("blueprint", WEB + "    gateways:\n      http:\n        routes: {'w:2': {weight: 5%}}\n",
     ("UnresolvedRouteTargetError", "clusters.web.gateways.http.routes[w:2]", 7, 18)),
    ("blueprint", WEB + "    gateways:\n      http: {port: 80}\n", ("UnexpectedElement", "clusters.web.gateways.http.port", 6, 14)),
    # breeds
    ("breed", BREED + "dependencies:\n  me: b\n", ("RecursiveDependenciesError", "dependencies.me", 4, 7)),
    ("breed", BREED + "dependencies:\n  x:\n    name: c\n    deployable: i\n    dependencies: {y: b}\n",
     ("RecursiveDependenciesError", "dependencies.x.dependencies.y", 7, 23)),
    ("breed", BREED + "ports:\n  web: ~\n", ("MissingPortValueError", "ports.web", 4, 8)),
    ("breed", BREED + "ports:\n  time/out: 80\n", ("IllegalStrictName", "ports.time/out", 4, 3)),
    ("breed", BREED + "ports:\n  web: 80/udp\n", ("InvalidValue", "ports.web", 4, 8)),
    ("breed", BREED + "env:\n  'timeout[]': 10\n", ("IllegalName", "env.timeout[]", 4, 3)),
    ("breed", BREED + "constants:\n  k: ~\n", ("MissingConstantValueError", "constants.k", 4, 6)),
    ("breed", "name: b\n", ("MissingPathValueError", "deployable", 1, 1)),
    ("breed", "name: b c\ndeployable: i\n", ("IllegalName", "name", 1, 7)),
    ("breed", BREED + "kind: blueprints\n", ("InconsistentArtifactKind", "kind", 3, 7)),
    ("breed", BREED + "ports: {web: 80}\nhealth_checks:\n  port: admin\n", ("UnresolvedPortReferenceError", "health_checks.port", 5, 9)),
    ("breed", BREED + "health_checks:\n  failures: -5\n", ("NegativeFailuresNumberError", "health_checks.failures", 4, 13)),
    ("blueprint", "name: bp\nclusters:\n  c:\n    breed: {ref: x, deployable: i}\n  d: y\n",
     ("EitherReferenceOrAnonymous", "clusters.c.breed.deployable", 4, 21)),
    # blueprints
    ("blueprint", "name: bp\n", ("NoServiceError", "clusters", 1, 1)),
    ("blueprint", "name: bp\nclusters:\n  a: x\n  b: x\n", ("NonUniqueBlueprintBreedReferenceError", "clusters.b.breed", 4, 6)),
    ("blueprint", "name: bp\nclusters:\n  'a/b': x\n  ok: y\n", ("IllegalName", "clusters.a/b", 3, 3)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    breed: {name: s, deployable: i, dependencies: {d: missing}}\n",
     ("UnresolvedBreedDependencyError", "clusters.a.breed.dependencies.d", 4, 55)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    services:\n      - breed: x\n        scala: {cpu: 1}\n",
     ("UnexpectedElement", "clusters.a.services[0].scala", 6, 9)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    services:\n      - breed: x\n        scale: {cpu: 0.5, memory: 12 parsecs, instances: 1}\n",
     ("InvalidValue", "clusters.a.services[0].scale.memory", 6, 35)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    services:\n      - breed: x\n        scale: {cpu: 0, memory: 1GB, instances: 1}\n",
     ("InvalidValue", "clusters.a.services[0].scale.cpu", 6, 22)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    services:\n      - breed: x\n        scale: {cpu: 1, memory: 1GB, instances: 1.5}\n",
     ("InvalidValue", "clusters.a.services[0].scale.instances", 6, 49)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    breed: x\n    gateways:\n      routes:\n        x: {name: r, weight: 10%}\n",
     ("EitherReferenceOrAnonymous", "clusters.a.gateways.routes[x].weight", 7, 22)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    breed: {name: s, deployable: i, ports: {web: 80}}\n    health_checks: {port: nope}\n",
     ("UnresolvedPortReferenceError", "clusters.a.health_checks.port", 5, 27)),
    ("blueprint", "name: bp\nclusters:\n  a:\n    breed: x\n    sla:\n      type: t\n      escalations: [{type: scale_instances, minimum: 1, "
                  "maximum: 3, scale_by: 1, target: nowhere}]\n", ("UnresolvedEscalationTargetError", "clusters.a.sla.escalations[0].target", 7, 90)),
    # gateways
    ("blueprint", "name: b\nclusters:\n  two: {breed: {name: two, deployable: i, ports: {a: 80/http}}}\ngateways: {9063/udp: two/a}\n",
     ("InvalidValue", "gateways.9063/udp", 4, 12)),
    ("gateway", "name: a/b/c/d\nport: 80\n", ("UnsupportedGatewayNameError", "name", 1, 7)),
    ("gateway", "name: g\nport: 80\nvirtual_hosts: {host: x}\n", ("IllegalGatewayVirtualHosts", "virtual_hosts", 3, 16)),
    ("gateway", "name: g\nport: 80\nselector: cold(winter)\n", ("InvalidSelectorError", "selector", 3, 11)),
    ("gateway", "name: g\nport: 80\nroutes:\n  a/b: {selector: image(x)}\n", ("RouteSelectorOnlyRouteError", "routes[a/b].selector", 4, 19)),
    ("gateway", "name: g\nport: 80\nroutes:\n  '[h:1]': {selector: image(x)}\n", ("RouteSelectorExternalTargetError", "routes[[h:1]].selector", 4, 23)),
    ("gateway", "name: g\n", ("MissingPathValueError", "port", 1, 1)),
    ("gateway", "name: g\nport: 80\nroutes:\n  a/b/c/d: {}\n", ("UnsupportedRoutePathError", "routes[a/b/c/d]", 4, 3)),
    ("gateway", "name: g\nport: 80\nroutes:\n  a:\n    rewrites: [{path: no condition}]\n", ("IllegalRewrite", "routes[a].rewrites[0].path", 5, 23)),
    # SLAs, escalations, scales
    ("sla", "name: s\ntype: response_time_sliding_window\nthreshold: {upper: 100, lower: 500}\nwindow: {interval: 10, cooldown: 0}\n",
     ("InvalidValue", "threshold", 3, 12)),
    ("sla", "name: s\ntype: response_time_sliding_window\nwindow: {interval: 10, cooldown: 0}\n", ("MissingPathValueError", "threshold", 1, 1)),
    ("escalation", "name: e\ntype: scale_cpu\nminimum: 4\nmaximum: 2\nscale_by: 1\n", ("InvalidValue", "maximum", 4, 10)),
    ("escalation", "name: e\ntype: scale_instances\nminimum: 1\nmaximum: 2.5\nscale_by: 1\n", ("InvalidValue", "maximum", 4, 10)),
    ("escalation", "name: e\ntype: scale_instances\nminimum: 1\nmaximum: 20000\nscale_by: 1\n", ("InvalidValue", "maximum", 4, 10)),
    ("escalation", "name: e\nto_all: []\n", ("MissingPathValueError", "to_all", 2, 9)),
    ("scale", "name: s\ncpu: 1\nmemory: 1GB\n", ("MissingPathValueError", "instances", 1, 1)),
]


@pytest.mark.parametrize("kind, text, expected", CASES, ids=[f"{case[2][0]}-{index}" for index, case in enumerate(CASES)])
def test_rule(kind, text, expected):
    issue = only_issue(text, kind)
    assert (issue.code, issue.origin.path, issue.origin.line, issue.origin.column) == expected
    assert issue.message and issue.allowed, "every rejection says what is allowed"


STRICT_CASES = [
    ("gateway", "name: g\nport: 80\nroutes:\n  '[external/1/2]': {}\n", ("IllegalExternalRoute", "routes[[external/1/2]]", 4, 3)),
    ("gateway", "name: g\nport: 80\nroutes:\n  '[h:1]': {balance: static-rr}\n", ("IllegalBalance", "routes[[h:1]].balance", 4, 22)),
    ("gateway", "name: g\nport: 80\nroutes:\n  '[h:1]': {balance: \"roundrobin\\n  option x\"}\n", ("IllegalBalance", "routes[[h:1]].balance", 4, 22)),
    ("gateway", "name: g\nport: 80\nvirtual_hosts: ['a b.com']\nroutes: ['[h:1]']\n", ("IllegalGatewayVirtualHosts", "virtual_hosts[0]", 3, 17)),
    ("gateway", "name: g\nport: 80\nroutes:\n  '[h:1]':\n    rewrites: [{path: '/x#y if { path_beg /a }'}]\n",
     ("IllegalRewrite", "routes[[h:1]].rewrites[0].path", 5, 23)),
    ("gateway", "name: g\nport: 80/tcp\nroutes:\n  '[h:1]':\n    rewrites: [{path: '/x if { path_beg /a }'}]\n",
     ("RewritePortTypeError", "routes[[h:1]].rewrites", 5, 15)),
    ("gateway", "name: g\nport: 80\nroutes:\n  '[h:1]': {condition: host = }\n", ("ConditionSyntaxError", "routes[[h:1]].condition", 4, 24)),
    ("breed", BREED + "health_checks: {path: '/a b', interval: 0}\n", ("InvalidValue", "health_checks.path", 3, 23)),
    ("breed", "name: b\ndeployable: \"img\\nx\"\n", ("InvalidValue", "deployable", 2, 13)),
]


@pytest.mark.parametrize("kind, text, expected", STRICT_CASES, ids=[f"{case[2][0]}-{index}" for index, case in enumerate(STRICT_CASES)])
def test_haproxy_rule(kind, text, expected):
    """VAMP's rules alone accept these; load_* and read_artifact(strict=True) also apply the rules for what reaches
    haproxy.cfg, and reject them."""
    assert read_artifact(kind, text) is not None
    with pytest.raises(DslError) as error:
        read_artifact(kind, text, "in.yml", strict=True)
    issue = error.value.issues[0]
    assert (issue.code, issue.origin.path, issue.origin.line, issue.origin.column) == expected
    assert issue.allowed
    assert expected in issues_of(text)


def test_haproxy_rules_reject_injection_in_every_string_that_reaches_the_config():
    issues = issues_of("name: g\nport: 80\nvirtual_hosts: [\"ok.com\\nbind :1\"]\nroutes:\n  \"[h:1]\":\n    balance: \"leastconn\\nbind :2\"\n"
                       "    rewrites: [{path: \"/x if { path_beg /a }\\nbind :3\"}]\n    condition: \"host = a\\nb\"\n")
    assert sorted(code for code, *_rest in issues) == ["ConditionSyntaxError", "IllegalBalance", "IllegalGatewayVirtualHosts", "IllegalRewrite"]


def test_all_issues_are_reported_at_once():
    text = (
        "name: shop\n"                                   # 1
        "gateways:\n"                                    # 2
        "  9050/tcp:\n"                                  # 3
        "    sticky: route\n"                            # 4
        "    routes:\n"                                  # 5
        "      web/http: {weight: 60%, condition: host = a.com}\n"  # 6
        "      web/admin: {weight: 50%}\n"               # 7
        "clusters:\n"                                    # 8
        "  web:\n"                                       # 9
        "    gateways:\n"                                # 10
        "      http:\n"                                  # 11
        "        sticky: server\n"                       # 12
        "        routes:\n"                              # 13
        "          'front:1': {weight: 120%, balance: static-rr}\n"  # 14
        "    services:\n"                                # 15
        "      - breed:\n"                               # 16
        "          name: 'front:1'\n"                    # 17
        "          deployable: shop/front\n"             # 18
        "          ports: {http: 80/http}\n"             # 19
        "          health_checks: {port: nope, failures: -1}\n"  # 20
        "        scale: {cpu: zero, memory: 1.5 GB, instances: 0}\n"  # 21
        "  'bad name': x\n"                              # 22
    )
    # read problems first, in input order, then the rules that need the whole blueprint
    assert issues_of(text) == [
        ("NegativeFailuresNumberError", "clusters.web.services[0].breed.health_checks.failures", 20, 49),
        ("InvalidValue", "clusters.web.services[0].scale.cpu", 21, 22),
        ("InvalidValue", "clusters.web.services[0].scale.instances", 21, 55),
        ("IllegalGatewayStickyValue", "clusters.web.gateways.http.sticky", 12, 17),
        ("GatewayRouteWeightError", "clusters.web.gateways.http.routes[front:1].weight", 14, 31),
        ("IllegalName", "clusters.bad name", 22, 3),
        ("UnresolvedGatewayPortError", "gateways.9050/tcp.routes[web/admin]", 7, 7),
        ("UnresolvedPortReferenceError", "clusters.web.services[0].breed.health_checks.port", 20, 33),
        ("IllegalBalance", "clusters.web.gateways.http.routes[front:1].balance", 14, 46),
        ("StickyPortTypeError", "gateways.9050/tcp.sticky", 4, 13),
        ("GatewayRouteWeightError", "gateways.9050/tcp.routes", 6, 7),
        ("ConditionPortTypeError", "gateways.9050/tcp.routes[web/http].condition", 6, 42),
    ]


def test_issue_text_names_file_line_column_path_found_and_allowed():
    issue = only_issue("name: g\nport: 80\nsticky: server\n", "gateway")
    assert str(issue) == ("in.yml:3:9: sticky: illegal sticky value (found 'server'; allowed: route, instance, or none (empty))")
    assert issue.as_dict()["line"] == 3 and issue.as_dict()["code"] == "IllegalGatewayStickyValue"


def test_unknown_references_are_reported_with_what_exists():
    issues = issues_of("name: x\ndeployable: i\nports: {web: 80}\n---\nname: bp\nclusters:\n  c:\n    services:\n      - breed: y\n        scale: big\n"
                       "    sla: {ref: fast}\n    gateways:\n      routes:\n        y: {condition: {ref: mobile}}\n        z: canary\n")
    assert issues[:5] == [
        ("UnresolvedReferenceError", "clusters.c.services[0].breed", 9, 16),
        ("UnresolvedReferenceError", "clusters.c.services[0].scale", 10, 16),
        ("UnresolvedReferenceError", "clusters.c.sla", 11, 10),
        ("UnresolvedReferenceError", "clusters.c.gateways.routes[y].condition", 14, 24),
        ("UnresolvedReferenceError", "clusters.c.gateways.routes[z]", 15, 9),
    ]
    with pytest.raises(DslError) as error:
        load_text("name: x\ndeployable: i\n---\nname: bp\nclusters:\n  c: nothing\n")
    assert error.value.issues[0].allowed == "a breed defined in the files loaded: x"
    with pytest.raises(DslError) as error:
        load_text("name: bp\nclusters:\n  c: nothing\n")
    assert error.value.issues[0].allowed == "a breed defined in the files loaded: none is defined"


def test_dependency_cycles_across_documents_and_escalation_cycles():
    issues = issues_of("name: a\ndeployable: i\ndependencies: {x: b}\n---\nname: b\ndeployable: j\ndependencies: {y: a}\n")
    assert [code for code, *_rest in issues] == ["RecursiveDependenciesError", "RecursiveDependenciesError"]
    escalations = issues_of("kind: escalation\nname: e1\nto_all: [e2]\n---\nkind: escalation\nname: e2\nto_one: [e1]\n")
    assert {code for code, *_rest in escalations} == {"RecursiveReferenceError"}


def test_duplicate_artifacts_and_ports_across_documents():
    issues = issues_of("name: g\nport: 80\nroutes: ['[h:1]']\n---\nname: g\nport: 81\nroutes: ['[h:1]']\n---\nname: g2\nport: 80\nroutes: ['[h:2]']\n")
    assert issues == [("DuplicateArtifactError", "", 5, 1), ("DuplicateGatewayPortError", "", 9, 1)]


def test_breed_dependency_must_be_deployed_by_a_blueprint_cluster():
    issues = issues_of("name: front\ndeployable: i\ndependencies: {api: back}\n---\nname: back\ndeployable: j\n---\nname: bp\nclusters:\n  f: front\n")
    assert issues == [("UnresolvedBreedDependencyError", "dependencies.api", 3, 21)]


def test_an_illegal_name_does_not_hide_the_other_errors_of_its_artifact():
    gateway = issues_of('name: "bad name"\nport: 9019/http\nroutes:\n  "[h:1]": {weight: 50%, condition: cookie}\n  "[h:2]": {weight: 70%}\n')
    assert [issue[:2] for issue in gateway] == [
        ("IllegalName", "name"), ("GatewayRouteWeightError", "routes"), ("ConditionSyntaxError", "routes[[h:1]].condition")]
    blueprint = issues_of('name: "b 1"\nclusters:\n  c:\n    breed: {name: c, deployable: i}\n    scale: {cpu: 1, memory: 1XB, instances: -1}\n')
    assert [issue[:2] for issue in blueprint] == [
        ("IllegalName", "name"), ("InvalidValue", "clusters.c.scale.memory"), ("InvalidValue", "clusters.c.scale.instances")]


def test_a_weight_that_cannot_be_read_is_reported_alone_not_again_in_a_total():
    issues = issues_of("name: g\nport: 9100/http\nroutes:\n  '[h:1]': {weight: 50%}\n  '[h:2]': {weight: 25%}\n  '[h:3]': {weight: lots}\n")
    assert [issue[:2] for issue in issues] == [("GatewayRouteWeightError", "routes[[h:3]].weight")]


def test_nameless_artifacts_in_two_files_are_each_checked_and_not_taken_for_one(tmp_path):
    for name in ("a.yml", "b.yml"):
        (tmp_path / name).write_text("kind: breed\ndeployable: i\nports: {web: 8080/udp}\n")
    with pytest.raises(DslError) as caught:
        load_paths([str(tmp_path)])
    codes = [(issue.code, os.path.basename(issue.origin.file)) for issue in caught.value.issues]
    assert ("DuplicateArtifactError", "b.yml") not in codes
    assert [code for code, _file in codes].count("MissingPathValueError") == 2 and len([c for c in codes if c[0] != "MissingPathValueError"]) == 2


def test_a_key_holding_a_newline_is_escaped_so_each_error_stays_on_one_line():
    with pytest.raises(DslError) as caught:
        load_text('name: g\nport: 9019/http\nroutes:\n  "a\\nb": {weight: 100%}\n  "[h:1]\\u2028": {}\n', "in\nx.yml")
    text = str(caught.value)
    assert len(text.splitlines()) == 1 + len(caught.value.issues)
    assert "in\\nx.yml:4:3: routes[a\\nb]: illegal route path" in text
    assert caught.value.issues[0].origin.path == "routes[a\\nb]"


def test_each_rewrite_error_says_what_failed_in_that_rule():
    rewrites = ["/a b if TRUE", "/a%b if TRUE", "/%[path_beg] if TRUE", "/a if { path_beg /x } #", "/a if p_ext_jpg path_end -i .jpg",
                "/a if { path_beg /x } or", "/a if { path_beg 'x }"]
    text = "name: g\nport: 9019/http\nroutes:\n  '[h:1]':\n    rewrites:\n" + "".join(f"      - path: \"{rewrite}\"\n" for rewrite in rewrites)
    with pytest.raises(DslError) as caught:
        load_text(text, "in.yml")
    allowed = [issue.allowed for issue in caught.value.issues]
    assert [issue.code for issue in caught.value.issues] == ["IllegalRewrite"] * len(rewrites)
    assert all(len(text) < 260 for text in allowed), allowed
    assert "'/a b' has ' ' at character 3" in allowed[0]
    assert "the '%' at character 3 of '/a%b' is neither" in allowed[1]
    assert "'path_beg' is not one" in allowed[2]
    assert "has '#' at character 17" in allowed[3]
    assert "'p_ext_jpg' is neither a '{ ... }' ACL nor a predefined ACL" in allowed[4]
    assert "it ends with 'or'" in allowed[5]
    assert "unterminated single quote" in allowed[6]


def test_a_missing_name_says_what_was_found():
    with pytest.raises(DslError) as caught:
        load_text("port: 9074/http\nroutes: ['[h:1]']\n---\nname:\nport: 9075/http\nroutes: ['[h:2]']\n---\n"
                  "name: bp\nclusters:\n  c: {services: [{scale: s}]}\n", "in.yml")
    assert [(issue.message, issue.found, issue.origin.line) for issue in caught.value.issues] == [
        ("a gateway needs a name", "no 'name'", 1), ("a gateway needs a name", "'name' with no value", 4),
        ("a service needs a breed", "no 'breed'", 10)]
    assert "(found no 'name'; allowed: name: <gateway name>)" in str(caught.value)


def test_a_port_that_does_not_read_does_not_hide_an_unknown_health_check_port():
    breed = "name: b\ndeployable: img/b\nports:\n  web: 8080/http\n  bad: 99999/http\nhealth_checks:\n  - {path: /h, port: nope}\n  - {path: /h, port: bad}\n"
    assert [issue[:3] for issue in issues_of(breed)] == [
        ("InvalidValue", "ports.bad", 5), ("UnresolvedPortReferenceError", "health_checks[0].port", 7)]
    cluster = ("name: bp\nclusters:\n  c:\n    services:\n      - breed: {name: b, deployable: i, ports: {web: 8080/http, bad: 0}}\n"
               "        health_checks: [{path: /h, port: nope}]\n    health_checks: [{path: /h, port: gone}]\n")
    assert [issue[:2] for issue in issues_of(cluster)] == [
        ("InvalidValue", "clusters.c.services[0].breed.ports.bad"), ("UnresolvedPortReferenceError", "clusters.c.services[0].health_checks[0].port"),
        ("UnresolvedPortReferenceError", "clusters.c.health_checks[0].port")]


def test_a_cluster_with_no_service_is_refused_on_its_own():
    issues = issues_of("name: bp\nclusters:\n  a: {breed: {name: x, deployable: i}}\n  b:\n    services: []\n  c:\n    services:\n  d: []\n")
    assert issues == [("EmptyClusterError", "clusters.b.services", 5, 15), ("EmptyClusterError", "clusters.c.services", 7, 14),
                      ("EmptyClusterError", "clusters.d", 8, 6)]
    # VAMP's NoServiceError stays for a blueprint with no service at all, and is not added to the clusters' errors
    assert issues_of("name: bp\nclusters:\n  b: {services: []}\n") == [("EmptyClusterError", "clusters.b.services", 3, 17)]
    assert [issue[0] for issue in issues_of("name: bp\nclusters: {}\n")] == ["NoServiceError"]


def test_the_shipped_examples_are_valid_together():
    """`drover validate examples/`: every example, the lab's included, in one set (one port per gateway across them),
    and the routing plan `drover validate` also checks."""
    examples = Path(__file__).resolve().parents[3] / "examples"
    artifacts = load_paths([str(examples)])
    assert {"sava", "demo"} <= set(artifacts.blueprints), "examples/lab/ is walked too"
    ports = [frontend.port for frontend in plan(artifacts)]
    assert len(ports) == len(set(ports)) >= 7


def test_a_route_target_that_cannot_be_read_is_reported_alone_not_again_in_a_total():
    standalone = issues_of("name: g\nport: 9100/http\nroutes:\n  '[10.0.0.1:80]': {weight: 50%}\n  '[10.0.0.2:80': {weight: 50%}\n")
    assert [issue[:2] for issue in standalone] == [("IllegalName", "routes[[10.0.0.2:80]")]
    listed = issues_of("name: g\nport: 9100/http\nroutes:\n  - '[10.0.0.1:80]': {weight: 50%}\n  - a/b/c/d: {weight: 50%}\n")
    assert [issue[:2] for issue in listed] == [("UnsupportedRoutePathError", "routes[a/b/c/d]")]
    # the total is still checked when every route reads
    assert [issue[0] for issue in issues_of("name: g\nport: 9100/http\nroutes:\n  '[10.0.0.1:80]': {weight: 50%}\n")] == ["GatewayRouteWeightError"]


def test_a_tcp_gateway_shows_its_balance_errors_with_its_sticky_and_condition_errors():
    issues = issues_of("name: g\nport: 9071/tcp\nsticky: route\nroutes:\n  '[10.0.0.1:80]':\n    weight: 50%\n    condition: user-agent == Chrome\n"
                       "    balance: uri\n  '[10.0.0.2:80]': {weight: 50%, balance: hdr(host)}\n")
    assert sorted(issues) == sorted([
        ("StickyPortTypeError", "sticky", 3, 9), ("ConditionPortTypeError", "routes[[10.0.0.1:80]].condition", 7, 16),
        ("BalancePortTypeError", "routes[[10.0.0.1:80]].balance", 8, 14), ("BalancePortTypeError", "routes[[10.0.0.2:80]].balance", 9, 43)])
    # behind a tcp gateway, a cluster gateway's routes are tcp too: refused once where written, whatever reaches it
    behind = issues_of("name: b\nclusters:\n  c:\n    breed: {name: c, deployable: i, ports: {web: 8080/http}}\n    gateways:\n      web:\n"
                       "        routes:\n          c: {balance: uri}\ngateways: {9060/tcp: c/web}\n---\n"
                       "name: sg\nport: 9061/tcp\nroutes:\n  b/c/web: {balance: url_param x}\n")
    assert behind == [("BalancePortTypeError", "clusters.c.gateways.web.routes[c].balance", 8, 24),
                      ("BalancePortTypeError", "routes[b/c/web].balance", 14, 22)]


@pytest.mark.parametrize("kind, text, path, found, position", [
    ("breed", "name: b\n", "deployable", "no 'deployable'", (1, 1)),
    ("breed", "name: b\ndeployable:\n", "deployable", "'deployable' with no value", (2, 12)),
    ("sla", "name: s\ntype: response_time_sliding_window\nwindow: {interval: 10, cooldown: 0}\n", "threshold", "no 'threshold'", (1, 1)),
    ("sla", "name: s\ntype: response_time_sliding_window\nthreshold:\nwindow: {interval: 10, cooldown: 0}\n",
     "threshold", "'threshold' with no value", (3, 11)),
    ("sla", "name: s\ntype: response_time_sliding_window\nthreshold: {upper: 100}\nwindow: {interval: 10, cooldown: 0}\n",
     "threshold.lower", "no 'lower'", (3, 12)),
    ("sla", "name: s\ntype: response_time_sliding_window\nthreshold: {upper: 100, lower: 10}\nwindow: {interval: 10, cooldown: }\n",
     "window.cooldown", "'cooldown' with no value", (4, 34)),
    ("escalation", "name: e\ntype: scale_cpu\nminimum: 1\nscale_by: 1\n", "maximum", "no 'maximum'", (1, 1)),
    ("escalation", "name: e\ntype: scale_cpu\nminimum: 1\nmaximum:\nscale_by: 1\n", "maximum", "'maximum' with no value", (4, 9)),
    ("scale", "name: s\ncpu: 1\nmemory: 1GB\n", "instances", "no 'instances'", (1, 1)),
    ("scale", "name: s\ncpu: 1\nmemory: 1GB\ninstances:\n", "instances", "'instances' with no value", (4, 11)),
    ("escalation", "name: e\nto_all: []\n", "to_all", "an empty list", (2, 9)),
    ("escalation", "name: e\ntype: to_one\n", "escalations", "no escalations", (1, 1)),
])
def test_a_missing_field_says_what_was_found(kind, text, path, found, position):
    issue = only_issue(text, kind)
    assert (issue.code, issue.origin.path, str(issue.found), (issue.origin.line, issue.origin.column)) == ("MissingPathValueError", path, found, position)


def test_a_group_of_escalations_that_do_not_read_is_not_also_called_empty():
    assert [issue[:2] for issue in issues_of("name: e\nto_all: [{minimum: 1}]\n", "escalation")] == [("MissingPathValueError", "to_all[0].type")]
