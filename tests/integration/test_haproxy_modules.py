# -*- coding: utf-8 -*-
"""drover.fleet.haproxy_config, haproxy_server and haproxy_info through the real ansible-playbook, against a real
HAProxy 2.6 in master-worker mode on loopback: changed on the first run, not on the second, check mode that touches
nothing, diffs, and error messages."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading

import pytest

from ansible_collections.drover.fleet.tests.support.haproxy_instance import run_playbook
from ansible_collections.drover.fleet.tests.support.helpers import free_port, port_is_open, wait_for

pytestmark = pytest.mark.haproxy

ROUTES = "maps/routes.map"


def config_task(env, content, maps=None, **extra):
    args = {"path": str(env.config_path), "content": content, "maps": maps if maps is not None else {ROUTES: "web blue\n"},
            "master_socket": env.master_socket, "admin_socket": env.admin_socket}
    args.update(extra)
    return {"name": "haproxy_config", "drover.fleet.haproxy_config": args}


def server_task(env, **args):
    args.setdefault("backend", "be")
    return {"name": "haproxy_server", "drover.fleet.haproxy_server": dict(args, socket=env.admin_socket)}


def extra_backend(name):
    return f"\nbackend {name}\n    server x 127.0.0.1:1\n"


def files_and_runtime(env):
    """Everything check mode must leave alone."""
    runtime = env.runtime()
    ref = runtime.show_maps()[0].ref
    return (
        env.config_path.read_bytes(), env.config_path.stat().st_mtime_ns, (env.directory / ROUTES).read_bytes(),
        env.master().show_proc().reloads, runtime.show_map(ref), [s.as_dict() for s in runtime.show_servers_state()],
    )


# -- haproxy_config --------------------------------------------------------------------------------------------------


def test_haproxy_config_check_mode_then_apply_then_idempotent(env):
    new_text = env.config(extra_backend("added"))
    untouched = files_and_runtime(env)
    check = run_playbook([config_task(env, new_text)], check=True, diff=True)[0]
    assert check["changed"] and check["reloaded"] and check["config_changed"]
    assert check["diff"][0]["after"] == new_text and check["diff"][0]["before"] == env.config()
    assert files_and_runtime(env) == untouched

    first, second = run_playbook([config_task(env, new_text, backup=True), config_task(env, new_text, backup=True)], diff=True)
    assert first["changed"] and first["reloaded"] and first["reload_method"] == "master_cli" and not first["coalesced"]
    assert first["diff"][0]["before_header"] == str(env.config_path) and "backend added" in first["diff"][0]["after"]
    assert open(first["backup_file"], encoding="utf-8").read() == env.config()
    assert not second["changed"] and not second["reloaded"] and second.get("diff", []) == []
    assert env.config_path.read_text() == new_text
    assert any(row["pxname"] == "added" for row in env.runtime().show_stat())
    assert env.master().show_proc().reloads == untouched[3] + 1


def test_haproxy_config_map_only_change_has_no_reload(env):
    reloads = env.master().show_proc().reloads
    mtime = env.config_path.stat().st_mtime_ns
    results = run_playbook([config_task(env, env.config(), {ROUTES: "web green\n"})] * 2, diff=True)
    first, second = results
    assert first["changed"] and not first["reloaded"] and not first["config_changed"]
    assert first["maps_changed"] == [ROUTES] and first["runtime_map_updates"][0]["map"] == ROUTES
    assert first["diff"] == [{"before": "web blue\n", "after": "web green\n", "before_header": str(env.directory / ROUTES),
                              "after_header": str(env.directory / ROUTES)}]
    assert not second["changed"] and second["runtime_map_updates"] == []
    runtime = env.runtime()
    assert runtime.show_map(runtime.show_maps()[0].ref) == [("web", "green")]
    assert env.master().show_proc().reloads == reloads and env.config_path.stat().st_mtime_ns == mtime


def test_haproxy_config_acl_file_change_has_no_reload(env):
    """An ACL pattern file (`*.acl`, used with `-f`) is replaced at runtime like a map: `prepare`/`add`/`commit acl`."""
    port = free_port()
    extra = (f"\nfrontend chance\n    bind 127.0.0.1:{port}\n"
             "    http-request return status 200 content-type text/plain string in if { rand(100) -m int -f maps/chance.acl }\n"
             "    http-request return status 200 content-type text/plain string out\n")
    content = env.config(extra)

    def answers():
        found = set()
        for _request in range(50):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/")
            found.add(connection.getresponse().read().decode())
            connection.close()
        return found

    run_playbook([config_task(env, content, {ROUTES: "web blue\n", "maps/chance.acl": "0:99\n"})])
    wait_for(lambda: port_is_open(port), 10, message="the new frontend")
    assert answers() == {"in"}
    reloads = env.master().show_proc().reloads
    check = run_playbook([config_task(env, content, {ROUTES: "web blue\n", "maps/chance.acl": ""})], check=True)[0]
    assert check["changed"] and not check["reloaded"] and [u["map"] for u in check["runtime_map_updates"]] == ["maps/chance.acl"]
    assert answers() == {"in"}
    first, second = run_playbook([config_task(env, content, {ROUTES: "web blue\n", "maps/chance.acl": ""})] * 2)
    assert first["changed"] and not first["reloaded"] and first["maps_changed"] == ["maps/chance.acl"]
    assert [(u["map"], u["entries"]) for u in first["runtime_map_updates"]] == [("maps/chance.acl", 0)]
    assert not second["changed"] and second["runtime_map_updates"] == []
    assert answers() == {"out"} and env.master().show_proc().reloads == reloads
    run_playbook([config_task(env, content, {ROUTES: "web blue\n", "maps/chance.acl": "0:99\n"})])
    assert answers() == {"in"} and env.master().show_proc().reloads == reloads


def test_haproxy_config_invalid_config_fails_and_changes_nothing(env):
    untouched = files_and_runtime(env)
    task = config_task(env, env.config("\nbackend bad\n    server x 127.0.0.1:1 bogus-keyword\n"))
    result = run_playbook([dict(task, ignore_errors=True)])[0]
    assert result["failed"] and "haproxy -c rejected the configuration" in result["msg"] and "bogus-keyword" in result["msg"]
    assert result["rolled_back"] is False
    assert files_and_runtime(env) == untouched
    assert env.serving()


def test_haproxy_config_failed_reload_is_rolled_back(env):
    good = env.config_path.read_text()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        clash = env.config(f"\nfrontend clash\n    bind 127.0.0.1:{blocker.getsockname()[1]}\n    default_backend be\n")
        refused, result = run_playbook([dict(config_task(env, clash), ignore_errors=True),
                                        dict(config_task(env, clash, preflight=False), ignore_errors=True)])
    assert refused["failed"] and "is already in use by another process" in refused["msg"] and not refused["rolled_back"]
    assert result["failed"] and result["rolled_back"] and result["rollback_ok"]
    assert "Address already in use" in result["haproxy_message"] and "rolled back" in result["msg"]
    assert env.config_path.read_text() == good
    assert env.serving()


def raw_module_run(env, tmp_path, content, **extra):
    """drover.fleet.haproxy_config run as Ansible runs it on a host: (its stdout and stderr, its result). That stdout
    is what the ssh connection plugin prints as it is at -vvv."""
    args = dict(config_task(env, content)["drover.fleet.haproxy_config"], _ansible_diff=True, **extra)
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    raw = subprocess.run([sys.executable, "-m", "ansible_collections.drover.fleet.plugins.modules.haproxy_config", str(args_file)],
                         capture_output=True, text=True, timeout=120, check=False)
    return raw.stdout + raw.stderr, json.loads(raw.stdout)


def test_haproxy_config_keeps_secrets_out_of_its_raw_output(env, tmp_path):
    """No secret in the module's own output at any verbosity: a cookie key (when it is set, and when it is changed,
    where the old one is in the diff's before), and what `secrets` names; the file keeps them, as HAProxy needs them."""
    def sticky(key):
        return env.config(f"\nbackend sticky\n    cookie SRV insert dynamic\n    dynamic-cookie-key {key}\n    server x 127.0.0.1:1\n"
                          "    http-request set-header X-Token tok-3141592653\n")
    old_key, new_key = "old-cookie-key-0123456789", "new-cookie-key-9876543210"
    output, result = raw_module_run(env, tmp_path, sticky(old_key))
    assert result["changed"] and not result.get("failed"), output
    assert old_key not in output and "dynamic-cookie-key ********" in result["diff"][0]["after"]
    assert "tok-3141592653" in output    # not named a secret
    output, result = raw_module_run(env, tmp_path, sticky(new_key), secrets=["tok-3141592653"])
    assert result["changed"] and not result.get("failed"), output
    assert old_key not in output and new_key not in output and "tok-3141592653" not in output
    assert "dynamic-cookie-key ********" in result["diff"][0]["before"] and "X-Token ********" in result["diff"][0]["after"]
    assert f"dynamic-cookie-key {new_key}" in env.config_path.read_text()


