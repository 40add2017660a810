# -*- coding: utf-8 -*-
"""The deploy, gateway and undeploy playbooks against a real lab: sshd hosts in network namespaces, rootful podman,
the demo service image, a real HAProxy in master-worker mode, and real HTTP traffic.

The lab is built once for the module, in a temporary state directory on a /24 and bridge of its own, and torn down
in a finalizer. The tests run in order on the same fleet: deploy, idempotence, check mode, a runtime weight shift,
a killed instance, a scale-out and back inside the slot range without reload, a drained scale-in, undeploy.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import ansible_runner
import pytest

from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network
from drover_cli.lab.fleet import lab_down, lab_up
from drover_cli.lab.host import run_in_host

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("haproxy") is None, reason="run `make setup` first"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
BLUEPRINT = Path(__file__).resolve().parent / "blueprints" / "canary.yml"
GATEWAY_PORT = 9050
OLD, NEW = "demo:1.0", "demo:1.1"
OLD_PREFIX = "drover-canary-demo-demo_1.0-"


class Fleet:
    """The lab, the blueprint variants written for it, and ways to look at it from the controller."""

    def __init__(self, state, workdir: Path):
        self.state = state
        self.workdir = workdir
        self.cookie_key = "k" + secrets.token_hex(16)
        self.lb = state.group("loadbalancers")[0]
        self.apps = state.group("apps")
        self.blueprints = {}
        text = BLUEPRINT.read_text(encoding="utf-8")
        variants = {
            "canary": text,
            "scaled": text.replace("instances: 2", "instances: 3"),
            "half": text.replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%"),
            "half-scaled": text.replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%").replace("instances: 2", "instances: 3"),
            "scaled-in": text.replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%").replace("instances: 2", "instances: 1"),
        }
        for name, content in variants.items():
            path = workdir / f"{name}.yml"
            path.write_text(content, encoding="utf-8")
            self.blueprints[name] = path

    # -- ansible -----------------------------------------------------------------------------------------------------

    def variables(self, blueprint: str) -> dict:
        # L7 retries: a request in flight on an instance that dies is replayed on another one (docs/architecture.md)
        return {"drover_blueprint": str(self.blueprints[blueprint]), "haproxy_dynamic_cookie_key": self.cookie_key,
                "deploy_drain_timeout": 30, "haproxy_render_options": {"retry_on": "conn-failure empty-response response-timeout"}}

    def playbook(self, name: str, blueprint: str, *args: str, extra: dict | None = None, callback: str = "ansible.posix.json",
                 background: bool = False):
        variables = self.variables(blueprint)
        variables.update(extra or {})
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.state.inventory), str(REPO_ROOT / "playbooks" / f"{name}.yml"),
                "-e", json.dumps(variables), *args]
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", PYTHONUNBUFFERED="1", PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
        if background:
            return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        run = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert run.returncode == 0, f"{name}.yml failed ({run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"
        return PlaybookRun(run.stdout)

    # -- the hosts ---------------------------------------------------------------------------------------------------

    def sh(self, host, command: str) -> str:
        return run_in_host(host, ["sh", "-c", command]).stdout

    def containers(self) -> dict:
        """Every container on the app hosts: name -> (host, state, labels, ports)."""
        found = {}
        for host in self.apps:
            for item in json.loads(self.sh(host, "podman ps -a --format json") or "[]"):
                found[item["Names"][0]] = {"host": host.name, "state": item["State"], "labels": item.get("Labels") or {},
                                           "id": item["Id"]}
        return found

    def drover_containers(self) -> dict:
        return {name: item for name, item in self.containers().items() if "drover.blueprint" in item["labels"]}

    def inspect(self, host_name: str, container: str) -> dict:
        return json.loads(self.sh(self.state.host(host_name), f"podman inspect {container}"))[0]

    def kill(self, host_name: str, container: str) -> None:
        self.sh(self.state.host(host_name), f"podman kill {container}")

    def haproxy_files(self) -> dict:
        listing = self.sh(self.lb, "cd /etc/haproxy && find . -maxdepth 2 -name '*.cfg' -o -maxdepth 2 -name '*.map' | sort")
        return {name: self.sh(self.lb, f"cat /etc/haproxy/{name}") for name in listing.split()}

    def stats(self) -> dict:
        """`show stat` of the running HAProxy: (backend, server) -> row."""
        text = self.sh(self.lb, "echo 'show stat' | socat - UNIX-CONNECT:/run/haproxy/admin.sock")
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {(row["pxname"], row["svname"]): row for row in rows}

    def server_of(self, container: str) -> dict:
        """The stat row of the HAProxy server that points at `container`'s published port."""
        item = self.drover_containers()[container]
        port = self.inspect(item["host"], container)["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"]
        address = self.state.host(item["host"]).address
        rows = [row for row in self.stats().values() if row.get("addr") == f"{address}:{port}"]
        assert len(rows) == 1, f"expected one server for {container} at {address}:{port}, found {rows}"
        return rows[0]

    def reloads(self) -> int:
        text = self.sh(self.lb, "echo 'show proc' | socat - UNIX-CONNECT:/run/haproxy-master.sock")
        master = next(line for line in text.splitlines() if " master " in f" {line} ")
        return int(master.split()[2])

    # -- traffic -----------------------------------------------------------------------------------------------------

    def get(self, cookie: str | None = None, timeout: float = 10.0) -> tuple[int, dict, list]:
        """One request through the gateway on a new connection: status, the JSON body, the Set-Cookie values."""
        connection = http.client.HTTPConnection(self.lb.address, GATEWAY_PORT, timeout=timeout)
        try:
            connection.request("GET", "/", headers={"Cookie": cookie} if cookie else {})
            response = connection.getresponse()
            body = response.read().decode()
            cookies = [value.split(";", 1)[0] for key, value in response.getheaders() if key.lower() == "set-cookie"]
        finally:
            connection.close()
        return response.status, (json.loads(body) if response.status == 200 else {"raw": body}), cookies

    def split(self, count: int) -> Counter:
        versions = Counter()
        for _request in range(count):
            status, body = self.get()[:2]
            versions[body.get("version") if status == 200 else status] += 1
        return versions


