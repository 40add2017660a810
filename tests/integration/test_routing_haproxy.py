# -*- coding: utf-8 -*-
"""The routing conformance suite: the rendered config in a REAL HAProxy 2.6 on loopback, in front of REAL HTTP
servers (one process per instance, each answering with its own id), driven by real HTTP requests.

It checks what users rely on: weight splits (±2 points over thousands of requests), condition routes and their
condition_strength share, sticky route and sticky instance, rewrites, the two-step decision for cluster routes with
conditions of their own, virtual hosts, tcp gateways, and a runtime weight change through the admin socket's maps that
needs neither a new haproxy.cfg nor a reload.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import threading
from collections import Counter

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import ACL, MasterClient, RuntimeClient, maps_for_file, parse_map_text, pattern_kind
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import HealthCheck, Instance
from ansible_collections.drover.fleet.tests.support.haproxy_harness import Client, send_requests, start_haproxy, start_http_backends
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for
from ansible_collections.drover.fleet.tests.support.routing_fixtures import (
    TCP,
    external_gateway,
    rewrite,
    route,
    sava,
    standalone,
    two_clusters,
)

pytestmark = [
    pytest.mark.haproxy,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`"),
]

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
EDGE = CHROME + " Edg/120.0.2210.91"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
V1, V11 = "sava/sava/sava:1.0.0", "sava/sava/sava:1.1.0"
VERSION = {"v1a": "1.0.0", "v1b": "1.0.0", "v11": "1.1.0"}
COOKIE_KEY = "conformance-suite-key"


@pytest.fixture(scope="module")
def echo():
    """Real HTTP servers: v1a, v1b (sava 1.0.0), v11 (sava 1.1.0), and x1..x3 for external and other targets."""
    with start_http_backends(["v1a", "v1b", "v11", "x1", "x2", "x3"]) as backends:
        yield backends


def sava_instances(ports: dict) -> dict:
    return {
        V1: [Instance(1, "127.0.0.1", ports["v1a"]), Instance(2, "127.0.0.1", ports["v1b"])],
        V11: [Instance(1, "127.0.0.1", ports["v11"])],
    }


def options(tmp_path, **extra) -> RenderOptions:
    values = {"bind_address": "127.0.0.1", "admin_socket": str(tmp_path / "admin.sock"), "server_state_file": str(tmp_path / "state"),
              "log_target": None, "dynamic_cookie_key": COOKIE_KEY}
    values.update(extra)
    return RenderOptions(**values)


@contextlib.contextmanager
def running(artifacts, tmp_path, instances=None, **extra):
    opts = options(tmp_path, **extra)
    rendered = render(artifacts, opts, instances)
    ports = [f.port for f in rendered.frontends]
    if opts.virtual_hosts_bind:
        ports.append(int(opts.virtual_hosts_bind.rsplit(":", 1)[1]))
    with start_haproxy(rendered.files, tmp_path, opts.admin_socket, ports) as proxy:
        yield proxy, rendered


def shares(counts: Counter, groups: dict | None = None) -> dict:
    grouped = Counter()
    for key, value in counts.items():
        grouped[(groups or {}).get(key, key)] += value
    total = sum(grouped.values())
    return {key: 100.0 * value / total for key, value in grouped.items()}


def assert_split(observed: dict, expected: dict, tolerance: float) -> None:
    for key in set(observed) | set(expected):
        assert abs(observed.get(key, 0.0) - expected.get(key, 0.0)) <= tolerance, (observed, expected)


# -- weights ------------------------------------------------------------------------------------------------------------


def test_weights_split_90_10_and_the_log_is_structured(echo, tmp_path):
    port = free_port()
    with running(sava(sticky=None, strength=None, port=port), tmp_path, sava_instances(echo.ports),
                 log_target="stdout format raw local0") as (proxy, rendered):
        counts = send_requests(port, 6000)
        assert None not in counts
        assert_split(shares(counts, VERSION), {"1.0.0": 90.0, "1.1.0": 10.0}, 2.0)
        # both instances of 1.0.0 serve (roundrobin inside the route backend)
        assert counts["v1a"] > 2000 and counts["v1b"] > 2000
        log_lines = wait_for(lambda: [line for line in proxy.log().splitlines() if line.startswith("{")], message="log lines")
    entry = json.loads(log_lines[-1])
    backends = {b.name for b in rendered.backends}
    assert entry["fe"] == rendered.frontends[0].name and entry["be"] in backends and entry["srv"] in ("slot1", "slot2")
    assert entry["st"] == 200 and {"TR", "Tw", "Tc", "Tr", "Ta", "bytes", "ts"} <= set(entry)


def test_runtime_weight_change_through_the_admin_socket_needs_no_reload(echo, tmp_path):
    port = free_port()
    before = sava(sticky=None, strength=None, weights=(90, 10), port=port)
    after = sava(sticky=None, strength=None, weights=(20, 80), port=port)
    instances = sava_instances(echo.ports)
    with running(before, tmp_path, instances) as (proxy, rendered):
        assert_split(shares(send_requests(port, 5000), VERSION), {"1.0.0": 90.0, "1.1.0": 10.0}, 2.0)
        client = RuntimeClient(proxy.admin_socket)
        worker_pid = client.show_info()["Pid"]
        changed = render(after, options(tmp_path), instances)
        assert changed.config == rendered.config            # weights never reach haproxy.cfg
        assert changed.maps != rendered.maps
        for path, text in changed.maps.items():
            loaded = maps_for_file(client.show_maps(), path, str(tmp_path))[0]
            client.replace_map(loaded.ref, parse_map_text(text))
        assert_split(shares(send_requests(port, 5000), VERSION), {"1.0.0": 20.0, "1.1.0": 80.0}, 2.0)
        assert client.show_info()["Pid"] == worker_pid          # the same worker: no reload happened
        assert (tmp_path / "haproxy.cfg").read_text() == rendered.config


# -- conditions --------------------------------------------------------------------------------------------------------


def test_condition_strength_share(echo, tmp_path):
    port = free_port()
    with running(sava(sticky=None, strength=50, port=port), tmp_path, sava_instances(echo.ports)):
        # Chrome: 50% by the condition, and 10% of the other half by weight
        chrome = shares(send_requests(port, 6000, {"User-Agent": CHROME}), VERSION)
        assert_split(chrome, {"1.0.0": 45.0, "1.1.0": 55.0}, 3.0)
        firefox = shares(send_requests(port, 5000, {"User-Agent": FIREFOX}), VERSION)
        assert_split(firefox, {"1.0.0": 90.0, "1.1.0": 10.0}, 2.0)
        # Edge's user agent contains "Chrome" but is not Chrome (VAMP's alias excludes Edg)
        edge = shares(send_requests(port, 3000, {"User-Agent": EDGE}), VERSION)
        assert_split(edge, {"1.0.0": 90.0, "1.1.0": 10.0}, 3.0)


def test_runtime_strength_change_needs_no_reload(echo, tmp_path):
    """A condition's strength lives in an ACL file of draws; the running HAProxy takes a new one through the runtime
    API (`prepare`/`add`/`commit acl`), as haproxy_config does: Chrome goes from 55% to 91% on 1.1.0, same worker."""
    port = free_port()
    instances = sava_instances(echo.ports)
    with running(sava(sticky=None, strength=50, port=port), tmp_path, instances) as (proxy, rendered):
        assert_split(shares(send_requests(port, 5000, {"User-Agent": CHROME}), VERSION), {"1.0.0": 45.0, "1.1.0": 55.0}, 3.0)
        client = RuntimeClient(proxy.admin_socket)
        worker_pid = client.show_info()["Pid"]
        changed = render(sava(sticky=None, strength=90, port=port), options(tmp_path), instances)
        assert changed.config == rendered.config            # strengths never reach haproxy.cfg
        [path] = [path for path in changed.maps if changed.maps[path] != rendered.maps[path]]
        assert path.endswith(".acl") and changed.maps[path] == "0:8999\n"
        loaded = maps_for_file(client.show_maps(ACL), path, str(tmp_path))[0]
        client.replace_map(loaded.ref, parse_map_text(changed.maps[path]), kind=ACL)
        # 90% by the condition, and 10% of the other 10% by weight
        assert_split(shares(send_requests(port, 5000, {"User-Agent": CHROME}), VERSION), {"1.0.0": 9.0, "1.1.0": 91.0}, 2.0)
        assert_split(shares(send_requests(port, 3000, {"User-Agent": FIREFOX}), VERSION), {"1.0.0": 90.0, "1.1.0": 10.0}, 2.0)
        assert client.show_info()["Pid"] == worker_pid


def test_condition_with_full_strength_takes_every_match(echo, tmp_path):
    port = free_port()
    with running(sava(sticky=None, strength=100, port=port), tmp_path, sava_instances(echo.ports)):
        assert shares(send_requests(port, 500, {"User-Agent": CHROME}), VERSION) == {"1.1.0": 100.0}


def two_clusters_on(echo, inner_condition: bool, shop_route=None):
    """The two-cluster blueprint on a free port, its gateway's route to shop replaced by `shop_route` if given, and
    its instances on the echo servers: shop:1 on x1, shop:2 on x2, search:1 on x3."""
    blueprint = two_clusters(inner_condition=inner_condition)
    port = free_port()
    blueprint.gateways[0].port.number = port
    if shop_route is not None:
        blueprint.gateways[0].routes[0] = shop_route
    instances = {"store/shop/shop:1": [Instance(1, "127.0.0.1", echo.ports["x1"])],
                 "store/shop/shop:2": [Instance(1, "127.0.0.1", echo.ports["x2"])],
                 "store/search/search:1": [Instance(1, "127.0.0.1", echo.ports["x3"])]}
    return blueprint, port, instances


def test_cluster_conditions_behind_a_weighted_choice(echo, tmp_path):
    """50% shop / 50% search at the gateway; inside shop, X-Beta goes to shop:2, the rest 70/30: one frontend, two steps."""
    blueprint, port, instances = two_clusters_on(echo, inner_condition=True)
    with running(standalone(blueprints=[blueprint]), tmp_path, instances) as (_files, rendered):
        assert len(rendered.frontends) == 1 and rendered.frontends[0].stages
        plain = shares(send_requests(port, 8000))
        assert_split(plain, {"x1": 35.0, "x2": 15.0, "x3": 50.0}, 2.0)
        beta = shares(send_requests(port, 8000, {"X-Beta": "1"}))
        assert_split(beta, {"x2": 50.0, "x3": 50.0}, 2.0)


def test_a_two_step_frontend_passes_over_a_dead_route_of_its_outer_pick(echo, tmp_path):
    """The outer pick (shop 50 / search 50, made once in an http-request rule) cannot draw again: a request it sends to
    a route without a live server goes to the first live route with a weight, in the order of the weights (shop:1,
    shop:2, search), instead of a 503."""
    blueprint, port, instances = two_clusters_on(echo, inner_condition=True)
    with running(standalone(blueprints=[blueprint]), tmp_path, instances) as (proxy, rendered):
        admin = RuntimeClient(proxy.admin_socket)
        backend = {b.target: b.name for b in rendered.backends}
        admin.set_state(backend["store/search/search:1"], "slot1", "maint")
        observed = send_requests(port, 6000)
        assert None not in observed, observed
        assert_split(shares(observed), {"x1": 85.0, "x2": 15.0}, 2.0)
        admin.set_state(backend["store/search/search:1"], "slot1", "ready")
        for service in ("store/shop/shop:1", "store/shop/shop:2"):
            admin.set_state(backend[service], "slot1", "maint")
        wait_for(lambda: admin.server_stat(backend["store/search/search:1"], "slot1")["status"] == "UP", 20, message="search UP")
        assert shares(send_requests(port, 2000)) == {"x3": 100.0}


def test_outer_condition_to_a_cluster_then_the_cluster_decides(echo, tmp_path):
    """`has cookie beta` sends the request to cluster shop (100%); inside shop, X-Beta picks shop:2, else 70/30."""
    blueprint, port, instances = two_clusters_on(echo, inner_condition=True, shop_route=route("shop/web", 50, "has cookie beta", 100))
    with running(standalone(blueprints=[blueprint]), tmp_path, instances):
        assert shares(send_requests(port, 300, {"Cookie": "beta=1", "X-Beta": "1"})) == {"x2": 100.0}
        assert_split(shares(send_requests(port, 6000, {"Cookie": "beta=1"})), {"x1": 70.0, "x2": 30.0}, 2.0)
        assert_split(shares(send_requests(port, 6000)), {"x1": 35.0, "x2": 15.0, "x3": 50.0}, 2.0)


def test_a_pick_behind_a_condition_with_its_own_draw_passes_over_a_dead_route(echo, tmp_path):
    """`has cookie beta` at 50% sends a request to cluster shop (70/30 inside); the other half go to the gateway's
    weights (shop:1 35, shop:2 15, search 50): 52.5/22.5/25. With shop:1 in maintenance, a draw that names it is
    drawn again (the second attempt asks for the pick's variable, so the condition's strength is not drawn twice),
    then the map's ends are tried, and no request gets a 503. Inside shop everything reaches shop:2 (50%); the
    gateway's weights give shop:2 15 + 0.35 x 15 and search the rest, its last range included: 60.1/39.9."""
    blueprint, port, instances = two_clusters_on(echo, inner_condition=False, shop_route=route("shop/web", 50, "has cookie beta", 50))
    with running(standalone(blueprints=[blueprint]), tmp_path, instances) as (proxy, rendered):
        assert "-m found } { rand(10000),map_int(" in rendered.config
        beta = {"Cookie": "beta=1"}
        assert_split(shares(send_requests(port, 8000, beta)), {"x1": 52.5, "x2": 22.5, "x3": 25.0}, 2.0)
        admin = RuntimeClient(proxy.admin_socket)
        shop1 = next(b.name for b in rendered.backends if b.target == "store/shop/shop:1")
        admin.set_state(shop1, "slot1", "maint")
        observed = send_requests(port, 8000, beta)
        assert None not in observed, observed
        assert_split(shares(observed), {"x2": 60.1, "x3": 39.9}, 2.0)


