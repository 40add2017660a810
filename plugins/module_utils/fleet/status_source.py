# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where `drover status` reads a load balancer from: a `StatusSource` answers runtime API commands and reads files,
and `collect_status` asks it everything one look needs, in as few round trips as possible.

`LocalSource` talks to the sockets and files of this machine. Other transports (the drover CLI reaches a remote load
balancer over SSH) implement the same three methods; everything else, from choosing the commands to finding the
live haproxy.cfg, is shared here.

How the pieces are found, in order:
- haproxy.cfg: the path given, else the `-f` of the running process (/proc/<pid>/cmdline, whose pid `show info`
  gives), else the file the `show map` listing names, else /etc/haproxy/haproxy.cfg;
- the admin socket: the path given, else the `stats socket ... level admin` of that configuration, else
  /run/haproxy/admin.sock;
- the maps: the weighted picks the configuration reads (or, without it, every map whose name follows the renderer's
  convention); their running entries by `show map #<id>`, their files beside haproxy.cfg;
- the master CLI (`show proc`), when a master socket is given and answers; otherwise the process table is left out;
- the part files: `drover.d/<part>.cfg` beside haproxy.cfg, for each part a gateway of the configuration belongs to
  (haproxy/parts.py).

`collect_many` reads several load balancers at once, each in its own thread and within a deadline.
"""

from __future__ import annotations

import os
import re
import threading
import time

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import RawStatus, gateway_part, parse_info
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.parts import part_path
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_routing import read_routing_config, strength_files
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import relative_base
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.sockets import DEFAULT_ADMIN_SOCKET
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import (
    RuntimeClient,
    RuntimeConnectionError,
    parse_map_list,
)

DEFAULT_CONFIG = "/etc/haproxy/haproxy.cfg"
_MAP_USED_BY = re.compile(r"used by map at file '([^']+)'")


class NoAnswerError(DroverError):
    """A load balancer of `collect_many` did not give its status in time; its source was closed."""


class StatusSource:
    """A transport to one load balancer. `description` says which one, for people."""

    description = ""

    def ask(self, requests: list) -> list:
        """For each (socket address, command) in `requests`, in order: HAProxy's answer, or the RuntimeConnectionError
        saying why that socket could not be reached. A transport sends them all in as few round trips as it can."""
        raise NotImplementedError

    def query(self, socket_address: str, commands: list) -> list:
        """The answers to `commands` on one socket; raises the first RuntimeConnectionError."""
        answers = self.ask([(socket_address, command) for command in commands])
        for answer in answers:
            if isinstance(answer, RuntimeConnectionError):
                raise answer
        return answers

    def read_text(self, path: str) -> str | None:
        """A file's text, or None when it does not exist or cannot be read."""
        raise NotImplementedError

    def read_link(self, path: str) -> str | None:
        """Where a symbolic link points (used for /proc/<pid>/cwd), or None."""
        raise NotImplementedError

    def addresses(self) -> list | None:
        """The machine's IP addresses (to tell which load balancer holds a virtual IP), or None when this transport
        cannot tell."""
        return None

    def close(self) -> None:
        """Release the transport."""


