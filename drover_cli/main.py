"""`drover`: validate, render and explain VAMP blueprints; run the lab fleet."""

from __future__ import annotations

import click


@click.group()
@click.version_option("0.1.0", prog_name="drover")
def cli() -> None:
    """drover.fleet: VAMP blueprints in, one-hop HAProxy routing and deployed fleets out."""
