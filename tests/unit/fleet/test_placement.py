"""Placement: slots, hosts, zones and host ports for a blueprint's containers (plugins/module_utils/fleet/placement.py)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    ArtifactSet, Blueprint, Breed, Cluster, Escalation, HealthCheck, Port, Reference, Scale, Service, Sla,
)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.plugins.module_utils.fleet.placement import (
    HostCandidate, PlacementError, PlacementOptions, RunningContainer, candidates_from_data, container_name, drain_servers, image_version,
    plan_data, plan_placement, running_from_data,
)

KEY_OLD = "shop/web/demo:1.0"
KEY_NEW = "shop/web/demo:1.1"


def artifacts(old: int = 3, new: int = 1, maximum: int = 8) -> ArtifactSet:
    """A blueprint with two versions of one service in one cluster, and an SLA that may scale to `maximum`."""
    check = HealthCheck(path="/ready", port="web")
    old_breed = Breed(name="demo:1.0", deployable="localhost/drover-demo:1.0", ports=[Port("web", 8080)], health_checks=[check],
                      environment_variables={"mode": "blue"}, env_aliases={"mode": "DEMO_MODE"})
    new_breed = Breed(name="demo:1.1", deployable="docker://localhost/drover-demo:1.1", ports=[Port("web", 8080), Port("admin", 9090)])
    sla = Sla(type="response_time_sliding_window", escalations=[Escalation(type="to_all", escalations=[
        Escalation(type="scale_instances", minimum=1, maximum=maximum, scale_by=1),
        Escalation(type="scale_cpu", minimum=0.1, maximum=2, scale_by=0.1)])])
    cluster = Cluster(name="web", sla=sla, services=[
        Service(breed=Reference("breed", "demo:1.0"), scale=Scale(cpu=0.5, memory_mb=64, instances=old), environment_variables={"EXTRA": "1"}),
        Service(breed=new_breed, scale=Reference("scale", "small")),
    ])
    return ArtifactSet(breeds={"demo:1.0": old_breed, "demo:1.1": new_breed}, scales={"small": Scale(cpu=0.25, memory_mb=32.4, instances=new)},
                       blueprints={"shop": Blueprint(name="shop", clusters=[cluster])})


def hosts(count: int = 4, zones: int = 3, busy: dict | None = None) -> list[HostCandidate]:
    busy = busy or {}
    return [HostCandidate(f"app{i}", f"10.0.0.{i}", f"zone-{'abc'[i % zones]}", frozenset(busy.get(f"app{i}", ()))) for i in range(1, count + 1)]


def apply(plan, candidates: list[HostCandidate]) -> tuple[list[RunningContainer], list[HostCandidate]]:
    """The fleet a plan produces: its containers run and their host ports listen."""
    running = [RunningContainer(host=item.host, name=item.container_name, labels=dict(item.labels), ports=dict(item.ports), image=item.image,
                                address=item.address) for item in plan.instances]
    listening = {}
    for item in plan.instances:
        listening.setdefault(item.host, set()).update(item.ports.values())
    updated = [HostCandidate(host.name, host.address, host.zone, host.ports_in_use | frozenset(listening.get(host.name, ()))) for host in candidates]
    return running, updated


def service(plan, key):
    return next(item for item in plan.services if item.key == key)


def test_fresh_plan_starts_every_instance_with_labels_limits_and_readiness():
    plan = plan_placement(artifacts(), {"*": hosts()}, [])
    assert [item.slot for item in service(plan, KEY_OLD).instances] == [1, 2, 3]
    assert [item.slot for item in service(plan, KEY_NEW).instances] == [1]
    assert not plan.remove and len(plan.start) == 4 and not plan.keep
    first = service(plan, KEY_OLD).instances[0]
    assert first.container_name == "drover-shop-web-demo_1.0-1"
    assert first.labels == {"drover.blueprint": "shop", "drover.cluster": "web", "drover.service": "demo:1.0", "drover.version": "1.0",
                            "drover.instance": "drover-shop-web-demo_1.0-1", "drover.slot": "1", "drover.port": "8080"}
    assert first.environment == {"DEMO_MODE": "blue", "EXTRA": "1"}
    assert (first.cpus, first.memory) == (0.5, "64m")
    assert first.ready_url == f"http://{first.address}:{first.host_port}/ready"
    assert first.publish == [f"{first.host_port}:8080"]
    newer = service(plan, KEY_NEW).instances[0]
    assert newer.image == "localhost/drover-demo:1.1" and newer.version == "1.1"
    assert newer.memory == "32m" and newer.ready_url is None
    assert sorted(newer.ports) == [8080, 9090] and newer.publish[0] == f"{newer.host_port}:8080"


def test_instances_spread_over_zones_then_hosts():
    plan = plan_placement(artifacts(old=6, new=0), {"*": hosts(count=6, zones=3)}, [])
    placed = service(plan, KEY_OLD).instances
    assert sorted(item.zone for item in placed) == ["zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"]
    assert len({item.host for item in placed}) == 6


def test_ports_skip_those_in_use_and_stay_in_range():
    busy = {"app1": {20000, 20001, 20003}}
    plan = plan_placement(artifacts(old=2, new=2), {"*": hosts(count=1, zones=1, busy=busy)}, [], options=PlacementOptions(port_range=(20000, 20010)))
    used = sorted(port for item in plan.instances for port in item.ports.values())
    assert used == [20002, 20004, 20005, 20006, 20007, 20008]


def test_no_free_port_is_an_error():
    with pytest.raises(PlacementError, match="no free port left in 20000-20001"):
        plan_placement(artifacts(old=3, new=0), {"*": hosts(count=1, zones=1)}, [], options=PlacementOptions(port_range=(20000, 20001)))


def test_second_plan_on_the_fleet_it_produced_changes_nothing():
    candidates = hosts()
    first = plan_placement(artifacts(), {"*": candidates}, [])
    running, candidates = apply(first, candidates)
    second = plan_placement(artifacts(), {"*": candidates}, running)
    assert not second.changed and not second.start and not second.remove
    assert plan_data(second)["instances"] == [dict(item, action="keep") for item in plan_data(first)["instances"]]


def test_scale_in_removes_highest_slots_and_scale_out_fills_lowest_free():
    candidates = hosts()
    running, candidates = apply(plan_placement(artifacts(old=5), {"*": candidates}, []), candidates)
    smaller = plan_placement(artifacts(old=2), {"*": candidates}, running)
    assert [(item.slot, item.reason) for item in smaller.remove] == [(5, "scale in"), (4, "scale in"), (3, "scale in")]
    assert [item.slot for item in service(smaller, KEY_OLD).instances] == [1, 2] and not smaller.start
    # an instance lost outside drover leaves a hole: the next plan refills exactly that slot
    hole = [item for item in running if item.labels["drover.slot"] != "2" or item.labels["drover.service"] != "demo:1.0"]
    refilled = plan_placement(artifacts(old=5), {"*": candidates}, hole)
    assert [(item.slot, item.service) for item in refilled.start] == [(2, "demo:1.0")]


def test_the_servers_to_drain_are_those_at_a_removed_container_address_and_port():
    """What the deploy role drains before a scale-in: the load balancer's servers (haproxy_info's) that point at a
    container the plan removes, wherever they are; one in maintenance already only stays there."""
    candidates = hosts()
    running, candidates = apply(plan_placement(artifacts(old=3), {"*": candidates}, []), candidates)
    smaller = plan_data(plan_placement(artifacts(old=2), {"*": candidates}, running))
    [leaving] = smaller["remove"]
    kept = smaller["keep"][0]

    def server(name, address, port, state="ready"):
        return {"backend": "bk_x", "server": name, "address": address, "port": port, "state": state, "weight": 1}

    servers = [server("slot1", kept["address"], kept["host_port"]), server("slot3", leaving["address"], leaving["host_port"]),
               server("slot9", leaving["address"], str(leaving["host_port"]), "maint"), server("slot4", "0.0.0.0", 0, "maint"),
               server("slot5", leaving["address"], leaving["host_port"] + 1)]
    assert drain_servers(smaller, servers) == [
        {"backend": "bk_x", "server": "slot3", "address": leaving["address"], "port": leaving["host_port"], "state": "ready", "drain": True},
        {"backend": "bk_x", "server": "slot9", "address": leaving["address"], "port": str(leaving["host_port"]), "state": "maint", "drain": False},
    ]
    assert drain_servers(plan_data(plan_placement(artifacts(old=3), {"*": candidates}, running)), servers) == []
    with pytest.raises(PlacementError, match="placement_plan's result"):
        drain_servers([leaving], servers)
    with pytest.raises(PlacementError, match="haproxy_info's servers"):
        drain_servers(smaller, "slot3")


def test_host_leaving_the_group_moves_its_instances_to_a_free_slot_first():
    candidates = hosts(count=3)
    running, candidates = apply(plan_placement(artifacts(old=3, new=0), {"*": candidates}, []), candidates)
    gone = next(item for item in running if item.host == "app2")
    plan = plan_placement(artifacts(old=3, new=0), {"*": [host for host in candidates if host.name != "app2"]}, running)
    assert [(item.container_name, item.reason) for item in plan.remove] == [(gone.name, "host is no longer in the cluster's group")]
    # the leaving container's slot is drained before anything reuses it, so the replacement takes slot 4
    assert [(item.slot, item.host != "app2") for item in plan.start] == [(4, True)]


def test_duplicates_wrong_names_and_unknown_services_are_removed():
    candidates = hosts()
    running, candidates = apply(plan_placement(artifacts(old=1, new=1), {"*": candidates}, []), candidates)
    twin = RunningContainer("app4", "drover-shop-web-demo_1.0-1", dict(running[0].labels), {8080: 21000})
    stray_labels = {"drover.blueprint": "shop", "drover.cluster": "web", "drover.service": "old", "drover.slot": "1", "drover.port": "8080"}
    other_labels = {"drover.blueprint": "other", "drover.cluster": "x", "drover.service": "y", "drover.slot": "1", "drover.port": "8080"}
    stray = RunningContainer("app1", "drover-shop-web-old-1", stray_labels, {8080: 21001})
    other = RunningContainer("app1", "drover-other-x-y-1", other_labels, {8080: 21002})
    plan = plan_placement(artifacts(old=1, new=1), {"*": candidates}, running + [twin, stray, other], blueprints=["shop"])
    reasons = {(item.host, item.container_name): item.reason for item in plan.remove}
    assert reasons[("app4", twin.name)].startswith("slot 1 is already held by")
    assert reasons[("app1", stray.name)] == "service no longer in the blueprint"
    assert ("app1", other.name) not in reasons and not plan.start


def test_desired_counts_override_and_slot_limit():
    plan = plan_placement(artifacts(old=1), {"*": hosts()}, [], options=PlacementOptions(desired_counts={KEY_OLD: 4}))
    assert len(service(plan, KEY_OLD).instances) == 4
    with pytest.raises(PlacementError, match="9 instances wanted but the backend has 8 slots"):
        plan_placement(artifacts(), {"*": hosts()}, [], options=PlacementOptions(desired_counts={KEY_OLD: 9}, slots={KEY_OLD: 8}))


def test_cluster_without_hosts_and_unknown_blueprint_are_errors():
    with pytest.raises(PlacementError, match="shop/web/demo:1.0: no host may run cluster web"):
        plan_placement(artifacts(), {"db": hosts()}, [])
    # nothing to start needs no host: an undeploy with the group gone still plans
    assert not plan_placement(artifacts(), {"db": hosts()}, [], options=PlacementOptions(absent=True)).changed
    with pytest.raises(PlacementError, match="no blueprint named nope"):
        plan_placement(artifacts(), {"*": hosts()}, [], blueprints=["nope"])


def test_plan_ignores_the_order_of_its_inputs():
    candidates = hosts(count=5)
    running, candidates = apply(plan_placement(artifacts(old=4, new=2), {"*": candidates}, []), candidates)
    running = running[1:]  # lose one so that the plan has work to do
    reference = plan_data(plan_placement(artifacts(old=5, new=1), {"*": candidates}, running))
    shuffled_hosts, shuffled_running = list(candidates), list(running)
    random.Random(7).shuffle(shuffled_hosts)
    random.Random(8).shuffle(shuffled_running)
    assert plan_data(plan_placement(artifacts(old=5, new=1), {"*": shuffled_hosts}, shuffled_running)) == reference


@pytest.mark.parametrize("image, version", [
    ("localhost/drover-demo:1.1", "1.1"), ("registry:5000/team/app", "latest"), ("docker://magneticio/sava:1.0.0", "1.0.0"),
    ("app@sha256:abc", "latest"), ("app:2@sha256:abc", "2"),
])
def test_image_version(image, version):
    assert image_version(image) == version


def test_container_names_are_safe_for_container_engines():
    assert container_name("my bp", "c/1", "sava:1.0.0", 3) == "drover-my_bp-c_1-sava_1.0.0-3"
    assert container_name("a", "b", "::", 1) == "drover-a-b-x-1"


def test_services_whose_container_names_would_collide_are_refused():
    collide = artifacts()
    twin = Breed(name="demo_1.0", deployable="localhost/drover-demo:1.0", ports=[Port("web", 8080)])
    collide.breeds[twin.name] = twin
    collide.blueprints["shop"].clusters[0].services.append(Service(breed=twin, scale=Scale(cpu=0.1, memory_mb=32, instances=1)))
    with pytest.raises(PlacementError, match="both give container name drover-shop-web-demo_1.0-1"):
        plan_placement(collide, {"*": hosts()}, [])


def test_plain_data_round_trip():
    data = {"*": [{"name": "app1", "address": "10.0.0.1", "zone": "z1", "ports_in_use": [22, "20000"]}]}
    candidates = candidates_from_data(data)
    assert candidates["*"][0] == HostCandidate("app1", "10.0.0.1", "z1", frozenset({22, 20000}))
    running = running_from_data([{"host": "app1", "name": "n", "labels": {"drover.slot": "2", "drover.port": "8080"}, "ports": {"8080": "20001"}}])
    assert running[0].slot == 2 and running[0].host_port == 20001
    with pytest.raises(PlacementError, match="with host and name"):
        running_from_data([{"name": "n"}])


CANARY = """
---
kind: breeds
name: demo:1.0
deployable: localhost/drover-demo:1.0
ports: {web: 8080/http, admin: 9090/http}
health_checks: [{path: /ready, port: web}]
---
kind: breeds
name: demo:1.1
deployable: localhost/drover-demo:1.1
ports: {web: 8080/http, admin: 9090/http}
---
kind: blueprints
name: canary
gateways:
  9050/http: demo/web
  9051/http: demo/admin
