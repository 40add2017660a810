"""`drover validate`, `drover render` and `drover explain`: the blueprint engine from the command line.

Exit codes and JSON shapes: docs/operations.md, "Checking blueprints offline".
"""

from __future__ import annotations

import os
import sys

import click

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError, DslError, DslIssue, Origin
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.rejections import check_rendered
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ConfigInvalidError, directory_word
from ansible_collections.drover.fleet.plugins.module_utils.dsl.clean_subset import TABLES, clean_subset
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import read_paths
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import listing
from ansible_collections.drover.fleet.plugins.module_utils.routing.explain import explain
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import plan

from drover_cli.explain_text import describe_gateway
from drover_cli.output import EXIT_INVALID, JsonUsageCommand, emit_json, fail, format_option, usage_error

# a path that does not exist is bad input like any other, reported by the reader with the rest (exit 1, JSON on request)
paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path())

# the render options the command line sets, by the name its messages use
_OPTION_FLAGS = {"bind_address": "--bind", "virtual_hosts_bind": "--virtual-hosts-bind", "admin_socket": "--runtime-dir",
                 "server_state_file": "--state-file", "template_path": "--template"}


def load(paths) -> ArtifactSet:
    """The artifacts at `paths`. Raises DslError with every error found: the reader's, and those the routing plan finds
    in the artifacts that read cleanly, so that fixing the first ones does not reveal more in the next run."""
    artifacts, error = read_paths(list(paths))
    if error is not None:
        try:
            plan(clean_subset(artifacts, error.issues))
        except DslError as planned:
            raise DslError(list(dict.fromkeys(error.issues + planned.issues)), warnings=error.warnings) from None
        raise error
    if not any(getattr(artifacts, table) for table in TABLES):
        where = Origin(paths[0]) if len(paths) == 1 else Origin()
        raise DslError([DslIssue(where, "nothing to check: no artifact was found", "NoArtifacts", None,
                                 "YAML files (*.yml, *.yaml; directories are read recursively) holding breeds, blueprints, "
                                 "gateways, SLAs, scales, escalations or conditions")], warnings=artifacts.warnings)
    return artifacts


def _warn(warnings: list) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command(cls=JsonUsageCommand)
@paths_argument
@format_option
def validate(paths, output_format):
    """Check artifacts (files or directories); exit 1 listing every error."""
    try:
        artifacts = load(paths)
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
    _warn(warnings)
    click.echo("valid: " + ", ".join(f"{n} {kind}" for kind, n in counts.items() if n))


@click.command(name="render", cls=JsonUsageCommand)
@paths_argument
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
              help="Write haproxy.cfg here (maps go beside it); default: haproxy.cfg on stdout, or every file in the JSON.")
@click.option("--check", is_flag=True, help="Validate the result with the real `haproxy -c`; exit 1 if HAProxy rejects it.")
@click.option("--bind", "bind_address", default="0.0.0.0", show_default=True, help="Address the gateway frontends listen on.")
@click.option("--runtime-dir", default="/run/haproxy", show_default=True, help="Where the admin socket lives.")
@click.option("--state-file", default="/var/lib/haproxy/server-state", show_default=True, help="HAProxy server-state-file.")
@click.option("--virtual-hosts-bind", help="ADDRESS:PORT of the frontend that serves the gateways' virtual_hosts; without it they are not served.")
@click.option("--template", "template_path", type=click.Path(exists=True, dir_okay=False),
              help="Your own Jinja2 template instead of the shipped one (run in Jinja2's sandbox).")
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
    if output is not None and (not output or output.endswith(os.sep)):
        usage_error(f"-o/--output must name the haproxy.cfg file to write, not {output!r}", output_format)
    if output is None and check:
        usage_error("--check needs -o/--output: HAProxy checks the files where they are written", output_format)
    result = {"valid": True, "written": [], "warnings": []}
    try:
        if check:
            # before anything is read or written: the directory goes into the configuration `haproxy -c` gets
            directory_word(os.path.dirname(os.path.abspath(output)))
        artifacts = load(paths)
        rendered = _render(artifacts, options)
        result["warnings"] = [str(warning) for warning in artifacts.warnings] + list(rendered.warnings)
        if check:
            result["haproxy_check"] = _haproxy_check(output, rendered)
            result["valid"] = result["haproxy_check"]["valid"]
        if output is not None and result["valid"]:
            result["written"] = _write_files(output, rendered.files)
    except DroverError as exc:
        fail(exc, output_format)
    if output is None:
        _print_without_output(rendered, result, output_format)
        return
    if output_format == "json":
        emit_json(result)
    else:
        _warn(result["warnings"])
        for path in result["written"]:
            click.echo(f"wrote {path}")
        if check:
            click.echo("haproxy -c: configuration is valid" if result["valid"] else f"{result['haproxy_check']['message']}\nnothing was written")
    if not result["valid"]:
        sys.exit(EXIT_INVALID)


