# -*- coding: utf-8 -*-
"""The runtime API client against a real HAProxy 2.6 (master-worker, loopback): every command, its error paths,
atomic map replacement, show proc and reload, and wait_for_drain with a real client holding a real session."""

from __future__ import annotations

import http.client
import socket
import threading

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import (
    DrainTimeoutError,
    MasterClient,
    NoSuchServerError,
    RuntimeApiError,
    RuntimeClient,
    RuntimeConnectionError,
    cli_escape,
    maps_for_file,
    parse_show_proc,
    parse_socket_address,
)
from ansible_collections.drover.fleet.tests.support.haproxy_instance import start_env, stop_env
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for

pytestmark = pytest.mark.haproxy


@pytest.fixture
def env(tmp_path):
    environment = start_env(tmp_path, maps={"maps/routes.map": "web blue\nmobile green\n"})
    try:
        yield environment
    finally:
        stop_env(environment)


# -- pure parsing -------------------------------------------------------------------------------------------------


def test_socket_addresses_are_parsed():
    assert parse_socket_address("/run/haproxy/admin.sock") == (socket.AF_UNIX, "/run/haproxy/admin.sock")
    assert parse_socket_address("unix@/tmp/a.sock") == (socket.AF_UNIX, "/tmp/a.sock")
    assert parse_socket_address("127.0.0.1:9999") == (socket.AF_INET, ("127.0.0.1", 9999))
    assert parse_socket_address("ipv4@127.0.0.1:9999") == (socket.AF_INET, ("127.0.0.1", 9999))
    assert parse_socket_address("ipv6@[::1]:9999") == (socket.AF_INET6, ("::1", 9999))
    with pytest.raises(DroverError, match="not a runtime socket address"):
        parse_socket_address("no-port-here")


def test_cli_words_are_escaped():
    assert cli_escape("a;b c\\d") == "a\\;b\\ c\\\\d"
    with pytest.raises(DroverError, match="line break"):
        cli_escape("two\nlines")


def test_show_proc_parsing_covers_old_workers_and_the_failed_counter():
    text = (
        "#<PID>          <type>          <reloads>       <uptime>        <version>\n"
        "1162            master          5 [failed: 2]   0d00h02m07s     2.6.12\n"
        "# workers\n"
        "1271            worker          0               0d00h00m00s     2.6.12\n"
        "# old workers\n"
        "1233            worker          3               0d00h00m43s     2.6.12\n"
        "# programs\n\n"
    )
    table = parse_show_proc(text)
    assert (table.master.pid, table.reloads, table.failed_reloads) == (1162, 5, 2)
    assert table.worker_pids == [1271]
    assert [(p.pid, p.reloads) for p in table.old_workers] == [(1233, 3)]


# -- against a real HAProxy ---------------------------------------------------------------------------------------


def test_show_info_stat_and_servers_state(env):
    client = env.runtime()
    info = client.show_info()
    assert info["Name"] == "HAProxy" and info["Version"].startswith("2.6")
    assert int(info["Pid"]) in env.master().show_proc().worker_pids

    rows = {(row["pxname"], row["svname"]): row for row in client.show_stat()}
    assert rows[("be", "s1")]["status"] == "UP"
    assert rows[("be", "s1")]["weight"] == 10 and isinstance(rows[("be", "s1")]["scur"], int)
    assert ("fe", "FRONTEND") in rows

    servers = {s.name: s for s in client.show_servers_state("be")}
    assert set(servers) == {"s1", "s2"}
    assert servers["s1"].port == env.backends["s1"].port
    assert (servers["s1"].state, servers["s1"].operational, servers["s1"].health) == ("ready", "UP", "enabled")
    assert client.show_servers_state_text().splitlines()[0] == "1"