def test_a_condition_with_alternatives_draws_its_strength_once(echo, tmp_path):
    """`user-agent == Chrome or has cookie beta` at 50%, used by one rule: it is written as alternatives that exclude
    each other, each behind its own draw (`R chrome or R beta !chrome`). A request that matches both alternatives
    must still go with 50%, not 75% (two draws)."""
    port = free_port()
    gateway = external_gateway([echo.ports["x1"], echo.ports["x2"]], [100, 0], port=port)
    gateway.routes[1] = route(f"[127.0.0.1:{echo.ports['x2']}]", 0, "user-agent == Chrome or has cookie beta", 50)
    with running(standalone(gateway), tmp_path) as (_proxy, rendered):
        frontend = rendered.config.split("\nfrontend ")[1].split("\n\n")[0]
        assert "http-request set-var(" not in frontend and len(re.findall(r"\{ rand\(10000\) -m int -f maps/\S+\.acl \}", frontend)) == 2
        for headers in ({"User-Agent": CHROME}, {"User-Agent": FIREFOX, "Cookie": "beta=1"}, {"User-Agent": CHROME, "Cookie": "beta=1"},
                        {"User-Agent": EDGE, "Cookie": "beta=1"}):
            assert_split(shares(send_requests(port, 4000, headers)), {"x1": 50.0, "x2": 50.0}, 3.0)
        for headers in ({"User-Agent": FIREFOX}, {"User-Agent": EDGE}):
            assert shares(send_requests(port, 300, headers)) == {"x1": 100.0}


