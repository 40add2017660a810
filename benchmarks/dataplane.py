"""Data-plane cost of drover's generated routing: HAProxy throughput with a rendered gateway (conditions, a
condition strength, map-driven weights, sticky routes) against a plain roundrobin config over the same backends.

Both configs run side by side in one run, alternating A/B rounds, with wrk on loopback bounded in time. The backends
are a separate HAProxy answering `http-request return`, so the backends are never the bottleneck.
Run: .venv/bin/python benchmarks/dataplane.py [--rounds 5] [--duration 5] [--no-write]
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy_render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.reader import load_text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import machine_description, write_section  # noqa: E402

BACKENDS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


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


def wrk(port: int, duration: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True, timeout=duration + 30).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw errors, the comparison is void:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    processes = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ports = [free_port() for _ in range(BACKENDS)]
            processes.append(start_haproxy(Path(tmp, "backends"), {"haproxy.cfg": backend_config(ports)}))
            plain_port, drover_port = free_port(), free_port()
            processes.append(start_haproxy(Path(tmp, "plain"), {"haproxy.cfg": plain_config(plain_port, ports)}))
            options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(Path(tmp, "drover", "admin.sock")),
                                    server_state_file=str(Path(tmp, "drover", "state")), log_target=None, threads=1)
            rendered = render(load_text(gateway_yaml(drover_port, ports), "bench-gateway.yml"), options)
            processes.append(start_haproxy(Path(tmp, "drover"), rendered.files))
            for port in ports + [plain_port, drover_port]:
                wait_listening(port)
            plain, drover = [], []
            for _ in range(args.rounds):
                plain.append(wrk(plain_port, args.duration, args.connections))
                drover.append(wrk(drover_port, args.duration, args.connections))
                print(f"plain {plain[-1]:.0f} req/s, drover {drover[-1]:.0f} req/s", flush=True)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
    ratios = [d / p for d, p in zip(drover, plain)]
    ratio = statistics.median(ratios)
    markdown = "\n".join([
        "## Data plane: generated routing against plain roundrobin (`benchmarks/dataplane.py`)",
        "",
        f"Machine: {machine_description()}. wrk, 1 thread, {args.connections} keep-alive connections, {args.duration} s per round, "
        f"{args.rounds} alternating rounds; a Chrome user agent so the condition is evaluated on every request. "
        f"HAProxy under test runs with one thread; the {BACKENDS} backends are another HAProxy answering `http-request return`.",
        "",
        "| config | median req/s | rounds (req/s) |",
        "|---|---:|---|",
        f"| plain roundrobin | {statistics.median(plain):.0f} | {', '.join(f'{x:.0f}' for x in plain)} |",
        f"| drover gateway (condition + 50% strength, map weights, sticky route) | {statistics.median(drover):.0f} | "
        f"{', '.join(f'{x:.0f}' for x in drover)} |",
        "",
        f"Median of the per-round ratios drover/plain: **{ratio:.3f}** (target at least 0.95).",
    ])
    if not args.no_write:
        write_section("dataplane", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
