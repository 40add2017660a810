# -*- coding: utf-8 -*-
"""Gateways grouped by blueprint, and two load balancers compared (fleet/status.py parts, fleet/status_compare.py),
from the real answers of two real HAProxy 2.6 running the same rendered parts (two blueprints and a standalone
gateway, haproxy/parts.py layout: haproxy.cfg assembled from the head and drover.d/<part>.cfg) on loopback. Both bind
the same ports (HAProxy sets SO_REUSEPORT), each has its own directory and admin socket. One is then changed at
runtime (a weight, a condition strength, a drained server) and in one part file, as a runbook might on one host only.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import build_status, digest
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_compare import (
    ADDRESS, AVAILABILITY, CONFIG, PRESENCE, STATE, STRENGTH, WEIGHT, BalancerLook, compare_status)
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_source import LocalSource, NoAnswerError, collect_many, collect_status
from ansible_collections.drover.fleet.plugins.module_utils.haproxy import parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render_parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import ACL, RuntimeClient
from ansible_collections.drover.fleet.tests.support.haproxy_harness import start_haproxy, start_http_backends
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for
from ansible_collections.drover.fleet.tests.support.sava_haproxy import SAVA_EXAMPLE, SAVA_SERVERS, V1, V11, _master_lists_a_worker
from drover_cli.status_command import EXIT_DISAGREE, EXIT_ERROR, EXIT_HEALTHY, EXIT_PROBLEM, EXIT_UNREADABLE, group_exit_code
from drover_cli.status_text import render_group, render_status

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
T2_V1, T2_V11 = "team2/sava/sava:1.0.0", "team2/sava/sava:1.1.0"

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`"),
]


class Ports:
    def __init__(self):
        self.sava, self.team2, self.edge = free_port(), free_port(), free_port()


def artifacts(directory: Path, ports: Ports):
    """Blueprint sava (VAMP's canary), team2 (a copy), and the standalone gateway edge."""
    sava = SAVA_EXAMPLE.read_text(encoding="utf-8").replace("interval: 3s", "interval: 200ms")
    (directory / "sava.yml").write_text(sava.replace("9050/http", f"{ports.sava}/http"), encoding="utf-8")
    (directory / "team2.yml").write_text(sava.replace("name: sava\n", "name: team2\n").replace("9050/http", f"{ports.team2}/http"),
                                         encoding="utf-8")
    edge = (EXAMPLES / "gateway-external.yml").read_text(encoding="utf-8").replace("9060/http", f"{ports.edge}/http")
    (directory / "edge.yml").write_text(edge, encoding="utf-8")
    return load_paths([str(directory / name) for name in ("sava.yml", "team2.yml", "edge.yml")])


def instances(ports: dict) -> dict:
    found = {}
    for blueprint in ("sava", "team2"):
        found[f"{blueprint}/sava/sava:1.0.0"] = [Instance(1, "127.0.0.1", ports["v1a"]), Instance(2, "127.0.0.1", ports["v1b"])]
        found[f"{blueprint}/sava/sava:1.1.0"] = [Instance(1, "127.0.0.1", ports["v11"])]
    return found


class Balancer:
    """One load balancer on loopback in the parts layout: its directory, rendered parts and HAProxy."""

    def __init__(self, name: str, directory: Path, rendered, proxy):
        self.name, self.directory, self.rendered, self.proxy = name, directory, rendered, proxy

    @property
    def config_path(self) -> str:
        return str(self.directory / "haproxy.cfg")

    def part_file(self, part: str) -> Path:
        return Path(parts.part_path(self.config_path, part))

    def runtime(self) -> RuntimeClient:
        return RuntimeClient(self.proxy.admin_socket)

    def backend(self, target: str) -> str:
        return next(b.name for b in self.rendered.backends if b.target == target)

    def raw(self):
        return collect_status(LocalSource(), admin_socket=self.proxy.admin_socket, master_socket=self.proxy.master_socket)

    def look(self) -> BalancerLook:
        return BalancerLook(self.name, build_status(self.raw()))

    def all_up(self) -> bool:
        servers = [s for s in build_status(self.raw()).servers if not s.empty]
        return bool(servers) and all(s.availability == "UP" for s in servers)


@contextlib.contextmanager
def balancer(name: str, root: Path, loaded, backends, ports: Ports, skip: tuple = ()):
    """A real HAProxy serving the parts of `loaded` (less the parts in `skip`) from root/name."""
    directory = root / name
    directory.mkdir()
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(directory / "admin.sock"),
                            server_state_file=str(directory / "server-state"), log_target=None)
    rendered = render_parts(loaded, options, instances(backends.ports))
    kept = {part: text for part, text in rendered.parts.items() if part not in skip}
    files = {"haproxy.cfg": parts.assemble(rendered.head, kept)}
    for part, text in kept.items():
        files[f"{parts.PARTS_DIR}/{part}{parts.PART_SUFFIX}"] = text
        files.update(rendered.maps[part])
    with start_haproxy(files, directory, options.admin_socket, [ports.sava]) as proxy:
        wait_for(lambda: _master_lists_a_worker(proxy.master_socket), 10, message="the master CLI lists a worker")
        lb = Balancer(name, directory, rendered, proxy)
        wait_for(lb.all_up, 10, message=f"{name}: every server UP")
        yield lb