def test_a_route_without_a_live_server_gives_its_requests_to_the_live_routes(echo, tmp_path):
    """x1/x2/x3 at 50/30/20. With x2 in maintenance its draws are drawn again (50% to x1, 20% to x3) and what names
    x2 twice goes to the route at the map's start, x1: 74/26, no 503. With x1 out too, everything reaches x3, the
    route at the map's end. With only x2 live, everything reaches it through the last resort. A condition whose route
    has no live server releases its requests to the weights. With nothing live, HAProxy answers 503."""
    port = free_port()
    x1, x2, x3 = echo.ports["x1"], echo.ports["x2"], echo.ports["x3"]
    gateway = external_gateway([x1, x2, x3], [50, 30, 20], port=port)
    gateway.routes[1] = route(f"[127.0.0.1:{x2}]", 30, "has cookie beta", 100)
    with running(standalone(gateway), tmp_path) as (proxy, rendered):
        admin = RuntimeClient(proxy.admin_socket)
        backend = {entry.target.split(":")[-1].split("_")[0]: entry.target for entry in rendered.frontends[0].weighted.entries}
        wait_for(lambda: all(admin.server_stat(backend[str(p)], "ext")["status"] == "UP" for p in (x1, x2, x3)), 20, message="routes UP")
        assert_split(shares(send_requests(port, 6000)), {"x1": 50.0, "x2": 30.0, "x3": 20.0}, 2.0)
        assert shares(send_requests(port, 300, {"Cookie": "beta=1"})) == {"x2": 100.0}

        admin.set_state(backend[str(x2)], "ext", "maint")
        observed = send_requests(port, 6000)
        assert None not in observed, observed
        assert_split(shares(observed), {"x1": 74.0, "x3": 26.0}, 2.5)
        beta = send_requests(port, 2000, {"Cookie": "beta=1"})
        assert None not in beta and "x2" not in beta

        admin.set_state(backend[str(x1)], "ext", "maint")
        assert shares(send_requests(port, 2000)) == {"x3": 100.0}

        # only the middle of the map live: both draws and both ends can name dead routes, the last resort places them
        admin.set_state(backend[str(x2)], "ext", "ready")
        admin.set_state(backend[str(x3)], "ext", "maint")
        wait_for(lambda: admin.server_stat(backend[str(x2)], "ext")["status"] == "UP", 20, message="x2 UP")
        assert shares(send_requests(port, 2000)) == {"x2": 100.0}

        admin.set_state(backend[str(x2)], "ext", "maint")
        assert send_requests(port, 300) == Counter({None: 300})


