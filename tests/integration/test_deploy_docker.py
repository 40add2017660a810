# -*- coding: utf-8 -*-
"""The deploy role's docker engine path (`-e drover_container_engine=docker`) against a real lab.

A lab of its own (lb1, app1, app2) on a /24 and bridge of its own, without the podman demo images; the test starts
dockerd inside each app host (tests/support/lab_docker.py) and imports the demo image into it. Then the deploy playbook runs
the canary blueprint with community.docker, real HTTP traffic goes through HAProxy on lb1, a second run changes
nothing, a killed container leaves rotation and comes back, scaling inside the slot range needs no reload, a scale-in
drains first (the same scenarios as the podman path, from test_deploy), undeploy removes the containers, and the
teardown leaves neither process, mount, cgroup, namespace nor iptables rule behind, and the machine's iptables as
they were.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.tests.integration.test_deploy import (
    OLD, OLD_PREFIX, Fleet, killed_instance_leaves_rotation, scale_in_drains_first, scaling_inside_the_slot_range,
)
from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network
from ansible_collections.drover.fleet.tests.support.lab_docker import DockerDaemon, import_demo_images, start_dockerd, stop_dockerd
from drover_cli.lab.demo_image import build_demo_image
from drover_cli.lab.fleet import lab_down, lab_up
from drover_cli.lab.network import netns_inode
from drover_cli.lab.processes import process_table

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("dockerd") is None or shutil.which("haproxy") is None, reason="run `make setup` first"),
]

NEW_NAME = "drover-canary-demo-demo_1.1-1"
DOCKER_PROGRAMS = {"dockerd", "containerd", "containerd-shim-runc-v2", "docker-proxy", "docker-init", "runc", "drover-demo"}


def machine_rules(own_bridge: str) -> dict[str, list[str]]:
    """The machine's iptables rules (filter and nat, v4 and v6), without the rules of other labs running meanwhile."""
    rules = {}
    for tool in ("iptables", "ip6tables"):
        for table in ("filter", "nat"):
            listing = subprocess.run([tool, "-t", table, "-S"], capture_output=True, text=True, check=True).stdout.splitlines()
            rules[f"{tool} -t {table}"] = [line for line in listing
                                           if "drover-lab:" not in line or f"drover-lab:{own_bridge}\"" in line]
    return rules


class DockerFleet(Fleet):
    """The deploy test's fleet, looked at through docker instead of podman."""

    def __init__(self, state, workdir: Path, daemons: dict[str, DockerDaemon], rules_before: dict):
        super().__init__(state, workdir)
        self.daemons = daemons
        self.rules_before = rules_before

    def variables(self, blueprint: str) -> dict:
        return dict(super().variables(blueprint), drover_container_engine="docker")

    def containers(self) -> dict:
        found = {}
        for name, daemon in self.daemons.items():
            for line in daemon.docker("ps", "-a", "--no-trunc", "--format", "{{json .}}").splitlines():
                item = json.loads(line)
                labels = dict(pair.split("=", 1) for pair in item["Labels"].split(",") if "=" in pair)
                found[item["Names"]] = {"host": name, "state": item["State"], "labels": labels, "id": item["ID"]}
        return found

    def labelled(self, blueprint: str) -> dict:
        """Container name -> host, asked from docker with the label filter the brief of the role names."""
        return {line: name for name, daemon in self.daemons.items()
                for line in daemon.docker("ps", "--filter", f"label=drover.blueprint={blueprint}", "--format", "{{.Names}}").split()}

    def inspect(self, host_name: str, container: str) -> dict:
        return json.loads(self.daemons[host_name].docker("inspect", container))[0]

    def kill(self, host_name: str, container: str) -> None:
        self.daemons[host_name].docker("kill", container)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deploy-docker")
    subnet, bridge = free_lab_network()
    state_dir = workdir / "lab"
    rules_before = machine_rules(bridge)
    daemons = {}
    try:
        # no podman images: the docker path must not depend on them
        state = lab_up(3, state_dir, subnet=subnet, bridge=bridge, images=False)
        image = build_demo_image(state_dir / "images", versions=("1.0", "1.1"))
        for host in state.group("apps"):
            daemons[host.name] = start_dockerd(host)
            import_demo_images(daemons[host.name], image)
        yield DockerFleet(state, workdir, daemons, rules_before)
    finally:
        for daemon in daemons.values():
            stop_dockerd(daemon)
        lab_down(state_dir, bridge=bridge)


@pytest.fixture(scope="module")
def deployed(fleet):
    return fleet.playbook("deploy", "canary")