def backend_section(config: str, service: str) -> list:
    """The stripped lines of the backend that holds `service`'s slots."""
    lines, inside = [], False
    for line in config.splitlines():
        if not line.startswith(" "):
            inside = line.startswith("backend ") and f"_{service}_" in line
        elif inside:
            lines.append(line.strip())
    return lines


def diff_parts(result: dict) -> list:
    """The before/after parts of a result's diff (a module may return one or a list)."""
    diff = result.get("diff") or []
    return diff if isinstance(diff, list) else [diff]


class PlaybookRun:
    """The ansible.posix.json output of a run."""

    def __init__(self, stdout: str):
        self.text = stdout
        self.data = json.loads(stdout[stdout.index("{"):])

    @property
    def changed(self) -> dict:
        return {host: stats["changed"] for host, stats in self.data["stats"].items()}

    def changed_tasks(self, host: str) -> list:
        """The names of the tasks that changed something on `host`, in order."""
        return [task["task"]["name"] for play in self.data["plays"] for task in play["tasks"]
                if task["hosts"].get(host, {}).get("changed")]

    def results(self, task_name: str) -> list:
        """Every host result of the tasks whose name contains `task_name`."""
        found = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                if task_name in task["task"]["name"]:
                    found.extend(task["hosts"].values())
        return found


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy")
    subnet, bridge = free_lab_network()
    state_dir = workdir / "lab"
    try:
        state = lab_up(4, state_dir, subnet=subnet, bridge=bridge)
        yield Fleet(state, workdir)
    finally:
        lab_down(state_dir, bridge=bridge)


@pytest.fixture(scope="module")
def deployed(fleet):
    """The first deployment of the 90/10 canary, with its output."""
    return fleet.playbook("deploy", "canary", "--diff")


def test_deploy_runs_labelled_limited_containers_behind_a_90_10_split(fleet, deployed):
    assert deployed.changed["lb1"] > 0 and sum(deployed.changed.values()) >= 3
    containers = fleet.drover_containers()
    assert sorted(containers) == [f"{OLD_PREFIX}1", f"{OLD_PREFIX}2", "drover-canary-demo-demo_1.1-1"]
    assert all(item["state"] == "running" for item in containers.values())
    # two hosts for the two 1.0 instances: spread over zones, then hosts
    assert containers[f"{OLD_PREFIX}1"]["host"] != containers[f"{OLD_PREFIX}2"]["host"]
    labels = containers[f"{OLD_PREFIX}2"]["labels"]
    assert {key: labels[key] for key in labels if key.startswith("drover.")} == {
        "drover.blueprint": "canary", "drover.cluster": "demo", "drover.service": OLD, "drover.version": "1.0",
        "drover.instance": f"{OLD_PREFIX}2", "drover.slot": "2", "drover.port": "8080"}
    inspected = fleet.inspect(containers[f"{OLD_PREFIX}2"]["host"], f"{OLD_PREFIX}2")
    assert inspected["HostConfig"]["NanoCpus"] == 200_000_000
    assert inspected["HostConfig"]["Memory"] == 64 * 1024 * 1024

    versions = fleet.split(1000)
    assert set(versions) == {"1.0", "1.1"}, versions
    assert 50 <= versions["1.1"] <= 160, versions
    # the cookie key never shows in the output, not even in the haproxy.cfg diff
    assert fleet.cookie_key not in deployed.text
    assert "dynamic-cookie-key ********" in deployed.text


