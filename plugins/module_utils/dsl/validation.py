# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules a read artifact must follow, all checked and all reported at once.

Two levels:
- VAMP's reader rules (always): route weights, sticky values and protocols, conditions on tcp ports, duplicate
  routes and gateway ports, breed dependency cycles, breeds used twice, health check ports, and so on.
- HAProxy rules (`strict`, which load_text/load_paths always use): everything that will be written into
  haproxy.cfg must be safe and valid there: balance algorithms, virtual hosts, rewrites, external addresses,
  condition syntax, health check paths and times.

Each rule skips what it cannot know yet (a breed that is still a reference), so the same checks run on one
document read alone and on a whole resolved set.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET, EXTERNAL_TARGET, TCP, Blueprint, Breed, Cluster, Condition, Escalation, Gateway, HealthCheck, Reference, Route, Sla)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import Described, ReadContext, listing
from ansible_collections.drover.fleet.plugins.module_utils.dsl.yaml_loader import mark_of
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import (
    balance_problem, deployable_problem, external_address_problem, has_control_characters, rewrite_problem,
    virtual_host_problem)

from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import ConditionError, compile_condition

STANDALONE = "standalone"
BLUEPRINT = "blueprint"
CLUSTER = "cluster"
_EPSILON = 1e-6
HEALTH_PATH_ALLOWED = "a request path with no whitespace, quotes, '#' or control characters, e.g. /health"


