"""`validate_config`: the candidate as `haproxy -c` sees it, from a temp dir, with the real HAProxy."""

from __future__ import annotations

import cProfile
import pstats

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import _rewrite_for_check, validate_config

CONFIG = """global
    default-path config
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:18999
    http-request set-var(txn.w) rand(10),map_int(maps/w.map,x)
    acl a str(x) -m str -f maps/a.acl
    default_backend be
backend be
    server s 127.0.0.1:1
"""
MAPS = {"maps/w.map": "0:9 be\n", "maps/a.acl": "x\n"}


@pytest.mark.parametrize("directory", ["with space", "it's", "hash#cut", "dollar$HOME", "back\\slash", 'double"quote'])
def test_a_directory_haproxy_would_split_or_cut_is_quoted(tmp_path, directory):
    live = tmp_path / directory
    live.mkdir()
    (live / "maps").mkdir()
    (live / "maps" / "unchanged.map").write_text("0:9 be\n")   # an unchanged map is read from the live directory
    config = CONFIG.replace("    default_backend be", "    http-request set-var(txn.u) rand(10),map_int(maps/unchanged.map,x)\n    default_backend be")
    validate_config(str(live / "haproxy.cfg"), config, MAPS)


def test_a_directory_holding_a_line_break_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "lua-ran"
    (tmp_path / "x.lua").write_text(f'local f = io.open("{marker}", "w"); f:write("ran"); f:close()\n')
    injected = tmp_path / f"a\nlua-load {tmp_path}/x.lua"
    with pytest.raises(DroverError, match="U\\+000A LINE FEED"):
        validate_config(str(injected / "haproxy.cfg"), CONFIG, MAPS)
    assert not marker.exists()


def _passes_over_the_text(maps: int) -> int:
    many = {f"maps/m{index}.map": "0:9 be\n" for index in range(maps)}
    config = CONFIG + "".join(f"    acl m{index} int(0),map_int(maps/m{index}.map) -m found\n" for index in range(maps))
    profile = cProfile.Profile()
    profile.runcall(_rewrite_for_check, config, "/etc/haproxy", "/tmp/check", many)
    stats = pstats.Stats(profile).stats
    return sum(calls for (_file, _line, name), (calls, *_rest) in stats.items() if name == "<method 'sub' of 're.Pattern' objects>")


def test_the_candidate_is_rewritten_in_passes_that_do_not_grow_with_the_maps():
    """One regex pass per map made `render --check` quadratic: 1,000 standalone gateways took 69 s."""
    assert _passes_over_the_text(1000) == _passes_over_the_text(10)


def test_every_map_reference_points_at_its_candidate_copy():
    config = CONFIG + "    acl abs int(0),map_int(/etc/my haproxy/maps/w.map) -m found\n    acl dot str(x) -m str -f ./maps/a.acl\n"
    text = _rewrite_for_check(config, "/etc/my haproxy", "/tmp/check", MAPS)
    assert "default-path origin '/etc/my haproxy'" in text
    assert "map_int(/tmp/check/maps/w.map,x)" in text and "-f /tmp/check/maps/a.acl" in text
    assert "map_int(/tmp/check/maps/w.map)" in text and "-f /tmp/check/maps/a.acl\n" in text and "./maps" not in text
