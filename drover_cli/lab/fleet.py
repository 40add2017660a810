"""The lab: a fleet of VM-like hosts on this Linux machine, for the demo and the integration tests.

Public API:
    lab_up(hosts, state_dir, *, load_balancers=1, vip=None, subnet=None, bridge=None, images=True) -> LabState
    lab_down(state_dir, *, bridge=None) -> None
    lab_status(state_dir) -> list[dict]
    vip_holders(state) -> list[str]
    load_lab(state_dir) -> LabState | None

Each host (`lb1`, `app1`, ...) has its own network namespace with an address on a private /24 bridged to the
controller (.1), its own hostname, mount namespace (/etc/haproxy, /etc/containers, /var/lib/containers,
/var/lib/haproxy, a tmpfs /run), an sshd on port 22 and a rootful podman holding the demo service image. State lives
in one directory (default `<repo>/.lab`, or $DROVER_LAB_DIR): `lab.json`, `inventory.ini`, `ssh_config`, the lab's
ssh key and one folder per host. With two or more load balancers the lab reserves a virtual IP (.250) for them: the
inventory hands it to the drover.fleet.keepalived role, and `lab_status` tells which load balancer holds it.
See docs/lab.md.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from drover_cli.lab.demo_image import DEMO_VERSIONS, DemoImage, build_demo_image, ensure_demo_images
from drover_cli.lab.host import (
    LabHost, host_running, kill_host, port_open, run_in_host, sshd_pid, start_host, stop_host, wait_host_started,
    write_host_files,
)
from drover_cli.lab.network import (
    OWNER_PREFIX, LabError, LabNetwork, bridge_alias, ensure_bridge, ensure_host_link, ensure_rules, host_addresses,
    lab_netns_names, links, owner_alias, remove_bridge, remove_rules, remove_stray_veths, run,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SUBNET = "10.199.77.0/24"
DEFAULT_BRIDGE = "drover0"
DEFAULT_HOSTS = 5
DEFAULT_LOAD_BALANCERS = 1
ZONES = ("zone-a", "zone-b", "zone-c")
LOAD_BALANCER_GROUP = "loadbalancers"
APP_GROUP = "apps"
FLEET_GROUP = "fleet"
# The hosts share the machine's filesystem, so the machine's system interpreter exists inside every host.
HOST_PYTHON = "/usr/bin/python3"
STATE_FORMAT = 1
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "iptables", "ssh-keygen", "podman", "runc")


def default_state_dir() -> Path:
    return Path(os.environ.get("DROVER_LAB_DIR") or REPO_ROOT / ".lab")


@dataclass
class LabState:
    """A lab as `lab_up` built it: where it lives, its network and its hosts."""

    state_dir: Path
    network: LabNetwork
    hosts: list[LabHost]
    timings: dict[str, float] = field(default_factory=dict)
    # The load balancers' virtual IP (keepalived), or None when the lab has none.
    vip: str | None = None

    @property
    def subnet(self) -> str:
        return self.network.subnet

    @property
    def bridge(self) -> str:
        return self.network.bridge

    @property
    def gateway(self) -> str:
        return self.network.gateway

    @property
    def ssh_key(self) -> Path:
        return self.state_dir / "ssh" / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.state_dir / "ssh" / "authorized_keys"

    @property
    def inventory(self) -> Path:
        return self.state_dir / "inventory.ini"

    @property
    def ssh_config(self) -> Path:
        return self.state_dir / "ssh_config"

    @property
    def python(self) -> str:
        return HOST_PYTHON

    def host(self, name: str) -> LabHost:
        for host in self.hosts:
            if host.name == name:
                return host
        raise LabError(f"the lab has no host {name!r}: it has {', '.join(h.name for h in self.hosts)}")

    def group(self, group: str) -> list[LabHost]:
        return [host for host in self.hosts if host.group == group]

    def to_json(self) -> str:
        return json.dumps({"format": STATE_FORMAT, "subnet": self.subnet, "bridge": self.bridge, "vip": self.vip,
                           "hosts": [host.as_dict() for host in self.hosts]}, indent=2) + "\n"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "lab.json"


def _hosts_dir(state_dir: Path) -> Path:
    return state_dir / "hosts"


def load_lab(state_dir: Path | str | None = None) -> LabState | None:
    """The lab recorded in `state_dir`, or None when there is none."""
    state_dir = Path(state_dir or default_state_dir()).resolve()
    try:
        data = json.loads(_state_file(state_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise LabError(f"{_state_file(state_dir)} is not valid JSON ({exc}): run `drover lab down` and `up` again") from exc
    network = LabNetwork(data["subnet"], data["bridge"])
    hosts = [LabHost(name=h["name"], group=h["group"], zone=h["zone"], index=h["index"], address=h["address"],
                     netns=h["netns"], dir=_hosts_dir(state_dir) / h["name"]) for h in data["hosts"]]
    return LabState(state_dir=state_dir, network=network, hosts=hosts, vip=data.get("vip"))


def plan_hosts(count: int, network: LabNetwork, state_dir: Path, load_balancers: int = DEFAULT_LOAD_BALANCERS) -> list[LabHost]:
    """lb1..lb<load_balancers>, then app1..app<count-load_balancers>: `count` is the total. Zones go round robin
    within each group, so both groups start at zone-a."""
    if not 1 <= count <= 200:
        raise LabError(f"--hosts must be between 1 and 200, not {count}")
    if not 1 <= load_balancers <= count:
        raise LabError(f"--load-balancers must be between 1 and --hosts ({count}), not {load_balancers}")
    names = [(f"lb{n}", LOAD_BALANCER_GROUP, n - 1) for n in range(1, load_balancers + 1)]
    names += [(f"app{n}", APP_GROUP, n - 1) for n in range(1, count - load_balancers + 1)]
    return [LabHost(name=name, group=group, zone=ZONES[position % len(ZONES)], index=index,
                    address=network.host_address(index), netns=network.netns_name(name), dir=_hosts_dir(state_dir) / name)
            for index, (name, group, position) in enumerate(names)]


@contextmanager
def _locked(state_dir: Path):
    """One `up` or `down` at a time per lab."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".lock", "w", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_machine() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, bridges, mounts): run it as root")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if not os.path.exists("/usr/sbin/sshd"):
        missing.append("sshd (openssh-server)")
    if not os.path.exists(HOST_PYTHON):
        missing.append(HOST_PYTHON)
    if missing:
        raise LabError(f"missing on this machine: {', '.join(missing)} (run `bash scripts/setup.sh`)")


