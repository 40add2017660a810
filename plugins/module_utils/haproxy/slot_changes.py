# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Slot-only changes between two haproxy.cfg texts, and how the running HAProxy takes them without a reload.

The renderer pre-declares each backend's server slots: `server slotN <addr>:<port> ...` holds an instance,
`server slotN 0.0.0.0:0 disabled ...` is free. Adding or removing an instance inside the slot range changes only such
lines. `slot_changes()` recognises exactly that case: both texts have the same lines, and every line that differs is
a `server` line of a backend (or listen) section that keeps its name and every other word, and changes only its
address and port and the `disabled` flag. Anything else gives None, and the caller reloads.

The runtime side (`fill_slots`, `free_slots`) uses the runtime API: a slot that becomes filled is health-gated with
`RuntimeClient.fill_slot` (MAINT, address, DRAIN until a check passed, then READY); a slot that becomes free is put in
maintenance and keeps its address; a slot whose instance moves is freed, then filled.

Why the addresses stay in haproxy.cfg and are not only set at runtime: HAProxy 2.6 does not bring a slot's runtime
address back from `server-state-file` after a reload, so the file must always name the instances.
"""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_scan import SectionLine, physical_lines
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import SlotNotHealthyError

SERVER_SECTIONS = ("backend", "listen")
# health checks of several new instances run at the same time; the admin socket takes 10 connections by default
MAX_PARALLEL_FILLS = 4


class InstancesNotHealthyError(DroverError):
    """New instances did not pass their health check in time. Their slots are in maintenance and nothing else changed."""

    def __init__(self, failures: list, touched: list, cleanup_problems: list):
        self.failures = failures
        self.touched = touched
        lines = [str(failure) for failure in failures]
        lines.append("nothing was written and HAProxy did not reload; the slots this run touched are in maintenance: " + ", ".join(touched))
        lines.extend(f"could not put {problem} back into maintenance" for problem in cleanup_problems)
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class SlotLine:
    """What a server line says about its instance: an IP address and port, whether the slot is `disabled`, and the
    port its health check goes to when the line names one (`port N`: a check on another port of the breed)."""

    address: str
    port: int
    disabled: bool
    check_port: int | None = None

    @property
    def endpoint(self) -> tuple:
        return self.address, self.port, self.check_port


@dataclass(frozen=True)
class SlotChange:
    """One server line whose address, port or `disabled` flag differs between the live and the new configuration."""

    backend: str
    server: str
    before: SlotLine
    after: SlotLine

    @property
    def fills(self) -> bool:
        """The slot gets an instance it did not have."""
        return not self.after.disabled and (self.before.disabled or self.before.endpoint != self.after.endpoint)

    @property
    def frees(self) -> bool:
        """The slot's instance leaves it (or a free slot is written with another address): the server goes to MAINT."""
        moved = self.before.endpoint != self.after.endpoint
        return (self.after.disabled and (moved or not self.before.disabled)) or (not self.before.disabled and moved)

    def updates(self) -> list:
        """The runtime updates, as reported: `free` names the instance that leaves, `fill` the one that comes."""
        found = []
        if self.frees:
            found.append(self._update("free", self.before))
        if self.fills:
            found.append(self._update("fill", self.after))
        return found

    def _update(self, action: str, line: SlotLine) -> dict:
        update = {"backend": self.backend, "server": self.server, "action": action, "address": line.address, "port": line.port}
        if line.check_port:
            update["check_port"] = line.check_port
        return update


def _endpoint(word: str) -> tuple | None:
    """`10.0.0.5:8080` or `[fd00::5]:8080` as (address, port); None for anything the runtime API cannot set as is
    (host names, unix sockets, prefixes such as `ipv4@`, port ranges or offsets)."""
    host, sep, port = word.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host)), int(port)
    except ValueError:
        return None


def _server_line(line: str, scanned: SectionLine | None) -> tuple | None:
    """(identity, shape, SlotLine) of a `server` line in a backend or listen section, else None.

    The identity is the section and the server name; the shape is everything but the address and `disabled`
    (indentation, the other words in order, the comment), which must not change for a runtime update.
    """
    if scanned is None or scanned.keyword not in SERVER_SECTIONS:
        return None
    words = scanned.words
    if len(words) < 3 or words[0] != "server":
        return None
    endpoint = _endpoint(words[2])
    if endpoint is None:
        return None
    rest = words[3:]
    check_port = None
    if len(rest) >= 2 and rest[-2] == "port" and rest[-1].isdigit() and 0 < int(rest[-1]) <= 65535:
        # the renderer's last words for an instance that publishes the checked port under a port of its own
        check_port, rest = int(rest[-1]), rest[:-2]
    indentation = line[:len(line) - len(line.lstrip())]
    comment = line.split("#", 1)[1].rstrip("\r\n") if "#" in line else None
    shape = (indentation, tuple(word for word in rest if word != "disabled"), comment)
    return (scanned.serial, scanned.name, words[1]), shape, SlotLine(endpoint[0], endpoint[1], "disabled" in rest, check_port)


