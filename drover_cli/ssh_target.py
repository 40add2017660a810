"""Which machine to reach over SSH, and how: from `--ssh user@address[:port] --key KEY`, from a host of an Ansible
inventory (`--host lb1 -i inventory.ini`) with the connection variables Ansible itself would use, or from every host
of an inventory group (`-i inventory.ini --group loadbalancers`).

The inventory is read by Ansible's own inventory manager, so every format Ansible reads works (INI, YAML, plugins,
group_vars and host_vars next to it). Host key checking follows Ansible too: on unless `host_key_checking = False`
in the Ansible configuration or `StrictHostKeyChecking=no` in the host's ssh arguments.
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError

DEFAULT_PYTHON = "python3"
_SSH_SPEC = re.compile(r"(?:(?P<user>[^@\s]+)@)?(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:@\s\[\]]+))(?::(?P<port>\d+))?")
_NO_STRICT = re.compile(r"StrictHostKeyChecking[= ]+(?:no|off|accept-new)\b", re.IGNORECASE)


@dataclass
class SshTarget:
    """A machine to reach: `name` is what the user called it (inventory host or the --ssh text)."""

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    python: str = DEFAULT_PYTHON
    host_key_check: bool = True
    # the load balancers' virtual IP (`drover_lb_vip` in the inventory), to tell which one holds it
    lb_vip: str | None = None

    def describe(self) -> str:
        where = f"{self.user}@{self.address}" if self.user else self.address
        where += f":{self.port}" if self.port != 22 else ""
        return where if self.name in (where, self.address) else f"{self.name} ({where})"


def parse_ssh_spec(spec: str, key_file: str | None = None) -> SshTarget:
    """`user@address[:port]` (an IPv6 address in brackets) as a target; the user defaults to the local one."""
    match = _SSH_SPEC.fullmatch(spec.strip())
    if not match:
        raise DroverError(f"--ssh {spec!r}: expected user@address or user@address:port")
    port = int(match.group("port") or 22)
    if not 1 <= port <= 65535:
        raise DroverError(f"--ssh {spec!r}: port {port} is not a port number")
    return SshTarget(name=spec, address=match.group("ipv6") or match.group("host"), port=port,
                     user=match.group("user") or getpass.getuser(), key_file=key_file)


def _plain(value, what: str, host: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if "{{" in text or "{%" in text:
        raise DroverError(f"inventory host {host}: {what} is a template ({text!r}); give the connection with --ssh and --key instead")
    return text


def _inventory(inventory: str):
    """(DataLoader, InventoryManager, ansible constants) of `inventory`, read as ansible-playbook reads it."""
    try:
        # Ansible is the controller's own dependency; the inventory is read exactly as ansible-playbook reads it.
        from ansible import constants as ansible_constants  # pylint: disable=import-outside-toplevel
        from ansible.inventory.manager import InventoryManager  # pylint: disable=import-outside-toplevel
        from ansible.parsing.dataloader import DataLoader  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise DroverError(f"reading an Ansible inventory needs ansible-core ({exc}); or use --ssh user@address --key KEY") from None
    if not os.path.exists(inventory):
        raise DroverError(f"inventory {inventory} does not exist")
    loader = DataLoader()
    return loader, InventoryManager(loader=loader, sources=[inventory]), ansible_constants


def _target(loader, manager, ansible_constants, host) -> SshTarget:
    """The connection Ansible would use for inventory host `host`."""
    from ansible.vars.manager import VariableManager  # pylint: disable=import-outside-toplevel

    variables = VariableManager(loader=loader, inventory=manager).get_vars(host=host, include_hostvars=False)

    def var(*names):
        for key in names:
            if variables.get(key) not in (None, ""):
                return _plain(variables[key], key, host.name)
        return None

    python = var("ansible_python_interpreter")
    if not python or python.startswith("auto"):
        python = DEFAULT_PYTHON
    ssh_args = " ".join(filter(None, (var("ansible_ssh_common_args"), var("ansible_ssh_extra_args"), var("ansible_ssh_args"))))
    check = bool(getattr(ansible_constants, "HOST_KEY_CHECKING", True)) and not _NO_STRICT.search(ssh_args)
    key_file = var("ansible_ssh_private_key_file", "ansible_private_key_file")
    port = var("ansible_port", "ansible_ssh_port")
    return SshTarget(
        name=host.name, address=var("ansible_host", "ansible_ssh_host") or host.name, port=int(port) if port else 22,
        user=var("ansible_user", "ansible_ssh_user", "ansible_remote_user") or getpass.getuser(),
        key_file=os.path.expanduser(key_file) if key_file else None, python=python, host_key_check=check,
        lb_vip=var("drover_lb_vip"),
    )


def target_from_inventory(inventory: str, name: str) -> SshTarget:
    """The connection of inventory host `name` (or of the only host of group `name`). Needs ansible-core."""
    loader, manager, ansible_constants = _inventory(inventory)
    host = manager.get_host(name)
    if host is None:
        group = manager.groups.get(name)
        members = group.get_hosts() if group is not None else []
        if len(members) == 1:
            host = members[0]
        elif members:
            raise DroverError(f"group {name} of {inventory} has {len(members)} hosts ({', '.join(h.name for h in members)}): name one")
        else:
            known = ", ".join(sorted(h.name for h in manager.get_hosts())) or "none"
            raise DroverError(f"inventory {inventory} has no host or group {name!r} (hosts: {known})")
    return _target(loader, manager, ansible_constants, host)


def targets_of_group(inventory: str, group: str) -> list:
    """The connections of every host of inventory group `group`, in the inventory's order. Needs ansible-core."""
    loader, manager, ansible_constants = _inventory(inventory)
    found = manager.groups.get(group)
    members = found.get_hosts() if found is not None else []
    if not members:
        groups = ", ".join(sorted(name for name, g in manager.groups.items() if g.get_hosts() and name not in ("all", "ungrouped"))) or "none"
        raise DroverError(f"inventory {inventory} has no host in group {group!r} (groups with hosts: {groups}); "
                          "name the load balancers' group with --group")
    return [_target(loader, manager, ansible_constants, host) for host in members]


def default_inventory() -> str | None:
    """The inventory Ansible would use without -i (ANSIBLE_INVENTORY or ansible.cfg), when it is one existing path."""
    try:
        from ansible import constants as ansible_constants  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    sources = getattr(ansible_constants, "DEFAULT_HOST_LIST", None) or []
    existing = [source for source in sources if os.path.exists(source)]
    return existing[0] if len(existing) == 1 else None