def test_a_dark_launch_is_never_a_last_resort_until_it_gets_a_weight(echo, tmp_path):
    """x1/x2/x3 at 50/50/0. With x1 and x2 in maintenance, nothing goes to the dark x3: 503s. Given 10% at runtime
    (its map range and the weighted-routes file, through the admin socket: no reload), it takes everything."""
    port = free_port()
    x1, x2, x3 = echo.ports["x1"], echo.ports["x2"], echo.ports["x3"]
    with running(standalone(external_gateway([x1, x2, x3], [50, 50, 0], port=port)), tmp_path) as (proxy, rendered):
        admin = RuntimeClient(proxy.admin_socket)
        backend = {entry.target.split(":")[-1].split("_")[0]: entry.target for entry in rendered.frontends[0].weighted.entries}
        wait_for(lambda: all(admin.server_stat(backend[str(p)], "ext")["status"] == "UP" for p in (x1, x2, x3)), 20, message="routes UP")
        pid = admin.show_info()["Pid"]
        admin.set_state(backend[str(x1)], "ext", "maint")
        admin.set_state(backend[str(x2)], "ext", "maint")
        assert send_requests(port, 300) == Counter({None: 300})

        shifted = render(standalone(external_gateway([x1, x2, x3], [45, 45, 10], port=port)), options(tmp_path))
        assert shifted.config == rendered.config
        changed = [path for path, text in shifted.files.items() if text != rendered.files[path]]
        assert sorted(changed) == sorted(name for name in rendered.files if name.endswith((".map", ".weighted.acl")))
        for path in changed:
            admin.replace_map(path, parse_map_text(shifted.files[path]), kind=pattern_kind(path))
        assert shares(send_requests(port, 500)) == {"x3": 100.0}
        assert admin.show_info()["Pid"] == pid


