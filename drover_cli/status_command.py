"""`drover status`: gateways (grouped by blueprint), routes and servers of a running load balancer, read locally or
over SSH; or of every load balancer of an inventory group, read in parallel and compared.

Exit codes, fit for cron (docs/operations.md): 0 every routed backend has a server that takes requests (and, for a
group, every load balancer was read and they agree); 1 some routed backend has none (or part of a gateway's requests
has no route at all); 2 usage error, or the load balancer (for a group: every one) cannot be read; 3 a load balancer
of the group cannot be read; 4 the load balancers of the group disagree. For a group, the first of 2, 1, 3, 4 that
holds.
"""

from __future__ import annotations

import datetime
import json
import sys
import time

import click

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import build_status
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_compare import BalancerLook, compare_status
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_source import (
    LocalSource, NoAnswerError, StatusSource, collect_many, collect_status)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.sockets import DEFAULT_MASTER_SOCKET

from drover_cli.output import emit_json, format_option
from drover_cli.ssh_target import default_inventory, parse_ssh_spec, target_from_inventory, targets_of_group
from drover_cli.status_ssh import SshSource
from drover_cli.status_text import render_group, render_status

EXIT_HEALTHY = 0
EXIT_PROBLEM = 1
EXIT_ERROR = 2
EXIT_UNREADABLE = 3
EXIT_DISAGREE = 4
DEFAULT_GROUP = "loadbalancers"
# a load balancer of a group has this many --timeout to give its whole status (connect, runtime API, files)
HOST_DEADLINE_TIMEOUTS = 3


def open_source(host: str | None, inventory: str | None, ssh_spec: str | None, key: str | None, python: str | None,
                host_key_check: bool | None, timeout: float) -> StatusSource:
    """The source the options name: SSH to an inventory host, SSH to user@address, or this machine."""
    if host is None and ssh_spec is None:
        return LocalSource(timeout)
    if host is not None:
        inventory = inventory or default_inventory()
        if not inventory:
            raise click.UsageError("--host needs an inventory: -i INVENTORY (or an inventory in ansible.cfg)")
        target = target_from_inventory(inventory, host)
    else:
        target = parse_ssh_spec(ssh_spec, key)
    return SshSource(_configured(target, python, host_key_check), timeout=timeout)


def _configured(target, python: str | None, host_key_check: bool | None):
    if python:
        target.python = python
    if host_key_check is not None:
        target.host_key_check = host_key_check
    return target


class Group:
    """The load balancers of an inventory group, each with its SSH source (kept open between refreshes)."""

    def __init__(self, inventory: str | None, group: str, python: str | None, host_key_check: bool | None, timeout: float):
        self.inventory = inventory or default_inventory()
        if not self.inventory:
            raise click.UsageError("--group needs an inventory: -i INVENTORY (or an inventory in ansible.cfg)")
        self.name = group
        self.timeout = timeout
        self.targets = [_configured(target, python, host_key_check) for target in targets_of_group(self.inventory, group)]
        self.vip = next((target.lb_vip for target in self.targets if target.lb_vip), None)
        self.sources = {target.name: SshSource(target, timeout=timeout) for target in self.targets}

    def look(self, admin_socket, config_path, master_socket) -> tuple:
        """(exit code, GroupStatus) of one look at every load balancer, read in parallel."""
        deadline = HOST_DEADLINE_TIMEOUTS * self.timeout
        raws = collect_many(self.sources, deadline, admin_socket=admin_socket, config_path=config_path,
                            master_socket=master_socket or DEFAULT_MASTER_SOCKET, master_required=master_socket is not None,
                            addresses=self.vip is not None)
        looks = []
        for target in self.targets:
            raw = raws[target.name]
            if isinstance(raw, DroverError):
                looks.append(BalancerLook(target.name, error=str(raw)))
                if isinstance(raw, NoAnswerError):
                    # its thread may still hold the old connection: the next refresh gets a new one
                    self.sources[target.name] = SshSource(target, timeout=self.timeout)
                continue
            try:
                status = build_status(raw)
            except DroverError as exc:
                looks.append(BalancerLook(target.name, error=str(exc)))
                continue
            holds = self.vip in status.addresses if self.vip and status.addresses is not None else None
            looks.append(BalancerLook(target.name, status, vip=holds))
        result = compare_status(looks, group=self.name, vip=self.vip)
        return group_exit_code(result), result

    def close(self) -> None:
        for source in self.sources.values():
            source.close()


def group_exit_code(result) -> int:
    """The first that holds of: 2 no load balancer read, 1 a problem on one, 3 one not read, 4 they disagree."""
    if not result.readable:
        return EXIT_ERROR
    if result.problems:
        return EXIT_PROBLEM
    if result.unreadable:
        return EXIT_UNREADABLE
    if not result.agree:
        return EXIT_DISAGREE
    return EXIT_HEALTHY


def _emit(code: int, data: dict, text: str, output_format: str, watch: bool, interval: float, error: bool = False) -> None:
    """One look: `data` as JSON (with its exit code), else `text`; with --watch, a JSON document per line or the
    screen refreshed. An `error` text goes to stderr, except while watching."""
    if output_format == "json":
        data["exit_code"] = code
        if watch:
            # one document per line (JSON Lines), so a script can follow the stream
            click.echo(json.dumps(data, sort_keys=True, default=str))
        else:
            emit_json(data)
        return
    if watch:
        click.clear()
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"drover status, every {interval:g}s (Ctrl-C stops): {stamp}\n")
    click.echo(text, err=error and not watch)


def _show_group(code: int, result, inventory: str, output_format: str, watch: bool, all_slots: bool, interval: float) -> None:
    data = result.as_dict()
    data["inventory"] = inventory
    _emit(code, data, render_group(result, inventory, all_slots=all_slots), output_format, watch, interval)


