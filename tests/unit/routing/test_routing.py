# -*- coding: utf-8 -*-
"""The routing plan: weights, flattening of cluster routes into one frontend, conditions, sticky, slots, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Blueprint, Cluster, Gateway, Port, Service
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import (
    PICK_RANGE,
    effective_weights,
    plan,
    to_units,
)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import rewrite_problem
from ansible_collections.drover.fleet.tests.support.routing_fixtures import (
    TCP,
    breed,
    external_gateway,
    rewrite,
    route,
    sava,
    scaled_sla,
    standalone,
    two_clusters,
)


# -- weights ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weights, expected", [
    ([90, 10], [90, 10]),
    ([None, None, None, None], [25, 25, 25, 25]),
    ([50, None, None], [50, 25, 25]),
    ([60, 20], [75, 25]),            # a blueprint's weights total less than 100: scaled proportionally
    ([80, None], [80, 20]),          # the unset route takes the rest
    ([100, None], [100, 0]),
    ([0, 0], [0, 0]),
    ([None], [100]),
])
def test_effective_weights(weights, expected):
    assert effective_weights(weights) == pytest.approx(expected)


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=30))
def test_units_always_add_up_to_the_pick_range(percents):
    units = to_units(effective_weights(percents))
    assert sum(units) in (0, PICK_RANGE)
    assert all(u >= 0 for u in units)
    if sum(percents) > 0:
        for unit, percent in zip(units, effective_weights(percents)):
            assert abs(unit - percent * PICK_RANGE / 100) < 1


def test_units_keep_a_hundredth_of_a_percent():
    assert to_units([99.99, 0.01]) == [9999, 1]
    assert to_units([100 / 3] * 3) == [3334, 3333, 3333]


# -- the sava canary ----------------------------------------------------------------------------------------------------


def test_sava_is_one_frontend_with_flattened_service_routes():
    [frontend] = plan(sava())
    assert (frontend.port, frontend.mode, frontend.label) == (9050, "http", "sava/9050")
    assert [b.target for b in frontend.backends] == ["sava/sava/sava:1.0.0", "sava/sava/sava:1.1.0"]
    entries = frontend.weighted.entries
    assert [(e.route, e.percent, e.units) for e in entries] == [
        ("sava/webport > sava:1.0.0", 90.0, 9000), ("sava/webport > sava:1.1.0", 10.0, 1000)]
    assert frontend.weighted.text() == f"0:8999 {entries[0].target}\n9000:9999 {entries[1].target}\n"
    [rule] = frontend.rules
    assert rule.backend == frontend.backends[1].name
    assert [(t.condition.definition, t.strength, t.threshold) for t in rule.tests] == [("user-agent == Chrome", 50.0, 5000)]
    assert not frontend.stages


def test_condition_strength_defaults_to_100_percent():
    [frontend] = plan(sava(strength=None))
    assert frontend.rules == []
    artifacts = sava()
    artifacts.blueprints["sava"].clusters[0].gateways[0].routes[1].condition_strength = None
    [frontend] = plan(artifacts)
    assert frontend.rules[0].tests[0].threshold == PICK_RANGE


def test_sticky_route_gives_every_route_a_cookie_value():
    [frontend] = plan(sava(sticky="route"))
    assert frontend.route_cookie.startswith("DRV_")
    assert sorted(s.backend for s in frontend.sticky_routes) == sorted(b.name for b in frontend.backends)
    values = [s.value for s in frontend.sticky_routes]
    assert len(set(values)) == 2 and not any("sava" in v for v in values)
    assert not any(b.sticky_instance for b in frontend.backends)
    [unsticky] = plan(sava(sticky=None))
    assert unsticky.route_cookie is None and unsticky.sticky_routes == []


def test_sticky_instance_implies_route_and_an_instance_cookie_per_backend():
    [frontend] = plan(sava(sticky="instance"))
    assert frontend.sticky_routes
    assert all(b.sticky_instance and b.instance_cookie.startswith("DRVI_") for b in frontend.backends)
    assert len({b.instance_cookie for b in frontend.backends}) == 2


def test_weights_never_change_names_or_rules():
    first, second = plan(sava(weights=(90, 10)))[0], plan(sava(weights=(30, 70)))[0]
    assert [b.name for b in first.backends] == [b.name for b in second.backends]
    assert first.weighted.name == second.weighted.name
    assert [e.units for e in second.weighted.entries] == [3000, 7000]


def test_zero_weight_route_keeps_its_backend_and_sticky_entry():
    [frontend] = plan(sava(weights=(100, 0)))
    assert len(frontend.backends) == 2 and len(frontend.sticky_routes) == 2
    assert frontend.weighted.ranges() == [(0, 9999, frontend.backends[0].name)]


# -- slots ------------------------------------------------------------------------------------------------------------


def test_slots_default_and_at_least_the_scale():
    [frontend] = plan(sava(instances=(2, 1)))
    assert [b.slots for b in frontend.backends] == [8, 8]
    [frontend] = plan(sava(instances=(12, 1)), default_slots=4)
    assert [b.slots for b in frontend.backends] == [12, 4]


@pytest.mark.parametrize("grouped", [True, False])
def test_slots_follow_the_sla_scale_instances_maximum(grouped):
    [frontend] = plan(sava(sla=scaled_sla(5, grouped=grouped), instances=(2, 1)))
    assert [b.slots for b in frontend.backends] == [5, 5]


def test_escalation_targeting_another_cluster_sizes_that_cluster():
    artifacts = sava()
    blueprint = artifacts.blueprints["sava"]
    sla = scaled_sla(20)
    sla.escalations[0].escalations[0].target = "other"
    blueprint.clusters[0].sla = sla
    [frontend] = plan(artifacts)
    assert [b.slots for b in frontend.backends] == [8, 8]   # the SLA scales cluster `other`, not sava


# -- flattening ---------------------------------------------------------------------------------------------------------


def test_cluster_routes_without_inner_conditions_multiply_into_one_map():
    artifacts = standalone(blueprints=[two_clusters(inner_condition=False)])
    [frontend] = plan(artifacts)
    assert not frontend.stages and not frontend.rules
    assert [(e.route, e.percent) for e in frontend.weighted.entries] == [
        ("shop/web > shop:1", 35.0), ("shop/web > shop:2", 15.0), ("search/web > search:1", 50.0)]


def test_inner_conditions_behind_a_weighted_choice_become_a_stage():
    artifacts = standalone(blueprints=[two_clusters(inner_condition=True)])
    [frontend] = plan(artifacts)
    [stage] = frontend.stages
    assert stage.token == "@1" and stage.route == "shop/web"
    assert [(e.target, e.percent) for e in frontend.weighted.entries][0] == ("@1", 50.0)
    assert [e.percent for e in stage.weighted.entries] == [70.0, 30.0]
    [rule] = stage.rules
    assert rule.stage == "@1" and rule.tests[0].condition.definition == "has header X-Beta"
    assert stage.weighted.name != frontend.weighted.name and stage.weighted.result_var != frontend.weighted.result_var


def test_outer_condition_to_a_cluster_expands_inner_rules_then_the_rest():
    blueprint = two_clusters(inner_condition=True)
    blueprint.gateways[0].routes[0] = route("shop/web", 50, "has cookie beta", 80)
    [frontend] = plan(standalone(blueprints=[blueprint]))
    first, rest = frontend.rules
    assert [t.condition.definition for t in first.tests] == ["has cookie beta", "has header X-Beta"]
    assert first.backend is not None
    assert [t.condition.definition for t in rest.tests] == ["has cookie beta"] and rest.weighted is not None
    assert rest.tests[0].var == first.tests[0].var        # one draw per request decides the outer strength


def test_standalone_gateway_routes_into_a_blueprint_cluster():
    gateway = Gateway(name="front", port=Port("80", 8081), routes=[route("store/search/web", 60), route("[127.0.0.1:9999]", 40)])
    [bp_frontend, frontend] = plan(standalone(gateway, blueprints=[two_clusters(False)]))
    assert bp_frontend.port == 8000
    assert [(e.label, e.percent) for e in frontend.weighted.entries] == [("store/search/search:1", 60.0), ("[127.0.0.1:9999]", 40.0)]
    shared = {b.name for b in frontend.backends} & {b.name for b in bp_frontend.backends}
    assert len(shared) == 1    # the same service backend serves both gateways


def test_external_targets_are_single_server_backends():
    [frontend] = plan(standalone(external_gateway([7001, 7002], [80, 20])))
    assert [(b.address, b.slots, b.instance_key) for b in frontend.backends] == [(("127.0.0.1", 7001), 1, None), (("127.0.0.1", 7002), 1, None)]


def test_rewrites_and_balance_make_a_backend_variant():
    plain = plan(standalone(external_gateway([7001])))[0].backends[0]
    gateway = external_gateway([7001], balance="uri", rewrites=[rewrite("/v2%[path]", "{ path_beg /api }")])
    [frontend] = plan(standalone(gateway))
    variant = frontend.backends[0]
    assert variant.name != plain.name and variant.hash_balance
    assert [r.path for r in variant.rewrites] == ["/v2%[path]"]


def test_tcp_gateway_has_only_weights():
    [frontend] = plan(standalone(external_gateway([7001, 7002], [40, 60], protocol=TCP)))
    assert frontend.mode == "tcp" and all(b.mode == "tcp" for b in frontend.backends)
    assert [e.units for e in frontend.weighted.entries] == [4000, 6000]


def test_plan_is_deterministic():
    def names(frontends):
        return [(f.name, f.tag, f.route_cookie, [(b.name, b.instance_cookie) for b in f.backends],
                 [s.value for s in f.sticky_routes], [t.var for t in f.tests]) for f in frontends]
    assert names(plan(sava(sticky="instance"))) == names(plan(sava(sticky="instance")))


# -- errors --------------------------------------------------------------------------------------------------------------


def test_unknown_targets_are_reported_at_the_route_with_every_problem():
    gateway = Gateway(name="front", port=Port("80", 8081), routes=[route("nowhere/web"), route("shop/nope")])
    with pytest.raises(DslError) as caught:
        plan(standalone(gateway, blueprints=[two_clusters(False)]))
    issues = caught.value.issues
    assert len(issues) == 2
    assert issues[0].origin.path == "routes[nowhere/web]" and issues[0].origin.file == "test.yml"
    assert "breed" in issues[1].message or "port" in issues[1].message


def test_unknown_service_in_a_cluster_gateway():
    artifacts = sava()
    artifacts.blueprints["sava"].clusters[0].gateways[0].routes.append(route("sava:9.9.9", 0))
    with pytest.raises(DslError, match="no service with breed sava:9.9.9"):
        plan(artifacts)


def test_duplicate_ports_are_refused():
    with pytest.raises(DslError) as caught:
        plan(standalone(external_gateway([7001], name="a", port=9000), external_gateway([7002], name="b", port=9000)))
    assert caught.value.codes == ["DuplicateGatewayPort"]


def test_conditions_on_tcp_are_refused():
    gateway = external_gateway([7001, 7002], protocol=TCP)
    gateway.routes[0] = route("[127.0.0.1:7001]", condition="has cookie x")
    with pytest.raises(DslError) as caught:
        plan(standalone(gateway))
    assert caught.value.codes == ["UnsupportedOnTcp"]


@pytest.mark.parametrize("extra, code", [
    ({"balance": "custom 1"}, "InvalidBalance"),
    ({"rewrites": [rewrite("/x\nbackend evil", "{ path / }")]}, "InvalidRewrite"),
    ({"rewrites": [rewrite("/x", "{ path / } # comment")]}, "InvalidRewrite"),
    ({"rewrites": [rewrite("/x", "{ path_beg x } INJECTED { }")]}, "InvalidRewrite"),
    ({"rewrites": [rewrite("/x", "p_ext_jpg path_end -i .jpg")]}, "InvalidRewrite"),   # VAMP's example names an undefined ACL
    ({"rewrites": [rewrite("/x%[path", "{ path_beg /a }")]}, "InvalidRewrite"),   # the path is a log-format: unclosed
    ({"rewrites": [rewrite("/a%20b", "{ path_beg /a }")]}, "InvalidRewrite"),     # a literal % is written %%
    ({"rewrites": [rewrite("/x%[nosuchfetch]", "{ path_beg /a }")]}, "InvalidRewrite"),
    ({"rewrites": [rewrite("/v2%[path_beg]", "{ path_beg /a }")]}, "InvalidRewrite"),   # an ACL keyword, no fetch
    ({"rewrites": [rewrite("/x/%[env(SECRET)]", "{ path_beg /a }")]}, "InvalidRewrite"),   # the LB's environment upstream
])
def test_unsafe_route_settings_are_refused(extra, code):
    with pytest.raises(DslError) as caught:
        plan(standalone(external_gateway([7001], **extra)))
    assert caught.value.codes == [code]


@pytest.mark.parametrize("condition, ok", [
    ("{ path_beg /api }", True),
    ("!{ method POST } { path_end -i .jpg } or METH_GET", True),
    ("{ hdr(x) -m str 'a b' } || ! TRUE", True),
    ("!METH_GET or { path_beg /a }", True),
    ("or METH_GET", False),
    ("METH_GET METH_NOPE", False),
    ("{ path_beg /a } or", False),
    ("{ }", False),
    ("{ nosuchfetch x }", False),
    ("{ path_beg x } { path_beg y", False),
    ("my_acl", False),
])
def test_rewrite_conditions_must_be_complete_anonymous_or_predefined_acls(condition, ok):
    assert (rewrite_problem("/x", condition) is None) is ok


def test_invalid_virtual_host_is_refused():
    gateway = external_gateway([7001])
    gateway.virtual_hosts = ["ok.example.com", "bad host\nx"]
    with pytest.raises(DslError) as caught:
        plan(standalone(gateway))
    assert caught.value.issues[0].origin.path == "edge.virtual_hosts[1]"


def test_breed_without_the_routed_port():
    cluster = Cluster(name="c", services=[Service(breed=breed("x:1", "admin"))])
    blueprint = Blueprint(name="bp", clusters=[cluster], gateways=[Gateway(name="bp/80", port=Port("80", 8090), routes=[route("c/web")])])
    with pytest.raises(DslError, match="serves no port 'web'.*allowed: admin"):
        plan(standalone(blueprints=[blueprint]))


@pytest.mark.parametrize("outer, inner, refused", [
    ("9060/tcp", "8080/http", True),     # the backend takes the tcp frontend's mode: a uri hash would do nothing
    ("9060/http", "5432/tcp", False),    # an http frontend into a tcp breed port: the backend is http, uri works
    ("9060/http", "8080/http", False),
])
def test_a_balance_that_hashes_http_data_needs_an_http_frontend(outer, inner, refused):
    text = (f"name: b\nclusters:\n  c:\n    breed: {{name: c, deployable: i, ports: {{web: {inner}}}}}\n"
            f"    gateways:\n      web:\n        routes:\n          c: {{balance: uri}}\ngateways: {{{outer}: c/web}}\n")
    if not refused:
        assert plan(load_text(text, "b.yml"))
        return
    with pytest.raises(DslError) as caught:
        load_text(text, "b.yml")
    [issue] = caught.value.issues
    # the reader refuses it with its other errors, where the balance is written, and names the tcp port it is behind
    assert (issue.code, issue.origin.path, issue.origin.line) == ("BalancePortTypeError", "clusters.c.gateways.web.routes[c].balance", 8)
    assert "uri, url_param and hdr need an http port" in issue.allowed and issue.found == "balance: uri behind tcp port 9060/tcp"
    # the planner checks it too, for a model that did not come through the reader
    artifacts = load_text(text.replace(outer, "9060/http"), "b.yml")
    artifacts.blueprints["b"].gateways[0].port.protocol = "tcp"
    with pytest.raises(DslError) as caught:
        plan(artifacts)
    [issue] = caught.value.issues
    # a one-service cluster's route is merged into the route that reaches it: the error stands at the tcp port's route
    assert (issue.code, issue.origin.path, issue.origin.line) == ("BalancePortTypeError", "gateways.9060/http.routes[c/web].balance", 9)
    assert "uri, url_param and hdr need an http port" in issue.allowed


def test_every_route_with_a_share_gets_a_unit_of_the_weighted_draw():
    """10,000 routes share the draw's 10,000 units. A 10,001st, or an unset weight's part of a 0.01% rest, would get no
    unit (no traffic) while its share showed as 0.01% and the shares totalled 100.01%: the plan refuses them."""
    [frontend] = plan(standalone(external_gateway(range(1, PICK_RANGE + 1))))
    assert {entry.units for entry in frontend.weighted.entries} == {1}
    assert sum(entry.percent for entry in frontend.weighted.entries) == pytest.approx(100)
    for ports, weights, starved in ((range(1, PICK_RANGE + 2), None, PICK_RANGE + 1), ((1, 2, 3), (99.99, None, None), 3)):
        with pytest.raises(DslError) as caught:
            plan(standalone(external_gateway(ports, weights)))
        [issue] = caught.value.issues
        assert issue.code == "GatewayRouteWeightError" and issue.origin.file == "edge.yml"
        assert issue.message.startswith(f"route [127.0.0.1:{starved}] would get no traffic")
