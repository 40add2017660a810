"""The load balancer's side of benchmarks/zero_downtime.py: runs inside the lab host lb1, where drover's modules run.

It reads one JSON request per line on stdin and answers one JSON line on stdout. Each operation is what a module
does on the load balancer (apply_config, the runtime API client), timed here so that the controller's own delays
(the pipe, Python start-up) are not counted. The timing of `reload_and_verify` (reload request until the new worker
answers) and of the runtime map update inside `apply_config` is taken by wrapping those engine functions in a timer:
the real functions run, unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from ansible_collections.drover.fleet.plugins.module_utils.haproxy import reload as haproxy_reload
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import (
    ReloadOptions, apply_config, atomic_write, validate_config,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import DrainTimeoutError, MasterClient, RuntimeClient

CONFIG = "/etc/haproxy/haproxy.cfg"
MASTER_SOCKET = "/run/haproxy-master.sock"
RUN_DIR = "/run/haproxy"


def _timed(module, name: str, sink: dict) -> None:
    """Replace module.name (a module's function or a class's method) by a wrapper that adds the duration of each call
    to sink[name]."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            sink[name] = sink.get(name, 0.0) + time.perf_counter() - started

    setattr(module, name, wrapper)


class Agent:
    def __init__(self):
        self.admin_socket = os.path.join(RUN_DIR, "admin.sock")
        self.master_pid: int | None = None
        self.timings: dict = {}
        _timed(haproxy_reload, "reload_and_verify", self.timings)
        _timed(haproxy_reload, "_sync_runtime_maps", self.timings)
        # the set commands only (`show stat` polls go through RuntimeClient.command)
        _timed(RuntimeClient, "execute", self.timings)

    def options(self) -> ReloadOptions:
        return ReloadOptions(master_socket=MASTER_SOCKET, admin_socket=self.admin_socket)

    def client(self) -> RuntimeClient:
        return RuntimeClient(self.admin_socket, 5.0)

    # -- operations ----------------------------------------------------------------------------------------------

    def op_start(self, files: dict, admin_socket: str) -> dict:
        self.admin_socket = admin_socket
        os.makedirs(RUN_DIR, exist_ok=True)
        os.makedirs(os.path.dirname(admin_socket), exist_ok=True)
        config_dir = os.path.dirname(CONFIG)
        for rel, text in files.items():
            atomic_write(os.path.join(config_dir, rel), text)
        worker = start_master_worker(CONFIG, MASTER_SOCKET, pid_file=os.path.join(RUN_DIR, "haproxy.pid"),
                                     log_file=os.path.join(RUN_DIR, "master.log"))
        self.master_pid = worker.pid
        return {"pid": worker.pid}

    def op_apply(self, config: str, maps: dict) -> dict:
        self.timings.clear()
        started = time.perf_counter()
        result = apply_config(CONFIG, config, maps, self.options())
        return {"seconds": time.perf_counter() - started, "reload_seconds": self.timings.get("reload_and_verify"),
                "runtime_seconds": self.timings.get("_sync_runtime_maps"), "reloaded": result.reloaded,
                "config_changed": result.config_changed, "map_updates": len(result.runtime_map_updates),
                "new_worker_pids": result.new_worker_pids, "warnings": result.warnings}

    def op_fill_slot(self, backend: str, server: str, address: str, port: int, config: str, up_timeout: float) -> dict:
        """An instance into a free slot at runtime with RuntimeClient.fill_slot (traffic only once its health check
        passed), then the same slot written into haproxy.cfg without a reload, so a later reload keeps it."""
        client = self.client()
        started = time.perf_counter()
        validate_config(CONFIG, config)
        validated = time.perf_counter()
        self.timings.clear()
        filled = client.fill_slot(backend, server, address, port, timeout=up_timeout)
        applied = time.perf_counter()
        atomic_write(CONFIG, config)
        written = time.perf_counter()
        return {"validate_seconds": validated - started, "fill_seconds": applied - validated, "write_seconds": written - applied,
                "command_seconds": self.timings.get("execute"), "status_before_ready": filled["status_before_ready"],
                "sessions_before_ready": filled["sessions_before_ready"],
                "status_after": client.server_stat(backend, server).get("status")}

    def op_fill_slot_ungated(self, backend: str, server: str, address: str, port: int, timeout: float) -> dict:
        """The control for fill_slot: `set server addr` then `state ready` straight away. Returns the sessions HAProxy
        sent the instance before its first health check result (status no longer `UP 1/2`)."""
        client = self.client()
        sessions_at_start = int(client.server_stat(backend, server).get("stot") or 0)
        client.set_addr(backend, server, address, port)
        client.set_state(backend, server, "ready")
        status_after_ready = client.server_stat(backend, server).get("status")
        deadline = time.perf_counter() + timeout
        while True:
            row = client.server_stat(backend, server)
            if row.get("status") != status_after_ready or time.perf_counter() > deadline:
                break
            time.sleep(0.005)
        return {"status_after_ready": status_after_ready, "status_after_first_check": row.get("status"),
                "sessions_before_first_check": int(row.get("stot") or 0) - sessions_at_start}

    def op_set_state(self, backend: str, server: str, state: str) -> dict:
        started = time.perf_counter()
        self.client().set_state(backend, server, state)
        return {"runtime_seconds": time.perf_counter() - started}

    def op_wait_for_drain(self, backend: str, server: str, timeout: float) -> dict:
        try:
            drained = self.client().wait_for_drain(backend, server, timeout=timeout, poll=0.05)
        except DrainTimeoutError as exc:
            return {"drained": False, "waited": timeout, "message": str(exc)}
        return {"drained": True, "waited": drained["waited"], "status": drained["status"]}

    def op_write_config(self, config: str) -> dict:
        started = time.perf_counter()
        validate_config(CONFIG, config)
        atomic_write(CONFIG, config)
        return {"seconds": time.perf_counter() - started}

    def op_servers(self) -> dict:
        rows = self.client().show_stat()
        return {"servers": [{key: row.get(key) for key in ("pxname", "svname", "status", "scur", "addr", "stot")}
                            for row in rows if row.get("svname") not in ("FRONTEND", "BACKEND")],
                "frontends": {row["pxname"]: int(row.get("req_tot") or 0) for row in rows if row.get("svname") == "FRONTEND"},
                "backends": {row["pxname"]: {key: int(row.get(key) or 0) for key in ("wretr", "wredis", "econ", "eresp", "hrsp_5xx")}
                             for row in rows if row.get("svname") == "BACKEND"}}

    def op_reloads(self) -> dict:
        table = MasterClient(MASTER_SOCKET, 5.0).show_proc()
        return {"reloads": table.reloads, "workers": table.worker_pids, "old_workers": [p.pid for p in table.old_workers]}

    def op_stop(self) -> dict:
        stopped = stop_master_worker(self.master_pid) if self.master_pid else True
        self.master_pid = None
        return {"stopped": stopped}


def main() -> None:
    agent = Agent()
    for line in sys.stdin:
        request = json.loads(line)
        operation = request.pop("op")
        try:
            answer = {"ok": True, **getattr(agent, f"op_{operation}")(**request)}
        except Exception as exc:  # pylint: disable=broad-except
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if operation == "stop":
            break


if __name__ == "__main__":
    main()
