# -*- coding: utf-8 -*-
"""A real HAProxy 2.6 in master-worker mode in a temp dir, real loopback HTTP backends, and a way to run the
modules through real `ansible-playbook`. Used by the runtime client, module and reload tests.

HAProxy is started by the production function `haproxy/process.py:start_master_worker` and stopped by pid.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import MasterWorker, start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ReloadOptions
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient, RuntimeClient
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's naming
        backend = self.server.backend
        if self.path.startswith("/hold"):
            backend.holding.add(threading.get_ident())
            backend.held.set()
            backend.release.wait(60)
            backend.holding.discard(threading.get_ident())
        status = 503 if self.path == "/health" and not backend.healthy else 200
        body = json.dumps({"id": backend.name, "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend-Id", backend.name)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # resets from HAProxy closing idle connections are normal


@dataclass
class LoopbackBackend:
    """A real HTTP server on 127.0.0.1 in a thread. `GET /hold` keeps its session open until `release` is set."""

    name: str
    port: int = 0
    healthy: bool = True
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    holding: set = field(default_factory=set)
    _server: _Server | None = None

    def start(self) -> "LoopbackBackend":
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.backend = self
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class Load(threading.Thread):
    """New visitors, one request after another: which backend answered each (None when HAProxy answered itself)."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port = port
        self.answers: list = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                self.answers.append(response.headers.get("X-Backend-Id"))
            except OSError as exc:
                self.answers.append(exc)
            finally:
                connection.close()

    def stop(self):
        self.done.set()
        self.join(10)


def render_config(directory: Path, frontend_port: int, servers: dict, extra: str = "", weight: int = 10) -> str:
    """A small production-like haproxy.cfg: admin socket, server-state-file, default-path config, a weight map."""
    lines = "\n".join(
        f"    server {name} 127.0.0.1:{port} weight {weight} check inter 300ms fall 2 rise 1" for name, port in servers.items()
    )
    return f"""global
    stats socket {directory}/admin.sock mode 600 level admin
    server-state-file {directory}/server-state
    default-path config
    hard-stop-after 30s

defaults
    mode http
    timeout client 30s
    timeout server 30s
    timeout connect 2s
    retries 2
    option redispatch
    option idle-close-on-response
    load-server-state-from-file global

frontend fe
    bind 127.0.0.1:{frontend_port}
    http-request set-header X-Route %[str(web),map(maps/routes.map,none)]
    default_backend be

backend be
    balance roundrobin
    option httpchk GET /health
{lines}
{extra}"""


@dataclass
class HaproxyEnv:
    """A running HAProxy with its directory, sockets, frontend port and backends."""

    directory: Path
    port: int
    backends: dict
    worker: MasterWorker | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "haproxy.cfg"

    @property
    def admin_socket(self) -> str:
        return str(self.directory / "admin.sock")

    @property
    def master_socket(self) -> str:
        return str(self.directory / "master.sock")

    def servers(self) -> dict:
        return {name: backend.port for name, backend in self.backends.items()}

    def config(self, extra: str = "", weight: int = 10) -> str:
        return render_config(self.directory, self.port, self.servers(), extra, weight)

    def runtime(self) -> RuntimeClient:
        return RuntimeClient(self.admin_socket, 5.0)

    def master(self) -> MasterClient:
        return MasterClient(self.master_socket, 5.0)

    def options(self, **overrides) -> ReloadOptions:
        values = {"master_socket": self.master_socket, "admin_socket": self.admin_socket, "reload_timeout": 20.0}
        values.update(overrides)
        return ReloadOptions(**values)

    def get(self, path: str = "/") -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status, response.headers.get("X-Backend-Id", "")
        finally:
            connection.close()

    def serving(self) -> bool:
        try:
            return self.get()[0] == 200
        except OSError:
            return False


def start_env(directory: Path, backend_names=("s1", "s2"), maps: dict | None = None, extra: str = "") -> HaproxyEnv:
    """Start the backends and HAProxy; wait until HAProxy serves a request and every backend is UP."""
    backends = {name: LoopbackBackend(name).start() for name in backend_names}
    env = HaproxyEnv(directory, free_port(), backends)
    try:
        for rel, text in (maps if maps is not None else {"maps/routes.map": "web blue\n"}).items():
            target = directory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        env.config_path.write_text(env.config(extra))
        env.worker = start_master_worker(str(env.config_path), env.master_socket)
        wait_for(lambda: all(s.operational == "UP" for s in env.runtime().show_servers_state("be")), 10, message="backends UP")
        wait_for(env.serving, 10, message="haproxy serving")
    except BaseException:
        stop_env(env)
        raise
    return env


def stop_env(env: HaproxyEnv) -> None:
    if env.worker is not None:
        stop_master_worker(env.worker.pid)
        env.worker = None
    for backend in env.backends.values():
        backend.stop()


def run_playbook(tasks: list, check: bool = False, diff: bool = False, timeout: float = 300) -> list:
    """Run `tasks` on localhost through the real ansible-playbook; the per-task results of localhost, in order."""
    play = [{"name": "drover test", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    with tempfile.TemporaryDirectory(prefix="drover-playbook-") as tmp:
        playbook = Path(tmp) / "play.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOCAL_TEMP=str(Path(tmp) / "local"),
            ANSIBLE_REMOTE_TEMP=str(Path(tmp) / "remote"),
            ANSIBLE_NOCOLOR="1",
        )
        command = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   "-e", f"ansible_python_interpreter={VENV_BIN / 'python'}", str(playbook)]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        proc = subprocess.run(command, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"ansible-playbook did not print JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc
    return [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]
