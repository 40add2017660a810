# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads breeds (name, deployable, ports, environment variables, constants, dependencies) and health checks."""

from __future__ import annotations

import re

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Breed, HealthCheck, Port, Reference
from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import parse_duration_s, parse_number, parse_port
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import REFERENCE_KEYS, ReadContext, kind_of
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import strict_name_problem
from ansible_collections.drover.fleet.plugins.module_utils.dsl.yaml_loader import java_text

BREED_KEYS = frozenset(("name", "kind", "metadata", "deployable", "ports", "environment_variables", "env", "constants",
                        "dependencies", "health_checks"))
HEALTH_CHECK_KEYS = frozenset(("path", "port", "protocol", "initial_delay", "interval", "timeout", "failures"))
HEALTH_CHECK_PROTOCOLS = ("http", "https")
# `name[ALIAS]`: the variable is known as `name` in the DSL and exported to the container as ALIAS
_ALIASED = re.compile(r"(.*)\[(.*)\]")


def read_breed_or_reference(ctx: ReadContext, value, origin: Origin) -> Breed | Reference | None:
    """A breed given by name, `{ref: name}` or inline."""
    found = ctx.reference_or_map(value, origin, "breed")
    if isinstance(found, dict):
        return read_breed(ctx, found, origin)
    return found


def read_breed(ctx: ReadContext, mapping: dict, origin: Origin) -> Breed | None:
    ctx.check_keys(mapping, origin, BREED_KEYS)
    name = None
    if "name" in mapping:
        name = ctx.field_name(mapping, "name", origin, "breed name")
    else:
        ctx.missing(mapping, "name", origin, "a breed needs a name", "name: <breed name>")
    deployable, deployable_type = _read_deployable(ctx, mapping, origin)
    breed = Breed(name or "", deployable or "", deployable_type, origin=origin)
    ctx.remember(breed, mapping)
    # each part is read only when written: most breeds have few of them, and origins cost time
    if mapping.get("ports") is not None:
        errors_before = ctx.errors_so_far()
        breed.ports = _read_ports(ctx, mapping["ports"], ctx.at(origin, mapping, "ports"))
        # a port that did not read is unknown, not missing: it is not reported again as "no such port"
        ctx.mark_incomplete_since(breed, errors_before)
    env_key = "environment_variables" if "environment_variables" in mapping else "env"
    if mapping.get(env_key) is not None:
        breed.environment_variables, breed.env_aliases = read_environment(ctx, mapping[env_key], ctx.at(origin, mapping, env_key))
    if mapping.get("constants") is not None:
        breed.constants = _read_constants(ctx, mapping["constants"], ctx.at(origin, mapping, "constants"))
    if mapping.get("dependencies") is not None:
        breed.dependencies = _read_dependencies(ctx, mapping["dependencies"], ctx.at(origin, mapping, "dependencies"))
    if mapping.get("health_checks") is not None:
        breed.health_checks = read_health_checks(ctx, mapping["health_checks"], ctx.at(origin, mapping, "health_checks"))
    return breed


def _read_deployable(ctx: ReadContext, mapping: dict, origin: Origin) -> tuple[str | None, str | None]:
    value = mapping.get("deployable")
    if isinstance(value, str):
        return value, None
    if value is None:
        ctx.missing(mapping, "deployable", origin, "a breed needs a deployable", "deployable: <image>, or {type, definition}")
        return None, None
    where = ctx.at(origin, mapping, "deployable")
    if isinstance(value, dict):
        ctx.check_keys(value, where, ("type", "definition"))
        definition = ctx.text(value, "definition", where, required=True, what="the image or artifact to deploy")
        return definition, ctx.text(value, "type", where)
    if isinstance(value, list):
        ctx.error(where, "deployable must be text or {type, definition}", "InvalidType", kind_of(value), "deployable: <image>")
        return None, None
    return java_text(value), None


def _read_ports(ctx: ReadContext, value, origin: Origin) -> list[Port]:
    if value is None:
        return []
    mapping = ctx.mapping(value, origin, "ports")
    if mapping is None:
        return []
    ports = []
    for name, raw in mapping.items():
        where = ctx.at(origin, mapping, name)
        problem = strict_name_problem(name)
        if problem:
            ctx.error(ctx.key_at(origin, mapping, name), "illegal port name", "IllegalStrictName", name, problem)
            continue
        port = read_port_value(ctx, name, raw, where)
        if port is not None:
            ports.append(port)
    return ports


def read_port_value(ctx: ReadContext, name: str, raw, origin: Origin) -> Port | None:
    """A named port such as `web: 8080/http`."""
    if raw is None:
        ctx.error(origin, f"port '{name}' has no value", "MissingPortValueError", None, "a port number, optionally with /http or /tcp")
        return None
    if isinstance(raw, str) and raw.strip().startswith("$"):
        ctx.error(origin, f"port '{name}' refers to a value of another breed, which is not supported", "UnsupportedTraitReference",
                  raw, "a port number, optionally with /http or /tcp")
        return None
    parsed = ctx.quantity(parse_port, raw, origin, f"port '{name}'")
    if parsed is None:
        return None
    return Port(name, parsed.number, parsed.protocol, origin, java_text(raw))


