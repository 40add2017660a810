"""Parts of a shared load balancer: assembling haproxy.cfg, conflicts between parts, taking over a single file
(plugins/module_utils/haproxy/parts.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy import parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import validate_config
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render, render_parts

HEAD = """# haproxy.cfg rendered by drover.fleet
# drover head

global
    stats socket /run/haproxy/admin.sock mode 600 level admin

defaults
    mode http

# virtual hosts of all http gateways
frontend drover_virtual_hosts
    bind 0.0.0.0:8080
    mode http
    default_backend drover_unrouted_http

# no route
backend drover_unrouted_http
    mode http
"""


def part(name: str, port: int, host: str | None = None) -> str:
    """A blueprint's part as render_parts writes it: blueprint-<name>."""
    sections = [
        parts.Section("backend", parts.PATTERN_FILES, [], [f"acl file0 int(0),map_int(maps/fe_{name}.map) -m found"]),
        parts.Section("frontend", f"fe_{name}", [f"# gateway {name}/{port}"],
                      [f"bind 0.0.0.0:{port}", f"use_backend %[rand(10000),map_int(maps/fe_{name}.map)]"]),
        parts.Section("backend", f"bk_{name}", [f"# route target {name}/c/s"], ["server slot1 0.0.0.0:0 disabled"]),
    ]
    if host:
        sections.append(parts.Section("frontend", parts.VIRTUAL_HOSTS, [], [
            f"http-request set-var(txn.drover_vhost) str({name}) if {{ req.hdr(host),host_only -m str {host} }}",
            f"use_backend bk_{name} if {{ var(txn.drover_vhost) -m str {name} }}"]))
    return parts.part_text(f"blueprint-{name}", sections)


def test_assemble_merges_pattern_files_before_the_first_frontend():
    text = parts.assemble(HEAD, {"blueprint-b": part("b", 9060), "blueprint-a": part("a", 9050)})
    merged = text.index("backend drover_pattern_files")
    assert merged < text.index("frontend fe_a") < text.index("frontend fe_b")
    assert text.count("backend drover_pattern_files") == 1
    assert "acl file0 int(0),map_int(maps/fe_a.map) -m found" in text
    assert "acl file1 int(0),map_int(maps/fe_b.map) -m found" in text


def test_virtual_hosts_frontend_only_when_a_part_has_virtual_hosts():
    without = parts.assemble(HEAD, {"blueprint-a": part("a", 9050)})
    assert "drover_virtual_hosts" not in without
    with_hosts = parts.assemble(HEAD, {"blueprint-a": part("a", 9050, "a.example"), "blueprint-b": part("b", 9060, "b.example")})
    section = with_hosts[with_hosts.index("frontend drover_virtual_hosts"):]
    assert with_hosts.count("frontend drover_virtual_hosts") == 1
    assert section.index("bind 0.0.0.0:8080") < section.index("str(a)") < section.index("str(b)") < section.index("default_backend")


def sections(text: str) -> list:
    return parts.parse_sections(text).sections


def test_a_port_clash_names_the_other_part():
    problems = parts.conflicts("blueprint-team2", sections(part("team2", 9050)), {"blueprint-demo": sections(part("demo", 9050))})
    assert problems == ["blueprint 'team2': the listener 0.0.0.0:9050 is already claimed by blueprint 'demo' (0.0.0.0:9050)"]


def test_a_specific_address_clashes_with_a_wildcard_on_the_same_port():
    mine = [parts.Section("frontend", "fe_x", [], ["bind 10.0.0.5:9050"])]
    assert parts.conflicts("gateway-x", mine, {"blueprint-demo": sections(part("demo", 9050))})
    other_port = [parts.Section("frontend", "fe_x", [], ["bind 10.0.0.5:9051"])]
    assert parts.conflicts("gateway-x", other_port, {"blueprint-demo": sections(part("demo", 9050))}) == []


