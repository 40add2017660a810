# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads gateways, routes, conditions and rewrites.

Routes come as a mapping (`path: {weight, condition, ...}`), a list (`- path` or `- path: {...}`) or one string
(`routes: cluster/port`). A route whose value is a string, or that has `ref`/`reference`/`name`, refers to a named
route. What a route path points at depends on where the gateway is: a service (breed name) in a cluster gateway,
`cluster/port` in a blueprint gateway, `[deployment/]cluster[/port]` in a standalone gateway, and an external
address `[host:port]` anywhere.
"""

from __future__ import annotations

import re

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET, EXTERNAL_TARGET, SERVICE_TARGET, Condition, Gateway, GatewayService, Port, Reference, Rewrite, Route)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import parse_percentage, parse_port
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import REFERENCE_KEYS, RUNTIME_ONLY_KEYS, ReadContext, kind_of
from ansible_collections.drover.fleet.plugins.module_utils.dsl.selectors import SELECTOR_ALLOWED, SelectorError, check_selector
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import name_problem
from ansible_collections.drover.fleet.plugins.module_utils.dsl.yaml_loader import java_text, mark_of

STICKY_VALUES = ("route", "instance")
STICKY_ALLOWED = "route, instance, or none (empty)"
GATEWAY_BODY_KEYS = ("sticky", "virtual_hosts", "routes", "selector", "metadata")
STANDALONE_GATEWAY_KEYS = frozenset(GATEWAY_BODY_KEYS + ("name", "kind", "port", "service"))
# VAMP marks the gateways it makes for deployments `internal`; nothing to do with it here
GATEWAY_RUNTIME_ONLY_KEYS = RUNTIME_ONLY_KEYS | {"internal"}
ROUTE_KEYS = frozenset(("weight", "condition", "condition_strength", "rewrites", "balance", "selector"))
ROUTE_REFERENCE_KEYS = REFERENCE_KEYS + ("name",)
CONDITION_KEYS = frozenset(("name", "kind", "condition", "metadata"))
MAX_PATH_SEGMENTS = {SERVICE_TARGET: 1, CLUSTER_TARGET: 3}
_REWRITE = re.compile(r"\s*(.+?)\s+if\s+(.+?)\s*", re.DOTALL)


def is_external_path(path: str) -> bool:
    return path.startswith("[") and path.endswith("]")


def read_gateway(ctx: ReadContext, mapping: dict, origin: Origin) -> Gateway | None:
    """A standalone gateway: `name`, `port`, and the gateway fields."""
    ctx.check_keys(mapping, origin, STANDALONE_GATEWAY_KEYS, GATEWAY_RUNTIME_ONLY_KEYS)
    name = _gateway_name(ctx, mapping, origin)
    port = None
    if mapping.get("port") is None:
        ctx.missing(mapping, "port", origin, "a gateway needs a port", "port: <number>[/http|/tcp]")
    else:
        port = read_numbered_port(ctx, None, mapping["port"], ctx.at(origin, mapping, "port"))
    gateway = Gateway(name or "", port or Port("", None), origin=origin)
    ctx.remember(gateway, mapping)
    read_gateway_body(ctx, gateway, mapping, origin, CLUSTER_TARGET)
    if mapping.get("service") is not None:
        gateway.service = _read_service_endpoint(ctx, mapping["service"], ctx.at(origin, mapping, "service"))
    return gateway


def _gateway_name(ctx: ReadContext, mapping: dict, origin: Origin) -> str | None:
    if mapping.get("name") is None:
        ctx.missing(mapping, "name", origin, "a gateway needs a name", "name: <gateway name>")
        return None
    where = ctx.at(origin, mapping, "name")
    name = java_text(mapping["name"])
    segments = name.split("/")
    if len(segments) > 3:
        ctx.error(where, "unsupported gateway name", "UnsupportedGatewayNameError", name, "gateway, deployment/port or deployment/cluster/port")
        return None
    if any(ctx.name(segment, where, "gateway name") is None for segment in segments):
        return None
    return name


def read_numbered_port(ctx: ReadContext, name: str | None, value, origin: Origin) -> Port | None:
    """A gateway's own port (`8080`, `8080/tcp`); its name is the number unless one is given."""
    parsed = ctx.quantity(parse_port, value, origin, "gateway port")
    if parsed is None:
        return None
    return Port(name or str(parsed.number), parsed.number, parsed.protocol, origin, java_text(value))


