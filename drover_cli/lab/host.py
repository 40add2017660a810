"""One lab host: its files under the lab's state directory, its sshd, and how to check, enter and stop it.

A host is a network namespace plus a mount and UTS namespace that `lab/host-init.sh` sets up before it becomes the
host's sshd. Everything else the host runs (Ansible modules, podman, conmon, containers, HAProxy) descends from that
sshd, so the sshd's namespaces are the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from drover_cli.lab.network import LabError, LabNetwork, host_link_ok, netns_inode, remove_host_link, run
from drover_cli.lab.processes import kill_host_processes, pid_alive, remove_container_cgroups

ASSETS = Path(__file__).resolve().parents[2] / "lab"
HOST_INIT = ASSETS / "host-init.sh"
SSHD_CONFIG_TEMPLATE = ASSETS / "sshd_config.template"
CONTAINERS_ASSETS = ASSETS / "etc" / "containers"
# The environment of everything started in a host: nothing of the caller's (virtualenv, DROVER_*) leaks in.
HOST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
SSH_PORT = 22
# The lab has no DNS. A lookup that misses /etc/hosts must fail at once on loopback instead of waiting 5 s per try
# for the machine's nameserver, which lab traffic cannot reach.
RESOLV_CONF = "# Lab host: no DNS; names are in /etc/hosts.\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


@dataclass(frozen=True)
class LabHost:
    """A host of the lab. `index` 0 is the load balancer; it also numbers the veth and the address."""

    name: str
    group: str
    zone: str
    index: int
    address: str
    netns: str
    dir: Path

    @property
    def pid_file(self) -> Path:
        return self.dir / "sshd.pid"

    @property
    def sshd_config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def sshd_log(self) -> Path:
        return self.dir / "sshd.log"

    def as_dict(self) -> dict:
        return {"name": self.name, "group": self.group, "zone": self.zone, "index": self.index,
                "address": self.address, "netns": self.netns}


def write_host_files(host: LabHost, authorized_keys: Path, hosts_file: str) -> bool:
    """Creates or refreshes the host's own /etc and /var trees and its sshd config.

    Returns True when the sshd config changed, so a running sshd must be restarted. /etc/hosts is rewritten in place:
    it is bind-mounted by inode, so a running host sees the new content at once.
    """
    for sub in ("etc/haproxy", "etc/keepalived", "etc/containers", "var/lib/containers", "var/lib/haproxy"):
        (host.dir / sub).mkdir(parents=True, exist_ok=True)
    _seed_from_machine(host)
    _write_in_place(host.dir / "etc" / "hosts", hosts_file)
    _write_in_place(host.dir / "etc" / "hostname", f"{host.name}\n")
    _write_in_place(host.dir / "etc" / "resolv.conf", RESOLV_CONF)
    for asset in CONTAINERS_ASSETS.iterdir():
        _write_in_place(host.dir / "etc" / "containers" / asset.name, asset.read_text(encoding="utf-8"))
    if not host.host_key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(host.host_key)])
    init_digest = hashlib.sha256(HOST_INIT.read_bytes()).hexdigest()[:16]
    config = string.Template(SSHD_CONFIG_TEMPLATE.read_text(encoding="utf-8")).substitute(
        name=host.name, host_key=host.host_key, pid_file=host.pid_file, authorized_keys=authorized_keys,
        init_digest=init_digest)
    return _write_in_place(host.sshd_config, config)


def _seed_from_machine(host: LabHost) -> None:
    """A fresh host looks like a machine with the haproxy package installed: the package's /etc/haproxy (default
    config and error pages) and its chroot /var/lib/haproxy, copied once."""
    stamp = host.dir / ".seeded"
    if stamp.exists():
        return
    for machine_dir, own in ((Path("/etc/haproxy"), host.dir / "etc" / "haproxy"),
                             (Path("/var/lib/haproxy"), host.dir / "var" / "lib" / "haproxy")):
        if machine_dir.is_dir():
            shutil.copytree(machine_dir, own, symlinks=True, dirs_exist_ok=True)
    stamp.touch()


def _write_in_place(path: Path, content: str) -> bool:
    """Writes `content` unless the file holds it already, keeping the inode. Returns True when it wrote."""
    try:
        if path.read_text(encoding="utf-8") == content:
            return False
    except FileNotFoundError:
        pass
    with open(path, "a+", encoding="utf-8") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(content)
    return True


def sshd_pid(host: LabHost) -> int | None:
    """The pid in the host's pidfile, if that process is alive and is this host's sshd (pids get reused)."""
    try:
        pid = int(host.pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return pid if "sshd" in cmdline and str(host.sshd_config) in cmdline else None


def port_open(address: str, port: int = SSH_PORT, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def host_running(host: LabHost, network: LabNetwork, machine_links: dict[str, dict]) -> bool:
    """The host's network is in place and its sshd runs inside the host's namespace and accepts connections."""
    if not host_link_ok(network, host.netns, host.index, host.address, machine_links):
        return False
    pid = sshd_pid(host)
    if pid is None:
        return False
    try:
        if os.stat(f"/proc/{pid}/ns/net").st_ino != netns_inode(host.netns):
            return False
    except OSError:
        return False
    return port_open(host.address)


def start_host(host: LabHost) -> subprocess.Popen:
    """Boots the host: the init script sets up the namespaces and execs sshd, which forks into the background.
    Returns the launcher process; wait for it with `wait_host_started`."""
    host.pid_file.unlink(missing_ok=True)
    command = ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--uts", "--propagation", "private",
               "/bin/sh", str(HOST_INIT), host.name, str(host.dir)]
    return subprocess.Popen(command, env=HOST_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, cwd="/")


def wait_host_started(host: LabHost, launcher: subprocess.Popen, timeout: float = 10.0) -> None:
    """Waits until the launcher has handed over to the daemonized sshd and the sshd accepts connections."""
    try:
        output = launcher.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired as exc:
        launcher.kill()
        launcher.communicate()
        raise LabError(f"host {host.name}: the init script did not finish in {timeout:.0f} s") from exc
    if launcher.returncode != 0:
        raise LabError(f"host {host.name}: init failed ({launcher.returncode}): {output.decode(errors='replace').strip()}"
                       f"{_log_tail(host)}")
    deadline = time.monotonic() + timeout
    while not (sshd_pid(host) and port_open(host.address, timeout=0.2)):
        if time.monotonic() > deadline:
            raise LabError(f"host {host.name}: sshd does not answer on {host.address}:{SSH_PORT}{_log_tail(host)}")
        time.sleep(0.01)


def _log_tail(host: LabHost) -> str:
    try:
        lines = host.sshd_log.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
    except OSError:
        return ""
    return "\n  sshd log: " + "\n  ".join(lines) if lines else ""


def host_container_ids(host_dir: Path) -> set[str]:
    """The ids of every container in the host's storage, running or not."""
    listing = host_dir / "var" / "lib" / "containers" / "storage" / "overlay-containers" / "containers.json"
    try:
        return {entry["id"] for entry in json.loads(listing.read_text(encoding="utf-8"))}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def stop_host(host: LabHost, network: LabNetwork) -> None:
    """Kills everything the host runs and removes its network. Its files (and container storage) stay, as a
    powered-off VM's disk does."""
    kill_host(host)
    remove_host_link(network, host.netns, host.index if host.index >= 0 else None)
    host.pid_file.unlink(missing_ok=True)


def kill_host(host: LabHost) -> None:
    """Kills every process of the host (found by namespace, descent and container cgroup, never by name) and
    removes the cgroups its containers leave behind when killed."""
    anchors = {pid for pid in [sshd_pid(host)] if pid}
    containers = host_container_ids(host.dir)
    try:
        containers |= kill_host_processes(netns_inode(host.netns), anchors, containers)
    except TimeoutError as exc:
        raise LabError(f"host {host.name}: {exc}") from exc
    remove_container_cgroups(containers)


def run_in_host(host: LabHost, argv: list[str], timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    """Runs a command inside the host, as an ssh session would, without ssh: nsenter into the sshd's namespaces."""
    pid = sshd_pid(host)
    if pid is None:
        raise LabError(f"host {host.name} is not running (no sshd): run `drover lab up`")
    command = ["nsenter", "--target", str(pid), "--mount", "--net", "--uts", "--", *argv]
    try:
        result = subprocess.run(command, env=HOST_ENV, capture_output=True, text=True, timeout=timeout, check=False, cwd="/")
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"host {host.name}: `{' '.join(argv)}` took more than {timeout:.0f} s") from exc
    if check and result.returncode != 0:
        raise LabError(f"host {host.name}: `{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result
