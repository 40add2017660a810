# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The routing plan: where each request that reaches a gateway goes, decided in ONE HAProxy frontend.

Every gateway with a port (standalone or blueprint gateway) becomes one frontend. A route to a cluster is flattened
into the cluster gateway's service routes inside that same frontend, so a request passes HAProxy once. The plan holds
everything the renderer and the runtime tools need: frontend, backend and map names, the ordered condition rules, the
weighted entries with their effective percentages, the sticky cookie values and the backends' server slots.

The decision in a frontend, in this order:
1. sticky: a client whose route cookie names a live route backend stays on it;
2. condition rules, in route order: a request matching a route's condition goes there with probability `strength`;
3. everything else: a weighted pick over all routes, `rand(10000)` looked up in a map of integer ranges, so weights
   have 0.01% precision and change at runtime (admin socket map commands) without touching haproxy.cfg.

See docs/architecture.md ("Routing design") for why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import IssueCollector, Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    CLUSTER_TARGET,
    EXTERNAL_TARGET,
    HTTP,
    TCP,
    ArtifactSet,
    Blueprint,
    Breed,
    Cluster,
    Condition,
    Gateway,
    HealthCheck,
    Port,
    Reference,
    Rewrite,
    Route,
    Scale,
    Service,
)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import PERCENT_UNITS
from ansible_collections.drover.fleet.plugins.module_utils.dsl.targets import cluster_gateway
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import (
    TCP_BALANCE_ALLOWED, balance_needs_http, balance_problem, rewrite_problem, virtual_host_problem)
from ansible_collections.drover.fleet.plugins.module_utils.routing import names
from ansible_collections.drover.fleet.plugins.module_utils.sla.capacity import SlotSizer

# A weighted pick draws rand(PICK_RANGE): weights and strengths have a precision of 100 / PICK_RANGE percent (0.01%),
# which the reader enforces.
PICK_RANGE = PERCENT_UNITS
DEFAULT_SLOTS = 8
STICKY_ROUTE = "route"
STICKY_INSTANCE = "instance"
HASH_BALANCE_ALGORITHMS = ("source", "uri", "url_param", "hdr", "rdp-cookie")


@dataclass
class BackendPlan:
    """One HAProxy backend: a leaf target (a service of a cluster, or an external address) with the settings of
    the route(s) that lead to it. A service backend holds `slots` pre-declared servers `slot1..slotN`."""

    name: str
    mode: str
    target: str
    instance_key: str | None = None
    port_name: str | None = None
    port_number: int | None = None
    address: tuple[str, int] | None = None
    slots: int = 0
    balance: str | None = None
    rewrites: list[Rewrite] = field(default_factory=list)
    sticky_instance: bool = False
    instance_cookie: str | None = None
    # set when a sticky gateway routes here: the value of that gateway's route cookie that names this backend
    route_cookie_value: str | None = None
    # that gateway's cookie name when no other gateway routes here: the backend writes it as a constant (see
    # `route_cookie_from_frontend`)
    route_cookie_name: str | None = None
    health_check: HealthCheck | None = None
    # the health check's port when it is another port of the breed: its number, and its name, which finds each
    # instance's published port for it (`<instance_key>/<name>` in the renderer's instances)
    check_port: int | None = None
    check_port_name: str | None = None
    origin: Origin = field(default_factory=Origin)

    @property
    def is_external(self) -> bool:
        return self.address is not None

    @property
    def hash_balance(self) -> bool:
        return bool(self.balance) and self.balance.split("(")[0].split(" ")[0] in HASH_BALANCE_ALGORITHMS


@dataclass
class Test:
    """A route condition with its strength; a rule takes a matching request when a draw below PICK_RANGE is below
    `threshold` (strength in units of PICK_RANGE). Several rules repeating the test share one draw per request, kept in
    the variable `var`; a test only one rule uses is drawn in that rule (the renderer decides, see haproxy/render.py)."""

    key: str
    var: str
    acl_prefix: str
    condition: Condition
    strength: float
    threshold: int
    route: str
    origin: Origin = field(default_factory=Origin)