def _read_service_endpoint(ctx: ReadContext, value, origin: Origin) -> GatewayService | None:
    mapping = ctx.mapping(value, origin, "service")
    if mapping is None:
        return None
    ctx.check_keys(mapping, origin, ("host", "port"))
    host = ctx.text(mapping, "host", origin, required=True, what="the host the gateway service listens on")
    port = None
    if mapping.get("port") is None:
        ctx.missing(mapping, "port", origin, "missing 'port'", "port: <number>[/http|/tcp]")
    else:
        port = read_numbered_port(ctx, None, mapping["port"], ctx.at(origin, mapping, "port"))
    if host is None or port is None:
        return None
    return GatewayService(host, port)


def read_gateway_body(ctx: ReadContext, gateway: Gateway, mapping: dict, origin: Origin, target_kind: str) -> None:
    """The fields every gateway has: sticky, virtual_hosts, routes, selector, metadata."""
    if mapping.get("sticky") is not None:
        gateway.sticky = read_sticky(ctx, mapping["sticky"], ctx.at(origin, mapping, "sticky"))
    if "virtual_hosts" in mapping:
        gateway.virtual_hosts = _read_virtual_hosts(ctx, mapping["virtual_hosts"], ctx.at(origin, mapping, "virtual_hosts"))
    if mapping.get("metadata") is not None:
        metadata = ctx.mapping(mapping["metadata"], ctx.at(origin, mapping, "metadata"), "metadata")
        gateway.metadata = metadata if metadata is not None else {}
    if mapping.get("selector") is not None:
        gateway.selector = read_selector(ctx, mapping["selector"], ctx.at(origin, mapping, "selector"))
    if mapping.get("routes") is not None:
        gateway.routes = read_routes(ctx, mapping["routes"], ctx.at(origin, mapping, "routes"), target_kind)


def read_sticky(ctx: ReadContext, value, origin: Origin) -> str | None:
    if value is None:
        return None
    text = java_text(value) if not isinstance(value, (dict, list)) else None
    if text in STICKY_VALUES:
        return text
    if text in ("", "none"):
        return None
    ctx.error(origin, "illegal sticky value", "IllegalGatewayStickyValue", kind_of(value), STICKY_ALLOWED)
    return None


def _read_virtual_hosts(ctx: ReadContext, value, origin: Origin) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list) and not any(isinstance(item, (dict, list)) or item is None for item in value):
        return [java_text(item) for item in value]
    if not isinstance(value, (dict, list)):
        return [java_text(value)]
    ctx.error(origin, "illegal virtual hosts", "IllegalGatewayVirtualHosts", kind_of(value), "a host name or a list of host names")
    return []


def read_selector(ctx: ReadContext, value, origin: Origin) -> str | None:
    if isinstance(value, (dict, list)):
        ctx.error(origin, "a selector must be text", "InvalidSelectorError", kind_of(value), SELECTOR_ALLOWED)
        return None
    text = java_text(value)
    try:
        check_selector(text)
    except SelectorError as exc:
        ctx.error(origin, f"invalid selector: {exc}", "InvalidSelectorError", text, SELECTOR_ALLOWED)
        return None
    return text


# --- routes -----------------------------------------------------------------------------------------------------

