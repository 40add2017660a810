# -*- coding: utf-8 -*-
"""Property tests for the whole engine: a random blueprint or gateway either loads and renders a configuration that
the real `haproxy -c` accepts, or fails with a located DslError. Never a traceback, never an injected directive."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.tests.support.dsl_strategies import DSL_DOCUMENTS

MARKER = "INJECTED"
# Attempts to end a line, start a comment, expand a variable or close a quote, each followed by a directive.
HOSTILE = st.sampled_from([
    f"a\n    {MARKER} 1", f"a\r\n{MARKER}", f"x # {MARKER}", f"x' {MARKER} '", f'x" {MARKER} "', f"x\\\n{MARKER}",
    f"${{{MARKER}}}", f"x }} {MARKER} {{", f"a\x00{MARKER}", f"a\u2028{MARKER}", f"x) or {MARKER}(", f"-i {MARKER}",
])
# Text that is odd but legal: it must render, quoted so that HAProxy reads it literally.
TRICKY = st.sampled_from(["a b", "it's", 'say "hi"', "x#y", "$HOME", "${HOME}", "-i", "a,b", "back\\slash", "ünïcode", "(x)", "a;b"])
CONDITION_FORMS = [
    lambda v: f"user-agent == {v!r}", lambda v: f"host = {v}", lambda v: f"cookie {v} has {v}", lambda v: f"has header {v}",
    lambda v: f"header X-Tier contains {v!r}", lambda v: f"<{v}>", lambda v: f"<hdr_sub(user-agent) {v}>",
]
VALID_CONDITIONS = st.sampled_from([
    "user-agent == Chrome", "user-agent == Firefox or has cookie beta", "not has header X-Canary and host = shop.example.com",
    "cookie group has admin", "(user-agent == Safari or user-agent == Edge) and misses cookie optout", "<path_beg /api>",
    "header X-Tier contains gold",
])


@st.composite
def hostile_gateways(draw):
    """A valid standalone gateway on external targets, with one user-supplied string replaced by hostile or tricky
    text: each example checks that one field is either rejected or quoted safely."""
    routes = {}
    count = draw(st.integers(1, 3))
    for index in range(count):
        route = {"weight": f"{100 if index == 0 else 0}%"}
        if draw(st.booleans()):
            route["condition"] = draw(VALID_CONDITIONS)
            route["condition_strength"] = draw(st.sampled_from(["50%", "100%", "0%", "12.5%"]))
        routes[f"[127.0.0.{index + 1}:{8000 + index}]"] = route
    gateway = {"name": "shop", "port": "9070/http", "routes": routes}
    if draw(st.booleans()):
        gateway["sticky"] = draw(st.sampled_from(["route", "instance"]))
    value = draw(st.one_of(HOSTILE, TRICKY))
    target = routes[draw(st.sampled_from(sorted(routes)))]
    field = draw(st.sampled_from(["condition", "rewrite", "rewrite-condition", "balance", "virtual_host", "name"]))
    if field == "condition":
        target["condition"] = draw(st.sampled_from(CONDITION_FORMS))(value)
    elif field == "rewrite":
        target["rewrites"] = [{"path": f"/v2{value} if {{ path_beg /api }}"}]
    elif field == "rewrite-condition":
        target["rewrites"] = [{"path": f"/v2%[path] if {{ path_beg {value} }}"}]
    elif field == "balance":
        target["balance"] = draw(st.sampled_from(["hdr({})", "url_param {}"])).format(value)
    elif field == "virtual_host":
        gateway["virtual_hosts"] = [value]
    else:
        gateway["name"] = value
    return [gateway]


@st.composite
def valid_blueprints(draw):
    """Blueprints that should load: clusters of versions with weights, conditions, stickiness, SLAs and gateways."""
    clusters, gateways = {}, {}
    for c in range(draw(st.integers(1, 3))):
        versions = draw(st.integers(1, 3))
        services = [{"breed": {"name": f"svc{c}:{v}.0", "deployable": f"localhost/drover-demo:{v}.0",
                               "ports": {"web": "8080/http"} if c != 2 else {"db": "5432/tcp"},
                               **({"health_checks": [{"path": "/ready", "port": "web", "interval": "2s", "failures": 2}]} if c != 2 else {})},
                     "scale": {"cpu": 0.1, "memory": "64MB", "instances": draw(st.integers(1, 4))}} for v in range(versions)]
        cluster = {"services": services}
        if versions > 1 and c != 2:
            shares = draw(st.lists(st.sampled_from([None, 0, 10, 25, 50]), min_size=versions, max_size=versions))
            if sum(share or 0 for share in shares) > 100:
                shares = [None] * versions
            routes = {}
            for v, share in enumerate(shares):
                route = {} if share is None else {"weight": f"{share}%"}
                if draw(st.booleans()):
                    route["condition"] = draw(VALID_CONDITIONS)
                    route["condition_strength"] = draw(st.sampled_from(["30%", "100%"]))
                routes[f"svc{c}:{v}.0"] = route
            cluster["gateways"] = {"web": {"routes": routes, **({"sticky": draw(st.sampled_from(["route", "instance"]))} if draw(st.booleans()) else {})}}
        if draw(st.booleans()):
            cluster["sla"] = {"type": "response_time_sliding_window", "threshold": {"upper": 1000, "lower": 100},
                              "window": {"interval": 60, "cooldown": 60},
                              "escalations": [{"type": "scale_instances", "minimum": 1, "maximum": draw(st.integers(4, 12)), "scale_by": 1}]}
        clusters[f"c{c}"] = cluster
        gateways[f"{9100 + c}/{'tcp' if c == 2 else 'http'}"] = f"c{c}/{'db' if c == 2 else 'web'}"
    return [{"name": "prop", "gateways": gateways, "clusters": clusters}]


def _render_or_fail(documents: list) -> str | None:
    try:
        artifacts = load_text(yaml.safe_dump_all(documents, allow_unicode=True), "property.yml")
        rendered = render(artifacts, RenderOptions(bind_address="127.0.0.1", dynamic_cookie_key="property-key"))
    except DslError as error:
        for issue in error.issues:
            assert issue.code and issue.message and issue.origin.path is not None
        return None
    for text in rendered.files.values():
        for line in text.splitlines():
            words = line.split()
            assert not words or MARKER not in words[0], f"injected directive: {line!r}"
            assert "\r" not in line and "\x00" not in line and "\u2028" not in line
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in rendered.files.items():
            Path(tmp, name).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, name).write_text(text)
        check = subprocess.run(["haproxy", "-c", "-f", str(Path(tmp, "haproxy.cfg"))], capture_output=True, text=True, check=False)
    assert check.returncode == 0, f"haproxy -c rejected a rendered config:\n{check.stdout}{check.stderr}\n{rendered.config}"
    return rendered.config


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
@given(documents=DSL_DOCUMENTS)
def test_dsl_shaped_input_renders_valid_config_or_fails_cleanly(documents):
    _render_or_fail(documents)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents=valid_blueprints())
def test_valid_blueprints_render_configs_haproxy_accepts(documents):
    assert _render_or_fail(documents) is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents=hostile_gateways())
def test_hostile_strings_never_inject_haproxy_syntax(documents):
    _render_or_fail(documents)


def test_the_property_can_fail():
    """The check is not vacuous: a benign gateway renders, and the marker check sees a forged line."""
    config = _render_or_fail([{"name": "shop", "port": "9070/http", "routes": {"[127.0.0.1:8000]": {"weight": "100%"}}}])
    assert config is not None and "frontend " in config
    forged = config + f"\n    {MARKER} yes\n"
    assert any(line.split() and MARKER in line.split()[0] for line in forged.splitlines())