@dataclass
class Rule:
    """`use_backend` when every test passes (and, inside a stage, the outer pick chose that stage). The target is one
    backend, or the weighted map of a cluster route (the rest of that route's requests)."""

    route: str
    tests: list[Test]
    backend: str | None = None
    weighted: "WeightedMap | None" = None
    stage: str | None = None


@dataclass
class WeightedEntry:
    """One weighted destination: a backend, or the token of a stage. `percent` is the effective share of the
    requests that reach the weighted pick; `units` is that share out of PICK_RANGE as written in the map."""

    target: str
    route: str
    percent: float
    units: int
    label: str = ""


@dataclass
class WeightedMap:
    """A map file of integer ranges `lo:hi <target>`: a `rand(PICK_RANGE)` draw is looked up with `map_int` into
    `result_var`, the backend (or stage token) the request goes to."""

    name: str
    result_var: str
    entries: list[WeightedEntry] = field(default_factory=list)

    def ranges(self) -> list[tuple[int, int, str]]:
        """(lo, hi, target) for every entry with a share, covering 0..units-1 in entry order."""
        result = []
        low = 0
        for entry in self.entries:
            if entry.units > 0:
                result.append((low, low + entry.units - 1, entry.target))
                low += entry.units
        return result

    def text(self) -> str:
        return "".join(f"{lo}:{hi} {target}\n" for lo, hi, target in self.ranges())


@dataclass
class Stage:
    """The second step of a two-step decision: the outer weighted pick chose `token` (a cluster route whose gateway has
    conditions of its own); these rules, then this map, pick the service."""

    token: str
    route: str
    rules: list[Rule]
    weighted: WeightedMap


@dataclass
class StickyRoute:
    backend: str
    value: str
    route: str


@dataclass
class FrontendPlan:
    """One frontend: a gateway with a port, and everything it routes to."""

    name: str
    gateway: Gateway
    label: str
    port: int
    mode: str
    sticky: str | None
    tag: str
    virtual_hosts: list[str] = field(default_factory=list)
    route_cookie: str | None = None
    sticky_routes: list[StickyRoute] = field(default_factory=list)
    tests: list[Test] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    weighted: WeightedMap | None = None
    stages: list[Stage] = field(default_factory=list)
    backends: list[BackendPlan] = field(default_factory=list)
    origin: Origin = field(default_factory=Origin)

    @property
    def route_cookie_from_frontend(self) -> bool:
        """Whether a route backend of this sticky frontend is shared with other gateways: it then reads the cookie name
        from a variable this frontend sets (a constant name costs less per response, see docs/architecture.md)."""
        return bool(self.route_cookie) and any(b.route_cookie_value and not b.route_cookie_name for b in self.backends)

    @property
    def weighted_maps(self) -> list[WeightedMap]:
        """Every map this frontend reads: the main pick, the stages, and the rest-of-route maps of condition rules."""
        maps = [self.weighted] if self.weighted else []
        maps.extend(stage.weighted for stage in self.stages)
        for rule in self.rules:
            if rule.weighted is not None:
                maps.append(rule.weighted)
        unique = {}
        for weighted in maps:
            unique.setdefault(weighted.name, weighted)
        return list(unique.values())


# ---------------------------------------------------------------------------------------------------------------------
# Weights


def effective_weights(weights: list[float | None]) -> list[float]:
    """Percentages for routes with these weights (None = unset).

    Unset weights share what the set ones leave of 100% evenly. When every route has a weight and they total less (or,
    defensively, more) than 100, they are scaled proportionally, as HAProxy server weights would be. All zero -> all 0.
    """
    given = sum(w for w in weights if w is not None)
    unset = sum(1 for w in weights if w is None)
    share = max(0.0, 100.0 - given) / unset if unset else 0.0
    result = [share if w is None else max(0.0, float(w)) for w in weights]
    total = sum(result)
    if total <= 0:
        return [0.0] * len(result)
    if abs(total - 100.0) > 1e-9:
        result = [w * 100.0 / total for w in result]
    return result


