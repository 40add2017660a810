# -*- coding: utf-8 -*-
"""Compiled conditions routing real requests through a real HAProxy 2.6 on 127.0.0.1.

Each condition gets its own frontend, whose rules choose between two `http-request return` responses:
"matched" when the compiled expression holds, "other" when it does not. Requests carry user agents with spaces
and commas, cookies, headers, hosts with ports, and quotes, `#`, `$` and backslashes in values.
Every expected branch is also checked against the Python model in tests/support/acl_semantics.py, which the property
tests of tests/unit/conditions/test_conditions.py rely on.
"""

from __future__ import annotations

import http.client
import socket
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import ConditionError, compile_condition, compile_tree, parse_condition
from ansible_collections.drover.fleet.tests.support.acl_semantics import Request, tree_matches
from ansible_collections.drover.fleet.tests.support.condition_strategies import requests_for, trees
from ansible_collections.drover.fleet.tests.support.haproxy_harness import haproxy_check, start_haproxy, write_files

pytestmark = pytest.mark.haproxy

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
EDGE = CHROME + " Edg/120.0.0.0"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"
WEBVIEW = ("Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36")
IE11 = "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"
ANDROID = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"


def ua(agent: str, **fields) -> Request:
    return Request(headers=[("User-Agent", agent)] + fields.pop("headers", []), **fields)


# (condition, [(request, should match)]).
CASES = [
    ('user-agent == "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101"', [
        (ua(FIREFOX), True),
        (ua(FIREFOX.replace("rv:121.0", "rv:122.0")), False),
        (Request(), False),
    ]),
    ("user-agent = '(KHTML, like Gecko) Chrome'", [  # a comma and spaces: `hdr` would split this header at the comma
        (ua(CHROME), True),
        (ua(FIREFOX), False),
    ]),
    ("user-agent == Chrome", [(ua(CHROME), True), (ua(ANDROID), True), (ua(WEBVIEW), True), (ua(EDGE), False), (ua(FIREFOX), False)]),
    ("user-agent == edge", [(ua(EDGE), True), (ua(CHROME), False)]),
    ("user-agent == Safari", [(ua(SAFARI), True), (ua(CHROME), False), (ua(WEBVIEW), False), (ua(EDGE), False)]),
    ("user-agent != Firefox", [(ua(FIREFOX), False), (ua(SAFARI), True), (Request(), True)]),
    ("user-agent == IE", [(ua(IE11), True), (ua("Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)"), True), (ua(CHROME), False)]),
    ("host == example.com", [
        (Request(host="example.com"), True),
        (Request(host="EXAMPLE.com:8080"), True),
        (Request(host="www.example.com"), False),
        (Request(host="example.com.evil.org"), False),
        (Request(host="example.org"), False),
    ]),
    ("host == Example.com:8080", [
        (Request(host="example.com:8080"), True),
        (Request(host="example.com"), False),
        (Request(host="example.com:80"), False),
    ]),
    ("host == [::1]", [(Request(host="[::1]:8080"), True), (Request(host="[::1]"), True), (Request(host="127.0.0.1"), False)]),
    ("has cookie session and cookie user has \"it's#1\"", [
        (Request(cookies=[("session", "abc"), ("user", "bob-it's#1-x")]), True),
        (Request(cookies=[("user", "it's#1")]), False),
        (Request(cookies=[("session", "abc"), ("user", "its#1")]), False),
    ]),
    (r'header X-Note has "say \"hi\" # $HOME \\ 50%"', [
        (Request(headers=[("X-Note", 'they say "hi" # $HOME \\ 50% off')]), True),
        (Request(headers=[("X-Note", 'they say "hi" # /root \\ 50% off')]), False),
        (Request(headers=[("X-Note", 'say "hi" ')]), False),
    ]),
    ("header X-List has 'b, c'", [
        (Request(headers=[("X-List", "a, b, c")]), True),
        (Request(headers=[("X-List", "a"), ("X-List", "b, c")]), True),
        (Request(headers=[("X-List", "b"), ("X-List", "c")]), False),
    ]),
    ("misses header X-Debug or header X-Debug has -v", [
        (Request(), True),
        (Request(headers=[("X-Debug", "-v")]), True),
        (Request(headers=[("X-Debug", "quiet")]), False),
        (Request(headers=[("X-Debug", "")]), False),
    ]),
    ("cookie a#b'c has v and has header x!#$%&'*+-.^_`|~y", [
        (Request(cookies=[("a#b'c", "v")], headers=[("x!#$%&'*+-.^_`|~y", "1")]), True),
        (Request(cookies=[("a#bc", "v")], headers=[("x!#$%&'*+-.^_`|~y", "1")]), False),
        (Request(cookies=[("a#b'c", "v")]), False),
    ]),
    ("(user-agent == Firefox or user-agent == Chrome) and not has cookie optout", [
        (ua(FIREFOX), True),
        (ua(CHROME, cookies=[("optout", "1")]), False),
        (ua(SAFARI), False),
    ]),
    ("not <hdr_sub(user-agent) Android> and user-agent == chrome", [(ua(CHROME), True), (ua(ANDROID), False)]),
    ("path_beg /api", [(Request(path="/api/v1"), True), (Request(path="/web"), False)]),
]


