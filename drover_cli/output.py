"""Shared output helpers for drover commands: JSON on request, readable errors, exit codes fit for cron."""

from __future__ import annotations

import json
import sys

import click

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError, DroverError

# Exit codes: 0 success, 1 the input or the checked system is not right, 2 usage error (click's own).
EXIT_OK = 0
EXIT_INVALID = 1

format_option = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output format; json is meant for scripts.",
)


def emit_json(data) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def fail(error: DroverError, output_format: str) -> None:
    """Report an engine error and exit 1. A DslError lists every issue in the input."""
    if output_format == "json":
        issues = [issue.as_dict() for issue in error.issues] if isinstance(error, DslError) else [{"message": str(error)}]
        warnings = [warning.as_dict() for warning in error.warnings] if isinstance(error, DslError) else []
        emit_json({"valid": False, "errors": issues, "warnings": warnings})
    else:
        click.echo(str(error), err=True)
    sys.exit(EXIT_INVALID)