def to_units(percents: list[float], total: int = PICK_RANGE) -> list[int]:
    """Percentages as integer shares of `total` that add up to exactly `total` (largest remainder; ties by order)."""
    if not percents or sum(percents) <= 0:
        return [0] * len(percents)
    exact = [p * total / 100.0 for p in percents]
    units = [int(x) for x in exact]
    missing = total - sum(units)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - units[i]), i))
    for index in order[:max(0, missing)]:
        units[index] += 1
    return units


# ---------------------------------------------------------------------------------------------------------------------
# Leaves: what a route ends at


@dataclass
class _Leaf:
    """A route's final target before backend settings are applied."""

    target: str
    instance_key: str | None = None
    port_name: str | None = None
    port_number: int | None = None
    address: tuple[str, int] | None = None
    slots: int = 0
    health_check: HealthCheck | None = None
    check_port: int | None = None
    check_port_name: str | None = None


@dataclass
class _Node:
    """A flattened route: a leaf, or a cluster gateway decision (inner routes)."""

    route: Route
    label: str
    percent: float
    leaf: _Leaf | None = None
    inner: list["_Node"] = field(default_factory=list)
    gateway: Gateway | None = None


@dataclass
class _Settings:
    """What a route contributes to the backend it leads to."""

    balance: str | None = None
    rewrites: tuple = ()
    sticky: str | None = None
    balance_origin: Origin | None = field(default=None, compare=False)  # where the balance was written

    def below(self, route: Route, sticky: str | None) -> "_Settings":
        return _Settings(
            balance=route.balance or self.balance,
            rewrites=self.rewrites + tuple(route.rewrites),
            sticky=_stronger_sticky(self.sticky, sticky),
            balance_origin=route.origin.child("balance") if route.balance else self.balance_origin,
        )


def _stronger_sticky(first: str | None, second: str | None) -> str | None:
    order = {None: 0, STICKY_ROUTE: 1, STICKY_INSTANCE: 2}
    return first if order.get(first, 0) >= order.get(second, 0) else second


