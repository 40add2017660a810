# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HAProxy runtime API client: the admin (stats) socket and the master CLI socket, HAProxy 2.6.

Each command opens its own connection in HAProxy's non-interactive mode: HAProxy answers, then closes the connection,
so an answer is complete exactly when the socket reaches end of file. That handles partial reads, multi-line answers
and answers that do not end with the empty delimiter line (some 2.6 error messages do not).

Pure standard library: modules, the CLI and the tests all use it. Errors HAProxy reports become `RuntimeApiError`
(a `DroverError`) carrying the command and HAProxy's own words.
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import time
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError

SERVER_STATES = ("ready", "drain", "maint")

# srv_admin_state bits (management.txt, "show servers state").
ADMIN_FMAINT = 0x01
ADMIN_IMAINT = 0x02
ADMIN_CMAINT = 0x04
ADMIN_FDRAIN = 0x08
ADMIN_IDRAIN = 0x10
ADMIN_RMAINT = 0x20
ADMIN_HMAINT = 0x40
# srv_check_state bits.
CHECK_CONFIGURED = 0x02
CHECK_ENABLED = 0x04
OPERATIONAL_STATES = {0: "DOWN", 1: "STARTING", 2: "UP", 3: "STOPPING"}

# HAProxy reads one command with its payload into one buffer (tune.bufsize, 16 kB by default): stay well below.
MAX_PAYLOAD_BYTES = 8000


class RuntimeConnectionError(DroverError):
    """The socket could not be reached, or closed without answering (e.g. the master is re-executing)."""


class RuntimeApiError(DroverError):
    """HAProxy refused a command. `message` holds HAProxy's answer, `command` what was sent."""

    def __init__(self, command: str, message: str):
        self.command = command
        self.message = message.strip()
        super().__init__(f"HAProxy refused '{command}': {self.message}")


class NoSuchServerError(RuntimeApiError):
    """The backend or the server does not exist in the running configuration."""


class SlotNotHealthyError(DroverError):
    """A slot's new instance did not pass its health check in time; the slot was put back into maintenance."""

    def __init__(self, backend: str, server: str, timeout: float, status: str):
        self.backend = backend
        self.server = server
        self.status = status
        super().__init__(
            f"server {backend}/{server} did not pass its health check within {timeout:g} s (last status {status!r}): "
            "it got no traffic and is back in maintenance"
        )


class DrainTimeoutError(DroverError):
    """A server still had sessions or queued requests when the drain timeout ran out."""

    def __init__(self, backend: str, server: str, timeout: float, sessions: int, queue: int):
        self.backend = backend
        self.server = server
        self.sessions = sessions
        self.queue = queue
        super().__init__(
            f"server {backend}/{server} did not drain within {timeout:g} s: {sessions} current session(s), {queue} queued request(s)"
        )


def parse_socket_address(address: str) -> tuple[int, object]:
    """(address family, connect argument) for a runtime socket: a unix socket path, or `host:port`.

    HAProxy's own prefixes are accepted: `unix@/path`, `ipv4@host:port`, `ipv6@[::1]:port`.
    """
    text = address.strip()
    for prefix in ("unix@", "ipv4@", "ipv6@", "tcp@"):
        if text.startswith(prefix):
            if prefix == "unix@":
                return socket.AF_UNIX, text[len(prefix):]
            text = text[len(prefix):]
            break
    else:
        if text.startswith("/") or text.startswith("."):
            return socket.AF_UNIX, text
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s/]+):(\d+)", text)
    if not match:
        raise DroverError(f"not a runtime socket address: {address!r} (expected a unix socket path or host:port)")
    if match.group(1):
        return socket.AF_INET6, (match.group(1), int(match.group(2)))
    return socket.AF_INET, (match.group(3), int(match.group(4)))


