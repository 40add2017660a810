# -*- coding: utf-8 -*-
"""Model objects for routing and rendering tests, built directly (model.py), independent of the reader."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET,
    EXTERNAL_TARGET,
    TCP,
    ArtifactSet,
    Blueprint,
    Breed,
    Cluster,
    Condition,
    Escalation,
    Gateway,
    HealthCheck,
    Port,
    Rewrite,
    Route,
    Scale,
    Service,
    Sla,
)


def breed(name: str, port: str = "web", number: int = 8080, checks=None, extra_ports=()) -> Breed:
    ports = [Port(port, number)] + [Port(p, n) for p, n in extra_ports]
    return Breed(name=name, deployable=f"example/{name}", ports=ports, health_checks=list(checks or []))


def route(path: str, weight=None, condition: str | None = None, strength=None, kind: str | None = None, **extra) -> Route:
    if kind is None:
        kind = EXTERNAL_TARGET if path.startswith("[") else CLUSTER_TARGET if "/" in path else "service"
    return Route(path=path, target_kind=kind, weight=weight, condition=Condition(condition) if condition else None,
                 condition_strength=strength, origin=Origin("test.yml", 1, 1, f"routes[{path}]"), **extra)


def sava(sticky: str | None = "route", strength: float | None = 50, weights=(90, 10), sla: Sla | None = None,
         instances=(2, 1), port: int = 9050, check_interval: float = 3) -> ArtifactSet:
    """VAMP's sava canary: 9050 -> cluster sava, sava:1.0.0 90% / sava:1.1.0 10%, Chrome to 1.1.0 with `strength`."""
    check = HealthCheck(path="/health", interval=check_interval, timeout=1, failures=2)
    services = [
        Service(breed=breed("sava:1.0.0", "webport", checks=[check]), scale=Scale(0.2, 128, instances[0])),
        Service(breed=breed("sava:1.1.0", "webport", checks=[check]), scale=Scale(0.2, 128, instances[1])),
    ]
    routes = [route("sava:1.0.0", weights[0]), route("sava:1.1.0", weights[1], "user-agent == Chrome" if strength is not None else None, strength)]
    cluster = Cluster(name="sava", services=services, sla=sla,
                      gateways=[Gateway(name="sava/webport", port=Port("webport", None), sticky=sticky, routes=routes)])
    blueprint = Blueprint(name="sava", clusters=[cluster],
                          gateways=[Gateway(name=f"sava/{port}", port=Port(str(port), port), routes=[route("sava/webport")])])
    return ArtifactSet(blueprints={"sava": blueprint})


def external_gateway(ports, weights=None, name: str = "edge", port: int = 9060, sticky=None, protocol: str = "http", **route_extra) -> Gateway:
    weights = list(weights) if weights is not None else [None] * len(ports)
    routes = [route(f"[127.0.0.1:{p}]", w, **route_extra) for p, w in zip(ports, weights)]
    return Gateway(name=name, port=Port(str(port), port, protocol), sticky=sticky, routes=routes, origin=Origin("edge.yml", 1, 1, name))


def standalone(*gateways: Gateway, blueprints=()) -> ArtifactSet:
    return ArtifactSet(gateways={g.name: g for g in gateways}, blueprints={b.name: b for b in blueprints})


def scaled_sla(maximum: float, grouped: bool = True) -> Sla:
    escalations = [Escalation("scale_instances", minimum=1, maximum=maximum, scale_by=1),
                   Escalation("scale_cpu", minimum=0.1, maximum=2, scale_by=0.1)]
    if grouped:
        escalations = [Escalation("to_all", escalations=escalations)]
    return Sla("response_time_sliding_window", upper_ms=100, lower_ms=10, interval_s=60, cooldown_s=60, escalations=escalations)


def two_clusters(inner_condition: bool = True) -> Blueprint:
    """A blueprint with two clusters (shop, search) behind one gateway 50/50; shop routes by a header inside."""
    shop_routes = [route("shop:1", 70), route("shop:2", 30, "has header X-Beta" if inner_condition else None)]
    shop = Cluster(name="shop", services=[Service(breed=breed("shop:1")), Service(breed=breed("shop:2"))],
                   gateways=[Gateway(name="shop/web", port=Port("web", None), routes=shop_routes)])
    search = Cluster(name="search", services=[Service(breed=breed("search:1"))])
    gateway = Gateway(name="store/8000", port=Port("8000", 8000), routes=[route("shop/web", 50), route("search/web", 50)])
    return Blueprint(name="store", clusters=[shop, search], gateways=[gateway])


def rewrite(path: str, condition: str) -> Rewrite:
    return Rewrite(path=path, condition=condition)


__all__ = ["TCP", "breed", "external_gateway", "rewrite", "route", "sava", "scaled_sla", "standalone", "two_clusters"]
