# -*- coding: utf-8 -*-
"""`drover status` end to end: the real CLI against a real HAProxy 2.6 running the rendered sava canary on loopback
(weights from the running maps, drain, health, the three tables, exit codes for cron, --watch), and REMOTE mode over
real SSH (paramiko) against a real lab host whose HAProxy and admin socket live inside the host's own namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import build_status
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_source import collect_status
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import ACL
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import stop_master_worker
from ansible_collections.drover.fleet.tests.support.haproxy_harness import ECHO_SERVER, start_http_backends, write_files
from ansible_collections.drover.fleet.tests.support.haproxy_instance import run_playbook
from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network, leftovers
from ansible_collections.drover.fleet.tests.support.sava_haproxy import SAVA_SERVERS, V1, V11, render_sava, running_sava
from drover_cli.lab.fleet import lab_down, lab_up
from drover_cli.lab.host import run_in_host
from drover_cli.lab.processes import pid_alive
from drover_cli.ssh_target import target_from_inventory
from drover_cli.status_command import status_command
from drover_cli.status_ssh import SshSource

HAVE_HAPROXY = pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`")


def drover_status(*args: str):
    return CliRunner().invoke(status_command, list(args), catch_exceptions=False)


def status_json(*args: str) -> tuple:
    result = drover_status(*args, "--format", "json")
    return result.exit_code, json.loads(result.output)


def routes_of(data: dict) -> dict:
    return {route["label"]: route for route in data["routes"]}


def servers_of(data: dict) -> dict:
    return {(server["backend_label"], server["server"]): server for server in data["servers"]}


# -- local: a real HAProxy on loopback -------------------------------------------------------------------------------


@pytest.fixture
def sava(tmp_path):
    with start_http_backends(SAVA_SERVERS) as backends:
        with running_sava(tmp_path, backends) as running:
            yield running


def local_args(sava) -> list:
    return ["--socket", sava.admin_socket, "--config", sava.config_path, "--master-socket", sava.master_socket]


@pytest.mark.haproxy
@HAVE_HAPROXY
def test_json_shows_weights_states_and_health(sava):
    code, data = status_json(*local_args(sava))
    assert code == 0 and data["healthy"] is True and data["exit_code"] == 0 and data["problems"] == []
    assert [g["label"] for g in data["gateways"]] == [f"sava/{sava.port}"]
    routes = routes_of(data)
    assert (routes[V1]["weight"], routes[V11]["weight"]) == (90.0, 10.0)
    assert routes[V11]["conditions"][0]["strength"] == 50.0
    assert data["process"]["master_pid"] == sava.proxy.pid, data["warnings"]

    client = sava.runtime()
    client.set_state(sava.backend(V1), "slot2", "drain")
    (info,) = client.show_maps()
    client.replace_map(info.ref, [("0:4999", sava.backend(V1)), ("5000:9999", sava.backend(V11))])
    code, data = status_json(*local_args(sava))
    assert code == 0
    routes = routes_of(data)
    assert (routes[V1]["weight"], routes[V11]["weight"]) == (50.0, 50.0)
    assert (routes[V1]["file_weight"], routes[V1]["drifted"]) == (90.0, True)
    # the running strength file counts, not the one on disk
    [strength] = [info for info in client.show_maps(ACL) if info.file.endswith(".acl")]
    client.replace_map(strength.ref, [("0:1999", "")], kind=ACL)
    assert routes_of(status_json(*local_args(sava))[1])[V11]["conditions"][0]["strength"] == 20.0
    servers = servers_of(data)
    assert (servers[(V1, "slot2")]["state"], servers[(V1, "slot2")]["availability"], servers[(V1, "slot2")]["serving"]) == ("drain", "UP", False)
    assert routes[V1]["servers_serving"] == 1

    sava.backends.stop("v1a")
    sava.wait_operational(V1, "slot1", "DOWN")
    code, data = status_json(*local_args(sava))
    assert servers_of(data)[(V1, "slot1")]["availability"] == "DOWN"
    # slot1 is DOWN, slot2 drains: 1.0.0 has no server taking requests
    assert code == 1 and data["exit_code"] == 1 and data["healthy"] is False
    assert data["problems"] == [f"gateway sava/{sava.port}: route {V1} (weight 50%) has no server that takes requests (1 of 2 UP)"]


@pytest.mark.haproxy
@HAVE_HAPROXY
def test_haproxy_info_and_status_show_a_server_under_the_same_names(sava):
    """One view of a server (haproxy/server_view.py): the haproxy_info module's servers are drover status's, less the
    backend's label and the check summary that status adds."""
    sava.runtime().set_state(sava.backend(V1), "slot2", "drain")
    _code, data = status_json(*local_args(sava))
    [info] = run_playbook([{"name": "info", "drover.fleet.haproxy_info": {"admin_socket": sava.admin_socket, "gather": ["servers"]}}])
    from_status = {(server["backend"], server["server"]): server for server in data["servers"]}
    from_info = {(server["backend"], server["server"]): server for server in info["servers"]}
    assert from_info.keys() == from_status.keys()
    stable = ("address", "port", "check_port", "weight", "initial_weight", "state", "operational_state", "health", "availability",
              "serving", "empty")
    for key, server in from_info.items():
        assert set(from_status[key]) - set(server) == {"backend_label", "check"}
        assert set(server) - set(from_status[key]) == set()
        assert [server[name] for name in stable] == [from_status[key][name] for name in stable]
    drained = from_info[(sava.backend(V1), "slot2")]
    assert (drained["state"], drained["availability"], drained["health"], drained["serving"]) == ("drain", "UP", "enabled", False)


