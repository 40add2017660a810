"""The local demo: the example canary blueprint rendered, served by a real HAProxy on loopback in front of small
local HTTP backends, and real traffic to show the observed split per route next to the configured one.

Run with `make demo-local` (or `.venv/bin/python demo/local.py`). It needs HAProxy 2.6 and free loopback ports; it
stops everything it started, by pid, when it ends.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy_reload import ReloadOptions, apply_config, start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy_render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy_runtime import RuntimeClient
from ansible_collections.drover.fleet.plugins.module_utils.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.routing import explain

BLUEPRINT = Path(__file__).resolve().parent.parent / "examples" / "sava-canary.yml"
REQUESTS = 2000
USER_AGENTS = {
    "Firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Chrome": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
}


class VersionHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in for the sava service: answers its version and instance, and /health."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = json.dumps({"version": self.server.version, "instance": self.server.instance}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """HAProxy closes idle and health-check connections; a reset there is normal, not worth a traceback."""


def start_backend(version: str, instance: str) -> http.server.ThreadingHTTPServer:
    server = QuietServer(("127.0.0.1", 0), VersionHandler)
    server.version, server.instance, server.daemon_threads = version, instance, True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"demo: timed out after {timeout:.0f}s waiting for {what}")


def fetch(port: int, user_agent: str, cookie: str | None = None) -> tuple[str, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"User-Agent": user_agent, **({"Cookie": cookie} if cookie else {})}
    conn.request("GET", "/", headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"demo: a request failed with HTTP {response.status}")
    return json.loads(body)["version"], response.getheader("Set-Cookie")


def split(port: int, user_agent: str) -> Counter:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return Counter(version for version, _cookie in pool.map(lambda _i: fetch(port, user_agent), range(REQUESTS)))


def expected_split(gateway: dict, matched_conditions: set[str]) -> dict[str, float]:
    """What the blueprint promises: matching condition rules first, with their probability, then the weights."""
    result: Counter = Counter()
    remaining = 1.0
    for rule in gateway["conditions"]:
        if {c["condition"] for c in rule["conditions"]} <= matched_conditions:
            share = remaining * rule["probability"] / 100
            result[rule["route"]] += share
            remaining -= share
    for entry in gateway["weights"]:
        result[entry["route"]] += remaining * entry["percent"] / 100
    return {route.rsplit(":", 1)[-1]: 100 * share for route, share in result.items()}


def print_table(title: str, observed: Counter, expected: dict[str, float]) -> None:
    print(f"\n{title} ({sum(observed.values())} requests)")
    print(f"  {'version':<10}{'observed':>10}{'configured':>12}")
    for version in sorted(set(observed) | set(expected)):
        print(f"  {version:<10}{100 * observed[version] / sum(observed.values()):>9.1f}%{expected.get(version, 0):>11.1f}%")


def main() -> int:
    artifacts = load_paths([str(BLUEPRINT)])
    gateway = explain(artifacts)[0]
    port = gateway["port"]
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"demo: 127.0.0.1:{port} is already in use; stop what listens there and run again")
    backends, instances = [], {}
    for key, count in (("sava/sava/sava:1.0.0", 2), ("sava/sava/sava:1.1.0", 1)):
        version = key.rsplit(":", 1)[-1]
        for slot in range(1, count + 1):
            server = start_backend(version, f"{version}-{slot}")
            backends.append(server)
            instances.setdefault(key, []).append(Instance(slot=slot, address="127.0.0.1", port=server.server_address[1]))
    workdir = tempfile.mkdtemp(prefix="drover-demo-")
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=os.path.join(workdir, "admin.sock"),
                            server_state_file=os.path.join(workdir, "server-state"), log_target=None)
    rendered = render(artifacts, options, instances)
    for name, text in rendered.files.items():
        Path(workdir, name).parent.mkdir(parents=True, exist_ok=True)
        Path(workdir, name).write_text(text)
    print(f"demo: rendered {BLUEPRINT.name} into {workdir}/haproxy.cfg; explain says:")
    for statement in gateway["statements"]:
        print(f"  - {statement}")
    master = start_master_worker(os.path.join(workdir, "haproxy.cfg"), os.path.join(workdir, "master.sock"),
                                 pid_file=os.path.join(workdir, "haproxy.pid"))
    try:
        runtime = RuntimeClient(options.admin_socket)
        wait_for(lambda: os.path.exists(options.admin_socket), 10, "the HAProxy admin socket")
        servers_up = lambda: sum(1 for row in runtime.show_stat() if row.get("svname", "").startswith("slot") and row.get("status") == "UP")  # noqa: E731
        wait_for(lambda: servers_up() == 3, 30, "3 healthy instances behind HAProxy")
        print(f"demo: HAProxy (master pid {master.pid}) serves 127.0.0.1:{port}; 3 instances passed their health checks")
        for name, agent in USER_AGENTS.items():
            matched = {"user-agent == Chrome"} if name == "Chrome" else set()
            print_table(f"{name} users, each request a new client", split(port, agent), expected_split(gateway, matched))
        version, cookie = fetch(port, USER_AGENTS["Firefox"])
        sticky = Counter(fetch(port, USER_AGENTS["Firefox"], cookie.split(";")[0])[0] for _ in range(50))
        print(f"\nsticky route: a client first served by {version} kept its cookie for 50 more requests: {dict(sticky)}")
        # A weight shift is a new blueprint: only the map files change, so apply_config updates the maps live.
        shifted_path = Path(workdir, "sava-50-50.yml")
        shifted_path.write_text(BLUEPRINT.read_text().replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%"))
        shifted = render(load_paths([str(shifted_path)]), options, instances)
        result = apply_config(os.path.join(workdir, "haproxy.cfg"), shifted.config, shifted.maps, ReloadOptions(
            master_socket=os.path.join(workdir, "master.sock"), admin_socket=options.admin_socket, service_manager="master_cli",
            state_dir=os.path.join(workdir, "state")))
        print(f"\nweights shifted to 50/50: haproxy.cfg changed: {result.config_changed}, reloaded: {result.reloaded}, "
              f"maps updated at runtime: {len(result.runtime_map_updates)}")
        print_table("Firefox users after the shift", split(port, USER_AGENTS["Firefox"]),
                    expected_split(explain(load_paths([str(shifted_path)]))[0], set()))
    finally:
        stop_master_worker(master.pid)
        for server in backends:
            server.shutdown()
    print("\ndemo: done; HAProxy and the backends are stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