@pytest.fixture
def pair(tmp_path):
    ports = Ports()
    loaded = artifacts(tmp_path, ports)
    with start_http_backends(SAVA_SERVERS) as backends:
        with balancer("lb1", tmp_path, loaded, backends, ports) as lb1, balancer("lb2", tmp_path, loaded, backends, ports) as lb2:
            yield lb1, lb2


def by_subject(group) -> list:
    return sorted((d.subject, d.gateway, d.route, d.server, tuple(sorted(d.values.items()))) for d in group.differences)


# -- one load balancer: gateways grouped by blueprint ---------------------------------------------------------------


def test_gateways_are_grouped_by_the_part_that_owns_them(pair):
    lb1, _lb2 = pair
    status = build_status(lb1.raw())
    sava, team2, edge = status.parts
    assert [(p.part, p.kind, p.name) for p in status.parts] == [
        ("blueprint-sava", "blueprint", "sava"), ("blueprint-team2", "blueprint", "team2"), ("gateway-edge", "gateway", "edge")]
    labels = {g.label: g.part for g in status.gateways}
    assert {label: part for label, part in labels.items() if part} == {
        sava.gateways[0]: "blueprint-sava", team2.gateways[0]: "blueprint-team2", "edge": "gateway-edge"}
    assert sava.gateways[0].startswith("sava/") and team2.gateways[0].startswith("team2/") and edge.gateways == ["edge"]
    # the digest of the part file the deploy wrote, found beside the running haproxy.cfg
    for part in status.parts:
        assert part.config_file == str(lb1.part_file(part.part))
        assert part.config_digest == digest(lb1.part_file(part.part).read_text(encoding="utf-8"))
    data = status.as_dict()
    assert data["blueprints"]["sava"] == {"part": "blueprint-sava", "gateways": sava.gateways, "config_file": sava.config_file,
                                          "config_digest": sava.config_digest, "healthy": True}
    assert list(data["blueprints"]) == ["sava", "team2"] and list(data["standalone_gateways"]) == ["edge"]
    assert {g["label"]: g["part"] for g in data["gateways"] if g["part"]} == {label: part for label, part in labels.items() if part}

    text = render_status(status).splitlines()
    rows = text[text.index("BLUEPRINTS") + 2:text.index("GATEWAYS") - 1]
    assert [row.split()[:2] for row in rows] == [["sava", sava.gateways[0]], ["team2", team2.gateways[0]], ["edge", "(standalone"]]
    assert all(f"drover.d/{part.part}.cfg" in row and part.config_digest[:12] in row for part, row in zip(status.parts, rows))
    gateway_rows = text[text.index("GATEWAYS") + 2:text.index("ROUTES") - 1]
    assert [row.split()[0] for row in gateway_rows] == [sava.gateways[0], team2.gateways[0], "edge"]


def test_a_single_file_load_balancer_has_no_part_file(pair, tmp_path):
    lb1, _lb2 = pair
    for part in ("blueprint-sava", "blueprint-team2", "gateway-edge"):
        lb1.part_file(part).unlink()
    status = build_status(lb1.raw())
    assert [(p.part, p.config_digest) for p in status.parts] == [("blueprint-sava", None), ("blueprint-team2", None), ("gateway-edge", None)]
    assert "no part file" in render_status(status)


