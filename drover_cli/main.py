"""`drover`: validate, render and explain VAMP blueprints; run the lab fleet."""

from __future__ import annotations

import click

from drover_cli.blueprint_commands import explain_command, render_command, validate
from drover_cli.lab.cli import lab
from drover_cli.status_command import status_command


@click.group()
@click.version_option("0.1.0", prog_name="drover")
def cli() -> None:
    """drover.fleet: VAMP blueprints in, one-hop HAProxy routing and deployed fleets out."""


cli.add_command(validate)
cli.add_command(render_command)
cli.add_command(explain_command)
cli.add_command(lab)
cli.add_command(status_command)
