"""Finding and stopping every process of a lab host.

Lab hosts share the machine's PID namespace, so processes are never matched by name. A process belongs to a host
when it runs in the host's network or mount namespace, descends from such a process, or sits in the cgroup of one
of the host's containers (a container whose conmon died is in none of the host's namespaces any more).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# podman's cgroupfs manager puts container N in libpod_parent/libpod-N of every hierarchy.
PODMAN_CGROUP_PARENT = "libpod_parent"


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    state: str
    net_ns: int | None
    mnt_ns: int | None


def _ns_inode(pid: int, kind: str) -> int | None:
    try:
        link = os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None
    # "net:[4026532178]"
    return int(link[link.index("[") + 1:-1])


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: state, ppid, ..."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: fields start after the last ')'.
    return stat[stat.rindex(")") + 2:].split()


def process_table() -> dict[int, ProcessInfo]:
    """Every live process with its parent and namespaces (a snapshot; processes may exit while it is read)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        fields = _stat_fields(pid)
        if fields is None:
            continue
        table[pid] = ProcessInfo(pid, int(fields[1]), fields[0], _ns_inode(pid, "net"), _ns_inode(pid, "mnt"))
    return table


def container_cgroup_pids(container_ids: set[str]) -> set[int]:
    """Processes in the cgroups of the given podman containers (the pids hierarchy lists them all)."""
    pids = set()
    for container_id in container_ids:
        procs = CGROUP_ROOT / "pids" / PODMAN_CGROUP_PARENT / f"libpod-{container_id}" / "cgroup.procs"
        try:
            pids.update(int(line) for line in procs.read_text(encoding="ascii").split())
        except OSError:
            continue
    return pids


def host_processes(net_ns: int | None, anchor_pids: set[int], container_ids: set[str]) -> set[int]:
    """The pids of one host: in its network namespace, in the mount namespace of any of those or of an anchor
    (the sshd from the host's pidfile), descendants of all of them, and the members of its containers' cgroups."""
    table = process_table()
    members = {pid for pid, info in table.items() if net_ns is not None and info.net_ns == net_ns}
    members |= {pid for pid in anchor_pids if pid in table}
    members |= {pid for pid in container_cgroup_pids(container_ids) if pid in table}
    # A process may join only the host's network (`nsenter --net`) and keep the machine's mount namespace:
    # that namespace must never count as the host's.
    machine_mounts = {_ns_inode(1, "mnt"), _ns_inode(os.getpid(), "mnt")}
    mount_namespaces = {table[pid].mnt_ns for pid in members} - machine_mounts - {None}
    members |= {pid for pid, info in table.items() if info.mnt_ns in mount_namespaces}
    children: dict[int, list[int]] = {}
    for info in table.values():
        children.setdefault(info.ppid, []).append(info.pid)
    pending = list(members)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in members:
                members.add(child)
                pending.append(child)
    # Never this process or its ancestors, and never zombies: they hold nothing and vanish once reaped.
    protected = set()
    pid = os.getpid()
    while pid in table and pid not in protected:
        protected.add(pid)
        pid = table[pid].ppid
    return {pid for pid in members - protected - {0, 1} if table[pid].state != "Z"}


def kill_host_processes(net_ns: int | None, anchor_pids: set[int], container_ids: set[str], timeout: float = 10.0) -> set[str]:
    """SIGKILLs the host's processes until none is left. A lab host is a throwaway VM: no graceful stop here.

    Returns the ids of the podman containers whose processes it killed (their cgroups stay behind).
    Raises TimeoutError when some survive (a process in uninterruptible sleep).
    """
    deadline = time.monotonic() + timeout
    killed_containers: set[str] = set()
    while True:
        pids = host_processes(net_ns, anchor_pids, container_ids)
        if not pids:
            return killed_containers
        if time.monotonic() > deadline:
            raise TimeoutError(f"processes {sorted(pids)} survived SIGKILL")
        for pid in pids:
            killed_containers |= _container_of(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Killed processes leave /proc only once reaped; look again a little later.
        time.sleep(0.02)


def _container_of(pid: int) -> set[str]:
    """The podman container id in the process's cgroup path, if any."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii").splitlines()
    except OSError:
        return set()
    marker = f"/{PODMAN_CGROUP_PARENT}/libpod-"
    ids = set()
    for line in lines:
        path = line.split(":", 2)[-1]
        if marker in path:
            name = path.split(marker, 1)[1].split("/", 1)[0]
            ids.add(name[len("conmon-"):] if name.startswith("conmon-") else name)
    return ids


def pid_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def remove_container_cgroups(container_ids: set[str]) -> list[str]:
    """Removes the empty cgroups podman left for the given containers (it does so itself only on a clean stop).
    Returns the cgroups that could not be removed."""
    left = []
    for container_id in container_ids:
        for hierarchy in CGROUP_ROOT.iterdir():
            for name in (f"libpod-{container_id}", f"libpod-conmon-{container_id}"):
                cgroup = hierarchy / PODMAN_CGROUP_PARENT / name
                if not cgroup.is_dir():
                    continue
                try:
                    cgroup.rmdir()
                except OSError:
                    left.append(str(cgroup))
    return left