# -- two load balancers ----------------------------------------------------------------------------------------------


def test_two_load_balancers_that_agree_show_each_gateway_once(pair):
    lb1, lb2 = pair
    assert lb1.rendered.parts == lb2.rendered.parts
    group = compare_status([lb1.look(), lb2.look()], group="loadbalancers")
    assert group.agree and group.healthy and group.differences == [] and group_exit_code(group) == EXIT_HEALTHY
    single = lb1.look().status
    assert [g.label for g in group.gateways] == [g.label for g in single.gateways if g.part] + [g.label for g in single.gateways if not g.part]
    assert [(r.gateway_label, r.label) for r in group.routes] == [(r.gateway_label, r.label) for r in single.routes]
    assert len(group.servers) == len(single.servers)
    assert [(p.part, p.agree, set(p.config_digests)) for p in group.parts] == [
        ("blueprint-sava", True, {"lb1", "lb2"}), ("blueprint-team2", True, {"lb1", "lb2"}), ("gateway-edge", True, {"lb1", "lb2"})]
    data = group.as_dict()
    assert data["agree"] is True and data["differences"] == [] and list(data["blueprints"]) == ["sava", "team2"]
    assert data["blueprints"]["sava"]["config_digests"]["lb1"] == data["blueprints"]["sava"]["config_digests"]["lb2"]
    assert [lb["name"] for lb in data["load_balancers"]] == ["lb1", "lb2"] and all(lb["read"] for lb in data["load_balancers"])
    text = render_group(group, "inventory.ini").splitlines()
    assert text[0] == "group loadbalancers of inventory.ini: 2 load balancer(s), 2 read"
    assert text[text.index("DIFFERENCES") + 1] == "(none: lb1, lb2 agree)"
    assert not any(word.endswith("*") for word in "\n".join(text[text.index("GATEWAYS"):text.index("DIFFERENCES")]).split())


def test_requests_on_both_are_summed_in_the_merged_view(pair):
    lb1, lb2 = pair
    sava_label = build_status(lb1.raw()).parts[0].gateways[0]
    before = {look.name: next(g for g in look.status.gateways if g.label == sava_label).requests for look in (lb1.look(), lb2.look())}
    group = compare_status([lb1.look(), lb2.look()])
    merged = next(g for g in group.gateways if g.label == sava_label)
    assert merged.requests == before["lb1"] + before["lb2"]


