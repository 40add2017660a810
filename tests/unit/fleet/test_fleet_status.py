# -*- coding: utf-8 -*-
"""The status model (fleet_status.build_status) from the real answers of a real HAProxy 2.6 running the renderer's
configuration for examples/sava-canary.yml on loopback: labels from the renderer's comments, weights from the
RUNNING maps (not the files), conditions, sticky routes, server states and health, and the problems cron sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status import (
    RawStatus,
    build_status,
    map_shares,
    parse_info,
)
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_source import LocalSource, collect_status
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_routing import read_routing_config, strip_comment
from ansible_collections.drover.fleet.plugins.module_utils.routing.names import section_label
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeApiError, RuntimeClient, RuntimeConnectionError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.tests.support.haproxy_harness import start_haproxy, start_http_backends
from ansible_collections.drover.fleet.tests.support.helpers import free_port
from ansible_collections.drover.fleet.tests.support.sava_haproxy import SAVA_SERVERS, V1, V11, running_sava

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`"),
]


@pytest.fixture
def sava(tmp_path):
    with start_http_backends(SAVA_SERVERS) as backends:
        with running_sava(tmp_path, backends) as running:
            yield running


def capture(sava, **overrides) -> RawStatus:
    """The real answers of the running HAProxy, collected the way `drover status` collects them."""
    values = {"admin_socket": sava.admin_socket, "master_socket": sava.master_socket, "master_required": True}
    values.update(overrides)
    return collect_status(LocalSource(), **values)


def by_label(items) -> dict:
    return {item.label: item for item in items}


# -- pure pieces ---------------------------------------------------------------------------------------------------


def test_map_shares_read_ranges_as_haproxy_does():
    shares, uncovered, problems = map_shares([("0:8999", "a"), ("9000:9999", "b")], 10000)
    assert shares == {"a": 90.0, "b": 10.0} and uncovered == 0.0 and problems == []
    # the first entry holding a draw wins; overlaps count once; a gap is a share without a route
    shares, uncovered, problems = map_shares([("0:4999", "a"), ("4000:5999", "b"), ("7000", "c"), ("x", "d")], 10000)
    assert shares == {"a": 50.0, "b": 10.0, "c": 0.01}
    assert round(uncovered, 4) == 39.99
    assert problems == ["map key 'x' is not an integer or a lo:hi range"]
    # entries past the draw's range never match
    assert map_shares([("0:99", "a"), ("100:200", "b")], 100)[0] == {"a": 100.0, "b": 0.0}


def test_comments_name_sections_and_quoted_hashes_are_not_comments():
    assert section_label("fe_sava_9050_5b45d3", "gateway sava/9050") == "sava/9050"
    assert section_label("bk_x_1", "route target sava/sava/sava:1.0.0") == "sava/sava/sava:1.0.0"
    assert section_label("drover_unrouted_http", "no route: HTTP 503 or a closed connection") == "drover_unrouted_http"
    assert strip_comment("acl a req.hdr(x) -m str 'C#' # why") == "acl a req.hdr(x) -m str 'C#'"
    assert strip_comment("acl a req.hdr(x) -m str C\\#1 #") == "acl a req.hdr(x) -m str C\\#1"


def test_a_hand_written_config_still_shows_its_rules():
    config = read_routing_config(
        "global\n    stats socket /tmp/user.sock level user\n    stats socket /tmp/admin.sock mode 600 level admin\n"
        "frontend web\n    bind :80\n    acl is_api path_beg /api\n    use_backend api if is_api\n    default_backend www\n"
    )
    assert config.admin_socket == "/tmp/admin.sock"
    frontend = config.frontend("web")
    assert frontend.label == "web" and frontend.binds == [":80"]
    assert [(rule.target, rule.other, rule.default) for rule in frontend.rules] == [("api", "{ path_beg /api }", False), ("www", "", True)]


def test_conditions_drawn_in_their_rule_and_picks_made_in_use_backend_are_read_back():
    """What the renderer writes for a condition used by one rule (exclusive alternatives, each ending with the same
    draw) and for a weighted pick made in the use_backend rule itself."""
    config = read_routing_config(
        "frontend fe\n    bind :80\n    acl c req.fhdr(User-Agent) -m sub Chrome\n    acl b req.cook(beta) -m found\n"
        "    acl fe_to_map rand(10000),map_int(maps/fe.map,drover_unrouted_http) -m found\n"
        "    use_backend v2 if c { rand(10000) lt 2500 } or b !c { rand(10000) lt 2500 }\n"
        "    use_backend %[rand(10000),map_int(maps/fe.rest.map,drover_unrouted_http)] if b { rand(10000) lt 5000 }\n"
        "    use_backend %[rand(10000),map_int(maps/fe.map,drover_unrouted_http)]\n"
    )
    frontend = config.frontend("fe")
    condition, rest, pick = frontend.rules
    assert (condition.target, condition.chances, condition.tests) == ("v2", [(2500, 10000)], [])
    assert condition.other == "{ req.fhdr(User-Agent) -m sub Chrome } or { req.cook(beta) -m found } !{ req.fhdr(User-Agent) -m sub Chrome }"
    assert (rest.target, rest.pick, rest.chances) == (None, "maps/fe.rest.map", [(5000, 10000)])
    assert (pick.target, pick.pick, pick.other) == (None, "maps/fe.map", "")
    [main] = frontend.main_lookups
    assert (main.path, main.pick_range, main.default) == ("maps/fe.map", 10000, "drover_unrouted_http")


def test_an_answer_that_is_not_what_haproxy_gives_is_an_error():
    with pytest.raises(RuntimeApiError, match="show stat"):
        build_status(RawStatus(stat="Permission denied\n", servers_state="1\n"))


# -- from a real HAProxy ---------------------------------------------------------------------------------------------


def test_gateways_routes_and_servers_with_labels_from_the_config(sava):
    raw = capture(sava)
    assert raw.config_path == sava.config_path  # found from the running process's command line
    status = build_status(raw)
    assert status.healthy and status.problems == [] and status.warnings == []

    (gateway,) = status.gateways
    assert gateway.label == f"sava/{sava.port}" and gateway.name == sava.rendered.frontends[0].name
    assert gateway.binds == [f"127.0.0.1:{sava.port}"] and gateway.mode == "http" and gateway.status == "OPEN"
    assert gateway.sticky == "route" and gateway.healthy

    routes = by_label(status.routes)
    assert list(routes) == [V1, V11]
    assert (routes[V1].weight, routes[V1].file_weight, routes[V1].drifted) == (90.0, 90.0, False)
    assert (routes[V11].weight, routes[V11].file_weight) == (10.0, 10.0)
    assert routes[V1].conditions == []
    (condition,) = routes[V11].conditions
    assert condition.strength == 50.0 and "-m reg '^(?!.*Edg).*Chrome'" in condition.condition
    assert all(route.sticky == "route" and route.routed and route.status == "UP" for route in routes.values())
    assert (routes[V1].servers, routes[V1].servers_up, routes[V1].servers_serving) == (2, 2, 2)
    assert (routes[V11].servers, routes[V11].servers_serving) == (1, 1)

    used = [server for server in status.servers if not server.empty]
    assert [(s.backend_label, s.server) for s in used] == [(V1, "slot1"), (V1, "slot2"), (V11, "slot1")]
    ports = sava.backends.ports
    assert [s.endpoint for s in used] == [f"127.0.0.1:{ports['v1a']}", f"127.0.0.1:{ports['v1b']}", f"127.0.0.1:{ports['v11']}"]
    assert all(s.state == "ready" and s.availability == "UP" and s.serving and s.weight == 1 for s in used)
    # 8 slots per service backend: the unused ones are empty, in maintenance
    empty = [s for s in status.servers if s.empty]
    assert len(empty) == 13 and all(s.state == "maint" and s.availability == "MAINT" and s.address == "0.0.0.0" for s in empty)

    process = status.process
    assert process.pid == int(parse_info(raw.info)["Pid"]) and process.version.startswith("2.6")
    assert process.master_pid == sava.proxy.pid and process.workers == 1 and process.failed_reloads == 0


def test_weights_are_the_running_maps_not_the_files(sava):
    client = sava.runtime()
    (info,) = client.show_maps()
    client.replace_map(info.ref, [("0:2999", sava.backend(V1)), ("3000:9999", sava.backend(V11))])
    routes = by_label(build_status(capture(sava)).routes)
    assert (routes[V1].weight, routes[V11].weight) == (30.0, 70.0)
    assert (routes[V1].file_weight, routes[V11].file_weight) == (90.0, 10.0)
    assert routes[V1].drifted and routes[V11].drifted


def test_a_share_without_a_route_is_a_problem(sava):
    client = sava.runtime()
    (info,) = client.show_maps()
    client.replace_map(info.ref, [("0:8999", sava.backend(V1))])
    status = build_status(capture(sava))
    routes = by_label(status.routes)
    assert routes["no route (503)"].weight == 10.0 and not routes["no route (503)"].routed
    # 1.1.0 lost its weight but keeps its condition: still routed
    assert routes[V11].weight == 0.0 and routes[V11].routed
    assert status.problems == [f"gateway sava/{sava.port}: 10.00% of the weighted requests have no route (HTTP 503)"]
    assert not status.gateways[0].healthy


def test_admin_states_and_health_as_haproxy_reports_them(sava):
    client = sava.runtime()
    client.set_state(sava.backend(V1), "slot2", "drain")
    sava.backends.stop("v11")
    sava.wait_operational(V11, "slot1", "DOWN")
    status = build_status(capture(sava))
    servers = {(s.backend_label, s.server): s for s in status.servers}
    drained = servers[(V1, "slot2")]
    assert (drained.state, drained.availability, drained.serving) == ("drain", "UP", False)
    assert drained.status.startswith("DRAIN")
    down = servers[(V11, "slot1")]
    assert (down.state, down.availability, down.serving) == ("ready", "DOWN", False)
    assert down.check_status.startswith("L4") or down.check_status.startswith("L7")
    routes = by_label(status.routes)
    assert (routes[V1].servers_up, routes[V1].servers_serving) == (2, 1)
    assert (routes[V11].servers_up, routes[V11].status) == (0, "DOWN")
    assert status.problems == [f"gateway sava/{sava.port}: route {V11} (weight 10%) has no server that takes requests (0 of 1 UP)"]

    client.set_state(sava.backend(V1), "slot1", "maint")
    server = {(s.backend_label, s.server): s for s in build_status(capture(sava)).servers}[(V1, "slot1")]
    assert (server.state, server.availability) == ("maint", "MAINT")


def test_without_the_config_names_stay_raw_and_weights_still_come_from_the_maps(sava):
    raw = capture(sava, config_path=sava.config_path)
    raw.config, raw.config_path, raw.map_files = None, None, {}
    status = build_status(raw)
    (gateway,) = status.gateways
    assert gateway.label == gateway.name == sava.rendered.frontends[0].name and gateway.sticky is None
    weights = {route.label: route.weight for route in status.routes}
    assert weights == {sava.backend(V1): 90.0, sava.backend(V11): 10.0}
    assert all(route.file_weight is None and route.conditions == [] for route in status.routes)


def test_an_explicit_config_that_cannot_be_read_and_a_dead_socket_are_errors(sava, tmp_path):
    with pytest.raises(DroverError, match="cannot read the configuration"):
        capture(sava, config_path=str(tmp_path / "missing.cfg"))
    with pytest.raises(RuntimeConnectionError):
        collect_status(LocalSource(timeout=1), admin_socket=str(tmp_path / "nothing.sock"), config_path=sava.config_path)


def test_a_cluster_route_with_its_own_conditions_splits_through_its_stage_map(tmp_path):
    """store-two-clusters: 50% to cluster shop, which splits 70/30 in a map of its own (the second step)."""
    port = free_port()
    blueprint = tmp_path / "store.yml"
    blueprint.write_text((EXAMPLES / "store-two-clusters.yml").read_text(encoding="utf-8").replace("8000/http", f"{port}/http"))
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(tmp_path / "admin.sock"),
                            server_state_file=str(tmp_path / "server-state"), log_target=None)
    rendered = render(load_paths([str(blueprint)]), options)
    with start_haproxy(rendered.files, tmp_path, options.admin_socket, [port]):
        status = build_status(collect_status(LocalSource(), admin_socket=options.admin_socket))
        weights = {route.label: route.weight for route in status.routes}
        assert weights == {"store/shop/shop:1": 35.0, "store/shop/shop:2": 15.0, "store/search/search:1": 50.0}
        (condition,) = by_label(status.routes)["store/shop/shop:2"].conditions
        assert (condition.condition, condition.strength) == ("{ req.hdr_cnt(X-Beta) gt 0 }", 100.0)
        # no instance anywhere: every routed backend is a problem
        assert len(status.problems) == 3 and all("has no server that takes requests (0 of 0 UP)" in p for p in status.problems)

        client = RuntimeClient(options.admin_socket)
        stage = next(info for info in client.show_maps() if info.file.endswith(".1s.map"))
        shop = {b.target: b.name for b in rendered.backends}
        client.replace_map(stage.ref, [("0:4999", shop["store/shop/shop:1"]), ("5000:9999", shop["store/shop/shop:2"])])
        weights = {route.label: route.weight for route in build_status(collect_status(LocalSource(), admin_socket=options.admin_socket)).routes}
        assert weights == {"store/shop/shop:1": 25.0, "store/shop/shop:2": 25.0, "store/search/search:1": 50.0}