class _Planner:
    """Builds every FrontendPlan of an ArtifactSet, collecting all problems before raising."""

    def __init__(self, artifacts: ArtifactSet, default_slots: int = DEFAULT_SLOTS):
        self.artifacts = artifacts
        self.issues = IssueCollector()
        self.backends: dict[tuple, BackendPlan] = {}
        self.backends_by_name: dict[str, BackendPlan] = {}
        self.slot_sizer = SlotSizer(artifacts, default_slots, self._deref)
        self._clusters: dict[int, dict] = {}

    # -- references ---------------------------------------------------------------------------------------------------

    def _deref(self, value, table: dict, origin: Origin):
        if isinstance(value, Reference):
            found = table.get(value.name)
            if found is None:
                where = value.origin if value.origin.path or value.origin.file else origin
                self.issues.error(where, f"unknown {value.kind} reference", "UnresolvedReference", value.name)
            return found
        return value

    def breed_of(self, service: Service) -> Breed | None:
        return self._deref(service.breed, self.artifacts.breeds, service.origin)

    def condition_of(self, route: Route) -> Condition | None:
        return self._deref(route.condition, self.artifacts.conditions, route.origin) if route.condition is not None else None

    # -- slots ----------------------------------------------------------------------------------------------------------

    def slot_count(self, blueprint: Blueprint, cluster: Cluster, service: Service) -> int:
        """The server slots of a service backend: what its cluster's SLA may scale it to (sla/capacity.py)."""
        scale = self._deref(service.scale, self.artifacts.scales, service.origin) if service.scale is not None else None
        return self.slot_sizer.slots(blueprint, cluster.name, scale.instances if isinstance(scale, Scale) else 0)

    # -- leaves ---------------------------------------------------------------------------------------------------------

    def service_leaf(self, blueprint: Blueprint, cluster: Cluster, service: Service, port_name: str | None, origin: Origin) -> _Leaf | None:
        breed = self.breed_of(service)
        if breed is None:
            return None
        port = breed.port(port_name)
        if port is None:
            names = ", ".join(p.name for p in breed.ports) or "none"
            self.issues.error(origin, f"breed {breed.name} has no port {port_name!r}" if port_name else
                              f"breed {breed.name} has several ports; name one", "UnresolvedGatewayPortError", port_name, names)
            return None
        target = f"{blueprint.name}/{cluster.name}/{breed.name}"
        if len(breed.ports) > 1:
            target += f"/{port.name}"
        check = self._health_check(cluster, service, breed, port)
        check_port = check_port_name = None
        if check is not None and check.port and check.port != port.name:
            other = breed.port(check.port)
            if other is not None:
                check_port, check_port_name = other.number, other.name
        return _Leaf(
            target=target,
            instance_key=f"{blueprint.name}/{cluster.name}/{breed.name}",
            port_name=port.name,
            port_number=port.number,
            slots=self.slot_count(blueprint, cluster, service),
            health_check=check,
            check_port=check_port,
            check_port_name=check_port_name,
        )

    @staticmethod
    def _health_check(cluster: Cluster, service: Service, breed: Breed, port: Port) -> HealthCheck | None:
        """The service's checks, else the cluster's, else the breed's; the one for this port, else the first."""
        checks = service.health_checks if service.health_checks is not None else cluster.health_checks
        if checks is None:
            checks = breed.health_checks
        for check in checks:
            if check.port in (None, port.name):
                return check
        return checks[0] if checks else None

    @staticmethod
    def external_leaf(route: Route) -> _Leaf:
        host, port = route.external_address
        return _Leaf(target=f"[{host}:{port}]", address=(host, port), slots=1)

    # -- routes ---------------------------------------------------------------------------------------------------------

    def check_route(self, route: Route) -> None:
        """Balance and rewrites reach haproxy.cfg: only what text_rules allows (the reader checks too)."""
        if route.balance is not None and balance_problem(route.balance):
            self.issues.error(route.origin.child("balance"), "unsupported balance algorithm", "InvalidBalance", route.balance,
                              balance_problem(route.balance))
        for index, rewrite in enumerate(route.rewrites):
            problem = rewrite_problem(rewrite.path, rewrite.condition)
            if problem:
                self.issues.error(rewrite.origin if rewrite.origin.path else route.origin.child("rewrites").child(index),
                                  "rewrite cannot be written safely", "InvalidRewrite", f"{rewrite.path} if {rewrite.condition}", problem)

    def check_virtual_hosts(self, gateway: Gateway) -> None:
        for index, host in enumerate(gateway.virtual_hosts):
            problem = virtual_host_problem(host)
            if problem:
                self.issues.error(gateway.origin.child("virtual_hosts").child(index), "invalid virtual host", "InvalidVirtualHost", host, problem)

    def outer_nodes(self, gateway: Gateway, blueprint: Blueprint | None) -> list[_Node]:
        """The routes of a gateway with a port, each resolved to a leaf or a cluster decision."""
        percents = effective_weights([r.weight for r in gateway.routes])
        nodes = []
        for route, percent in zip(gateway.routes, percents):
            self.check_route(route)
            # a route that refers to a route artifact is named by where it goes, and by the artifact
            label = f"{route.path} (route {route.name})" if route.name and route.name != route.path else route.path
            if route.target_kind == EXTERNAL_TARGET:
                nodes.append(_Node(route, label, percent, leaf=self.external_leaf(route)))
                continue
            resolved = self._cluster_target(route, blueprint)
            if resolved is None:
                continue
            target_blueprint, cluster, port_name = resolved
            node = self.cluster_node(route, label, percent, target_blueprint, cluster, port_name)
            if node is not None:
                nodes.append(node)
        return nodes

    def _cluster_target(self, route: Route, blueprint: Blueprint | None):
        """(blueprint, cluster, port name) for `cluster/port` (in the gateway's blueprint, or the only blueprint that
        has the cluster) or `deployment/cluster/port`."""
        parts = route.path_parts
        blueprint_name = route.target_blueprint
        cluster_name = route.target_cluster
        port_name = route.target_port
        if cluster_name is None:
            if len(parts) == 3:
                blueprint_name, cluster_name, port_name = parts
            elif len(parts) == 2:
                cluster_name, port_name = parts
            elif len(parts) == 1 and route.target_kind == CLUSTER_TARGET:
                cluster_name = parts[0]
        if cluster_name is None:
            self.issues.error(route.origin, "route target is not cluster/port, deployment/cluster/port or [host:port]",
                              "UnresolvedGatewayPortError", route.path)
            return None
        candidates = []
        if blueprint_name is not None:
            found = self.artifacts.blueprints.get(blueprint_name)
            candidates = [found] if found is not None else []
        elif blueprint is not None:
            candidates = [blueprint]
        else:
            candidates = [self.artifacts.blueprints[name] for name in sorted(self.artifacts.blueprints)]
        candidates = [bp for bp in candidates if self.cluster(bp, cluster_name) is not None]
        if len(candidates) != 1:
            why = "no loaded blueprint has this cluster" if not candidates else "several blueprints have this cluster; write deployment/cluster/port"
            self.issues.error(route.origin, f"route target not found: {why}", "UnresolvedGatewayPortError", route.path)
            return None
        return candidates[0], self.cluster(candidates[0], cluster_name), port_name

    def cluster(self, blueprint: Blueprint, name: str) -> Cluster | None:
        clusters = self._clusters.get(id(blueprint))
        if clusters is None:
            clusters = self._clusters[id(blueprint)] = {c.name: c for c in blueprint.clusters}
        return clusters.get(name)

    def cluster_node(self, route: Route, label: str, percent: float, blueprint: Blueprint, cluster: Cluster, port_name: str | None) -> _Node | None:
        gateway = cluster_gateway(cluster, port_name)
        node = _Node(route, label, percent, gateway=gateway)
        routes = list(gateway.routes) if gateway is not None else []
        services = {}
        for service in cluster.services:
            breed = self.breed_of(service)
            if breed is not None:
                services[breed.name] = service
        named = {r.path for r in routes if r.target_kind != EXTERNAL_TARGET}
        for unknown in sorted(named - set(services)):
            origin = next(r.origin for r in routes if r.path == unknown)
            self.issues.error(origin, f"cluster {cluster.name} has no service with breed {unknown}", "UnresolvedGatewayPortError",
                              unknown, ", ".join(sorted(services)) or "none")
        if services and all(b.port(port_name) is None for b in (self.breed_of(sv) for sv in services.values())):
            ports = sorted({p.name for sv in services.values() for p in self.breed_of(sv).ports})
            self.issues.error(route.origin, f"cluster {cluster.name} serves no port {port_name!r}" if port_name else
                              f"cluster {cluster.name} has several ports; name one (cluster/port)", "UnresolvedGatewayPortError",
                              route.path, ", ".join(ports) or "none")
            return None
        # services the cluster gateway does not name are routes without a weight
        routes = [r for r in routes if r.target_kind == EXTERNAL_TARGET or r.path in services]
        routes.extend(Route(path=name, origin=cluster.origin) for name in services if name not in named)
        for inner, inner_percent in zip(routes, effective_weights([r.weight for r in routes])):
            self.check_route(inner)
            inner_label = inner.name or inner.path
            if inner.target_kind == EXTERNAL_TARGET:
                leaf = self.external_leaf(inner)
            else:
                leaf = self.service_leaf(blueprint, cluster, services[inner.path], port_name, inner.origin)
            if leaf is not None:
                node.inner.append(_Node(inner, inner_label, inner_percent, leaf=leaf))
        if not node.inner:
            if not routes:
                self.issues.error(route.origin, f"cluster {cluster.name} has no service to route to", "UnresolvedGatewayPortError", route.path)
            return None
        if len(node.inner) == 1 and not node.inner[0].route.condition:
            only = node.inner[0]
            node.leaf = only.leaf
            node.route = _merged_route(route, only.route)
            node.inner = []
            node.label = f"{label} > {only.label}" if only.label else label
        return node

    # -- backends -------------------------------------------------------------------------------------------------------

    def backend(self, leaf: _Leaf, settings: _Settings, mode: str) -> BackendPlan:
        """The backend for a leaf with these settings; the same leaf and settings share one backend."""
        key = (leaf.target, mode, settings.balance, tuple((r.path, r.condition) for r in settings.rewrites), settings.sticky == STICKY_INSTANCE)
        found = self.backends.get(key)
        if found is not None:
            return found
        if mode == TCP and balance_needs_http(settings.balance):
            # the backend takes the mode of the frontend the request comes in by, whatever the route's own gateway is
            self.issues.error(settings.balance_origin, "this balance algorithm needs an http port", "BalancePortTypeError",
                              settings.balance, TCP_BALANCE_ALLOWED)
        # the usual case (no balance, rewrites or instance cookie) keeps a name that depends on the target only
        variant = repr(key[1:]) if key[2:] != (None, (), False) else ""
        name = names.backend_name(leaf.target, variant)
        plan = BackendPlan(
            name=name,
            mode=mode,
            target=leaf.target,
            instance_key=leaf.instance_key,
            port_name=leaf.port_name,
            port_number=leaf.port_number,
            address=leaf.address,
            slots=leaf.slots,
            balance=settings.balance,
            rewrites=list(settings.rewrites),
            sticky_instance=settings.sticky == STICKY_INSTANCE,
            health_check=leaf.health_check,
            check_port=leaf.check_port,
            check_port_name=leaf.check_port_name,
        )
        if plan.sticky_instance:
            plan.instance_cookie = names.instance_cookie_name(name)
        self.backends[key] = plan
        self.backends_by_name[name] = plan
        return plan

    # -- frontends ------------------------------------------------------------------------------------------------------

    def frontend(self, gateway: Gateway, label: str, blueprint: Blueprint | None) -> FrontendPlan | None:
        mode = gateway.port.protocol or HTTP
        name = names.frontend_name(label)
        tag = names.frontend_tag(label)
        plan = FrontendPlan(
            name=name, gateway=gateway, label=label, port=gateway.port.number, mode=mode, sticky=gateway.sticky, tag=tag,
            virtual_hosts=list(gateway.virtual_hosts), origin=gateway.origin,
        )
        self.check_virtual_hosts(gateway)
        nodes = self.outer_nodes(gateway, blueprint)
        if not nodes:
            if gateway.routes:
                return None
            self.issues.error(gateway.origin, "gateway has no routes", "MissingRoutes")
            return None
        _Flattener(self, plan, nodes).run()
        if mode == TCP and (plan.tests or plan.sticky_routes):
            self.issues.error(gateway.origin, "conditions and sticky sessions need an http port", "UnsupportedOnTcp", gateway.port.value)
        return plan