def cli_escape(value: object) -> str:
    """One CLI word: HAProxy splits commands on spaces and `;`, and treats `\\` as an escape."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise DroverError(f"a runtime API argument cannot contain a line break: {text!r}")
    return re.sub(r"([\\; ])", r"\\\1", text)


def _number(value: str):
    """CSV cells: digits become int, empty cells None, anything else stays text."""
    if value == "":
        return None
    if value.isdigit() or (value.startswith("-") and value[1:].isdigit()):
        return int(value)
    return value


@dataclass
class ServerState:
    """One row of `show servers state`, typed, with the names the modules compare on."""

    backend_id: int
    backend: str
    server_id: int
    name: str
    address: str
    operational_state: int
    admin_state: int
    weight: int
    initial_weight: int
    check_state: int
    port: int | None
    fqdn: str | None
    raw: dict = field(default_factory=dict)
    # where health checks go when not to `port` (the server line's `port` keyword, `set server ... check-port`)
    check_port: int | None = None

    @classmethod
    def from_row(cls, row: dict) -> "ServerState":
        port = row.get("srv_port", "")
        fqdn = row.get("srv_fqdn", "-")
        check_port = row.get("srv_check_port", "0")  # 0: the checks go to the served port
        return cls(
            backend_id=int(row["be_id"]),
            backend=row["be_name"],
            server_id=int(row["srv_id"]),
            name=row["srv_name"],
            address=row["srv_addr"],
            operational_state=int(row["srv_op_state"]),
            admin_state=int(row["srv_admin_state"]),
            weight=int(row["srv_uweight"]),
            initial_weight=int(row["srv_iweight"]),
            check_state=int(row.get("srv_check_state", "0")),
            port=int(port) if port.isdigit() else None,
            fqdn=None if fqdn in ("-", "") else fqdn,
            raw=dict(row),
            check_port=int(check_port) if check_port.isdigit() and int(check_port) else None,
        )

    @property
    def state(self) -> str:
        """ready, drain or maint: the administrative state that `set server ... state` sets."""
        # HAProxy's own maintenance mask (SRV_ADMF_MAINT). CMAINT only records that the config said `disabled`: it stays
        # set after `state ready` until the next reload, so a slot filled at runtime would otherwise read as maint.
        if self.admin_state & (ADMIN_FMAINT | ADMIN_IMAINT | ADMIN_RMAINT):
            return "maint"
        if self.admin_state & (ADMIN_FDRAIN | ADMIN_IDRAIN):
            return "drain"
        return "ready"

    @property
    def operational(self) -> str:
        return OPERATIONAL_STATES.get(self.operational_state, str(self.operational_state))

    @property
    def health_configured(self) -> bool:
        return bool(self.check_state & CHECK_CONFIGURED)

    @property
    def health(self) -> str:
        """enabled or disabled (health checks), or none when the server has no `check` at all."""
        if not self.health_configured:
            return "none"
        return "enabled" if self.check_state & CHECK_ENABLED else "disabled"

    def as_dict(self) -> dict:
        return {
            "backend": self.backend,
            "server": self.name,
            "address": self.address,
            "port": self.port,
            "weight": self.weight,
            "initial_weight": self.initial_weight,
            "state": self.state,
            "operational_state": self.operational,
            "health": self.health,
            "check_port": self.check_port,
            "admin_state_bits": self.admin_state,
        }


# the two kinds of pattern reference the runtime API manages: maps, and ACL pattern files (`-f <file>`)
MAP, ACL = "map", "acl"


def pattern_kind(path: str) -> str:
    """Files named `*.acl` next to haproxy.cfg are ACL pattern files; the others are maps."""
    return ACL if path.endswith(".acl") else MAP


@dataclass
class MapInfo:
    """One map from `show map`: its id (use `#<id>` in commands), file and versions."""

    id: str
    file: str
    description: str
    current_version: int | None = None
    next_version: int | None = None
    entry_count: int | None = None

    @property
    def ref(self) -> str:
        return f"#{self.id}"


@dataclass
class HaproxyProcess:
    """One row of the master CLI's `show proc`."""

    pid: int
    role: str
    kind: str
    reloads: int
    uptime: str
    version: str
    failed: int | None = None


