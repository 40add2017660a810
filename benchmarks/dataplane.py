"""Data-plane cost of drover's generated routing: HAProxy throughput with a rendered gateway (conditions, a
condition strength, map-driven weights, sticky routes) against the configuration an HAProxy expert writes by hand for
the same behaviour, and against plain roundrobin, over the same backends.

The three configurations run side by side in one run, in interleaved rounds (the order rotates each round), with wrk
on loopback bounded in time. The backends are a separate HAProxy answering `http-request return`, so the backends are
never the bottleneck. Before measuring, a few hundred requests check that the hand-written configuration and the
gateway route alike (weights, the condition and its strength, stickiness, the cookie), or the run stops.
Run: .venv/bin/python benchmarks/dataplane.py [--rounds 7] [--duration 5] [--no-write] [--only <kind of client>]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeClient, RuntimeConnectionError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.tests.support.helpers import free_port, port_is_open, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_clients import parse_wrk  # noqa: E402
from report import machine_description, write_section  # noqa: E402

BACKENDS = 3
PLAIN, HAND_WRITTEN, DROVER = "plain roundrobin", "hand-written", "drover gateway"
HAND_WRITTEN_COOKIE = "SRV"
# the gateway's condition, as drover compiles `user-agent == Chrome` (Chrome and not Edge) and as an expert writes it
CHROME_REGEX = "'^(?!.*Edg).*Chrome'"


def backend_ports() -> list[int]:
    """Free ports for the backends, in ascending order as text: the route backends are named after them, and the
    sticky rules follow the names, so the 80% route's sticky rule comes first, as in a canary whose stable version's
    name sorts before the new one's. (A returning client of a route whose sticky rule comes later pays about 300
    instructions per rule before it; with random ports the returning client's cost moved by that much between runs.)"""
    return sorted((free_port() for _port in range(BACKENDS)), key=str)


def wait_listening(port: int, timeout: float = 10.0) -> None:
    wait_for(lambda: port_is_open(port), timeout, message=f"something listening on 127.0.0.1:{port}")


def wait_servers_up(runtime: RuntimeClient, count: int, timeout: float = 30.0) -> None:
    """Health checks must have passed, or the first requests measure 503s from backends not yet up."""
    def servers_up() -> bool:
        try:
            return sum(1 for row in runtime.show_stat() if row.get("svname") not in ("FRONTEND", "BACKEND") and row.get("status") == "UP") >= count
        except RuntimeConnectionError:  # the admin socket is not there, or not listening, yet
            return False

    wait_for(servers_up, timeout, interval=0.05, message=f"the {count} backends UP")


def backend_config(ports: list[int]) -> str:
    lines = ["global", "  nbthread 1", "defaults", "  mode http", "  timeout connect 2s", "  timeout client 10s", "  timeout server 10s"]
    for i, port in enumerate(ports):
        lines += [f"frontend b{i}", f"  bind 127.0.0.1:{port}", f'  http-request return status 200 content-type text/plain string "backend {i}"']
    return "\n".join(lines) + "\n"


def plain_config(port: int, ports: list[int]) -> str:
    servers = [f"  server s{i} 127.0.0.1:{p}" for i, p in enumerate(ports)]
    return "\n".join(["global", "  nbthread 1", "defaults", "  mode http", "  timeout connect 2s", "  timeout client 10s",
                      "  timeout server 10s", "frontend plain", f"  bind 127.0.0.1:{port}", "  default_backend pool",
                      "backend pool", "  balance roundrobin", *servers]) + "\n"


def gateway_yaml(port: int, ports: list[int]) -> str:
    return f"""\
name: bench
port: {port}/http
sticky: route
routes:
  "[127.0.0.1:{ports[0]}]":
    weight: 80%
  "[127.0.0.1:{ports[1]}]":
    weight: 20%
  "[127.0.0.1:{ports[2]}]":
    weight: 0%
    condition: user-agent == Chrome or has cookie beta
    condition_strength: 50%
"""


