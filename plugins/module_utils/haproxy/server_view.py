# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One server as the runtime API shows it: its `show servers state` row joined with its `show stat` row.

`show servers state` says what was set (address, weights, the administrative state, whether checks run) and
`show stat` what happens (status, sessions, rates, response time, the last check). Everything that reads servers
joins the two here, under one set of names: the `haproxy_info` module, `drover status` and the SLA metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import ServerState

# what `availability` can say
AVAILABILITY = ("UP", "DOWN", "NOLB", "MAINT")


@dataclass
class ServerView:
    """One server. `state` is the administrative state `set server ... state` sets (ready, drain, maint),
    `operational_state` what `show servers state` says (UP, DOWN, STARTING, STOPPING), `health` whether health checks
    run (enabled, disabled, or none without `check`), `status` the status `show stat` prints (`UP 1/2`, `DRAIN`,
    `no check`, ...) and `availability` what that means for traffic: UP, DOWN, NOLB or MAINT. Times are in
    milliseconds (`response_time`, `check_duration`) and seconds (`last_change`)."""

    backend: str
    server: str
    address: str
    port: int | None
    check_port: int | None
    weight: int
    initial_weight: int
    state: str
    operational_state: str
    health: str
    admin_state_bits: int
    status: str
    availability: str
    sessions: int
    queue: int
    total_sessions: int
    session_rate: int
    response_time: int | None
    http_5xx: int | None
    check_status: str | None
    check_code: int | None
    check_duration: int | None
    check_description: str | None
    last_change: int | None

    @property
    def serving(self) -> bool:
        """Takes new requests: UP, ready and with a weight."""
        return self.availability == "UP" and self.state == "ready" and self.weight > 0

    @property
    def empty(self) -> bool:
        """A free slot: no address, in maintenance."""
        return self.address in ("0.0.0.0", "::") and not self.port and self.state == "maint"

    @property
    def endpoint(self) -> str:
        return f"{self.address}:{self.port}" if self.port is not None else self.address

    @property
    def check(self) -> str:
        """`L7OK/200 2ms`, or the status alone; empty without checks."""
        if not self.check_status:
            return ""
        text = self.check_status + (f"/{self.check_code}" if self.check_code is not None else "")
        return text + (f" {self.check_duration}ms" if self.check_duration is not None else "")

    def as_dict(self) -> dict:
        data = asdict(self)
        data["serving"] = self.serving
        data["empty"] = self.empty
        return data


def int_or_none(value) -> int | None:
    """An int from a parsed cell or a `show info` value; None for anything else."""
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _text(value) -> str | None:
    return None if value in (None, "") else str(value)


def availability(state: ServerState, status: str) -> str:
    """UP, DOWN, NOLB or MAINT. `show stat` says `UP 1/2` while a server is failing checks and `DOWN 1/2` while it
    recovers (it is still what the first word says); `DRAIN` and `no check` hide the availability, which the
    operational state of `show servers state` then gives."""
    if state.state == "maint":
        return "MAINT"
    word = status.split()[0] if status else ""
    if word in AVAILABILITY:
        return word
    return "UP" if state.operational in ("UP", "STOPPING") else "DOWN"


def server_view(state: ServerState, row: dict) -> ServerView:
    """One server from its `show servers state` row and its `show stat` row (parsed; empty when it has none)."""
    status = str(row.get("status") or "")
    return ServerView(
        backend=state.backend, server=state.name, address=state.address, port=state.port, check_port=state.check_port,
        weight=state.weight, initial_weight=state.initial_weight, state=state.state, operational_state=state.operational,
        health=state.health, admin_state_bits=state.admin_state, status=status, availability=availability(state, status),
        sessions=int_or_none(row.get("scur")) or 0, queue=int_or_none(row.get("qcur")) or 0, total_sessions=int_or_none(row.get("stot")) or 0,
        session_rate=int_or_none(row.get("rate")) or 0, response_time=int_or_none(row.get("rtime")), http_5xx=int_or_none(row.get("hrsp_5xx")),
        check_status=_text(row.get("check_status")), check_code=int_or_none(row.get("check_code")),
        check_duration=int_or_none(row.get("check_duration")), check_description=_text(row.get("check_desc")),
        last_change=int_or_none(row.get("lastchg")),
    )


def server_views(states: list, stat_rows: list) -> list:
    """Every server of `show servers state` (ServerStates, in its order) joined with its `show stat` row."""
    rows = {(row.get("pxname"), row.get("svname")): row for row in stat_rows}
    return [server_view(state, rows.get((state.backend, state.name), {})) for state in states]


def read_server_views(client, backend: str | None = None) -> list:
    """The servers of a running HAProxy (of one backend, when given), through a RuntimeClient."""
    return server_views(client.show_servers_state(backend), client.show_stat())


__all__ = ["AVAILABILITY", "ServerView", "availability", "int_or_none", "read_server_views", "server_view", "server_views"]