# -- haproxy_routing (action) ----------------------------------------------------------------------------------------


def test_haproxy_routing_takes_the_documented_socket_alias_and_passes_on_the_config_options(env, tmp_path):
    """The action takes haproxy_config's options from its spec, aliases included, and passes them on by name."""
    gateway = tmp_path / "edge.yml"
    gateway.write_text(f"name: edge\nport: {free_port()}/http\nroutes:\n  \"[127.0.0.1:{free_port()}]\":\n    weight: 100%\n")
    untouched = files_and_runtime(env)
    task = {"name": "routing", "drover.fleet.haproxy_routing": {
        "artifacts": str(gateway), "path": str(env.config_path), "socket": env.admin_socket, "master_socket": env.master_socket,
        "server_state_file": str(tmp_path / "state"), "bind_address": "127.0.0.1", "service_manager": "master_cli"}}
    result = run_playbook([task], check=True, diff=True)[0]
    assert not result.get("failed"), result.get("msg")
    assert result.get("warnings", []) == []    # haproxy_config gets each option once, by its name
    assert result["changed"] and result["config_changed"] and result["reloaded"] and result["reload_method"] == "master_cli"
    assert f"stats socket {env.admin_socket} mode 600 level admin" in result["diff"][0]["after"]
    assert files_and_runtime(env) == untouched