def test_a_virtual_host_and_a_section_name_clash():
    mine = sections(part("a", 9061, "shop.example"))
    theirs = sections(part("a", 9050, "shop.example"))
    problems = parts.conflicts("gateway-mine", mine, {"blueprint-theirs": theirs})
    assert "gateway 'mine': virtual host shop.example is already claimed by blueprint 'theirs'" in problems
    assert "gateway 'mine': frontend fe_a is already defined by blueprint 'theirs'" in problems


def test_a_part_may_not_listen_where_the_head_does():
    head = sections(HEAD)
    problems = parts.conflicts("blueprint-a", sections(part("a", 8080)), {}, head)
    assert problems == ["blueprint 'a': the listener 0.0.0.0:8080 is where the head listens (0.0.0.0:8080: stats or virtual hosts)"]


@pytest.mark.parametrize("name", ["", "../etc", "blueprint-a b", ".hidden", "blueprint-a/b", "blueprint-", "demo", "blueprint-é", "gateway-../x"])
def test_part_names_that_are_not_file_names_are_refused(name):
    with pytest.raises(DroverError, match="part name"):
        parts.check_part_name(name)


def test_map_files_of_a_part():
    assert parts.map_files_of(part("a", 9050)) == ["maps/fe_a.map"]


def test_a_single_file_is_split_by_blueprint_and_assembles_to_the_same_sections():
    single = parts.assemble(HEAD, {"blueprint-a": part("a", 9050, "a.example"), "blueprint-b": part("b", 9060)})
    head, split = parts.split_single_file(single)
    assert sorted(split) == ["blueprint-a", "blueprint-b", "legacy"]
    assert "fe_a" in split["blueprint-a"] and "fe_b" not in split["blueprint-a"]
    assert "maps/fe_b.map" in split["blueprint-b"] and "maps/fe_a.map" not in split["blueprint-b"]
    again = parts.assemble(head, split)

    def body(text):
        return sorted((s.keyword, s.name, tuple(sorted(s.lines))) for s in sections(text))
    assert body(again) == body(single)


# -- rendered parts -------------------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(str(p) for p in (REPO / "examples").rglob("*.yml"))
RENDER_OPTIONS = RenderOptions(dynamic_cookie_key="check-cookie-key", virtual_hosts_bind="127.0.0.1:8088", stats_bind="127.0.0.1:8404")


def test_every_blueprint_and_standalone_gateway_has_its_own_part():
    rendered = render_parts(load_paths(EXAMPLES), RENDER_OPTIONS)
    artifacts = load_paths(EXAMPLES)
    expected = {f"blueprint-{name}" for name in artifacts.blueprints} | {f"gateway-{name}" for name in artifacts.gateways}
    assert set(rendered.parts) == expected
    for name, text in rendered.parts.items():
        assert parts.map_files_of(text) == sorted(rendered.maps[name])
    assert "frontend fe_sava_9050" in rendered.parts["blueprint-sava"]
    assert "backend bk_sava_sava_sava:1.0.0" in rendered.parts["blueprint-sava"]


def test_assembled_parts_hold_the_same_sections_as_the_single_file():
    artifacts = load_paths(EXAMPLES)
    rendered = render_parts(artifacts, RENDER_OPTIONS)
    single = render(artifacts, RENDER_OPTIONS)

    def body(text):
        return sorted((s.keyword, s.name, tuple(sorted(s.lines))) for s in sections(text) if s.name != parts.PATTERN_FILES)
    assert body(parts.assemble(rendered.head, rendered.parts)) == body(single.config)


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="HAProxy is not installed: run `make setup`")
def test_real_haproxy_accepts_the_assembled_parts_and_each_part_alone(tmp_path):
    rendered = render_parts(load_paths(EXAMPLES), RENDER_OPTIONS)
    maps = {rel: text for part_maps in rendered.maps.values() for rel, text in part_maps.items()}
    validate_config(str(tmp_path / "haproxy.cfg"), parts.assemble(rendered.head, rendered.parts), maps)
    alone = {name: text for name, text in rendered.parts.items() if name == "blueprint-sava"}
    validate_config(str(tmp_path / "haproxy.cfg"), parts.assemble(rendered.head, alone), rendered.maps["blueprint-sava"])
