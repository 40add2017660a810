# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several load balancers of one group side by side: one view of what they serve, and where they disagree.

Pure: `compare_status(looks)` takes one `BalancerLook` per load balancer (its `FleetStatus`, or why it could not be
read) and gives a `GroupStatus`:
- the merged view: every gateway, route and server once (the first load balancer's, in its order, then what only the
  others have), with the traffic counters (sessions, rates, requests, 5xx) summed over the load balancers;
- the parts (blueprints and standalone gateways) with their gateways and each load balancer's digest of the part file;
- the differences, one per thing two load balancers say differently, with what each says: a gateway one of them
  lacks, a route's weight in the running maps, a condition's strength, a server's address, admin state or
  availability, and the part file's digest.
Traffic counters, response times and check results differ between load balancers by nature: they are not compared.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import FleetStatus, PartName, part_order, tables_as_dict

# what a Difference compares
PRESENCE = "gateway"
WEIGHT = "weight"
STRENGTH = "strength"
ADDRESS = "address"
STATE = "state"
AVAILABILITY = "availability"
CONFIG = "config"
SERVER_FIELDS = ((ADDRESS, "endpoint"), (STATE, "state"), (AVAILABILITY, "availability"))

_GATEWAY_COUNTERS = ("sessions", "session_rate", "request_rate", "requests", "errors_5xx")
_ROUTE_COUNTERS = ("sessions", "session_rate", "errors_5xx")
_SERVER_COUNTERS = ("sessions", "queue", "total_sessions", "session_rate", "http_5xx")
_PRECISION = 2


@dataclass
class BalancerLook:
    """One load balancer of the group: its status, or `error` saying why it could not be read; `vip`: whether it
    holds the group's virtual IP (None when not known)."""

    name: str
    status: FleetStatus | None = None
    error: str | None = None
    vip: bool | None = None

    @property
    def read(self) -> bool:
        return self.status is not None


@dataclass
class Difference:
    """Something the load balancers say differently. `values`: {load balancer: what it says}, for each load balancer
    that has the gateway (or, for `config`, the part); None where it has no such thing (a missing route, server or
    part file). `detail` is the condition whose strength differs."""

    subject: str
    part: str | None
    gateway: str | None
    route: str | None = None
    server: str | None = None
    detail: str | None = None
    values: dict = field(default_factory=dict)


@dataclass
class PartView(PartName):
    """A part across the group: its gateways on any load balancer, each load balancer's digest of its part file."""

    part: str
    gateways: list
    config_digests: dict
    agree: bool = True
    healthy: bool = True


@dataclass
class GroupStatus:
    group: str
    balancers: list
    vip: str | None
    gateways: list
    routes: list
    servers: list
    parts: list
    differences: list
    problems: list
    warnings: list

    @property
    def readable(self) -> list:
        return [look for look in self.balancers if look.read]

    @property
    def unreadable(self) -> list:
        return [look for look in self.balancers if not look.read]

    @property
    def agree(self) -> bool:
        return not self.differences

    @property
    def healthy(self) -> bool:
        """Every load balancer read, and none with a problem."""
        return not self.unreadable and not self.problems

    def vip_holders(self) -> list:
        return [look.name for look in self.balancers if look.vip]

    def differs(self, subject: str, gateway: str | None = None, route: str | None = None, server: str | None = None) -> bool:
        """Whether a difference of `subject` concerns this gateway (label), route (label) or server."""
        return any(d.subject == subject and (gateway is None or d.gateway == gateway) and (route is None or d.route == route)
                   and (server is None or d.server == server) for d in self.differences)

    def as_dict(self) -> dict:
        parts: dict = {"blueprints": {}, "standalone_gateways": {}}
        for view in self.parts:
            key = "blueprints" if view.kind == "blueprint" else "standalone_gateways"
            parts[key][view.name] = {"part": view.part, "gateways": list(view.gateways), "config_digests": dict(view.config_digests),
                                     "agree": view.agree, "healthy": view.healthy}
        return {
            "group": self.group,
            "healthy": self.healthy,
            "agree": self.agree,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "vip": {"address": self.vip, "holders": self.vip_holders()} if self.vip else None,
            "load_balancers": [{"name": look.name, "read": look.read, "error": look.error, "vip": look.vip,
                                "healthy": look.status.healthy if look.status else None,
                                "status": look.status.as_dict() if look.status else None} for look in self.balancers],
            **parts,
            **tables_as_dict(self.gateways, self.routes, self.servers),
            "differences": [asdict(difference) for difference in self.differences],
        }


# ---------------------------------------------------------------------------------------------------------------------
# The merged view


def _add(into, other, counters: tuple) -> None:
    for name in counters:
        mine, theirs = getattr(into, name), getattr(other, name)
        if mine is None or theirs is None:
            setattr(into, name, mine if theirs is None else theirs)
        else:
            setattr(into, name, mine + theirs)


def _merge(items_per_look: list, key, counters: tuple, combine=None) -> list:
    """Each item once, by `key`, in the order the looks list them; counters summed."""
    merged: dict = {}
    for items in items_per_look:
        for item in items:
            found = merged.get(key(item))
            if found is None:
                merged[key(item)] = copy.deepcopy(item)
                continue
            _add(found, item, counters)
            if combine:
                combine(found, item)
    return list(merged.values())


def _route_key(route) -> tuple:
    return (route.gateway, route.backend, route.label)


def _server_key(server) -> tuple:
    return (server.backend, server.server)


