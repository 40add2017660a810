# -*- coding: utf-8 -*-
"""Two teams' blueprints on one pair of load balancers, through the playbooks, in the lab (issue 10): each deploy and
undeploy changes only its own part of both load balancers, under load on the other team's gateway; a port clash is
refused before anything changes; a load balancer that cannot be reached is reported, keeps its instances' containers
alive, and a re-run converges.

The lab (lb1, lb2, three app hosts) is built once for the module on a /24 and bridge of its own and torn down in a
finalizer. The tests run in order on the same fleet.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network
from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from drover_cli.lab.fleet import lab_down, lab_up
from drover_cli.lab.host import run_in_host

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("haproxy") is None, reason="run `make setup` first"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DEMO = REPO_ROOT / "examples" / "lab" / "demo-canary.yml"
DEMO_PORT, TEAM2_PORT = 9051, 9061


class Fleet:
    def __init__(self, state, workdir: Path):
        self.state, self.workdir = state, workdir
        self.lbs = state.group("loadbalancers")
        text = DEMO.read_text(encoding="utf-8")
        self.blueprints = {
            "demo": DEMO,
            "demo-scaled": self.write("demo-scaled", text.replace("instances: 2", "instances: 3")),
            "team2": self.write("team2", self.team2(text, TEAM2_PORT)),
            "team2-half": self.write("team2-half", self.team2(text, TEAM2_PORT).replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%")),
            "team2-scaled": self.write("team2-scaled", self.team2(text, TEAM2_PORT).replace("instances: 2", "instances: 1")),
            "team3-clash": self.write("team3-clash", self.team2(text, DEMO_PORT).replace("name: team2", "name: team3")),
        }

    @staticmethod
    def team2(text: str, port: int) -> str:
        return text.replace("name: demo\n", "name: team2\n").replace(f"{DEMO_PORT}/http", f"{port}/http")

    def write(self, name: str, text: str) -> Path:
        path = self.workdir / f"{name}.yml"
        path.write_text(text, encoding="utf-8")
        return path

    def playbook(self, name: str, blueprint: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        variables = {"drover_blueprint": str(self.blueprints[blueprint]), "deploy_drain_timeout": 20}
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.state.inventory), str(REPO_ROOT / "playbooks" / f"{name}.yml"),
                "-e", json.dumps(variables), *args]
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
        run = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        if check:
            assert run.returncode == 0, f"{name}.yml failed ({run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
        return run

    def sh(self, host, command: str) -> str:
        return run_in_host(host, ["sh", "-c", command]).stdout

    def files(self, lb) -> dict:
        listing = self.sh(lb, "cd /etc/haproxy && find . -name '*.cfg' -o -name '*.map' -o -name '*.acl' | sort")
        return {name: self.sh(lb, f"cat /etc/haproxy/{name}") for name in listing.split()}

    def containers(self) -> dict:
        found = {}
        for host in self.state.group("apps"):
            for item in json.loads(self.sh(host, "podman ps --format json") or "[]"):
                labels = item.get("Labels") or {}
                if "drover.blueprint" in labels:
                    found[item["Names"][0]] = labels["drover.blueprint"]
        return found


def status(address: str, port: int) -> int | None:
    connection = http.client.HTTPConnection(address, port, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


class Load(threading.Thread):
    """Requests to one gateway on every load balancer in turn, new connection each; counts failures."""

    def __init__(self, addresses: list, port: int):
        super().__init__(daemon=True)
        self.addresses, self.port = addresses, port
        self.ok, self.failures = 0, []
        self.done = threading.Event()

    def run(self):
        turn = 0
        while not self.done.is_set():
            answer = status(self.addresses[turn % len(self.addresses)], self.port)
            turn += 1
            if answer == 200:
                self.ok += 1
            else:
                self.failures.append(answer)

    def __enter__(self):
        self.start()
        wait_for(lambda: self.ok >= 20, 20, message="load served")
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(10)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("shared")
    subnet, bridge = free_lab_network()
    state_dir = workdir / "lab"
    try:
        state = lab_up(5, state_dir, load_balancers=2, subnet=subnet, bridge=bridge, vip=False)
        yield Fleet(state, workdir)
    finally:
        lab_down(state_dir, bridge=bridge)


@pytest.fixture(scope="module")
def demo(fleet):
    fleet.playbook("deploy", "demo")
    for lb in fleet.lbs:
        wait_for(lambda lb=lb: status(lb.address, DEMO_PORT) == 200, 30, message=f"demo on {lb.name}")
    return fleet


def test_a_second_team_deploys_changes_scales_and_goes_without_touching_the_first(demo):
    fleet = demo
    demo_parts = {lb.name: fleet.files(lb)["./drover.d/blueprint-demo.cfg"] for lb in fleet.lbs}
    with Load([lb.address for lb in fleet.lbs], DEMO_PORT) as load:
        fleet.playbook("deploy", "team2")
        for lb in fleet.lbs:
            wait_for(lambda lb=lb: status(lb.address, TEAM2_PORT) == 200, 30, message=f"team2 on {lb.name}")
        assert set(fleet.containers().values()) == {"demo", "team2"}
        fleet.playbook("gateway", "team2-half")
        fleet.playbook("deploy", "team2-scaled")
        fleet.playbook("undeploy", "team2-scaled")
    assert load.failures == [] and load.ok > 50, load.failures[:10]
    for lb in fleet.lbs:
        files = fleet.files(lb)
        assert files["./drover.d/blueprint-demo.cfg"] == demo_parts[lb.name]
        assert "./drover.d/blueprint-team2.cfg" not in files
        assert status(lb.address, TEAM2_PORT) is None and status(lb.address, DEMO_PORT) == 200
    assert set(fleet.containers().values()) == {"demo"}
    # both load balancers hold the same files
    assert fleet.files(fleet.lbs[0]) == fleet.files(fleet.lbs[1])


def test_a_port_clash_is_refused_before_anything_changes(demo):
    fleet = demo
    before = {lb.name: fleet.files(lb) for lb in fleet.lbs}
    containers = fleet.containers()
    run = fleet.playbook("deploy", "team3-clash", check=False)
    assert run.returncode != 0
    assert f"blueprint 'team3': the listener 0.0.0.0:{DEMO_PORT} is already claimed by blueprint 'demo'" in run.stdout, run.stdout[-4000:]
    assert {lb.name: fleet.files(lb) for lb in fleet.lbs} == before
    # the clash is found on the load balancers before any container starts
    assert fleet.containers() == containers


def test_an_unreachable_load_balancer_is_reported_and_a_rerun_converges(demo):
    """lb2 keeps serving but cannot be reached over ssh (its port 22 refused from the controller): the run names it,
    lb1 takes the change, the containers to remove stay while lb2 may still route to them; a re-run converges."""
    fleet = demo
    lb1, lb2 = fleet.lbs
    fleet.playbook("deploy", "demo-scaled")    # three instances of demo:1.0 on both load balancers
    before = fleet.containers()
    rule = ["OUTPUT", "-d", lb2.address, "-p", "tcp", "--dport", "22", "-j", "REJECT", "--reject-with", "tcp-reset",
            "-m", "comment", "--comment", f"drover-test:{fleet.state.bridge}"]
    subprocess.run(["iptables", "-I", *rule], check=True)
    try:
        wait_for(lambda: ssh_refused(lb2), 10, message="lb2's ssh refused")
        run = fleet.playbook("deploy", "demo", check=False)    # back to two: one container to drain and remove
    finally:
        subprocess.run(["iptables", "-D", *rule], check=True)
    assert run.returncode != 0 and "UNREACHABLE" in run.stdout and "lb2" in run.stdout.split("UNREACHABLE", 1)[0][-300:]
    assert "could not be reached or failed" in run.stdout
    assert fleet.files(lb1) != fleet.files(lb2)
    # lb2 still routes to the third instance, so it still runs
    assert fleet.containers() == before
    assert status(lb2.address, DEMO_PORT) == 200
    fleet.playbook("deploy", "demo")
    assert fleet.files(lb2) == fleet.files(lb1)
    assert len(fleet.containers()) == len(before) - 1
    again = fleet.playbook("deploy", "demo")
    recap = again.stdout.split("PLAY RECAP", 1)[1]
    assert all("changed=0" in line for line in recap.splitlines() if ":" in line and "ok=" in line), recap


def ssh_refused(host) -> bool:
    try:
        with socket.create_connection((host.address, 22), timeout=2):
            return False
    except OSError:
        return True
