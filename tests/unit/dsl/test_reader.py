# -*- coding: utf-8 -*-
"""The DSL reader: VAMP's shorthand forms, references, multi-document files, directories, resolution across
documents, warnings for runtime-only fields, and golden files of whole resolved sets.

Golden files (tests/unit/dsl/data/reader/*.golden.yaml) hold the resolved model, origins included, in a compact form.
After a deliberate change, rewrite them with DROVER_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError, Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET, EXTERNAL_TARGET, SERVICE_TARGET, Blueprint, Breed, Condition, Escalation, Gateway, Reference, Scale, Sla, SlaReference)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import detect_kind, load_paths, load_text, normalize_kind, read_artifact
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import ReadContext
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_sla import KNOWN_ESCALATIONS

DATA = Path(__file__).resolve().parent / "data" / "reader"


def blueprint(text: str) -> Blueprint:
    return read_artifact("blueprint", text, "bp.yml")


# --- golden files -------------------------------------------------------------------------------------------
# A multi-document file (one artifact per YAML document). It lives here rather than in data/, because ansible-test's
# yamllint accepts only single-document YAML files in a collection; the tests write it out as sava.yml.
SAVA_DOCUMENTS = """\
# A canary release of sava with everything referenced by name: the breeds, the scale, the SLA and its
# escalations, a condition and a route are separate documents of the same file.
---
kind: breeds
name: sava:1.0.0
deployable: magneticio/sava:1.0.0
ports:
  web: 8080/http
health_checks:
  path: /health
  port: web
  interval: 10s
  timeout: 2s
  failures: 3
---
name: sava:1.1.0
deployable: magneticio/sava:1.1.0
ports:
  web: 8080/http
env:
  LOG_LEVEL: debug
  timeout[TIME_OUT]: 10
---
name: small
cpu: 0.5
memory: 256MB
instances: 2
---
kind: conditions
name: firefox
condition: user-agent = Firefox
---
kind: routes
name: canary-10
weight: 10%
condition: {ref: firefox}
condition_strength: 50%
---
kind: escalations
name: more
type: scale_instances
minimum: 1
maximum: 6
scale_by: 1
---
kind: slas
name: fast
type: response_time_sliding_window
threshold:
  upper: 1000
  lower: 100
window:
  interval: 60s
  cooldown: 2m
escalations:
  - more
---
name: sava
gateways:
  9050/http: sava/web
clusters:
  sava:
    gateways:
      web:
        sticky: route
        routes:
          sava:1.0.0:
            weight: 90%
          sava:1.1.0: canary-10
    services:
      - breed: sava:1.0.0
        scale: small
      - breed: sava:1.1.0
        scale: small
    sla:
      ref: fast
      escalations:
        - more
        - type: notify
          message: scaled
"""


@pytest.fixture(name="sources")
def fixture_sources(tmp_path):
    """The reader's data folder, with the multi-document sava.yml written beside the others."""
    (tmp_path / "sava.yml").write_text(SAVA_DOCUMENTS, encoding="utf-8")
    return {"sava.yml": tmp_path / "sava.yml", "external.yml": DATA / "external.yml", "tree": DATA / "tree"}