def _reloads(master: MasterClient) -> int:
    """The master's reload counter; -1 while the master re-executes itself and its socket is away."""
    try:
        return master.show_proc().reloads
    except (OSError, DroverError):
        return -1


def test_sticky_clients_keep_their_route_through_reloads(echo, tmp_path):
    """After a reload the old worker still answers the requests in flight while it soft-stops, and HAProxy 2.6
    reports `nbsrv` 0 for every backend there. The live checks count a stopping worker as live, so a sticky client
    of the 10% route keeps it through three reloads under load, and no request fails."""
    port = free_port()
    x1, x2 = echo.ports["x1"], echo.ports["x2"]
    gateway = external_gateway([x1, x2], [90, 10], port=port, sticky="route")
    with running(standalone(gateway), tmp_path) as (proxy, rendered):
        frontend = rendered.frontends[0]
        value = next(s.value for s in frontend.sticky_routes if s.backend == frontend.weighted.entries[1].target)
        admin = RuntimeClient(proxy.admin_socket)
        wait_for(lambda: all(admin.server_stat(e.target, "ext")["status"] == "UP" for e in frontend.weighted.entries), 20, message="routes UP")
        answers, stop = Counter(), threading.Event()

        def visit() -> None:
            client = Client(port)
            client.cookies[frontend.route_cookie] = value
            while not stop.is_set():
                try:
                    reply = client.get()
                    answers[reply.backend or reply.status] += 1
                except OSError:
                    answers["error"] += 1
                    client.close()
                    client.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

        visitors = [threading.Thread(target=visit) for _visitor in range(4)]
        for visitor in visitors:
            visitor.start()
        try:
            master = MasterClient(proxy.master_socket)
            for _reload in range(3):
                before = master.show_proc().reloads
                wait_for(lambda: sum(answers.values()) > 200, 10, message="requests flowing")
                master.reload()
                wait_for(lambda: _reloads(master) > before, 20, message="the reload")
                answers_before = sum(answers.values())
                wait_for(lambda: sum(answers.values()) > answers_before + 200, 20, message="requests after the reload")
        finally:
            stop.set()
            for visitor in visitors:
                visitor.join(30)
        assert set(answers) == {"x2"}, answers


