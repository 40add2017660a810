# -*- coding: utf-8 -*-
"""VAMP's reader specs (expectations.yaml of the shared corpus) against drover's reader.

For every in-scope entry (`scope: core`), `read_artifact` reads VAMP's own test file. A `reject` entry agrees when
drover rejects it with VAMP's error class among the issue codes (drover reports every issue, not only the first);
an `accept` entry agrees when drover accepts it and the model, turned into the corpus's facts schema by
`to_facts`, has the facts VAMP's spec asserts. `vamp-runtime` entries are reported separately and not counted.

`read_artifact` applies VAMP's reader rules. load_text/load_paths add HAProxy rules (balance algorithms, external
addresses, condition syntax, ...); the report also shows where those make drover stricter than VAMP, for
information (docs/vamp-compatibility.md explains each difference).
"""

from __future__ import annotations

from pathlib import Path


from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    Blueprint, Breed, Cluster, Condition, Escalation, Gateway, HealthCheck, Port, Reference, Route, Scale, Service, Sla, SlaReference)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import read_artifact

REQUIRED_AGREEMENT = 0.90
# {corpus file: why drover deliberately reads it differently}; each is xfail(strict=True) and documented in
# docs/vamp-compatibility.md
KNOWN_DISAGREEMENTS: dict[str, str] = {}


# --- the model as the corpus's facts --------------------------------------------------------------------------------

def _percent(value):
    return None if value is None else f"{value:g}%"


def _port(port: Port) -> dict:
    return {"name": port.name, "value": port.written if port.number is not None else None, "number": port.number or 0, "type": port.protocol}


def _named_values(values: dict, aliases: dict | None = None) -> list:
    facts = []
    for name, value in values.items():
        item = {"name": name, "value": value}
        if aliases and name in aliases:
            item["alias"] = aliases[name]
        facts.append(item)
    return facts


def _breed(breed) -> dict:
    if isinstance(breed, Reference):
        return {"ref": breed.name}
    deployable = breed.deployable if breed.deployable_type is None else {"type": breed.deployable_type, "definition": breed.deployable}
    return {
        "name": breed.name,
        "deployable": deployable,
        "ports": [{"name": port.name, "value": port.written} for port in breed.ports],
        "environment_variables": _named_values(breed.environment_variables, breed.env_aliases),
        "constants": _named_values(breed.constants),
        "dependencies": {key: _breed_or_inline(dependency) for key, dependency in breed.dependencies.items()},
        "health_checks": [_health_check(check) for check in breed.health_checks],
    }


def _breed_or_inline(breed) -> dict:
    return _breed(breed) if isinstance(breed, Reference) else {"inline": _breed(breed)}


def _health_check(check: HealthCheck) -> dict:
    return {"path": check.path, "port": check.port, "initial_delay_s": check.initial_delay, "timeout_s": check.timeout,
            "interval_s": check.interval, "failures": check.failures, "protocol": check.protocol.upper()}


def _scale(scale) -> dict | None:
    if scale is None:
        return None
    if isinstance(scale, Reference):
        return {"ref": scale.name}
    return {"cpu": scale.cpu, "memory_mb": scale.memory_mb, "instances": scale.instances}


def _escalation(escalation) -> dict:
    if isinstance(escalation, Reference):
        return {"ref": escalation.name}
    if escalation.is_group:
        return {escalation.type: [_escalation(member) for member in escalation.escalations]}
    if escalation.type in ("scale_instances", "scale_cpu", "scale_memory"):
        facts = {"type": escalation.type, "minimum": escalation.minimum, "maximum": escalation.maximum, "scale_by": escalation.scale_by}
        if escalation.target is not None:
            facts["target"] = escalation.target
        return facts
    return {"type": escalation.type, "parameters": dict(escalation.parameters)}


def _sla(sla) -> dict | None:
    if sla is None:
        return None
    escalations = [_escalation(escalation) for escalation in sla.escalations]
    if isinstance(sla, SlaReference):
        return {"ref": sla.name, "escalations": escalations}
    if isinstance(sla, Reference):
        return {"ref": sla.name, "escalations": []}
    facts = {"name": sla.name} if sla.name else {}
    if sla.type == "response_time_sliding_window":
        facts.update(typed_as=sla.type, upper_ms=sla.upper_ms, lower_ms=sla.lower_ms, interval_s=sla.interval_s, cooldown_s=sla.cooldown_s)
    else:
        facts.update(type=sla.type, parameters=dict(sla.parameters))
    facts["escalations"] = escalations
    return facts


