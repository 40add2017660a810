# -*- coding: utf-8 -*-
"""Hypothesis strategies for DSL-shaped documents: real breeds, blueprints and gateways with good and bad values
mixed, shared by the reader's and the renderer's property tests."""

from __future__ import annotations

from hypothesis import strategies as st

# the DSL's own words, so that generated documents reach deep into the reader, plus a few odd ones
KEYS = ["name", "kind", "deployable", "ports", "env", "environment_variables", "constants", "dependencies", "health_checks",
        "clusters", "services", "breed", "scale", "sla", "gateways", "routes", "weight", "condition", "condition_strength",
        "sticky", "virtual_hosts", "rewrites", "balance", "selector", "port", "path", "cpu", "memory", "instances", "type",
        "threshold", "window", "upper", "lower", "interval", "cooldown", "escalations", "to_all", "to_one", "minimum",
        "maximum", "scale_by", "target", "ref", "reference", "failures", "timeout", "web", "sava", "sava/web", "8080",
        "9050/http", "[10.0.0.1:80]", "a[b]", "metadata", "service", "host", "arguments"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["sava", "sava:1.0", "8080/http", "9050/tcp", "90%", "x%", "1m", "128MB", "route", "instance", "web/port",
                     "sava/web", "[h:1]", "[external/1/2]", "user-agent = Firefox", "a if b", "roundrobin", "label(a)(b)",
                     "to_all", "scale_instances", "response_time_sliding_window", "", " ", "a\nb", "#", "${x}", "$db.ports.web"]),
    st.text(max_size=8),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                      max_leaves=25)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=6)


NAMES = st.sampled_from(["sava", "sava:1.0", "sava:1.1", "web", "api", "db", "bad name", "a/b", "x.y"])
PORT_VALUES = st.one_of(st.sampled_from(["8080/http", "9000/tcp", "80", "8080/udp", None, "$db.ports.web"]), st.integers(0, 70000))
PERCENT = st.one_of(st.none(), st.sampled_from(["10%", "50%", "90 %", "100%", "120%", "x"]), st.integers(-5, 105))
CONDITIONS = st.one_of(st.none(), st.sampled_from(["user-agent = Firefox", "host == a.com", "has cookie beta", "android", "(", "<hdr(x) y>",
                                                   "a\nb"]), st.fixed_dictionaries({"ref": NAMES}))


@st.composite
def breeds(draw):
    breed = {"name": draw(NAMES), "deployable": draw(st.sampled_from(["img/a:1", "img b", {"type": "docker", "definition": "i"}, None]))}
    if draw(st.booleans()):
        breed["ports"] = draw(st.dictionaries(st.sampled_from(["web", "admin", "db", "we.b"]), PORT_VALUES, max_size=3))
    if draw(st.booleans()):
        breed["dependencies"] = draw(st.dictionaries(st.sampled_from(["d1", "d2"]), NAMES, max_size=2))
    if draw(st.booleans()):
        breed["health_checks"] = {"port": draw(st.sampled_from(["web", "nope"])), "failures": draw(st.integers(-2, 5)),
                                  "interval": draw(st.sampled_from(["10s", "0", "1m", "x"]))}
    return breed


@st.composite
def routes(draw, paths):
    return draw(st.dictionaries(paths, st.one_of(st.none(), NAMES, st.fixed_dictionaries(
        {}, optional={"weight": PERCENT, "condition": CONDITIONS, "condition_strength": PERCENT,
                      "balance": st.sampled_from(["leastconn", "static-rr", "hdr(host)"]),
                      "rewrites": st.just([{"path": "/a if { path_beg /b }"}])})), max_size=3))


@st.composite
def blueprints(draw):
    clusters = {}
    for name in draw(st.lists(st.sampled_from(["web", "api", "bad/c"]), min_size=0, max_size=3, unique=True)):
        cluster = {"services": draw(st.lists(st.one_of(NAMES, st.fixed_dictionaries({"breed": st.one_of(NAMES, breeds())}, optional={
            "scale": st.one_of(NAMES, st.fixed_dictionaries({"cpu": st.sampled_from([0.5, 0, "x"]), "memory": st.sampled_from(["128MB", "1.5 GB", "zz"]),
                                                             "instances": st.integers(-1, 4)}))})), min_size=1, max_size=3))}
        if draw(st.booleans()):
            cluster["gateways"] = draw(st.one_of(
                st.fixed_dictionaries({}, optional={"sticky": st.sampled_from(["route", "instance", "server", None]), "routes": routes(NAMES)}),
                st.dictionaries(st.sampled_from(["web", "admin", "db"]), st.fixed_dictionaries({}, optional={
                    "sticky": st.sampled_from(["route", "instance"]), "routes": routes(NAMES)}), max_size=2)))
        if draw(st.booleans()):
            cluster["sla"] = draw(st.one_of(NAMES, st.fixed_dictionaries({"type": st.just("response_time_sliding_window"), "threshold": st.just(
                {"upper": 1000, "lower": 10}), "window": st.just({"interval": 60, "cooldown": 60}), "escalations": st.lists(st.one_of(NAMES, st.just(
                    {"type": "scale_instances", "minimum": 1, "maximum": 4, "scale_by": 1, "target": "web"})), max_size=3)})))
        clusters[name] = cluster
    blueprint = {"name": draw(NAMES), "clusters": clusters}
    if draw(st.booleans()):
        blueprint["gateways"] = draw(st.dictionaries(st.sampled_from(["8080", "8080/tcp", "9050/http", "named"]), st.one_of(
            st.sampled_from(["web/web", "web", "api/db", "nope/x"]),
            st.fixed_dictionaries({"routes": routes(st.sampled_from(["web/web", "api", "[h:1]", "web/admin"]))},
                                  optional={"sticky": st.sampled_from(["route", None]), "port": st.sampled_from([81, "82/tcp"])})), max_size=3))
    return blueprint


@st.composite
def standalone_gateways(draw):
    return {"name": draw(NAMES), "port": draw(PORT_VALUES), "sticky": draw(st.sampled_from(["route", "instance", None, "x"])),
            "routes": draw(routes(st.sampled_from(["web", "web/web", "nomatter/web/web", "[10.0.0.1:80]", "[external/1/2]", "a/b/c/d"])))}


DSL_DOCUMENTS = st.lists(st.one_of(breeds(), blueprints(), standalone_gateways()), min_size=1, max_size=4)
