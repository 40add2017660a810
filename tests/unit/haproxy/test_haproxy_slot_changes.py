# -*- coding: utf-8 -*-
"""slot_changes: which haproxy.cfg changes the runtime API can apply without a reload (only slot server lines differ),
on the real renderer's output and on hand-written edge cases. The runtime side is tested against a real HAProxy in
tests/integration/test_runtime_slots.py."""

from __future__ import annotations

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.slot_changes import SlotChange, SlotLine, runtime_updates, slot_changes
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.tests.support.routing_fixtures import sava

OPTIONS = RenderOptions(dynamic_cookie_key="slot-test-key")
OLD, NEW = "sava/sava/sava:1.0.0", "sava/sava/sava:1.1.0"


def rendered(old: list, new: list) -> str:
    return render(sava(), OPTIONS, {OLD: old, NEW: new}).config


def backend_of(config: str, target: str) -> str:
    """The name of the backend that holds `target`'s slots."""
    header = config.splitlines()[config.splitlines().index(f"# route target {target}") + 1]
    return header.split()[1]


BASE = [Instance(1, "10.0.0.11", 31001), Instance(2, "10.0.0.12", 31002)]


def test_scaling_inside_the_slot_range_is_a_slot_only_change():
    before = rendered(BASE, [Instance(1, "10.0.0.13", 31003)])
    after = rendered(BASE + [Instance(3, "10.0.0.14", 31004)], [])
    backend_old, backend_new = backend_of(before, OLD), backend_of(before, NEW)
    assert runtime_updates(slot_changes(before, after)) == [
        {"backend": backend_old, "server": "slot3", "action": "fill", "address": "10.0.0.14", "port": 31004},
        {"backend": backend_new, "server": "slot1", "action": "free", "address": "10.0.0.13", "port": 31003},
    ]
    # and back: the reverse changes
    assert [(u["server"], u["action"]) for u in runtime_updates(slot_changes(after, before))] == [("slot3", "free"), ("slot1", "fill")]


def test_a_moved_instance_frees_then_fills_its_slot():
    before, after = rendered(BASE, []), rendered([BASE[0], Instance(2, "10.0.0.15", 31009)], [])
    changes = slot_changes(before, after)
    assert changes == [SlotChange(backend_of(before, OLD), "slot2", SlotLine("10.0.0.12", 31002, False), SlotLine("10.0.0.15", 31009, False))]
    assert [(u["action"], u["address"], u["port"]) for u in runtime_updates(changes)] == [("free", "10.0.0.12", 31002), ("fill", "10.0.0.15", 31009)]


def test_identical_texts_have_no_changes():
    text = rendered(BASE, [])
    assert slot_changes(text, text) == []


def test_an_instance_beyond_the_slot_range_adds_lines_and_needs_a_reload():
    assert slot_changes(rendered(BASE, []), rendered(BASE + [Instance(9, "10.0.0.19", 31019)], [])) is None


LIVE = """global
    stats socket /run/haproxy/admin.sock level admin

peers mesh
    server lb1 10.0.0.1:10000

frontend fe
    bind :80
    default_backend web

backend web
    default-server check inter 3000
    server slot1 10.0.0.11:8080 weight 10 # first
    server slot2 0.0.0.0:0 disabled weight 10
    server ext web.example.com:80 disabled

listen stats
    bind :8404
    server slot1 0.0.0.0:0 disabled
"""


