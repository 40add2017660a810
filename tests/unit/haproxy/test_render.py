# -*- coding: utf-8 -*-
"""The HAProxy renderer: golden files, determinism, weights only in maps, slots, options, and the real `haproxy -c`.

Golden files live in tests/unit/haproxy/golden/; regenerate them with `DROVER_UPDATE_GOLDEN=1 pytest tests/unit/haproxy/test_render.py`
and review the diff.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import shutil
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError, DslError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, exclusive_alternatives, render, weights_map
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import HealthCheck, Instance, Port
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.tests.support.haproxy_harness import haproxy_check, write_files
from ansible_collections.drover.fleet.tests.support.routing_fixtures import TCP, external_gateway, rewrite, route, sava, standalone, two_clusters

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.yml"))
# every example file, the lab's included; those reuse the top-level examples' ports, so they are rendered one by one
ALL_EXAMPLES = sorted((ROOT / "examples").rglob("*.yml"))
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("DROVER_UPDATE_GOLDEN") == "1"
OPTIONS = RenderOptions(dynamic_cookie_key="golden-cookie-key", virtual_hosts_bind="0.0.0.0:8088")
SAVA_INSTANCES = {
    "sava/sava/sava:1.0.0": [Instance(1, "10.0.0.11", 31001), Instance(3, "10.0.0.12", 31002)],
    "sava/sava/sava:1.1.0": [Instance(1, "10.0.0.13", 31003)],
}
needs_haproxy = pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`")


def golden_text(files: dict) -> str:
    """All rendered files in one text: haproxy.cfg, then each map after a marker line."""
    parts = [files["haproxy.cfg"]]
    for name in sorted(n for n in files if n != "haproxy.cfg"):
        parts.append(f"#### {name}\n{files[name]}")
    return "".join(parts)


def check_golden(name: str, files: dict) -> None:
    path = GOLDEN / f"{name}.cfg"
    text = golden_text(files)
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with DROVER_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{path.name} differs: if the change is intended, regenerate with DROVER_UPDATE_GOLDEN=1"


def assert_haproxy_accepts(files: dict, directory: Path) -> None:
    write_files(files, directory)
    result = haproxy_check(directory)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration file is valid" in result.stdout + result.stderr


# -- examples -----------------------------------------------------------------------------------------------------------


def test_there_are_examples():
    names = {p.stem for p in EXAMPLES}
    assert {"sava-canary", "gateway-external", "gateway-tcp", "sticky-instance", "gateway-rewrites-balance"} <= names


@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_its_golden_file(example):
    check_golden(example.stem, render(load_paths([str(example)]), OPTIONS).files)


def test_sava_with_running_instances_matches_its_golden_file():
    options = RenderOptions(bind_address="127.0.0.1", stats_bind="127.0.0.1:8404", retry_on="conn-failure empty-response")
    check_golden("sava-with-instances", render(load_paths([str(ROOT / "examples" / "sava-canary.yml")]), options, SAVA_INSTANCES).files)


@needs_haproxy
@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda p: p.stem)
def test_example_is_accepted_by_real_haproxy(example, tmp_path):
    options = RenderOptions(dynamic_cookie_key="check-cookie-key", virtual_hosts_bind="127.0.0.1:8088", stats_bind="127.0.0.1:8404",
                            admin_socket=str(tmp_path / "admin.sock"), server_state_file=str(tmp_path / "state"))
    assert_haproxy_accepts(render(load_paths([str(example)]), options).files, tmp_path)


@needs_haproxy
def test_all_examples_together_are_accepted_by_real_haproxy(tmp_path):
    artifacts = load_paths([str(p) for p in EXAMPLES])
    rendered = render(artifacts, RenderOptions(dynamic_cookie_key="check-cookie-key", virtual_hosts_bind="127.0.0.1:8088"), SAVA_INSTANCES)
    assert len(rendered.frontends) == len(EXAMPLES)
    assert_haproxy_accepts(rendered.files, tmp_path)


# -- determinism and weights ----------------------------------------------------------------------------------------------


def test_rendering_is_deterministic():
    paths = [str(p) for p in EXAMPLES]
    assert render(load_paths(paths), OPTIONS, SAVA_INSTANCES).files == render(load_paths(paths), OPTIONS, SAVA_INSTANCES).files


def test_weights_only_change_the_maps():
    before = render(sava(weights=(90, 10)), OPTIONS)
    after = render(sava(weights=(35.5, 64.5)), OPTIONS)
    assert after.config == before.config
    [path] = [path for path in after.maps if path.endswith(".map")]
    assert path.startswith("maps/") and path in before.maps
    text = after.maps[path]
    assert text.splitlines() == [f"0:3549 {after.frontends[0].backends[0].name}", f"3550:9999 {after.frontends[0].backends[1].name}"]
    assert weights_map(sava(weights=(35.5, 64.5)), OPTIONS) == after.maps


def test_strengths_only_change_their_acl_files():
    """A condition's strength is a file of draws read with `-m int -f`, replaced at runtime like a map: a strength
    change leaves haproxy.cfg as it is. At 0% the file is empty; at 100% there is no draw and no file."""
    before, after, none = (render(sava(strength=strength), OPTIONS) for strength in (50, 12.5, 0))
    assert after.config == before.config == none.config
    [path] = [path for path in after.maps if path.endswith(".acl")]
    assert path.startswith("maps/fe_") and f"{{ rand(10000) -m int -f {path} }}" in after.config
    assert (before.maps[path], after.maps[path], none.maps[path]) == ("0:4999\n", "0:1249\n", "")
    assert weights_map(sava(strength=12.5), OPTIONS) == after.maps
    full = render(sava(strength=100), OPTIONS)
    assert not any(path.endswith(".acl") for path in full.maps) and "-m int -f" not in full.config


def test_maps_dir_option():
    rendered = render(sava(), RenderOptions(maps_dir="weights"))
    assert rendered.maps and all(path.startswith("weights/") for path in rendered.maps)
    [path] = [path for path in rendered.maps if path.endswith(".map")]
    assert f"map_int({path}," in rendered.config


# -- frontends --------------------------------------------------------------------------------------------------------------


def test_frontend_routes_in_one_hop():
    config = render(sava(), OPTIONS).config
    assert config.count("\nfrontend ") == 1 and "unix@" not in config and "send-proxy" not in config
    start = config.index("\nfrontend ")
    frontend = config[start:config.index("\nbackend ", start)]
    lines = [line.strip() for line in frontend.splitlines()]
    # no `use_backend %[...]`: its map would need loading by a named ACL, and it costs every request
    assert "%[" not in frontend and not any(line.startswith("acl ") and "map_int(" in line for line in lines)
    # the first sticky rule reads the route cookie into a variable, the others compare it
    sticky = [i for i, line in enumerate(lines) if "set-var(txn.drover_rc) -m str " in line or "{ var(txn.drover_rc) -m str " in line]
    assert "{ req.cook(DRV_" in lines[sticky[0]] and all("{ var(txn.drover_rc) -m str " in lines[i] for i in sticky[1:])
    # the strength's draw comes first: the header ACLs are evaluated only for the requests it lets through
    condition = next(i for i, line in enumerate(lines) if re.search(r" if \{ rand\(10000\) -m int -f maps/\S+\.acl \} ", line))
    # the weighted pick: one static rule per backend, the first draws, looks up the map and keeps the name; each
    # needs a live server; a second draw, then the routes at the map's two ends, for a draw that named a dead route
    picks = [i for i, line in enumerate(lines) if "map_int(maps/" in line or "-m str bk_" in line]
    pick_var = lines[picks[0]].split("set-var(")[1].split(")")[0]
    assert len(picks) == 8 and f"{{ var({pick_var}) -m str bk_" in lines[picks[1]]
    assert lines[picks[2]] == lines[picks[0]] and lines[picks[3]] == lines[picks[1]]
    # each end is one lookup too, kept in the variable: every `map_int(...)` is parsed on its own (haproxy -c time)
    assert "{ int(0),map_int(maps/" in lines[picks[4]] and "{ int(9999),map_int(maps/" in lines[picks[6]]
    assert lines[picks[5]] == lines[picks[7]] == lines[picks[1]]
    assert sum("map_int(" in line for line in lines) == 4
    assert all(line.endswith(f" live_{line.split()[1]}") for line in lines if line.startswith("use_backend"))
    # a live server, or a worker that stops after a reload (2.6 reports nbsrv 0 there for requests it still answers)
    for backend in {line.split()[1] for line in lines if line.startswith("use_backend")}:
        assert [line for line in lines if line.startswith(f"acl live_{backend} ")] == [f"acl live_{backend} nbsrv({backend}) gt 0",
                                                                                       f"acl live_{backend} stopping"]
    assert max(sticky) < condition < min(picks)    # sticky, then conditions, then weights
    assert picks[-1] == max(i for i, line in enumerate(lines) if line.startswith("use_backend"))     # the last decision
    # a condition used by one rule draws in place: no variable; the route cookie and the pick have one each
    assert [line for line in lines if "set-var(" in line] == [lines[sticky[0]]] + [lines[i] for i in picks[::2]]
    assert not any(line.startswith("http-request ") for line in lines) and "http-response" not in frontend
    # each route backend sets the route cookie itself, under the one gateway's cookie name
    cookie = lines[sticky[0]].split("req.cook(")[1].split(")")[0]
    assert config.count(f"http-response add-header Set-Cookie '{cookie}=") == 2


def test_three_routes_end_with_a_last_resort_that_asks_the_runtime_weights():
    """Two draws and the map's two ends can all name dead routes when there are three routes or more: the last rules
    send such a request to the first live route that has a weight now, in the routes' order, never to a dark launch
    (weight 0), and never a request every weight leaves unrouted. "Has a weight" is a file replaced with the maps, so
    haproxy.cfg stays the same when weights change (no reload). With two routes the map's ends cover both."""
    rendered = render(standalone(external_gateway([18081, 18082, 18083, 18084], [20, 50, 30, 0])), OPTIONS)
    start = rendered.config.index("\nfrontend ")
    decisions = [line.strip() for line in rendered.config[start:].splitlines() if line.strip().startswith("use_backend")]
    pick_var = next(line for line in decisions if "set-var(" in line).split("set-var(")[1].split(")")[0]
    [path] = [name for name in rendered.files if name.endswith(".weighted.acl")]
    last = decisions[-4:]
    assert [line.split()[1].split("_")[1] for line in last] == [f"127.0.0.1:{port}" for port in (18081, 18082, 18083, 18084)]
    assert all(line.split(" if ", 1)[1] == f"!{{ var({pick_var}) -m str drover_unrouted_http }} "
               f"{{ str({line.split()[1]}) -m str -f {path} }} live_{line.split()[1]}" for line in last)
    assert rendered.files[path] == "".join(f"{line.split()[1]}\n" for line in last[:3])    # not the dark launch
    shifted = render(standalone(external_gateway([18081, 18082, 18083, 18084], [0, 50, 0, 50])), OPTIONS)
    assert shifted.config == rendered.config and shifted.files[path] == "".join(f"{line.split()[1]}\n" for line in last[1::2])
    two = render(standalone(external_gateway([18081, 18082], [60, 40])), OPTIONS)
    assert "drover_unrouted_http }" not in two.config and not any(name.endswith(".weighted.acl") for name in two.files)