def test_maps_load_next_to_the_config_from_any_working_directory(echo, tmp_path):
    """The weighted pick looks its map up in a rule's ACL, parsed while `default-path config` applies, so the map is
    found next to haproxy.cfg from any working directory, also for runtime changes. (A `use_backend %[...]` pick,
    which HAProxy 2.6 would open from the working directory, gets its map loaded by a named ACL first.)"""
    port = free_port()
    gateway = external_gateway([echo.ports["x1"], echo.ports["x2"]], [30, 70], port=port)
    directory, elsewhere = tmp_path / "lb", tmp_path / "elsewhere"
    elsewhere.mkdir()
    opts = options(directory)
    rendered = render(standalone(gateway), opts)
    with start_haproxy(rendered.files, directory, opts.admin_socket, [port], cwd=elsewhere) as proxy:
        assert_split(shares(send_requests(port, 5000)), {"x1": 30.0, "x2": 70.0}, 2.0)
        admin = RuntimeClient(proxy.admin_socket)
        [path] = rendered.maps
        only_x2 = f"0:9999 {rendered.frontends[0].weighted.entries[1].target}\n"
        admin.replace_map(maps_for_file(admin.show_maps(), path, str(directory))[0].ref, parse_map_text(only_x2))
        assert shares(send_requests(port, 300)) == {"x2": 100.0}


# -- sticky ------------------------------------------------------------------------------------------------------------


def test_sticky_route_keeps_each_client_on_its_route_even_after_a_weight_change(echo, tmp_path):
    port = free_port()
    artifacts = sava(sticky="route", strength=None, weights=(50, 50), port=port)
    with running(artifacts, tmp_path, sava_instances(echo.ports)) as (proxy, rendered):
        clients = [Client(port) for _n in range(60)]
        first = {id(c): VERSION[c.get().backend] for c in clients}
        assert set(first.values()) == {"1.0.0", "1.1.0"}
        assert all(c.cookies for c in clients)
        for _n in range(15):
            for client in clients:
                assert VERSION[client.get().backend] == first[id(client)]
        # all new traffic to 1.0.0: clients that stick to 1.1.0 stay there
        admin = RuntimeClient(proxy.admin_socket)
        [path] = rendered.maps
        frontend = rendered.frontends[0]
        only_v1 = f"0:9999 {frontend.weighted.entries[0].target}\n"
        admin.replace_map(maps_for_file(admin.show_maps(), path, str(tmp_path))[0].ref, parse_map_text(only_v1))
        for client in clients:
            assert VERSION[client.get().backend] == first[id(client)]
            client.close()
        assert shares(send_requests(port, 300), VERSION) == {"1.0.0": 100.0}


def test_sticky_route_releases_clients_whose_route_has_no_live_server(tmp_path):
    """The route cookie only holds while its route backend has a live server. (The weighted pick itself is not
    health-gated: while a route is down its weight share gets 503s, until its weight is moved away.)"""
    port = free_port()
    artifacts = sava(sticky="route", strength=None, weights=(50, 50), port=port, check_interval=0.2)
    with start_http_backends(["v1a", "v1b", "v11"]) as backends:
        with running(artifacts, tmp_path, sava_instances(backends.ports)) as (proxy, rendered):
            client = Client(port)
            wait_for(lambda: client.get().backend == "v11" or client.cookies.clear(), message="a client on 1.1.0")
            assert all(client.get().backend == "v11" for _n in range(10))
            cookie_on_v11 = dict(client.cookies)
            backends.stop("v11")
            admin = RuntimeClient(proxy.admin_socket)
            v11_backend = next(b.name for b in rendered.backends if b.target == V11)
            wait_for(lambda: admin.server_stat(v11_backend, "slot1").get("status", "").startswith("DOWN"), message="1.1.0 down")
            replies = [client.get() for _n in range(40)]
            landed = next(i for i, reply in enumerate(replies) if reply.backend is not None)
            assert all(reply.status == 503 for reply in replies[:landed])
            assert VERSION[replies[landed].backend] == "1.0.0" and client.cookies != cookie_on_v11
            assert all(VERSION[reply.backend] == "1.0.0" for reply in replies[landed:])   # and it sticks there
            client.close()


