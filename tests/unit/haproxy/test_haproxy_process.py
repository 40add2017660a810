# -*- coding: utf-8 -*-
"""Finding HAProxy by its pid file (haproxy/process.py), against a real HAProxy process."""

from __future__ import annotations

import os
import subprocess

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import haproxy_pid
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for


@pytest.mark.haproxy
def test_haproxy_pid_finds_a_live_haproxy_and_ignores_stale_or_foreign_pid_files(tmp_path):
    pid_file = tmp_path / "haproxy.pid"
    assert haproxy_pid(str(pid_file)) is None
    pid_file.write_text("not a pid\n")
    assert haproxy_pid(str(pid_file)) is None
    pid_file.write_text(f"{os.getpid()}\n")  # alive, but not haproxy
    assert haproxy_pid(str(pid_file)) is None
    config = tmp_path / "haproxy.cfg"
    config.write_text(f"defaults\n    mode http\n    timeout client 1s\nfrontend f\n    bind 127.0.0.1:{free_port()}\n")
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid_file.write_text(f"{process.pid}\n")
        assert wait_for(lambda: haproxy_pid(str(pid_file)) == process.pid, timeout=10, message="haproxy running")
        process.kill()
        # killed and not yet reaped: a zombie still named haproxy, which no longer runs
        assert wait_for(lambda: haproxy_pid(str(pid_file)) is None, timeout=10, message="the zombie seen as gone")
    finally:
        process.kill()
        process.wait()
    assert haproxy_pid(str(pid_file)) is None