def test_haproxy_routing_reads_yaml_text_from_a_template(env, tmp_path):
    """Artifacts given as YAML text reach the action as Ansible's own str subclass, which libyaml alone refuses."""
    gateway = tmp_path / "edge.yml"
    gateway.write_text(f"name: edge\nport: {free_port()}/http\nroutes:\n  \"[127.0.0.1:{free_port()}]\":\n    weight: 100%\n")
    task = {"name": "routing", "drover.fleet.haproxy_routing": {
        "artifacts": f"{{{{ lookup('ansible.builtin.file', '{gateway}') }}}}", "path": str(env.config_path), "socket": env.admin_socket,
        "master_socket": env.master_socket, "server_state_file": str(tmp_path / "state"), "bind_address": "127.0.0.1",
        "service_manager": "master_cli"}}
    result = run_playbook([task], check=True, diff=True)[0]
    assert not result.get("failed"), result.get("msg")
    assert result["changed"]


def test_haproxy_routing_names_a_raw_acl_haproxy_refuses_at_the_yaml(env, tmp_path):
    """`haproxy -c` on the target names a line of a candidate that was never written; the action names the condition."""
    gateway = tmp_path / "edge.yml"
    gateway.write_text(f"name: edge\nport: {free_port()}/http\nroutes:\n  \"[127.0.0.1:{free_port()}]\":\n    weight: 100%\n"
                       "    condition: \"<hdr_sub(user-agent) -m foo bar>\"\n")
    untouched = files_and_runtime(env)
    task = {"name": "routing", "ignore_errors": True, "drover.fleet.haproxy_routing": {
        "artifacts": str(gateway), "path": str(env.config_path), "socket": env.admin_socket, "master_socket": env.master_socket,
        "server_state_file": str(tmp_path / "state"), "bind_address": "127.0.0.1", "service_manager": "master_cli"}}
    result = run_playbook([task])[0]
    assert result["failed"] and result["msg"].startswith("1 error in the input:")
    assert f"{gateway}:6:16: routes[" in result["msg"] and "haproxy -c refuses the ACL of this condition: unknown matching method 'foo'" in result["msg"]
    assert "parsing [" in result["haproxy_message"]    # HAProxy's own output is kept
    assert files_and_runtime(env) == untouched


