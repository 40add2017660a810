# -*- coding: utf-8 -*-
"""A load balancer shared by two teams' blueprints (haproxy/parts.py, reload.apply_parts) on a real HAProxy 2.6 in
master-worker mode, under real HTTP load: each deploy writes, reloads or changes at runtime only its own part; the
other blueprint's runtime weights and a drain in progress survive; a port clash is refused before anything changes;
a configuration written as one file is taken over without a failed request."""

from __future__ import annotations

import contextlib
import http.client
import threading
from pathlib import Path

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.haproxy import parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import PartConflictError, ReloadOptions, apply_parts, check_parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render, render_parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient, RuntimeClient
from ansible_collections.drover.fleet.tests.support.haproxy_harness import start_haproxy, start_http_backends
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for
from ansible_collections.drover.fleet.tests.support.sava_haproxy import SAVA_EXAMPLE, _master_lists_a_worker

pytestmark = pytest.mark.haproxy

SERVERS = ["a1", "a2", "a3", "b1", "b2", "b3"]


def blueprint(directory: Path, name: str, port: int, weights=(90, 10)) -> Path:
    """VAMP's sava canary as blueprint `name` on `port`, with a fast health check and the given weights."""
    text = SAVA_EXAMPLE.read_text(encoding="utf-8").replace("name: sava\n", f"name: {name}\n").replace("9050/http", f"{port}/http")
    text = text.replace("interval: 3s", "interval: 200ms").replace("weight: 90%", f"weight: {weights[0]}%")
    text = text.replace("weight: 10%", f"weight: {weights[1]}%")
    path = directory / f"{name}-{port}-{weights[0]}.yml"
    path.write_text(text, encoding="utf-8")
    return path


def instances(name: str, ports: dict, prefix: str, count: int = 2) -> dict:
    old = [Instance(slot, "127.0.0.1", ports[f"{prefix}{slot}"]) for slot in range(1, count + 1)]
    return {f"{name}/sava/sava:1.0.0": old, f"{name}/sava/sava:1.1.0": [Instance(1, "127.0.0.1", ports[f"{prefix}3"])]}


class Team:
    """One team's blueprint: its files, instances and port."""

    def __init__(self, lab: "SharedLb", name: str, prefix: str):
        self.lab, self.name, self.prefix, self.port = lab, name, prefix, free_port()
        self.weights = (90, 10)
        self.count = 2

    @property
    def part(self) -> str:
        return f"blueprint-{self.name}"

    def rendered(self):
        artifacts = load_paths([str(blueprint(self.lab.directory, self.name, self.port, self.weights))])
        return render_parts(artifacts, self.lab.render_options, instances(self.name, self.lab.backends.ports, self.prefix, self.count))

    def deploy(self, check_mode: bool = False):
        rendered = self.rendered()
        return apply_parts(self.lab.config_path, rendered.head, rendered.parts, rendered.maps, self.lab.reload_options(check_mode))

    def undeploy(self):
        rendered = self.rendered()
        return apply_parts(self.lab.config_path, rendered.head, {self.part: None}, {}, self.lab.reload_options())

    def part_file(self) -> Path:
        return Path(parts.part_path(self.lab.config_path, self.part))


class SharedLb:
    def __init__(self, directory: Path, backends):
        self.directory, self.backends = directory, backends
        self.render_options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(directory / "admin.sock"),
                                            server_state_file=str(directory / "server-state"), log_target=None)
        self.config_path = str(directory / "haproxy.cfg")
        self.proxy = None

    def reload_options(self, check_mode: bool = False) -> ReloadOptions:
        return ReloadOptions(master_socket=self.proxy.master_socket, admin_socket=self.proxy.admin_socket,
                             server_state_file=self.render_options.server_state_file, reload_timeout=20.0, check_mode=check_mode)

    def runtime(self) -> RuntimeClient:
        return RuntimeClient(self.proxy.admin_socket)

    def reloads(self) -> int:
        return MasterClient(self.proxy.master_socket, 5.0).show_proc().reloads


@contextlib.contextmanager
def shared_lb(tmp_path: Path, first_files: dict):
    """A real HAProxy started from `first_files` ({path: text}); yields the SharedLb."""
    with start_http_backends(SERVERS) as backends:
        lab = SharedLb(tmp_path, backends)
        with start_haproxy(first_files(lab), tmp_path, lab.render_options.admin_socket) as proxy:
            lab.proxy = proxy
            wait_for(lambda: _master_lists_a_worker(proxy.master_socket), 10, message="the master CLI lists a worker")
            yield lab