def _look(source: StatusSource, admin_socket, config_path, master_socket) -> tuple:
    """(exit code, status or None, error text or None) of one look."""
    try:
        raw = collect_status(source, admin_socket=admin_socket, config_path=config_path,
                             master_socket=master_socket or DEFAULT_MASTER_SOCKET, master_required=master_socket is not None)
        status = build_status(raw)
    except DroverError as exc:
        return EXIT_ERROR, None, str(exc)
    return (EXIT_HEALTHY if status.healthy else EXIT_PROBLEM), status, None


def _show(code: int, status, error, output_format: str, watch: bool, all_slots: bool, interval: float) -> None:
    if status is not None:
        _emit(code, status.as_dict(), render_status(status, all_slots=all_slots), output_format, watch, interval)
    else:
        _emit(code, {"healthy": False, "error": error}, f"drover status: {error}", output_format, watch, interval, error=True)


def _repeat(look_and_show, watch: bool, count, interval: float, close) -> int:
    """Looks (once, or until Ctrl-C or `count` looks with --watch); the exit code of the last one. `close` at the end."""
    code = EXIT_ERROR
    looks = 0
    try:
        while True:
            code = look_and_show()
            looks += 1
            if not watch or (count is not None and looks >= count):
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        close()
    return code


@click.command(name="status")
@click.option("--socket", "admin_socket", metavar="PATH",
              help="Admin socket: a path or host:port [default: the `stats socket ... level admin` of haproxy.cfg, "
                   "else /run/haproxy/admin.sock]. With --host or --ssh, a path on that machine.")
@click.option("--config", "config_path", metavar="PATH",
              help="The live haproxy.cfg, for labels and conditions [default: the running HAProxy's -f, else "
                   "/etc/haproxy/haproxy.cfg].")
@click.option("--master-socket", metavar="PATH",
              help=f"Master CLI socket, for reloads and workers [default: {DEFAULT_MASTER_SOCKET} when it answers].")
@click.option("--host", metavar="NAME", help="Read this inventory host (or the one host of this group) over SSH.")
@click.option("-i", "--inventory", metavar="INVENTORY",
              help="Ansible inventory: without --host, every load balancer of --group is read and compared "
                   "[default for --host and --group: Ansible's configured one].")
@click.option("--group", metavar="NAME",
              help=f"The load balancers' inventory group, read in parallel and compared [default: {DEFAULT_GROUP}].")
@click.option("--ssh", "ssh_spec", metavar="USER@ADDR[:PORT]", help="Read this machine over SSH.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False), help="Private key for --ssh.")
@click.option("--python", metavar="PATH", help="Python on the load balancer [default: the inventory's interpreter, else python3].")
@click.option("--host-key-check/--no-host-key-check", default=None,
              help="Refuse hosts missing from known_hosts [default: as Ansible would for --host; on for --ssh].")
@click.option("--all-slots", is_flag=True, help="Also list empty server slots.")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True, help="Seconds between refreshes.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="With --watch: stop after this many refreshes.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help=f"Seconds to wait for a socket or SSH; a load balancer of a group has {HOST_DEADLINE_TIMEOUTS} times as long in all.")
@format_option
def status_command(admin_socket, config_path, master_socket, host, inventory, group, ssh_spec, key, python, host_key_check,
                   all_slots, watch, interval, count, timeout, output_format):
    """Show gateways grouped by blueprint, routes (with the weights the running maps hold) and servers of a load
    balancer; with -i and no --host, of every load balancer of the group, and where they disagree.

    Exit 0 when every routed backend has a server taking requests (and the group's load balancers were all read and
    agree), 1 when one has none, 2 when the load balancer (or every one of the group) cannot be read, 3 when a load
    balancer of the group cannot be read, 4 when they disagree."""
    if host and ssh_spec:
        raise click.UsageError("--host and --ssh name two machines: give one")
    if key and not ssh_spec:
        raise click.UsageError("--key goes with --ssh (an inventory host has its key in the inventory)")
    if inventory and ssh_spec:
        raise click.UsageError("-i/--inventory goes with --host or --group, not with --ssh")
    if group and (host or ssh_spec):
        raise click.UsageError("--group reads every load balancer of a group: not with --host or --ssh")
    if count is not None and not watch:
        raise click.UsageError("--count goes with --watch")
    if (inventory or group) and not host:
        _group_status(inventory, group or DEFAULT_GROUP, python, host_key_check, timeout, (admin_socket, config_path, master_socket),
                      output_format, watch, all_slots, interval, count)
    try:
        source = open_source(host, inventory, ssh_spec, key, python, host_key_check, timeout)
    except DroverError as exc:
        _show(EXIT_ERROR, None, str(exc), output_format, False, all_slots, interval)
        sys.exit(EXIT_ERROR)

    def look_and_show() -> int:
        code, status, error = _look(source, admin_socket, config_path, master_socket)
        _show(code, status, error, output_format, watch, all_slots, interval)
        return code

    sys.exit(_repeat(look_and_show, watch, count, interval, source.close))


def _group_status(inventory, group, python, host_key_check, timeout, where, output_format, watch, all_slots, interval, count):
    try:
        balancers = Group(inventory, group, python, host_key_check, timeout)
    except DroverError as exc:
        _show(EXIT_ERROR, None, str(exc), output_format, False, all_slots, interval)
        sys.exit(EXIT_ERROR)

    def look_and_show() -> int:
        code, result = balancers.look(*where)
        _show_group(code, result, balancers.inventory, output_format, watch, all_slots, interval)
        return code

    sys.exit(_repeat(look_and_show, watch, count, interval, balancers.close))