# -- haproxy_server --------------------------------------------------------------------------------------------------


def test_haproxy_server_changes_then_is_idempotent_and_check_mode_touches_nothing(env):
    first, second = run_playbook([server_task(env, server="s1", weight=4, state="drain")] * 2, diff=True)
    assert first["changed"] and first["changes"] == ["weight", "state"]
    assert (first["before"]["weight"], first["before"]["state"]) == (10, "ready")
    assert (first["after"]["weight"], first["after"]["state"]) == (4, "drain")
    assert first["diff"]["before"]["state"] == "ready" and first["diff"]["after"]["state"] == "drain"
    assert first["diff"]["before_header"] == "be/s1"
    assert not second["changed"] and second["changes"] == []
    s1 = env.runtime().server("be", "s1")
    assert (s1.weight, s1.state) == (4, "drain")

    untouched = files_and_runtime(env)
    check = run_playbook([server_task(env, server="s1", state="maint", weight=7, health="disabled")], check=True)[0]
    assert check["changed"] and check["changes"] == ["weight", "health", "state"]
    assert (check["after"]["state"], check["after"]["weight"], check["after"]["health"]) == ("maint", 7, "disabled")
    assert files_and_runtime(env) == untouched


def test_haproxy_server_address_and_port_for_a_slot(env):
    target = env.backends["s2"].port
    first, second = run_playbook([server_task(env, server="s1", address="127.0.0.1", port=target)] * 2)
    assert first["changed"] and first["changes"] == ["address"] and first["after"]["port"] == target
    assert not second["changed"]
    assert env.runtime().server("be", "s1").port == target


def test_haproxy_server_check_port_decides_when_a_slot_leaves_maintenance(env):
    """A slot whose own port fails its health check still becomes ready when its checks go to a port that passes:
    the check port is set before the slot leaves maintenance. Check mode predicts it; a second run changes nothing."""
    env.runtime().set_state("be", "s2", "maint")
    env.backends["s2"].healthy = False
    healthy_port = env.backends["s1"].port
    untouched = files_and_runtime(env)
    check = run_playbook([server_task(env, server="s2", state="ready", check_port=healthy_port)], check=True)[0]
    assert check["changed"] and check["changes"] == ["check_port", "state"] and check["after"]["check_port"] == healthy_port
    assert check["before"]["check_port"] is None and files_and_runtime(env) == untouched
    first, second = run_playbook([server_task(env, server="s2", state="ready", check_port=healthy_port, health_timeout=10)] * 2)
    assert first["changed"] and first["changes"] == ["check_port", "state"], first
    assert (first["after"]["state"], first["after"]["check_port"]) == ("ready", healthy_port)
    assert not second["changed"] and second["changes"] == []
    s2 = env.runtime().server("be", "s2")
    assert (s2.state, s2.check_port, s2.port) == ("ready", healthy_port, env.backends["s2"].port)
    wait_for(lambda: env.runtime().server("be", "s2").operational == "UP", 10, message="s2 UP through its check port")


