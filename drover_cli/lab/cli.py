"""`drover lab up|down|status`: the click adapter over drover_cli.lab.fleet."""

from __future__ import annotations

import json
from pathlib import Path

import click

from drover_cli.lab.fleet import (
    DEFAULT_HOSTS, DEFAULT_LOAD_BALANCERS, default_state_dir, lab_down, lab_status, lab_up, load_lab,
)
from drover_cli.lab.network import LabError

STATE_DIR_OPTION = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None, envvar="DROVER_LAB_DIR",
    help="Where the lab keeps its state [default: <repo>/.lab; env DROVER_LAB_DIR].")


@click.group(name="lab")
def lab() -> None:
    """A fleet of VM-like hosts on this machine (network namespaces with sshd and podman). Needs root."""


@lab.command(name="up")
@click.option("--hosts", type=click.IntRange(1, 200), default=DEFAULT_HOSTS, show_default=True,
              help="Number of hosts in all: the load balancers, then app1..app<N-L>.")
@click.option("--load-balancers", type=click.IntRange(1, 200), default=DEFAULT_LOAD_BALANCERS, show_default=True,
              help="How many of the hosts are load balancers: lb1..lb<L>.")
@click.option("--vip/--no-vip", default=None,
              help="Reserve a virtual IP (.250) for the load balancers' keepalived [default: with 2 or more load balancers].")
@click.option("--subnet", default=None, help="Private /24 of the lab [default: the existing lab's, else 10.199.77.0/24].")
@click.option("--bridge", default=None, help="Bridge name, up to 10 letters and digits [default: existing, else drover0].")
@click.option("--no-images", is_flag=True, help="Do not build and import the demo service image.")
@STATE_DIR_OPTION
def up(hosts: int, load_balancers: int, vip: bool | None, subnet: str | None, bridge: str | None, no_images: bool,
       state_dir: Path | None) -> None:
    """Bring the lab up, or repair it. A second run changes nothing."""
    try:
        state = lab_up(hosts, state_dir, load_balancers=load_balancers, vip=vip, subnet=subnet, bridge=bridge,
                       images=not no_images)
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"lab up: {len(state.hosts)} hosts on {state.bridge} ({state.subnet}), controller {state.gateway}")
    for host in state.hosts:
        click.echo(f"  {host.name:<6} {host.address:<15} {host.group:<13} {host.zone}")
    timings = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in state.timings.items())
    if state.vip:
        click.echo(f"vip:       {state.vip} (drover_lb_vip; held once playbooks/keepalived.yml runs and HAProxy answers)")
    click.echo(f"inventory: {state.inventory}")
    click.echo(f"ssh:       ssh -F {state.ssh_config} {state.hosts[0].name}")
    click.echo(f"timings:   {timings}")


@lab.command(name="down")
@click.option("--bridge", default=None, help="Bridge of a lab whose state is lost [default: the recorded one].")
@STATE_DIR_OPTION
def down(bridge: str | None, state_dir: Path | None) -> None:
    """Remove every host, process, namespace, mount, bridge and iptables rule of the lab."""
    try:
        lab_down(state_dir, bridge=bridge)
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"lab down: {state_dir or default_state_dir()} removed")


@lab.command(name="status")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table", show_default=True)
@STATE_DIR_OPTION
def status(output_format: str, state_dir: Path | None) -> None:
    """List the hosts: address, group, zone, whether sshd and podman answer, running containers, and which load
    balancer holds the virtual IP."""
    try:
        hosts = lab_status(state_dir)
        state = load_lab(state_dir)
    except LabError as exc:
        raise click.ClickException(str(exc)) from exc
    if output_format == "json":
        click.echo(json.dumps(hosts, indent=2))
        return
    if not hosts:
        click.echo("no lab: run `drover lab up`")
        return
    click.echo(f"{'HOST':<7} {'ADDRESS':<15} {'GROUP':<13} {'ZONE':<7} {'SSHD':<5} {'PODMAN':<7} CONTAINERS")
    for host in hosts:
        containers = "-" if host["containers"] is None else str(host["containers"])
        click.echo(f"{host['name']:<7} {host['address']:<15} {host['group']:<13} {host['zone']:<7} "
                   f"{'up' if host['sshd'] else 'DOWN':<5} {'ok' if host['podman'] else 'FAIL':<7} {containers}")
    if state is not None and state.vip:
        holders = [host["name"] for host in hosts if host["vip"]]
        held = f"held by {', '.join(holders)}" if holders else "held by no load balancer"
        click.echo(f"VIP {state.vip}: {held}{' (split brain)' if len(holders) > 1 else ''}")


if __name__ == "__main__":
    lab()  # pylint: disable=no-value-for-parameter