def _both_healthy(found, item) -> None:
    found.healthy = found.healthy and item.healthy


# ---------------------------------------------------------------------------------------------------------------------
# The differences


def _same(values: dict) -> bool:
    def normal(value):
        return round(value, _PRECISION) if isinstance(value, float) else value
    return len({repr(normal(value)) for value in values.values()}) <= 1


class _Comparer:
    def __init__(self, looks: list):
        self.looks = looks
        self.differences: list = []
        self.seen_backends: set = set()

    def note(self, values: dict, subject: str, part, gateway, **where) -> None:
        if len(values) > 1 and not _same(values):
            self.differences.append(Difference(subject, part, gateway, values=values, **where))

    def gateway(self, name: str) -> None:
        present = {look.name: next((g for g in look.status.gateways if g.name == name), None) for look in self.looks}
        found = [gateway for gateway in present.values() if gateway is not None]
        part, label = found[0].part, found[0].label
        self.note({lb: gateway is not None for lb, gateway in present.items()}, PRESENCE, part, label)
        having = [look for look in self.looks if present[look.name] is not None]
        routes = {look.name: {(r.backend, r.label): r for r in look.status.routes if r.gateway == name} for look in having}
        keys = list(dict.fromkeys(key for by_key in routes.values() for key in by_key))
        for key in keys:
            per = {lb: by_key.get(key) for lb, by_key in routes.items()}
            route_label = key[1]
            self.note({lb: r.weight if r else None for lb, r in per.items()}, WEIGHT, part, label, route=route_label)
            conditions = list(dict.fromkeys(c.condition for r in per.values() if r for c in r.conditions))
            for condition in conditions:
                strengths = {lb: _strength(r, condition) for lb, r in per.items()}
                self.note(strengths, STRENGTH, part, label, route=route_label, detail=condition)
            backend = key[0]
            if backend and backend not in self.seen_backends:
                self.seen_backends.add(backend)
                self.servers(backend, route_label, part, label, having)

    def servers(self, backend: str, route_label: str, part, gateway: str, having: list) -> None:
        servers = {look.name: {s.server: s for s in look.status.servers if s.backend == backend} for look in having}
        names = list(dict.fromkeys(name for by_name in servers.values() for name in by_name))
        for name in names:
            per = {lb: by_name.get(name) for lb, by_name in servers.items()}
            if all(server is None or server.empty for server in per.values()):
                continue
            for subject, attribute in SERVER_FIELDS:
                values = {lb: getattr(server, attribute) if server else None for lb, server in per.items()}
                self.note(values, subject, part, gateway, route=route_label, server=name)

    def part(self, view: PartView) -> None:
        self.note(dict(view.config_digests), CONFIG, view.part, None)


def _strength(route, condition: str):
    """The strengths (and shares) `route` gives `condition`: one value, or a tuple when the condition leads to a
    cluster through several rules; None without it."""
    if route is None:
        return None
    found = [(c.strength, c.share) for c in route.conditions if c.condition == condition]
    if not found:
        return None
    if len(found) == 1 and found[0][1] is None:
        return found[0][0]
    return [list(item) for item in found]


def _parts(looks: list) -> list:
    views: dict = {}
    for look in looks:
        for part in look.status.parts:
            view = views.setdefault(part.part, PartView(part.part, [], {}))
            view.gateways.extend(label for label in part.gateways if label not in view.gateways)
            view.config_digests[look.name] = part.config_digest
            view.healthy = view.healthy and part.healthy
    return [views[name] for name in sorted(views, key=part_order)]


def compare_status(looks: list, group: str = "", vip: str | None = None) -> GroupStatus:
    """The group's status from one `BalancerLook` per load balancer, in the order given."""
    readable = [look for look in looks if look.read]
    statuses = [look.status for look in readable]
    gateways = _merge([s.gateways for s in statuses], lambda g: g.name, _GATEWAY_COUNTERS, _both_healthy)
    gateways.sort(key=lambda g: part_order(g.part))
    routes = _merge([s.routes for s in statuses], _route_key, _ROUTE_COUNTERS)
    order = {gateway.name: index for index, gateway in enumerate(gateways)}
    routes.sort(key=lambda r: order.get(r.gateway, len(order)))
    servers = _merge([s.servers for s in statuses], _server_key, _SERVER_COUNTERS)
    backends = list(dict.fromkeys(route.backend for route in routes))
    servers.sort(key=lambda s: backends.index(s.backend) if s.backend in backends else len(backends))
    parts = _parts(readable)
    comparer = _Comparer(readable)
    for gateway in gateways:
        comparer.gateway(gateway.name)
    for view in parts:
        comparer.part(view)
    differences = sorted(comparer.differences, key=lambda d: (part_order(d.part), d.gateway is not None))
    for view in parts:
        view.agree = not any(d.part == view.part for d in differences)
    problems = [f"{look.name}: {problem}" for look in readable for problem in look.status.problems]
    warnings = [f"{look.name}: {warning}" for look in readable for warning in look.status.warnings]
    return GroupStatus(group=group, balancers=list(looks), vip=vip, gateways=gateways, routes=routes, servers=servers, parts=parts,
                       differences=differences, problems=problems, warnings=warnings)


__all__ = ["ADDRESS", "AVAILABILITY", "BalancerLook", "CONFIG", "Difference", "GroupStatus", "PRESENCE", "PartView", "STATE", "STRENGTH",
           "WEIGHT", "compare_status"]
