"""Shared output helpers for drover commands: JSON on request, readable errors, exit codes fit for cron."""

from __future__ import annotations

import json
import sys

import click

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError, DroverError

# Exit codes (docs/operations.md, "Exit codes"): 0 success, 1 the input or the checked system is not right,
# 2 a usage error (an unknown option, a missing argument, an option value that cannot be used).
EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

format_option = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format; json is meant for scripts.",
)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def error_report(error: DroverError) -> dict:
    """The JSON of a failed command: {"valid": false, "errors": [...], "warnings": [...]}."""
    issues = [issue.as_dict() for issue in error.issues] if isinstance(error, DslError) else [{"message": str(error)}]
    warnings = [warning.as_dict() for warning in error.warnings] if isinstance(error, DslError) else []
    return {"valid": False, "errors": issues, "warnings": warnings}


def fail(error: DroverError, output_format: str) -> None:
    """Report an engine error and exit 1. A DslError lists every issue in the input."""
    if output_format == "json":
        emit_json(error_report(error))
    else:
        click.echo(str(error), err=True)
    sys.exit(EXIT_INVALID)


def usage_error(message: str, output_format: str) -> None:
    """A command line that cannot be used: click's usage text, or JSON when it was asked for; exit 2."""
    if output_format != "json":
        raise click.UsageError(message)
    emit_json({"valid": False, "errors": [{"code": "UsageError", "message": message}], "warnings": []})
    sys.exit(EXIT_USAGE)


def _asks_for_json(args: list) -> bool:
    return "--format=json" in args or any(first == "--format" and second == "json" for first, second in zip(args, args[1:]))


class JsonUsageCommand(click.Command):
    """A command whose usage errors (a missing path, an unknown option) come as JSON when `--format json` is given,
    with the same exit code 2 as click's usage text."""

    def parse_args(self, ctx: click.Context, args: list) -> list:
        given = list(args)  # click's parser consumes the list
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if not _asks_for_json(given):
                raise
            usage_error(exc.format_message(), "json")
            raise  # not reached: usage_error exits
