# -*- coding: utf-8 -*-
"""`explain`: the routing plan in plain words and as data."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.plugins.module_utils.routing.explain import explain
from ansible_collections.drover.fleet.tests.support.routing_fixtures import sava, standalone, two_clusters


def test_explain_says_who_goes_where():
    [data] = explain(sava())
    assert data["gateway"] == "sava/9050" and data["sticky"] == "route"
    assert data["conditions"][0]["probability"] == 50.0
    assert [(w["route"], w["percent"]) for w in data["weights"]] == [("sava/webport > sava:1.0.0", 90.0), ("sava/webport > sava:1.1.0", 10.0)]
    assert data["statements"][1:] == [
        "requests matching `user-agent == Chrome` go to sava/webport > sava:1.1.0 with 50%",
        "all other requests: 90% sava/webport > sava:1.0.0, 10% sava/webport > sava:1.1.0",
        "a route with no live server is passed over: a condition's requests go on to the weights, and a weighted request "
        "is drawn again among the routes that have one",
    ]


def test_explain_describes_stages():
    [data] = explain(standalone(blueprints=[two_clusters(True)]))
    assert data["stages"][0]["route"] == "shop/web"
    assert data["statements"][-1].startswith("requests weighted to shop/web: requests matching `has header X-Beta` go to")


def test_explain_names_a_referenced_route_by_its_target_and_its_name():
    text = ("name: canary-route\nkind: route\nweight: 50%\n---\nname: g\nport: 9100/http\nroutes:\n"
            "  '[127.0.0.1:1]': {weight: 50%}\n  '[127.0.0.1:2]': {ref: canary-route}\n")
    [data] = explain(load_text(text, "ref.yml"))
    assert [entry["route"] for entry in data["weights"]] == ["[127.0.0.1:1]", "[127.0.0.1:2] (route canary-route)"]
    assert "50% [127.0.0.1:2] (route canary-route)" in " ".join(data["statements"])