def test_deploy_runs_labelled_docker_containers_that_serve_both_versions_through_the_lb(fleet, deployed):
    assert deployed.changed["lb1"] > 0 and deployed.changed["app1"] > 0 and deployed.changed["app2"] > 0
    started = deployed.results("Run the planned containers (docker)")
    assert sum(1 for host in started for item in host["results"] if item["changed"]) == 3
    assert deployed.results("Run the planned containers (podman)") == []

    labelled = fleet.labelled("canary")
    assert sorted(labelled) == [f"{OLD_PREFIX}1", f"{OLD_PREFIX}2", NEW_NAME]
    assert labelled[f"{OLD_PREFIX}1"] != labelled[f"{OLD_PREFIX}2"], "the two 1.0 instances are spread over both hosts"
    containers = fleet.drover_containers()
    assert all(item["state"] == "running" for item in containers.values())
    labels = containers[f"{OLD_PREFIX}2"]["labels"]
    assert {key: labels[key] for key in labels if key.startswith("drover.")} == {
        "drover.blueprint": "canary", "drover.cluster": "demo", "drover.service": OLD, "drover.version": "1.0",
        "drover.instance": f"{OLD_PREFIX}2", "drover.slot": "2", "drover.port": "8080"}
    inspected = fleet.inspect(labelled[NEW_NAME], NEW_NAME)
    assert inspected["HostConfig"]["NanoCpus"] == 200_000_000
    assert inspected["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert inspected["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    assert inspected["Config"]["Env"].count("DROVER_VERSION=1.1") == 1
    # podman on the same hosts runs nothing: the role used docker only
    for host in fleet.apps:
        assert fleet.sh(host, "podman ps -aq").split() == []

    versions = fleet.split(400)
    assert set(versions) == {"1.0", "1.1"}, versions
    assert 12 <= versions["1.1"] <= 80, versions


def test_docker_rules_stay_in_the_hosts_and_the_machine_iptables_do_not_change(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    for host in fleet.apps:
        rules = fleet.sh(host, "iptables -S; iptables -t nat -S")
        # dockerd managed iptables: in the host's own network namespace
        assert "-N DOCKER" in rules and "-P FORWARD DROP" in rules and "DNAT" in rules, rules
    now = machine_rules(fleet.state.network.bridge)
    for key, before in fleet.rules_before.items():
        # the lab's own FORWARD rules are the only difference; docker added nothing and left the policy alone
        added = [line for line in now[key] if line not in before]
        assert all(f"drover-lab:{fleet.state.network.bridge}\"" in line for line in added), (key, added)
        assert [line for line in before if line not in now[key]] == [], key
        assert [line for line in now[key] if line.startswith("-P ")] == [line for line in before if line.startswith("-P ")]


def test_second_run_changes_nothing(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    ids = {name: item["id"] for name, item in fleet.drover_containers().items()}
    again = fleet.playbook("deploy", "canary")
    assert sum(again.changed.values()) == 0, again.changed
    assert {name: item["id"] for name, item in fleet.drover_containers().items()} == ids


def test_killed_docker_instance_leaves_rotation_without_failed_requests(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    killed_instance_leaves_rotation(fleet)


def test_scaling_docker_instances_inside_the_slot_range_does_not_reload(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    scaling_inside_the_slot_range(fleet)


def test_docker_scale_in_drains_first_keeping_sticky_clients(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    scale_in_drains_first(fleet)


def test_undeploy_removes_the_docker_containers(fleet, deployed):
    assert deployed.changed["lb1"] > 0
    hosts = {item["host"] for item in fleet.drover_containers().values()}
    run = fleet.playbook("undeploy", "canary")
    assert run.changed["lb1"] > 0 and hosts and all(run.changed[host] > 0 for host in hosts), (hosts, run.changed)
    assert fleet.labelled("canary") == {}
    assert fleet.containers() == {}
    with pytest.raises(OSError):
        fleet.get(timeout=3)
    assert sum(fleet.playbook("undeploy", "canary").changed.values()) == 0


def test_teardown_stops_dockerd_by_pidfile_and_leaves_nothing(fleet):
    state = fleet.state
    bridge = state.network.bridge
    netns = {host.netns: netns_inode(host.netns) for host in state.hosts}
    pids = {name: daemon.pid() for name, daemon in fleet.daemons.items()}
    assert all(pids.values()), pids
    assert all(daemon.mounts() and daemon.cgroups() for daemon in fleet.daemons.values())

    for name, daemon in fleet.daemons.items():
        assert stop_dockerd(daemon), f"dockerd in {name} did not stop on SIGTERM"
        assert daemon.pid() is None
        assert daemon.mounts() == [] and daemon.cgroups() == [] and not daemon.data_root.exists()
    # neither dockerd nor its containerd, shims, proxies or containers survive in the app hosts (matched by name
    # here only to look; the teardown stops the daemon by its pidfile)
    app_netns = {netns[host.netns] for host in fleet.apps}
    left = []
    for pid, info in process_table().items():
        try:
            executable = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if info.net_ns in app_netns and executable in DOCKER_PROGRAMS or b"/run/docker-exec" in cmdline:
            left.append((pid, cmdline))
    assert left == []

    lab_down(state.state_dir, bridge=bridge)
    live_netns = {info.net_ns for info in process_table().values()}
    assert not set(netns.values()) & live_netns, "a process still runs in a lab host's network namespace"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not any(name in listed for name in netns)
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True, check=False).returncode != 0
    assert str(state.state_dir) not in Path("/proc/self/mountinfo").read_text(encoding="utf-8")
    assert machine_rules(bridge) == fleet.rules_before
    assert not list(Path("/sys/fs/cgroup").glob(f"*/drover-{bridge}-*"))