class _Stopwatch:
    def __init__(self, timings: dict[str, float]):
        self.timings = timings
        self.mark = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.timings[name] = round(now - self.mark, 3)
        self.mark = now


def lab_up(hosts: int = DEFAULT_HOSTS, state_dir: Path | str | None = None, *, load_balancers: int = DEFAULT_LOAD_BALANCERS,
           vip: bool | None = None, subnet: str | None = None, bridge: str | None = None, images: bool = True,
           versions: tuple[str, ...] = DEMO_VERSIONS) -> LabState:
    """Brings the lab to `hosts` running hosts, `load_balancers` of them load balancers, and returns it. Idempotent:
    running hosts are checked, not rebuilt; missing or broken ones (a half-built earlier lab) are rebuilt; surplus
    ones are removed.

    `vip` reserves the load balancers' virtual IP (.250 of the subnet) in the state and the inventory; by default
    the lab has one when it has two or more load balancers. Nothing holds it until keepalived runs
    (playbooks/keepalived.yml).

    `subnet` and `bridge` default to the existing lab's, else to 10.199.77.0/24 and `drover0`; changing them
    rebuilds the lab. `images` imports the demo image versions into every host.
    """
    _check_machine()
    state_dir = Path(state_dir or default_state_dir()).resolve()
    with _locked(state_dir):
        timings: dict[str, float] = {}
        watch = _Stopwatch(timings)
        previous = load_lab(state_dir)
        network = LabNetwork(subnet or (previous.subnet if previous else DEFAULT_SUBNET),
                             bridge or (previous.bridge if previous else DEFAULT_BRIDGE))
        if previous and previous.network != network:
            _down_locked(state_dir, previous.network if _owns(state_dir, previous.network) else None)
            previous = None
        planned = plan_hosts(hosts, network, state_dir, load_balancers)
        with_vip = load_balancers >= 2 if vip is None else vip
        state = LabState(state_dir=state_dir, network=network, hosts=planned, timings=timings,
                         vip=network.vip_address if with_vip else None)
        # The bridge's alias names its owner; it exists before anything else, so `down` finds a lab that failed half
        # way even without its record. The record comes next, before any host.
        ensure_bridge(network, owner=str(state_dir))
        _write_atomic(_state_file(state_dir), LabState(state_dir, network, _union(previous, state), vip=state.vip).to_json())
        _ensure_lab_key(state)
        ensure_rules(network)
        watch.lap("network")

        for host in _surplus_hosts(state, previous):
            stop_host(host, network)
            shutil.rmtree(host.dir, ignore_errors=True)
        _write_atomic(_state_file(state_dir), state.to_json())

        hosts_file = _hosts_file(state)
        machine_links = links()
        to_start = []
        for host in state.hosts:
            config_changed = write_host_files(host, state.authorized_keys, hosts_file)
            if not config_changed and host_running(host, network, machine_links):
                continue
            stop_host(host, network)
            ensure_host_link(network, host.netns, host.index, host.address)
            to_start.append(host)
        watch.lap("check")
        launchers = [(host, start_host(host)) for host in to_start]
        for host, launcher in launchers:
            wait_host_started(host, launcher)
        watch.lap("hosts")

        if images:
            image = build_demo_image(state_dir / "images", versions)
            watch.lap("image_build")
            _import_everywhere(state, image)
            watch.lap("image_import")
        _write_atomic(state.inventory, render_inventory(state))
        _write_atomic(state.ssh_config, render_ssh_config(state))
        timings["total"] = round(sum(timings.values()), 3)
        return state