def _runtime_settable(line: SlotLine) -> bool:
    """A filled slot needs a real address and port; a free one may say anything (it is in maintenance)."""
    return line.disabled or (line.port > 0 and not ipaddress.ip_address(line.address).is_unspecified)


def slot_changes(live_text: str, new_text: str) -> list | None:
    """The SlotChanges that turn `live_text` into `new_text`, or None when anything else differs.

    Everything outside the changed server lines must be byte-identical (sections, order, comments, blank lines).
    Identical texts give an empty list.
    """
    live, new = list(physical_lines(live_text)), list(physical_lines(new_text))
    if len(live) != len(new):
        return None
    changes = []
    for (old_line, old_scan), (new_line, new_scan) in zip(live, new):
        if old_line == new_line:
            continue
        before, after = _server_line(old_line, old_scan), _server_line(new_line, new_scan)
        if before is None or after is None or before[:2] != after[:2] or not _runtime_settable(after[2]):
            return None
        (_serial, backend, server), _shape, _line = after
        change = SlotChange(backend, server, before[2], after[2])
        if not change.updates():
            # the lines differ in a way the runtime API has no word for (spacing, a trailing newline)
            return None
        changes.append(change)
    return changes


def runtime_updates(changes: list) -> list:
    """Every update of every change, in configuration order."""
    return [update for change in changes for update in change.updates()]


def missing_servers(client, changes: list) -> list:
    """`backend/server` names the changes need that the running HAProxy does not have (then only a reload helps)."""
    missing = []
    for backend in sorted({change.backend for change in changes}):
        try:
            running = {server.name for server in client.show_servers_state(backend)}
        except DroverError:
            running = set()
        missing.extend(f"{backend}/{change.server}" for change in changes if change.backend == backend and change.server not in running)
    return missing


def fill_slots(client, changes: list, timeout: float, poll: float = 0.05) -> list:
    """Put each new instance into its slot, health-gated, several at a time. Returns what fill_slot reported.

    A slot whose instance moves is put into MAINT first (its old instance leaves). When some instance does not pass
    its health check, every slot filled by this call goes back to MAINT and InstancesNotHealthyError says so; a
    failing runtime command raises its own DroverError (the caller reloads).
    """
    fills = [change for change in changes if change.fills]
    if not fills:
        return []
    for change in fills:
        # a free slot is in MAINT already; a filled one must leave rotation before its address changes
        client.set_state(change.backend, change.server, "maint")
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_FILLS, len(fills))) as pool:
        futures = [
            (change, pool.submit(client.fill_slot, change.backend, change.server, change.after.address, change.after.port, timeout, poll,
                                 change.after.check_port))
            for change in fills
        ]
        outcomes = [(change, _outcome(future)) for change, future in futures]
    errors = [outcome for _change, outcome in outcomes if isinstance(outcome, BaseException)]
    unhealthy = [error for error in errors if isinstance(error, SlotNotHealthyError)]
    if len(errors) > len(unhealthy):
        raise next(error for error in errors if not isinstance(error, SlotNotHealthyError))
    if unhealthy:
        problems = []
        for change, outcome in outcomes:
            if not isinstance(outcome, BaseException):
                try:
                    client.set_state(change.backend, change.server, "maint")
                except DroverError as exc:
                    problems.append(f"{change.backend}/{change.server} ({exc})")
        raise InstancesNotHealthyError(unhealthy, [f"{change.backend}/{change.server}" for change in fills], problems)
    return [dict(outcome, backend=change.backend, server=change.server) for change, outcome in outcomes]


def _outcome(future):
    try:
        return future.result()
    except DroverError as exc:
        return exc


def free_slots(client, changes: list) -> None:
    """Put each slot that becomes free into MAINT (the deploy role drained it before); its address stays."""
    for change in changes:
        if change.frees and not change.fills:
            client.set_state(change.backend, change.server, "maint")