def test_server_commands_change_what_show_servers_state_reports(env):
    client = env.runtime()
    client.set_weight("be", "s1", 3)
    client.set_state("be", "s1", "drain")
    client.disable_health("be", "s2")
    new_port = env.backends["s2"].port
    answer = client.set_addr("be", "s1", "127.0.0.2", new_port)
    assert "changed from" in answer
    s1 = client.server("be", "s1")
    assert (s1.weight, s1.initial_weight, s1.state, s1.address, s1.port) == (3, 10, "drain", "127.0.0.2", new_port)
    assert client.server("be", "s2").health == "disabled"
    client.set_state("be", "s1", "maint")
    assert client.server("be", "s1").state == "maint"
    client.set_state("be", "s1", "ready")
    client.enable_health("be", "s2")
    assert client.server("be", "s1").state == "ready"
    assert client.server("be", "s2").health == "enabled"


def test_haproxy_errors_become_clear_exceptions(env):
    client = env.runtime()
    with pytest.raises(NoSuchServerError, match="No such server"):
        client.set_weight("be", "nope", 5)
    with pytest.raises(NoSuchServerError, match="No such backend"):
        client.set_state("nobe", "s1", "drain")
    with pytest.raises(NoSuchServerError, match="No such server: be/ghost"):
        client.server("be", "ghost")
    with pytest.raises(NoSuchServerError, match="find backend"):
        client.show_servers_state("nobe")
    with pytest.raises(RuntimeApiError, match="between 0 and 256"):
        client.set_weight("be", "s1", 500)
    with pytest.raises(RuntimeApiError, match="Invalid addr"):
        client.set_addr("be", "s1", "not-an-ip")
    with pytest.raises(DroverError, match="must be one of"):
        client.set_state("be", "s1", "sleepy")
    with pytest.raises(RuntimeApiError, match="Unknown map"):
        client.show_map("#999")
    try:
        client.set_weight("be", "s1", "abc")
    except RuntimeApiError as exc:
        assert exc.command == "set server be/s1 weight abc" and exc.message
    else:
        pytest.fail("a garbage weight was accepted")


def test_unreachable_socket_is_a_connection_error(tmp_path):
    with pytest.raises(RuntimeConnectionError, match="cannot reach"):
        RuntimeClient(str(tmp_path / "missing.sock"), 1.0).show_info()
    with pytest.raises(RuntimeConnectionError):
        RuntimeClient(f"127.0.0.1:{free_port()}", 1.0).show_info()
    assert not MasterClient(str(tmp_path / "missing.sock"), 1.0).reachable()


def test_tcp_admin_socket(tmp_path):
    port = free_port()
    environment = start_env(tmp_path, extra="", maps=None)
    try:
        # A second stats socket on TCP, added through the config and a reload.
        text = environment.config_path.read_text().replace(
            "    server-state-file", f"    stats socket ipv4@127.0.0.1:{port} level admin\n    server-state-file"
        )
        environment.config_path.write_text(text)
        before = environment.master().show_proc()
        environment.master().reload()
        wait_for(lambda: (t := _proc(environment)) is not None and t.reloads > before.reloads and t.worker_pids != before.worker_pids,
                 20, message="new worker")
        tcp = wait_for(lambda: _answers(f"127.0.0.1:{port}"), 10, message="tcp admin socket")
        assert int(tcp.show_info()["Pid"]) in environment.master().show_proc().worker_pids
    finally:
        stop_env(environment)


def _proc(environment):
    try:
        return environment.master().show_proc()
    except DroverError:
        return None


def _answers(address):
    client = RuntimeClient(address, 2.0)
    return client if client.reachable() else None


