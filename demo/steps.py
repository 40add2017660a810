"""The demos' output as a person reads it: one line per step with its time, the tables under it, and everything the
commands print in a log file. A step that fails prints its error and the end of the log, and the demo exits 1.

    steps = Steps(Path(".lab/demo.log"))
    with steps.step("lab up") as step:
        lab = lab_up(5)
        step.summary = "5 hosts (lb1, app1..app4)"      # the line:  [ 3.2s] lab up: 5 hosts (lb1, app1..app4)
        step.details = ["lb1  10.199.77.10", ...]        # printed under it
    steps.run(["ansible-playbook", ...])                 # inside a step: its output goes to the log only
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NoReturn, TextIO

TAIL_LINES = 40
INDENT = " " * 10
# Ansible's `[WARNING]: ...` and `[DEPRECATION WARNING]: ...`, and Python's `...py:18: CryptographyDeprecationWarning: ...`
WARNING = re.compile(r"^\[(DEPRECATION )?WARNING\]|^\S+:\d+: \w*Warning: ", re.MULTILINE)


class DemoError(Exception):
    """A demo step that did not do what it should; the step reports it with the end of the log."""


@dataclass
class Step:
    title: str
    summary: str = ""
    details: list[str] = field(default_factory=list)
    warnings: int = 0

    def line(self, seconds: float) -> str:
        warnings = f" ({self.warnings} warning{'' if self.warnings == 1 else 's'} in the log)" if self.warnings else ""
        return f"  [{seconds:4.1f}s] {self.title}{': ' + self.summary if self.summary else ''}{warnings}"


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is under it (`.lab/demo.log`), else absolute."""
    path, cwd = os.path.abspath(path), os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path


class Steps:
    """Prints steps to `out` and keeps the full output of their commands in `log_path` (started afresh)."""

    def __init__(self, log_path: Path, out: TextIO | None = None, tail_lines: int = TAIL_LINES):
        self.log_path = Path(log_path)
        self.out = out or sys.stdout
        self.tail_lines = tail_lines
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("", encoding="utf-8")
        # Appending: a process given the same file (HAProxy's output in the local demo) writes after us, not over us.
        self.log = self.log_path.open("a", encoding="utf-8")
        self.live = self.out.isatty()
        self.current: Step | None = None

    def print(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def write_log(self, text: str) -> None:
        self.log.write(text if text.endswith("\n") or not text else text + "\n")
        self.log.flush()

    @contextmanager
    def step(self, title: str):
        step = self.current = Step(title)
        started = time.monotonic()
        self.write_log(f"\n==> {title} ({datetime.now().isoformat(timespec='seconds')})")
        if self.live:
            print(f"  [ ... ] {title}", end="", file=self.out, flush=True)
        try:
            yield step
        except (Exception, KeyboardInterrupt) as exc:
            self.fail(step, time.monotonic() - started, exc)
        self.finish(step.line(time.monotonic() - started), step.details)

    def finish(self, line: str, details: list[str]) -> None:
        lines = [line, *(f"{INDENT}{detail}" if detail else "" for detail in details)]
        if self.live:
            print("\r\033[K", end="", file=self.out)
        self.print("\n".join(lines))
        self.write_log("\n".join(lines))

    def fail(self, step: Step, seconds: float, exc: BaseException) -> NoReturn:
        interrupted = isinstance(exc, KeyboardInterrupt)
        message = "interrupted" if interrupted else str(exc) if isinstance(exc, DemoError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, (DemoError, KeyboardInterrupt)):
            self.write_log("".join(traceback.format_exception(exc)))
        tail = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-self.tail_lines:]
        self.finish(f"  [{seconds:4.1f}s] {step.title}: FAILED: {message}", [])
        self.log.close()
        self.print(f"\nThe last {len(tail)} lines of {display_path(self.log_path)}:")
        for line in tail:
            self.print(f"  | {line}")
        self.print(f"\nThe full log: {display_path(self.log_path)}")
        raise SystemExit(130 if interrupted else 1) from exc

    def run(self, argv: list[str], cwd: Path | None = None) -> str:
        """Runs a command with its output (stdout and stderr) going to the log as it comes, and returns that output;
        a DemoError when it exits non-zero. The warnings it prints are counted on the step's line."""
        shown = [display_path(arg) if arg.startswith(os.sep) else arg for arg in argv]
        self.write_log("$ " + " ".join(shown))
        output = []
        with subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace") as process:
            for line in process.stdout:
                self.log.write(line)
                self.log.flush()
                output.append(line)
        if self.current is not None:
            self.current.warnings += len(WARNING.findall("".join(output)))
        if process.returncode != 0:
            raise DemoError(f"{os.path.basename(argv[0])} exited with {process.returncode}")
        return "".join(output)

    def close(self) -> None:
        self.log.close()