class LocalSource(StatusSource):
    """The sockets and files of this machine."""

    def __init__(self, timeout: float = 5.0):
        self.timeout = timeout
        self.description = "local"

    def ask(self, requests: list) -> list:
        answers = []
        for socket_address, command in requests:
            try:
                answers.append(RuntimeClient(socket_address, self.timeout).raw(command))
            except RuntimeConnectionError as exc:
                answers.append(exc)
        return answers

    def read_text(self, path: str) -> str | None:
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return None

    def read_link(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except OSError:
            return None


def _running_config_path(source: StatusSource, pid, map_list: str) -> tuple:
    """(haproxy.cfg of the running process, its working directory): from its command line, else from the `show map`
    listing, which names the file each map is used in."""
    if pid:
        cmdline = source.read_text(f"/proc/{pid}/cmdline") or ""
        argv = [arg for arg in cmdline.split("\0") if arg]
        cwd = source.read_link(f"/proc/{pid}/cwd")
        if argv and os.path.basename(argv[0]).startswith("haproxy"):
            for index, arg in enumerate(argv[:-1]):
                if arg == "-f":
                    path = argv[index + 1]
                    if not os.path.isabs(path):
                        if not cwd:
                            break
                        path = os.path.join(cwd, path)
                    return os.path.normpath(path), cwd
    for info in parse_map_list(map_list):
        match = _MAP_USED_BY.search(info.description)
        if match and os.path.isabs(match.group(1)):
            return match.group(1), None
    return None, None


def _loaded(listed: list, paths) -> list:
    """The entries of `listed` (`show map` or `show acl`) loaded from one of `paths`."""
    wanted = {os.path.normpath(path) for path in paths}
    return [info for info in listed if os.path.normpath(info.file) in wanted]


def _wanted_maps(config, listed: list) -> list:
    """The map files a status needs: the weighted picks of the configuration, or, without one, the maps named the
    renderer's way (`fe_*.map`). Other maps (a geo table of a hand-written config) are not read."""
    if config is not None:
        return _loaded(listed, [lookup.path for frontend in config.frontends for lookup in frontend.lookups.values()])
    return [info for info in listed if os.path.basename(info.file).startswith("fe_") and info.file.endswith(".map")]


def collect_status(source: StatusSource, admin_socket: str | None = None, config_path: str | None = None,
                   master_socket: str | None = None, master_required: bool = False, addresses: bool = False) -> RawStatus:
    """Everything one status needs from `source`, in two round trips (the maps' entries need their ids). Raises RuntimeConnectionError when the
    admin socket cannot be reached, DroverError when a configuration given explicitly cannot be read. A master socket
    that does not answer is left out, with a warning when `master_required`. `addresses`: also ask the machine's
    IP addresses."""
    warnings = []
    config_text = source.read_text(config_path or DEFAULT_CONFIG)
    if config_path and config_text is None:
        raise DroverError(f"cannot read the configuration {config_path} on {source.description}")
    socket_address = admin_socket or (read_routing_config(config_text).admin_socket if config_text else None) or DEFAULT_ADMIN_SOCKET
    requests = [(socket_address, command) for command in ("show info", "show stat", "show servers state", "show map", "show acl")]
    if master_socket:
        requests.append((master_socket, "show proc"))
    answers = source.ask(requests)
    for answer in answers[:5]:
        if isinstance(answer, RuntimeConnectionError):
            raise answer
    info, stat, servers_state, map_list, acl_list = answers[:5]
    proc = None
    if master_socket:
        if isinstance(answers[5], RuntimeConnectionError):
            if master_required:
                warnings.append(f"master CLI: {answers[5]}")
        else:
            proc = answers[5]
    cwd = None
    if not config_path:
        running, cwd = _running_config_path(source, parse_info(info).get("Pid"), map_list)
        if running and running != DEFAULT_CONFIG:
            config_text = source.read_text(running)
            if config_text is None:
                warnings.append(f"the running configuration {running} cannot be read: names are shown as HAProxy has them")
        config_path = running or (DEFAULT_CONFIG if config_text is not None else None)
    if not map_list.startswith("# id"):
        warnings.append(f"show map: {map_list.strip() or 'empty answer'}")
        map_list = ""
    config = read_routing_config(config_text) if config_text else None
    wanted = _wanted_maps(config, parse_map_list(map_list))
    # the strength files of the conditions: ACL files of draws, with ids of their own
    acls = _loaded(parse_map_list(acl_list), strength_files(config)) if config is not None and acl_list.startswith("# id") else []
    commands = [f"show map #{info_.id}" for info_ in wanted] + [f"show acl #{info_.id}" for info_ in acls]
    answers = source.query(socket_address, commands) if commands else []
    maps = {info_.file: answer for info_, answer in zip(wanted + acls, answers)}
    map_files = {}
    if config_text is not None and config_path:
        base = relative_base(config_text, os.path.dirname(config_path), cwd)
        for info_ in wanted + acls:
            text = source.read_text(info_.file if os.path.isabs(info_.file) else os.path.join(base, info_.file))
            if text is not None:
                map_files[info_.file] = text
    part_files = {}
    if config is not None and config_path:
        for part in sorted({gateway_part(frontend) for frontend in config.frontends} - {None}):
            path = part_path(config_path, part)
            part_files[part] = (path, source.read_text(path))
    found_addresses = None
    if addresses:
        try:
            found_addresses = source.addresses()
        except DroverError as exc:
            warnings.append(f"the addresses of {source.description}: {exc}")
    return RawStatus(
        stat=stat, servers_state=servers_state, info=info, map_list=map_list, maps=maps, map_files=map_files, proc=proc,
        config=config_text, config_path=config_path if config_text is not None else None,
        source=f"{source.description} {socket_address}".strip(), warnings=warnings, part_files=part_files,
        addresses=found_addresses,
    )


def collect_many(sources: dict, deadline: float, overrides: dict | None = None, clock=time.monotonic, **options) -> dict:
    """{name: RawStatus, or the DroverError saying why that load balancer could not be read} for every source of
    `sources` ({name: StatusSource}), each read by `collect_status(source, **options)` in a thread of its own
    (`overrides`: {name: options} for one source, e.g. its own admin socket).

    A source that has not answered within `deadline` seconds is closed (which ends a read that waits on it) and
    reported as not answering; the others are not held up by it."""
    results: dict = {}
    threads = {}

    def read(name: str, source: StatusSource) -> None:
        try:
            results[name] = collect_status(source, **{**options, **(overrides or {}).get(name, {})})
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # handed to the caller's thread: a DroverError is reported, anything else raised there
            results[name] = exc

    for name, source in sources.items():
        # daemon threads: one stuck in a read cannot keep the command from exiting
        threads[name] = threading.Thread(target=read, args=(name, source), name=f"drover-status-{name}", daemon=True)
        threads[name].start()
    end = clock() + deadline
    for name, thread in threads.items():
        thread.join(max(0.0, end - clock()))
    out = {}
    for name, source in sources.items():
        if threads[name].is_alive():
            source.close()
            out[name] = NoAnswerError(f"{source.description or name} did not answer within {deadline:g}s")
        elif isinstance(results[name], Exception) and not isinstance(results[name], DroverError):
            raise results[name]
        else:
            out[name] = results[name]
    return out


__all__ = ["DEFAULT_ADMIN_SOCKET", "DEFAULT_CONFIG", "LocalSource", "NoAnswerError", "StatusSource", "collect_many",
           "collect_status"]