def _condition(condition):
    if condition is None:
        return None
    if isinstance(condition, Reference):
        return {"ref": condition.name}
    return condition.definition


def _route(route: Route) -> dict:
    if route.reference is not None:
        return {"ref": route.reference.name, "path": route.path}
    return {
        "path": route.path,
        "weight": _percent(route.weight),
        "condition": _condition(route.condition),
        "condition_strength": _percent(route.condition_strength),
        "rewrites": [{"path": rewrite.path, "condition": rewrite.condition} for rewrite in route.rewrites],
        "balance": route.balance,
        "selector": route.selector,
    }


def _gateway(gateway: Gateway, standalone: bool = False) -> dict:
    facts = {"name": gateway.name} if standalone else {}
    facts.update(
        port=_port(gateway.port),
        sticky=gateway.sticky,
        virtual_hosts=list(gateway.virtual_hosts),
        routes=[_route(route) for route in gateway.routes],
        selector=gateway.selector,
        metadata=dict(gateway.metadata),
        service={"host": gateway.service.host, "port": _port(gateway.service.port)} if gateway.service else None,
    )
    return facts


def _service(service: Service) -> dict:
    return {
        "breed": _breed_or_inline(service.breed),
        "scale": _scale(service.scale),
        "environment_variables": _named_values(service.environment_variables),
        "health_checks": [_health_check(check) for check in service.health_checks or []],
    }


def _cluster(cluster: Cluster) -> dict:
    return {
        "name": cluster.name,
        "services": [_service(service) for service in cluster.services],
        "gateways": [_gateway(gateway) for gateway in cluster.gateways],
        "sla": _sla(cluster.sla),
        "health_checks": [_health_check(check) for check in cluster.health_checks or []],
    }


def to_facts(model) -> dict:
    """The corpus's facts schema (see its README, "How facts are written") for a model read by read_artifact."""
    if isinstance(model, Breed):
        return _breed(model)
    if isinstance(model, Blueprint):
        return {
            "name": model.name,
            "clusters": [_cluster(cluster) for cluster in model.clusters],
            "gateways": [_gateway(gateway) for gateway in model.gateways],
            "environment_variables": _named_values(model.environment_variables),
            "metadata": dict(model.metadata),
        }
    if isinstance(model, Gateway):
        return _gateway(model, standalone=True)
    if isinstance(model, (Sla, SlaReference)):
        return _sla(model)
    if isinstance(model, (Escalation, Reference)):
        return _escalation(model)
    if isinstance(model, Scale):
        return _scale(model)
    if isinstance(model, Condition):
        return {"name": model.name, "condition": model.definition}
    raise TypeError(f"no facts for {type(model).__name__}")


def _empty(value) -> bool:
    return value is None or value == [] or value == {} or value == ""