def test_a_weight_a_strength_a_drain_and_a_part_file_changed_on_one_are_differences(pair):
    lb1, lb2 = pair
    client = lb2.runtime()
    sava_map = next(info for info in client.show_maps() if "sava" in Path(info.file).name and info.file.endswith(".map")
                    and lb2.backend(V1) in client.raw(f"show map #{info.id}"))
    client.replace_map(sava_map.ref, [("0:6999", lb2.backend(V1)), ("7000:9999", lb2.backend(V11))])
    strength = next(info for info in client.show_maps(ACL) if "sava" in Path(info.file).name and info.file.endswith(".acl"))
    client.replace_map(strength.ref, [("0:1999", "")], kind=ACL)
    client.set_state(lb2.backend(T2_V1), "slot2", "drain")
    team2_file = lb2.part_file("blueprint-team2")
    team2_file.write_text(team2_file.read_text(encoding="utf-8") + "# edited by hand on lb2\n", encoding="utf-8")

    group = compare_status([lb1.look(), lb2.look()], group="loadbalancers")
    status1 = build_status(lb1.raw())
    sava_label, team2_label = status1.parts[0].gateways[0], status1.parts[1].gateways[0]
    condition = next(r for r in status1.routes if r.label == V11).conditions[0].condition
    digests = {lb.name: digest(lb.part_file("blueprint-team2").read_text(encoding="utf-8")) for lb in (lb1, lb2)}
    assert by_subject(group) == sorted([
        (WEIGHT, sava_label, V1, None, (("lb1", 90.0), ("lb2", 70.0))),
        (WEIGHT, sava_label, V11, None, (("lb1", 10.0), ("lb2", 30.0))),
        (STRENGTH, sava_label, V11, None, (("lb1", 50.0), ("lb2", 20.0))),
        (STATE, team2_label, T2_V1, "slot2", (("lb1", "ready"), ("lb2", "drain"))),
        (CONFIG, None, None, None, tuple(sorted(digests.items()))),
    ])
    assert next(d for d in group.differences if d.subject == STRENGTH).detail == condition
    # the part's difference comes first within its blueprint, blueprints in order
    assert [(d.part, d.subject) for d in group.differences] == [
        ("blueprint-sava", WEIGHT), ("blueprint-sava", WEIGHT), ("blueprint-sava", STRENGTH),
        ("blueprint-team2", CONFIG), ("blueprint-team2", STATE)]
    assert [(p.part, p.agree) for p in group.parts] == [("blueprint-sava", False), ("blueprint-team2", False), ("gateway-edge", True)]
    assert group.healthy and not group.agree and group_exit_code(group) == EXIT_DISAGREE

    data = group.as_dict()
    assert data["agree"] is False and data["blueprints"]["team2"]["agree"] is False and data["standalone_gateways"]["edge"]["agree"] is True
    weight = next(d for d in data["differences"] if d["subject"] == WEIGHT and d["route"] == V1)
    assert weight == {"subject": "weight", "part": "blueprint-sava", "gateway": sava_label, "route": V1, "server": None, "detail": None,
                      "values": {"lb1": 90.0, "lb2": 70.0}}

    text = render_group(group).splitlines()
    rows = [row.split() for row in text[text.index("DIFFERENCES") + 2:]]
    assert text[text.index("DIFFERENCES") + 1].split() == ["BLUEPRINT", "GATEWAY", "WHAT", "lb1", "lb2"]
    assert ["sava", sava_label, "weight", "of", V1, "90%", "70%"] in rows
    assert ["team2", team2_label, "state", "of", T2_V1, "slot2", "ready", "drain"] in rows
    assert ["team2", "-", "part", "file", "digest", digests["lb1"][:12], digests["lb2"][:12]] in rows
    blueprints = {row.split()[0]: row.split() for row in text[text.index("BLUEPRINTS") + 2:text.index("GATEWAYS") - 1]}
    assert blueprints["sava"][-2:] == ["DISAGREE", "ok"] and blueprints["team2"][2] == "differs" and blueprints["edge"][-2:] == ["agree", "ok"]
    routes = {row.split()[1]: row for row in text[text.index("ROUTES") + 2:text.index("SERVERS") - 1]}
    # the gateway is shown once, its disagreeing weight marked (lb1's value: the first load balancer's)
    assert "90%*" in routes[V1] and "90%*" not in routes[T2_V1]
    servers = [row.split() for row in text[text.index("SERVERS") + 2:] if row.startswith(T2_V1)]
    assert ["slot2", "ready*"] == [servers[1][1], servers[1][3]]


def test_a_gateway_one_load_balancer_lacks_and_a_server_address(tmp_path):
    ports = Ports()
    loaded = artifacts(tmp_path, ports)
    with start_http_backends(SAVA_SERVERS) as backends:
        with balancer("lb1", tmp_path, loaded, backends, ports) as lb1, \
                balancer("lb2", tmp_path, loaded, backends, ports, skip=("blueprint-team2",)) as lb2:
            client = lb2.runtime()
            client.set_state(lb2.backend(V11), "slot1", "maint")
            client.raw(f"set server {lb2.backend(V11)}/slot1 addr 127.0.0.2 port {backends.ports['v11']}")
            group = compare_status([lb1.look(), lb2.look()])
            team2_label = next(g.label for g in group.gateways if g.part == "blueprint-team2")
            presence = [d for d in group.differences if d.subject == PRESENCE]
            assert [(d.gateway, d.values) for d in presence] == [(team2_label, {"lb1": True, "lb2": False})]
            # nothing else is said of team2: lb2 has none of it
            assert {d.subject for d in group.differences if d.part == "blueprint-team2"} == {PRESENCE}
            by_server = {d.subject: d.values for d in group.differences if d.server == "slot1" and d.route == V11}
            port = backends.ports["v11"]
            assert by_server[ADDRESS] == {"lb1": f"127.0.0.1:{port}", "lb2": f"127.0.0.2:{port}"}
            assert by_server[STATE] == {"lb1": "ready", "lb2": "maint"} and by_server[AVAILABILITY] == {"lb1": "UP", "lb2": "MAINT"}
            # lb2 sends 1.1.0's 10% to a route without a server: a problem, which goes before the disagreement
            assert group.problems and all(p.startswith("lb2: ") for p in group.problems)
            assert group_exit_code(group) == EXIT_PROBLEM
            text = render_group(group)
            assert f"{team2_label}*" in text and "serves it" in text and "absent" in text