def read_routes(ctx: ReadContext, value, origin: Origin, target_kind: str) -> list[Route]:
    routes: list[Route] = []
    if value is None:
        return routes
    if isinstance(value, dict):
        for path, route_value in value.items():
            _add_route(ctx, routes, path, route_value, ctx.key_at(origin, value, path, f"[{path}]"), target_kind)
        return routes
    for index, item in enumerate(ctx.items(value)):
        where = ctx.item_origin(origin, value, index)
        if isinstance(item, dict) and len(item) == 1:
            path, route_value = next(iter(item.items()))
            _add_route(ctx, routes, path, route_value, ctx.key_at(origin, item, path, f"[{path}]"), target_kind)
        elif isinstance(item, (dict, list)) or item is None:
            ctx.error(where, "a route in a list is `- <path>` or `- <path>: {weight, condition, ...}`", "InvalidType", kind_of(item),
                      "a route path, or a mapping with one route path as its key")
        else:
            path = java_text(item)
            line, column = mark_of(value, index)
            _add_route(ctx, routes, path, None, origin.child(f"[{path}]", line, column), target_kind)
    return routes


def _add_route(ctx: ReadContext, routes: list, path: str, value, origin: Origin, target_kind: str) -> None:
    route = read_route(ctx, path, value, origin, target_kind)
    if route is not None:
        routes.append(route)


def read_route(ctx: ReadContext, path: str, value, origin: Origin, target_kind: str) -> Route | None:
    kind = _route_target_kind(ctx, path, origin, target_kind)
    if kind is None:
        return None
    route = Route(path, kind, origin=origin)
    if value is None:
        return route
    if isinstance(value, dict):
        ctx.remember(route, value)
        reference_key = next((key for key in ROUTE_REFERENCE_KEYS if key in value), None)
        if reference_key is not None:
            return _route_reference(ctx, route, value, reference_key, origin)
        ctx.check_keys(value, origin, ROUTE_KEYS)
        _read_route_fields(ctx, route, value, origin)
        return route
    if isinstance(value, list):
        ctx.error(origin, "a route is a mapping of its fields or the name of a route", "InvalidType", kind_of(value),
                  "{weight, condition, condition_strength, rewrites, balance} or a route name")
        return None
    name = ctx.name(value, origin, "route reference")
    if name is None:
        return None
    route.reference = Reference("route", name, origin)
    return route


def _route_target_kind(ctx: ReadContext, path: str, origin: Origin, target_kind: str) -> str | None:
    if is_external_path(path):
        return EXTERNAL_TARGET
    segments = path.split("/")
    if len(segments) > MAX_PATH_SEGMENTS[target_kind]:
        allowed = "a service (breed name) of this cluster" if target_kind == SERVICE_TARGET else "cluster, cluster/port or deployment/cluster/port"
        ctx.error(origin, "unsupported route path", "UnsupportedRoutePathError", path, allowed + ", or an external [host:port]")
        return None
    for segment in segments:
        problem = name_problem(segment)
        if problem:
            ctx.error(origin, "illegal route path", "IllegalName", path, problem)
            return None
    return target_kind


def _route_reference(ctx: ReadContext, route: Route, value: dict, reference_key: str, origin: Origin) -> Route | None:
    inline = [key for key in value if key in ROUTE_KEYS]
    if inline:
        ctx.error(ctx.key_at(origin, value, inline[0]), "a route is either a reference or an inline definition, not both",
                  "EitherReferenceOrAnonymous", f"'{reference_key}' together with '{inline[0]}'",
                  f"either {{{reference_key}: <route name>}} or the inline route fields")
        return None
    ctx.check_keys(value, origin, ROUTE_REFERENCE_KEYS + ("kind",))
    name = ctx.name(value[reference_key], ctx.at(origin, value, reference_key), "route reference")
    if name is None:
        return None
    route.reference = Reference("route", name, origin)
    return route


