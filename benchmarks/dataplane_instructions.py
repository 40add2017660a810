"""Data-plane cost of drover's generated routing in CPU instructions: the same two configurations as
`benchmarks/dataplane.py` (the rendered gateway with a 50% condition, map-driven weights and sticky routes, against
plain roundrobin over the same backends), each HAProxy run under valgrind's callgrind, which counts the instructions
HAProxy executes in user space while wrk sends requests.

Instruction counts do not move with other load on the machine, so they show differences of a few hundred
instructions that CPU time per request (±1 µs on a shared machine) cannot. They leave out the kernel (socket reads and
writes, the same for both configurations) and cache misses, so they rank costs; `dataplane.py` gives the times.
Two kinds of clients: new ones (a Chrome user agent, no cookie: conditions, weights and a Set-Cookie on every
response) and returning ones (they send the route cookie of the 80% route, so the sticky rule decides).
Run: .venv/bin/python benchmarks/dataplane_instructions.py [--duration 4] [--no-write]   (needs valgrind)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeClient
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.tests.support.helpers import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane import (  # noqa: E402
    BACKENDS, backend_config, backend_ports, client_kinds, gateway_yaml, plain_config, start_haproxy, wait_listening, wait_servers_up,
)
from load_clients import parse_wrk  # noqa: E402
from report import machine_description, write_section  # noqa: E402


def write_files(directory: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return directory / "haproxy.cfg"


def wrk_requests(port: int, duration: int, headers: list[str]) -> int:
    args = [item for header in headers for item in ("-H", header)]
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{duration}s", *args, f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    result = parse_wrk(f"127.0.0.1:{port}", out)
    if result.failed:
        raise SystemExit(f"wrk saw errors, the count is void:\n{out}")
    return result.requests


def instructions_per_request(config: Path, port: int, duration: int, headers: list[str], ready) -> tuple[float, int]:
    """(instructions per request, requests) of an HAProxy under callgrind: instrumentation is switched on only while
    wrk runs, after a warm-up, so start-up and health checks before it are not counted."""
    out = config.parent / "callgrind.out"
    process = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                "haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, 60)
        ready()
        wrk_requests(port, 1, headers)
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], capture_output=True, check=True)
        requests = wrk_requests(port, duration, headers)
        subprocess.run(["callgrind_control", "-i", "off", str(process.pid)], capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-d", str(process.pid)], capture_output=True, check=True)
    finally:
        process.terminate()
        process.wait(timeout=60)
    total = 0
    for dump in config.parent.glob("callgrind.out*"):
        found = re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.M)
        total += int(found.group(1)) if found else 0
        dump.unlink()
    return total / requests, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("valgrind is not installed: run `make setup`")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ports = backend_ports()
        backends = start_haproxy(Path(tmp, "backends"), {"haproxy.cfg": backend_config(ports)})
        try:
            plain_port, drover_port = free_port(), free_port()
            plain = write_files(Path(tmp, "plain"), {"haproxy.cfg": plain_config(plain_port, ports)})
            options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(Path(tmp, "drover", "admin.sock")),
                                    server_state_file=str(Path(tmp, "drover", "state")), log_target=None, threads=1)
            rendered = render(load_text(gateway_yaml(drover_port, ports), "bench-gateway.yml"), options)
            drover = write_files(Path(tmp, "drover"), rendered.files)
            # the keep-alive clients of dataplane.py: instructions do not depend on how connections are opened
            # (a browser session is a mix of the two, so its count is their weighted mean)
            clients = {name: kind.headers for name, kind in client_kinds(rendered).items() if "client, keep-alive" in name}
            for client, headers in clients.items():
                results[(client, "plain roundrobin")] = instructions_per_request(plain, plain_port, args.duration, headers, lambda: None)
                results[(client, "drover gateway")] = instructions_per_request(
                    drover, drover_port, args.duration, headers, lambda: wait_servers_up(RuntimeClient(options.admin_socket), BACKENDS))
                print(f"{client}: plain {results[(client, 'plain roundrobin')][0]:.0f}, drover {results[(client, 'drover gateway')][0]:.0f} "
                      "instructions per request", flush=True)
        finally:
            backends.terminate()
            backends.wait(timeout=10)
    rows = []
    for client in clients:
        plain_count = results[(client, "plain roundrobin")][0]
        drover_count, requests = results[(client, "drover gateway")]
        rows.append(f"| {client} | {plain_count:.0f} | {drover_count:.0f} | +{drover_count - plain_count:.0f} | "
                    f"{plain_count / drover_count:.3f} | {requests} |")
    markdown = "\n".join([
        "## Data plane in instructions: generated routing against plain roundrobin (`benchmarks/dataplane_instructions.py`)",
        "",
        f"Machine: {machine_description()}. The configurations of `dataplane.py`, each HAProxy under callgrind, wrk with 1 thread "
        f"and 8 connections for {args.duration} s; instructions executed by HAProxy in user space per request (the kernel's "
        "socket work, more than half of the CPU time per request here and the same for both, is not counted).",
        "",
        "| clients | plain roundrobin | drover gateway | difference | plain/drover | requests counted (drover) |",
        "|---|---:|---:|---:|---:|---:|",
        *rows,
    ])
    if not args.no_write:
        write_section("dataplane-instructions", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
