# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads blueprints: clusters, their services, cluster gateways and SLAs, and the blueprint's own gateways.

VAMP's shorthands are accepted: a cluster given as a breed name or as a list of services, `services` given as one
service or one breed name, `breed`/`scale` written straight under the cluster, and gateways written as
`9050/http: cluster/port`.
"""

from __future__ import annotations

import re

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET, SERVICE_TARGET, Blueprint, Cluster, Gateway, Port, Reference, Service)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import QuantityError, parse_port
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_breed import read_breed_or_reference, read_environment, read_health_checks
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import REFERENCE_KEYS, Described, ReadContext, kind_of
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_gateway import (
    GATEWAY_BODY_KEYS, read_gateway_body, read_numbered_port, read_routes)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_sla import read_scale_or_reference, read_sla_or_reference
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import name_problem, strict_name_problem

BLUEPRINT_KEYS = frozenset(("name", "kind", "metadata", "clusters", "gateways", "environment_variables", "env"))
SERVICE_KEYS = ("breed", "scale", "environment_variables", "env", "health_checks")
CLUSTER_KEYS = frozenset(("services", "gateways", "sla", "health_checks", "metadata"))


def read_blueprint(ctx: ReadContext, mapping: dict, origin: Origin) -> Blueprint:
    ctx.check_keys(mapping, origin, BLUEPRINT_KEYS)
    name = None
    if mapping.get("name") is None:
        ctx.missing(mapping, "name", origin, "a blueprint needs a name", "name: <blueprint name>")
    else:
        name = ctx.name(mapping["name"], ctx.at(origin, mapping, "name"), "blueprint name")
    blueprint = Blueprint(name or "", origin=origin)
    ctx.remember(blueprint, mapping)
    if mapping.get("metadata") is not None:
        blueprint.metadata = ctx.mapping(mapping["metadata"], ctx.at(origin, mapping, "metadata"), "metadata") or {}
    env_key = "environment_variables" if "environment_variables" in mapping else "env"
    if mapping.get(env_key) is not None:
        blueprint.environment_variables, _aliases = read_environment(ctx, mapping[env_key], ctx.at(origin, mapping, env_key))
    clusters = mapping.get("clusters")
    errors_before = ctx.errors_so_far()
    if clusters is not None:
        where = ctx.at(origin, mapping, "clusters")
        clusters = ctx.mapping(clusters, where, "clusters")
        for cluster_name, value in (clusters or {}).items():
            cluster = _read_cluster(ctx, cluster_name, value, ctx.at(where, clusters, cluster_name), where, clusters)
            if cluster is not None:
                blueprint.clusters.append(cluster)
    ctx.mark_incomplete_since(blueprint, errors_before)
    if mapping.get("gateways") is not None:
        blueprint.gateways = _read_blueprint_gateways(ctx, mapping["gateways"], ctx.at(origin, mapping, "gateways"))
    return blueprint


# --- clusters and services --------------------------------------------------------------------------------------

def _read_cluster(ctx: ReadContext, name: str, value, origin: Origin, parent: Origin, clusters: dict) -> Cluster | None:
    if name_problem(name) and ctx.name(name, ctx.key_at(parent, clusters, name), "cluster name") is None:
        return None
    cluster = Cluster(name, origin=origin)
    if not isinstance(value, dict):
        # `cluster: breed-name` or `cluster: [services]`
        cluster.services = _read_services(ctx, value, origin)
        return cluster
    ctx.remember(cluster, value)
    if "services" in value:
        ctx.check_keys(value, origin, CLUSTER_KEYS)
        cluster.services = _read_services(ctx, value["services"], ctx.at(origin, value, "services"))
    elif "breed" in value or any(key in value for key in REFERENCE_KEYS):
        # the one service written straight under the cluster
        ctx.check_keys(value, origin, CLUSTER_KEYS | set(SERVICE_KEYS) | set(REFERENCE_KEYS))
        service = _read_service_fields(ctx, value, origin, cluster_level=True)
        cluster.services = [service] if service is not None else []
    else:
        ctx.check_keys(value, origin, CLUSTER_KEYS)
    if "gateways" in value:
        cluster.gateways = _read_cluster_gateways(ctx, name, value["gateways"], ctx.at(origin, value, "gateways"))
    if value.get("sla") is not None:
        cluster.sla = read_sla_or_reference(ctx, value["sla"], ctx.at(origin, value, "sla"))
    if value.get("health_checks") is not None:
        cluster.health_checks = read_health_checks(ctx, value["health_checks"], ctx.at(origin, value, "health_checks"))
    return cluster


def _read_services(ctx: ReadContext, value, origin: Origin) -> list[Service]:
    if not ctx.items(value):
        # VAMP's NoServiceError is for a blueprint with no service at all; an empty cluster is refused on its own
        ctx.error(origin, "a cluster needs at least one service", "EmptyClusterError", kind_of(value) if value is None else Described("an empty list"),
                  "a breed name, an inline service {breed, scale, ...}, or a list of them")
        return []
    services = []
    for index, item in enumerate(ctx.items(value)):
        where = ctx.item_origin(origin, value, index)
        if isinstance(item, dict):
            ctx.check_keys(item, where, frozenset(SERVICE_KEYS) | set(REFERENCE_KEYS))
            service = _read_service_fields(ctx, item, where, cluster_level=False)
        else:
            breed = read_breed_or_reference(ctx, item, where)
            service = Service(breed, origin=where) if breed is not None else None
        if service is not None:
            services.append(service)
    return services


def _read_service_fields(ctx: ReadContext, mapping: dict, origin: Origin, cluster_level: bool) -> Service | None:
    if "breed" in mapping:
        breed = read_breed_or_reference(ctx, mapping["breed"], ctx.at(origin, mapping, "breed"))
    elif any(key in mapping for key in REFERENCE_KEYS):
        # `- ref: breed-name` as a service: the reference is the breed's
        key = next(key for key in REFERENCE_KEYS if key in mapping)
        name = ctx.name(mapping[key], ctx.at(origin, mapping, key), "breed reference")
        breed = Reference("breed", name, origin) if name else None
    else:
        ctx.missing(mapping, "breed", origin, "a service needs a breed", "breed: <name or inline breed>")
        return None
    if breed is None:
        return None
    service = Service(breed, origin=origin)
    ctx.remember(service, mapping)
    if mapping.get("scale") is not None:
        service.scale = read_scale_or_reference(ctx, mapping["scale"], ctx.at(origin, mapping, "scale"))
    env_key = "environment_variables" if "environment_variables" in mapping else "env"
    if mapping.get(env_key) is not None:
        service.environment_variables, _aliases = read_environment(ctx, mapping[env_key], ctx.at(origin, mapping, env_key))
    if not cluster_level and mapping.get("health_checks") is not None:
        service.health_checks = read_health_checks(ctx, mapping["health_checks"], ctx.at(origin, mapping, "health_checks"))
    return service


# --- gateways ---------------------------------------------------------------------------------------------------

def _read_cluster_gateways(ctx: ReadContext, cluster: str, value, origin: Origin) -> list[Gateway]:
    """`gateways: {sticky, routes}` (one gateway for the breeds' only port) or `gateways: {<port name>: {...}}`."""
    if value is None:
        return []
    mapping = ctx.mapping(value, origin, "cluster gateways")
    if mapping is None:
        return []
    if any(key in GATEWAY_BODY_KEYS for key in mapping):
        ctx.check_keys(mapping, origin, GATEWAY_BODY_KEYS)
        return [_cluster_gateway(ctx, cluster, "", mapping, origin)]
    gateways = []
    for port_name, body in mapping.items():
        where = ctx.at(origin, mapping, port_name)
        problem = strict_name_problem(port_name)
        if problem:
            ctx.error(ctx.key_at(origin, mapping, port_name), "illegal port name", "IllegalStrictName", port_name, problem)
            continue
        if isinstance(body, dict):
            ctx.check_keys(body, where, GATEWAY_BODY_KEYS)
            gateways.append(_cluster_gateway(ctx, cluster, port_name, body, where))
        else:
            # `web: sava:1.0.0` routes everything on port web to one service
            gateway = Gateway(f"{cluster}/{port_name}", Port(port_name, None, origin=where), origin=where)
            gateway.routes = read_routes(ctx, body, where.child("routes"), SERVICE_TARGET)
            gateways.append(gateway)
    return gateways


def _cluster_gateway(ctx: ReadContext, cluster: str, port_name: str, body: dict, origin: Origin) -> Gateway:
    gateway = Gateway(f"{cluster}/{port_name}" if port_name else cluster, Port(port_name, None, origin=origin), origin=origin)
    ctx.remember(gateway, body)
    read_gateway_body(ctx, gateway, body, origin, SERVICE_TARGET)
    return gateway


def _read_blueprint_gateways(ctx: ReadContext, value, origin: Origin) -> list[Gateway]:
    """`8080: cluster/port`, `8080/tcp: {routes, sticky, ...}` or `name: {port: 8080/http, routes, ...}`."""
    mapping = ctx.mapping(value, origin, "gateways")
    if mapping is None:
        return []
    gateways = []
    for key, body in mapping.items():
        where = ctx.at(origin, mapping, key)
        key_origin = ctx.key_at(origin, mapping, key)
        try:
            parsed = parse_port(key)
        except QuantityError as exc:
            parsed = None
            if re.fullmatch(r"\d+/\S*", str(key)):
                # a port with a protocol drover does not serve (9063/udp): say that, not that it is a bad name
                ctx.error(key_origin, f"gateway port: {exc.message}", "InvalidValue", key, exc.allowed)
                continue
        if parsed is not None:
            port = Port(str(parsed.number), parsed.number, parsed.protocol, key_origin, key)
            allowed = GATEWAY_BODY_KEYS
        else:
            port = _named_gateway_port(ctx, key, body, where, key_origin)
            allowed = GATEWAY_BODY_KEYS + ("port",)
        if port is None:
            continue
        gateway = Gateway(port.name, port, origin=where)
        if isinstance(body, dict):
            ctx.remember(gateway, body)
            ctx.check_keys(body, where, allowed)
            read_gateway_body(ctx, gateway, body, where, CLUSTER_TARGET)
        else:
            gateway.routes = read_routes(ctx, body, where.child("routes"), CLUSTER_TARGET)
        gateways.append(gateway)
    return gateways


def _named_gateway_port(ctx: ReadContext, name: str, body, origin: Origin, key_origin: Origin) -> Port | None:
    if ctx.name(name, key_origin, "gateway name") is None:
        return None
    if not isinstance(body, dict) or body.get("port") is None:
        ctx.error(key_origin, f"gateway '{name}' has no port", "MissingPathValueError", kind_of(name),
                  "a port as the key (8080: ..., 8080/tcp: ...) or a named gateway with port: <number>[/http|/tcp]")
        return None
    return read_numbered_port(ctx, name, body["port"], ctx.at(origin, body, "port"))