def frontend_lines(gateway) -> list[str]:
    config = render(standalone(gateway), OPTIONS).config
    start = config.index("\nfrontend ")
    return [line.strip() for line in config[start:config.index("\nbackend ", start)].splitlines()]


def test_every_map_and_acl_file_is_loaded_once_before_the_frontends():
    """HAProxy 2.6 finds a file by walking every pattern list made so far: named before any frontend, each is found
    early (`haproxy -c` of 5,000 gateways: 23 s without, 1 s with; benchmarks/render.py)."""
    gateway = external_gateway([18081, 18082], [50, 50])
    gateway.routes[1] = route("[127.0.0.1:18082]", 50, "user-agent == Chrome", 50)
    rendered = render(standalone(gateway, external_gateway([18083], name="other", port=9061)), OPTIONS)
    config = rendered.config
    section = config[config.index("\nbackend drover_pattern_files\n"):config.index("\nfrontend ")].splitlines()[2:]
    files = [name for name in rendered.files if name != "haproxy.cfg"]
    assert any(name.endswith(".acl") for name in files) and sum(name.endswith(".map") for name in files) == 2
    assert [line.strip() for line in section if line.strip() and not line.startswith("#")] == [
        f"acl file{i} int(0),map_int({name}) -m found" if name.endswith(".map") else f"acl file{i} str(x) -m str -f {name}"
        for i, name in enumerate(files)]
    assert "drover_pattern_files" not in config.split("\nfrontend ", 1)[1]   # no rule routes there