def test_haproxy_server_errors_are_clear(env):
    results = run_playbook([
        dict(server_task(env, server="ghost", state="drain"), ignore_errors=True),
        dict(server_task(env, backend="nobe", server="s1", weight=1), ignore_errors=True),
        dict(server_task(env, server="s1", weight=300), ignore_errors=True),
        dict(server_task(env, server="s1", wait_for_drain=True, state="ready"), ignore_errors=True),
        dict(server_task(env, server="s1", check_port=0), ignore_errors=True),
        dict(server_task(env, server="s1", weight=-1, port=70000), ignore_errors=True),
    ])
    assert results[0]["failed"] and "No such server: be/ghost" in results[0]["msg"]
    assert results[1]["failed"] and "find backend" in results[1]["msg"]
    assert results[2]["failed"] and "between 0 and 256" in results[2]["msg"]
    assert results[3]["failed"] and "wait_for_drain needs state drain or maint" in results[3]["msg"]
    assert results[4]["failed"] and "check_port must be between 1 and 65535; found 0" in results[4]["msg"]
    assert results[5]["failed"] and results[5]["msg"] == "weight must be between 0 and 256; found -1\nport must be between 0 and 65535; found 70000"


def test_haproxy_server_works_on_a_down_server(env):
    env.backends["s2"].healthy = False
    wait_for(lambda: env.runtime().server("be", "s2").operational == "DOWN", 10, message="s2 DOWN")
    first, second = run_playbook([server_task(env, server="s2", state="maint", weight=2, wait_for_drain=True, drain_timeout=5)] * 2)
    assert first["changed"] and first["before"]["operational_state"] == "DOWN"
    assert first["after"]["state"] == "maint" and first["after"]["weight"] == 2
    assert first["drain"]["sessions"] == 0 and first["drain"]["queue"] == 0
    assert not second["changed"] and second["drain"]["sessions"] == 0


def test_haproxy_server_ready_out_of_maint_waits_for_the_health_check(env):
    """A server leaving maintenance gets no new client before a check passes; one that never passes goes back."""
    env.runtime().set_state("be", "s2", "maint")
    env.backends["s2"].healthy = False
    failed = run_playbook([dict(server_task(env, server="s2", state="ready", health_timeout=2), ignore_errors=True)])[0]
    assert failed["failed"] and "did not pass its health check" in failed["msg"]
    assert env.runtime().server("be", "s2").state == "maint"

    env.backends["s2"].healthy = True
    first, second = run_playbook([server_task(env, server="s2", state="ready", health_timeout=20)] * 2)
    assert first["changed"] and first["before"]["state"] == "maint"
    assert first["after"]["state"] == "ready" and first["after"]["operational_state"] == "UP"
    assert not second["changed"]


def test_haproxy_server_wait_for_drain_with_a_held_session(env):
    runtime = env.runtime()
    runtime.set_state("be", "s2", "maint")
    statuses = []

    def hold():
        connection = http.client.HTTPConnection("127.0.0.1", env.port, timeout=60)
        connection.request("GET", "/hold")
        statuses.append(connection.getresponse().status)
        connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert env.backends["s1"].held.wait(10)
        timeout = run_playbook([dict(server_task(env, server="s1", state="maint", wait_for_drain=True, drain_timeout=0.5),
                                     ignore_errors=True)])[0]
        assert timeout["failed"] and "did not drain within 0.5 s: 1 current session" in timeout["msg"]
        # Drained first, not yet in maintenance: the module stops before the final state.
        assert runtime.server("be", "s1").state == "drain"
        runtime.set_state("be", "s1", "ready")
        outcome = []
        runner = threading.Thread(target=lambda: outcome.extend(
            run_playbook([server_task(env, server="s1", state="maint", wait_for_drain=True, drain_timeout=60)])))
        runner.start()
        # The module sets drain and then waits; only then does the held client finish.
        wait_for(lambda: runtime.server("be", "s1").state == "drain", 60, message="module draining s1")
        assert runtime.server_stat("be", "s1")["scur"] == 1
        env.backends["s1"].release.set()
        runner.join(120)
        done = outcome[0]
    finally:
        env.backends["s1"].release.set()
        holder.join(30)
    assert done["changed"] and done["drain"]["sessions"] == 0 and done["after"]["state"] == "maint"
    assert statuses == [200]


# -- haproxy_info ----------------------------------------------------------------------------------------------------


