# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Starting and stopping HAProxy in master-worker mode where no service manager runs it, and finding it by pid file.

Lab hosts and containers have no systemd: `start_master_worker` runs `haproxy -W -S <master socket>` itself and
waits for its first worker, `stop_master_worker` stops it by pid, and `haproxy_pid` tells a live HAProxy from a stale
pid file. Hosts share the kernel's pid namespace in the lab, so the process name is checked too (lab-facts.md).

Pure standard library, no AnsibleModule: the haproxy_process module, the CLI's lab and the tests share it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient


@dataclass
class MasterWorker:
    """An HAProxy started by `start_master_worker`. `process` is the Popen when this process is its parent."""

    pid: int
    config_path: str
    master_socket: str
    pid_file: str
    log_file: str
    process: object = None


def _stat_fields(pid: int | str) -> list | None:
    """The fields of /proc/<pid>/stat after the command name (state first, then the parent pid); None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "r", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_gone(pid: int) -> bool:
    """Whether `pid` has exited: reaped here when it is our child, else absent from /proc or a zombie."""
    try:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass
    fields = _stat_fields(pid)
    return not fields or fields[0] == "Z"


def haproxy_pid(pid_file: str) -> int | None:
    """The pid in `pid_file` when it is a live haproxy process; None for a missing or stale pid file."""
    return pid_from_file(pid_file, "haproxy")


def pid_from_file(pid_file: str, name: str) -> int | None:
    """The pid in `pid_file` when it is a live process called `name` (a pid file outlives its process, and lab hosts
    share one pid namespace); None for a missing or stale pid file."""
    try:
        with open(pid_file, "r", encoding="ascii") as handle:
            text = handle.readline().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    try:
        with open(f"/proc/{text}/comm", "r", encoding="ascii", errors="replace") as handle:
            command = handle.read().strip()
    except OSError:
        return None
    fields = _stat_fields(text)
    return int(text) if command == name and fields and fields[0] != "Z" else None


def start_master_worker(config_path: str, master_socket: str, pid_file: str | None = None, log_file: str | None = None,
                        binary: str = "haproxy", timeout: float = 30.0, poll: float = 0.05) -> MasterWorker:
    """Start HAProxy in master-worker mode without systemd and wait until its first worker is listed.

    Runs `haproxy -W -S <master_socket>,mode,600 -f <config> -p <pid_file>` in its own session, from the config's
    directory, with stdout and stderr appended to `log_file`. It is not daemonized with -D on purpose: -D sends the
    master's stderr to /dev/null, and the master's messages are what explain a failed reload.
    """
    config_path = os.path.abspath(config_path)
    config_dir = os.path.dirname(config_path)
    pid_file = pid_file or os.path.join(os.path.dirname(os.path.abspath(master_socket)), "haproxy.pid")
    log_file = log_file or os.path.join(os.path.dirname(os.path.abspath(pid_file)), "haproxy-master.log")
    master = MasterClient(master_socket, 2.0)
    if master.reachable():
        raise DroverError(f"an HAProxy master already answers on {master_socket}")
    with open(log_file, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(  # pylint: disable=consider-using-with
            [binary, "-W", "-S", f"{master_socket},mode,600", "-f", config_path, "-p", pid_file],
            cwd=config_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_file, "r", encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                words = [line for line in handle.read().splitlines() if "[ALERT]" in line]
            raise DroverError(f"HAProxy exited with code {process.returncode} at start-up:\n" + "\n".join(words[-10:]))
        try:
            if master.show_proc().workers:
                return MasterWorker(process.pid, config_path, master_socket, pid_file, log_file, process)
        except DroverError:
            pass  # the master CLI is not listening yet
        time.sleep(poll)
    stop_master_worker(process.pid)
    raise DroverError(f"HAProxy did not list a worker on {master_socket} within {timeout:g} s")


def _children(pid: int) -> list:
    """Pids whose parent is `pid` (an HAProxy master's workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields and len(fields) > 1 and fields[1] == str(pid):
                found.append(int(entry))
    return found


def stop_master_worker(pid: int, timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Stop an HAProxy master and its workers by pid: SIGTERM, then SIGKILL after `timeout`. True when all are gone."""
    workers = _children(pid)
    for target in [pid] + workers:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(target, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not process_gone(target):
                time.sleep(poll)
            if process_gone(target):
                break
    return all(process_gone(target) for target in [pid] + workers)