def test_a_route_backend_shared_by_gateways_reads_the_cookie_name_from_its_frontend():
    sticky = external_gateway([7001, 7002], name="sticky-one", port=9001)
    sticky.sticky = "route"
    plain = external_gateway([7001, 7002], name="plain", port=9002)
    only = external_gateway([7003], name="sticky-two", port=9003)
    only.sticky = "route"
    config = render(standalone(sticky, plain, only), OPTIONS).config
    shared = backend_block(config, "[127.0.0.1:7001]")
    own = backend_block(config, "[127.0.0.1:7003]")
    # reached from a sticky and a plain gateway: the name comes from the frontend, which only the sticky one sets
    assert any(line.startswith("http-response add-header Set-Cookie '%[var(txn.drover_rcn)]=") for line in shared)
    assert config.count("set-var(txn.drover_rcn) str(DRV_") == 1
    # reached from one gateway only: a constant name
    assert any(line.startswith("http-response add-header Set-Cookie 'DRV_") for line in own)


def test_a_condition_several_rules_repeat_keeps_one_draw_in_a_variable():
    blueprint = two_clusters(inner_condition=True)
    blueprint.gateways[0].routes[0] = route("shop/web", 50, "has cookie beta", 50)
    config = render(standalone(blueprints=[blueprint]), OPTIONS).config
    # the outer condition guards the cluster's X-Beta rule and the rest of the route: one draw for both
    draws = [line.strip() for line in config.splitlines() if "set-var(txn." in line and ") rand(10000) if " in line]
    assert draws, config
    var = draws[0].split("set-var(")[1].split(")")[0]
    assert len(re.findall(rf"\{{ var\({re.escape(var)}\) -m int -f maps/\S+\.acl \}}", config)) >= 2


