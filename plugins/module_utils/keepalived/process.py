# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Starting, reloading and stopping keepalived where no service manager runs it (lab hosts, containers).

keepalived runs in the foreground of its own session (`--dont-fork --log-console`) with its messages appended to a
log file: daemonized, it logs only to syslog, which such hosts often lack. It is found through its pid file, checked
by process name, because lab hosts share one pid namespace and a stale pid file may name a reused pid.

Pure standard library, no AnsibleModule: the keepalived_process module and the tests share it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import pid_from_file, process_gone

PROCESS_NAME = "keepalived"


def keepalived_pid(pid_file: str) -> int | None:
    """The pid in `pid_file` when it is a live keepalived; None for a missing or stale pid file."""
    return pid_from_file(pid_file, PROCESS_NAME)


def config_newer_than_process(config: str, pid_file: str) -> bool:
    """Whether `config` was written after keepalived started (it writes its pid file at start), so it must reload."""
    try:
        return os.stat(config).st_mtime >= os.stat(pid_file).st_mtime
    except OSError:
        return True


def start_keepalived(config: str, pid_file: str, vrrp_pid_file: str, log_file: str, binary: str = "keepalived",
                     timeout: float = 30.0, poll: float = 0.05) -> int:
    """Starts keepalived (VRRP only) and waits until its VRRP process runs; returns the parent's pid."""
    if not os.path.isfile(config):
        raise DroverError(f"cannot start keepalived: {config} does not exist")
    # keepalived refuses to start while its pid files name a live keepalived; stale ones may name a reused pid.
    for stale in (pid_file, vrrp_pid_file):
        if os.path.exists(stale):
            os.unlink(stale)
    argv = [binary, "--dont-fork", "--log-console", "--log-detail", "--vrrp", "--use-file", config,
            "--pid", pid_file, "--vrrp_pid", vrrp_pid_file]
    with open(log_file, "ab") as log:
        offset = log.tell()
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,  # pylint: disable=consider-using-with
                                   start_new_session=True, close_fds=True, cwd="/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with open(log_file, "r", encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                tail = handle.read().splitlines()[-10:]
            raise DroverError(f"keepalived exited with code {process.returncode} at start-up:\n" + "\n".join(tail))
        if keepalived_pid(vrrp_pid_file) is not None:
            return process.pid
        time.sleep(poll)
    stop_keepalived(process.pid, timeout)
    raise DroverError(f"keepalived started no VRRP process within {timeout:g} s (see {log_file})")


def reload_keepalived(pid: int) -> None:
    """SIGHUP: keepalived reads its configuration again and keeps the VIP where it is."""
    os.kill(pid, signal.SIGHUP)


def stop_keepalived(pid: int, timeout: float = 30.0, poll: float = 0.05) -> None:
    """SIGTERM, then waits: keepalived removes its virtual addresses as it stops."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        if time.monotonic() > deadline:
            raise DroverError(f"keepalived {pid} did not stop within {timeout:g} s")
        time.sleep(poll)
