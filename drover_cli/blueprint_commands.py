"""`drover validate`, `drover render` and `drover explain`: the blueprint engine from the command line."""

from __future__ import annotations

import os
import sys

import click

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ConfigInvalidError, validate_config
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import explain, plan

from drover_cli.explain_text import describe_gateway
from drover_cli.output import EXIT_INVALID, emit_json, fail, format_option

paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))


@click.command()
@paths_argument
@format_option
def validate(paths, output_format):
    """Check artifacts (files or directories); exit 1 listing every error."""
    try:
        artifacts = load_paths(list(paths))
        # the routing plan too: what `render` would refuse (a gateway with no routes, a port no breed serves) is an
        # error here as well; only render's own options (the cookie key, the listeners) are not checked
        plan(artifacts)
    except DroverError as exc:
        fail(exc, output_format)
    counts = {kind: len(getattr(artifacts, kind)) for kind in ("blueprints", "gateways", "breeds", "slas", "scales", "escalations", "conditions")}
    warnings = [str(w) for w in artifacts.warnings]
    if output_format == "json":
        emit_json({"valid": True, "counts": counts, "warnings": warnings})
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    click.echo(f"valid: {summary or 'no artifacts'}")


@click.command()
@paths_argument
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), help="Write haproxy.cfg here (maps go beside it); default stdout.")
@click.option("--check", is_flag=True, help="Validate the result with the real `haproxy -c`; exit 1 if HAProxy rejects it.")
@click.option("--bind", "bind_address", default="0.0.0.0", show_default=True, help="Address the gateway frontends listen on.")
@click.option("--runtime-dir", default="/run/haproxy", show_default=True, help="Where the admin socket lives.")
@click.option("--state-file", default="/var/lib/haproxy/server-state", show_default=True, help="HAProxy server-state-file.")
@click.option("--virtual-hosts-bind", help="ADDRESS:PORT of the frontend that serves the gateways' virtual_hosts; without it they are not served.")
@click.option("--template", "template_path", type=click.Path(exists=True, dir_okay=False), help="Your own Jinja2 template instead of the shipped one.")
@format_option
def render_command(paths, output, check, bind_address, runtime_dir, state_file, virtual_hosts_bind, template_path, output_format):
    """Render the HAProxy configuration (and its weight maps) for artifacts.

    A gateway that is sticky `instance` needs the environment variable DROVER_DYNAMIC_COOKIE_KEY: a stable secret that
    signs the instance cookies (keep it in a vault; a new key moves every client to another instance once)."""
    options = RenderOptions(
        bind_address=bind_address,
        admin_socket=os.path.join(runtime_dir, "admin.sock"),
        server_state_file=state_file,
        template_path=template_path,
        virtual_hosts_bind=virtual_hosts_bind,
        # an environment variable, not an option: a secret on the command line shows in `ps` and shell history
        dynamic_cookie_key=os.environ.get("DROVER_DYNAMIC_COOKIE_KEY"),
    )
    if output is None and check:
        raise click.UsageError("--check needs -o/--output: HAProxy checks the files where they are written")
    try:
        artifacts = load_paths(list(paths))
        rendered = render(artifacts, options)
    except DroverError as exc:
        fail(exc, output_format)
    result = {"written": [], "warnings": [str(warning) for warning in artifacts.warnings] + list(rendered.warnings)}
    if check:
        # before anything is written: a configuration HAProxy rejects never replaces the file at -o (the directory
        # must exist, HAProxy's `default-path config` goes there)
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        try:
            validate_config(os.path.abspath(output), rendered.config, rendered.maps)
            result["haproxy_check"] = {"valid": True, "message": ""}
        except ConfigInvalidError as exc:
            result["haproxy_check"] = {"valid": False, "message": str(exc)}
    if output is None:
        sys.stdout.write(rendered.files["haproxy.cfg"])
    elif not check or result["haproxy_check"]["valid"]:
        result["written"] = _write_files(output, rendered.files)
    if output_format == "json" and output is not None:
        emit_json(result)
    else:
        for warning in result["warnings"]:
            click.echo(f"warning: {warning}", err=True)
        for path in result["written"]:
            click.echo(f"wrote {path}")
        if check:
            click.echo("haproxy -c: configuration is valid" if result["haproxy_check"]["valid"]
                       else f"{result['haproxy_check']['message']}\nnothing was written")
    if check and not result["haproxy_check"]["valid"]:
        sys.exit(EXIT_INVALID)


def _write_files(output: str, files: dict) -> list:
    """haproxy.cfg at `output`, its maps beside it; the paths written."""
    base = os.path.dirname(os.path.abspath(output))
    written = []
    for name, text in sorted(files.items()):
        target = os.path.abspath(output) if name == "haproxy.cfg" else os.path.join(base, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        written.append(target)
    return written


render_command.name = "render"


@click.command(name="explain")
@paths_argument
@format_option
def explain_command(paths, output_format):
    """Say, for each gateway, which requests go to which route with what probability."""
    try:
        plans = explain(load_paths(list(paths)))
    except DroverError as exc:
        fail(exc, output_format)
    if output_format == "json":
        emit_json(plans)
        return
    click.echo("\n\n".join(describe_gateway(plan) for plan in plans))