def test_a_condition_with_many_alternatives_keeps_its_draw_in_a_variable(tmp_path):
    """Past 8 exclusive alternatives (or 50 words) the rule would grow too long for one HAProxy line."""
    gateway = external_gateway([7001, 7002])
    agents = " or ".join(f"user-agent == Agent{n}" for n in range(9))
    gateway.routes[1] = route("[127.0.0.1:7002]", None, agents, 50)
    rendered = render(standalone(gateway), OPTIONS)
    rule = next(line.strip() for line in rendered.config.splitlines() if line.strip().startswith("use_backend bk_127.0.0.1:7002"))
    assert re.search(r"-m int -f maps/\S+\.acl \} live_" + re.escape(rule.split()[1]) + "$", rule) and "rand(" not in rule and " or " not in rule
    assert "rand(10000) if " in rendered.config
    if shutil.which("haproxy"):
        assert_haproxy_accepts(rendered.files, tmp_path)


@pytest.mark.parametrize("expression, expected", [
    ("a", [["a"]]),
    ("a !b", [["a", "!b"]]),
    ("a !b or c", [["a", "!b"], ["c", "!a"], ["c", "a", "b"]]),
    ("a or b or c", [["a"], ["b", "!a"], ["c", "!a", "!b"]]),
    ("a or !a b", [["a"], ["!a", "b"]]),
])
def test_exclusive_alternatives(expression, expected):
    assert exclusive_alternatives(expression) == expected


def test_exclusive_alternatives_cover_the_same_requests_and_never_overlap():
    expression = "a !b or c d or !a !d"
    names = ["a", "b", "c", "d"]
    alternatives = exclusive_alternatives(expression)

    def holds(words, values):
        return all(values[w.lstrip("!")] != w.startswith("!") for w in words)

    for bits in itertools.product([False, True], repeat=len(names)):
        values = dict(zip(names, bits))
        original = any(holds(part.split(), values) for part in expression.split(" or "))
        matching = [alternative for alternative in alternatives if holds(alternative, values)]
        assert len(matching) == (1 if original else 0), (values, matching)


def test_tcp_frontend_uses_content_rules_and_a_tcp_log_format():
    config = render(standalone(external_gateway([7001, 7002], [40, 60], protocol=TCP)), OPTIONS).config
    assert ",map_int(maps/" in config and "drover_unrouted_tcp),set-var(" in config and "%[" not in config
    assert "mode tcp" in config and "log-format '{\"t\":\"%t\"" in config
    assert "backend drover_unrouted_tcp" in config and "http-request" not in config.split("\nfrontend ")[1]


def test_no_log_format_without_a_log_target():
    """HAProxy ignores a log-format with nowhere to log (and warns), so none is written."""
    gateways = [external_gateway([7001, 7002], [40, 60]), external_gateway([7003], [100], name="db", port=9061, protocol=TCP)]
    logged = render(standalone(*gateways), OPTIONS).config
    silent = render(standalone(*gateways), dataclasses.replace(OPTIONS, log_target=None)).config
    assert logged.count("log-format ") == 2 and "log global" in logged
    assert "log-format" not in silent and "log global" not in silent


