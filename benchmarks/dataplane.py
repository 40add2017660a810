"""Data-plane cost of drover's generated routing: HAProxy throughput with a rendered gateway (conditions, a
condition strength, map-driven weights, sticky routes) against a plain roundrobin config over the same backends.

Both configs run side by side in one run, alternating A/B rounds, with wrk on loopback bounded in time. The backends
are a separate HAProxy answering `http-request return`, so the backends are never the bottleneck.
Run: .venv/bin/python benchmarks/dataplane.py [--rounds 5] [--duration 5] [--no-write] [--only <kind of client>]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
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


def start_haproxy(directory: Path, files: dict[str, str]) -> subprocess.Popen:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return subprocess.Popen(["haproxy", "-db", "-f", str(directory / "haproxy.cfg")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def cpu_seconds(process: subprocess.Popen) -> float:
    """CPU time (user + system) of an HAProxy started with -db (one process, no workers)."""
    times = psutil.Process(process.pid).cpu_times()
    return times.user + times.system


CHROME = "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"
# requests per browser session: a page and what it loads, a conservative count (pages load dozens of resources)
SESSION_REQUESTS = 10


@dataclass
class Client:
    """The request headers of one kind of client; `session_cookie`, when set, is sent on every request but the first
    of each browser session of SESSION_REQUESTS requests (by a wrk script)."""

    headers: list[str]
    session_cookie: str | None = None


def client_kinds(rendered) -> dict[str, Client]:
    """The kinds of client measured. A new client sends no route cookie, so it goes through conditions and weights
    and gets a Set-Cookie on every response (wrk keeps no cookies); a returning client sends the route cookie of the
    80% route, as a browser does from its second request on, and the sticky rule decides; a browser session is one
    new request followed by returning ones."""
    frontend = rendered.frontends[0]
    first_route = next(s for s in frontend.sticky_routes if s.backend == frontend.weighted.entries[0].target)
    if frontend.sticky_routes[0] is not first_route:
        raise SystemExit("the 80% route's sticky rule must come first (see backend_ports)")
    cookie = f"{frontend.route_cookie}={first_route.value}"
    return {
        "new client, keep-alive": Client([CHROME]),
        "returning client, keep-alive": Client([CHROME, f"Cookie: {cookie}"]),
        f"browser sessions of {SESSION_REQUESTS} requests, keep-alive": Client([CHROME], session_cookie=cookie),
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


def wrk(port: int, duration: int, connections: int, process: subprocess.Popen, client: Client) -> tuple[float, float]:
    """(requests per second, HAProxy CPU microseconds per request) for one bounded wrk run of `client`'s requests."""
    cpu_before = cpu_seconds(process)
    args = [item for header in client.headers for item in ("-H", header)]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        if client.session_cookie:
            script.write(session_script(client.session_cookie))
            script.flush()
            args += ["-s", script.name]
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", *args, f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    result = parse_wrk(f"127.0.0.1:{port}", out)
    if result.failed:
        raise SystemExit(f"wrk saw errors, the comparison is void:\n{out}")
    cpu = cpu_seconds(process) - cpu_before
    return result.rate, 1e6 * cpu / result.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", help="measure only the kinds of client whose name contains this text (implies --no-write), "
                                       "e.g. --only 'new client, keep' --rounds 15 for a larger sample of the worst case")
    args = parser.parse_args()
    args.no_write = args.no_write or bool(args.only)
    processes = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ports = backend_ports()
            processes.append(start_haproxy(Path(tmp, "backends"), {"haproxy.cfg": backend_config(ports)}))
            plain_port, drover_port = free_port(), free_port()
            processes.append(start_haproxy(Path(tmp, "plain"), {"haproxy.cfg": plain_config(plain_port, ports)}))
            options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(Path(tmp, "drover", "admin.sock")),
                                    server_state_file=str(Path(tmp, "drover", "state")), log_target=None, threads=1)
            rendered = render(load_text(gateway_yaml(drover_port, ports), "bench-gateway.yml"), options)
            processes.append(start_haproxy(Path(tmp, "drover"), rendered.files))
            for port in ports + [plain_port, drover_port]:
                wait_listening(port)
            wait_servers_up(RuntimeClient(options.admin_socket), BACKENDS)
            results = {}
            for client, kind in client_kinds(rendered).items():
                if args.only and args.only not in client:
                    continue
                plain, drover = results.setdefault(client, ([], []))
                for _round in range(args.rounds):
                    plain.append(wrk(plain_port, args.duration, args.connections, processes[1], kind))
                    drover.append(wrk(drover_port, args.duration, args.connections, processes[2], kind))
                    print(f"{client}: plain {plain[-1][0]:.0f} req/s {plain[-1][1]:.2f} µs/req, "
                          f"drover {drover[-1][0]:.0f} req/s {drover[-1][1]:.2f} µs/req", flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    rows, summary = [], []
    for mode, (plain, drover) in results.items():
        ratio = statistics.median(d[0] / p[0] for d, p in zip(drover, plain))
        cpu_ratio = statistics.median(p[1] / d[1] for d, p in zip(drover, plain))
        for name, runs in (("plain roundrobin", plain), ("drover gateway", drover)):
            rows.append(f"| {mode} | {name} | {statistics.median(r[0] for r in runs):.0f} | {statistics.median(r[1] for r in runs):.2f} µs | "
                        f"{', '.join(f'{r[0]:.0f}' for r in runs)} |")
        verdict = "meets" if min(ratio, cpu_ratio) >= 0.95 else "misses"
        summary.append(f"- {mode}: throughput ratio drover/plain **{ratio:.3f}**, CPU-cost ratio plain/drover **{cpu_ratio:.3f}**: "
                       f"{verdict} the target")
    markdown = "\n".join([
        "## Data plane: generated routing against plain roundrobin (`benchmarks/dataplane.py`)",
        "",
        f"Machine: {machine_description()}. wrk, 1 thread, {args.connections} connections, {args.duration} s per round, "
        f"{args.rounds} alternating rounds per kind of client, all with a Chrome user agent. A new client sends no cookie (wrk "
        f"keeps none), so every request goes through the sticky rules, the condition and the weights and gets a Set-Cookie: "
        f"the worst case. A returning client sends the route cookie of the 80% route, as a browser does from its second "
        f"request on, so the sticky rule decides. A browser session sends no route cookie on its first request and the "
        f"cookie on the next {SESSION_REQUESTS - 1} (a wrk script), as a browser loading a page and what it needs does: one new "
        f"request in {SESSION_REQUESTS}. Plain roundrobin gets the same requests. HAProxy under test "
        f"runs with one thread; the {BACKENDS} backends are another HAProxy answering `http-request return`. The drover gateway has "
        f"a condition with 50% strength, map-driven weights and sticky routes. The CPU cost is the HAProxy process's CPU time per "
        f"request (less sensitive to other load on the machine than requests per second).",
        "",
        "| client | config | median req/s | median HAProxy CPU per request | rounds (req/s) |",
        "|---|---|---:|---:|---|",
        *rows,
        "",
        *summary,
        "",
        "Target: a ratio of at least 0.95. Where it is missed, the instruction counts below say which per-request operations "
        "remain and what each costs (docs/architecture.md, data-plane cost).",
    ])
    if not args.no_write:
        write_section("dataplane", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
