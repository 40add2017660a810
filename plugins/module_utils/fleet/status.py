# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The status of a running load balancer, built from what its runtime API says: gateways, routes, servers.

Pure: `build_status(RawStatus)` turns the admin socket's answers exactly as HAProxy wrote them (`show stat`,
`show servers state`, `show map`, `show info`, the master's `show proc`) plus, when available, the live haproxy.cfg
into a `FleetStatus`. Nothing here talks to a socket: status_source.py collects the answers, locally or through
any other transport (the drover CLI's SSH one).

- Gateways are the frontends, named by the renderer's `# gateway <label>` comments (routing/names.py).
- Routes are the backends a gateway reaches. A route's weight is its share of the gateway's weighted pick as the
  RUNNING map says (runtime changes included), not as the blueprint or the map file says; the file's share is shown
  beside it when the file can be read, so a drift between the two is visible.
- Servers are the slots of each backend, as haproxy/server_view.py joins them: admin state (ready, drain, maint),
  availability (UP, DOWN, NOLB, MAINT), weight, sessions, rates, response time and the last check.
- Parts: each gateway belongs to the part of haproxy.cfg its blueprint (or, standalone, itself) owns
  (haproxy/parts.py); the status groups gateways by part, with a digest of the part file `drover.d/<part>.cfg` on
  the load balancer, so two load balancers' copies of a part can be compared (fleet/status_compare.py).

A routed backend (weight above 0, or a condition leading to it) with no server that takes new requests is a
problem, and so is a share of a gateway's requests that reaches no route at all (HTTP 503).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import asdict, dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_routing import (
    FrontendConfig,
    MapLookup,
    RoutingConfig,
    UseBackend,
    read_routing_config,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import (
    RuntimeApiError,
    parse_map_entries,
    parse_map_list,
    parse_map_text,
    parse_servers_state,
    parse_show_proc,
    parse_stat_csv,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.parts import PART_KINDS
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import part_of_frontend
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.server_view import ServerView, int_or_none, server_views
from ansible_collections.drover.fleet.plugins.module_utils.routing.names import GATEWAY_COMMENT, is_unrouted, stage_token, weights_map_role
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import PICK_RANGE

UNROUTED_LABEL = "no route (503)"
_MAP_KEY = re.compile(r"(\d+)(?::(\d+))?")


@dataclass
class RawStatus:
    """One look at a running HAProxy, as text. `maps`: map file (as HAProxy lists it) -> `show map #<id>` answer, and
    strength file (an ACL file of draws) -> `show acl #<id>` answer; `map_files`: the same names -> the file's
    content, when it could be read."""

    stat: str
    servers_state: str
    info: str = ""
    map_list: str = ""
    maps: dict = field(default_factory=dict)
    map_files: dict = field(default_factory=dict)
    proc: str | None = None
    config: str | None = None
    config_path: str | None = None
    source: str = ""
    warnings: list = field(default_factory=list)
    part_files: dict = field(default_factory=dict)
    addresses: list | None = None


@dataclass
class ProcessStatus:
    pid: int | None = None
    version: str = ""
    uptime: str = ""
    uptime_seconds: int | None = None
    current_connections: int | None = None
    total_requests: int | None = None
    master_pid: int | None = None
    reloads: int | None = None
    failed_reloads: int | None = None
    workers: int | None = None
    old_workers: int | None = None


@dataclass
class GatewayStatus:
    name: str
    label: str
    binds: list
    mode: str
    status: str
    sessions: int
    session_rate: int
    request_rate: int | None
    requests: int | None
    errors_5xx: int | None
    sticky: str | None
    routed: bool
    healthy: bool = True
    # the part of haproxy.cfg the gateway belongs to (`blueprint-<name>`, `gateway-<name>`); None when drover did not
    # write it (a hand-written frontend, the shared virtual-hosts frontend)
    part: str | None = None


class PartName:
    """What a `part` (`blueprint-<name>`, `gateway-<name>`) names: its kind and the artifact's name."""

    part: str

    @property
    def kind(self) -> str:
        return self.part.partition("-")[0]

    @property
    def name(self) -> str:
        return self.part.partition("-")[2]


@dataclass
class PartStatus(PartName):
    """The gateways of one part, and the part file on the load balancer (`config_digest`: SHA-256 of its text; None
    when the file is missing, as on a load balancer still in the single-file layout)."""

    part: str
    gateways: list
    config_file: str | None = None
    config_digest: str | None = None
    healthy: bool = True


@dataclass
class ConditionStatus:
    """A condition that sends requests to a route: `strength` percent of the matching requests go there (times
    `share`, the route's share of that condition's own weighted split, when the condition leads to a cluster)."""

    condition: str
    strength: float | None
    share: float | None = None


@dataclass
class RouteStatus:
    gateway: str
    gateway_label: str
    backend: str
    label: str
    weight: float | None
    file_weight: float | None
    conditions: list
    sticky: str | None
    routed: bool
    status: str
    servers: int
    servers_up: int
    servers_serving: int
    sessions: int
    session_rate: int
    response_time: int | None
    errors_5xx: int | None

    @property
    def drifted(self) -> bool:
        """The running map and the map file give this route different shares."""
        return self.weight is not None and self.file_weight is not None and abs(self.weight - self.file_weight) >= 0.005


@dataclass
class ServerStatus(ServerView):
    """A server (haproxy/server_view.py) with the label of its backend: the route target the renderer's comment names."""

    backend_label: str = ""


@dataclass
class FleetStatus:
    source: str
    config_path: str | None
    process: ProcessStatus
    gateways: list
    routes: list
    servers: list
    problems: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    parts: list = field(default_factory=list)
    addresses: list | None = None

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "config_path": self.config_path,
            "healthy": self.healthy,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "process": asdict(self.process),
            "addresses": self.addresses,
            **parts_as_dict(self.parts),
            **tables_as_dict(self.gateways, self.routes, self.servers),
        }


def tables_as_dict(gateways: list, routes: list, servers: list) -> dict:
    """`gateways`, `routes` and `servers` of the JSON: each item's fields, plus a route's `drifted` and a server's
    `serving`, `empty` and `check`."""
    route_items = []
    for route in routes:
        item = asdict(route)
        item["drifted"] = route.drifted
        route_items.append(item)
    server_items = []
    for server in servers:
        item = server.as_dict()
        item["check"] = server.check
        server_items.append(item)
    return {"gateways": [asdict(gateway) for gateway in gateways], "routes": route_items, "servers": server_items}


def parts_as_dict(found: list) -> dict:
    """`blueprints` and `standalone_gateways`: {name: {part, gateways, ...}} of the parts in `found`."""
    data: dict = {"blueprints": {}, "standalone_gateways": {}}
    for part in found:
        key = "blueprints" if part.kind == "blueprint" else "standalone_gateways"
        item = asdict(part)
        item.pop("part")
        data[key][part.name] = {"part": part.part, **item}
    return data


def gateway_part(frontend: FrontendConfig) -> str | None:
    """The part a frontend belongs to, when the renderer's `# gateway <label>` comment names it (the same rule as
    the renderer's: haproxy/render.py part_of_frontend); None for a frontend drover did not write."""
    if not frontend.comment.startswith(GATEWAY_COMMENT):
        return None
    try:
        return part_of_frontend(frontend)
    except DroverError:
        return None


def part_order(part: str | None) -> tuple:
    """Blueprints first, then standalone gateways, each by name; gateways of no part last."""
    if part is None:
        return (len(PART_KINDS), "")
    kind, _sep, name = part.partition("-")
    return (PART_KINDS.index(kind) if kind in PART_KINDS else len(PART_KINDS), name)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------------------------------
# Parsing the answers


def parse_info(text: str) -> dict:
    """`show info`: `Key: value` lines."""
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def map_shares(entries: list, pick_range: int) -> tuple:
    """({target: percent of all draws}, percent of draws no entry covers, problems) for a `map_int` map of
    `lo:hi target` entries read as HAProxy does: the first entry that contains the draw wins."""
    covered: list = []
    counts: dict = {}
    problems = []
    for key, target in entries:
        match = _MAP_KEY.fullmatch(key.strip())
        if not match:
            problems.append(f"map key {key!r} is not an integer or a lo:hi range")
            continue
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        low, high = max(low, 0), min(high, pick_range - 1)
        size = high - low + 1
        if size <= 0:
            counts.setdefault(target, 0)
            continue
        for start, end in covered:
            overlap = min(end, high) - max(start, low) + 1
            if overlap > 0:
                size -= overlap
        counts[target] = counts.get(target, 0) + size
        covered = _merge(covered + [(low, high)])
    total = sum(counts.values())
    shares = {target: 100.0 * count / pick_range for target, count in counts.items()}
    return shares, 100.0 * (pick_range - total) / pick_range, problems


def _merge(intervals: list) -> list:
    merged: list = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _checked(command: str, text: str, looks_right) -> str:
    if not looks_right(text):
        raise RuntimeApiError(command, text.strip() or "empty answer")
    return text


# ---------------------------------------------------------------------------------------------------------------------
# Without a configuration: the renderer's naming conventions


def _frontends_from_names(frontends: list, map_files: list) -> RoutingConfig:
    """Picks by the renderer's map names when haproxy.cfg cannot be read: `<frontend>.map` is a frontend's pick and
    `<frontend>.<n>s.map` the second step of the route its pick names `@<n>` (':' in names became '_')."""
    config = RoutingConfig()
    for name in frontends:
        frontend = FrontendConfig(name=name, label=name)
        for path in map_files:
            route = weights_map_role(name, path)
            if route == 0:
                frontend.lookups["pick"] = MapLookup("pick", path, PICK_RANGE, "")
            elif route is not None:
                var = f"stage{route}"
                frontend.lookups[var] = MapLookup(var, path, PICK_RANGE, "", stage=("pick", stage_token(route)))
        if "pick" in frontend.lookups:
            frontend.rules.append(UseBackend(target=None, pick="pick"))
        config.frontends.append(frontend)
    return config


# ---------------------------------------------------------------------------------------------------------------------
# Building the model


class _Builder:
    def __init__(self, raw: RawStatus):
        self.raw = raw
        self.warnings = list(raw.warnings)
        self.problems: list = []
        self.stat_rows = parse_stat_csv(_checked("show stat", raw.stat, lambda t: t.startswith("#")))
        first = raw.servers_state.lstrip().split("\n", 1)[0].strip()
        self.states = parse_servers_state(_checked("show servers state", raw.servers_state, lambda _t: first.isdigit()))
        self.info = parse_info(raw.info) if raw.info else {}
        self.config = read_routing_config(raw.config) if raw.config else None
        self.rows = {(row.get("pxname"), row.get("svname")): row for row in self.stat_rows}
        self.map_infos = parse_map_list(raw.map_list) if raw.map_list else []
        self.base_dir = os.path.dirname(raw.config_path) if raw.config_path else None

    # -- maps --------------------------------------------------------------------------------------------------------

    def _map_text(self, texts: dict, path: str):
        """The text of map `path` (as haproxy.cfg names it) among `texts`, whose names HAProxy or the collector gave."""
        if path in texts:
            return texts[path]
        wanted = self._resolve(path)
        for name, text in texts.items():
            if self._resolve(name) == wanted:
                return text
        return None

    def _resolve(self, name: str) -> str:
        return os.path.normpath(name if os.path.isabs(name) or not self.base_dir else os.path.join(self.base_dir, name))

    def running_shares(self, lookup: MapLookup) -> tuple:
        text = self._map_text(self.raw.maps, lookup.path)
        if text is None:
            self.warnings.append(f"map {lookup.path} is not loaded in the running HAProxy: weights unknown")
            return None, None
        shares, uncovered, problems = map_shares(parse_map_entries(text), lookup.pick_range)
        self.warnings.extend(f"map {lookup.path}: {problem}" for problem in problems)
        return shares, uncovered

    def file_shares(self, lookup: MapLookup):
        text = self._map_text(self.raw.map_files, lookup.path)
        if text is None:
            return None
        return map_shares(parse_map_text(text), lookup.pick_range)[0]

    def threshold(self, value, pick_range: int) -> int | None:
        """The draws a condition's strength takes: as written, from its strength file (running, else on disk), or all
        of them (None: 100%). None when a strength file cannot be read."""
        if value is None:
            return pick_range
        if isinstance(value, int):
            return value
        running = self._map_text(self.raw.maps, value)
        if running is not None:
            patterns = [key for key, _value in parse_map_entries(running)]
        else:
            text = self._map_text(self.raw.map_files, value)
            if text is None:
                self.warnings.append(f"strength file {value} is not loaded in the running HAProxy: strength unknown")
                return None
            patterns = [key for key, _value in parse_map_text(text)]
        # the ranges of draws the file holds, counted as a map's ranges are
        shares, _uncovered, problems = map_shares([(pattern, "drawn") for pattern in patterns], pick_range)
        self.warnings.extend(f"strength file {value}: {problem}" for problem in problems)
        return round(shares.get("drawn", 0.0) * pick_range / 100.0)

    # -- routes of one gateway ---------------------------------------------------------------------------------------

    def gateway_routes(self, frontend: FrontendConfig) -> tuple:
        """(routes by backend in decision order, share of requests without a route) of one frontend."""
        routes: dict = {}

        def route(backend: str) -> dict:
            return routes.setdefault(backend, {"weight": None, "file_weight": None, "conditions": [], "sticky": None, "rule": False})

        unrouted = None
        mains = frontend.main_lookups
        if len(mains) == 1:
            main = mains[0]
            running, uncovered = self.running_shares(main)
            from_file = self.file_shares(main)
            if running is not None:
                unrouted = uncovered
                for target, share in self.expand(frontend, main, running).items():
                    if is_unrouted(target):
                        unrouted += share
                    else:
                        route(target)["weight"] = round(share, 4)
            if from_file is not None:
                for target, share in self.expand(frontend, main, from_file, files=True).items():
                    if not is_unrouted(target):
                        route(target)["file_weight"] = round(share, 4)
        elif len(mains) > 1:
            # the shared virtual-host frontend repeats several gateways' picks: their own frontends show those routes
            return {}, None
        for rule in frontend.rules:
            self.rule_routes(frontend, rule, route)
        for values in routes.values():
            if values["weight"] is None and unrouted is not None:
                values["weight"] = 0.0
        return routes, unrouted

    def expand(self, frontend: FrontendConfig, lookup: MapLookup, shares: dict, files: bool = False) -> dict:
        """Shares of backends, with a stage token's share split by the stage's own map."""
        result: dict = {}
        for target, share in shares.items():
            stage = next((s for s in frontend.lookups.values() if s.stage == (lookup.var, target)), None)
            if stage is None:
                result[target] = result.get(target, 0.0) + share
                continue
            inner = self.file_shares(stage) if files else self.running_shares(stage)[0]
            for backend, inner_share in (inner or {}).items():
                result[backend] = result.get(backend, 0.0) + share * inner_share / 100.0
        return result

    def rule_routes(self, frontend: FrontendConfig, rule: UseBackend, route) -> None:
        if rule.sticky_value and rule.target:
            route(rule.target)["sticky"] = "route"
            return
        if not rule.tests and not rule.chances and not rule.other and not rule.default:
            return  # the weighted pick itself, or a stage's rest: weights already cover it
        draws = [frontend.draws.get(var) for var, _threshold in rule.tests]
        parts = [draw.condition for draw in draws if draw is not None] + ([rule.other] if rule.other else [])
        condition = " ".join(parts) if parts else ("default" if rule.default else "")
        strength = None
        if rule.tests or rule.chances or parts:
            chances = [(threshold, draw.pick_range if draw else PICK_RANGE) for (_var, threshold), draw in zip(rule.tests, draws)]
            strength = 100.0
            for threshold, pick_range in chances + list(rule.chances):
                drawn = self.threshold(threshold, pick_range)
                strength = None if strength is None or drawn is None else strength * min(drawn, pick_range) / pick_range
            strength = None if strength is None else round(strength, 4)
        if rule.target:
            if rule.default and is_unrouted(rule.target):
                return
            entry = route(rule.target)
            entry["conditions"].append(ConditionStatus(condition, strength))
            entry["rule"] = True
            return
        lookup = frontend.lookups.get(rule.pick or "")
        if lookup is None:
            return
        shares = self.running_shares(lookup)[0] or {}
        for target, share in self.expand(frontend, lookup, shares).items():
            if is_unrouted(target):
                continue
            entry = route(target)
            entry["conditions"].append(ConditionStatus(condition, strength, round(share, 4)))
            entry["rule"] = True

    # -- the whole picture -------------------------------------------------------------------------------------------

    def servers(self) -> list:
        labels = self.config.backends if self.config else {}
        result = []
        for view in server_views(self.states, self.stat_rows):
            backend = labels.get(view.backend)
            result.append(ServerStatus(**vars(view), backend_label=backend.label if backend else view.backend))
        return result

    def build(self) -> FleetStatus:
        frontend_rows = [row for row in self.stat_rows if row.get("svname") == "FRONTEND"]
        config = self.config
        if config is None:
            config = _frontends_from_names([row["pxname"] for row in frontend_rows], [info.file for info in self.map_infos])
        servers = self.servers()
        by_backend: dict = {}
        for server in servers:
            by_backend.setdefault(server.backend, []).append(server)
        gateways, routes = [], []
        for row in frontend_rows:
            frontend = config.frontend(row["pxname"]) or FrontendConfig(name=row["pxname"], label=row["pxname"])
            found, unrouted = self.gateway_routes(frontend)
            gateway_routes = [self.route(frontend, backend, values, by_backend.get(backend, [])) for backend, values in found.items()]
            sticky = "route" if frontend.route_cookie else None
            if any(r.sticky == "instance" for r in gateway_routes):
                sticky = "instance"
            gateway = GatewayStatus(
                name=frontend.name, label=frontend.label, binds=list(frontend.binds), mode=str(row.get("mode") or frontend.mode),
                status=str(row.get("status") or ""), sessions=row.get("scur") or 0, session_rate=row.get("rate") or 0,
                request_rate=row.get("req_rate"), requests=row.get("req_tot"), errors_5xx=row.get("hrsp_5xx"), sticky=sticky,
                routed=bool(gateway_routes), part=gateway_part(frontend),
            )
            for route in gateway_routes:
                route.gateway_label = gateway.label
                if route.routed and route.servers_serving == 0:
                    gateway.healthy = False
                    self.problems.append(f"gateway {gateway.label}: route {route.label} ({_describe_share(route)}) has no server that "
                                         f"takes requests ({route.servers_up} of {route.servers} UP)")
            if unrouted is not None and unrouted >= 0.005:
                gateway.healthy = False
                self.problems.append(f"gateway {gateway.label}: {unrouted:.2f}% of the weighted requests have no route (HTTP 503)")
                gateway_routes.append(_unrouted_route(frontend, gateway.label, unrouted))
            gateways.append(gateway)
            routes.extend(gateway_routes)
        return FleetStatus(
            source=self.raw.source, config_path=self.raw.config_path, process=self.process(), gateways=gateways, routes=routes,
            servers=self.ordered(servers, routes), problems=self.problems, warnings=_unique(self.warnings),
            parts=self.parts(gateways), addresses=self.raw.addresses,
        )

    def parts(self, gateways: list) -> list:
        found: dict = {}
        for gateway in gateways:
            if gateway.part is None:
                continue
            part = found.setdefault(gateway.part, PartStatus(gateway.part, []))
            part.gateways.append(gateway.label)
            part.healthy = part.healthy and gateway.healthy
        for name, part in found.items():
            path, text = self.raw.part_files.get(name, (None, None))
            part.config_file = path
            part.config_digest = digest(text) if text is not None else None
        return [found[name] for name in sorted(found, key=part_order)]

    def route(self, frontend: FrontendConfig, backend: str, values: dict, servers: list) -> RouteStatus:
        row = self.rows.get((backend, "BACKEND"), {})
        config = self.config.backends.get(backend) if self.config else None
        used = [server for server in servers if not server.empty]
        sticky = values["sticky"]
        if config is not None and config.instance_cookie:
            sticky = "instance"
        weight = values["weight"]
        return RouteStatus(
            gateway=frontend.name, gateway_label=frontend.label, backend=backend, label=config.label if config else backend,
            weight=weight, file_weight=values["file_weight"], conditions=values["conditions"], sticky=sticky,
            routed=bool((weight or 0) > 0 or values["rule"]), status=str(row.get("status") or ("unknown" if not row else "")),
            servers=len(used), servers_up=sum(1 for s in used if s.availability == "UP"), servers_serving=sum(1 for s in used if s.serving),
            sessions=row.get("scur") or 0, session_rate=row.get("rate") or 0, response_time=row.get("rtime"),
            errors_5xx=row.get("hrsp_5xx"),
        )

    @staticmethod
    def ordered(servers: list, routes: list) -> list:
        """Servers of routed backends first, in route order, then every other backend's."""
        order = {}
        for route in routes:
            order.setdefault(route.backend, len(order))
        return sorted(servers, key=lambda s: (order.get(s.backend, len(order)), s.backend if s.backend not in order else "", _slot_key(s.server)))

    def process(self) -> ProcessStatus:
        info = self.info
        process = ProcessStatus(
            pid=int_or_none(info.get("Pid")), version=info.get("Version", ""), uptime=info.get("Uptime", ""),
            uptime_seconds=int_or_none(info.get("Uptime_sec")), current_connections=int_or_none(info.get("CurrConns")),
            total_requests=int_or_none(info.get("CumReq")),
        )
        if self.raw.proc:
            try:
                table = parse_show_proc(self.raw.proc)
            except DroverError as exc:
                self.warnings.append(f"show proc: {exc}")
                return process
            process.master_pid = table.master.pid
            process.reloads = table.reloads
            process.failed_reloads = table.failed_reloads
            process.workers = len(table.workers)
            process.old_workers = len(table.old_workers)
        return process


def _unique(items: list) -> list:
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _slot_key(name: str) -> tuple:
    match = re.fullmatch(r"(.*?)(\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, 0)


def _describe_share(route: RouteStatus) -> str:
    if route.weight:
        return f"weight {route.weight:g}%"
    return "condition" if route.conditions else "weight 0%"


def _unrouted_route(frontend: FrontendConfig, label: str, share: float) -> RouteStatus:
    return RouteStatus(
        gateway=frontend.name, gateway_label=label, backend="", label=UNROUTED_LABEL, weight=round(share, 4), file_weight=None,
        conditions=[], sticky=None, routed=False, status="", servers=0, servers_up=0, servers_serving=0, sessions=0, session_rate=0,
        response_time=None, errors_5xx=None,
    )


def build_status(raw: RawStatus) -> FleetStatus:
    """The status model of one load balancer. Raises RuntimeApiError when an answer is not what HAProxy gives for
    that command (e.g. a permission error)."""
    return _Builder(raw).build()


__all__ = ["ConditionStatus", "FleetStatus", "GatewayStatus", "PartName", "PartStatus", "ProcessStatus", "RawStatus", "RouteStatus", "ServerStatus",
           "build_status", "digest", "gateway_part", "map_shares", "parse_info", "part_order", "parts_as_dict",
           "tables_as_dict"]