def _render(artifacts: ArtifactSet, options: RenderOptions):
    """render(), with the option errors naming the command line's flags (--virtual-hosts-bind, not RenderOptions...)."""
    try:
        return render(artifacts, options)
    except DslError:
        raise
    except DroverError as exc:
        message = str(exc)
        for name, flag in _OPTION_FLAGS.items():
            message = message.replace(f"RenderOptions.{name}", flag)
        raise DroverError(message) from None


def _haproxy_check(output: str, rendered) -> dict:
    """`haproxy -c` on the files as they would be written, before anything is written: a configuration HAProxy rejects
    never replaces the file at -o (the directory must exist, HAProxy's `default-path config` goes there). A refused line
    that comes from the input (a raw ACL, a rewrite) is an input error at its place in the YAML (DslError)."""
    target = os.path.abspath(output)
    _make_directory(os.path.dirname(target), output)
    try:
        check_rendered(target, rendered)
    except ConfigInvalidError as exc:
        return {"valid": False, "message": str(exc)}
    return {"valid": True, "message": ""}


def _print_without_output(rendered, result: dict, output_format: str) -> None:
    """No -o: haproxy.cfg on stdout, and a warning naming the map files it needs, which only -o writes; in JSON, every
    file's text."""
    if output_format == "json":
        emit_json(dict(result, files=rendered.files))
        return
    needed = sorted(rendered.maps)
    if needed:
        result["warnings"].append(f"haproxy.cfg names {len(needed)} map and ACL file(s) that are not written without -o, and HAProxy "
                                  f"refuses it without them: {listing(needed, limit=5)}; use -o FILE, or --format json for every file")
    _warn(result["warnings"])
    sys.stdout.write(rendered.files["haproxy.cfg"])


def _write_files(output: str, files: dict) -> list:
    """haproxy.cfg at `output`, its maps beside it; the paths written."""
    base = os.path.dirname(os.path.abspath(output))
    written = []
    for name, text in sorted(files.items()):
        target = os.path.abspath(output) if name == "haproxy.cfg" else os.path.join(base, name)
        _make_directory(os.path.dirname(target), output)
        try:
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise DroverError(f"cannot write {target}: {exc.strerror}" + _written_so_far(written)) from None
        written.append(target)
    return written


def _make_directory(directory: str, output: str) -> None:
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        blocker = _file_in_the_way(directory)
        reason = f"{blocker} is a file, not a directory" if blocker else f"cannot create {exc.filename or directory}: {exc.strerror}"
        raise DroverError(f"cannot write {output}: {reason}") from None


def _file_in_the_way(directory: str) -> str | None:
    """The nearest existing part of `directory` when it is not a directory (`-o a-file/haproxy.cfg`)."""
    path = directory
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path if os.path.lexists(path) and not os.path.isdir(path) else None


def _written_so_far(written: list) -> str:
    return f" (written before it: {listing(written, limit=5)})" if written else " (nothing was written)"


@click.command(name="explain", cls=JsonUsageCommand)
@paths_argument
@format_option
def explain_command(paths, output_format):
    """Say, for each gateway, which requests go to which route with what probability."""
    try:
        artifacts = load(paths)
        plans = explain(artifacts)
    except DroverError as exc:
        fail(exc, output_format)
    warnings = [str(warning) for warning in artifacts.warnings]
    if output_format == "json":
        emit_json({"valid": True, "gateways": plans, "warnings": warnings})
        return
    _warn(warnings)
    click.echo("\n\n".join(describe_gateway(plan) for plan in plans))
