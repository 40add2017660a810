"""The lab's network on this machine: one bridge, one network namespace and veth pair per host, and the few
iptables rules that keep lab traffic between the hosts and inside the machine.

Every object is named after the bridge (`<bridge>-<host>` namespaces, `<bridge>-<n>` veths, iptables comment
`drover-lab:<bridge>`), so a lab can be found and removed from its bridge name alone, even when its state is lost.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError

NETNS_DIR = Path("/run/netns")
BRIDGE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,9}$")
# Bridged frames pass the machine's FORWARD chain when br_netfilter is loaded with this switch on.
BRIDGE_NF_CALL_IPTABLES = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


class LabError(DroverError):
    """The lab cannot be built, repaired or removed; the message says what to do."""


def run(argv: list[str], check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess:
    """Runs a command and raises LabError with its stderr when it fails and `check` is set."""
    result = subprocess.run(argv, input=input_text, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return result


@dataclass(frozen=True)
class LabNetwork:
    """The addressing plan: a /24, the controller's address on the bridge and the bridge name."""

    subnet: str
    bridge: str

    def __post_init__(self) -> None:
        if not BRIDGE_NAME_PATTERN.match(self.bridge):
            raise LabError(f"bridge name {self.bridge!r}: use 1 to 10 lowercase letters and digits, starting with a letter")
        try:
            network = ipaddress.IPv4Network(self.subnet)
        except ValueError as exc:
            raise LabError(f"subnet {self.subnet!r} is not an IPv4 network: {exc}") from exc
        if network.prefixlen != 24 or not network.is_private:
            raise LabError(f"subnet {self.subnet!r}: the lab needs a private /24, for example 10.199.77.0/24")

    @property
    def gateway(self) -> str:
        """The controller's address on the bridge (.1)."""
        return str(ipaddress.IPv4Network(self.subnet).network_address + 1)

    def host_address(self, index: int) -> str:
        """Host number `index` (0 is lb1) lives at .10 + index."""
        if not 0 <= index < 200:
            raise LabError(f"the lab holds at most 200 hosts, not {index + 1}")
        return str(ipaddress.IPv4Network(self.subnet).network_address + 10 + index)

    @property
    def vip_address(self) -> str:
        """The load balancers' virtual IP (.250): past the last host address (.209), so no host ever takes it."""
        return str(ipaddress.IPv4Network(self.subnet).network_address + 250)

    def netns_name(self, host: str) -> str:
        return f"{self.bridge}-{host}"

    def veth_name(self, index: int) -> str:
        # Interface names are limited to 15 characters: the bridge name has at most 10.
        return f"{self.bridge}-{index}"

    @property
    def rule_comment(self) -> str:
        return f"drover-lab:{self.bridge}"


OWNER_PREFIX = "drover-lab "


def owner_alias(owner: str) -> str:
    """The bridge's alias names the state directory of the lab that owns it."""
    return f"{OWNER_PREFIX}{owner}"


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def netns_inode(name: str) -> int | None:
    """The namespace's identity, as /proc/PID/ns/net shows it (net:[inode])."""
    try:
        return os.stat(NETNS_DIR / name).st_ino
    except OSError:
        return None


def lab_netns_names(network: LabNetwork) -> list[str]:
    """Every namespace that carries this lab's prefix, known to the lab's state or not."""
    prefix = f"{network.bridge}-"
    if not NETNS_DIR.is_dir():
        return []
    return sorted(entry.name for entry in NETNS_DIR.iterdir() if entry.name.startswith(prefix))


def links() -> dict[str, dict]:
    """All links of the machine's own namespace by name, from `ip -j link`."""
    return {link["ifname"]: link for link in json.loads(run(["ip", "-j", "link", "show"]).stdout or "[]")}


def bridge_alias(bridge: str) -> str | None:
    """The alias of the bridge, "" when it has none, None when there is no such link."""
    existing = links().get(bridge)
    return None if existing is None else existing.get("ifalias", "")


def ensure_bridge(network: LabNetwork, owner: str) -> None:
    """Creates the bridge with the controller's address, or checks that an existing one belongs to this lab."""
    existing = links().get(network.bridge)
    if existing is not None:
        alias = existing.get("ifalias", "")
        if alias != owner_alias(owner):
            raise LabError(f"bridge {network.bridge} already exists and belongs to {alias or 'something else'}: "
                           f"pick another bridge name or run `drover lab down` for that lab")
    else:
        _check_subnet_is_free(network)
        run(["ip", "link", "add", network.bridge, "type", "bridge"])
        run(["ip", "link", "set", network.bridge, "alias", owner_alias(owner)])
    addresses = json.loads(run(["ip", "-j", "addr", "show", "dev", network.bridge]).stdout or "[]")
    have = {(info["local"], info["prefixlen"]) for entry in addresses for info in entry.get("addr_info", [])}
    if (network.gateway, 24) not in have:
        run(["ip", "addr", "add", f"{network.gateway}/24", "dev", network.bridge])
    if existing is None or "UP" not in existing.get("flags", []):
        run(["ip", "link", "set", network.bridge, "up"])


def _check_subnet_is_free(network: LabNetwork) -> None:
    subnet = ipaddress.IPv4Network(network.subnet)
    for entry in json.loads(run(["ip", "-j", "addr", "show"]).stdout or "[]"):
        for info in entry.get("addr_info", []):
            if info.get("family") != "inet":
                continue
            if ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False).overlaps(subnet):
                raise LabError(f"subnet {network.subnet} overlaps {info['local']}/{info['prefixlen']} on "
                               f"{entry['ifname']}: pick another subnet")