def _reserve_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is known."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _port in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _config(compiled_conditions: list, ports: list[int], admin_socket: Path) -> str:
    lines = ["global", f"    stats socket {admin_socket} mode 600 level admin", "    maxconn 200",
             "defaults", "    mode http", "    timeout connect 2s", "    timeout client 5s", "    timeout server 5s"]
    for index, (compiled, port) in enumerate(zip(compiled_conditions, ports)):
        lines += [f"frontend condition_{index}", f"    bind 127.0.0.1:{port}"]
        lines += [f"    {line}" for line in compiled.acl_lines()]
        lines += [f"    http-request return status 200 content-type text/plain string matched if {compiled.expression}",
                  "    http-request return status 200 content-type text/plain string other"]
    return "\n".join(lines) + "\n"


@pytest.fixture(name="run_haproxy")
def fixture_run_haproxy(tmp_path):
    """Starts HAProxy (tests/support/haproxy_harness.py: master-worker, stopped by pid) with one frontend per compiled
    condition, and returns their ports. Each call first stops the HAProxy of the previous call."""
    runs = []
    with ExitStack() as running:
        def start(compiled_conditions: list) -> list[int]:
            running.close()
            directory = tmp_path / f"run{len(runs)}"
            directory.mkdir()
            ports = _reserve_ports(len(compiled_conditions))
            admin_socket = directory / "admin.sock"
            files = {"haproxy.cfg": _config(compiled_conditions, ports, admin_socket)}
            write_files(files, directory)
            check = haproxy_check(directory)
            assert check.returncode == 0, check.stdout + check.stderr
            runs.append(running.enter_context(start_haproxy(files, directory, str(admin_socket), ports)))
            return ports

        yield start


def send(port: int, request: Request) -> str:
    """Sends the request exactly as modelled (header lines in order, UTF-8 bytes) and returns the branch taken."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest("GET", request.path, skip_host=True, skip_accept_encoding=True)
        for name, value in request.header_lines():
            connection.putheader(name, value.encode("utf-8"))
        connection.endheaders()
        response = connection.getresponse()
        body = response.read().decode()
        assert response.status == 200, (response.status, body)
        return body
    finally:
        connection.close()


def test_conditions_choose_the_right_branch(run_haproxy):
    compiled = [compile_condition(text) for text, _requests in CASES]
    ports = run_haproxy(compiled)
    failures = []
    for (text, requests), port in zip(CASES, ports):
        tree = parse_condition(text)
        for request, expected in requests:
            observed = send(port, request) == "matched"
            if observed != expected:
                failures.append(f"{text!r}: {request} went to {'matched' if observed else 'other'}")
            if "path_beg" not in text and "hdr_sub" not in text:
                assert tree_matches(tree, request) == expected, f"the Python model disagrees on {text!r} for {request}"
    assert not failures, "\n".join(failures)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_haproxy_agrees_with_the_model_on_random_conditions(run_haproxy, data):
    cases = []
    for _condition in range(8):
        tree = data.draw(trees())
        try:
            compiled = compile_tree(tree)
        except ConditionError:
            continue
        cases.append((tree, compiled, data.draw(requests_for(tree, count=5))))
    if not cases:
        return
    ports = run_haproxy([compiled for _tree, compiled, _requests in cases])
    for (tree, compiled, requests), port in zip(cases, ports):
        for request in requests:
            observed = send(port, request) == "matched"
            assert observed == tree_matches(tree, request), f"{compiled.expression} {compiled.acls} on {request}"
