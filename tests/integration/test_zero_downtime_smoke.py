# -*- coding: utf-8 -*-
"""benchmarks/zero_downtime.py in a short mode, as a test: reloads, weight shifts, an instance addition and a drain
under continuous load (wrk and cookie clients) on a lab of its own, and not one request may fail.

Only the property is asserted (no failed request, no non-2xx, each change did what it should), never a timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(any(shutil.which(tool) is None for tool in ("podman", "haproxy", "wrk")), reason="run `make setup` first"),
]

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "zero_downtime.py"
RELOADS, SHIFTS, ADDITIONS, DRAINS = 3, 2, 1, 1


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    results = tmp_path_factory.mktemp("zero-downtime") / "results.json"
    subnet, bridge = free_lab_network()
    argv = [sys.executable, str(BENCHMARK), "--reloads", str(RELOADS), "--shifts", str(SHIFTS), "--additions", str(ADDITIONS),
            "--drains", str(DRAINS), "--control-reloads", "0", "--control-additions", "0", "--tail", "1", "--no-write",
            "--json", str(results), "--subnet", subnet, "--bridge", bridge,
            # a slow answer on a busy machine is not a failed request: only errors and non-2xx count here
            "--client-timeout", "10"]
    process = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    output = process.stdout[-6000:] + process.stderr[-6000:]
    assert results.exists(), f"the benchmark wrote no results ({process.returncode}):\n{output}"
    return process.returncode, json.loads(results.read_text(encoding="utf-8")), output, bridge


def phase(data: dict, name: str) -> dict:
    return next(item for item in data["phases"] if item["name"] == name)


def test_no_request_fails_under_reloads_weight_shifts_additions_and_drains(run):
    returncode, data, output, _bridge = run
    assert data["failed"] == 0 and data["non_2xx"] == 0, output
    assert returncode == 0, output
    for item in data["phases"]:
        # every kind of client really sent traffic through every phase
        assert all(w["requests"] > 100 for w in item["wrk"]), item
        assert item["cookies"]["requests"] > 100, item
        assert item["cookies"]["errors"] == {} and item["cookies"]["non_2xx"] == 0, item


def test_each_change_was_the_kind_it_claims(run):
    _returncode, data, output, _bridge = run
    assert phase(data, "reloads")["reloads"] == RELOADS, output
    assert phase(data, "reloads")["timings"]["reload"]["count"] == RELOADS
    for name in ("weights", "additions", "drains"):
        assert phase(data, name)["reloads"] == 0, f"{name} reloaded HAProxy"
    assert phase(data, "weights")["timings"]["runtime"]["count"] == SHIFTS
    additions = phase(data, "additions")["facts"]
    # the new instance was not ready when it went into its slot: HAProxy sent it nothing until its check passed
    assert additions["sessions_before_ready"] == [0] * ADDITIONS
    assert additions["status_after"] == ["UP"] * ADDITIONS


def test_drained_instance_kept_its_cookie_clients_and_took_no_new_ones(run):
    _returncode, data, _output, _bridge = run
    drains = phase(data, "drains")["facts"]
    assert all(count >= 20 for count in drains["sticky_answers_while_draining"]), drains
    assert drains["fresh_answers_from_draining"] == [0] * DRAINS
    assert drains["drained_in_time"] == [True] * DRAINS


def test_the_benchmark_left_no_lab_behind(run):
    _returncode, _data, _output, bridge = run
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True, check=False).returncode != 0
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert f"{bridge}-" not in namespaces