@pytest.mark.haproxy
@HAVE_HAPROXY
def test_text_is_three_tables_and_a_dead_route_exits_1(sava):
    result = drover_status(*local_args(sava))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    headers = [line for line in lines if line in ("GATEWAYS", "ROUTES", "SERVERS")]
    assert headers == ["GATEWAYS", "ROUTES", "SERVERS"]
    assert lines[lines.index("GATEWAYS") + 1].split()[:3] == ["GATEWAY", "BIND", "MODE"]
    gateway_row = lines[lines.index("GATEWAYS") + 2].split()
    assert gateway_row[:5] == [f"sava/{sava.port}", f"127.0.0.1:{sava.port}", "http", "OPEN", "route"]
    route_rows = {line.split()[1]: line.split() for line in lines[lines.index("ROUTES") + 2:lines.index("SERVERS") - 1]}
    assert route_rows[V1][2] == "90%" and route_rows[V11][2] == "10%"
    server_rows = lines[lines.index("SERVERS") + 2:]
    assert [row.split()[:5] for row in server_rows[:3]] == [
        [V1, "slot1", f"127.0.0.1:{sava.backends.ports['v1a']}", "ready", "UP"],
        [V1, "slot2", f"127.0.0.1:{sava.backends.ports['v1b']}", "ready", "UP"],
        [V11, "slot1", f"127.0.0.1:{sava.backends.ports['v11']}", "ready", "UP"],
    ]
    assert "(13 empty slot(s) not shown: --all-slots lists them)" in lines
    assert len(drover_status(*local_args(sava), "--all-slots").output.splitlines()) > len(lines)

    sava.runtime().set_state(sava.backend(V11), "slot1", "maint")
    result = drover_status(*local_args(sava))
    assert result.exit_code == 1
    assert "PROBLEMS" in result.output and f"route {V11} (weight 10%) has no server" in result.output


@pytest.mark.haproxy
@HAVE_HAPROXY
def test_watch_refreshes_count_times(sava):
    result = drover_status(*local_args(sava), "--watch", "--count", "2", "--interval", "0.1", "--format", "json")
    assert result.exit_code == 0
    documents = [json.loads(line) for line in result.output.splitlines()]
    assert len(documents) == 2 and all(doc["routes"][0]["weight"] == 90.0 for doc in documents)
    text = drover_status(*local_args(sava), "--watch", "--count", "3", "--interval", "0.1")
    assert text.exit_code == 0 and text.output.count("drover status, every 0.1s") == 3 and text.output.count("\nGATEWAYS\n") == 3