@dataclass
class ProcessTable:
    """`show proc`: the master (with its reload and failed-reload counters), current and old workers, programs."""

    master: HaproxyProcess
    workers: list[HaproxyProcess] = field(default_factory=list)
    old_workers: list[HaproxyProcess] = field(default_factory=list)
    programs: list[HaproxyProcess] = field(default_factory=list)

    @property
    def reloads(self) -> int:
        return self.master.reloads

    @property
    def failed_reloads(self) -> int:
        return self.master.failed or 0

    @property
    def worker_pids(self) -> list[int]:
        return [worker.pid for worker in self.workers]

    def as_dict(self) -> dict:
        def row(proc: HaproxyProcess) -> dict:
            return {"pid": proc.pid, "type": proc.kind, "reloads": proc.reloads, "uptime": proc.uptime, "version": proc.version}

        master = row(self.master)
        master["failed_reloads"] = self.failed_reloads
        return {
            "master": master,
            "workers": [row(proc) for proc in self.workers],
            "old_workers": [row(proc) for proc in self.old_workers],
            "programs": [row(proc) for proc in self.programs],
        }


_PROC_ROW = re.compile(r"^(\d+)\s+(\S+)\s+(\d+)(?:\s+\[failed:\s*(\d+)\])?\s+(\S+)\s*(\S*)\s*$")
_MAP_ROW = re.compile(r"^(-?\d+)\s+\((.*?)\)\s+(.*)$")
_NO_SUCH = ("No such server", "No such backend", "Can't find backend", "Require 'backend/server'")


def parse_show_proc(text: str) -> ProcessTable:
    section = "master"
    master = None
    buckets: dict[str, list[HaproxyProcess]] = {"workers": [], "old workers": [], "programs": []}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#<"):
            continue
        if stripped.startswith("#"):
            section = stripped.lstrip("# ").strip().lower()
            continue
        match = _PROC_ROW.match(stripped)
        if not match:
            raise DroverError(f"unexpected line in 'show proc': {line!r}")
        proc = HaproxyProcess(
            pid=int(match.group(1)),
            role=section,
            kind=match.group(2),
            reloads=int(match.group(3)),
            failed=int(match.group(4)) if match.group(4) is not None else None,
            uptime=match.group(5),
            version=match.group(6),
        )
        if proc.kind == "master" and master is None:
            master = proc
        else:
            buckets.setdefault(section, []).append(proc)
    if master is None:
        raise RuntimeConnectionError(f"no master process in 'show proc' answer: {text[:200]!r}")
    return ProcessTable(master, buckets["workers"], buckets["old workers"], buckets["programs"])


