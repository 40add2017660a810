# -*- coding: utf-8 -*-
"""keepalived started, reloaded and stopped by keepalived/process.py, for real, in a network namespace of its own
with a veth pair, so that the VIP it adds is seen and nothing leaks onto this machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.keepalived.process import (
    config_newer_than_process, keepalived_pid, reload_keepalived, start_keepalived, stop_keepalived)
from ansible_collections.drover.fleet.tests.support.helpers import wait_for

pytestmark = [
    pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived is not installed (make setup)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="keepalived and network namespaces need root"),
]

VIP = "192.0.2.250"
CONFIG = """global_defs {{
    router_id unit
}}
vrrp_instance unit {{
    state BACKUP
    interface ka0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {vip}/24
    }}
}}
"""


@pytest.fixture
def netns(tmp_path):
    """A network namespace with an up veth pair (ka0, ka1), and a `keepalived` that runs in it."""
    name = f"drv-ka-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        for command in (["link", "add", "ka0", "type", "veth", "peer", "name", "ka1"], ["link", "set", "ka0", "up"],
                        ["link", "set", "ka1", "up"], ["addr", "add", "192.0.2.1/24", "dev", "ka0"]):
            subprocess.run(["ip", "-n", name, *command], check=True)
        binary = tmp_path / "keepalived-in-netns"
        binary.write_text(f"#!/bin/sh\nexec ip netns exec {name} keepalived \"$@\"\n")
        binary.chmod(0o755)
        yield name, str(binary)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def vip_held(name: str) -> bool:
    return VIP in subprocess.run(["ip", "-n", name, "-o", "addr", "show", "dev", "ka0"], capture_output=True, text=True, check=True).stdout


def test_start_holds_the_vip_reload_keeps_it_and_stop_releases_it(netns, tmp_path):
    name, binary = netns
    config, pid_file, vrrp_pid, log = (str(tmp_path / f) for f in ("keepalived.conf", "keepalived.pid", "vrrp.pid", "keepalived.log"))
    (tmp_path / "keepalived.conf").write_text(CONFIG.format(priority=100, vip=VIP))
    pid = start_keepalived(config, pid_file, vrrp_pid, log, binary=binary, timeout=20)
    try:
        assert keepalived_pid(pid_file) == pid and keepalived_pid(vrrp_pid) is not None
        assert not config_newer_than_process(config, pid_file)
        assert wait_for(lambda: vip_held(name), timeout=20, message="the VIP on ka0")
        (tmp_path / "keepalived.conf").write_text(CONFIG.format(priority=101, vip=VIP))
        os.utime(config, (os.stat(pid_file).st_mtime + 1,) * 2)
        assert config_newer_than_process(config, pid_file)
        reload_keepalived(pid)
        assert wait_for(lambda: "Reloading" in (tmp_path / "keepalived.log").read_text(), timeout=10, message="the reload logged")
        assert keepalived_pid(pid_file) == pid and vip_held(name)
    finally:
        stop_keepalived(pid, timeout=20)
    assert keepalived_pid(pid_file) is None and not vip_held(name)
    stop_keepalived(pid)   # already gone: nothing to do


def test_a_keepalived_that_starts_no_vrrp_process_is_stopped_and_reported(netns, tmp_path):
    _name, binary = netns
    config, pid_file, vrrp_pid, log = (str(tmp_path / f) for f in ("keepalived.conf", "keepalived.pid", "vrrp.pid", "keepalived.log"))
    (tmp_path / "keepalived.conf").write_text("global_defs {\n    router_id unit\n}\n")   # no vrrp_instance
    with pytest.raises(DroverError, match="started no VRRP process within 2 s"):
        start_keepalived(config, pid_file, vrrp_pid, log, binary=binary, timeout=2)
    assert keepalived_pid(pid_file) is None
    with pytest.raises(DroverError, match="does not exist"):
        start_keepalived(str(tmp_path / "missing.conf"), pid_file, vrrp_pid, log, binary=binary)


def test_keepalived_pid_ignores_missing_foreign_and_garbled_pid_files(tmp_path):
    pid_file = tmp_path / "keepalived.pid"
    assert keepalived_pid(str(pid_file)) is None
    pid_file.write_text("garbled\n")
    assert keepalived_pid(str(pid_file)) is None
    pid_file.write_text(f"{os.getpid()}\n")   # alive, but not keepalived
    assert keepalived_pid(str(pid_file)) is None
    assert config_newer_than_process(str(tmp_path / "keepalived.conf"), str(pid_file))   # no config: reload to be safe
