# -*- coding: utf-8 -*-
"""VAMP's sava canary (examples/sava-canary.yml) rendered by the real renderer and run by a real HAProxy on loopback,
in front of real echo servers: 1.0.0 on slots 1 and 2 (`v1a`, `v1b`), 1.1.0 on slot 1 (`v11`).

    with start_http_backends(SAVA_SERVERS) as backends:
        with running_sava(tmp_path, backends) as sava:      # sava.port, sava.admin_socket, sava.backend(V11) ...
            ...

The example's health check interval (3 s) is shortened so that a stopped server is DOWN within about a second.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderedConfig, RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient, RuntimeClient
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.tests.support.haproxy_harness import Backends, Haproxy, start_haproxy
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for

SAVA_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sava-canary.yml"
V1, V11 = "sava/sava/sava:1.0.0", "sava/sava/sava:1.1.0"
SAVA_SERVERS = ["v1a", "v1b", "v11"]


def sava_blueprint(directory: Path, port: int, check_interval: str = "200ms") -> Path:
    """The example with its gateway on `port` and a faster health check, written to `directory`."""
    text = SAVA_EXAMPLE.read_text(encoding="utf-8").replace("9050/http", f"{port}/http").replace("interval: 3s", f"interval: {check_interval}")
    path = directory / "sava-canary.yml"
    path.write_text(text, encoding="utf-8")
    return path


def sava_instances(ports: dict, address: str = "127.0.0.1") -> dict:
    return {V1: [Instance(1, address, ports["v1a"]), Instance(2, address, ports["v1b"])], V11: [Instance(1, address, ports["v11"])]}


def render_sava(directory: Path, port: int, ports: dict, options: RenderOptions) -> RenderedConfig:
    return render(load_paths([str(sava_blueprint(directory, port))]), options, sava_instances(ports))


@dataclass
class RunningSava:
    proxy: Haproxy
    rendered: RenderedConfig
    port: int
    backends: Backends

    @property
    def admin_socket(self) -> str:
        return self.proxy.admin_socket

    @property
    def master_socket(self) -> str:
        return self.proxy.master_socket

    @property
    def config_path(self) -> str:
        return str(self.proxy.directory / "haproxy.cfg")

    def backend(self, target: str) -> str:
        """The generated backend name of a route target (`V1`, `V11`)."""
        return next(b.name for b in self.rendered.backends if b.target == target)

    def runtime(self) -> RuntimeClient:
        return RuntimeClient(self.admin_socket)

    def wait_operational(self, target: str, slot: str, wanted: str, timeout: float = 10.0) -> None:
        """Wait until HAProxy's health checks put the server in `wanted` (UP or DOWN)."""
        wait_for(lambda: self.runtime().server(self.backend(target), slot).operational == wanted, timeout,
                 message=f"{target} {slot} {wanted}")


def _master_lists_a_worker(master_socket: str) -> bool:
    try:
        return bool(MasterClient(master_socket, 2.0).show_proc().workers)
    except DroverError:
        return False


@contextlib.contextmanager
def running_sava(directory: Path, backends: Backends):
    """The sava canary served by a real HAProxy (master-worker) from `directory`, every used slot UP and the master
    CLI answering."""
    port = free_port()
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(directory / "admin.sock"),
                            server_state_file=str(directory / "server-state"), log_target=None)
    rendered = render_sava(directory, port, backends.ports, options)
    with start_haproxy(rendered.files, directory, options.admin_socket, [port]) as proxy:
        sava = RunningSava(proxy, rendered, port, backends)
        wait_for(lambda: _master_lists_a_worker(sava.master_socket), 10, message="the master CLI lists a worker")
        for target, slot in ((V1, "slot1"), (V1, "slot2"), (V11, "slot1")):
            sava.wait_operational(target, slot, "UP")
        yield sava