def _surplus_hosts(state: LabState, previous: LabState | None) -> list[LabHost]:
    """Hosts that exist but are not planned: recorded before, or left by a run that died before recording them."""
    wanted = {host.name for host in state.hosts}
    surplus = {host.name: host for host in (previous.hosts if previous else []) if host.name not in wanted}
    names = [netns[len(state.bridge) + 1:] for netns in lab_netns_names(state.network)]
    if _hosts_dir(state.state_dir).is_dir():
        names += [folder.name for folder in _hosts_dir(state.state_dir).iterdir()]
    for name in names:
        if name not in wanted and name not in surplus:
            surplus[name] = _unrecorded_host(state.state_dir, name, state.network.netns_name(name))
    return list(surplus.values())


def _union(previous: LabState | None, state: LabState) -> list[LabHost]:
    """The planned hosts plus the previous lab's surplus ones, which still have to be removed."""
    names = {host.name for host in state.hosts}
    return state.hosts + [host for host in (previous.hosts if previous else []) if host.name not in names]


def _ensure_lab_key(state: LabState) -> None:
    state.ssh_key.parent.mkdir(parents=True, exist_ok=True)
    if not state.ssh_key.exists() or not state.ssh_key.with_suffix(".pub").exists():
        state.ssh_key.unlink(missing_ok=True)
        state.ssh_key.with_suffix(".pub").unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "drover-lab", "-f", str(state.ssh_key)])
    public = state.ssh_key.with_suffix(".pub").read_text(encoding="ascii")
    if not state.authorized_keys.exists() or state.authorized_keys.read_text(encoding="ascii") != public:
        _write_atomic(state.authorized_keys, public)