def test_virtual_hosts_need_a_bind_address():
    gateway = external_gateway([7001])
    gateway.virtual_hosts = ["shop.example.com"]
    without = render(standalone(gateway), RenderOptions())
    assert "drover_virtual_hosts" not in without.config and "virtual_hosts_bind" in without.warnings[0]
    with_bind = render(standalone(gateway), RenderOptions(virtual_hosts_bind="0.0.0.0:80"))
    assert "frontend drover_virtual_hosts" in with_bind.config and "host_only -m str shop.example.com" in with_bind.config


def test_user_agent_with_spaces_and_quotes_stays_one_word(tmp_path):
    gateway = external_gateway([7001, 7002])
    gateway.routes[1] = route("[127.0.0.1:7002]", condition="user-agent == \"Mozilla/5.0 (X11; it's) #1\"")
    rendered = render(standalone(gateway), OPTIONS)
    acl = next(line for line in rendered.config.splitlines() if "User-Agent" in line)
    assert "'Mozilla/5.0 (X11; it'\\''s) #1'" in acl
    if shutil.which("haproxy"):
        assert_haproxy_accepts(rendered.files, tmp_path)


def test_bad_condition_is_reported_at_the_route():
    gateway = external_gateway([7001, 7002])
    gateway.routes[1] = route("[127.0.0.1:7002]", condition="user-agent ==")
    with pytest.raises(DslError) as caught:
        render(standalone(gateway), OPTIONS)
    [issue] = caught.value.issues
    assert issue.code == "InvalidCondition" and issue.origin.path == "routes[[127.0.0.1:7002]]"


# -- backends and slots -------------------------------------------------------------------------------------------------------


def backend_block(config: str, target: str) -> list[str]:
    start = config.index(f"# route target {target}\n")
    end = config.find("\n\n", start)
    return [line.strip() for line in config[start:end if end > 0 else None].splitlines()[2:]]


def test_instances_fill_their_slots_and_the_rest_are_disabled():
    config = render(sava(), OPTIONS, SAVA_INSTANCES).config
    lines = backend_block(config, "sava/sava/sava:1.0.0")
    servers = [line for line in lines if line.startswith("server ")]
    assert servers[:3] == ["server slot1 10.0.0.11:31001", "server slot2 0.0.0.0:0 disabled", "server slot3 10.0.0.12:31002"]
    assert len(servers) == 8 and all(s.endswith("0.0.0.0:0 disabled") for s in servers[3:])
    assert "option httpchk GET /health" in lines and "http-check expect status 200-399" in lines
    assert "default-server check inter 3000 fall 2 rise 2" in lines and "timeout check 1000" in lines


def test_an_instance_beyond_the_slots_adds_slots():
    instances = {"sava/sava/sava:1.0.0": [Instance(11, "10.0.0.11", 31001)]}
    servers = [line for line in backend_block(render(sava(), OPTIONS, instances).config, "sava/sava/sava:1.0.0") if line.startswith("server ")]
    assert len(servers) == 11 and servers[-1] == "server slot11 10.0.0.11:31001"


@pytest.mark.parametrize("instance, message", [
    (Instance(0, "10.0.0.1", 80), "slot"),
    (Instance(1, "10.0.0.1\nserver evil 1.2.3.4:80", 80), "address"),
    (Instance(1, "10.0.0.1", 70000), "port"),
])
def test_bad_instances_are_refused(instance, message):
    with pytest.raises(DroverError, match=message):
        render(sava(), OPTIONS, {"sava/sava/sava:1.0.0": [instance]})


def test_duplicate_slots_are_refused():
    with pytest.raises(DroverError, match="unique"):
        render(sava(), OPTIONS, {"sava/sava/sava:1.0.0": [Instance(1, "10.0.0.1", 80), Instance(1, "10.0.0.2", 80)]})


def test_sticky_instance_needs_a_cookie_key():
    with pytest.raises(DroverError, match="dynamic_cookie_key"):
        render(sava(sticky="instance"), RenderOptions())
    config = render(sava(sticky="instance"), RenderOptions(dynamic_cookie_key="s3cret-key"), SAVA_INSTANCES).config
    lines = backend_block(config, "sava/sava/sava:1.0.0")
    assert any(line.startswith("cookie DRVI_") and line.endswith(" insert indirect nocache dynamic") for line in lines)
    assert "dynamic-cookie-key s3cret-key" in lines