def test_haproxy_info_reads_everything_and_never_changes(env):
    env.runtime().set_weight("be", "s2", 7)
    normal, checked = run_playbook([{"name": "info", "drover.fleet.haproxy_info": {
        "admin_socket": env.admin_socket, "master_socket": env.master_socket}}]), run_playbook(
        [{"name": "info", "drover.fleet.haproxy_info": {"admin_socket": env.admin_socket, "gather": ["servers"], "backend": "be"}}],
        check=True)
    result = normal[0]
    assert result["changed"] is False and checked[0]["changed"] is False
    servers = {s["server"]: s for s in result["servers"]}
    assert servers["s2"]["weight"] == 7 and servers["s1"]["status"] == "UP" and servers["s1"]["sessions"] == 0
    assert servers["s1"]["port"] == env.backends["s1"].port and servers["s1"]["health"] == "enabled"
    assert result["info"]["Pid"] and result["processes"]["master"]["pid"] == env.worker.pid
    assert result["processes"]["master"]["failed_reloads"] == 0 and len(result["processes"]["workers"]) == 1
    assert result["maps"][0]["file"] == ROUTES and result["maps"][0]["entries"] == [["web", "blue"]]
    assert set(checked[0]) >= {"servers"} and "info" not in checked[0]
    assert {s["backend"] for s in checked[0]["servers"]} == {"be"}


def test_haproxy_info_unreachable_socket_fails_clearly(tmp_path):
    result = run_playbook([{"name": "info", "drover.fleet.haproxy_info": {"admin_socket": str(tmp_path / "none.sock")},
                            "ignore_errors": True}])[0]
    assert result["failed"] and "cannot reach the HAProxy socket" in result["msg"]


def test_haproxy_config_concurrent_playbooks_share_one_reload(env):
    """Three ansible-playbook processes change haproxy.cfg at the same time: the lock serializes their writes and
    the debounce gives one reload for all of them; every run reports its change live."""
    reloads = env.master().show_proc().reloads
    candidates = [env.config(extra_backend(f"burst{i}")) for i in range(3)]
    results = [None] * 3

    def run(i):
        results[i] = run_playbook([config_task(env, candidates[i], debounce=3.0, debounce_max=20.0)])[0]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert all(r["changed"] and r["reloaded"] for r in results), results
    assert sum(not r["coalesced"] for r in results) == 1
    assert env.master().show_proc().reloads == reloads + 1
    live = env.config_path.read_text()
    assert live in candidates
    assert any(row["pxname"] == f"burst{candidates.index(live)}" for row in env.runtime().show_stat())


def test_haproxy_server_state_survives_a_haproxy_config_reload_under_load(env):
    """haproxy_server drains s1 and reweights s2; haproxy_config then reloads a new topology while four clients
    send requests: no request fails, and the runtime state is still there in the new worker."""
    stop, lock, counts = threading.Event(), threading.Lock(), {}

    def load():
        while not stop.is_set():
            try:
                connection = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
                connection.request("GET", "/")
                status = connection.getresponse().status
                connection.close()
                key = "ok" if status == 200 else f"status {status}"
            except (OSError, http.client.HTTPException) as exc:
                key = f"error {type(exc).__name__}"
            with lock:
                counts[key] = counts.get(key, 0) + 1

    clients = [threading.Thread(target=load) for _client in range(4)]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: counts.get("ok", 0) > 100, 20, message="load running")
        drain, weight, reload_ = run_playbook([
            server_task(env, server="s1", state="drain"),
            server_task(env, server="s2", weight=7),
            config_task(env, env.config(extra_backend("grown"))),
        ])
        seen = counts.get("ok", 0)
        wait_for(lambda: counts.get("ok", 0) > seen + 100, 20, message="traffic after the reload")
    finally:
        stop.set()
        for client in clients:
            client.join(30)
    assert drain["changed"] and weight["changed"] and reload_["changed"] and reload_["reloaded"]
    assert set(counts) == {"ok"}, counts
    s1, s2 = env.runtime().server("be", "s1"), env.runtime().server("be", "s2")
    assert (s1.state, s2.weight) == ("drain", 7)
    assert int(env.runtime().show_info()["Pid"]) in reload_["new_worker_pids"]