def _merged_route(outer: Route, inner: Route) -> Route:
    """A cluster route with exactly one service: the outer route's own settings, then the inner one's."""
    return Route(
        path=outer.path, target_kind=outer.target_kind, weight=outer.weight, condition=outer.condition,
        condition_strength=outer.condition_strength, rewrites=list(outer.rewrites) + list(inner.rewrites),
        balance=inner.balance or outer.balance, name=outer.name, origin=outer.origin,
    )


class _Flattener:
    """Turns a gateway's resolved routes into one frontend's ordered rules and weighted maps."""

    def __init__(self, planner: _Planner, plan: FrontendPlan, nodes: list[_Node]):
        self.planner = planner
        self.plan = plan
        self.nodes = nodes
        self.sticky_backends: dict[str, StickyRoute] = {}

    def run(self) -> None:
        plan = self.plan
        outer_sticky = plan.gateway.sticky
        single = len(self.nodes) == 1 and not self.nodes[0].route.condition
        stage_tokens = {}
        main_entries: list[tuple[str, str, float, str]] = []
        for index, node in enumerate(self.nodes, 1):
            inner_sticky = node.gateway.sticky if node.gateway is not None else None
            settings = _Settings().below(node.route, _stronger_sticky(outer_sticky, inner_sticky))
            test = self._test(node.route, names.condition_key(index), node.label)
            if node.leaf is not None:
                backend = self._backend(node.leaf, settings, node.label)
                if test is not None:
                    plan.rules.append(Rule(node.label, [test], backend=backend.name))
                main_entries.append((backend.name, node.label, node.percent, backend.target))
                continue
            inner_rules, inner_entries = self._inner(node, index, settings, inner_sticky)
            if test is not None:
                # the rest of this route's requests: the main pick is unused on this path, so it serves here too
                rest = self._map(names.rest_suffix(index), inner_entries)
                plan.rules.extend(Rule(r.route, [test] + r.tests, backend=r.backend) for r in inner_rules)
                plan.rules.append(Rule(node.label, [test], weighted=rest))
            if single:
                plan.rules.extend(inner_rules)
                main_entries.extend((b, r, p * node.percent / 100.0, t) for b, r, p, t in inner_entries)
            elif inner_rules:
                token = names.stage_token(index)
                stage_tokens[token] = node
                stage_map = self._map(names.stage_suffix(index), inner_entries)
                rules = [Rule(r.route, r.tests, backend=r.backend, stage=token) for r in inner_rules]
                plan.stages.append(Stage(token, node.label, rules, stage_map))
                main_entries.append((token, node.label, node.percent, node.label))
            else:
                main_entries.extend((b, r, p * node.percent / 100.0, t) for b, r, p, t in inner_entries)
        plan.weighted = self._map("", main_entries)
        plan.sticky_routes = sorted(self.sticky_backends.values(), key=lambda s: s.backend)
        if plan.sticky_routes:
            plan.route_cookie = names.route_cookie_name(plan.name)
        seen = {}
        for rule in plan.rules + [r for stage in plan.stages for r in stage.rules]:
            for test in rule.tests:
                seen.setdefault(test.key, test)
        plan.tests = list(seen.values())
        plan.backends = self._frontend_backends()

    def _inner(self, node: _Node, index: int, settings: _Settings, inner_sticky: str | None):
        rules, entries = [], []
        for position, inner in enumerate(node.inner, 1):
            inner_settings = settings.below(inner.route, inner_sticky)
            label = f"{node.label} > {inner.label}"
            backend = self._backend(inner.leaf, inner_settings, label)
            test = self._test(inner.route, names.condition_key(index, position), label)
            if test is not None:
                rules.append(Rule(label, [test], backend=backend.name))
            entries.append((backend.name, label, inner.percent, backend.target))
        return rules, entries

    def _backend(self, leaf: _Leaf, settings: _Settings, label: str) -> BackendPlan:
        backend = self.planner.backend(leaf, settings, self.plan.mode)
        if settings.sticky in (STICKY_ROUTE, STICKY_INSTANCE) and backend.name not in self.sticky_backends:
            # per backend, so that the backend itself can set it; the cookie name is per frontend
            backend.route_cookie_value = names.route_cookie_value(backend.name)
            self.sticky_backends[backend.name] = StickyRoute(backend.name, backend.route_cookie_value, label)
        return backend

    def _test(self, route: Route, key: str, label: str) -> Test | None:
        condition = self.planner.condition_of(route)
        if condition is None:
            return None
        strength = 100.0 if route.condition_strength is None else min(100.0, max(0.0, float(route.condition_strength)))
        return Test(
            key=key, var=names.condition_var(self.plan.tag, key), acl_prefix=names.acl_prefix(self.plan.tag, key), condition=condition,
            strength=strength, threshold=round(strength * PICK_RANGE / 100.0), route=label,
            origin=condition.origin if condition.origin.file or condition.origin.path else route.origin,
        )

    def _map(self, suffix: str, entries: list[tuple[str, str, float, str]]) -> WeightedMap:
        name = names.weights_map_name(self.plan.name, suffix)
        units = to_units([e[2] for e in entries])
        total = sum(e[2] for e in entries)
        weighted = WeightedMap(name=name, result_var=names.pick_var(self.plan.tag, suffix))
        for (target, route, percent, label), share in zip(entries, units):
            effective = percent * 100.0 / total if total > 0 else 0.0
            if effective > 0 and share == 0:
                # more routes with a share than units (10,001 services), or a share rounded below one unit (an unset
                # weight's part of a small rest, a small weight of a small weight): the draw would never pick it
                self.planner.issues.error(self.plan.origin, f"route {route} would get no traffic: its share of the weighted draw is below "
                                          f"its {100 / PICK_RANGE:g}% resolution", "GatewayRouteWeightError", f"{effective:.6g}%",
                                          f"a share of at least {100 / PICK_RANGE:g}% for each route with a weight above 0, so at most "
                                          f"{PICK_RANGE:,} such routes in a gateway")
            weighted.entries.append(WeightedEntry(target=target, route=route, percent=round(effective, 4), units=share, label=label))
        return weighted

    def _frontend_backends(self) -> list[BackendPlan]:
        names = set()
        for weighted in self.plan.weighted_maps:
            names.update(e.target for e in weighted.entries)
        for rule in self.plan.rules + [r for stage in self.plan.stages for r in stage.rules]:
            if rule.backend:
                names.add(rule.backend)
        names.update(s.backend for s in self.plan.sticky_routes)
        return [self.planner.backends_by_name[name] for name in sorted(names) if name in self.planner.backends_by_name]