def describe(value):
    """Plain data for a model value: empty and None fields left out, origins as 'file:line:column path'."""
    if isinstance(value, Origin):
        return f"{Path(value.file).name if value.file else '<input>'}:{value.line}:{value.column} {value.path}"
    if dataclasses.is_dataclass(value):
        data = {"_": type(value).__name__}
        for field in dataclasses.fields(value):
            item = describe(getattr(value, field.name))
            if item not in (None, [], {}, ""):
                data[field.name] = item
        return data
    if isinstance(value, dict):
        return {str(key): describe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [describe(item) for item in value]
    return value


@pytest.mark.parametrize("source", ["sava.yml", "external.yml", "tree"])
def test_golden(source, sources):
    artifacts = load_paths([str(sources[source])])
    actual = yaml.safe_dump(describe(artifacts), sort_keys=False, width=160, allow_unicode=True)
    golden = DATA / f"{Path(source).stem}.golden.yaml"
    if os.environ.get("DROVER_UPDATE_GOLDEN"):
        golden.write_text(actual, encoding="utf-8")
    assert actual == golden.read_text(encoding="utf-8")


# --- shorthand forms ----------------------------------------------------------------------------------------


def test_cluster_as_breed_name_and_services_shorthands():
    model = blueprint("name: b\nclusters:\n  one: sava:1.0\n  two:\n    services: other\n  three:\n    services: {breed: third}\n"
                      "  four: [fourth, {breed: fifth}]\n  five:\n    breed: sixth\n    scale: large\n")
    breeds = [[service.breed for service in cluster.services] for cluster in model.clusters]
    assert [[(b.kind, b.name) for b in row] for row in breeds] == [
        [("breed", "sava:1.0")], [("breed", "other")], [("breed", "third")], [("breed", "fourth"), ("breed", "fifth")], [("breed", "sixth")]]
    assert all(isinstance(b, Reference) for row in breeds for b in row)
    assert model.clusters[4].services[0].scale == Reference("scale", "large", model.clusters[4].services[0].scale.origin)


def test_breed_reference_forms():
    model = blueprint("name: b\nclusters:\n  a: {breed: {ref: x}}\n  b: {breed: {reference: y}}\n  c: {services: [{ref: z}]}\n")
    assert [(c.services[0].breed.kind, c.services[0].breed.name) for c in model.clusters] == [("breed", "x"), ("breed", "y"), ("breed", "z")]


def test_inline_breed_with_ports_env_and_dependencies():
    breed = read_artifact("breed", "name: app\ndeployable: {type: container/docker, definition: img/app:1}\nports:\n  web: 8080/http\n"
                                   "  admin: 9000\n  db: 5432/tcp\nenv:\n  A: 1\n  B[BEE]: true\n  C: ~\ndependencies:\n"
                                   "  cache: redis\n  db: {breed: {ref: postgres}}\n  queue: {name: mq, deployable: img/mq}\n")
    assert (breed.deployable, breed.deployable_type) == ("img/app:1", "container/docker")
    assert [(p.name, p.number, p.protocol, p.written) for p in breed.ports] == [
        ("web", 8080, "http", "8080/http"), ("admin", 9000, "http", "9000"), ("db", 5432, "tcp", "5432/tcp")]
    assert breed.environment_variables == {"A": "1", "B": "true", "C": None} and breed.env_aliases == {"B": "BEE"}
    assert breed.dependencies["cache"] == Reference("breed", "redis", breed.dependencies["cache"].origin)
    assert breed.dependencies["db"].name == "postgres" and isinstance(breed.dependencies["queue"], Breed)
    assert breed.port("admin").value == "9000/http" and breed.port(None) is None


def test_route_forms_weight_percent_condition_strength_and_references():
    model = blueprint("name: b\nclusters:\n  c:\n    gateways:\n      routes:\n        s1: {weight: 90%, condition: user-agent = Chrome}\n"
                      "        s2: {weight: 10 %, condition_strength: 25%, condition: {ref: mobile}}\n        s3: named-route\n"
                      "        s4:\n    services: [s1, s2, s3, s4]\n")
    routes = model.clusters[0].gateways[0].routes
    assert [(r.path, r.target_kind, r.weight, r.condition_strength) for r in routes] == [
        ("s1", SERVICE_TARGET, 90.0, None), ("s2", SERVICE_TARGET, 10.0, 25.0), ("s3", SERVICE_TARGET, None, None), ("s4", SERVICE_TARGET, None, None)]
    assert routes[0].condition == Condition("user-agent = Chrome", origin=routes[0].condition.origin)
    assert routes[1].condition.kind == "condition" and routes[1].condition.name == "mobile"
    assert routes[2].reference.name == "named-route" and routes[3].reference is None


def test_blueprint_gateway_forms():
    model = blueprint("name: b\ngateways:\n  9050/http: c/web\n  9060/tcp:\n    routes: [c/admin]\n  entry:\n    port: 8080\n"
                      "    routes:\n      - c/web: {weight: 60%}\n      - \"[10.0.0.1:80]\"\nclusters:\n  c: x\n")
    summary = [(g.name, g.port.number, g.port.protocol, g.port.written, [(r.path, r.target_kind, r.weight) for r in g.routes]) for g in model.gateways]
    assert summary == [
        ("9050", 9050, "http", "9050/http", [("c/web", CLUSTER_TARGET, None)]),
        ("9060", 9060, "tcp", "9060/tcp", [("c/admin", CLUSTER_TARGET, None)]),
        ("entry", 8080, "http", "8080", [("c/web", CLUSTER_TARGET, 60.0), ("[10.0.0.1:80]", EXTERNAL_TARGET, None)]),
    ]
    # the route given as the gateway's value still gets a route path
    assert model.gateways[0].routes[0].origin.path == "gateways.9050/http.routes[c/web]"


def test_cluster_gateway_anonymous_port_takes_the_only_breed_port():
    model = blueprint("name: b\nclusters:\n  c:\n    gateways: {routes: {s: {weight: 100}}}\n    breed: {name: s, deployable: i, ports: {db: 5432/tcp}}\n")
    gateway = model.clusters[0].gateways[0]
    assert (gateway.name, gateway.port.name, gateway.port.number, gateway.port.protocol) == ("c/db", "db", None, "tcp")


def test_cluster_gateway_anonymous_port_stays_unnamed_while_breed_is_a_reference():
    gateway = blueprint("name: b\nclusters:\n  c:\n    gateways: {sticky: route}\n    breed: s\n").clusters[0].gateways[0]
    assert (gateway.name, gateway.port.name, gateway.sticky) == ("c", "", "route")


def test_sla_escalations_two_or_more_wrap_into_one_to_all():
    sla = read_artifact("sla", "name: s\ntype: response_time_sliding_window\nthreshold: {upper: 1s, lower: 100}\nwindow: {interval: 1m, cooldown: 30}\n"
                               "escalations:\n  - notify\n  - {type: scale_cpu, minimum: 0.5, maximum: 2, scale_by: 0.5, target: web}\n")
    assert (sla.upper_ms, sla.lower_ms, sla.interval_s, sla.cooldown_s) == (1000.0, 100.0, 60.0, 30.0)
    (group,) = sla.escalations
    assert group.type == "to_all" and group.is_group
    assert group.escalations[0] == Reference("escalation", "notify", group.escalations[0].origin)
    assert (group.escalations[1].type, group.escalations[1].maximum, group.escalations[1].target) == ("scale_cpu", 2.0, "web")


def test_single_escalation_stays_alone_and_groups_nest():
    sla = read_artifact("sla", "name: s\ntype: custom\nquantile: 95\nescalations:\n  to_one:\n    escalations:\n      - {type: scale_instances, "
                               "minimum: 1, maximum: 5, scale_by: 1}\n      - to_all: [a, b]\n")
    assert sla.parameters == {"quantile": 95}
    (group,) = sla.escalations
    assert group.type == "to_one" and [member.type if isinstance(member, Escalation) else member.name for member in group.escalations] == [
        "scale_instances", "to_all"]
    assert [member.name for member in group.escalations[1].escalations] == ["a", "b"]


def test_sla_reference_keeps_its_own_escalations():
    model = blueprint("name: b\nclusters:\n  c:\n    breed: x\n    sla: {ref: fast, escalations: [more]}\n")
    sla = model.clusters[0].sla
    assert isinstance(sla, SlaReference) and sla.name == "fast" and [e.name for e in sla.escalations] == ["more"]
    assert isinstance(blueprint("name: b\nclusters:\n  c:\n    breed: x\n    sla: slow\n").clusters[0].sla, SlaReference)


def test_health_checks_defaults_and_single_mapping():
    breed = read_artifact("breed", "name: a\ndeployable: i\nports: {web: 80}\nhealth_checks: {port: web, initial_delay: 1m, timeout: 100ms}\n")
    (check,) = breed.health_checks
    assert (check.path, check.port, check.protocol, check.initial_delay, check.timeout, check.interval, check.failures) == (
        "/", "web", "http", 60.0, 0.1, 5.0, 3)


def test_runtime_only_fields_are_ignored_with_a_warning():
    artifacts = load_text("name: x\ndeployable: i\narguments: [{privileged: true}]\n---\nname: b\nclusters:\n  c:\n    network: big\n"
                          "    dialects: {docker: {a: b}}\n    services:\n      - breed: x\n        network: fox\n", "runtime.yml")
    warnings = sorted((w.origin.path, w.origin.line, w.code) for w in artifacts.warnings)
    assert warnings == [("arguments", 3, "Ignored"), ("clusters.c.dialects", 9, "Ignored"), ("clusters.c.network", 8, "Ignored"),
                        ("clusters.c.services[0].network", 12, "Ignored")]
    assert all("runtime-only" in w.message for w in artifacts.warnings)


# --- kinds ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, kind", [
    ("clusters: {}", "blueprint"), ("deployable: x", "breed"), ("port: 80\nroutes: {}", "gateway"), ("cpu: 1", "scale"),
    ("type: scale_cpu", "escalation"), ("to_all: []", "escalation"), ("type: t\nthreshold: {}", "sla"), ("condition: x", "condition"),
    ("weight: 5%", "route"), ("kind: Breeds", "breed"), ("kind: sla", "sla"),
])
def test_detect_kind(text, kind):
    assert detect_kind(ReadContext(), yaml.safe_load(text), Origin()) == kind