def _read_route_fields(ctx: ReadContext, route: Route, value: dict, origin: Origin) -> None:
    if value.get("weight") is not None:
        route.weight = ctx.field_quantity(parse_percentage, value, "weight", origin, "route weight", "GatewayRouteWeightError")
    if value.get("condition_strength") is not None:
        route.condition_strength = ctx.field_quantity(parse_percentage, value, "condition_strength", origin, "condition strength",
                                                      "GatewayRouteConditionStrengthError")
    if value.get("condition") is not None:
        route.condition = read_condition_or_reference(ctx, value["condition"], ctx.at(origin, value, "condition"))
    if value.get("rewrites") is not None:
        route.rewrites = _read_rewrites(ctx, value["rewrites"], ctx.at(origin, value, "rewrites"))
    if value.get("balance") is not None:
        route.balance = ctx.text(value, "balance", origin)
    if value.get("selector") is not None:
        where = ctx.at(origin, value, "selector")
        route.selector = read_selector(ctx, value["selector"], where)
        if route.selector is not None and route.target_kind == EXTERNAL_TARGET:
            ctx.error(where, "a selector is not allowed on an external route", "RouteSelectorExternalTargetError", route.path,
                      "a selector only on a route to a name without '/'")
        elif route.selector is not None and "/" in route.path:
            ctx.error(where, "a selector is only allowed on a route whose path has no '/'", "RouteSelectorOnlyRouteError", route.path,
                      "a selector only on a route to a name without '/'")


def read_condition_or_reference(ctx: ReadContext, value, origin: Origin) -> Condition | Reference | None:
    """`condition: <text>`, `condition: {condition: <text>}` or `{ref: <name>}`; an empty text means no condition."""
    if value is None:
        return None
    if isinstance(value, dict):
        found = ctx.reference_or_map(value, origin, "condition")
        if not isinstance(found, dict):
            return found
        return read_condition(ctx, found, origin)
    if isinstance(value, list):
        ctx.error(origin, "a condition is text or {condition: <text>}", "InvalidType", kind_of(value), "condition text or a reference")
        return None
    text = java_text(value)
    return Condition(text, origin=origin) if text.strip() else None


def read_condition(ctx: ReadContext, mapping: dict, origin: Origin) -> Condition | None:
    ctx.check_keys(mapping, origin, CONDITION_KEYS)
    name = ctx.name(mapping["name"], ctx.at(origin, mapping, "name"), "condition name") if mapping.get("name") is not None else None
    text = ctx.text(mapping, "condition", origin)
    if text is None or not text.strip():
        return None
    condition = Condition(text, name, ctx.at(origin, mapping, "condition"))
    return condition


def _read_rewrites(ctx: ReadContext, value, origin: Origin) -> list[Rewrite]:
    rewrites = []
    for index, item in enumerate(ctx.items(value)):
        where = ctx.item_origin(origin, value, index)
        mapping = ctx.mapping(item, where, "a rewrite")
        if mapping is None:
            continue
        ctx.check_keys(mapping, where, ("path",))
        text = ctx.text(mapping, "path", where, required=True, what="'<new path> if <condition>'")
        if text is None:
            continue
        match = _REWRITE.fullmatch(text)
        if not match:
            ctx.error(ctx.at(where, mapping, "path"), "a path rewrite needs the form '<new path> if <condition>'", "IllegalRewrite", text,
                      "'<new path> if <haproxy condition>'")
            continue
        rewrites.append(Rewrite(match.group(1), match.group(2), ctx.at(where, mapping, "path")))
    return rewrites


def read_named_route(ctx: ReadContext, mapping: dict, origin: Origin) -> Route | None:
    """A route document (`kind: routes`): a name and route fields, referred to from gateways by that name."""
    ctx.check_keys(mapping, origin, ROUTE_KEYS | {"name", "kind", "metadata"})
    if mapping.get("name") is None:
        ctx.missing(mapping, "name", origin, "a route document needs a name", "name: <route name>")
        return None
    name = ctx.name(mapping["name"], ctx.at(origin, mapping, "name"), "route name")
    if name is None:
        return None
    route = Route("", name=name, origin=origin)
    ctx.remember(route, mapping)
    _read_route_fields(ctx, route, mapping, origin)
    return route