def test_second_run_through_ansible_runner_with_survey_vars_changes_nothing(fleet, deployed, tmp_path):
    """AWX runs playbooks with ansible-runner from the project checkout; a survey sends plain strings."""
    assert deployed.changed["lb1"] > 0
    run = ansible_runner.run(
        private_data_dir=str(tmp_path), project_dir=str(REPO_ROOT), playbook="playbooks/deploy.yml",
        inventory=str(fleet.state.inventory), quiet=True,
        # the same blueprint as the first run, named relative to the playbook's directory as a survey would
        extravars=dict(fleet.variables("canary"), drover_blueprint="../tests/integration/blueprints/canary.yml",
                       drover_default_slots="8", drover_port_range="20000-29999", deploy_drain_timeout="30"),
        envvars={"ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"},
    )
    assert (run.status, run.rc) == ("successful", 0), "".join(run.stdout.readlines()[-60:])
    assert set(run.stats["ok"]) == {"lb1", "app1", "app2", "app3"}
    assert sum(run.stats["changed"].values()) == 0, run.stats["changed"]


def test_a_blueprint_path_relative_to_the_working_directory_is_found_too(fleet, deployed):
    """`ansible-playbook playbooks/deploy.yml -e drover_blueprint=<path from the checkout>`, as the README and a cron
    job in the project directory run it: not in the playbook's directory, so read from where ansible-playbook runs."""
    assert deployed.changed["lb1"] > 0
    relative = str(BLUEPRINT.relative_to(REPO_ROOT))   # the canary blueprint, as deployed
    assert not (REPO_ROOT / "playbooks" / relative).exists()
    run = fleet.playbook("deploy", "canary", "--check", extra={"drover_blueprint": relative})
    assert sum(run.changed.values()) == 0, run.changed