class Load(threading.Thread):
    """Keep-alive-less requests to one port, one after another; counts answers by backend and every failure."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.ok, self.failures = port, 0, []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    self.ok += 1
                else:
                    self.failures.append(response.status)
            except OSError as exc:
                self.failures.append(repr(exc))
            finally:
                connection.close()

    def __enter__(self):
        self.start()
        wait_for(lambda: self.ok >= 20, 10, message=f"load on port {self.port} served")
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join(10)


def files_of_first_deploy(team_name: str, prefix: str):
    def files(lab: SharedLb) -> dict:
        team = Team(lab, team_name, prefix)
        lab.first = team
        rendered = team.rendered()
        out = {"haproxy.cfg": parts.assemble(rendered.head, rendered.parts)}
        for part_maps in rendered.maps.values():
            out.update(part_maps)
        return out
    return files


def test_two_blueprints_change_only_their_own_part_under_load(tmp_path):
    with shared_lb(tmp_path, files_of_first_deploy("sava", "a")) as lab:
        first = lab.first
        first.deploy()    # writes the part files of what already runs: no reload
        team2 = Team(lab, "team2", "b")
        first_part = first.part_file().read_bytes()
        with Load(first.port) as load:
            before = lab.reloads()
            result = team2.deploy()
            assert result.reloaded and lab.reloads() == before + 1
            wait_for(lambda: _status(team2.port) == 200, 10, message="team2 serves")
            # the first blueprint's weights change at runtime: a map, no reload
            first.weights = (50, 50)
            result = first.deploy()
            assert not result.reloaded and result.runtime_map_updates
            first_part = first.part_file().read_bytes()
            first_map = {rel: (tmp_path / rel).read_text() for rel in parts.map_files_of(first_part.decode())}
            # a drain in progress on the first blueprint
            backend = next(line.split()[1] for line in first_part.decode().splitlines() if line.startswith("backend bk_sava_sava_sava:1.0.0"))
            lab.runtime().set_state(backend, "slot2", "drain")
            # team2 scales in: its topology changes, HAProxy reloads
            team2.count = 1
            result = team2.deploy()
            assert result.config_changed
            team2.weights = (70, 30)
            team2.deploy()
            team2.undeploy()
            assert _status(team2.port) is None
        assert load.failures == [] and load.ok > 100
        assert first.part_file().read_bytes() == first_part
        assert {rel: (tmp_path / rel).read_text() for rel in first_map} == first_map
        assert lab.runtime().server(backend, "slot2").state == "drain"
        assert not team2.part_file().exists()
        assert not any(name.startswith("fe_team2") or "team2" in name for name in _frontends(lab))


def test_a_port_clash_is_refused_before_anything_changes(tmp_path):
    with shared_lb(tmp_path, files_of_first_deploy("sava", "a")) as lab:
        lab.first.deploy()
        clash = Team(lab, "team2", "b")
        clash.port = lab.first.port
        config_before = Path(lab.config_path).read_bytes()
        parts_before = sorted(p.name for p in Path(parts.parts_dir(lab.config_path)).iterdir())
        reloads = lab.reloads()
        rendered = clash.rendered()
        with pytest.raises(PartConflictError, match="already claimed by blueprint 'sava'"):
            check_parts(lab.config_path, rendered.head, rendered.parts)
        with pytest.raises(PartConflictError) as caught:
            clash.deploy()
        assert f"blueprint 'team2': the listener 127.0.0.1:{lab.first.port} is already claimed by blueprint 'sava'" in str(caught.value)
        assert Path(lab.config_path).read_bytes() == config_before
        assert sorted(p.name for p in Path(parts.parts_dir(lab.config_path)).iterdir()) == parts_before
        assert lab.reloads() == reloads


def test_check_mode_shows_only_the_blueprints_own_part(tmp_path):
    with shared_lb(tmp_path, files_of_first_deploy("sava", "a")) as lab:
        lab.first.deploy()
        team2 = Team(lab, "team2", "b")
        result = team2.deploy(check_mode=True)
        headers = [diff["after_header"] for diff in result.diff]
        assert result.changed and headers and all("team2" in header or "/maps/" in header for header in headers)
        assert not team2.part_file().exists()
        assert all("fe_sava" not in diff["after"] for diff in result.diff)


def test_a_single_file_configuration_is_taken_over_without_a_failed_request(tmp_path):
    def single_file(lab: SharedLb) -> dict:
        sava, team2 = Team(lab, "sava", "a"), Team(lab, "team2", "b")
        lab.teams = (sava, team2)
        artifacts = load_paths([str(blueprint(tmp_path, "sava", sava.port)), str(blueprint(tmp_path, "team2", team2.port))])
        both = dict(instances("sava", lab.backends.ports, "a"))
        both.update(instances("team2", lab.backends.ports, "b"))
        return render(artifacts, lab.render_options, both).files

    with shared_lb(tmp_path, single_file) as lab:
        sava, team2 = lab.teams
        with Load(sava.port) as first, Load(team2.port) as second:
            sava.weights = (80, 20)
            sava.deploy()
        assert first.failures == [] and second.failures == []
        found = sorted(parts.read_parts(lab.config_path))
        assert found == ["blueprint-sava", "blueprint-team2"]
        assert _status(sava.port) == 200 and _status(team2.port) == 200


def _status(port: int):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def _frontends(lab: SharedLb) -> list:
    return sorted({row["pxname"] for row in lab.runtime().show_stat() if row.get("svname") == "FRONTEND"})


def test_lost_part_files_are_recovered_from_the_running_configuration(tmp_path):
    with shared_lb(tmp_path, files_of_first_deploy("sava", "a")) as lab:
        lab.first.deploy()
        team2 = Team(lab, "team2", "b")
        team2.deploy()
        sava_part = lab.first.part_file().read_text()
        for file in Path(parts.parts_dir(lab.config_path)).iterdir():
            file.unlink()
        team2.weights = (60, 40)
        team2.deploy()
        assert lab.first.part_file().read_text() == sava_part
        assert _status(lab.first.port) == 200 and _status(team2.port) == 200