def test_detect_kind_reports_what_it_cannot_tell():
    ctx = ReadContext("x.yml")
    assert detect_kind(ctx, {"name": "alone"}, Origin("x.yml", 1, 1)) is None
    assert ctx.issues.issues[0].code == "UnknownArtifactKind" and "kind:" in ctx.issues.issues[0].allowed
    assert normalize_kind("GATEWAYS") == "gateway" and normalize_kind("nonsense") is None and normalize_kind(3) is None


def test_read_artifact_refuses_several_documents_and_unknown_kinds():
    with pytest.raises(DslError) as error:
        read_artifact("breed", "name: a\ndeployable: b\n---\nname: c\ndeployable: d\n")
    assert error.value.codes == ["InvalidDocumentCount"]
    with pytest.raises(DslError) as error:
        read_artifact("thing", "name: a\n")
    assert error.value.codes == ["UnknownArtifactKind"]


# --- resolution across documents, files and directories ----------------------------------------------------


def test_load_text_resolves_every_reference(sources):
    artifacts = load_paths([str(sources["sava.yml"])])
    cluster = artifacts.blueprints["sava"].clusters[0]
    assert cluster.services[0].breed is artifacts.breeds["sava:1.0.0"]
    assert cluster.services[1].scale is artifacts.scales["small"]
    canary = cluster.gateways[0].routes[1]
    assert (canary.name, canary.weight, canary.condition_strength, canary.reference) == ("canary-10", 10.0, 50.0, None)
    assert canary.condition is artifacts.conditions["firefox"]
    # the SLA reference brings its own escalations: a copy of the named SLA with them
    sla = cluster.sla
    assert isinstance(sla, Sla) and sla is not artifacts.slas["fast"] and sla.upper_ms == 1000.0
    assert sla.escalations[0].escalations[0] is artifacts.escalations["more"]
    assert artifacts.slas["fast"].escalations == [artifacts.escalations["more"]]
    assert not _references(artifacts)