class Validator:
    """Checks artifacts; each object is checked once, however many artifacts share it."""

    def __init__(self, ctx: ReadContext, strict: bool):
        self.ctx = ctx
        self.strict = strict
        self.seen: set[int] = set()
        # load_* checks gateway ports across the whole set instead of per blueprint
        self.ports_checked_by_caller = False

    def _first_time(self, artifact) -> bool:
        if id(artifact) in self.seen:
            return False
        self.seen.add(id(artifact))
        return True

    def artifact(self, artifact, deployed_breeds: set[str] | None = None) -> None:
        if isinstance(artifact, Blueprint):
            self.blueprint(artifact, deployed_breeds)
        elif isinstance(artifact, Breed):
            self.breed(artifact)
        elif isinstance(artifact, Gateway):
            self.gateway(artifact, STANDALONE)
        elif isinstance(artifact, Sla):
            self.sla(artifact, None)
        elif isinstance(artifact, Escalation):
            self.escalation(artifact, None)
        elif isinstance(artifact, Condition):
            self.condition(artifact)
        elif isinstance(artifact, Route):
            self.route(artifact, None)

    # --- blueprints -------------------------------------------------------------------------------------------

    def blueprint(self, blueprint: Blueprint, deployed_breeds: set[str] | None = None) -> None:
        """`deployed_breeds`: breed names that satisfy a dependency (the blueprint's own when None)."""
        if not self._first_time(blueprint):
            return
        services = [service for cluster in blueprint.clusters for service in cluster.services]
        if not services and id(blueprint) not in self.ctx.incomplete:
            self.ctx.error(self.ctx.field_origin(blueprint, "clusters"), "the blueprint defines no service", "NoServiceError", None,
                           "at least one cluster with a service")
        names: dict[str, object] = {}
        for service in services:
            name = service.breed.name
            if name in names:
                self.ctx.error(self.ctx.field_origin(service, "breed"), f"breed '{name}' is used more than once in the blueprint",
                               "NonUniqueBlueprintBreedReferenceError", name, "each breed in one service of the blueprint")
            names.setdefault(name, service)
        deployed = deployed_breeds if deployed_breeds is not None else set(names)
        cluster_names = {cluster.name for cluster in blueprint.clusters}
        for cluster in blueprint.clusters:
            self._cluster(cluster, deployed, cluster_names)
        for gateway in blueprint.gateways:
            self.gateway(gateway, BLUEPRINT)
        if not self.ports_checked_by_caller:
            self.duplicate_ports(blueprint.gateways)

    def _cluster(self, cluster: Cluster, deployed: set[str], cluster_names: set[str]) -> None:
        cluster_ports: set[str] = set()
        complete = True
        for service in cluster.services:
            breed = service.breed
            breed_ports = None
            if isinstance(breed, Breed):
                self.breed(breed)
                breed_ports = self._port_names(breed)
                if breed_ports is None:
                    complete = False
                else:
                    cluster_ports.update(breed_ports)
                self._dependencies_deployed(breed, deployed)
            else:
                complete = False
            if service.health_checks:
                self._health_checks(service.health_checks, breed_ports)
        if cluster.health_checks:
            self._health_checks(cluster.health_checks, cluster_ports if complete else None)
        for gateway in cluster.gateways:
            self.gateway(gateway, CLUSTER)
        if isinstance(cluster.sla, Sla):
            self.sla(cluster.sla, cluster_names)
        elif cluster.sla is not None and getattr(cluster.sla, "escalations", None):
            for escalation in cluster.sla.escalations:
                self.escalation(escalation, cluster_names)

    def _dependencies_deployed(self, breed: Breed, deployed: set[str]) -> None:
        for key, dependency in breed.dependencies.items():
            if dependency.name not in deployed:
                self.ctx.error(self.ctx.field_origin(breed, "dependencies", key), f"breed '{breed.name}' depends on "
                               f"'{dependency.name}', which no cluster deploys", "UnresolvedBreedDependencyError", dependency.name,
                               "a breed deployed by a cluster: " + (listing(sorted(deployed)) or "none"))

    def duplicate_ports(self, gateways: list[Gateway]) -> None:
        used: dict[int, Gateway] = {}
        for gateway in gateways:
            number = gateway.port.number
            if number is None:
                continue
            if number in used:
                first = used[number].origin
                self.ctx.error(gateway.origin, f"port {number} is already used by the gateway at {first.path or used[number].name} "
                               f"({first.location()})", "DuplicateGatewayPortError", number, "a port number used by one gateway only")
            else:
                used[number] = gateway

    # --- breeds -----------------------------------------------------------------------------------------------

    def breed(self, breed: Breed) -> None:
        if not self._first_time(breed):
            return
        self._cycles(breed, [])
        self._health_checks(breed.health_checks, self._port_names(breed))
        if self.strict and breed.deployable and deployable_problem(breed.deployable):
            self.ctx.error(self.ctx.field_origin(breed, "deployable"), "illegal deployable", "InvalidValue", breed.deployable,
                           deployable_problem(breed.deployable))
        for dependency in breed.dependencies.values():
            if isinstance(dependency, Breed):
                self.breed(dependency)

    def _port_names(self, breed: Breed) -> set[str] | None:
        """The port names a breed declares, those whose value did not read included; None when they are unknown."""
        if id(breed) in self.ctx.incomplete:
            return self.ctx.written_keys(breed, "ports")
        return {port.name for port in breed.ports}

    def _cycles(self, breed: Breed, chain: list[str]) -> None:
        """RecursiveDependenciesError when a dependency chain comes back to a breed on it (by name, as VAMP)."""
        chain = chain + [breed.name]
        for key, dependency in breed.dependencies.items():
            if dependency.name in chain:
                self.ctx.error(self.ctx.field_origin(breed, "dependencies", key), "recursive breed dependency",
                               "RecursiveDependenciesError", Described(" -> ".join(chain + [dependency.name])), "dependencies without cycles")
            elif isinstance(dependency, Breed):
                self._cycles(dependency, chain)

    def _health_checks(self, checks: list[HealthCheck], ports: set[str] | None) -> None:
        """`ports`: the port names a check may name; None when they are not all known yet."""
        for check in checks:
            if ports is not None and check.port is not None and check.port not in ports:
                self.ctx.error(self.ctx.field_origin(check, "port"), f"health check port '{check.port}' is not defined",
                               "UnresolvedPortReferenceError", check.port, "a port of the breed: " + (", ".join(sorted(ports)) or "none"))
            if self.strict:
                self._health_check_values(check)

    def _health_check_values(self, check: HealthCheck) -> None:
        if not self._first_time(check):
            return
        if has_control_characters(check.path) or any(char in check.path for char in " \"'#\\"):
            self.ctx.error(self.ctx.field_origin(check, "path"), "illegal health check path", "InvalidValue", check.path, HEALTH_PATH_ALLOWED)
        for key in ("interval", "timeout"):
            if getattr(check, key) <= 0:
                self.ctx.error(self.ctx.field_origin(check, key), f"health check {key} must be above 0", "InvalidValue", getattr(check, key),
                               "a time above 0, e.g. 5s")

    # --- gateways and routes ----------------------------------------------------------------------------------

    def gateway(self, gateway: Gateway, where: str) -> None:
        if not self._first_time(gateway):
            return
        tcp = gateway.port.protocol == TCP
        if tcp and gateway.sticky:
            self.ctx.error(self.ctx.field_origin(gateway, "sticky"), "sticky sessions need an http port", "StickyPortTypeError",
                           Described(f"sticky: {gateway.sticky} on tcp port {gateway.port.written or gateway.port.name or '(the only port)'}"),
                           "sticky only on http ports")
        self._weights(gateway, where)
        seen_targets: dict[tuple, Route] = {}
        for route in gateway.routes:
            # a cluster route is the same target however it is written (`sava` or `sava/web` when web is the only port)
            bound = route.target_kind == CLUSTER_TARGET and route.target_cluster
            target = (route.target_blueprint, route.target_cluster, route.target_port) if bound else (route.target_kind, route.path)
            if target in seen_targets:
                self.ctx.error(route.origin, "duplicate route", "DuplicateRouteError", route.path, "each target once per gateway")
            seen_targets.setdefault(target, route)
            self.route(route, gateway)
        if self.strict:
            for index, host in enumerate(gateway.virtual_hosts):
                problem = virtual_host_problem(host)
                if problem:
                    self.ctx.error(self._item_origin(gateway, "virtual_hosts", index), "illegal virtual host",
                                   "IllegalGatewayVirtualHosts", host, problem)

    def _item_origin(self, artifact, key: str, index: int):
        origin = self.ctx.field_origin(artifact, key)
        items = self.ctx.sources.get(id(artifact), {}).get(key)
        line, column = mark_of(items, index)
        return origin.child(index, line, column)

    def _weights(self, gateway: Gateway, where: str) -> None:
        weights = [route.weight for route in gateway.routes if route.weight is not None]
        unread = self._routes_dropped(gateway) or any(route.weight is None and self.ctx.sources.get(id(route), {}).get("weight") is not None
                                                      for route in gateway.routes)
        if not weights or unread:
            return  # no weights, or a route or weight that could not be read (reported where it is): a total would mislead
        total = sum(weights)
        shown = Described(" + ".join(f"{weight:g}%" for weight in weights) + f" = {total:g}%")
        origin = self.ctx.field_origin(gateway, "routes")
        if where == STANDALONE and abs(total) > _EPSILON and abs(total - 100) > _EPSILON:
            self.ctx.error(origin, "the route weights of a standalone gateway must total 0% or 100%", "GatewayRouteWeightError", shown,
                           "weights that total 0% or 100%")
        elif where != STANDALONE and total > 100 + _EPSILON:
            self.ctx.error(origin, "the route weights of a blueprint gateway must total at most 100%", "GatewayRouteWeightError", shown,
                           "weights that total at most 100%; routes without a weight share the rest")

    def _routes_dropped(self, gateway: Gateway) -> bool:
        """Whether a route written in the gateway was not read (its path is not a target)."""
        written = self.ctx.sources.get(id(gateway), {}).get("routes")
        return len(gateway.routes) < (len(written) if isinstance(written, (dict, list)) else int(written is not None))

    def route(self, route: Route, gateway: Gateway | None) -> None:
        if not self._first_time(route):
            return
        if gateway is not None and gateway.port.protocol == TCP and route.condition is not None:
            self.ctx.error(self.ctx.field_origin(route, "condition"), "conditions need an http port", "ConditionPortTypeError",
                           Described(f"a condition on tcp port {gateway.port.written or gateway.port.name or '(the only port)'}"),
                           "conditions only on http ports")
        if isinstance(route.condition, Condition):
            self.condition(route.condition)
        if not self.strict:
            return
        if gateway is not None and gateway.port.protocol == TCP and route.rewrites:
            self.ctx.error(self.ctx.field_origin(route, "rewrites"), "path rewrites need an http port", "RewritePortTypeError",
                           Described(f"rewrites on tcp port {gateway.port.written or gateway.port.name or '(the only port)'}"),
                           "rewrites only on http ports")
        if route.target_kind == EXTERNAL_TARGET and external_address_problem(route.path):
            self.ctx.error(route.origin, "illegal external route", "IllegalExternalRoute", route.path, external_address_problem(route.path))
        if route.balance is not None and balance_problem(route.balance):
            self.ctx.error(self.ctx.field_origin(route, "balance"), "unsupported balance algorithm", "IllegalBalance", route.balance,
                           balance_problem(route.balance))
        for rewrite in route.rewrites:
            problem = rewrite_problem(rewrite.path, rewrite.condition)
            if problem:
                self.ctx.error(rewrite.origin, "illegal path rewrite", "IllegalRewrite", f"{rewrite.path} if {rewrite.condition}", problem)

    def condition(self, condition: Condition) -> None:
        if not self._first_time(condition) or not self.strict:
            return
        try:
            # Compiled, not only parsed: whatever would stop the renderer is reported here, with its location.
            compile_condition(condition.definition)
        except ConditionError as exc:
            column = getattr(exc, "column", None)
            origin = condition.origin
            message = getattr(exc, "message", str(exc))
            at = f" at character {column + 1}" if isinstance(column, int) else ""
            self.ctx.error(origin, f"invalid condition{at}: {message}", "ConditionSyntaxError", condition.definition,
                           "the condition language (host, user-agent, cookie, header, has/misses, and/or/not, parentheses) "
                           "or a raw HAProxy ACL in <...>")

    # --- SLAs and escalations ---------------------------------------------------------------------------------

    def sla(self, sla: Sla, cluster_names: set[str] | None) -> None:
        if not self._first_time(sla):
            return
        for escalation in sla.escalations:
            self.escalation(escalation, cluster_names)

    def escalation(self, escalation, cluster_names: set[str] | None) -> None:
        if isinstance(escalation, Reference) or not self._first_time(escalation):
            return
        if escalation.target is not None and cluster_names is not None and escalation.target not in cluster_names:
            self.ctx.error(self.ctx.field_origin(escalation, "target"), f"escalation target '{escalation.target}' is not a cluster of the blueprint",
                           "UnresolvedEscalationTargetError", escalation.target, "a cluster of the blueprint: " + listing(sorted(cluster_names)))
        for member in escalation.escalations:
            self.escalation(member, cluster_names)