def test_a_load_balancer_that_cannot_be_read_is_shown_as_such(pair):
    lb1, _lb2 = pair
    group = compare_status([lb1.look(), BalancerLook("lb2", error="cannot reach lb2 over SSH: timed out")], group="loadbalancers")
    assert [look.name for look in group.unreadable] == ["lb2"] and not group.healthy and group.agree
    assert group_exit_code(group) == EXIT_UNREADABLE
    data = group.as_dict()
    assert data["load_balancers"][1] == {"name": "lb2", "read": False, "error": "cannot reach lb2 over SSH: timed out", "vip": None,
                                         "healthy": None, "status": None}
    text = render_group(group).splitlines()
    assert text[0] == "group loadbalancers: 2 load balancer(s), 1 read"
    assert "- lb2: cannot reach lb2 over SSH: timed out" in text
    assert text[text.index("DIFFERENCES") + 1] == "(fewer than two load balancers read: nothing to compare)"
    nothing = compare_status([BalancerLook("lb1", error="x"), BalancerLook("lb2", error="y")])
    assert group_exit_code(nothing) == EXIT_ERROR


def test_vip_holder_from_the_addresses(pair):
    lb1, lb2 = pair
    looks = [lb1.look(), lb2.look()]
    looks[0].vip, looks[1].vip = False, True
    group = compare_status(looks, group="loadbalancers", vip="10.0.0.250")
    assert group.vip_holders() == ["lb2"] and group.as_dict()["vip"] == {"address": "10.0.0.250", "holders": ["lb2"]}
    text = render_group(group).splitlines()
    assert text[0].endswith("; VIP 10.0.0.250 held by lb2")
    rows = {row.split()[0]: row.split() for row in text[text.index("LOAD BALANCERS") + 2:text.index("LOAD BALANCERS") + 4]}
    assert rows["lb1"][1:3] == ["ok", "no"] and rows["lb2"][1:3] == ["ok", "holds"]


# -- reading several at once -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def silent_socket(path: Path):
    """A unix socket that accepts connections and never answers: a load balancer that hangs."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        server.close()


def test_collect_many_reads_in_parallel_and_hung_ones_do_not_hold_up_the_others(pair, tmp_path):
    lb1, lb2 = pair
    hung = [tmp_path / "hung1.sock", tmp_path / "hung2.sock"]
    with silent_socket(hung[0]), silent_socket(hung[1]):
        sources = {"lb1": LocalSource(), "lb2": LocalSource(), "lb3": LocalSource(timeout=3.0), "lb4": LocalSource(timeout=3.0)}
        overrides = {"lb1": {"admin_socket": lb1.proxy.admin_socket}, "lb2": {"admin_socket": lb2.proxy.admin_socket},
                     "lb3": {"admin_socket": str(hung[0])}, "lb4": {"admin_socket": str(hung[1])}}
        started = time.monotonic()
        found = collect_many(sources, 1.0, overrides)
        elapsed = time.monotonic() - started
    assert list(found) == ["lb1", "lb2", "lb3", "lb4"]
    for name in ("lb3", "lb4"):
        assert isinstance(found[name], NoAnswerError) and str(found[name]) == "local did not answer within 1s"
    # each read what its own HAProxy runs: the configuration found from the process, the part files beside it
    assert found["lb1"].config_path == lb1.config_path and found["lb2"].config_path == lb2.config_path
    assert build_status(found["lb1"]).parts[0].config_digest == build_status(found["lb2"]).parts[0].config_digest
    # one deadline for all, not one after the other (nor a socket timeout of 3 s)
    assert elapsed < 1.8, elapsed
    # an error of a source is its result, not the others'
    dead = collect_many({"lb1": LocalSource(), "gone": LocalSource()}, 5.0,
                        {"lb1": {"admin_socket": lb1.proxy.admin_socket}, "gone": {"admin_socket": str(tmp_path / "none.sock")}})
    assert build_status(dead["lb1"]).gateways and "cannot reach the HAProxy socket" in str(dead["gone"])