def _hosts_file(state: LabState) -> str:
    """Every host's /etc/hosts: all lab hosts by name (a host's own name must resolve, or Ansible's fact gathering
    waits on DNS) and the controller."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", f"{state.gateway}\tcontroller"]
    lines += [f"{host.address}\t{host.name}" for host in state.hosts]
    return "\n".join(lines) + "\n"


def _import_everywhere(state: LabState, image: DemoImage) -> None:
    def one(host: LabHost) -> list[str]:
        return ensure_demo_images(image, lambda argv, check=True: run_in_host(host, argv, check=check))

    # podman import is mostly I/O and process start-up: a few hosts at a time keep two cores busy.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, state.hosts))


def render_inventory(state: LabState) -> str:
    lines = [f"# Written by `drover lab up` for the lab in {state.state_dir}; rewritten on every run.", ""]
    for group in (LOAD_BALANCER_GROUP, APP_GROUP):
        lines.append(f"[{group}]")
        for host in state.group(group):
            lines.append(f"{host.name} ansible_host={host.address} ansible_user=root "
                         f"ansible_ssh_private_key_file={state.ssh_key} ansible_python_interpreter={state.python} "
                         f"zone={host.zone}")
        lines.append("")
    lines += [f"[{FLEET_GROUP}:children]", LOAD_BALANCER_GROUP, APP_GROUP, "",
              f"[{FLEET_GROUP}:vars]",
              "# Every new lab generates new host keys.",
              "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'"]
    if state.vip:
        # Where clients reach the load balancers, and drover.fleet.keepalived's settings for the pair on eth0.
        lines += [f"drover_lb_vip={state.vip}", "",
                  f"[{LOAD_BALANCER_GROUP}:vars]", f"keepalived_vip={state.vip}", "keepalived_interface=eth0"]
    return "\n".join(lines + [""])


def render_ssh_config(state: LabState) -> str:
    """For people: `ssh -F .lab/ssh_config app1`."""
    lines = [f"# Written by `drover lab up`. Use: ssh -F {state.ssh_config} <host>", ""]
    for host in state.hosts:
        lines += [f"Host {host.name}", f"  HostName {host.address}", "  User root", f"  IdentityFile {state.ssh_key}",
                  "  IdentitiesOnly yes", "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null",
                  "  LogLevel ERROR", ""]
    return "\n".join(lines)


def _write_atomic(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(content, encoding="utf-8")
    os.replace(partial, path)


def lab_down(state_dir: Path | str | None = None, *, bridge: str | None = None) -> None:
    """Removes the lab completely: every process of every host, namespaces, veths, the bridge, the iptables rules,
    and the lab's state except the demo image cache. Safe to run on a half-built or already removed lab.

    The lab is the one `state_dir` records, plus any bridge whose alias names `state_dir` (the record may be lost).
    `bridge` adds a lab by its bridge name, for a lab whose state directory is gone. Without either, nothing but the
    state directory's own hosts is touched: never another lab.
    """
    _check_machine()
    state_dir = Path(state_dir or default_state_dir()).resolve()
    with _locked(state_dir):
        networks = _networks_of(state_dir, bridge)
        for network in networks:
            _down_locked(state_dir, network)
        if not networks:
            _down_locked(state_dir, None)


def _networks_of(state_dir: Path, bridge: str | None) -> list[LabNetwork]:
    recorded = load_lab(state_dir)
    networks = [recorded.network] if recorded and _owns(state_dir, recorded.network) else []
    bridges = {network.bridge for network in networks}
    for name, link in links().items():
        if link.get("ifalias") == owner_alias(str(state_dir)) and name not in bridges:
            networks.append(LabNetwork(DEFAULT_SUBNET, name))
            bridges.add(name)
    if bridge and bridge not in bridges:
        network = LabNetwork(DEFAULT_SUBNET, bridge)
        if not _owns(state_dir, network, orphans_too=True):
            raise LabError(f"bridge {bridge} belongs to the lab in {bridge_alias(bridge)[len(OWNER_PREFIX):]}: "
                           f"run `drover lab down --state-dir` with that directory")
        networks.append(network)
    return networks


def _owns(state_dir: Path, network: LabNetwork, orphans_too: bool = False) -> bool:
    """Whether removing `network` cannot hurt another lab: its bridge is gone or names `state_dir` as its owner
    (or, with `orphans_too`, names a state directory that no longer records a lab)."""
    alias = bridge_alias(network.bridge)
    if alias is None or alias == owner_alias(str(state_dir)):
        return True
    if not alias.startswith(OWNER_PREFIX):
        raise LabError(f"bridge {network.bridge} was not made by drover (alias {alias!r}): pick another bridge name")
    return orphans_too and not _state_file(Path(alias[len(OWNER_PREFIX):])).exists()


def _down_locked(state_dir: Path, network: LabNetwork | None) -> None:
    """Removes one lab network with its hosts; with no network, only kills what the state's host folders run."""
    recorded = load_lab(state_dir)
    hosts: dict[str, LabHost] = {}
    if network is not None:
        hosts = {host.netns: host for host in (recorded.hosts if recorded and recorded.network == network else [])}
        # Namespaces the record does not know of: a run that died before recording them.
        for netns in lab_netns_names(network):
            if netns not in hosts:
                name = netns[len(network.bridge) + 1:]
                hosts[netns] = _unrecorded_host(state_dir, name, netns)
    if _hosts_dir(state_dir).is_dir():
        for folder in _hosts_dir(state_dir).iterdir():
            netns = network.netns_name(folder.name) if network else ""
            if not network or netns not in hosts:
                hosts[netns or folder.name] = _unrecorded_host(state_dir, folder.name, netns)
    for host in hosts.values():
        if network is None:
            kill_host(host)
        else:
            stop_host(host, network)
    if network is not None:
        remove_stray_veths(network)
        remove_bridge(network)
        remove_rules(network)
    shutil.rmtree(_hosts_dir(state_dir), ignore_errors=True)
    shutil.rmtree(state_dir / "ssh", ignore_errors=True)
    for name in ("lab.json", "inventory.ini", "ssh_config"):
        (state_dir / name).unlink(missing_ok=True)