def _frontend_sources(artifacts: ArtifactSet):
    """(gateway, label, blueprint) for every gateway with a port: standalone gateways, then blueprint gateways."""
    for name, gateway in sorted(artifacts.gateways.items()):
        yield gateway, gateway.name or name, None
    for bp_name, blueprint in sorted(artifacts.blueprints.items()):
        for gateway in blueprint.gateways:
            label = gateway.name or str(gateway.port.number)
            if not label.startswith(f"{bp_name}/"):
                label = f"{bp_name}/{label}"
            yield gateway, label, blueprint


def plan(artifacts: ArtifactSet, default_slots: int = DEFAULT_SLOTS) -> list[FrontendPlan]:
    """The routing plan of every gateway with a port, sorted by port. Raises DslError listing every problem.
    `default_slots`: server slots of a service backend whose cluster has no SLA scale_instances maximum."""
    planner = _Planner(artifacts, default_slots)
    frontends = []
    ports: dict[int, FrontendPlan] = {}
    for gateway, label, blueprint in _frontend_sources(artifacts):
        if gateway.port is None or gateway.port.number is None:
            planner.issues.error(gateway.origin, "a gateway needs a port number", "MissingPort", label)
            continue
        frontend = planner.frontend(gateway, label, blueprint)
        if frontend is None:
            continue
        other = ports.get(frontend.port)
        if other is not None:
            planner.issues.error(gateway.origin, f"port {frontend.port} is already used by gateway {other.label}", "DuplicateGatewayPort", frontend.port)
            continue
        ports[frontend.port] = frontend
        frontends.append(frontend)
    planner.issues.raise_if_any()
    _name_route_cookies(frontends)
    return sorted(frontends, key=lambda f: (f.port, f.name))


def _name_route_cookies(frontends: list[FrontendPlan]) -> None:
    """A route backend that only one (sticky) gateway reaches can set that gateway's cookie under a constant name."""
    reached: dict[str, list[FrontendPlan]] = {}
    for frontend in frontends:
        for backend in frontend.backends:
            reached.setdefault(backend.name, []).append(frontend)
    for frontend in frontends:
        for backend in frontend.backends:
            only = reached[backend.name]
            if backend.route_cookie_value and frontend.route_cookie and len(only) == 1 and only[0] is frontend:
                backend.route_cookie_name = frontend.route_cookie


def all_backends(frontends: list[FrontendPlan]) -> list[BackendPlan]:
    """Every backend of the plan once, sorted by name."""
    unique = {}
    for frontend in frontends:
        for backend in frontend.backends:
            unique.setdefault(backend.name, backend)
    return [unique[name] for name in sorted(unique)]


__all__ = [
    "BackendPlan", "FrontendPlan", "PICK_RANGE", "Rule", "Stage", "StickyRoute", "Test", "WeightedEntry", "WeightedMap",
    "all_backends", "effective_weights", "plan", "to_units",
]