@pytest.mark.parametrize("old, new, expected", [
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 10.0.0.12:8080 weight 10", [("web", "slot2", "fill", "10.0.0.12", 8080)]),
    ("server slot1 10.0.0.11:8080 weight 10 # first", "server slot1 10.0.0.11:8080 disabled weight 10 # first",
     [("web", "slot1", "free", "10.0.0.11", 8080)]),
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 [fd00::12]:8080 weight 10", [("web", "slot2", "fill", "fd00::12", 8080)]),
    ("    server slot1 0.0.0.0:0 disabled\n", "    server slot1 10.0.0.30:9000\n", [("stats", "slot1", "fill", "10.0.0.30", 9000)]),
    # a free slot written with another address: it stays in maintenance
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 10.0.0.12:8080 disabled weight 10", [("web", "slot2", "free", "0.0.0.0", 0)]),
    # filled with an instance checked on a port of its own
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 10.0.0.12:8080 weight 10 port 9090", [("web", "slot2", "fill", "10.0.0.12", 8080)]),
    # only the check port moves: the slot is freed and filled again
    ("server slot1 10.0.0.11:8080 weight 10 # first", "server slot1 10.0.0.11:8080 weight 10 port 9091 # first",
     [("web", "slot1", "free", "10.0.0.11", 8080), ("web", "slot1", "fill", "10.0.0.11", 8080)]),
])
def test_slot_lines_that_the_runtime_api_can_apply(old, new, expected):
    changes = slot_changes(LIVE, LIVE.replace(old, new))
    assert [(u["backend"], u["server"], u["action"], u["address"], u["port"]) for u in runtime_updates(changes)] == expected


@pytest.mark.parametrize("old, new", [
    ("server slot1 10.0.0.11:8080 weight 10 # first", "server slot1 10.0.0.11:8080 weight 20 # first"),  # another word
    ("server slot1 10.0.0.11:8080 weight 10 # first", "server slot1 10.0.0.12:8080 weight 10 # second"),  # the comment
    ("server slot1 10.0.0.11:8080 weight 10 # first", "server slotA 10.0.0.12:8080 weight 10 # first"),  # the name
    ("    server slot1 10.0.0.11:8080", "  server slot1 10.0.0.12:8080"),  # the indentation
    ("server slot1 10.0.0.11:8080 weight 10", "server slot1  10.0.0.11:8080 weight 10"),  # spacing only
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 0.0.0.0:0 weight 10 disabled"),  # order only
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 db.example.com:5432 weight 10"),  # a host name
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 10.0.0.12:0 weight 10"),  # port 0, filled
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 0.0.0.0:8080 weight 10"),  # unspecified address, filled
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 ipv4@10.0.0.12:8080 weight 10"),  # a prefix
    ("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 10.0.0.12:8080-8090 weight 10"),  # a port range
    ("server ext web.example.com:80 disabled", "server ext 10.0.0.40:80"),  # from a host name
    ("server lb1 10.0.0.1:10000", "server lb1 10.0.0.2:10000"),  # a peers section
    ("bind :80", "bind :81"),
    ("default-server check inter 3000", "default-server check inter 2000"),  # applies to every slot
    ("server slot2 0.0.0.0:0 disabled weight 10\n", "server slot2 0.0.0.0:0 disabled weight 10\n    server slot3 0.0.0.0:0 disabled\n"),
    ("listen stats\n", "# stats\nlisten stats\n"),
])
def test_anything_else_needs_a_reload(old, new):
    assert old in LIVE
    assert slot_changes(LIVE, LIVE.replace(old, new)) is None


def test_line_endings_and_trailing_lines_count():
    assert slot_changes(LIVE, LIVE + "\n") is None
    assert slot_changes(LIVE, LIVE.rstrip("\n")) is None
    assert slot_changes(LIVE, LIVE.replace("\n", "\r\n")) is None


def test_a_check_port_is_read_from_the_end_of_a_slot_line_and_reported():
    live = LIVE.replace("server slot2 0.0.0.0:0 disabled weight 10", "server slot2 10.0.0.12:8080 weight 10 port 9090")
    new = live.replace("10.0.0.12:8080 weight 10 port 9090", "10.0.0.13:8080 weight 10 port 9092")
    (change,) = slot_changes(live, new)
    assert (change.before.check_port, change.after.check_port) == (9090, 9092)
    assert runtime_updates([change])[1] == {"backend": "web", "server": "slot2", "action": "fill", "address": "10.0.0.13", "port": 8080,
                                            "check_port": 9092}
