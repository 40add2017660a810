"""The drover instances among a host's containers, in the shapes podman and docker report them
(plugins/module_utils/fleet/instances.py; the fleet_instances filter over it: tests/unit/plugins)."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.fleet.instances import find_instances

LABELS = {"drover.blueprint": "shop", "drover.cluster": "web", "drover.service": "demo:1.0", "drover.version": "1.0",
          "drover.instance": "drover-shop-web-demo_1.0-2", "drover.slot": "2", "drover.port": "8080"}
# podman inspect: the bindings in HostConfig, a udp port beside the tcp one
PODMAN = {"Id": "p1", "Name": "drover-shop-web-demo_1.0-2", "ImageName": "localhost/demo:1.0", "State": {"Running": True},
          "Config": {"Labels": LABELS}, "HostConfig": {"PortBindings": {"8080/tcp": [{"HostPort": "20002"}], "53/udp": [{"HostPort": "53"}]}}}
# docker inspect of a stopped container: no HostConfig bindings, the NetworkSettings ones, and the image in Config
DOCKER_INSPECT = {"Id": "d1", "Name": "/drover-shop-web-demo_1.0-3", "State": {"Running": False}, "Config": {"Labels": dict(LABELS, **{
    "drover.slot": "3"}), "Image": "localhost/demo:1.0"}, "NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "20003"}]}}}
# docker's list form: Names, Labels, Ports
DOCKER_LIST = {"Id": "d2", "Names": ["/drover-other-web-demo_1.0-1"], "Image": "localhost/demo:1.0", "State": "running",
               "Labels": dict(LABELS, **{"drover.blueprint": "other", "drover.slot": "1"}),
               "Ports": [{"PrivatePort": 8080, "PublicPort": 20004, "Type": "tcp"}, {"PrivatePort": 53, "PublicPort": 53, "Type": "udp"}]}
NOT_DROVER = {"Id": "x", "Name": "postgres", "Config": {"Labels": {"app": "db"}}, "State": {"Running": True}}


def test_every_shape_gives_the_same_fields_sorted_by_name():
    found = find_instances([DOCKER_LIST, NOT_DROVER, DOCKER_INSPECT, PODMAN], host="app1", address="10.0.0.1")
    assert [(i["name"], i["running"], i["slot"], i["ports"], i["host_port"], i["image"]) for i in found] == [
        ("drover-other-web-demo_1.0-1", True, 1, {"8080": 20004}, 20004, "localhost/demo:1.0"),
        ("drover-shop-web-demo_1.0-2", True, 2, {"8080": 20002}, 20002, "localhost/demo:1.0"),
        ("drover-shop-web-demo_1.0-3", False, 3, {"8080": 20003}, 20003, "localhost/demo:1.0"),
    ]
    assert {(i["host"], i["address"], i["key"], i["version"]) for i in found[1:]} == {("app1", "10.0.0.1", "shop/web/demo:1.0", "1.0")}


def test_only_the_blueprints_asked_for_and_the_host_as_address():
    found = find_instances([DOCKER_LIST, PODMAN], host="app1", blueprints=["shop"])
    assert [(i["name"], i["address"]) for i in found] == [("drover-shop-web-demo_1.0-2", "app1")]