def hand_written_config(port: int, ports: list[int], admin_socket: str) -> str:
    """What an HAProxy expert writes by hand for `gateway_yaml`'s behaviour. The route weights are server weights in one
    backend under `balance roundrobin`, stickiness is HAProxy's own inserted cookie, and the condition with its strength
    is one frontend rule sending to a backend of the 0% route. In that rule the draw comes first (the cheap part), then
    the returning client's cookie (a returning Chrome client stays on its route), then the condition (one named ACL
    whose two lines are its two alternatives), then the liveness of the route. The weights backend holds the 0% route
    too, with weight 0 and its check tracked (not made twice), so its cookie brings a returning client back to it.
    Not `use-server` in one backend: HAProxy applies it before the cookie and inserts no cookie for a server it
    chose (SF_DIRECT), so the condition's clients would not stick. No `nocache`: drover's gateway does not mark
    responses uncacheable either, and `nocache` cost the hand-written configuration about 900 instructions per request
    (HAProxy then inspects every response for cacheability). The stats socket is there to wait for the health checks,
    as drover's gateway has one."""
    cookie = f"  cookie {HAND_WRITTEN_COOKIE} insert indirect httponly"
    return "\n".join([
        "global", "  nbthread 1", f"  stats socket {admin_socket} mode 600 level admin",
        "defaults", "  mode http", "  option redispatch", "  retries 3", "  timeout connect 5s", "  timeout client 30s", "  timeout server 30s",
        "frontend bench", f"  bind 127.0.0.1:{port}",
        f"  acl v3_condition req.fhdr(User-Agent) -m reg {CHROME_REGEX}",
        "  acl v3_condition req.cook(beta) -m found",
        f"  use_backend v3 if {{ rand(100) lt 50 }} !{{ req.cook({HAND_WRITTEN_COOKIE}) -m found }} v3_condition {{ nbsrv(v3) gt 0 }}",
        "  default_backend routes",
        "backend routes", "  balance roundrobin", cookie,
        f"  server v1 127.0.0.1:{ports[0]} weight 80 cookie v1 check",
        f"  server v2 127.0.0.1:{ports[1]} weight 20 cookie v2 check",
        f"  server v3 127.0.0.1:{ports[2]} weight 0 cookie v3 track v3/v3",
        "backend v3", cookie,
        f"  server v3 127.0.0.1:{ports[2]} cookie v3 check"]) + "\n"


@dataclass
class Setup:
    """One HAProxy under test: its files (written into `directory` of the run's folder), its port, the route cookie its
    returning clients send (the 80% route's; plain roundrobin gets the gateway's, which it ignores) and its admin
    socket, if it has health checks to wait for."""

    name: str
    directory: str
    port: int
    files: dict[str, str]
    cookie: str
    admin_socket: str | None = None

    def ready(self) -> None:
        if self.admin_socket:
            wait_servers_up(RuntimeClient(self.admin_socket), BACKENDS, timeout=60)


def setups(tmp: Path, ports: list[int]) -> list[Setup]:
    """The three configurations: plain roundrobin, the hand-written one and drover's rendered gateway."""
    plain_port, hand_port, drover_port = free_port(), free_port(), free_port()
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(tmp / "drover" / "admin.sock"),
                            server_state_file=str(tmp / "drover" / "state"), log_target=None, threads=1)
    rendered = render(load_text(gateway_yaml(drover_port, ports), "bench-gateway.yml"), options)
    frontend = rendered.frontends[0]
    first_route = next(s for s in frontend.sticky_routes if s.backend == frontend.weighted.entries[0].target)
    if frontend.sticky_routes[0] is not first_route:
        raise SystemExit("the 80% route's sticky rule must come first (see backend_ports)")
    drover_cookie = f"{frontend.route_cookie}={first_route.value}"
    hand_socket = str(tmp / "hand-written" / "admin.sock")
    return [
        Setup(PLAIN, "plain", plain_port, {"haproxy.cfg": plain_config(plain_port, ports)}, drover_cookie),
        Setup(HAND_WRITTEN, "hand-written", hand_port, {"haproxy.cfg": hand_written_config(hand_port, ports, hand_socket)},
              f"{HAND_WRITTEN_COOKIE}=v1", hand_socket),
        Setup(DROVER, "drover", drover_port, rendered.files, drover_cookie, options.admin_socket),
    ]