def _references(value, seen=None) -> list:
    """Every Reference reachable from a model value."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, Reference):
        return [value]
    if dataclasses.is_dataclass(value):
        return [ref for field in dataclasses.fields(value) if field.name != "origin" for ref in _references(getattr(value, field.name), seen)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item, seen)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item, seen)]
    return []


def test_load_paths_reads_directories_recursively_in_sorted_order():
    artifacts = load_paths([str(DATA / "tree")])
    assert list(artifacts.breeds) == ["frontend"] and list(artifacts.blueprints) == ["shop"] and list(artifacts.gateways) == ["shop-entry"]
    entry = artifacts.gateways["shop-entry"].routes[0]
    assert (entry.target_blueprint, entry.target_cluster, entry.target_port) == ("shop", "web", "http")
    route = artifacts.blueprints["shop"].gateways[0].routes[0]
    assert (route.path, route.target_cluster, route.target_port) == ("web", "web", "http")
    assert artifacts.breeds["frontend"].origin.file.endswith("tree/a-breed.yaml")


def test_a_file_named_twice_is_read_once_and_hidden_directories_are_left_out(tmp_path, monkeypatch):
    """`drover validate . a.yml` and `./a.yml a.yml` name one file: not a gateway defined twice. A directory walk
    leaves out .git, .venv and other hidden entries (a virtualenv holds YAML files of its own)."""
    (tmp_path / "a.yml").write_text("name: g1\nport: 9000/http\nroutes: ['[127.0.0.1:1]']\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "tool.yml").write_text("not: [an artifact\n")
    (tmp_path / ".#a.yml").write_text("name: g1\nport: 9001/http\n")
    monkeypatch.chdir(tmp_path)
    for paths in ([".", "a.yml"], ["./a.yml", "a.yml"], [str(tmp_path), "a.yml"]):
        assert list(load_paths(paths).gateways) == ["g1"], paths


def test_standalone_gateway_with_external_targets_needs_no_blueprint():
    artifacts = load_paths([str(DATA / "external.yml")])
    gateway = artifacts.gateways["outside"]
    assert not artifacts.blueprints and [route.external_address for route in gateway.routes] == [("10.0.0.5", 8080), ("backup.example.com", 80)]


def test_inline_breed_can_be_referred_to_by_name():
    artifacts = load_text("name: b\nclusters:\n  front:\n    breed:\n      name: f\n      deployable: i\n      dependencies: {api: back}\n"
                          "  back:\n    breed: {name: back, deployable: j}\n")
    front, back = artifacts.blueprints["b"].clusters
    assert front.services[0].breed.dependencies["api"] is back.services[0].breed


def test_standalone_gateway_route_to_cluster_name_alone_and_ambiguity():
    base = "name: {bp}\nclusters:\n  web: {{breed: {{name: '{bp}-w', deployable: i, ports: {{http: 80}}}}}}\n---\n"
    artifacts = load_text(base.format(bp="one") + "name: g\nport: 81\nroutes: web\n")
    route = artifacts.gateways["g"].routes[0]
    assert (route.target_blueprint, route.target_cluster, route.target_port) == ("one", "web", "http")
    with pytest.raises(DslError) as error:
        load_text(base.format(bp="one") + base.format(bp="two") + "name: g\nport: 81\nroutes: web/http\n")
    assert error.value.codes == ["AmbiguousRouteError"] and "one/web/http, two/web/http" in error.value.issues[0].allowed
    chosen = load_text(base.format(bp="one") + base.format(bp="two") + "name: g\nport: 81\nroutes: two/web/http\n")
    assert chosen.gateways["g"].routes[0].target_blueprint == "two"


def test_load_paths_reports_missing_files_and_keeps_reading():
    with pytest.raises(DslError) as error:
        load_paths([str(DATA / "missing.yml"), str(DATA / "external.yml")])
    assert error.value.codes == ["FileError"] and error.value.issues[0].origin.file.endswith("missing.yml")


def test_every_file_is_read_even_after_a_syntax_error(tmp_path):
    (tmp_path / "a.yml").write_text("name: [\n", encoding="utf-8")
    (tmp_path / "b.yml").write_text("name: x\ndeployable: i\nports: {web: 99999}\n", encoding="utf-8")
    with pytest.raises(DslError) as error:
        load_paths([str(tmp_path)])
    assert [(Path(i.origin.file).name, i.code) for i in error.value.issues] == [("a.yml", "YamlSyntaxError"), ("b.yml", "InvalidValue")]


def test_scale_and_escalation_documents():
    artifacts = load_text("kind: scales\nname: big\ncpu: 2\nmemory: 1.5GB\ninstances: 4\n---\nkind: escalations\nname: grow\n"
                          "type: to_one\nescalations: [{type: scale_memory, minimum: 128, maximum: 1024, scale_by: 128}]\n")
    assert artifacts.scales["big"] == Scale(2.0, 1500.0, 4, "big", artifacts.scales["big"].origin)
    assert artifacts.escalations["grow"].escalations[0].type == "scale_memory"


def test_metadata_selectors_and_gateway_service_are_kept():
    gateway = read_artifact("gateway", "name: g\nport: 80\nselector: label(tier)(web)\nmetadata: {team: a}\nservice: {host: 10.0.0.1, port: 31000/tcp}\n"
                                       "routes:\n  web: {selector: image(web:.*)}\n")
    assert (gateway.selector, gateway.metadata, gateway.service.host, gateway.service.port.protocol) == ("label(tier)(web)", {"team": "a"}, "10.0.0.1", "tcp")
    assert gateway.routes[0].selector == "image(web:.*)"
    assert isinstance(gateway, Gateway)


def test_a_key_given_twice_is_read_as_vamp_does_with_a_warning_at_the_later_one():
    text = ("name: dk\ngateways: {9600/http: c/web}\nclusters:\n"
            "  c: {breed: {name: c:1, deployable: e/c:1, ports: {web: 80/http}}}\n"
            "  c: {breed: {name: c:2, deployable: e/c:2, ports: {web: 80/http}}}\n")
    artifacts = load_text(text, "dk.yml")
    assert [service.breed.name for service in artifacts.blueprints["dk"].clusters[0].services] == ["c:2"]
    [warning] = artifacts.warnings
    assert (warning.origin.file, warning.origin.line, warning.origin.column, warning.origin.path) == ("dk.yml", 5, 3, "clusters.c")
    assert warning.code == "DuplicateKey" and "first at line 4" in warning.message


def test_a_yaml_syntax_error_in_a_later_document_does_not_hide_the_errors_of_the_ones_before():
    with pytest.raises(DslError) as caught:
        load_text("name: g\nport: 9100/http\nroutes:\n  '[h:1]': {weight: 30%}\n---\nname: [broken\n", "two.yml")
    assert [issue.code for issue in caught.value.issues] == ["YamlSyntaxError", "GatewayRouteWeightError"]


@pytest.mark.parametrize("escalation_type", KNOWN_ESCALATIONS)
def test_a_document_of_each_known_escalation_type_is_an_escalation(escalation_type):
    # the reader tells an escalation document by reader_sla's one list of types
    assert detect_kind(ReadContext(), {"name": "e", "type": escalation_type}, Origin()) == "escalation"
