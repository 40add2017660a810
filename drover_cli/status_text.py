"""`drover status` as text: a process line, then three aligned tables (gateways, routes, servers), then problems."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import FleetStatus, RouteStatus

CONDITION_WIDTH = 56


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


def render_status(status: FleetStatus, all_slots: bool = False) -> str:
    """The whole status for people. Empty slots (0.0.0.0:0 in maintenance) are counted, not listed, unless
    `all_slots`."""
    lines = [_process_line(status), f"source: {status.source}; config: {status.config_path or 'not read (raw names)'}", ""]
    lines.append("GATEWAYS")
    lines += table(
        ["GATEWAY", "BIND", "MODE", "STATUS", "STICKY", "SESS", "REQ/S", "REQUESTS", "5XX", "HEALTH"],
        [[g.label, ",".join(g.binds) or "-", g.mode, g.status, g.sticky or "-", g.sessions, _dash(g.request_rate), _dash(g.requests),
          _dash(g.errors_5xx), "ok" if g.healthy else "PROBLEM"] for g in status.gateways],
        right=("SESS", "REQ/S", "REQUESTS", "5XX"),
    )
    lines += ["", "ROUTES"]
    if status.routes:
        lines += table(
            ["GATEWAY", "ROUTE", "WEIGHT", "CONDITION", "STICKY", "UP", "SERVING", "SESS", "RATE/S", "RTIME", "5XX", "STATUS"],
            [[r.gateway_label, r.label, _weight(r), _conditions(r), r.sticky or "-",
              f"{r.servers_up}/{r.servers}" if r.backend else "-", r.servers_serving if r.backend else "-",
              r.sessions, r.session_rate, milliseconds(r.response_time), _dash(r.errors_5xx), r.status or "-"] for r in status.routes],
            right=("WEIGHT", "UP", "SERVING", "SESS", "RATE/S", "RTIME", "5XX"),
        )
    else:
        lines.append("(no routes found)")
    shown = [s for s in status.servers if all_slots or not s.empty]
    hidden = len(status.servers) - len(shown)
    lines += ["", "SERVERS"]
    if shown:
        lines += table(
            ["ROUTE", "SERVER", "ADDRESS", "STATE", "AVAILABILITY", "WEIGHT", "SESS", "QUEUE", "RATE/S", "RTIME", "CHECK", "SINCE"],
            [[s.backend_label, s.server, s.endpoint, s.state, s.availability, s.weight, s.sessions, s.queue, s.session_rate,
              milliseconds(s.response_time), s.check or "-", duration(s.last_change)] for s in shown],
            right=("WEIGHT", "SESS", "QUEUE", "RATE/S", "RTIME", "SINCE"),
        )
    else:
        lines.append("(no servers)")
    if hidden:
        lines.append(f"({hidden} empty slot(s) not shown: --all-slots lists them)")
    if status.problems:
        lines += ["", "PROBLEMS"] + [f"- {problem}" for problem in status.problems]
    if status.warnings:
        lines += ["", "WARNINGS"] + [f"- {warning}" for warning in status.warnings]
    return "\n".join(lines)


def _dash(value) -> str:
    return "-" if value is None else str(value)
