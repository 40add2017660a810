"""The placement adapters: the fleet_instances and placement_plan filters, and the haproxy_routing action's helpers."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.action.haproxy_routing import MASK, mask_secrets, render_options
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render_inputs import instances_from_data
from ansible_collections.drover.fleet.plugins.filter.drain_servers import drain_servers
from ansible_collections.drover.fleet.plugins.filter.fleet_instances import fleet_instances
from ansible_collections.drover.fleet.plugins.filter.placement_plan import placement_plan
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance

BLUEPRINT = os.path.join(os.path.dirname(__file__), "..", "..", "integration", "blueprints", "canary.yml")
LABELS = {"drover.blueprint": "canary", "drover.cluster": "demo", "drover.service": "demo:1.0", "drover.version": "1.0",
          "drover.instance": "drover-canary-demo-demo_1.0-1", "drover.slot": "1", "drover.port": "8080"}

# the shape `podman inspect` (containers.podman.podman_container_info) gives, trimmed to what the filter reads
PODMAN = {
    "Id": "ab12", "Name": "drover-canary-demo-demo_1.0-1", "ImageName": "localhost/drover-demo:1.0", "State": {"Running": False},
    "Config": {"Labels": dict(LABELS, **{"io.drover.demo.version": "1.0"})},
    "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "20001"}], "53/udp": [{"HostPort": "5353"}]}},
    "NetworkSettings": {"Ports": {}},
}
# the list form of community.docker.docker_host_info with verbose_output
DOCKER = {"Id": "cd34", "Names": ["/drover-canary-demo-demo_1.0-1"], "Image": "localhost/drover-demo:1.0", "State": "running",
          "Labels": LABELS, "Ports": [{"PrivatePort": 8080, "PublicPort": 20001, "Type": "tcp"}]}
OTHER = {"Id": "ef56", "Name": "unrelated", "Config": {"Labels": {"app": "x"}}, "State": {"Running": True}}


@pytest.mark.parametrize("container, running", [(PODMAN, False), (DOCKER, True)])
def test_fleet_instances_reads_podman_and_docker_shapes(container, running):
    found = fleet_instances([container, OTHER], host="app1", address="10.0.0.11")
    assert len(found) == 1
    entry = found[0]
    assert (entry["name"], entry["host"], entry["address"], entry["running"]) == ("drover-canary-demo-demo_1.0-1", "app1", "10.0.0.11", running)
    assert (entry["key"], entry["slot"], entry["version"], entry["host_port"]) == ("canary/demo/demo:1.0", 1, "1.0", 20001)
    assert entry["ports"] == {"8080": 20001} and entry["image"] == "localhost/drover-demo:1.0"


def test_fleet_instances_filters_by_blueprint_and_checks_its_input():
    assert fleet_instances([PODMAN], host="app1", blueprint="other") == []
    assert fleet_instances([PODMAN], host="app1")[0]["address"] == "app1"
    with pytest.raises(AnsibleFilterError, match="expects a list of containers"):
        fleet_instances({"containers": []}, host="app1")
    with pytest.raises(AnsibleFilterError, match="needs host="):
        fleet_instances([], host="")


def test_fleet_instances_reports_a_malformed_container_as_a_filter_error():
    broken = dict(DOCKER, Ports=[{"PrivatePort": "web", "PublicPort": 20001, "Type": "tcp"}])
    with pytest.raises(AnsibleFilterError, match="drover.fleet.fleet_instances: invalid literal"):
        fleet_instances([broken], host="app1")


def test_drain_servers_filter_matches_the_plan_removals_with_the_servers():
    plan = {"remove": [{"address": "10.0.0.11", "host_port": 20001, "container_name": "c", "host": "app1"}]}
    servers = [{"backend": "bk", "server": "slot1", "address": "10.0.0.11", "port": 20001, "state": "drain"},
               {"backend": "bk", "server": "slot2", "address": "10.0.0.12", "port": 20001, "state": "ready"}]
    assert drain_servers(plan, servers) == [{"backend": "bk", "server": "slot1", "address": "10.0.0.11", "port": 20001, "state": "drain",
                                             "drain": True}]
    with pytest.raises(AnsibleFilterError, match="drover.fleet.drain_servers: the servers must be a list"):
        drain_servers(plan, {"servers": servers})


def test_placement_plan_filter_round_trip_from_found_containers():
    hosts = [{"name": f"app{i}", "address": f"10.0.0.1{i}", "zone": f"zone-{i}", "ports_in_use": [22]} for i in (1, 2, 3)]
    first = placement_plan(BLUEPRINT, hosts, [], port_range="20000-20010")
    assert [item["container_name"] for item in first["start"]] == [
        "drover-canary-demo-demo_1.0-1", "drover-canary-demo-demo_1.0-2", "drover-canary-demo-demo_1.1-1"]
    # the containers those instances become, as fleet_instances reports them, plan to nothing at all
    found = []
    for item in first["instances"]:
        inspect = {"Name": item["container_name"], "ImageName": item["image"], "State": {"Running": True},
                   "Config": {"Labels": item["labels"]},
                   "HostConfig": {"PortBindings": {f"{port}/tcp": [{"HostPort": str(host_port)}] for port, host_port in item["ports"].items()}}}
        found += fleet_instances([inspect], host=item["host"], address=item["address"])
    again = placement_plan(BLUEPRINT, hosts, found, port_range=[20000, 20010])
    assert not again["changed"] and again["renderer_instances"] == first["renderer_instances"] == again["running_instances"]
    gone = placement_plan(BLUEPRINT, hosts, found, state="absent")
    assert sorted(item["container_name"] for item in gone["remove"]) == sorted(item["name"] for item in found)


@pytest.mark.parametrize("kwargs, message", [
    ({"port_range": "20000"}, "port_range must be"),
    ({"state": "gone"}, "state must be present, absent or current"),
    ({"blueprint": 3}, "blueprint must be a name"),
    ({"containers": "x"}, "containers must be a list"),
    ({"blueprint": "missing"}, "no blueprint named missing"),
])
def test_placement_plan_filter_reports_bad_input(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        placement_plan(BLUEPRINT, [{"name": "app1"}], **kwargs)


def test_placement_plan_filter_reports_dsl_errors_with_their_location():
    with pytest.raises(AnsibleFilterError, match=r"<input>:5:16: clusters\.c\.services\[0\]\.breed: unknown breed 'nope'"):
        placement_plan("name: x\nclusters:\n  c:\n    services:\n      - breed: nope\n", [{"name": "app1"}])


def test_mask_secrets_hides_the_key_and_every_cookie_key_line():
    result = {"diff": [{"before": "    dynamic-cookie-key oldsecret1\n", "after": "    dynamic-cookie-key newsecret99\n"}],
              "msg": "rendered with newsecret99", "n": 3}
    masked = mask_secrets(result, ["newsecret99"])
    assert masked["diff"][0] == {"before": f"    dynamic-cookie-key {MASK}\n", "after": f"    dynamic-cookie-key {MASK}\n"}
    assert masked["msg"] == f"rendered with {MASK}" and masked["n"] == 3


def test_instances_from_data_and_render_options():
    instances = instances_from_data({"a/b/c": [{"slot": "2", "address": "10.0.0.1", "port": "20001", "name": "n", "extra": 1}]})
    assert instances == {"a/b/c": [Instance(slot=2, address="10.0.0.1", port=20001, name="n")]}
    with pytest.raises(DroverError, match="needs slot, address and port"):
        instances_from_data({"a/b/c": [{"slot": 1}]})
    args = {"bind_address": "127.0.0.1", "admin_socket": "/run/a.sock", "server_state_file": "/tmp/s", "default_slots": 4,
            "dynamic_cookie_key": "", "stats_bind": "", "render_options": {"retries": 5}}
    options = render_options(args)
    assert (options.retries, options.default_slots, options.dynamic_cookie_key, options.stats_bind) == (5, 4, None, None)
    with pytest.raises(DroverError, match="unknown setting"):
        render_options(dict(args, render_options={"bind_address": "x"}))
