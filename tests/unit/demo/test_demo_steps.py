"""The demos' step printer: one line per passing step with its time, and for a failing step its error, the end of the
log and the log's path, with a non-zero exit."""

from __future__ import annotations

import io
import re
import runpy
import sys
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.demo.steps import DemoError, Steps


def printer(tmp_path, tail_lines=40):
    out = io.StringIO()
    return Steps(tmp_path / "lab" / "demo.log", out=out, tail_lines=tail_lines), out


def test_a_passing_step_prints_one_line_with_its_time(tmp_path):
    steps, out = printer(tmp_path)
    with steps.step("deploy") as step:
        steps.run([sys.executable, "-c", "print('TASK [Run the planned containers] ***')"])
        step.summary = "3 changes on 3 of 5 hosts"
    assert re.fullmatch(r" {2}\[ {0,3}\d+\.\ds\] deploy: 3 changes on 3 of 5 hosts\n", out.getvalue()), out.getvalue()
    steps.close()
    assert "TASK [Run the planned containers] ***" in (tmp_path / "lab" / "demo.log").read_text()


def test_details_are_printed_under_the_step_line(tmp_path):
    steps, out = printer(tmp_path)
    with steps.step("1000 requests") as step:
        step.details = ["version  observed", "1.0         90.1%"]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].endswith("] 1000 requests"), lines
    assert lines[1:] == [" " * 10 + "version  observed", " " * 10 + "1.0         90.1%"]


def test_a_failing_command_prints_the_end_of_the_log_and_its_path(tmp_path):
    steps, out = printer(tmp_path, tail_lines=5)
    script = "import sys\nfor n in range(100): print(f'task {n}')\nprint('fatal: [lb1]: FAILED!', file=sys.stderr)\nsys.exit(2)"
    with pytest.raises(SystemExit) as exit_info:
        with steps.step("deploy") as step:
            steps.run([sys.executable, "-c", script])
            step.summary = "never printed"
    assert exit_info.value.code == 1
    text = out.getvalue()
    assert re.match(r" {2}\[ {0,3}\d+\.\ds\] deploy: FAILED: python\S* exited with 2\n", text), text
    assert "never printed" not in text
    tail = [line for line in text.splitlines() if line.startswith("  | ")]
    assert tail == ["  | task 96", "  | task 97", "  | task 98", "  | task 99", "  | fatal: [lb1]: FAILED!"], text
    log = str(tmp_path / "lab" / "demo.log")
    assert f"The last 5 lines of {log}:" in text and text.rstrip().endswith(f"The full log: {log}")


def test_an_unexpected_error_is_one_line_on_screen_and_a_traceback_in_the_log(tmp_path):
    steps, out = printer(tmp_path)
    with pytest.raises(SystemExit):
        with steps.step("sticky route"):
            raise ConnectionRefusedError("[Errno 111] Connection refused")
    screen = out.getvalue()
    assert "sticky route: FAILED: ConnectionRefusedError: [Errno 111] Connection refused" in screen
    assert "Traceback (most recent call last)" in (tmp_path / "lab" / "demo.log").read_text()


def test_a_demo_error_is_its_message_only(tmp_path):
    steps, out = printer(tmp_path)
    with pytest.raises(SystemExit):
        with steps.step("shift"):
            raise DemoError("HAProxy reloaded (0 reloads before, 1 after)")
    assert "] shift: FAILED: HAProxy reloaded (0 reloads before, 1 after)\n" in out.getvalue()
    assert "Traceback" not in (tmp_path / "lab" / "demo.log").read_text()


@pytest.mark.parametrize("script", ["fleet", "local"])
def test_the_demo_scripts_import(script, monkeypatch):
    # `make demo` and `make demo-local` are what a new user runs first: an engine module moved without them must show here.
    demo_dir = str(Path(__file__).resolve().parents[3] / "demo")
    monkeypatch.syspath_prepend(demo_dir)
    module = runpy.run_path(f"{demo_dir}/{script}.py", run_name=f"demo_{script}")
    assert callable(module["main"])


def test_the_warnings_a_command_prints_are_counted_on_the_step_line(tmp_path):
    steps, out = printer(tmp_path)
    script = ("import sys\nprint('[WARNING]: Skipping filter plugins')\nprint('[DEPRECATION WARNING]: -o is deprecated')\n"
              "print('x/_ssh_agent.py:18: CryptographyDeprecationWarning: DSA is deprecated', file=sys.stderr)\nprint('ok: [lb1]')")
    with steps.step("deploy") as step:
        steps.run([sys.executable, "-c", script])
        step.summary = "1 change on 1 of 5 hosts"
    assert out.getvalue().endswith("] deploy: 1 change on 1 of 5 hosts (3 warnings in the log)\n"), out.getvalue()