def parse_stat_csv(text: str) -> list[dict]:
    """`show stat` CSV: the header line starts with `# `; numbers become int, empty cells None."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise DroverError(f"unexpected 'show stat' answer: {text[:200]!r}")
    lines[0] = lines[0].lstrip("# ")
    rows = []
    for row in csv.DictReader(io.StringIO("\n".join(lines))):
        rows.append({key: _number(value or "") for key, value in row.items() if key and key != "-"})
    return rows


def parse_servers_state(text: str) -> list[ServerState]:
    """`show servers state`: a format version line, a `#` header, then space-separated rows."""
    header: list[str] = []
    servers = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        if not header:
            continue  # the format version line
        values = line.split()
        servers.append(ServerState.from_row(dict(zip(header, values))))
    return servers


def parse_map_entries(text: str) -> list[tuple[str, str]]:
    """`show map <map>` rows are `<entry ref> <key> <value...>`."""
    entries = []
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2:
            entries.append((parts[1], parts[2] if len(parts) > 2 else ""))
    return entries


def parse_map_list(text: str) -> list[MapInfo]:
    maps = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _MAP_ROW.match(line.strip())
        if not match:
            continue
        description = match.group(3)
        info = MapInfo(id=match.group(1), file=match.group(2), description=description)
        for name, attr in (("curr_ver", "current_version"), ("next_ver", "next_version"), ("entry_cnt", "entry_count")):
            found = re.search(rf"\b{name}=(\d+)", description)
            if found:
                setattr(info, attr, int(found.group(1)))
        maps.append(info)
    return maps


def maps_for_file(maps: list, path: str, base_dir: str | None = None) -> list:
    """The MapInfo entries of `maps` loaded from the file `path`; names HAProxy shows relative resolve from `base_dir`."""
    def resolve(name: str) -> str:
        return os.path.normpath(name if os.path.isabs(name) or base_dir is None else os.path.join(base_dir, name))

    wanted = resolve(path)
    return [info for info in maps if resolve(info.file) == wanted]


def parse_map_text(text: str) -> list[tuple[str, str]]:
    """A map file: one `key value` per line; `#` comments and blank lines are ignored, as HAProxy does."""
    entries = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 1)
        entries.append((parts[0], parts[1].strip() if len(parts) > 1 else ""))
    return entries


class _SocketClient:
    """One command per connection; read until HAProxy closes it."""

    def __init__(self, socket_path: str, timeout: float = 5.0):
        self.socket_path = socket_path
        self.timeout = float(timeout)
        self._family, self._address = parse_socket_address(socket_path)

    def raw(self, command: str, payload: str | None = None) -> str:
        """Send one command (and an optional `<<` payload) and return HAProxy's whole answer."""
        if "\n" in command:
            raise DroverError(f"a runtime API command is one line: {command!r}")
        request = command
        if payload is not None:
            body = payload if payload.endswith("\n") else payload + "\n"
            request = f"{command} <<\n{body}"
        data = (request + "\n").encode("utf-8")
        try:
            with socket.socket(self._family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                sock.connect(self._address)
                sock.sendall(data)
                # The master CLI keeps the connection open until the client half-closes it; the admin socket closes
                # after the answer either way.
                sock.shutdown(socket.SHUT_WR)
                chunks = []
                deadline = time.monotonic() + max(self.timeout * 6, 30.0)
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise RuntimeConnectionError(f"{self.socket_path}: answer to '{command}' did not end in time")
        except (socket.timeout, TimeoutError) as exc:
            raise RuntimeConnectionError(f"{self.socket_path}: no complete answer to '{command}' within {self.timeout:g} s") from exc
        except OSError as exc:
            raise RuntimeConnectionError(f"cannot reach the HAProxy socket {self.socket_path}: {exc.strerror or exc}") from exc
        return b"".join(chunks).decode("utf-8", errors="replace")

    probe_command = "show info"

    def reachable(self) -> bool:
        """True when the socket answers a harmless command."""
        try:
            return bool(self.raw(self.probe_command).strip())
        except DroverError:
            return False


class RuntimeClient(_SocketClient):
    """The admin socket of a worker (`stats socket ... level admin`), or a worker reached through the master CLI
    with `prefix="@1 "`."""

    def __init__(self, socket_path: str, timeout: float = 5.0, prefix: str = ""):
        super().__init__(socket_path, timeout)
        self.prefix = prefix

    def command(self, command: str, payload: str | None = None) -> str:
        return self.raw(self.prefix + command, payload)

    def execute(self, command: str, payload: str | None = None, success: tuple[str, ...] = ()) -> str:
        """Run a command whose success is an empty answer (or one starting with one of `success`); raise otherwise."""
        answer = self.command(command, payload)
        text = answer.strip()
        if not text or any(text.startswith(prefix) for prefix in success):
            return text
        if any(text.startswith(prefix) for prefix in _NO_SUCH):
            raise NoSuchServerError(command, text)
        raise RuntimeApiError(command, text)

    # -- process and statistics ------------------------------------------------------------------------------------

    def show_info(self) -> dict:
        answer = self.command("show info")
        info = {}
        for line in answer.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                info[key.strip()] = value.strip()
        if "Pid" not in info:
            raise RuntimeApiError("show info", answer or "empty answer")
        return info

    def show_stat(self) -> list[dict]:
        answer = self.command("show stat")
        if not answer.startswith("#"):
            raise RuntimeApiError("show stat", answer or "empty answer")
        return parse_stat_csv(answer)

    def show_servers_state_text(self, backend: str | None = None) -> str:
        """The raw dump, in the format `server-state-file` expects."""
        command = "show servers state" + (f" {cli_escape(backend)}" if backend else "")
        answer = self.command(command)
        first = answer.lstrip().split("\n", 1)[0].strip()
        if not first.isdigit():
            if any(answer.strip().startswith(prefix) for prefix in _NO_SUCH):
                raise NoSuchServerError(command, answer)
            raise RuntimeApiError(command, answer or "empty answer")
        return answer

    def show_servers_state(self, backend: str | None = None) -> list[ServerState]:
        return parse_servers_state(self.show_servers_state_text(backend))

    def server(self, backend: str, name: str) -> ServerState:
        for server in self.show_servers_state(backend):
            if server.name == name:
                return server
        raise NoSuchServerError(f"show servers state {backend}", f"No such server: {backend}/{name}.")

    def server_stat(self, backend: str, name: str) -> dict:
        """The `show stat` row of one server: scur (sessions), qcur (queue), status, check_status, ..."""
        for row in self.show_stat():
            if row.get("pxname") == backend and row.get("svname") == name:
                return row
        raise NoSuchServerError("show stat", f"No such server: {backend}/{name}.")

    # -- servers ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _target(backend: str, server: str) -> str:
        return f"{cli_escape(backend)}/{cli_escape(server)}"

    def set_weight(self, backend: str, server: str, weight) -> None:
        self.execute(f"set server {self._target(backend, server)} weight {cli_escape(weight)}")

    def set_state(self, backend: str, server: str, state: str) -> None:
        if state not in SERVER_STATES:
            raise DroverError(f"server state must be one of {', '.join(SERVER_STATES)}; found {state!r}")
        self.execute(f"set server {self._target(backend, server)} state {state}")

    def set_addr(self, backend: str, server: str, addr: str, port: int | None = None) -> str:
        command = f"set server {self._target(backend, server)} addr {cli_escape(addr)}"
        if port is not None:
            command += f" port {int(port)}"
        return self.execute(command, success=("IP changed from", "no need to change", "port changed from"))

    def set_check_port(self, backend: str, server: str, port: int) -> str:
        """The port the server's health checks go to (the `port` server keyword)."""
        return self.execute(f"set server {self._target(backend, server)} check-port {int(port)}", success=("health check port updated",))

    def enable_health(self, backend: str, server: str) -> None:
        self.execute(f"enable health {self._target(backend, server)}")

    def disable_health(self, backend: str, server: str) -> None:
        self.execute(f"disable health {self._target(backend, server)}")

    def fill_slot(self, backend: str, server: str, addr: str, port: int, timeout: float = 60.0, poll: float = 0.05,
                  check_port: int | None = None) -> dict:
        """Point a free slot (a server in MAINT) at an instance; it takes traffic only after its health check passed.

        Why not `set server addr` then `state ready`: leaving MAINT, HAProxy 2.6 counts the server UP before any check
        ("UP 1/2": start OK, check at once) and sends it requests until its first check fails. Measured in the lab:
        52 requests reached an instance whose readiness check answered 503. Leaving MAINT into DRAIN instead, new
        clients are never sent to it, and its status reads plain `DRAIN` (full health) only once a check passed;
        then `state ready`. A server without a health check reads `DRAIN` at once. A check that never passes within
        `timeout` puts the slot back into MAINT and raises SlotNotHealthyError. Returns the time waited, and the
        sessions the server got before `state ready` (only a client whose cookie names the new instance can get in).
        `check_port`: where the instance publishes the port its health check goes to, when that is another port.
        """
        started = time.monotonic()
        deadline = started + max(float(timeout), 0.0)
        sessions_at_start = int(self.server_stat(backend, server).get("stot") or 0)
        if check_port:
            self.set_check_port(backend, server, check_port)
        self.set_addr(backend, server, addr, port)
        self.set_state(backend, server, "drain")
        while True:
            row = self.server_stat(backend, server)
            status = str(row.get("status") or "")
            if status == "DRAIN":
                break
            if time.monotonic() >= deadline:
                self.set_state(backend, server, "maint")
                raise SlotNotHealthyError(backend, server, timeout, status)
            time.sleep(poll)
        self.set_state(backend, server, "ready")
        return {"waited": round(time.monotonic() - started, 3), "status_before_ready": status,
                "sessions_before_ready": int(row.get("stot") or 0) - sessions_at_start}

    def wait_for_drain(self, backend: str, server: str, timeout: float = 60.0, poll: float = 0.2) -> dict:
        """Wait until the server has no current session and nothing queued.

        Only the counters decide, never the server's status, so a server that is DOWN (or in MAINT) drains as soon as
        its last session ends. The loop runs until a deadline and always checks once more at the deadline, so it
        cannot stop one poll short. Returns the last counters and the time waited; raises DrainTimeoutError.
        """
        started = time.monotonic()
        deadline = started + max(float(timeout), 0.0)
        while True:
            row = self.server_stat(backend, server)
            sessions = int(row.get("scur") or 0)
            queue = int(row.get("qcur") or 0)
            now = time.monotonic()
            if sessions == 0 and queue == 0:
                return {"sessions": 0, "queue": 0, "waited": round(now - started, 3), "status": row.get("status")}
            if now >= deadline:
                raise DrainTimeoutError(backend, server, timeout, sessions, queue)
            time.sleep(min(poll, max(deadline - now, 0.0)))

    # -- maps and ACL files ----------------------------------------------------------------------------------------
    # An ACL pattern file (`-f <file>` in an ACL) is managed like a map whose entries have no value: the commands
    # differ in one word (`show acl`, `prepare acl`, ...), and `add acl` takes one pattern per command (no payload).

    def show_maps(self, kind: str = MAP) -> list[MapInfo]:
        answer = self.command(f"show {kind}")
        if not answer.startswith("# id"):
            raise RuntimeApiError(f"show {kind}", answer or "empty answer")
        return parse_map_list(answer)

    def show_map(self, map_ref: str, version: int | None = None, kind: str = MAP) -> list[tuple[str, str]]:
        """The (key, value) entries of a map (`#<id>` or its file); an ACL file's patterns come as (pattern, "")."""
        command = f"show {kind} " + (f"@{int(version)} " if version is not None else "") + cli_escape(map_ref)
        answer = self.command(command)
        if answer.startswith(("Unknown map", "Unknown ACL", "Missing")):
            raise RuntimeApiError(command, answer)
        return parse_map_entries(answer)

    def prepare_map(self, map_ref: str, kind: str = MAP) -> int:
        command = f"prepare {kind} {cli_escape(map_ref)}"
        answer = self.command(command)
        match = re.search(r"New version created:\s*(\d+)", answer)
        if not match:
            raise RuntimeApiError(command, answer or "empty answer")
        return int(match.group(1))

    def add_map(self, map_ref: str, entries, version: int | None = None, kind: str = MAP) -> int:
        """Add (key, value) entries, several per command through the `<<` payload (one per command for an ACL file,
        whose entries are (pattern, "")); returns how many were added."""
        target = (f"@{int(version)} " if version is not None else "") + cli_escape(map_ref)
        batch: list[str] = []
        size = 0
        added = 0
        for key, value in entries:
            key, value = str(key), str(value)
            if not key or any(ch.isspace() for ch in key) or "\n" in value or "\r" in value or (kind == ACL and value):
                raise DroverError(f"{kind} entry cannot be sent: key {key!r}, value {value!r} (no whitespace in keys, no line "
                                  "breaks, no value in an ACL file)")
            added += 1
            if kind == ACL:
                self.execute(f"add acl {target} {cli_escape(key)}")
                continue
            line = f"{key} {value}".rstrip() if value else key
            if batch and size + len(line) + 1 > MAX_PAYLOAD_BYTES:
                self.execute(f"add map {target}", payload="\n".join(batch))
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 1
        if batch:
            self.execute(f"add map {target}", payload="\n".join(batch))
        return added

    def commit_map(self, map_ref: str, version: int, kind: str = MAP) -> None:
        self.execute(f"commit {kind} @{int(version)} {cli_escape(map_ref)}")

    def replace_map(self, map_ref: str, entries, kind: str = MAP) -> int:
        """Replace a whole map (or ACL file) atomically: prepare a version, fill it, commit it. Returns the committed
        version."""
        version = self.prepare_map(map_ref, kind)
        self.add_map(map_ref, list(entries), version=version, kind=kind)
        self.commit_map(map_ref, version, kind)
        return version


class MasterClient(_SocketClient):
    """The master CLI (`haproxy -W -S <socket>`): process list, reloads, and workers through `@1`."""

    probe_command = "show version"

    def show_proc(self) -> ProcessTable:
        answer = self.raw("show proc")
        if not answer.strip():
            raise RuntimeConnectionError(f"{self.socket_path}: empty answer to 'show proc' (master busy reloading?)")
        return parse_show_proc(answer)

    def reload(self) -> None:
        """Ask the master to reload. On 2.6 it prints nothing and closes the connection; poll `show proc` after."""
        answer = self.raw("reload").strip()
        if answer:
            raise RuntimeApiError("reload", answer)

    def worker(self, relative: int = 1) -> RuntimeClient:
        """A RuntimeClient talking to the current worker through the master CLI."""
        return RuntimeClient(self.socket_path, self.timeout, prefix=f"@{int(relative)} ")
