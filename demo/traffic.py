"""Real HTTP traffic for the demos: requests with chosen user agents and cookies, the observed split per version
next to what the blueprint promises."""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from steps import DemoError, Steps

USER_AGENTS = {
    "Firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
}


def fetch(host: str, port: int, user_agent: str, cookie: str | None = None) -> tuple[str, str | None]:
    """(version that answered, Set-Cookie) for one request on a new connection, as a new client would send it."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/", headers={"User-Agent": user_agent, **({"Cookie": cookie} if cookie else {})})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise DemoError(f"a request failed with HTTP {response.status}")
    return json.loads(body)["version"], response.getheader("Set-Cookie")


def observed_split(host: str, port: int, user_agent: str, requests: int) -> Counter:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(version for version, _cookie in pool.map(lambda _n: fetch(host, port, user_agent), range(requests)))


def sticky_client(host: str, port: int, user_agent: str, requests: int) -> tuple[str, Counter]:
    """The version a new client first gets, and what it gets for `requests` more while it sends its cookie back."""
    first, cookie = fetch(host, port, user_agent)
    if not cookie:
        raise DemoError("the gateway set no sticky cookie")
    return first, Counter(fetch(host, port, user_agent, cookie.split(";")[0])[0] for _n in range(requests))


def version_of(route: str) -> str:
    """The version a route leads to: `shop/web > demo:1.1` -> `1.1`."""
    return route.rsplit(":", 1)[-1]


def expected_split(gateway: dict, matched_conditions: set[str]) -> dict[str, float]:
    """What `routing.explain` promises for a request matching `matched_conditions`: condition rules first, with their
    probability, then the weights."""
    result: Counter = Counter()
    remaining = 1.0
    for rule in gateway["conditions"]:
        if {c["condition"] for c in rule["conditions"]} <= matched_conditions:
            share = remaining * rule["probability"] / 100
            result[version_of(rule["route"])] += share
            remaining -= share
    for entry in gateway["weights"]:
        result[version_of(entry["route"])] += remaining * entry["percent"] / 100
    return {version: 100 * share for version, share in result.items()}


def traffic_steps(steps: Steps, title: str, address: str, port: int, gateway: dict, requests: int, agents=tuple(USER_AGENTS)) -> None:
    """One step per user agent: `requests` new clients through the gateway, the split they got next to what `gateway`
    (an entry of `routing.explain`) promises."""
    for name in agents:
        with steps.step(f"{requests} requests from {name} users, {title}") as step:
            matched = {"user-agent == Chrome"} if name == "Chrome" else set()
            step.details = split_table(observed_split(address, port, USER_AGENTS[name], requests), expected_split(gateway, matched))


def split_table(observed: Counter, expected: dict[str, float]) -> list[str]:
    """The share of requests each version got next to the share the blueprint promises, as table lines."""
    total = sum(observed.values())
    lines = [f"{'version':<10}{'observed':>10}{'configured':>12}"]
    for version in sorted(set(observed) | set(expected)):
        lines.append(f"{version:<10}{100 * observed[version] / total:>9.1f}%{expected.get(version, 0):>11.1f}%")
    return lines


def sticky_summary(first: str, kept: Counter) -> str:
    """What a returning client got: `a client first served by 1.0 sent its cookie back 30 times and got 1.0 30 times`."""
    got = ", ".join(f"{version} {count} times" for version, count in sorted(kept.items()))
    return f"a client first served by {first} sent its cookie back {sum(kept.values())} times and got {got}"


def wait_for(predicate, timeout: float, what: str, poll: float = 0.1):
    """Poll `predicate` until it returns something true; a DemoError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")
