"""`drover status` as text: a process line, the blueprints (the parts of haproxy.cfg, with their gateways), then
three aligned tables (gateways, routes, servers), then problems.

For a group of load balancers: a table of the load balancers (read or not, health, VIP), the blueprints with whether
the load balancers agree on them, the same three tables once for the whole group (counters summed; a `*` marks a value
the load balancers disagree on), then the differences, one row each, with what each load balancer says."""

from __future__ import annotations

import os

from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import FleetStatus, RouteStatus, part_order
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_compare import (
    ADDRESS, AVAILABILITY, CONFIG, PRESENCE, STATE, STRENGTH, WEIGHT, Difference, GroupStatus)

CONDITION_WIDTH = 56
DIGEST_WIDTH = 12
# marks a value the load balancers of a group disagree on
DIFFERS = "*"


def _no_mark(*_where) -> str:
    return ""


def table(headers: list, rows: list, right: tuple = ()) -> list:
    """Lines of an aligned table; columns named in `right` (numbers) are right-aligned."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max([len(header)] + [len(row[index]) for row in cells]) for index, header in enumerate(headers)]

    def line(values: list) -> str:
        parts = []
        for index, value in enumerate(values):
            width = widths[index]
            parts.append(value.rjust(width) if headers[index] in right else value.ljust(width))
        return "  ".join(parts).rstrip()

    return [line(headers)] + [line(row) for row in cells]


def percent(value) -> str:
    if value is None:
        return "?"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def duration(seconds) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def milliseconds(value) -> str:
    return "-" if value is None else f"{value}ms"


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def _weight(route: RouteStatus) -> str:
    text = percent(route.weight)
    if route.drifted:
        text += f" (file {percent(route.file_weight)})"
    return text


def _conditions(route: RouteStatus) -> str:
    parts = []
    for condition in route.conditions:
        text = condition.condition or "-"
        if condition.strength is not None and condition.strength < 100:
            text = f"{percent(condition.strength)} of {text}"
        if condition.share is not None:
            text += f" -> {percent(condition.share)}"
        parts.append(text)
    return shorten("; ".join(parts), CONDITION_WIDTH) if parts else "-"


def _process_line(status: FleetStatus) -> str:
    process = status.process
    words = [f"HAProxy {process.version}" if process.version else "HAProxy"]
    if process.pid:
        words.append(f"worker {process.pid}")
    if process.uptime_seconds is not None:
        words.append(f"up {duration(process.uptime_seconds)}")
    if process.current_connections is not None:
        words.append(f"{process.current_connections} connections")
    line = ", ".join(words)
    if process.master_pid:
        line += (f"; master {process.master_pid}: {process.reloads} reloads, {process.failed_reloads} failed, "
                 f"{process.workers} worker(s), {process.old_workers} old")
    return line


def _blueprint(part) -> str:
    return part.name if part.kind == "blueprint" else f"{part.name} (standalone gateway)"


def _part_file(path) -> str:
    if not path:
        return "-"
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def _short(digest) -> str:
    return digest[:DIGEST_WIDTH] if digest else "no part file"


def _parts_table(status: FleetStatus) -> list:
    if not status.parts:
        return []
    return ["BLUEPRINTS"] + table(
        ["BLUEPRINT", "GATEWAYS", "PART FILE", "DIGEST", "HEALTH"],
        [[_blueprint(p), ", ".join(p.gateways), _part_file(p.config_file), _short(p.config_digest), "ok" if p.healthy else "PROBLEM"]
         for p in status.parts],
    ) + [""]


def _ordered_gateways(gateways: list) -> list:
    return sorted(gateways, key=lambda g: part_order(g.part))


def _ordered_routes(routes: list, gateways: list) -> list:
    order = {gateway.name: index for index, gateway in enumerate(gateways)}
    return sorted(routes, key=lambda r: order.get(r.gateway, len(order)))


def _tables(gateways: list, routes: list, servers: list, all_slots: bool, mark=_no_mark) -> list:
    """GATEWAYS, ROUTES and SERVERS. `mark(subject, gateway, route, server)` flags a value the group disagrees on."""
    lines = ["GATEWAYS"]
    lines += table(
        ["GATEWAY", "BIND", "MODE", "STATUS", "STICKY", "SESS", "REQ/S", "REQUESTS", "5XX", "HEALTH"],
        [[g.label + mark(PRESENCE, g.label), ",".join(g.binds) or "-", g.mode, g.status, g.sticky or "-", g.sessions, _dash(g.request_rate),
          _dash(g.requests), _dash(g.errors_5xx), "ok" if g.healthy else "PROBLEM"] for g in gateways],
        right=("SESS", "REQ/S", "REQUESTS", "5XX"),
    )
    lines += ["", "ROUTES"]
    if routes:
        lines += table(
            ["GATEWAY", "ROUTE", "WEIGHT", "CONDITION", "STICKY", "UP", "SERVING", "SESS", "RATE/S", "RTIME", "5XX", "STATUS"],
            [[r.gateway_label, r.label, _weight(r) + mark(WEIGHT, r.gateway_label, r.label),
              _conditions(r) + mark(STRENGTH, r.gateway_label, r.label), r.sticky or "-",
              f"{r.servers_up}/{r.servers}" if r.backend else "-", r.servers_serving if r.backend else "-",
              r.sessions, r.session_rate, milliseconds(r.response_time), _dash(r.errors_5xx), r.status or "-"] for r in routes],
            right=("WEIGHT", "UP", "SERVING", "SESS", "RATE/S", "RTIME", "5XX"),
        )
    else:
        lines.append("(no routes found)")
    shown = [s for s in servers if all_slots or not s.empty or mark(ADDRESS, None, s.backend_label, s.server)]
    hidden = len(servers) - len(shown)
    lines += ["", "SERVERS"]
    if shown:
        lines += table(
            ["ROUTE", "SERVER", "ADDRESS", "STATE", "AVAILABILITY", "WEIGHT", "SESS", "QUEUE", "RATE/S", "RTIME", "CHECK", "SINCE"],
            [[s.backend_label, s.server, s.endpoint + mark(ADDRESS, None, s.backend_label, s.server),
              s.state + mark(STATE, None, s.backend_label, s.server), s.availability + mark(AVAILABILITY, None, s.backend_label, s.server),
              s.weight, s.sessions, s.queue, s.session_rate, milliseconds(s.response_time), s.check or "-", duration(s.last_change)]
             for s in shown],
            right=("WEIGHT", "SESS", "QUEUE", "RATE/S", "RTIME", "SINCE"),
        )
    else:
        lines.append("(no servers)")
    if hidden:
        lines.append(f"({hidden} empty slot(s) not shown: --all-slots lists them)")
    return lines


def _notes(problems: list, warnings: list) -> list:
    lines = []
    if problems:
        lines += ["", "PROBLEMS"] + [f"- {problem}" for problem in problems]
    if warnings:
        lines += ["", "WARNINGS"] + [f"- {warning}" for warning in warnings]
    return lines


def render_status(status: FleetStatus, all_slots: bool = False) -> str:
    """The whole status for people. Empty slots (0.0.0.0:0 in maintenance) are counted, not listed, unless
    `all_slots`."""
    lines = [_process_line(status), f"source: {status.source}; config: {status.config_path or 'not read (raw names)'}", ""]
    lines += _parts_table(status)
    gateways = _ordered_gateways(status.gateways)
    lines += _tables(gateways, _ordered_routes(status.routes, gateways), status.servers, all_slots)
    lines += _notes(status.problems, status.warnings)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# A group of load balancers


def _balancer_row(look) -> list:
    vip = "-" if look.vip is None else ("holds" if look.vip else "no")
    if not look.read:
        return [look.name, "UNREADABLE", vip, "-", "-", "-", "-", "-"]
    process = look.status.process
    reloads = "-" if process.reloads is None else f"{process.reloads} ({process.failed_reloads} failed)"
    return [look.name, "ok" if look.status.healthy else "PROBLEM", vip, process.version or "-", _dash(process.pid),
            duration(process.uptime_seconds), reloads, look.status.source]


def _difference_value(difference: Difference, value) -> str:
    if difference.subject == PRESENCE:
        return "serves it" if value else "absent"
    if value is None:
        return "no part file" if difference.subject == CONFIG else "absent"
    if difference.subject == WEIGHT:
        return percent(value)
    if difference.subject == STRENGTH:
        if isinstance(value, list):
            return ", ".join(percent(strength) + (f" -> {percent(share)}" if share is not None else "") for strength, share in value)
        return percent(value)
    if difference.subject == CONFIG:
        return _short(value)
    return str(value)


def _difference_what(difference: Difference) -> str:
    if difference.subject == PRESENCE:
        return "gateway"
    if difference.subject == CONFIG:
        return "part file digest"
    if difference.subject == WEIGHT:
        return f"weight of {difference.route}"
    if difference.subject == STRENGTH:
        return f"strength of {shorten(difference.detail or '-', CONDITION_WIDTH // 2)} to {difference.route}"
    return f"{difference.subject} of {difference.route} {difference.server}"


def _part_label(part: str | None) -> str:
    if part is None:
        return "-"
    kind, _sep, name = part.partition("-")
    return name if kind == "blueprint" else f"{name} (gateway)"


def render_group(group: GroupStatus, inventory: str = "", all_slots: bool = False) -> str:
    """The status of every load balancer of a group for people: each gateway once, and the differences."""
    names = [look.name for look in group.balancers]
    read = [look.name for look in group.readable]
    title = f"group {group.group}" + (f" of {inventory}" if inventory else "")
    title += f": {len(names)} load balancer(s), {len(read)} read"
    if group.vip:
        holders = group.vip_holders()
        title += f"; VIP {group.vip} held by {', '.join(holders) if holders else 'none'}" + (" (split brain)" if len(holders) > 1 else "")
    lines = [title, "", "LOAD BALANCERS"]
    lines += table(["HOST", "STATUS", "VIP", "HAPROXY", "WORKER", "UP", "RELOADS", "SOURCE"], [_balancer_row(look) for look in group.balancers])
    for look in group.unreadable:
        lines.append(f"- {look.name}: {look.error}")
    lines.append("")
    if group.parts:
        lines += ["BLUEPRINTS"] + table(
            ["BLUEPRINT", "GATEWAYS", "DIGEST", "LOAD BALANCERS", "HEALTH"],
            [[_blueprint(p), ", ".join(p.gateways), _group_digest(p), "agree" if p.agree else "DISAGREE", "ok" if p.healthy else "PROBLEM"]
             for p in group.parts],
        ) + [""]

    def mark(subject: str, gateway: str | None, route: str | None = None, server: str | None = None) -> str:
        return DIFFERS if group.differs(subject, gateway, route, server) else ""

    lines += _tables(group.gateways, group.routes, group.servers, all_slots, mark)
    if len(read) > 1:
        lines.append(f"(sessions, rates, requests and 5xx summed over {', '.join(read)}; {DIFFERS}: the load balancers disagree, "
                     "see DIFFERENCES)" if group.differences else f"(sessions, rates, requests and 5xx summed over {', '.join(read)})")
    lines += ["", "DIFFERENCES"]
    if group.differences:
        lines += table(
            ["BLUEPRINT", "GATEWAY", "WHAT"] + read,
            [[_part_label(d.part), d.gateway or "-", _difference_what(d)] + [_difference_value(d, d.values[name]) if name in d.values else ""
                                                                             for name in read]
             for d in group.differences],
        )
    elif len(read) > 1:
        lines.append(f"(none: {', '.join(read)} agree)")
    else:
        lines.append("(fewer than two load balancers read: nothing to compare)")
    lines += _notes(group.problems, group.warnings)
    return "\n".join(lines)


def _group_digest(part) -> str:
    digests = set(part.config_digests.values())
    return _short(next(iter(digests))) if len(digests) == 1 else "differs"


def _dash(value) -> str:
    return "-" if value is None else str(value)
