# -*- coding: utf-8 -*-
"""The names drover writes into haproxy.cfg and its maps, and the patterns that read them back: built and parsed in
one module, so what the renderer writes is what `drover status` recognises."""

from __future__ import annotations

import re

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.routing import names
from ansible_collections.drover.fleet.plugins.module_utils.routing.names import haproxy_name
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import render
from ansible_collections.drover.fleet.tests.support.routing_fixtures import sava, standalone, two_clusters


def test_names_are_sanitized_stable_and_distinct():
    first = haproxy_name("bk", "a/b c#d")
    assert first == haproxy_name("bk", "a/b c#d")
    assert all(ch.isalnum() or ch in "_.:-" for ch in first)
    assert haproxy_name("bk", "a/b") != haproxy_name("bk", "a_b")


@pytest.mark.parametrize("label", ["sava/9050", "shop:1.0/web", "a b#c"])
def test_section_comments_read_back_as_their_label(label):
    assert names.section_label("fe_x", names.gateway_comment(label)) == names.comment(label)
    assert names.section_label("bk_x", names.route_target_comment(label)) == names.comment(label)
    assert names.section_label("drover_unrouted_http", "no route: HTTP 503 or a closed connection") == "drover_unrouted_http"


def test_live_acls_and_unrouted_backends_read_back():
    backend = names.backend_name("sava/sava/sava:1.0.0")
    assert names.live_acl_backend(names.live_acl(backend)) == backend
    assert names.live_acl_backend("d1df9b6_c1") is None
    assert re.fullmatch(names.LIVE_ACL_PATTERN, names.live_acl(backend))
    assert all(names.is_unrouted(name) for name in names.UNROUTED_BACKEND.values()) and not names.is_unrouted(backend)


@pytest.mark.parametrize("suffix, role", [("", 0), (names.stage_suffix(3), 3), (names.rest_suffix(3), None)])
def test_weight_map_files_read_back_as_the_pick_or_a_stage(suffix, role):
    frontend = names.frontend_name("shop:web/9100")
    path = names.map_path("maps", names.weights_map_name(frontend, suffix))
    assert ":" not in path and names.weights_map_role(frontend, path) == role
    assert names.weights_map_role(names.frontend_name("other"), path) is None


def test_every_drover_name_in_a_rendered_config_is_one_the_patterns_know():
    """The variables, ACLs, stage tokens and map files of a two-step, sticky, conditional gateway."""
    rendered = render(standalone(blueprints=[two_clusters(True)]))
    text = rendered.config + render(sava()).config
    variables = set(re.findall(r"\btxn\.drover_\w+", text))
    assert variables == {names.ROUTE_COOKIE_VAR} and all(re.fullmatch(names.ROUTE_COOKIE_VARS_PATTERN, var) for var in variables)
    tokens = set(re.findall(r"-m str (@\S+)", text))
    assert tokens and all(re.fullmatch(names.STAGE_TOKEN_PATTERN, token) for token in tokens)
    [frontend] = rendered.frontends
    roles = sorted(names.weights_map_role(frontend.name, path) for path in rendered.maps if path.endswith(".map"))
    assert roles[0] == 0 and roles[1:] == [int(token[1:]) for token in sorted(tokens)]
