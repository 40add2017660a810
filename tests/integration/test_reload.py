# -*- coding: utf-8 -*-
"""The safe reload machinery (haproxy_reload.apply_config) against a real HAProxy 2.6 in master-worker mode:
validation, no-op runs, map-only runtime updates, server-state survival, automatic rollback, debounce, the lock,
and zero failed requests under real HTTP load during reloads."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import (
    ConfigInvalidError,
    ConfigLock,
    LockTimeoutError,
    PreflightError,
    ReloadFailedError,
    ReloadOptions,
    apply_config,
    load_state,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient, RuntimeClient
from ansible_collections.drover.fleet.tests.support.haproxy_instance import start_env, stop_env
from ansible_collections.drover.fleet.tests.support.helpers import wait_for

pytestmark = pytest.mark.haproxy

ROUTES = "maps/routes.map"


def extra_backend(name: str, port: int) -> str:
    return f"\nbackend {name}\n    server x 127.0.0.1:{port}\n"


def snapshot(env):
    """What a no-op must leave untouched: the file's bytes and mtime, and the master's reload count."""
    stat = env.config_path.stat()
    return env.config_path.read_bytes(), stat.st_mtime_ns, env.master().show_proc().reloads


def test_unchanged_config_and_maps_write_nothing_and_do_not_reload(env):
    before = snapshot(env)
    result = apply_config(str(env.config_path), env.config(), {ROUTES: "web blue\n"}, env.options())
    assert not result.changed and not result.reloaded and result.diff == [] and result.runtime_map_updates == []
    assert snapshot(env) == before


def test_config_change_reloads_once_and_the_new_worker_serves(env):
    master = env.master()
    before = master.show_proc()
    new_text = env.config(extra_backend("extra", env.backends["s1"].port))
    result = apply_config(str(env.config_path), new_text, {ROUTES: "web blue\n"}, env.options(backup=True))
    assert result.changed and result.config_changed and result.reloaded and result.reload_method == "master_cli"
    after = master.show_proc()
    assert after.reloads == before.reloads + 1 and after.failed_reloads == 0
    assert result.new_worker_pids and set(result.new_worker_pids) <= set(after.worker_pids)
    assert int(env.runtime().show_info()["Pid"]) in result.new_worker_pids
    assert any(row["pxname"] == "extra" for row in env.runtime().show_stat())
    assert env.config_path.read_text() == new_text
    assert open(result.backup_file, encoding="utf-8").read() == env.config()
    assert result.diff[0]["before"] == env.config() and result.diff[0]["after"] == new_text
    assert env.serving()


def test_check_mode_reports_and_touches_nothing(env):
    before = snapshot(env)
    maps_before = (env.directory / ROUTES).read_text()
    new_text = env.config(extra_backend("extra", 1))
    result = apply_config(str(env.config_path), new_text, {ROUTES: "web red\n"}, env.options(check_mode=True))
    assert result.changed and result.config_changed and result.reloaded and result.maps_changed == [ROUTES]
    assert [d["after"] for d in result.diff] == [new_text, "web red\n"]
    assert snapshot(env) == before
    assert (env.directory / ROUTES).read_text() == maps_before
    assert dict(env.runtime().show_map(env.runtime().show_maps()[0].ref)) == {"web": "blue"}


def test_invalid_config_never_reaches_the_live_path(env):
    before = snapshot(env)
    broken = env.config("\nbackend broken\n    server x 127.0.0.1:1 no-such-keyword\n")
    with pytest.raises(ConfigInvalidError) as info:
        apply_config(str(env.config_path), broken, {ROUTES: "web blue\n"}, env.options())
    assert "no-such-keyword" in str(info.value) and str(env.config_path) in str(info.value)
    assert snapshot(env) == before
    assert env.serving()


def test_invalid_map_is_caught_by_haproxy_c_and_nothing_is_written(tmp_path):
    environment = start_env(tmp_path, maps={"maps/routes.map": "web blue\n", "maps/ports.map": "1 10\n"},
                            extra="\nbackend ints\n    http-request set-var(txn.p) int(1),map_int(maps/ports.map,0)\n")
    try:
        config = environment.config_path.read_text()
        with pytest.raises(ConfigInvalidError, match="not a number"):
            apply_config(str(environment.config_path), config, {"maps/ports.map": "abc 10\n"}, environment.options())
        assert (tmp_path / "maps/ports.map").read_text() == "1 10\n"
    finally:
        stop_env(environment)


def test_map_only_change_updates_the_running_maps_without_reload(env):
    runtime = env.runtime()
    reloads = env.master().show_proc().reloads
    mtime = env.config_path.stat().st_mtime_ns
    result = apply_config(str(env.config_path), env.config(), {ROUTES: "web green\nmobile red\n"}, env.options())
    assert result.changed and not result.config_changed and not result.reloaded
    assert result.maps_changed == [ROUTES]
    assert [(u["map"], u["entries"]) for u in result.runtime_map_updates] == [(ROUTES, 2)]
    ref = result.runtime_map_updates[0]["id"]
    assert runtime.show_map(ref) == [("web", "green"), ("mobile", "red")]
    assert (env.directory / ROUTES).read_text() == "web green\nmobile red\n"
    assert env.master().show_proc().reloads == reloads and env.config_path.stat().st_mtime_ns == mtime

    # The file already matches but the running map drifted: only the runtime is fixed.
    runtime.replace_map(ref, [("web", "drifted"), ("mobile", "red")])
    drift = apply_config(str(env.config_path), env.config(), {ROUTES: "web green\nmobile red\n"}, env.options())
    assert drift.changed and drift.maps_changed == [] and len(drift.runtime_map_updates) == 1
    assert dict(runtime.show_map(ref))["web"] == "green"
    assert not apply_config(str(env.config_path), env.config(), {ROUTES: "web green\nmobile red\n"}, env.options()).changed


def test_runtime_state_survives_a_reload(env):
    runtime = env.runtime()
    runtime.set_weight("be", "s1", 3)
    runtime.set_state("be", "s1", "drain")
    runtime.set_state("be", "s2", "maint")
    runtime.set_addr("be", "s2", "127.0.0.1", env.backends["s1"].port)  # a slot pointed elsewhere at runtime
    old_pid = int(runtime.show_info()["Pid"])
    result = apply_config(str(env.config_path), env.config(extra_backend("extra", 1)), None, env.options())
    assert result.reloaded and result.server_state_file == str(env.directory / "server-state")
    assert result.servers_from_config == []
    assert int(runtime.show_info()["Pid"]) != old_pid
    s1, s2 = runtime.server("be", "s1"), runtime.server("be", "s2")
    assert (s1.weight, s1.state) == (3, "drain")
    assert (s2.state, s2.port) == ("maint", env.backends["s1"].port)


def test_moving_the_admin_socket_is_verified_through_the_master_cli(env):
    """The admin socket the options name disappears with the new config: the new worker is checked through
    `@!<pid>` on the master CLI instead, and a good reload is not mistaken for a failed one."""
    moved = env.config().replace(f"{env.directory}/admin.sock", f"{env.directory}/admin2.sock")
    result = apply_config(str(env.config_path), moved, None, env.options(reload_timeout=10))
    assert result.reloaded and env.config_path.read_text() == moved
    assert int(RuntimeClient(str(env.directory / "admin2.sock")).show_info()["Pid"]) in result.new_worker_pids


def test_preflight_refuses_a_listener_that_cannot_bind_before_anything_changes(env):
    before = snapshot(env)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        candidate = env.config(f"\nfrontend clash\n    bind 127.0.0.1:{taken}\n    default_backend be\n"
                               "\nfrontend elsewhere\n    bind 192.0.2.10:8080\n    default_backend be\n")
        with pytest.raises(PreflightError) as info:
            apply_config(str(env.config_path), candidate, None, env.options())
        with pytest.raises(PreflightError):
            apply_config(str(env.config_path), candidate, None, env.options(check_mode=True))
    assert f"bind 127.0.0.1:{taken} is already in use" in str(info.value)
    assert "bind 192.0.2.10:8080 is not an address of this host" in str(info.value)
    assert snapshot(env) == before and env.serving()


def test_failed_reload_is_rolled_back_and_the_old_config_keeps_serving(env):
    good = env.config_path.read_text()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    candidate = env.config(f"\nfrontend clash\n    bind 127.0.0.1:{taken}\n    default_backend be\n")
    try:
        with pytest.raises(ReloadFailedError) as info:
            apply_config(str(env.config_path), candidate, None, env.options(preflight=False))
    finally:
        blocker.close()
    error = info.value
    assert error.rolled_back and error.rollback_ok
    assert "Address already in use" in error.haproxy_message and str(taken) in error.haproxy_message
    assert "failed-reload counter grew" in str(error) and "rolled back" in str(error)
    assert env.config_path.read_text() == good
    assert env.serving()
    table = env.master().show_proc()
    assert len(table.workers) == 1 and int(env.runtime().show_info()["Pid"]) in table.worker_pids
    state = load_state(str(env.directory / ".drover"))
    assert not state.pending and state.last_reload["ok"] is False and state.snapshot == {}
    # The next good change works normally.
    assert apply_config(str(env.config_path), env.config(extra_backend("extra", 1)), None, env.options()).reloaded


def test_a_burst_of_changes_gives_one_reload(env):
    master = env.master()
    reloads = master.show_proc().reloads
    candidates = [env.config(extra_backend(f"burst{i}", 1)) for i in range(4)]
    barrier = threading.Barrier(len(candidates))
    results, errors = [], []

    def run(text):
        barrier.wait()
        try:
            results.append(apply_config(str(env.config_path), text, None, env.options(debounce=1.0, debounce_max=10.0)))
        except DroverError as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(text,)) for text in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(results) == 4 and all(r.changed and r.reloaded for r in results)
    assert sum(not r.coalesced for r in results) == 1
    assert master.show_proc().reloads == reloads + 1
    live = env.config_path.read_text()
    assert live in candidates
    name = next(f"burst{i}" for i, text in enumerate(candidates) if text == live)
    assert any(row["pxname"] == name for row in env.runtime().show_stat())


def test_the_lock_blocks_a_second_run(env):
    before = snapshot(env)
    with ConfigLock(str(env.directory / ".drover"), timeout=1):
        with pytest.raises(LockTimeoutError, match=f"pid {os.getpid()}"):
            apply_config(str(env.config_path), env.config(extra_backend("x", 1)), None, env.options(lock_timeout=0.3))
    assert snapshot(env) == before
    assert apply_config(str(env.config_path), env.config(extra_backend("x", 1)), None, env.options(lock_timeout=5)).reloaded


RUNNER = """
import json, sys
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ReloadOptions, apply_config
args = json.loads(sys.argv[1])
result = apply_config(args["path"], args["text"], args["maps"], ReloadOptions(**args["options"]))
print(json.dumps({"changed": result.changed, "reloaded": result.reloaded, "coalesced": result.coalesced}))
"""


def test_concurrent_processes_never_interleave(env):
    """Six processes each write a haproxy.cfg and a map that carry the same tag. With the lock the pair on disk
    always comes from one run, and no generation is lost to a read-modify-write race."""
    state_dir = str(env.directory / ".drover")
    start_generation = load_state(state_dir).generation
    reloads = env.master().show_proc().reloads
    processes = []
    for i in range(6):
        args = {
            "path": str(env.config_path),
            "text": env.config(f"\n# tag {i}\n" + extra_backend(f"run{i}", 1)),
            "maps": {ROUTES: f"web tag{i}\n"},
            "options": {"master_socket": env.master_socket, "admin_socket": env.admin_socket, "debounce": 0.05},
        }
        processes.append(subprocess.Popen([sys.executable, "-c", RUNNER, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, [err for _out, err in outputs]
    results = [json.loads(out) for out, _err in outputs]
    assert all(r["changed"] and r["reloaded"] for r in results)
    tag = env.config_path.read_text().split("# tag ")[1].split()[0]
    assert (env.directory / ROUTES).read_text() == f"web tag{tag}\n"
    state = load_state(state_dir)
    assert state.generation == start_generation + 6 and not state.pending
    reloads_done = env.master().show_proc().reloads - reloads
    assert 1 <= reloads_done <= 6 and reloads_done == sum(not r["coalesced"] for r in results)
    assert any(row["pxname"] == f"run{tag}" for row in env.runtime().show_stat())
    assert dict(env.runtime().show_map(env.runtime().show_maps()[0].ref)) == {"web": f"tag{tag}"}


def test_nothing_running_writes_files_and_warns(tmp_path):
    config = tmp_path / "haproxy.cfg"
    text = (f"global\n    stats socket {tmp_path}/admin.sock level admin\n"
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n")
    options = {"master_socket": str(tmp_path / "master.sock"), "admin_socket": str(tmp_path / "admin.sock")}
    result = apply_config(str(config), text, None, ReloadOptions(**options))
    assert result.changed and not result.reloaded and any("not running" in w for w in result.warnings)
    assert config.read_text() == text
    assert not load_state(str(tmp_path / ".drover")).pending
    # Started afterwards, HAProxy runs the written file; a second apply has nothing to do.
    worker = start_master_worker(str(config), options["master_socket"])
    try:
        assert not apply_config(str(config), text, None, ReloadOptions(**options)).changed
    finally:
        assert stop_master_worker(worker.pid)
        worker.process.wait(5)


def test_start_master_worker_reports_haproxy_startup_errors(tmp_path):
    config = tmp_path / "haproxy.cfg"
    config.write_text("global\n    no-such-directive\n")
    with pytest.raises(DroverError, match="no-such-directive"):
        start_master_worker(str(config), str(tmp_path / "master.sock"))


def _load(env, stop: threading.Event, counts: dict, lock: threading.Lock, keep_alive: bool) -> None:
    connection = None
    while not stop.is_set():
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            key = "ok" if response.status == 200 else f"status {response.status}"
            if not keep_alive or response.will_close:
                connection.close()
                connection = None
        except (OSError, http.client.HTTPException) as exc:
            key = f"error {type(exc).__name__}"
            if connection is not None:
                connection.close()
            connection = None
        with lock:
            counts[key] = counts.get(key, 0) + 1
    if connection is not None:
        connection.close()


def test_reloads_under_continuous_http_load_fail_no_request(env):
    stop, lock, counts = threading.Event(), threading.Lock(), {}
    clients = [threading.Thread(target=_load, args=(env, stop, counts, lock, i % 2 == 0)) for i in range(4)]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: counts.get("ok", 0) > 200, 20, message="load running")
        for i in range(3):
            seen = counts.get("ok", 0)
            result = apply_config(str(env.config_path), env.config(extra_backend(f"load{i}", 1)), None, env.options())
            assert result.reloaded
            wait_for(lambda s=seen: counts.get("ok", 0) > s + 200, 20, message="traffic after reload")
    finally:
        stop.set()
        for client in clients:
            client.join(30)
    assert set(counts) == {"ok"}, counts
    assert counts["ok"] > 800


def test_a_failed_reload_under_load_is_rolled_back_without_a_failed_request(env):
    """A config that passes `haproxy -c` and the pre-flight checks but cannot start (its stats socket directory does
    not exist) fails in the master before any worker is touched: rolled back, and no client notices."""
    good = env.config_path.read_text()
    broken = good.replace("    server-state-file", f"    stats socket {env.directory}/missing-dir/x.sock level admin\n    server-state-file")
    stop, lock, counts = threading.Event(), threading.Lock(), {}
    clients = [threading.Thread(target=_load, args=(env, stop, counts, lock, i % 2 == 0)) for i in range(4)]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: counts.get("ok", 0) > 200, 20, message="load running")
        with pytest.raises(ReloadFailedError) as info:
            apply_config(str(env.config_path), broken, None, env.options())
        seen = counts.get("ok", 0)
        wait_for(lambda: counts.get("ok", 0) > seen + 200, 20, message="traffic after the rollback")
    finally:
        stop.set()
        for client in clients:
            client.join(30)
    assert info.value.rolled_back and info.value.rollback_ok and "No such file or directory" in info.value.haproxy_message
    assert env.config_path.read_text() == good
    assert set(counts) == {"ok"}, counts


def test_a_worker_that_dies_after_fork_is_reported_without_waiting_for_the_timeout(env):
    """Without the pre-flight check, a missing chroot kills the new worker after fork, and HAProxy 2.6's default
    exit-on-failure then stops the master too. The failure is reported as such (not as a timeout), HAProxy's words
    are quoted, and the files are put back so that the next start runs the last good configuration."""
    good = env.config_path.read_text()
    jailed = good.replace("    server-state-file", f"    chroot {env.directory}/no-such-jail\n    server-state-file")
    with pytest.raises(ReloadFailedError) as info:
        apply_config(str(env.config_path), jailed, None, env.options(preflight=False, reload_timeout=120))
    error = info.value
    assert "exited" in str(error) and "no new worker appeared" not in str(error)
    assert "Cannot chroot" in error.haproxy_message
    assert error.rolled_back and not error.rollback_ok
    assert env.config_path.read_text() == good
    with pytest.raises(PreflightError, match="no-such-jail does not exist"):
        apply_config(str(env.config_path), jailed, None, env.options())


def test_the_renderers_output_goes_live_weights_and_slots_at_runtime_topology_by_reload(tmp_path):
    """The real renderer's files through apply_config: a weight shift is a map-only runtime change (same worker,
    no reload, traffic follows); an instance inside the slot range is a runtime slot fill (no reload); an instance
    beyond it adds slots and reloads once; a re-run changes nothing."""
    from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions, render  # pylint: disable=import-outside-toplevel
    from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance  # pylint: disable=import-outside-toplevel
    from ansible_collections.drover.fleet.tests.support.haproxy_instance import LoopbackBackend  # pylint: disable=import-outside-toplevel
    from ansible_collections.drover.fleet.tests.support.helpers import free_port  # pylint: disable=import-outside-toplevel
    from ansible_collections.drover.fleet.tests.support.routing_fixtures import sava  # pylint: disable=import-outside-toplevel

    port = free_port()
    backends = {name: LoopbackBackend(name).start() for name in ("v1a", "v1b", "v1c", "v11")}
    instances = {"sava/sava/sava:1.0.0": [Instance(1, "127.0.0.1", backends["v1a"].port)],
                 "sava/sava/sava:1.1.0": [Instance(1, "127.0.0.1", backends["v11"].port)]}
    options = RenderOptions(bind_address="127.0.0.1", admin_socket=str(tmp_path / "admin.sock"),
                            server_state_file=str(tmp_path / "server-state"), log_target=None, dynamic_cookie_key="drover-test-key")
    reload_options = ReloadOptions(master_socket=str(tmp_path / "master.sock"), admin_socket=options.admin_socket)
    config = tmp_path / "haproxy.cfg"
    worker = None
    try:
        first = render(sava(sticky=None, strength=None, weights=(100, 0), port=port), options, instances)
        assert apply_config(str(config), first.config, first.maps, reload_options).warnings  # not running yet: written
        worker = start_master_worker(str(config), reload_options.master_socket)
        runtime = RuntimeClient(options.admin_socket)

        def answered_by():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                return response.headers.get("X-Backend-Id")
            finally:
                connection.close()

        wait_for(lambda: answered_by() == "v1a", 20, message="1.0.0 serving")
        pid = runtime.show_info()["Pid"]
        reloads = MasterClient(reload_options.master_socket).show_proc().reloads

        shifted = render(sava(sticky=None, strength=None, weights=(0, 100), port=port), options, instances)
        assert shifted.config == first.config and shifted.maps != first.maps
        result = apply_config(str(config), shifted.config, shifted.maps, reload_options)
        assert result.changed and not result.reloaded and result.runtime_map_updates
        assert {answered_by() for _request in range(20)} == {"v11"}
        assert runtime.show_info()["Pid"] == pid
        assert not apply_config(str(config), shifted.config, shifted.maps, reload_options).changed

        instances["sava/sava/sava:1.0.0"].append(Instance(2, "127.0.0.1", backends["v1b"].port))
        grown = render(sava(sticky=None, strength=None, weights=(100, 0), port=port, instances=(3, 1)), options, instances)
        assert grown.config != shifted.config  # the renderer writes the instance into a slot of haproxy.cfg
        result = apply_config(str(config), grown.config, grown.maps, reload_options)
        # an instance inside the slot range goes live at runtime: the same worker, no reload
        assert result.changed and not result.reloaded and result.runtime_map_updates
        assert [(u["action"], u["server"], u["port"]) for u in result.runtime_server_updates] == [("fill", "slot2", backends["v1b"].port)]
        assert MasterClient(reload_options.master_socket).show_proc().reloads == reloads and runtime.show_info()["Pid"] == pid
        assert config.read_text() == grown.config
        wait_for(lambda: {answered_by() for _request in range(20)} == {"v1a", "v1b"}, 20, message="both 1.0.0 instances serve")
        assert not apply_config(str(config), grown.config, grown.maps, reload_options).changed

        # an instance beyond the slot range adds slots: a topology change, one reload; the slot filled at runtime is
        # in the file, so it keeps serving after the reload
        instances["sava/sava/sava:1.0.0"].append(Instance(9, "127.0.0.1", backends["v1c"].port))
        bigger = render(sava(sticky=None, strength=None, weights=(100, 0), port=port, instances=(3, 1)), options, instances)
        result = apply_config(str(config), bigger.config, bigger.maps, reload_options)
        assert result.reloaded and MasterClient(reload_options.master_socket).show_proc().reloads == reloads + 1
        # slot2's line is the same in the live file (written by the runtime fill) and the new one: it keeps its state
        assert result.servers_from_config == []
        wait_for(lambda: {answered_by() for _request in range(30)} == {"v1a", "v1b", "v1c"}, 20, message="three 1.0.0 instances serve")
        assert not apply_config(str(config), bigger.config, bigger.maps, reload_options).changed
    finally:
        if worker is not None:
            stop_master_worker(worker.pid)
            worker.process.wait(5)
        for backend in backends.values():
            backend.stop()