def read_environment(ctx: ReadContext, value, origin: Origin) -> tuple[dict, dict]:
    """Environment variables as (name -> value, name -> alias). A value may be empty (None)."""
    if value is None:
        return {}, {}
    mapping = ctx.mapping(value, origin, "environment variables")
    if mapping is None:
        return {}, {}
    variables: dict = {}
    aliases: dict = {}
    for key, raw in mapping.items():
        name, alias = _split_alias(ctx, key, ctx.key_at(origin, mapping, key))
        if name is None:
            continue
        if isinstance(raw, (dict, list)):
            ctx.error(ctx.at(origin, mapping, key), f"environment variable '{name}' must be a single value", "InvalidType",
                      kind_of(raw), "text or a number")
            continue
        variables[name] = None if raw is None else java_text(raw)
        if alias:
            aliases[name] = alias
    return variables, aliases


def _split_alias(ctx: ReadContext, key: str, origin: Origin) -> tuple[str | None, str | None]:
    match = _ALIASED.fullmatch(key)
    name, alias = (match.group(1), match.group(2)) if match else (key, None)
    if match and not alias:
        ctx.error(origin, "illegal environment variable name: empty alias", "IllegalName", key, "name or name[ALIAS]")
        return None, None
    if ctx.name(name, origin, "environment variable name") is None:
        return None, None
    if alias is not None and ctx.name(alias, origin, "environment variable alias") is None:
        return None, None
    return name, alias


def _read_constants(ctx: ReadContext, value, origin: Origin) -> dict:
    if value is None:
        return {}
    mapping = ctx.mapping(value, origin, "constants")
    if mapping is None:
        return {}
    constants = {}
    for key, raw in mapping.items():
        name, _alias = _split_alias(ctx, key, ctx.key_at(origin, mapping, key))
        if name is None:
            continue
        if raw is None or isinstance(raw, (dict, list)):
            ctx.error(ctx.at(origin, mapping, key), f"constant '{name}' has no value", "MissingConstantValueError", kind_of(raw),
                      "text or a number")
            continue
        constants[name] = java_text(raw)
    return constants


def _read_dependencies(ctx: ReadContext, value, origin: Origin) -> dict:
    """Dependencies: `db: mysql`, `db: {ref: mysql}`, `db: {breed: mysql}`, `db: {breed: {...}}` or an inline breed."""
    if value is None:
        return {}
    mapping = ctx.mapping(value, origin, "dependencies")
    if mapping is None:
        return {}
    dependencies = {}
    for key, raw in mapping.items():
        where = ctx.at(origin, mapping, key)
        if ctx.name(key, ctx.key_at(origin, mapping, key), "dependency name") is None:
            continue
        if isinstance(raw, dict) and "breed" in raw and not any(ref in raw for ref in REFERENCE_KEYS):
            ctx.check_keys(raw, where, ("breed",))
            where = ctx.at(where, raw, "breed")
            raw = raw["breed"]
        breed = read_breed_or_reference(ctx, raw, where)
        if breed is not None:
            dependencies[key] = breed
    return dependencies


def read_health_checks(ctx: ReadContext, value, origin: Origin) -> list[HealthCheck]:
    """One health check (a mapping) or a list of them."""
    checks = []
    for index, item in enumerate(ctx.items(value)):
        where = ctx.item_origin(origin, value, index)
        mapping = ctx.mapping(item, where, "a health check")
        if mapping is not None:
            checks.append(_read_health_check(ctx, mapping, where))
    return checks


def _read_health_check(ctx: ReadContext, mapping: dict, origin: Origin) -> HealthCheck:
    ctx.check_keys(mapping, origin, HEALTH_CHECK_KEYS)
    check = HealthCheck(origin=origin)
    ctx.remember(check, mapping)
    path = ctx.text(mapping, "path", origin)
    if path is not None:
        check.path = path
    check.port = ctx.text(mapping, "port", origin)
    protocol = ctx.text(mapping, "protocol", origin)
    if protocol is not None:
        if protocol.lower() in HEALTH_CHECK_PROTOCOLS:
            check.protocol = protocol.lower()
        else:
            ctx.error(ctx.at(origin, mapping, "protocol"), "unsupported health check protocol", "InvalidValue", protocol, "HTTP or HTTPS")
    for key, attribute in (("initial_delay", "initial_delay"), ("interval", "interval"), ("timeout", "timeout")):
        if mapping.get(key) is not None:
            seconds = ctx.quantity(parse_duration_s, mapping[key], ctx.at(origin, mapping, key), f"health check {key}")
            if seconds is not None:
                setattr(check, attribute, seconds)
    if mapping.get("failures") is not None:
        raw = mapping["failures"]
        where = ctx.at(origin, mapping, "failures")
        number = ctx.quantity(lambda v: parse_number(v, whole=True), raw, where, "health check failures")
        if number is not None and number < 0:
            ctx.error(where, "health check failures must not be negative", "NegativeFailuresNumberError", raw, "a whole number of at least 0")
        elif number is not None:
            check.failures = int(number)
    return check
