"""The local demo (`make demo-local`): the example canary blueprint rendered, served by a real HAProxy on loopback in
front of small local HTTP backends, and real traffic to show the observed split per version next to the configured
one. It needs HAProxy 2.6 and free loopback ports, and stops everything it started, by pid, when it ends. The screen
shows one line per step with its time, and the traffic tables; HAProxy's own output goes to demo.log in the work folder.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ReloadOptions, apply_config
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeClient
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.routing.explain import explain

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import DemoError, Steps, display_path  # noqa: E402
from traffic import USER_AGENTS, sticky_client, sticky_summary, traffic_steps, version_of, wait_for  # noqa: E402

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


def healthy_slots(runtime: RuntimeClient) -> int:
    return sum(1 for row in runtime.show_stat() if row.get("svname", "").startswith("slot") and row.get("status") == "UP")


def main() -> int:
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="drover-demo-")
    steps = Steps(Path(workdir, "demo.log"))
    steps.print("drover local demo: a canary blueprint rendered for one HAProxy on loopback, in front of local backends")
    steps.print(f"Work files (haproxy.cfg, maps, the full log demo.log) in {workdir}\n")
    artifacts = load_paths([str(BLUEPRINT)])
    gateway = explain(artifacts)[0]
    port = gateway["port"]
    backends, instances, master = [], {}, None
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=os.path.join(workdir, "admin.sock"),
                            server_state_file=os.path.join(workdir, "server-state"), log_target=None)
    config_path = os.path.join(workdir, "haproxy.cfg")
    try:
        with steps.step("start the local backends") as step:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    raise DemoError(f"127.0.0.1:{port} is already in use; stop what listens there and run again")
            for key, count in INSTANCES.items():
                for slot in range(1, count + 1):
                    server = start_backend(version_of(key), f"{version_of(key)}-{slot}")
                    backends.append(server)
                    instances.setdefault(key, []).append(Instance(slot=slot, address="127.0.0.1", port=server.server_address[1]))
            step.summary = f"{len(backends)} HTTP servers on 127.0.0.1: " + ", ".join(
                f"{len(found)} for {key.rsplit('/', 1)[-1]}" for key, found in instances.items())

        with steps.step(f"render {BLUEPRINT.relative_to(BLUEPRINT.parent.parent)}") as step:
            for name, text in render(artifacts, options, instances).files.items():
                Path(workdir, name).parent.mkdir(parents=True, exist_ok=True)
                Path(workdir, name).write_text(text)
            step.summary = f"{display_path(config_path)} and its map files"
        with steps.step("drover explain: what the blueprint promises") as step:
            step.details = [f"- {statement}" for statement in gateway["statements"]]

        with steps.step("start HAProxy in master-worker mode") as step:
            master = start_master_worker(config_path, os.path.join(workdir, "master.sock"), pid_file=os.path.join(workdir, "haproxy.pid"),
                                         log_file=str(steps.log_path))
            runtime = RuntimeClient(options.admin_socket)
            wait_for(lambda: healthy_slots(runtime) == sum(INSTANCES.values()), 30, "the instances to pass their health checks")
            step.summary = f"master pid {master.pid} serves 127.0.0.1:{port}; every instance passed its health check"

        traffic_steps(steps, "each request a new client", "127.0.0.1", port, gateway, REQUESTS)
        with steps.step("sticky route") as step:
            step.summary = sticky_summary(*sticky_client("127.0.0.1", port, USER_AGENTS["Firefox"], 50))

        # A weight shift is a new blueprint whose only change is in the map files: applied live, with no reload.
        with steps.step("shift the weights to 50/50") as step:
            shifted_path = Path(workdir, "sava-50-50.yml")
            shifted_path.write_text(BLUEPRINT.read_text().replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%"))
            shifted_artifacts = load_paths([str(shifted_path)])
            shifted = render(shifted_artifacts, options, instances)
            result = apply_config(config_path, shifted.config, shifted.maps, ReloadOptions(
                master_socket=os.path.join(workdir, "master.sock"), admin_socket=options.admin_socket, service_manager="master_cli",
                state_dir=os.path.join(workdir, "state")))
            maps = len(result.runtime_map_updates)
            step.summary = (f"{maps} map file{'' if maps == 1 else 's'} replaced at runtime, haproxy.cfg "
                            f"{'changed' if result.config_changed else 'unchanged'}, {'RELOADED' if result.reloaded else 'no reload'}")
        traffic_steps(steps, "after the shift", "127.0.0.1", port, explain(shifted_artifacts)[0], REQUESTS, agents=("Firefox",))
    finally:
        if master is not None:
            stop_master_worker(master.pid)
        for server in backends:
            server.shutdown()
    steps.close()
    steps.print(f"\nDone in {time.monotonic() - started:.0f} s; HAProxy and the backends are stopped. The full log: {display_path(steps.log_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