def test_a_route_backend_shared_with_a_plain_gateway_sets_the_cookie_for_the_sticky_gateway_only(echo, tmp_path):
    """One backend reached from a sticky and a non-sticky gateway takes the cookie name from the sticky frontend;
    a backend only the sticky gateway reaches writes it as a constant. Neither sends it again to a client that has it."""
    sticky_port, plain_port = free_port(), free_port()
    sticky = external_gateway([echo.ports["x1"], echo.ports["x2"]], [50, 50], name="sticky", port=sticky_port, sticky="route")
    plain = external_gateway([echo.ports["x1"]], name="plain", port=plain_port)
    with running(standalone(sticky, plain), tmp_path) as (_proxy, rendered):
        by_target = {b.target: b for b in rendered.backends}
        shared, own = by_target[f"[127.0.0.1:{echo.ports['x1']}]"], by_target[f"[127.0.0.1:{echo.ports['x2']}]"]
        sticky_frontend = next(frontend for frontend in rendered.frontends if frontend.port == sticky_port)
        assert shared.route_cookie_name is None and own.route_cookie_name == sticky_frontend.route_cookie
        cookie = sticky_frontend.route_cookie
        seen = set()
        for _n in range(40):
            client = Client(sticky_port)
            reply = client.get()
            seen.add(reply.backend)
            value = client.cookies[cookie]
            again = http.client.HTTPConnection("127.0.0.1", sticky_port, timeout=10)
            again.request("GET", "/", headers={"Cookie": f"{cookie}={value}"})
            answer = again.getresponse()
            answer.read()
            assert answer.headers.get("X-Backend-Id") == reply.backend and answer.headers.get_all("Set-Cookie") is None
            again.close()
            client.close()
        assert seen == {"x1", "x2"}
        client = Client(plain_port)
        assert client.get().backend == "x1" and client.cookies == {}
        client.close()


def test_sticky_gateways_in_the_shared_virtual_host_frontend_keep_their_own_clients(echo, tmp_path):
    """Two sticky gateways in the shared virtual-host frontend, both 50/50 over the same two targets (so the route
    backends take the cookie name from the frontend): under each host a client keeps its route, each gateway has its
    own cookie, and one gateway's cookie does not decide for the other."""
    vhost_port = free_port()
    targets = [echo.ports["x1"], echo.ports["x2"]]
    shop = external_gateway(targets, [50, 50], name="shop", port=free_port(), sticky="route")
    shop.virtual_hosts = ["shop.example.com"]
    blog = external_gateway(targets, [50, 50], name="blog", port=free_port(), sticky="route")
    blog.virtual_hosts = ["blog.example.com"]
    with running(standalone(shop, blog), tmp_path, virtual_hosts_bind=f"127.0.0.1:{vhost_port}"):
        cookie_names, on_x1 = {}, {}
        hosts = ("shop.example.com", "blog.example.com")
        for host in hosts:
            clients = [Client(vhost_port, headers={"Host": host}) for _n in range(30)]
            first = [client.get().backend for client in clients]
            assert set(first) == {"x1", "x2"}
            [cookie_names[host]] = {name for client in clients for name in client.cookies}
            for _n in range(5):
                assert [client.get().backend for client in clients] == first
            on_x1[host] = next(dict(client.cookies) for client, backend in zip(clients, first) if backend == "x1")
            for client in clients:
                client.close()
        assert cookie_names[hosts[0]] != cookie_names[hosts[1]]
        # a client held on x1 by one gateway is routed under the other host by that gateway's weights, and gets its
        # cookie (both directions: the gateways' rules follow each other in the frontend, in an order set by their ports)
        for host, other in (hosts, hosts[::-1]):
            landed = []
            for _n in range(40):
                client = Client(vhost_port, headers={"Host": host})
                client.cookies = dict(on_x1[other])
                landed.append(client.get().backend)
                assert set(client.cookies) == set(cookie_names.values())
                client.close()
            assert set(landed) == {"x1", "x2"}