clusters:
  demo:
    gateways:
      web:
        routes:
          demo:1.0: {weight: 90%}
          demo:1.1: {weight: 10%}
      admin:
        routes:
          demo:1.0: {weight: 0%}
          demo:1.1: {weight: 100%}
    services:
      - breed: demo:1.0
        scale: {cpu: 0.2, memory: 64MB, instances: 2}
      - breed: demo:1.1
        scale: {cpu: 0.2, memory: 64MB, instances: 1}
    sla:
      type: response_time_sliding_window
      threshold: {upper: 100, lower: 10}
      window: {interval: 60, cooldown: 60}
      escalations:
        - type: scale_instances
          minimum: 1
          maximum: 12
          scale_by: 1
"""


def test_slots_and_backends_come_from_the_routing_plan():
    plan = plan_placement(load_text(CANARY, "canary.yml"), {"*": hosts()}, [])
    old, new = service(plan, "canary/demo/demo:1.0"), service(plan, "canary/demo/demo:1.1")
    # the SLA may scale the cluster to 12: every service backend of the cluster has 12 slots
    assert (old.slots, new.slots) == (12, 12)
    assert len(old.backends) == len(new.backends) == 2
    assert all(name.startswith("bk_canary_demo_demo") for name in old.backends + new.backends)
    # without an SLA maximum a backend has the renderer's default slots
    plain = load_text(CANARY.split("    sla:", maxsplit=1)[0], "plain.yml")
    assert service(plan_placement(plain, {"*": hosts()}, [], options=PlacementOptions(default_slots=5)), "canary/demo/demo:1.0").slots == 5


def test_renderer_instances_carry_each_port_of_a_multi_port_breed():
    plan = plan_placement(load_text(CANARY, "canary.yml"), {"*": hosts()}, [])
    instances = plan.renderer_instances()
    assert sorted(instances) == ["canary/demo/demo:1.0", "canary/demo/demo:1.0/admin", "canary/demo/demo:1.0/web",
                                 "canary/demo/demo:1.1", "canary/demo/demo:1.1/admin", "canary/demo/demo:1.1/web"]
    new = service(plan, "canary/demo/demo:1.1").instances[0]
    assert instances["canary/demo/demo:1.1/admin"][0].port == new.ports[9090] != new.ports[8080] == instances["canary/demo/demo:1.1"][0].port
    assert instances["canary/demo/demo:1.0"][0].name == "drover-canary-demo-demo_1.0-1"


def test_absent_removes_every_container_of_the_blueprint_and_starts_nothing():
    artifacts_ = load_text(CANARY, "canary.yml")
    candidates = hosts()
    running, candidates = apply(plan_placement(artifacts_, {"*": candidates}, []), candidates)
    gone = plan_placement(artifacts_, {"*": candidates}, running, options=PlacementOptions(absent=True))
    assert not gone.instances and {item.container_name for item in gone.remove} == {item.name for item in running}
    assert {item.reason for item in gone.remove} == {"undeploy"}
    # each removal says where its HAProxy servers point, so that they are drained first
    where = {(c.address, c.host_port) for c in running}
    assert {(item.address, item.host_port) for item in gone.remove} == where and len(where) == len(running)


def test_current_keeps_what_runs_whatever_the_scale_says():
    candidates = hosts()
    running, candidates = apply(plan_placement(artifacts(old=3, new=1), {"*": candidates}, []), candidates)
    running = [item for item in running if item.name != "drover-shop-web-demo_1.0-2"]
    plan = plan_placement(artifacts(old=1, new=4), {"*": candidates}, running, options=PlacementOptions(current=True))
    assert not plan.changed
    assert [item.slot for item in service(plan, KEY_OLD).instances] == [1, 3] and len(service(plan, KEY_NEW).instances) == 1


def test_new_services_go_where_fewer_containers_run():
    # the first service fills zone-a and zone-b; the second service's single instance goes to the emptier zone-c
    plan = plan_placement(artifacts(old=2, new=1), {"*": hosts(count=3, zones=3)}, [])
    zones = {item.service: item.zone for item in plan.instances if item.service == "demo:1.1"}
    old_zones = sorted(item.zone for item in plan.instances if item.service == "demo:1.0")
    assert zones["demo:1.1"] not in old_zones and len(set(old_zones)) == 2


# ---- properties -----------------------------------------------------------------------------------------------

fleets = st.fixed_dictionaries({
    "hosts": st.integers(min_value=1, max_value=7),
    "zones": st.integers(min_value=1, max_value=3),
    "busy": st.lists(st.integers(min_value=20000, max_value=20040), max_size=15),
    "counts": st.lists(st.tuples(st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=8)), min_size=1, max_size=5),
})


def check_invariants(plan, candidates: list[HostCandidate], port_range=(20000, 29999)):
    by_host = {}
    for item in plan.instances:
        for port in item.ports.values():
            assert port_range[0] <= port <= port_range[1]
            assert (item.host, port) not in by_host, f"port {port} twice on {item.host}"
            by_host[(item.host, port)] = item.container_name
    busy = {host.name: host.ports_in_use for host in candidates}
    for item in plan.start:
        assert not set(item.ports.values()) & busy[item.host], "a new instance took a port in use"
    zones = sorted({host.zone for host in candidates})
    for svc in plan.services:
        slots = [item.slot for item in svc.instances]
        assert len(set(slots)) == len(slots) == svc.desired and all(1 <= slot <= svc.slots for slot in slots)
        per_zone = [sum(1 for item in svc.instances if item.zone == zone) for zone in zones]
        assert max(per_zone) - min(per_zone) <= 1, f"{svc.key} unbalanced over zones: {per_zone}"


@settings(max_examples=60, deadline=None)
@given(fleets)
def test_property_plans_stay_collision_free_balanced_and_stable(fleet):
    candidates = hosts(count=fleet["hosts"], zones=min(fleet["zones"], fleet["hosts"]), busy={"app1": set(fleet["busy"])})
    running = []
    for old, new in fleet["counts"]:
        blueprint = artifacts(old=max(old, 1), new=max(new, 1))
        counts = {KEY_OLD: old, KEY_NEW: new}
        plan = plan_placement(blueprint, {"*": candidates}, running, options=PlacementOptions(desired_counts=counts))
        check_invariants(plan, candidates)
        before = {(item.host, item.labels["drover.slot"], item.service): item.ports for item in running}
        for item in plan.keep:
            assert before[(item.host, str(item.slot), item.service)] == item.ports, "a kept instance moved"
        kept_slots = {(item.service, item.slot) for item in plan.keep}
        for removal in plan.remove:
            assert all(slot < removal.slot for service_name, slot in kept_slots if removal.key.endswith(service_name))
        running, candidates = apply(plan, candidates)
        again = plan_placement(blueprint, {"*": candidates}, running, options=PlacementOptions(desired_counts=counts))
        assert not again.changed
        assert [(item.container_name, item.host, item.ports) for item in again.instances] == \
            [(item.container_name, item.host, item.ports) for item in plan.instances]