def _unrecorded_host(state_dir: Path, name: str, netns: str) -> LabHost:
    return LabHost(name=name, group="", zone="", index=-1, address="", netns=netns, dir=_hosts_dir(state_dir) / name)


def vip_holders(state: LabState) -> list[str]:
    """The load balancers that have the lab's virtual IP on their eth0: one normally, none before keepalived runs or
    while every HAProxy is down, two in a split brain."""
    if not state.vip:
        return []
    return [host.name for host in state.group(LOAD_BALANCER_GROUP) if state.vip in host_addresses(host.netns)]


def lab_status(state_dir: Path | str | None = None) -> list[dict]:
    """One dict per host: name, address, group, zone, sshd (accepts connections), podman (answers), containers
    (running, or None when podman does not answer), vip (whether it holds the lab's virtual IP; None for an app host
    or a lab without one). Empty when there is no lab."""
    state = load_lab(state_dir)
    if state is None:
        return []
    holders = vip_holders(state)

    def one(host: LabHost) -> dict:
        running = sshd_pid(host) is not None and port_open(host.address)
        podman_ok, containers = False, None
        if running:
            try:
                result = run_in_host(host, ["podman", "ps", "--quiet"], timeout=30, check=False)
            except LabError:
                result = None
            if result is not None and result.returncode == 0:
                podman_ok, containers = True, len(result.stdout.split())
        return {"name": host.name, "address": host.address, "group": host.group, "zone": host.zone,
                "sshd": running, "podman": podman_ok, "containers": containers,
                "vip": host.name in holders if state.vip and host.group == LOAD_BALANCER_GROUP else None}

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, state.hosts))