def test_map_commands_and_atomic_replace(env):
    client = env.runtime()
    info = maps_for_file(client.show_maps(), str(env.directory / "maps/routes.map"), str(env.directory))[0]
    assert info.file == "maps/routes.map"
    assert client.show_map(info.ref) == [("web", "blue"), ("mobile", "green")]
    assert maps_for_file(client.show_maps(), "/nowhere/x.map") == []

    client.replace_map(info.ref, [("web", "red"), ("mobile", "green")])
    assert dict(client.show_map(info.ref))["web"] == "red"
    assert env.get()[0] == 200

    version = client.prepare_map(info.ref)
    entries = [("web", "two words"), ("api", "x;y")] + [(f"k{i}", f"value-{i}-" + "x" * 40) for i in range(400)]
    assert client.add_map(info.ref, entries, version=version) == len(entries)  # > 8 kB: several payloads
    # Not visible before the commit: the current version is still matched.
    assert dict(client.show_map(info.ref))["web"] == "red"
    assert len(client.show_map(info.ref, version=version)) == len(entries)
    client.commit_map(info.ref, version)
    assert client.show_map(info.ref) == entries
    listed = {m.ref: m for m in client.show_maps()}[info.ref]
    assert listed.current_version == version

    committed = client.replace_map(info.ref, [("web", "blue")])
    assert committed > version and client.show_map(info.ref) == [("web", "blue")]
    with pytest.raises(RuntimeApiError, match="out of range"):
        client.commit_map(info.ref, committed)
    with pytest.raises(DroverError, match="no whitespace in keys"):
        client.add_map(info.ref, [("bad key", "v")])


def test_show_proc_and_reload_through_the_master_cli(env):
    master = env.master()
    before = master.show_proc()
    assert before.master.pid == env.worker.pid and len(before.workers) == 1 and before.failed_reloads == 0
    master.reload()
    table = wait_for(lambda: (t := _proc(env)) is not None and t.reloads == before.reloads + 1 and t.workers
                     and t.worker_pids != before.worker_pids and t, 20, message="new worker after reload")
    assert table.failed_reloads == 0
    # The worker through the master CLI (@1) is the same client API.
    assert int(master.worker().show_info()["Pid"]) in table.worker_pids
    assert env.serving()


def _hold_session(env, results):
    connection = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
    try:
        connection.request("GET", "/hold")
        response = connection.getresponse()
        response.read()
        results.append(response.status)
    except OSError as exc:
        results.append(exc)
    finally:
        connection.close()


def test_wait_for_drain_waits_for_a_real_held_session(env):
    client = env.runtime()
    client.set_state("be", "s2", "maint")  # so the held request lands on s1
    results = []
    holder = threading.Thread(target=_hold_session, args=(env, results))
    holder.start()
    try:
        assert env.backends["s1"].held.wait(10)
        wait_for(lambda: client.server_stat("be", "s1")["scur"] == 1, 5, message="session on s1")
        client.set_state("be", "s1", "drain")
        with pytest.raises(DrainTimeoutError, match="1 current session"):
            client.wait_for_drain("be", "s1", timeout=0.3, poll=0.05)

        drained = {}
        waiter = threading.Thread(target=lambda: drained.update(client.wait_for_drain("be", "s1", timeout=20, poll=0.05)))
        waiter.start()
        assert not drained  # still holding: the waiter cannot have returned
        env.backends["s1"].release.set()
        waiter.join(25)
        assert drained["sessions"] == 0 and drained["queue"] == 0 and drained["status"] == "DRAIN"
    finally:
        env.backends["s1"].release.set()
        holder.join(30)
    assert results == [200]


def test_wait_for_drain_on_a_down_server(env):
    client = env.runtime()
    env.backends["s2"].healthy = False
    wait_for(lambda: client.server("be", "s2").operational == "DOWN", 10, message="s2 DOWN")
    client.set_state("be", "s2", "drain")
    result = client.wait_for_drain("be", "s2", timeout=5, poll=0.05)
    assert result["sessions"] == 0 and result["queue"] == 0 and "DOWN" in result["status"]
    # timeout 0 still checks once: a drained server passes at the deadline instead of failing one poll short
    assert client.wait_for_drain("be", "s2", timeout=0, poll=0.05)["sessions"] == 0