def write_files(directory: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return directory / "haproxy.cfg"


def start_haproxy(directory: Path, files: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(["haproxy", "-db", "-f", str(write_files(directory, files))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(process: subprocess.Popen) -> float:
    """CPU time (user + system) of an HAProxy started with -db (one process, no workers)."""
    times = psutil.Process(process.pid).cpu_times()
    return times.user + times.system


CHROME = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"
# requests per browser session: a page and what it loads, a conservative count (pages load dozens of resources)
SESSION_REQUESTS = 10


@dataclass
class Client:
    """One kind of client: its request headers, and when it sends its route cookie: `never`, `always`, or `session`
    (every request of a browser session of SESSION_REQUESTS requests but the first, by a wrk script)."""

    headers: list[str]
    cookie: str = "never"


# A new client sends no route cookie, so it goes through conditions and weights and gets a Set-Cookie on every
# response (wrk keeps no cookies); a returning client sends the route cookie of the 80% route, as a browser does from
# its second request on, and the sticky rule decides; a browser session is one new request followed by returning ones.
CLIENTS = {
    "new client, keep-alive": Client([CHROME]),
    "returning client, keep-alive": Client([CHROME], cookie="always"),
    f"browser sessions of {SESSION_REQUESTS} requests, keep-alive": Client([CHROME], cookie="session"),
    "new client, a new connection per request": Client([CHROME, "Connection: close"]),
}


def session_script(cookie: str) -> str:
    """A wrk script: every SESSION_REQUESTS-th request has no route cookie (a new session), the others send it."""
    return f"""\
local count = 0
request = function()
  count = count + 1
  local headers = {{}}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  if count % {SESSION_REQUESTS} ~= 1 then headers["Cookie"] = "{cookie}" end
  return wrk.format(nil, nil, headers)
end
"""


def run_wrk(port: int, duration: int, connections: int, client: Client, cookie: str, timeout: int = 30) -> int:
    """Requests answered in one bounded wrk run of `client`'s requests (sending `cookie` as the client does); any
    error voids the run."""
    headers = client.headers + ([f"Cookie: {cookie}"] if client.cookie == "always" else [])
    args = [item for header in headers for item in ("-H", header)]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if client.cookie == "session":
            script.write(session_script(cookie))
            script.flush()
            args += ["-s", script.name]
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", *args, f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, check=True, timeout=duration + timeout).stdout
    result = parse_wrk(f"127.0.0.1:{port}", out)
    if result.failed:
        raise SystemExit(f"wrk saw errors, the comparison is void:\n{out}")
    return result.requests


def measure(setup: Setup, process: subprocess.Popen, duration: int, connections: int, client: Client) -> tuple[float, float]:
    """(requests per second, HAProxy CPU microseconds per request) for one bounded wrk run."""
    cpu_before = cpu_seconds(process)
    requests = run_wrk(setup.port, duration, connections, client, setup.cookie)
    cpu = cpu_seconds(process) - cpu_before
    return requests / duration, 1e6 * cpu / requests


def routed(port: int, headers: dict, count: int) -> tuple[Counter, int]:
    """Which backend answered each of `count` requests on one keep-alive connection, and how many set a cookie."""
    answers, cookies = Counter(), 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for _request in range(count):
            connection.request("GET", "/", headers=headers)
            response = connection.getresponse()
            answers[response.read().decode()] += 1
            cookies += response.getheader("Set-Cookie") is not None
    finally:
        connection.close()
    return answers, cookies


def check_same_behaviour(hand_written: Setup, drover: Setup, count: int = 400) -> None:
    """The hand-written configuration and the gateway must route alike, or comparing them means nothing: the weights
    (80/20, nothing to the 0% route), the condition (Chrome or the `beta` cookie) at 50%, the cookie set for a new
    client, and a returning client kept on its route, with no new cookie. Shares within 8 points (drover draws at
    random, roundrobin does not)."""
    expected = {"no condition": (0.8, 0.2, 0.0), "Chrome": (0.4, 0.1, 0.5), "beta cookie": (0.4, 0.1, 0.5), "returning Chrome": (1.0, 0.0, 0.0)}
    problems = []
    for setup in (hand_written, drover):
        for case, shares in expected.items():
            headers = {"User-Agent": CHROME.split(": ", 1)[1]} if "Chrome" in case else {"User-Agent": "curl/8"}
            headers["Cookie"] = {"beta cookie": "beta=1", "returning Chrome": setup.cookie}.get(case, "")
            answers, cookies = routed(setup.port, {k: v for k, v in headers.items() if v}, count)
            got = [answers[f"backend {i}"] / count for i in range(BACKENDS)]
            if any(abs(g - s) > 0.08 for g, s in zip(got, shares)) or cookies != (0 if case.startswith("returning") else count):
                problems.append(f"{setup.name}, {case}: shares {', '.join(f'{g:.2f}' for g in got)} (expected {shares}), {cookies} Set-Cookie")
    if problems:
        raise SystemExit("the configurations do not route alike:\n" + "\n".join(problems))


def median_ratio(numerators: list, denominators: list, index: int = 0) -> float:
    return statistics.median(n[index] / d[index] for n, d in zip(numerators, denominators))


def verdict(ratio: float, target: float) -> str:
    return f"meets {target}" if ratio >= target else f"misses {target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", help="measure only the kinds of client whose name contains this text (implies --no-write), "
                                       "e.g. --only 'new client, keep' --rounds 15 for a larger sample of the worst case")
    args = parser.parse_args()
    args.no_write = args.no_write or bool(args.only)
    processes: dict[str, subprocess.Popen] = {}
    results: dict[str, dict[str, list]] = {}
    loads: list[float] = []  # the machine's 1-minute load average at each round: how much other work ran beside
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ports = backend_ports()
            processes["backends"] = start_haproxy(Path(tmp, "backends"), {"haproxy.cfg": backend_config(ports)})
            configs = setups(Path(tmp), ports)
            for setup in configs:
                processes[setup.name] = start_haproxy(Path(tmp, setup.directory), setup.files)
            for port in ports + [setup.port for setup in configs]:
                wait_listening(port)
            for setup in configs:
                setup.ready()
            check_same_behaviour(configs[1], configs[2])
            for client_name, client in CLIENTS.items():
                if args.only and args.only not in client_name:
                    continue
                runs = results.setdefault(client_name, {setup.name: [] for setup in configs})
                for round_number in range(args.rounds):
                    # the order rotates, so no configuration always runs first, or after the same one
                    for setup in configs[round_number % len(configs):] + configs[:round_number % len(configs)]:
                        runs[setup.name].append(measure(setup, processes[setup.name], args.duration, args.connections, client))
                    loads.append(os.getloadavg()[0])
                    print(f"{client_name}: " + ", ".join(f"{name} {r[-1][0]:.0f} req/s {r[-1][1]:.2f} µs/req" for name, r in runs.items()), flush=True)
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(timeout=10)
    markdown = report(results, args, loads, hand_written_config(9000, [8001, 8002, 8003], "/run/haproxy/admin.sock"))
    if not args.no_write:
        write_section("dataplane", markdown)
    print(markdown)


def report(results: dict, args, loads: list[float], shown_config: str) -> str:
    rows, summary = [], []
    for client_name, runs in results.items():
        for name, measured in runs.items():
            rows.append(f"| {client_name} | {name} | {statistics.median(r[0] for r in measured):.0f} | "
                        f"{statistics.median(r[1] for r in measured):.2f} µs | {', '.join(f'{r[0]:.0f}' for r in measured)} |")
        drover, hand, plain = runs[DROVER], runs[HAND_WRITTEN], runs[PLAIN]
        against_hand, against_plain = median_ratio(drover, hand), median_ratio(drover, plain)
        plain_target = "reported, not targeted" if client_name.startswith("new client, keep") else verdict(against_plain, 0.95)
        summary.append(
            f"- {client_name}: drover/hand-written **{against_hand:.3f}** (CPU-cost ratio {median_ratio(hand, drover, 1):.3f}): "
            f"{verdict(against_hand, 0.98)}; drover/plain **{against_plain:.3f}** (CPU-cost ratio {median_ratio(plain, drover, 1):.3f}): "
            f"{plain_target}")
    return "\n".join([
        "## Data plane: drover's gateway against a hand-written configuration and plain roundrobin (`benchmarks/dataplane.py`)",
        "",
        f"Machine: {machine_description()}, shared with other work running at the same time (1-minute load average at the "
        f"rounds: median {statistics.median(loads):.1f}, from {min(loads):.1f} to {max(loads):.1f}; this benchmark itself "
        f"accounts for about 2 of it), so every comparison is made "
        f"in interleaved rounds (the three configurations one after another, the order rotating each round) and given as the "
        f"median of the per-round ratios; `dataplane_instructions.py` below gives the same comparison in instructions, which "
        f"other load does not move. wrk, 1 thread, {args.connections} connections, {args.duration} s per round, {args.rounds} rounds "
        f"per kind of client, all with a Chrome user agent. A new client sends no cookie (wrk keeps none), so every request "
        f"goes through stickiness, the condition and the weights and gets a Set-Cookie: the worst case. A returning client "
        f"sends the route cookie of the 80% route, as a browser does from its second request on. A browser session sends no "
        f"route cookie on its first request and the cookie on the next {SESSION_REQUESTS - 1} (a wrk script): one new request "
        f"in {SESSION_REQUESTS}. HAProxy under test runs with one thread; the {BACKENDS} backends are another HAProxy answering "
        f"`http-request return`. The CPU cost is the HAProxy process's CPU time per request.",
        "",
        "The gateway: three routes 80% / 20% / 0%, the third with `user-agent == Chrome or has cookie beta` at 50% strength, "
        "`sticky: route`, rendered by drover (map-driven weights, the strength in an ACL file, a route cookie set by "
        "`http-response add-header`, liveness checks on every pick). The hand-written configuration is what an HAProxy "
        "expert writes by hand for the same behaviour:",
        "",
        "```",
        shown_config.rstrip(),
        "```",
        "",
        "The route weights are server weights in one backend under `balance roundrobin` (HAProxy's weighted pick costs "
        "nearly nothing), stickiness is HAProxy's own inserted cookie (`cookie SRV insert indirect httponly`: a client "
        "with a valid cookie gets no new one; drover's route cookie is `HttpOnly` too), and the condition with its "
        "strength is one frontend rule to a backend of the 0% route. In that rule the draw comes first, because it is the "
        "cheapest part and lets only half of the requests on; then `!{ req.cook(SRV) -m found }`, so a returning Chrome "
        "client stays on its route; then the condition, one named ACL whose two lines are its two alternatives (the same "
        "PCRE for the Chrome alias as drover's); last the route's liveness. The weights backend also holds the 0% route, "
        "with weight 0 and its health check tracked rather than made twice, so the cookie brings the condition's clients "
        "back to it. A server whose check fails drops out of the cookie, the rule and the weights, as drover's liveness "
        "checks make a route without a live server drop out. Written otherwise, it costs more (callgrind, instructions "
        "per request, new client / returning client): with `nocache`, which drover's gateway does not do (marking "
        "responses that set the cookie uncacheable), +870 / +940; one backend per version with the cookie checked "
        "in three frontend rules, +1,370 / +570 more again (both with `nocache`). `use-server v3 if ...` in the weights "
        "backend would be shorter but is wrong: "
        "HAProxy applies it before the cookie and inserts no cookie for a server it picked that way, so the condition's "
        "clients would not stick. Before measuring, the script checks that both configurations route alike (400 requests "
        "per case: no condition 80/20, Chrome and the `beta` cookie 40/10/50, a returning Chrome client all on its route "
        "with no new cookie, a Set-Cookie for every new one). Differences that remain: the hand-written one "
        "strips its cookie from the request (`indirect`), work drover's gateway does not do; a client whose cookie names a dead route is "
        "balanced by weight without the condition; a route is one server there, so a returning client goes straight to "
        "it, where drover balances inside the route's backend (a route has several instances in general); weights change "
        "per server at runtime, and the strength only by a reload.",
        "",
        "| client | config | median req/s | median HAProxy CPU per request | rounds (req/s) |",
        "|---|---|---:|---:|---|",
        *rows,
        "",
        "Medians of the per-round ratios, throughput (CPU-cost ratio: the other's CPU time per request over drover's):",
        "",
        *summary,
        "",
        "With a load average well above the cores, single rounds spread widely and these ratios move by several percent "
        "from one run to the next, more than the differences they measure; the instruction counts below do not move with "
        "the load and decide.",
        "",
        "Targets: drover's gateway at least 0.98 of the hand-written configuration's throughput for every kind of client, and "
        "at least 0.95 of plain roundrobin's for returning clients, browser sessions and new connections. A new client on "
        "every keep-alive request against plain roundrobin is the cost of the features, not of drover (HAProxy must set "
        "the cookie and evaluate the condition for every such request, however the configuration is written): reported, "
        "not targeted.",
    ])


if __name__ == "__main__":
    main()