def fact_differences(expected, actual, path: str = "") -> list[str]:
    """Where `actual` differs from `expected`; a key absent from `expected` must be empty in `actual`."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '<root>'}: expected a mapping, got {actual!r}"]
        differences = []
        for key, value in expected.items():
            differences += fact_differences(value, actual.get(key), f"{path}.{key}" if path else str(key))
        for key, value in actual.items():
            if key not in expected and not _empty(value):
                differences.append(f"{f'{path}.{key}' if path else key}: expected empty (absent from the facts), got {value!r}")
        return differences
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        differences = []
        for index, (item, other) in enumerate(zip(expected, actual)):
            differences += fact_differences(item, other, f"{path}[{index}]")
        return differences
    if isinstance(expected, bool) or isinstance(actual, bool):
        return [] if expected is actual else [f"{path}: expected {expected!r}, got {actual!r}"]
    numbers = (int, float)
    if isinstance(expected, numbers) and not isinstance(expected, bool) and isinstance(actual, numbers) and not isinstance(actual, bool):
        return [] if abs(expected - actual) < 1e-9 else [f"{path}: expected {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


# --- one entry --------------------------------------------------------------------------------------------------

def evaluate(corpus: Path, entry: dict, strict: bool = False) -> tuple[bool, str]:
    """(agrees, explanation) for one expectations.yaml entry."""
    source = (corpus / entry["file"]).read_text(encoding="utf-8")
    try:
        model = read_artifact(entry["kind"], source, entry["file"], strict=strict)
    except DslError as exc:
        if entry["expect"] == "accept":
            return False, "VAMP accepts, drover rejects: " + "; ".join(str(issue) for issue in exc.issues)
        if entry["error"] in exc.codes:
            return True, f"rejected with {entry['error']}"
        return False, f"VAMP rejects with {entry['error']}, drover with {exc.codes}: " + "; ".join(str(issue) for issue in exc.issues)
    if entry["expect"] == "reject":
        return False, f"VAMP rejects with {entry['error']}, drover accepts"
    differences = fact_differences(entry["facts"], to_facts(model))
    if differences:
        return False, "facts differ: " + "; ".join(differences)
    return True, "accepted with the same facts"


def test_vamp_reader_entry(vamp_corpus, vamp_entry):
    agrees, why = evaluate(vamp_corpus, vamp_entry)
    assert agrees, f"{vamp_entry['file']} ({vamp_entry['test']}): {why}"


def test_vamp_reader_agreement(vamp_corpus, vamp_expectations, capsys):
    """At least 90% agreement on in-scope entries; prints the report."""
    entries = vamp_expectations["entries"]
    core = [entry for entry in entries if entry["scope"] == "core"]
    runtime = [entry for entry in entries if entry["scope"] != "core"]
    results = {entry["file"]: evaluate(vamp_corpus, entry) for entry in core}
    agreed = sum(1 for agrees, _why in results.values() if agrees)
    runtime_results = {entry["file"]: evaluate(vamp_corpus, entry) for entry in runtime}
    strict_results = {entry["file"]: evaluate(vamp_corpus, entry, strict=True) for entry in core}
    lines = [f"VAMP reader conformance: {agreed}/{len(core)} in-scope entries agree ({100.0 * agreed / len(core):.1f}%)"]
    lines += [f"  DISAGREES {name}: {why}" for name, (agrees, why) in results.items() if not agrees]
    runtime_agreed = sum(1 for agrees, _why in runtime_results.values() if agrees)
    lines.append(f"vamp-runtime entries (not counted): {runtime_agreed}/{len(runtime)} agree")
    lines += [f"  runtime {name}: {why}" for name, (agrees, why) in runtime_results.items() if not agrees]
    stricter = [name for name, (agrees, _why) in strict_results.items() if not agrees and results[name][0]]
    lines.append(f"with load_*'s HAProxy rules (information): {len(core) - len(stricter) - (len(core) - agreed)}/{len(core)} agree")
    lines += [f"  stricter {name}: {strict_results[name][1]}" for name in stricter]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    unexpected = sorted(name for name, (agrees, _why) in results.items() if not agrees and name not in KNOWN_DISAGREEMENTS)
    assert not unexpected, f"disagreements not listed in KNOWN_DISAGREEMENTS and docs/vamp-compatibility.md: {unexpected}"
    assert agreed / len(core) >= REQUIRED_AGREEMENT, "\n".join(lines)


def test_fact_comparison_detects_differences():
    """The comparison the agreement rests on: absent keys must be empty, values and lengths must match."""
    expected = {"name": "a", "routes": [{"path": "x", "weight": "50%"}], "memory_mb": 120.0}
    assert fact_differences(expected, {"name": "a", "routes": [{"path": "x", "weight": "50%", "balance": None}], "memory_mb": 120, "sla": None}) == []
    assert fact_differences(expected, {"name": "a", "routes": [{"path": "x", "weight": "40%"}], "memory_mb": 120.0}) == [
        "routes[0].weight: expected '50%', got '40%'"]
    assert fact_differences(expected, {"name": "a", "routes": [], "memory_mb": 120.0}) == ["routes: expected [{'path': 'x', 'weight': '50%'}], got []"]
    assert fact_differences({"a": 1}, {"a": 1, "extra": ["set"]}) == ["extra: expected empty (absent from the facts), got ['set']"]
    assert fact_differences({"flag": True}, {"flag": 1}) == ["flag: expected True, got 1"]
