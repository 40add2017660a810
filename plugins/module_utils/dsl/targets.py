# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Binds gateways to what they route to, and reports what cannot be bound.

- A cluster gateway serves one breed port of its cluster: the named one, or the breeds' only port when no name is
  given (VAMP's "anonymous" gateway). Its protocol is that port's protocol.
- A blueprint gateway's route `cluster/port` (or `cluster` when the breeds have one port) must name a cluster of
  the blueprint and one of its breed ports.
- A standalone gateway's route `deployment/cluster/port`, `cluster/port` or `cluster` must name such a cluster in
  one of the blueprints loaded with it.

A backend takes the mode of the frontend a request comes in by (routing/plan.py), so a balance that hashes HTTP data
(`uri`, `url_param`, `hdr`) is refused on a route of a tcp gateway and on the routes of the cluster gateway it leads to.
This is checked here, where each route is bound, so that it is reported with the reader's other errors (the planner
checks it again for models that did not come through the reader).

While a breed is still an unresolved reference (read_artifact on one document), its ports are unknown, so a port
that is not found cannot be ruled out: VAMP accepts it, and so do we. load_* binds again once references are
resolved, and then every port is known. Routes get `target_blueprint`, `target_cluster` and `target_port`.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET, SERVICE_TARGET, TCP, Blueprint, Breed, Cluster, Gateway, Port, Route)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import Described, ReadContext, listing
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import TCP_BALANCE_ALLOWED, balance_needs_http


def cluster_ports(cluster: Cluster, incomplete: set[int] | None = None) -> tuple[dict[str, Port], bool]:
    """The breed ports of a cluster by name, and whether every breed is known: no unresolved reference, and no
    breed in `incomplete` (ids of breeds read with errors)."""
    ports: dict[str, Port] = {}
    complete = True
    for service in cluster.services:
        if isinstance(service.breed, Breed):
            for port in service.breed.ports:
                ports.setdefault(port.name, port)
            if incomplete and id(service.breed) in incomplete:
                complete = False
        else:
            complete = False
    return ports, complete


def service_names(cluster: Cluster) -> list[str]:
    """The names of a cluster's services, which are their breeds' names (inline or referenced)."""
    return [service.breed.name for service in cluster.services]


def bind_blueprint(ctx: ReadContext, blueprint: Blueprint) -> None:
    clusters = {cluster.name: cluster for cluster in blueprint.clusters}
    for cluster in blueprint.clusters:
        ports, complete = cluster_ports(cluster, ctx.incomplete)
        for gateway in cluster.gateways:
            _bind_cluster_gateway(ctx, blueprint, cluster, gateway, ports, complete)
    for gateway in blueprint.gateways:
        for route in gateway.routes:
            if route.target_kind != CLUSTER_TARGET:
                continue
            segments = route.path.split("/")
            if len(segments) == 3 and segments[0] != blueprint.name:
                _unresolved(ctx, route, f"'{segments[0]}' is not this blueprint ('{blueprint.name}')", _allowed(blueprint))
                continue
            cluster = clusters.get(segments[-2] if len(segments) > 1 else segments[0])
            if cluster is None:
                _unresolved(ctx, route, "no such cluster in the blueprint", _allowed(blueprint))
                continue
            _bind_port(ctx, route, blueprint, cluster, segments[-1] if len(segments) > 1 else None)
        _check_balance_modes(ctx, gateway, {blueprint.name: blueprint})


def bind_standalone_gateway(ctx: ReadContext, gateway: Gateway, blueprints: dict[str, Blueprint]) -> None:
    """Binds the cluster routes of a standalone gateway to the blueprints loaded with it."""
    for route in gateway.routes:
        if route.target_kind != CLUSTER_TARGET:
            continue
        segments = route.path.split("/")
        if len(segments) == 3:
            blueprint = blueprints.get(segments[0])
            cluster = blueprint.cluster(segments[1]) if blueprint else None
            candidates = [(blueprint, cluster)] if cluster else []
        else:
            candidates = [(bp, bp.cluster(segments[0])) for bp in blueprints.values() if bp.cluster(segments[0])]
        if not candidates:
            allowed = listing(choice for bp in blueprints.values() for choice in _choices(bp, with_deployment=True)) or "no blueprint is loaded"
            _unresolved(ctx, route, "no such cluster in the blueprints loaded", allowed)
        elif len(candidates) > 1:
            ctx.error(route.origin, "the cluster is in more than one blueprint", "AmbiguousRouteError", route.path,
                      "deployment/cluster/port: " + ", ".join(f"{bp.name}/{route.path}" for bp, _cluster in candidates))
        else:
            blueprint, cluster = candidates[0]
            _bind_port(ctx, route, blueprint, cluster, segments[-1] if len(segments) > 1 else None)
    _check_balance_modes(ctx, gateway, blueprints)