def test_sticky_instance_keeps_each_client_on_its_server(echo, tmp_path):
    port = free_port()
    artifacts = sava(sticky="instance", strength=None, weights=(100, 0), port=port)
    with running(artifacts, tmp_path, sava_instances(echo.ports)) as (_files, rendered):
        assert all(b.instance_cookie for b in rendered.backends)
        clients = [Client(port) for _n in range(40)]
        first = {id(c): c.get().backend for c in clients}
        assert set(first.values()) == {"v1a", "v1b"}
        for _n in range(15):
            for client in clients:
                assert client.get().backend == first[id(client)]
        for client in clients:
            client.close()
        # without cookies the two instances share the route's traffic
        assert set(send_requests(port, 200)) == {"v1a", "v1b"}


# -- rewrites, external targets, tcp, virtual hosts ---------------------------------------------------------------------


def test_rewrites_change_the_path_the_backend_sees(echo, tmp_path):
    port = free_port()
    gateway = external_gateway([echo.ports["x1"]], port=port, rewrites=[rewrite("/v2%[path]", "{ path_beg /api }")], balance="roundrobin")
    with running(standalone(gateway), tmp_path):
        client = Client(port)
        assert client.get("/api/items?x=1").path == "/v2/api/items?x=1"     # set-path keeps the query string
        assert client.get("/other").path == "/other"
        client.close()


def test_external_targets_split_by_weight(echo, tmp_path):
    port = free_port()
    gateway = external_gateway([echo.ports["x1"], echo.ports["x2"], echo.ports["x3"]], [50, None, None], port=port)
    with running(standalone(gateway), tmp_path):
        assert_split(shares(send_requests(port, 8000)), {"x1": 50.0, "x2": 25.0, "x3": 25.0}, 2.0)


def test_tcp_gateway_splits_connections_by_weight(echo, tmp_path):
    port = free_port()
    gateway = external_gateway([echo.ports["x1"], echo.ports["x2"]], [30, 70], port=port, protocol=TCP)
    with running(standalone(gateway), tmp_path):
        counts = send_requests(port, 5000, {"Connection": "close"})
        assert_split(shares(counts), {"x1": 30.0, "x2": 70.0}, 2.0)


def test_virtual_hosts_route_in_the_shared_frontend(echo, tmp_path):
    port, vhost_port = free_port(), free_port()
    shop = external_gateway([echo.ports["x1"]], name="shop", port=port)
    shop.virtual_hosts = ["shop.example.com", "*.shop.example.org"]
    other = external_gateway([echo.ports["x2"]], name="other", port=free_port())
    other.virtual_hosts = ["other.example.com:8080"]
    with running(standalone(shop, other), tmp_path, virtual_hosts_bind=f"127.0.0.1:{vhost_port}"):
        client = Client(vhost_port)
        assert client.get(headers={"Host": "SHOP.example.com"}).backend == "x1"
        assert client.get(headers={"Host": "shop.example.com:80"}).backend == "x1"
        assert client.get(headers={"Host": "eu.shop.example.org"}).backend == "x1"
        assert client.get(headers={"Host": "other.example.com:8080"}).backend == "x2"
        assert client.get(headers={"Host": "other.example.com"}).status == 503
        assert client.get(headers={"Host": "unknown.example.com"}).status == 503
        client.close()
        # the gateway's own port still serves every host
        assert Client(port).get(headers={"Host": "anything"}).backend == "x1"


def test_http_health_checks_take_failing_servers_out(echo, tmp_path):
    """A breed health check on the served port: HTTP checks run and a server whose check fails is taken out."""
    port = free_port()
    artifacts = sava(sticky=None, strength=None, weights=(100, 0), port=port, check_interval=0.2)
    service = artifacts.blueprints["sava"].clusters[0].services[0]
    service.health_checks = [HealthCheck(path="/health/fail", interval=0.2, timeout=1, failures=1)]
    with running(artifacts, tmp_path, sava_instances(echo.ports)) as (proxy, rendered):
        admin = RuntimeClient(proxy.admin_socket)
        v1_backend = next(b.name for b in rendered.backends if b.target == V1)
        # every instance of 1.0.0 fails its check: wait until HAProxy has taken all of them out, not only the first
        filled = [row["svname"] for row in admin.show_stat() if row["pxname"] == v1_backend and row["svname"].startswith("slot")
                  and not row.get("status", "").startswith("MAINT")]
        wait_for(lambda: all(admin.server_stat(v1_backend, slot).get("status", "").startswith("DOWN") for slot in filled), message="failing checks")
        assert Client(port).get().status == 503