def ensure_host_link(network: LabNetwork, netns: str, index: int, address: str) -> None:
    """Creates the namespace and its veth (eth0 inside, enslaved to the bridge outside) with the host's address.

    The default route points at the controller so the host looks like a VM with a gateway (Ansible fills
    `ansible_default_ipv4`); the FORWARD rule keeps that route from ever leaving the machine.
    """
    veth = network.veth_name(index)
    run(["ip", "netns", "add", netns])
    # A rebuilt host keeps its MAC address: with a new one, neighbours' ARP entries for the address would point at
    # the old one for up to a minute and the rebuilt host would not answer.
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", host_mac(address), "netns", netns])
    run(["ip", "link", "set", veth, "master", network.bridge, "up"])
    commands = "\n".join([
        f"addr add {address}/24 dev eth0",
        "link set lo up",
        "link set eth0 up",
        f"route add default via {network.gateway}",
    ])
    run(["ip", "-n", netns, "-batch", "-"], input_text=commands + "\n")


def host_mac(address: str) -> str:
    """A locally administered MAC derived from the IPv4 address: 02:d7:a.b.c.d in hex."""
    return "02:d7:" + ":".join(f"{int(part):02x}" for part in address.split("."))


def host_link_ok(network: LabNetwork, netns: str, index: int, address: str, machine_links: dict[str, dict]) -> bool:
    """The namespace exists, its veth is on the bridge and up, and eth0 inside has the host's address."""
    veth = machine_links.get(network.veth_name(index))
    if not netns_exists(netns) or veth is None or veth.get("master") != network.bridge:
        return False
    if "UP" not in veth.get("flags", []):
        return False
    return address in host_addresses(netns)


def host_addresses(netns: str) -> set[str]:
    """The IPv4 addresses on the host's eth0 (its own, and the VIP while it holds it); empty when it has none."""
    result = run(["ip", "-n", netns, "-4", "-j", "addr", "show", "dev", "eth0"], check=False)
    if result.returncode != 0:
        return set()
    entries = json.loads(result.stdout or "[]")
    return {info["local"] for entry in entries for info in entry.get("addr_info", []) if "local" in info}


def remove_host_link(network: LabNetwork, netns: str, index: int | None) -> None:
    """Deletes the veth and the namespace. Deleting the veth matters: a namespace still referenced elsewhere would
    otherwise keep its end of the pair on the bridge."""
    if index is not None and network.veth_name(index) in links():
        run(["ip", "link", "del", network.veth_name(index)], check=False)
    if netns_exists(netns):
        run(["ip", "netns", "del", netns])


def remove_stray_veths(network: LabNetwork) -> None:
    """Deletes every veth named after this lab's bridge, as a half-built or half-removed lab may leave them."""
    prefix = f"{network.bridge}-"
    for name in links():
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            run(["ip", "link", "del", name], check=False)


def remove_bridge(network: LabNetwork) -> None:
    """Deletes the bridge if it is a lab bridge; a bridge of that name that drover did not create stays."""
    existing = links().get(network.bridge)
    if existing is None:
        return
    if not existing.get("ifalias", "").startswith(OWNER_PREFIX):
        raise LabError(f"bridge {network.bridge} was not made by drover (alias {existing.get('ifalias', '')!r}): left in place")
    run(["ip", "link", "del", network.bridge])


def wanted_rules(network: LabNetwork) -> list[list[str]]:
    """FORWARD rules as `iptables -I FORWARD` argument lists, first rule first.

    Routed traffic from a host to anything off the bridge is rejected: nothing leaves the machine even where
    ip_forward is on, and whatever tries fails at once. When br_netfilter sends bridged frames through iptables
    (bridge-nf-call-iptables = 1), traffic between hosts is accepted explicitly, because Docker and others set the
    FORWARD policy to DROP.
    """
    comment = ["-m", "comment", "--comment", network.rule_comment]
    rules = [["-i", network.bridge, "!", "-o", network.bridge, *comment, "-j", "REJECT", "--reject-with", "icmp-net-unreachable"]]
    if _bridge_traffic_is_filtered():
        rules.insert(0, ["-i", network.bridge, "-o", network.bridge, *comment, "-j", "ACCEPT"])
    return rules


def _bridge_traffic_is_filtered() -> bool:
    try:
        return BRIDGE_NF_CALL_IPTABLES.read_text(encoding="ascii").strip() == "1"
    except OSError:
        return False


def lab_rules(network: LabNetwork) -> list[str]:
    """The FORWARD rules carrying this lab's comment, in `iptables -S` form."""
    listing = run(["iptables", "-w", "-S", "FORWARD"]).stdout.splitlines()
    quoted = f'--comment "{network.rule_comment}" '
    bare = f"--comment {network.rule_comment} "
    return [line for line in listing if quoted in line + " " or bare in line + " "]


def ensure_rules(network: LabNetwork) -> None:
    """Inserts the lab's rules at the top of FORWARD unless exactly these are there already."""
    wanted = wanted_rules(network)
    present = all(run(["iptables", "-w", "-C", "FORWARD", *rule], check=False).returncode == 0 for rule in wanted)
    if present and len(lab_rules(network)) == len(wanted):
        return
    remove_rules(network)
    for rule in reversed(wanted):
        run(["iptables", "-w", "-I", "FORWARD", "1", *rule])


def remove_rules(network: LabNetwork) -> None:
    """Deletes exactly the FORWARD rules that carry this lab's comment."""
    for line in lab_rules(network):
        spec = line.split()
        if spec[:2] != ["-A", "FORWARD"]:
            continue
        # `iptables -S` quotes the comment; `-D` wants it as one argument without the quotes.
        args = [part.strip('"') for part in spec[2:]]
        run(["iptables", "-w", "-D", "FORWARD", *args])
