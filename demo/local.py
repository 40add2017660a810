"""The local demo (`make demo-local`): the example canary blueprint rendered, served by a real HAProxy on loopback in
front of small local HTTP backends, and real traffic to show the observed split per version next to the configured
one. It needs HAProxy 2.6 and free loopback ports, and stops everything it started, by pid, when it ends.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import sys
import tempfile
import threading
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ReloadOptions, apply_config, start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeClient
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import explain

sys.path.insert(0, str(Path(__file__).resolve().parent))
from traffic import USER_AGENTS, DemoError, expected_split, observed_split, print_split, sticky_client, wait_for  # noqa: E402

BLUEPRINT = Path(__file__).resolve().parent.parent / "examples" / "sava-canary.yml"
REQUESTS = 2000
INSTANCES = {"sava/sava/sava:1.0.0": 2, "sava/sava/sava:1.1.0": 1}


class VersionHandler(http.server.BaseHTTPRequestHandler):
    """A stand-in for the sava service: answers its version and instance on every path, /health included."""

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
    daemon_threads = True

    def handle_error(self, request, client_address):
        """HAProxy closes idle and health-check connections; a reset there is normal, not worth a traceback."""


def start_backend(version: str, instance: str) -> QuietServer:
    server = QuietServer(("127.0.0.1", 0), VersionHandler)
    server.version, server.instance = version, instance
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def version_of(route: str) -> str:
    return route.rsplit(":", 1)[-1]


def healthy_slots(runtime: RuntimeClient) -> int:
    return sum(1 for row in runtime.show_stat() if row.get("svname", "").startswith("slot") and row.get("status") == "UP")


def main() -> int:
    artifacts = load_paths([str(BLUEPRINT)])
    gateway = explain(artifacts)[0]
    port = gateway["port"]
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            raise DemoError(f"127.0.0.1:{port} is already in use; stop what listens there and run again")
    backends, instances = [], {}
    for key, count in INSTANCES.items():
        for slot in range(1, count + 1):
            server = start_backend(version_of(key), f"{version_of(key)}-{slot}")
            backends.append(server)
            instances.setdefault(key, []).append(Instance(slot=slot, address="127.0.0.1", port=server.server_address[1]))
    workdir = tempfile.mkdtemp(prefix="drover-demo-")
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=os.path.join(workdir, "admin.sock"),
                            server_state_file=os.path.join(workdir, "server-state"), log_target=None)
    config_path = os.path.join(workdir, "haproxy.cfg")
    for name, text in render(artifacts, options, instances).files.items():
        Path(workdir, name).parent.mkdir(parents=True, exist_ok=True)
        Path(workdir, name).write_text(text)
    print(f"demo: rendered {BLUEPRINT.name} into {config_path}; drover explain says:")
    for statement in gateway["statements"]:
        print(f"  - {statement}")
    master = start_master_worker(config_path, os.path.join(workdir, "master.sock"), pid_file=os.path.join(workdir, "haproxy.pid"))
    try:
        runtime = RuntimeClient(options.admin_socket)
        wait_for(lambda: healthy_slots(runtime) == sum(INSTANCES.values()), 30, "the instances to pass their health checks")
        print(f"demo: HAProxy (master pid {master.pid}) serves 127.0.0.1:{port}; every instance passed its health check")
        for name, agent in USER_AGENTS.items():
            matched = {"user-agent == Chrome"} if name == "Chrome" else set()
            print_split(f"{name} users, each request a new client", observed_split("127.0.0.1", port, agent, REQUESTS),
                        expected_split(gateway, matched, version_of))
        first, kept = sticky_client("127.0.0.1", port, USER_AGENTS["Firefox"], 50)
        print(f"\nsticky route: a client first served by {first} sent its cookie back 50 times and got {dict(kept)}")

        # A weight shift is a new blueprint whose only change is in the map files: applied live, with no reload.
        shifted_path = Path(workdir, "sava-50-50.yml")
        shifted_path.write_text(BLUEPRINT.read_text().replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%"))
        shifted_artifacts = load_paths([str(shifted_path)])
        shifted = render(shifted_artifacts, options, instances)
        result = apply_config(config_path, shifted.config, shifted.maps, ReloadOptions(
            master_socket=os.path.join(workdir, "master.sock"), admin_socket=options.admin_socket, service_manager="master_cli",
            state_dir=os.path.join(workdir, "state")))
        print(f"\nweights shifted to 50/50: haproxy.cfg changed: {result.config_changed}, reloaded: {result.reloaded}, "
              f"maps updated at runtime: {len(result.runtime_map_updates)}")
        print_split("Firefox users after the shift", observed_split("127.0.0.1", port, USER_AGENTS["Firefox"], REQUESTS),
                    expected_split(explain(shifted_artifacts)[0], set(), version_of))
    finally:
        stop_master_worker(master.pid)
        for server in backends:
            server.shutdown()
    print("\ndemo: done; HAProxy and the backends are stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