def test_health_check_on_another_port_uses_that_port():
    artifacts = sava()
    breed = artifacts.blueprints["sava"].clusters[0].services[0].breed
    breed.ports.append(Port("admin", 8081))
    breed.health_checks = [HealthCheck(path="/status", port="admin", interval=10, timeout=2, failures=3)]
    lines = backend_block(render(artifacts, OPTIONS).config, "sava/sava/sava:1.0.0/webport")   # several ports: named
    assert "option httpchk GET /status" in lines
    assert "default-server check inter 10000 fall 3 rise 2 port 8081" in lines


def test_each_instance_is_checked_on_the_port_it_publishes_for_the_checked_port(tmp_path):
    """Two instances on one host publish `admin` (8081 in the breed) under host ports of their own: each slot line
    names its instance's, so the check does not go to 8081 on the host."""
    artifacts = sava()
    breed = artifacts.blueprints["sava"].clusters[0].services[0].breed
    breed.ports.append(Port("admin", 8081))
    breed.health_checks = [HealthCheck(path="/status", port="admin", interval=10, timeout=2, failures=3)]
    key = "sava/sava/sava:1.0.0"
    instances = {f"{key}/webport": [Instance(1, "10.0.0.5", 32001), Instance(2, "10.0.0.5", 32003)],
                 f"{key}/admin": [Instance(1, "10.0.0.5", 32002), Instance(2, "10.0.0.5", 32004)]}
    rendered = render(artifacts, OPTIONS, instances)
    lines = backend_block(rendered.config, f"{key}/webport")
    assert "server slot1 10.0.0.5:32001 port 32002" in lines and "server slot2 10.0.0.5:32003 port 32004" in lines
    assert_haproxy_accepts(rendered.files, tmp_path)
    assert "server slot3 0.0.0.0:0 disabled" in lines
    # without instances for the checked port (host networking), the breed's number from default-server applies
    lines = backend_block(render(artifacts, OPTIONS, {key: [Instance(1, "10.0.0.5", 8080)]}).config, f"{key}/webport")
    assert "server slot1 10.0.0.5:8080" in lines and "default-server check inter 10000 fall 3 rise 2 port 8081" in lines


def test_balance_and_rewrites_reach_the_backend():
    gateway = external_gateway([7001], balance="hdr(X-User)", rewrites=[rewrite("/new%[path]", "{ path_beg /old } !{ method POST }")])
    lines = backend_block(render(standalone(gateway), OPTIONS).config, "[127.0.0.1:7001]")
    assert "balance hdr(X-User)" in lines and "hash-type consistent" in lines
    assert "http-request set-path /new%[path] if { path_beg /old } !{ method POST }" in lines


# -- options and templates ----------------------------------------------------------------------------------------------------


def test_global_section_fits_master_worker():
    config = render(sava(), RenderOptions(admin_socket="/run/drover/admin.sock", server_state_file="/var/lib/drover/state",
                                          hard_stop_after="2m", log_target="/dev/log local0")).config
    for line in ("stats socket /run/drover/admin.sock mode 600 level admin expose-fd listeners", "server-state-file /var/lib/drover/state",
                 "hard-stop-after 2m", "default-path config", "log /dev/log local0", "load-server-state-from-file global",
                 "option redispatch", "retries 3"):
        assert f"\n    {line}\n" in config
    assert "master-worker" not in [line.strip() for line in config.splitlines()]    # -W on the command line instead


@pytest.mark.parametrize("field, value", [
    ("timeout_client", "30 s"),
    ("bind_address", "0.0.0.0\nfrontend x"),
    ("admin_socket", "/run/a.sock\nstats socket /tmp/b"),
    ("stats_bind", "8404"),
    ("maps_dir", "../maps"),
    ("dynamic_cookie_key", "short"),
    ("default_slots", 0),
])
def test_bad_options_are_refused(field, value):
    with pytest.raises(DroverError, match=f"RenderOptions.{field}"):
        render(sava(), RenderOptions(**{field: value}))


def test_user_template(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("{% for f in frontends %}{{ f.name }}\n{% endfor %}")
    rendered = render(sava(), RenderOptions(template_path=str(template)))
    assert rendered.config == f"{rendered.frontends[0].name}\n" and rendered.maps
    template.write_text("changed {{ frontends | length }}\n")
    os.utime(template, ns=(1, 1))    # a new modification time makes the cached template stale
    assert render(sava(), RenderOptions(template_path=str(template))).config == "changed 1\n"
