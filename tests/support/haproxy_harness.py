# -*- coding: utf-8 -*-
"""Real HAProxy and real HTTP backends on loopback, for integration tests. Every process is started here and
stopped by its own pid; nothing is found or killed by name.

    with start_http_backends(["a", "b"]) as backends:        # ids -> ports
        with start_haproxy(files, tmp_path) as proxy:         # rendered files written to tmp_path, master-worker
            counts = send_requests(port, 5000)               # Counter of backend ids
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

from ansible_collections.drover.fleet.tests.support.helpers import free_port, port_is_open, wait_for

HAPROXY = os.environ.get("DROVER_HAPROXY", "haproxy")
ECHO_SERVER = Path(__file__).with_name("http_echo_server.py")


def _stop(process: subprocess.Popen, timeout: float = 5.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@dataclass
class Backends:
    """Running echo servers: `ports[id]`, and their processes."""

    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def stop(self, server_id: str) -> None:
        _stop(self.processes[server_id])


@contextlib.contextmanager
def start_http_backends(ids, timeout: float = 10.0):
    """Start one echo server process per id (an int n gives ids "b1".."bn"), each on a free loopback port."""
    ids = [f"b{i}" for i in range(1, ids + 1)] if isinstance(ids, int) else list(ids)
    backends = Backends()
    try:
        for server_id in ids:
            port = free_port()
            backends.processes[server_id] = subprocess.Popen(
                [sys.executable, str(ECHO_SERVER), str(port), server_id], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            backends.ports[server_id] = port
        for server_id, port in backends.ports.items():
            wait_for(lambda p=port: port_is_open(p), timeout, message=f"echo server {server_id} on port {port}")
        yield backends
    finally:
        for process in backends.processes.values():
            _stop(process)


@dataclass
class Haproxy:
    directory: Path
    process: subprocess.Popen
    admin_socket: str
    master_socket: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return (self.directory / "haproxy.log").read_text(errors="replace")


def write_files(files: dict[str, str], directory: Path) -> Path:
    """Write rendered files ("haproxy.cfg", "maps/x.map") under `directory`; returns the haproxy.cfg path."""
    for name, text in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return directory / "haproxy.cfg"


def haproxy_check(directory: Path) -> subprocess.CompletedProcess:
    """The real `haproxy -c` on directory/haproxy.cfg."""
    return subprocess.run([HAPROXY, "-c", "-f", str(directory / "haproxy.cfg")], capture_output=True, text=True, timeout=60, check=False)


@contextlib.contextmanager
def start_haproxy(files: dict[str, str], directory: Path, admin_socket: str, ports: list[int] = (), timeout: float = 10.0,
                  cwd: Path | None = None):
    """Write `files` to `directory` and run HAProxy there in master-worker mode (as in production) until the admin
    socket and every port in `ports` accept connections; `cwd`: another working directory to start it from. Stops the
    master (and so its workers) by pid."""
    cfg = write_files(files, directory)
    master_socket = str(directory / "master.sock")
    log = open(directory / "haproxy.log", "w")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen([HAPROXY, "-W", "-S", f"{master_socket},mode,600", "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                               cwd=str(cwd or directory))
    proxy = Haproxy(directory, process, admin_socket, master_socket)
    try:
        def ready():
            if process.poll() is not None:
                raise RuntimeError(f"haproxy exited with {process.returncode}: {proxy.log()}")
            return os.path.exists(admin_socket) and all(port_is_open(p) for p in ports)
        wait_for(ready, timeout, message="haproxy listening")
        yield proxy
    finally:
        _stop(process)
        log.close()


@dataclass
class Reply:
    status: int
    backend: str | None
    path: str | None
    cookies: dict[str, str]
    body: dict


class Client:
    """One HTTP client on one keep-alive connection, with its own cookie jar (like a browser)."""

    def __init__(self, port: int, headers: dict | None = None, host: str = "127.0.0.1"):
        self.port = port
        self.host = host
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection(host, port, timeout=10)

    def get(self, path: str = "/", headers: dict | None = None) -> Reply:
        send = dict(self.headers)
        send.update(headers or {})
        if self.cookies:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in sorted(self.cookies.items()))
        for attempt in (1, 2):
            try:
                self.connection.request("GET", path, headers=send)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # HAProxy closed the idle keep-alive connection between two requests: reconnect once
                self.connection.close()
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                self.cookies[name] = morsel.value
        try:
            body = json.loads(data) if data else {}
        except ValueError:
            body = {}
        return Reply(response.status, response.headers.get("X-Backend-Id"), body.get("path"), dict(self.cookies), body)

    def close(self) -> None:
        self.connection.close()


def send_requests(port: int, count: int, headers: dict | None = None, workers: int = 8, path: str = "/") -> Counter:
    """`count` requests without cookies over `workers` keep-alive connections in parallel; a Counter of backend ids
    (None for a reply without one, e.g. HAProxy's own 503)."""
    per_worker = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]
    lock = threading.Lock()
    total = Counter()

    def run(n: int) -> None:
        client = Client(port, headers)
        local = Counter()
        try:
            for _n in range(n):
                client.cookies.clear()
                local[client.get(path).backend] += 1
        finally:
            client.close()
        with lock:
            total.update(local)

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run, n) for n in per_worker if n]:
            future.result()
    return total