def test_check_mode_shows_the_diff_and_touches_nothing(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    containers, files, reloads = fleet.drover_containers(), fleet.haproxy_files(), fleet.reloads()
    run = fleet.playbook("deploy", "scaled", "--check", "--diff")
    plan = run.results("Show the containers to start and to remove")[0]["msg"]
    assert len(plan["start"]) == 1 and plan["start"][0].startswith(f"{OLD_PREFIX}3 on ") and plan["remove"] == []
    routing = run.results("Apply the routing")[-1]
    # the diff shows the blueprint's own part of the load balancer, not the assembled haproxy.cfg
    assert not any(part.get("after_header", "").endswith("haproxy.cfg") for part in diff_parts(routing))
    config = next(part for part in diff_parts(routing) if part.get("after_header", "").endswith("/drover.d/blueprint-canary.cfg"))
    slot3 = [line.split() for line in backend_section(config["after"], OLD) if line.startswith("server slot3 ")]
    assert routing["changed"] and "server slot3 0.0.0.0:0 disabled" in backend_section(config["before"], OLD)
    target_host = fleet.state.host(plan["start"][0].split(" on ")[1])
    assert len(slot3) == 1 and len(slot3[0]) == 3, slot3
    address, port = slot3[0][2].split(":")
    assert address == target_host.address and 20000 <= int(port) <= 29999
    started = run.results("Run the planned containers (podman)")
    assert any(item.get("changed") for host in started for item in host.get("results", []))
    assert fleet.drover_containers() == containers
    assert fleet.haproxy_files() == files
    assert fleet.reloads() == reloads
    assert fleet.cookie_key not in run.text


def test_an_invalid_blueprint_fails_with_every_error_located_and_changes_nothing(fleet, deployed, tmp_path):
    """Bad input: the run stops before any host is touched, and says where each problem is (file, line, dotted path)."""
    assert deployed.changed["lb1"] > 0
    bad = tmp_path / "bad.yml"
    text = BLUEPRINT.read_text(encoding="utf-8").replace("weight: 10%", "weight: 30%")
    bad.write_text(text.replace("memory: 64MB\n          instances: 1", "memory: 64XB\n          instances: 1"))
    containers, files, reloads = fleet.drover_containers(), fleet.haproxy_files(), fleet.reloads()
    run = fleet.playbook("deploy", "canary", extra={"drover_blueprint": str(bad)}, callback="default", background=True)
    output = run.communicate(timeout=600)[0]
    assert run.returncode != 0
    assert f"{bad}:11:9: clusters.demo.gateways.routes: the route weights" in output, output[-3000:]
    assert f"{bad}:46:19: clusters.demo.services[1].scale.memory" in output, output[-3000:]
    assert fleet.drover_containers() == containers and fleet.haproxy_files() == files and fleet.reloads() == reloads


def test_weight_shift_through_gateway_playbook_is_seen_in_traffic_without_reload(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    reloads, config = fleet.reloads(), fleet.haproxy_files()["./haproxy.cfg"]
    run = fleet.playbook("gateway", "half", "--diff")
    routing = run.results("Apply the routing")[-1]
    assert routing["changed"] and not routing["reloaded"] and routing["runtime_map_updates"], routing
    assert run.changed["app1"] == run.changed["app2"] == run.changed["app3"] == 0
    assert fleet.reloads() == reloads
    assert fleet.haproxy_files()["./haproxy.cfg"] == config
    versions = fleet.split(600)
    assert 0.38 <= versions["1.1"] / 600 <= 0.62, versions


class Traffic(threading.Thread):
    """Fresh clients, one request after another, until stopped; every answer is recorded with the time it was sent."""

    def __init__(self, fleet: Fleet, cookie: str | None = None):
        super().__init__(daemon=True)
        self.fleet = fleet
        self.cookie = cookie
        self.answers = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            sent = time.monotonic()
            try:
                status, body = self.fleet.get(self.cookie)[:2]
                self.answers.append((sent, status, body.get("instance")))
            except OSError as exc:
                self.answers.append((sent, repr(exc), None))

    def stop(self):
        self.done.set()
        self.join(timeout=30)

    @property
    def failures(self) -> list:
        return [answer for answer in self.answers if answer[1] != 200]


def test_killed_instance_leaves_rotation_through_its_health_check_without_failed_requests(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    killed_instance_leaves_rotation(fleet)


def killed_instance_leaves_rotation(fleet: Fleet) -> None:
    """A killed instance leaves rotation through its health check with no failed request (L7 retries); the next
    deploy (the 50/50 blueprint) restarts it and its slot comes back. Shared with the docker path."""
    victim = f"{OLD_PREFIX}1"
    host = fleet.state.host(fleet.drover_containers()[victim]["host"])
    backend_row = fleet.server_of(victim)
    key = (backend_row["pxname"], backend_row["svname"])
    traffic = Traffic(fleet)
    traffic.start()
    try:
        wait_for(lambda: len(traffic.answers) > 50, timeout=30, message="traffic flowing")
        assert any(answer[2] == victim for answer in traffic.answers), "the victim served before it was killed"
        fleet.kill(host.name, victim)
        wait_for(lambda: fleet.stats()[key]["status"].startswith("DOWN"), timeout=30, message=f"{key} DOWN")
        after = len(traffic.answers)
        wait_for(lambda: len(traffic.answers) > after + 100, timeout=30, message="traffic after the kill")
    finally:
        traffic.stop()
    assert traffic.failures == []
    # a second run restarts the container; its health check brings the slot back
    healed = fleet.playbook("deploy", "half")
    assert healed.changed[host.name] == 1, healed.changed_tasks(host.name)
    wait_for(lambda: fleet.stats()[key]["status"] == "UP", timeout=30, message=f"{key} UP again")


def test_scaling_inside_the_slot_range_does_not_reload(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    scaling_inside_the_slot_range(fleet)


def scaling_inside_the_slot_range(fleet: Fleet) -> None:
    """2 -> 3 instances fills a free slot at runtime (health-gated), 3 -> 2 drains and frees it: the master's reload
    counter does not move, and no request fails meanwhile. Starts from the 50/50 blueprint; shared with docker."""
    added = f"{OLD_PREFIX}3"
    reloads = fleet.reloads()
    traffic = Traffic(fleet)
    traffic.start()
    try:
        wait_for(lambda: len(traffic.answers) > 20, timeout=30, message="traffic flowing")
        out = fleet.playbook("deploy", "half-scaled").results("Apply the routing")[-1]
        assert out["changed"] and not out["reloaded"], out
        assert [(u["action"], u["server"]) for u in out["runtime_server_updates"]] == [("fill", "slot3")], out["runtime_server_updates"]
        assert fleet.reloads() == reloads
        assert fleet.server_of(added)["status"] == "UP"
        wait_for(lambda: any(answer[2] == added for answer in traffic.answers), timeout=30, message=f"{added} serving")

        back = fleet.playbook("deploy", "half")
        routing = back.results("Apply the routing")[-1]
        assert routing["changed"] and not routing["reloaded"], routing
        assert [(u["action"], u["server"]) for u in routing["runtime_server_updates"]] == [("free", "slot3")]
        assert fleet.reloads() == reloads
        assert added not in fleet.drover_containers()
        after = len(traffic.answers)
        wait_for(lambda: len(traffic.answers) > after + 50, timeout=30, message="traffic after the scale-in")
    finally:
        traffic.stop()
    assert traffic.failures == []
    assert added not in {answer[2] for answer in traffic.answers[after:]}


def sticky_cookie_for(fleet: Fleet, instance: str) -> str:
    """The cookies of a client that a request has pinned to `instance`."""

    def pinned():
        status, body, cookies = fleet.get()
        return "; ".join(cookies) if status == 200 and body["instance"] == instance else None

    return wait_for(pinned, timeout=30, interval=0, message=f"a client pinned to {instance}")


def test_scale_in_drains_first_keeping_sticky_clients(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    scale_in_drains_first(fleet)


def scale_in_drains_first(fleet: Fleet) -> None:
    """2 -> 1 instance: the leaving one drains (new clients never reach it, a sticky client and a request in flight
    still do), then it is removed and the sticky client lands on the one that stays. Shared with docker."""
    leaving, staying = f"{OLD_PREFIX}2", f"{OLD_PREFIX}1"
    item = fleet.drover_containers()[leaving]
    port = fleet.inspect(item["host"], leaving)["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"]
    direct = http.client.HTTPConnection(fleet.state.host(item["host"]).address, int(port), timeout=5)
    key = (fleet.server_of(leaving)["pxname"], fleet.server_of(leaving)["svname"])
    cookie = sticky_cookie_for(fleet, leaving)

    def control(query: str):
        direct.request("GET", f"/control?{query}")
        response = direct.getresponse()
        response.read()
        assert response.status == 200

    slow_answer = []
    run = fleet.playbook("deploy", "scaled-in", callback="default", background=True)
    output = []
    try:
        # a slow request from the sticky client is in flight on the leaving instance when its drain starts
        for line in run.stdout:
            output.append(line)
            if "Drain the instances to remove" in line:
                control("latency_ms=4000")
                slow = threading.Thread(target=lambda: slow_answer.append(fleet.get(cookie, timeout=30)), daemon=True)
                slow.start()
                break
        wait_for(lambda: fleet.stats()[key]["status"] == "DRAIN", timeout=30, interval=0.05, message=f"{key} draining")
        control("latency_ms=0")
        # while it drains, new clients never reach it and the sticky client still does
        fresh = [fleet.get() for _request in range(40)]
        status, body = fleet.get(cookie)[:2]
        drain_seen_after = fleet.stats()[key]["status"]
        output.extend(run.stdout)
        assert run.wait(timeout=300) == 0, "".join(output)[-5000:]
        slow.join(timeout=30)
    finally:
        direct.close()
        if run.poll() is None:
            run.kill()
            run.wait()
    assert all(answer[0] == 200 for answer in fresh)
    assert leaving not in {answer[1]["instance"] for answer in fresh}
    assert (status, body["instance"]) == (200, leaving), "a sticky client reaches the draining instance"
    assert drain_seen_after in ("DRAIN", "MAINT"), drain_seen_after
    assert slow_answer and slow_answer[0][0] == 200 and slow_answer[0][1]["instance"] == leaving, "the in-flight request finished"
    assert leaving not in fleet.drover_containers()
    # once it is gone, the sticky client lands on the instance that stays, on the same route
    status, body = fleet.get(cookie)[:2]
    assert (status, body["instance"]) == (200, staying)


def test_undeploy_leaves_the_hosts_clean(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    run = fleet.playbook("undeploy", "canary")
    assert run.changed["lb1"] > 0
    assert fleet.drover_containers() == {}
    files = fleet.haproxy_files()
    assert "canary" not in files["./haproxy.cfg"] and "frontend" not in files["./haproxy.cfg"]
    with pytest.raises(OSError):
        fleet.get(timeout=3)
    again = fleet.playbook("undeploy", "canary")
    assert sum(again.changed.values()) == 0