def cluster_gateway(cluster: Cluster, port_name: str | None) -> Gateway | None:
    """The cluster gateway that serves `port_name`: the one named so, else the cluster's only, unnamed gateway."""
    for gateway in cluster.gateways:
        if gateway.port.name == port_name:
            return gateway
    unnamed = [gateway for gateway in cluster.gateways if not gateway.port.name]
    return unnamed[0] if len(cluster.gateways) == 1 and unnamed else None


def _check_balance_modes(ctx: ReadContext, gateway: Gateway, blueprints: dict[str, Blueprint]) -> None:
    """On a tcp gateway, a balance that hashes HTTP data is refused on its routes and on the routes of the cluster
    gateways they are bound to (their backends are tcp too)."""
    if gateway.port.protocol != TCP:
        return
    port = gateway.port.written or gateway.port.name
    for route in gateway.routes:
        routes = [route]
        blueprint = blueprints.get(route.target_blueprint) if route.target_cluster else None
        cluster = blueprint.cluster(route.target_cluster) if blueprint is not None else None
        inner = cluster_gateway(cluster, route.target_port) if cluster is not None else None
        if inner is not None:
            routes.extend(inner.routes)
        for each in routes:
            if balance_needs_http(each.balance) and id(each) not in ctx.reported:
                ctx.reported.add(id(each))
                ctx.error(ctx.field_origin(each, "balance"), "this balance algorithm needs an http port", "BalancePortTypeError",
                          Described(f"balance: {each.balance} behind tcp port {port}"), TCP_BALANCE_ALLOWED)


def _bind_cluster_gateway(ctx: ReadContext, blueprint: Blueprint, cluster: Cluster, gateway: Gateway, ports: dict, complete: bool) -> None:
    name = gateway.port.name
    if not name and complete:
        if len(ports) == 1:
            name = next(iter(ports))
            gateway.port.name = name
            gateway.name = f"{cluster.name}/{name}"
        elif len(ports) > 1:
            ctx.error(gateway.origin, "the cluster gateway does not name a port and the breeds have several",
                      "IllegalAnonymousRoutingPortMappingError", Described(", ".join(sorted(ports))),
                      "name the port: gateways: {<port name>: {sticky, routes, ...}}")
        else:
            ctx.error(gateway.origin, "the cluster's breeds define no port to route to", "UnresolvedGatewayPortError", None,
                      "breeds with ports, e.g. ports: {web: 8080/http}")
    if name and name in ports:
        gateway.port.protocol = ports[name].protocol
    elif name and complete:
        ctx.error(gateway.origin, f"the cluster's breeds have no port '{name}'", "UnresolvedGatewayPortError", name,
                  "one of: " + (", ".join(sorted(ports)) or "no ports are defined"))
    known_services = service_names(cluster)
    for route in gateway.routes:
        if route.target_kind != SERVICE_TARGET:
            continue
        if route.path not in known_services:
            ctx.error(route.origin, "the route names no service of the cluster", "UnresolvedRouteTargetError", route.path,
                      "a breed name of the cluster's services: " + listing(dict.fromkeys(known_services)))
            continue
        route.target_blueprint, route.target_cluster, route.target_port = blueprint.name, cluster.name, name or None


def _bind_port(ctx: ReadContext, route: Route, blueprint: Blueprint, cluster: Cluster, port_name: str | None) -> None:
    ports, complete = cluster_ports(cluster, ctx.incomplete)
    if port_name is None and complete:
        if len(ports) == 1:
            port_name = next(iter(ports))
        elif len(ports) > 1:
            ctx.error(route.origin, f"cluster '{cluster.name}' has several ports: name one", "IllegalAnonymousRoutingPortMappingError",
                      route.path, ", ".join(f"{cluster.name}/{name}" for name in sorted(ports)))
            return
        else:
            _unresolved(ctx, route, f"cluster '{cluster.name}' has no port", "a cluster whose breeds define a port")
            return
    elif port_name is not None and port_name not in ports and complete:
        _unresolved(ctx, route, f"cluster '{cluster.name}' has no port '{port_name}'",
                    ", ".join(f"{cluster.name}/{name}" for name in sorted(ports)) or "no ports are defined")
        return
    route.target_blueprint, route.target_cluster, route.target_port = blueprint.name, cluster.name, port_name


def _allowed(blueprint: Blueprint) -> str:
    return listing(_choices(blueprint)) or "the blueprint has no clusters"


def _unresolved(ctx: ReadContext, route: Route, message: str, allowed: str) -> None:
    ctx.error(route.origin, f"the route cannot be resolved: {message}", "UnresolvedGatewayPortError", route.path, allowed)


def _choices(blueprint: Blueprint, with_deployment: bool = False) -> list[str]:
    """The route targets a blueprint offers: cluster/port (deployment/cluster/port)."""
    prefix = f"{blueprint.name}/" if with_deployment else ""
    choices = []
    for cluster in blueprint.clusters:
        ports, _complete = cluster_ports(cluster)
        choices.extend(f"{prefix}{cluster.name}/{name}" for name in sorted(ports))
        if not ports:
            choices.append(f"{prefix}{cluster.name}")
    return choices