def test_usage_and_connection_errors_exit_2(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text(f"global\n    stats socket {tmp_path / 'none.sock'} mode 600 level admin\n")
    # the socket comes from the configuration's `stats socket` line; nothing listens there
    dead = drover_status("--config", str(config))
    assert dead.exit_code == 2 and f"cannot reach the HAProxy socket {tmp_path / 'none.sock'}" in dead.output
    code, data = status_json("--socket", str(tmp_path / "none.sock"), "--config", str(config))
    assert code == 2 and data["exit_code"] == 2 and "cannot reach" in data["error"]
    assert drover_status("--host", "lb1", "--ssh", "root@127.0.0.1").exit_code == 2
    assert drover_status("--count", "2").exit_code == 2
    missing = drover_status("--host", "lb1", "-i", str(tmp_path / "missing.ini"))
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_group_usage_errors_exit_2(tmp_path):
    """-i without --host reads the load balancers' group: a missing inventory or group is an error, exit 2."""
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[web]\nweb1 ansible_host=127.0.0.1\n")
    missing = drover_status("-i", str(tmp_path / "missing.ini"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
    code, data = status_json("-i", str(inventory))
    assert code == 2 and data["exit_code"] == 2
    assert data["error"] == f"inventory {inventory} has no host in group 'loadbalancers' (groups with hosts: web); name the load balancers' group with --group"
    assert drover_status("-i", str(inventory), "--group", "nothing").exit_code == 2
    for args in (["--group", "web", "--host", "web1"], ["--group", "web", "--ssh", "root@127.0.0.1"], ["-i", str(inventory), "--ssh", "root@127.0.0.1"]):
        refused = drover_status(*args)
        assert refused.exit_code == 2 and "Usage:" in refused.output, args


# -- remote: over SSH into a real lab host ---------------------------------------------------------------------------

LB_CONFIG = "/etc/haproxy/haproxy.cfg"
LB_ADMIN = "/run/haproxy/admin.sock"
LB_MASTER = "/run/haproxy-master.sock"
HOST_PYTHON = "/usr/bin/python3"


class LabBalancer:
    """lb1 of a one-host lab, running HAProxy (master-worker, started inside the host as the role starts it) in front
    of echo servers on the host's own loopback."""

    def __init__(self, state, workdir: Path):
        self.state = state
        self.host = state.host("lb1")
        self.workdir = workdir
        self.ports = {name: 18000 + index for index, name in enumerate(SAVA_SERVERS)}  # the host's own loopback
        self.port = 9050
        self.echo_pids: list = []
        self.master_pid = None

    def sh(self, command: str) -> str:
        return run_in_host(self.host, ["sh", "-c", command]).stdout

    def start(self) -> None:
        for name, port in self.ports.items():
            pid = self.sh(f"setsid {HOST_PYTHON} {ECHO_SERVER} {port} {name} </dev/null >/dev/null 2>&1 & echo $!")
            self.echo_pids.append(int(pid))
        options = RenderOptions(bind_address="0.0.0.0", admin_socket=LB_ADMIN, server_state_file="/var/lib/haproxy/server-state",
                                log_target=None)
        self.rendered = render_sava(self.workdir, self.port, self.ports, options)
        # the host's /etc/haproxy is a bind mount of this folder
        write_files(self.rendered.files, self.host.dir / "etc" / "haproxy")
        self.sh("mkdir -p /run/haproxy")
        start = ("from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import start_master_worker\n"
                 f"print(start_master_worker({LB_CONFIG!r}, {LB_MASTER!r}, pid_file='/run/haproxy.pid', "
                 "log_file='/run/haproxy-master.log').pid)")
        self.master_pid = int(run_in_host(self.host, [sys.executable, "-c", start]).stdout)

    def backend(self, target: str) -> str:
        return next(b.name for b in self.rendered.backends if b.target == target)

    def admin(self, command: str) -> str:
        return self.sh(f"echo '{command}' | socat - UNIX-CONNECT:{LB_ADMIN}")

    def stop(self) -> None:
        if self.master_pid:
            stop_master_worker(self.master_pid)
        for pid in self.echo_pids:
            if pid_alive(pid):
                os.kill(pid, 9)


@pytest.fixture(scope="module")
def balancer(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("status-lab")
    subnet, bridge = free_lab_network()
    pids: set = set()
    try:
        state = lab_up(1, state_dir, subnet=subnet, bridge=bridge, images=False)
        lb = LabBalancer(state, tmp_path_factory.mktemp("status-lb"))
        try:
            lb.start()
            pids = set(lb.echo_pids) | {lb.master_pid}
            yield lb
        finally:
            lb.stop()
    finally:
        lab_down(state_dir)
    wait_for(lambda: not leftovers(state_dir, bridge, pids, set()), timeout=10, message="lab removed")


def remote_args(lb: LabBalancer) -> list:
    return ["--host", "lb1", "-i", str(lb.state.inventory)]


def all_up(data: dict) -> bool:
    return all(server["availability"] == "UP" for server in data["servers"] if not server["empty"])


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")
@HAVE_HAPROXY
def test_remote_status_over_ssh_from_the_inventory(balancer):
    def up_status():
        found = status_json(*remote_args(balancer))[1]
        return found if all_up(found) else None

    data = wait_for(up_status, timeout=20, message="lb1's servers UP, read over SSH")
    assert data["healthy"] is True and data["problems"] == []
    assert data["source"] == f"ssh lb1 (root@{balancer.host.address}) {LB_ADMIN}"
    # the socket and haproxy.cfg were found on lb1: the config from the running process, the socket from the config
    assert data["config_path"] == LB_CONFIG
    assert [g["label"] for g in data["gateways"]] == ["sava/9050"] and data["gateways"][0]["binds"] == ["0.0.0.0:9050"]
    routes = routes_of(data)
    assert (routes[V1]["weight"], routes[V11]["weight"], routes[V1]["file_weight"]) == (90.0, 10.0, 90.0)
    assert [(label, name, s["address"], s["port"]) for (label, name), s in servers_of(data).items() if not s["empty"]] == [
        (V1, "slot1", "127.0.0.1", balancer.ports["v1a"]), (V1, "slot2", "127.0.0.1", balancer.ports["v1b"]),
        (V11, "slot1", "127.0.0.1", balancer.ports["v11"]),
    ]
    assert data["process"]["master_pid"] == balancer.master_pid and data["process"]["workers"] == 1

    # runtime changes made on lb1 are what the status shows
    balancer.admin(f"set server {balancer.backend(V1)}/slot2 state drain")
    maps = balancer.admin("show map")
    map_id = next(line.split()[0] for line in maps.splitlines() if line[:1].isdigit())
    # (`set map` on a range key rewrites every entry of a map_int map: replace the entries instead)
    balancer.admin(f"clear map #{map_id}")
    balancer.admin(f"add map #{map_id} 0:999 {balancer.backend(V1)}")
    balancer.admin(f"add map #{map_id} 1000:9999 {balancer.backend(V11)}")
    code, data = status_json(*remote_args(balancer))
    assert code == 0
    routes = routes_of(data)
    assert (routes[V1]["weight"], routes[V11]["weight"], routes[V1]["drifted"]) == (10.0, 90.0, True)
    assert servers_of(data)[(V1, "slot2")]["state"] == "drain"

    # a group with one host names that host; the text tables come over SSH too
    text = drover_status("--host", "loadbalancers", "-i", str(balancer.state.inventory))
    assert text.exit_code == 0 and all(title in text.output.splitlines() for title in ("GATEWAYS", "ROUTES", "SERVERS"))

    balancer.admin(f"set server {balancer.backend(V11)}/slot1 state maint")
    code, data = status_json(*remote_args(balancer))
    assert code == 1 and any(f"route {V11}" in problem for problem in data["problems"])
    balancer.admin(f"set server {balancer.backend(V11)}/slot1 state ready")
    balancer.admin(f"set server {balancer.backend(V1)}/slot2 state ready")


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")
@HAVE_HAPROXY
def test_remote_with_ssh_and_key_host_keys_and_the_socat_fallback(balancer):
    address = balancer.host.address
    key = str(balancer.state.ssh_key)
    # the lab's host key is in no known_hosts: refused unless asked not to check
    refused = drover_status("--ssh", f"root@{address}", "--key", key)
    assert refused.exit_code == 2 and "known_hosts" in refused.output
    code, data = status_json("--ssh", f"root@{address}", "--key", key, "--no-host-key-check")
    assert code == 0 and data["config_path"] == LB_CONFIG and {g["label"] for g in data["gateways"]} == {"sava/9050"}

    # without Python on the host, the commands go through socat and give the same answers
    target = target_from_inventory(str(balancer.state.inventory), "lb1")
    target.python = "/nonexistent/python3"
    source = SshSource(target)
    try:
        over_socat = build_status(collect_status(source, master_socket=LB_MASTER))
        assert source.used_reader == "socat"
    finally:
        source.close()
    target.python = HOST_PYTHON
    source = SshSource(target)
    try:
        over_python = build_status(collect_status(source, master_socket=LB_MASTER))
        assert source.used_reader == "python"
    finally:
        source.close()
    assert [(r.label, r.weight) for r in over_socat.routes] == [(r.label, r.weight) for r in over_python.routes]
    assert [(s.server, s.endpoint, s.state) for s in over_socat.servers] == [(s.server, s.endpoint, s.state) for s in over_python.servers]

    wrong = drover_status(*remote_args(balancer), "--socket", "/run/haproxy/none.sock")
    assert wrong.exit_code == 2 and "cannot reach the HAProxy socket /run/haproxy/none.sock" in wrong.output
