# -*- coding: utf-8 -*-
"""A docker daemon inside one lab host, for the tests of the docker engine path.

The lab gives every host rootful podman; docker is started only by the tests that need it. Each daemon runs inside
its host (network, mount and UTS namespace of the host's sshd), so its iptables rules, bridge and published ports
live in the host's network namespace and never in the machine's. Its state is the host's own: the data root under
the host's directory, the exec root and socket on the host's /run tmpfs (the default socket path there), and its
containers' cgroups under a parent named after the host, so a teardown can find and remove them.
"""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from drover_cli.lab.demo_image import DemoImage
from drover_cli.lab.host import LabHost, run_in_host, sshd_pid
from drover_cli.lab.processes import CGROUP_ROOT, pid_alive

EXEC_ROOT = "/run/docker-exec"
SOCKET = "/run/docker.sock"
PID_FILE = "/run/docker.pid"


@dataclass(frozen=True)
class DockerDaemon:
    """dockerd in one lab host: where its state is and which cgroup parent its containers use."""

    host: LabHost

    @property
    def data_root(self) -> Path:
        return self.host.dir / "docker"

    @property
    def log(self) -> Path:
        return self.host.dir / "dockerd.log"

    @property
    def cgroup_parent(self) -> str:
        # the host's network namespace name is unique on the machine (<bridge>-<host>)
        return f"drover-{self.host.netns}"

    def command(self) -> list[str]:
        return ["dockerd", "--data-root", str(self.data_root), "--exec-root", EXEC_ROOT, "-H", f"unix://{SOCKET}",
                "--pidfile", PID_FILE, "--iptables=true", "--cgroup-parent", f"/{self.cgroup_parent}"]

    def docker(self, *args: str, check: bool = True) -> str:
        return run_in_host(self.host, ["docker", "-H", f"unix://{SOCKET}", *args], check=check).stdout

    def pid(self) -> int | None:
        """The pid in the daemon's pidfile, if it is alive and is this daemon (its command line names our data root)."""
        if sshd_pid(self.host) is None:
            return None
        text = run_in_host(self.host, ["cat", PID_FILE], check=False).stdout.strip()
        if not text.isdigit() or not pid_alive(int(text)):
            return None
        try:
            cmdline = Path(f"/proc/{text}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return int(text) if str(self.data_root).encode() in cmdline else None

    def mounts(self) -> list[str]:
        """The mount points of the host's mount namespace that belong to this daemon."""
        pid = sshd_pid(self.host)
        if pid is None:
            return []
        lines = Path(f"/proc/{pid}/mountinfo").read_text(encoding="utf-8").splitlines()
        points = [line.split()[4] for line in lines]
        return [point for point in points if point.startswith((str(self.data_root), EXEC_ROOT))]

    def cgroups(self) -> list[Path]:
        return sorted(CGROUP_ROOT.glob(f"*/{self.cgroup_parent}"))


def start_dockerd(host: LabHost, timeout: float = 60.0) -> DockerDaemon:
    """Starts dockerd inside `host` (detached, logging to <host dir>/dockerd.log) and waits until it answers."""
    daemon = DockerDaemon(host)
    if daemon.pid() is None:
        daemon.data_root.mkdir(parents=True, exist_ok=True)
        quoted = " ".join(f"'{arg}'" for arg in daemon.command())
        run_in_host(host, ["sh", "-c", f"setsid {quoted} </dev/null >>'{daemon.log}' 2>&1 &"])
    wait_for(lambda: run_in_host(host, ["docker", "-H", f"unix://{SOCKET}", "version"], check=False).returncode == 0,
             timeout=timeout, interval=0.1, message=f"dockerd in {host.name} (log: {daemon.log})")
    return daemon


def import_demo_images(daemon: DockerDaemon, image: DemoImage) -> list[str]:
    """Imports every version of the demo image into the daemon, as the lab does for podman. Returns the tags."""
    for version in image.versions:
        run_in_host(daemon.host, image.import_command(version, engine="docker"))
    return [image.tag(version) for version in image.versions]


def stop_dockerd(daemon: DockerDaemon, timeout: float = 30.0) -> bool:
    """Removes the daemon's containers, stops it by its pidfile (SIGTERM, SIGKILL only after `timeout`), then removes
    its mounts, cgroups and data root. Safe to call again, and on a host that is down. Returns True when the daemon
    ran and stopped on SIGTERM."""
    stopped_cleanly = False
    pid = daemon.pid()
    if pid is not None:
        ids = daemon.docker("ps", "-aq", check=False).split()
        if ids:
            daemon.docker("rm", "-f", *ids, check=False)
        os.kill(pid, signal.SIGTERM)
        try:
            wait_for(lambda: not pid_alive(pid), timeout=timeout, interval=0.05, message=f"dockerd {pid} exit")
            stopped_cleanly = True
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), timeout=10, interval=0.05, message=f"dockerd {pid} killed")
    for point in sorted(daemon.mounts(), key=len, reverse=True):
        run_in_host(daemon.host, ["umount", "--lazy", point], check=False)
    if sshd_pid(daemon.host) is not None:
        run_in_host(daemon.host, ["rm", "-rf", EXEC_ROOT], check=False)
    for parent in daemon.cgroups():
        # runc removes a container's cgroup when the container is removed; children remain only after a kill
        for child in sorted((path for path in parent.rglob("*") if path.is_dir()), key=lambda path: len(path.parts), reverse=True):
            child.rmdir()
        parent.rmdir()
    shutil.rmtree(daemon.data_root, ignore_errors=True)
    return stopped_cleanly
