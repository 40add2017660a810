"""`make demo-local` end to end: a real HAProxy on loopback, real traffic, and the output as a person reads it (one line
per step with its time, the tables, no traceback or warning, the log's path)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`"),
]

REPO = Path(__file__).resolve().parents[2]
STEP = re.compile(r"^  \[ {0,3}\d+\.\ds\] \S")


def test_demo_local_prints_its_steps_and_tables(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "demo" / "local.py")], cwd=tmp_path, capture_output=True, text=True,
                            timeout=180, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output and "warning" not in output.lower(), output
    steps = [line for line in result.stdout.splitlines() if STEP.match(line)]
    assert [re.sub(r"^  \[[ \d.]+s\] ", "", line).split(":")[0] for line in steps] == [
        "start the local backends", "render examples/sava-canary.yml", "drover explain", "start HAProxy in master-worker mode",
        "2000 requests from Firefox users, each request a new client", "2000 requests from Chrome users, each request a new client",
        "sticky route", "shift the weights to 50/50", "2000 requests from Firefox users, after the shift"], output
    assert "shift the weights to 50/50: 1 map file replaced at runtime, haproxy.cfg unchanged, no reload" in output
    assert output.count("version     observed  configured") == 3
    log = Path(re.search(r"The full log: (\S+)", output).group(1))
    assert "Loading success." in log.read_text()  # HAProxy's own output is in the log, not on the screen
    shutil.rmtree(log.parent)
