# -*- coding: utf-8 -*-
"""Adding or removing an instance inside the slot range goes live through the runtime API, with no reload, both
through haproxy_reload.apply_config and through drover.fleet.haproxy_config in ansible-playbook. Real HAProxy 2.6
in master-worker mode on loopback, real HTTP backends and real traffic: the master's reload counter (`show proc`)
proves that no reload happened."""

from __future__ import annotations

import threading

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import apply_config, load_state
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import ADMIN_CMAINT
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.slot_changes import InstancesNotHealthyError
from ansible_collections.drover.fleet.tests.support.haproxy_instance import Load, LoopbackBackend, run_playbook, start_env, stop_env
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for

pytestmark = pytest.mark.haproxy

ROUTES = "maps/routes.map"
FREE = "0.0.0.0:0 disabled"


class SlotsEnv:
    """start_env's HAProxy plus a frontend on `port` in front of backend `slots` (slot1 to slot3), and instances."""

    def __init__(self, env, port: int, instances: dict, socket_level: str):
        self.env = env
        self.port = port
        self.instances = instances
        self.socket_level = socket_level

    def config(self, slot2: str = FREE, slot3: str = FREE, more: str = "") -> str:
        """The whole haproxy.cfg with slot2 and slot3 as given ("127.0.0.1:<port>" or FREE)."""
        text = self.env.config(slots_section(self.port, f"127.0.0.1:{self.instances['first'].port}", slot2, slot3) + more)
        return text.replace(" level admin", f" level {self.socket_level}")

    def at(self, name: str) -> str:
        return f"127.0.0.1:{self.instances[name].port}"

    def apply(self, text: str, **options):
        return apply_config(str(self.env.config_path), text, {ROUTES: "web blue\n"}, self.env.options(**options))

    def reloads(self) -> int:
        return self.env.master().show_proc().reloads

    def slot(self, name: str):
        return self.env.runtime().server("slots", name)

    def status(self, name: str) -> str:
        return self.env.runtime().server_stat("slots", name)["status"]


def slots_section(port: int, slot1: str, slot2: str, slot3: str) -> str:
    return f"""
frontend fe_slots
    bind 127.0.0.1:{port}
    default_backend slots

backend slots
    balance roundrobin
    option httpchk GET /health
    # fast checks, but a busy machine must not fail a healthy instance's check (the default timeout is `inter`)
    timeout check 2s
    default-server check inter 100ms fall 2 rise 2
    server slot1 {slot1}
    server slot2 {slot2}
    server slot3 {slot3}
"""


def start_slots(tmp_path, slot2: str | None = None, socket_level: str = "admin") -> SlotsEnv:
    """HAProxy serving `slots` from instance "first" in slot1 (and "second" in slot2 when slot2 is "second")."""
    instances = {name: LoopbackBackend(name).start() for name in ("first", "second")}
    port = free_port()
    try:
        slot2_text = f"127.0.0.1:{instances['second'].port}" if slot2 == "second" else FREE
        extra = slots_section(port, f"127.0.0.1:{instances['first'].port}", slot2_text, FREE)
        env = start_env(tmp_path, extra=extra)
    except BaseException:
        for instance in instances.values():
            instance.stop()
        raise
    slots = SlotsEnv(env, port, instances, socket_level)
    if socket_level != "admin":
        # the same HAProxy, its admin socket lowered to `socket_level` by a reload
        apply_config(str(env.config_path), slots.config(slot2_text), {ROUTES: "web blue\n"}, env.options())
    wait_for(lambda: slots.status("slot1") == "UP", 10, message="slot1 UP")
    return slots


def stop_slots(slots: SlotsEnv) -> None:
    stop_env(slots.env)
    for instance in slots.instances.values():
        instance.stop()


@pytest.fixture
def slots(tmp_path):
    environment = start_slots(tmp_path)
    try:
        yield environment
    finally:
        stop_slots(environment)


@pytest.fixture
def load(slots):
    """New visitors on the slots frontend for the whole test."""
    traffic = Load(slots.port)
    traffic.start()
    try:
        wait_for(lambda: len(traffic.answers) > 20, 10, message="traffic flowing")
        yield traffic
    finally:
        traffic.stop()


def failures(load: Load) -> list:
    """Answers that did not come from an instance: HAProxy's own error pages (no X-Backend-Id) and client errors."""
    return [answer for answer in load.answers if not isinstance(answer, str)]


def test_filling_a_free_slot_goes_live_without_reload_only_after_its_check_passes(slots, load):
    new = slots.instances["second"]
    new.healthy = False
    reloads, pid = slots.reloads(), slots.env.runtime().show_info()["Pid"]
    before_text = slots.env.config_path.read_text()
    filled = slots.config(slots.at("second"))
    outcome = {}
    applier = threading.Thread(target=lambda: outcome.update(result=slots.apply(filled, health_timeout=30)))
    applier.start()
    try:
        # the instance is in the slot, its check fails: requests keep flowing, none reach it, nothing is written yet
        wait_for(lambda: slots.slot("slot2").port == new.port and slots.status("slot2").startswith("DOWN"), 10, message="slot2 failing its check")
        seen = len(load.answers)
        wait_for(lambda: len(load.answers) > seen + 30, 10, message="requests while the instance is unhealthy")
        assert "second" not in load.answers
        assert applier.is_alive() and slots.env.config_path.read_text() == before_text
        new.healthy = True
        applier.join(30)
        assert not applier.is_alive()
        wait_for(lambda: load.answers.count("second") > 10, 10, message="the new instance serving")
    finally:
        new.healthy = True
        applier.join(30)
    result = outcome["result"]
    assert result.changed and result.config_changed and not result.reloaded and result.reload_method is None
    assert result.runtime_server_updates == [{"backend": "slots", "server": "slot2", "action": "fill", "address": "127.0.0.1", "port": new.port}]
    assert result.diff[0]["before"] == before_text and result.diff[0]["after"] == filled
    assert slots.reloads() == reloads and slots.env.runtime().show_info()["Pid"] == pid
    assert slots.env.config_path.read_text() == filled
    # UP, out of forced maintenance; HAProxy keeps the CMAINT bit (0x04, "disabled in the configuration") until the
    # next reload, and that bit alone does not keep a server out of rotation
    assert slots.status("slot2") == "UP" and slots.slot("slot2").admin_state == ADMIN_CMAINT
    assert slots.slot("slot2").state == "ready"  # what haproxy_server, haproxy_info and the drain step see
    assert failures(load) == []
    state = load_state(str(slots.env.directory / ".drover"))
    assert not state.pending and state.snapshot == {} and state.last_runtime_update["updates"] == result.runtime_server_updates

    again = slots.apply(filled)
    assert not again.changed and again.runtime_server_updates == [] and slots.reloads() == reloads

    # a later reload starts from the written file: the instance keeps its slot and its traffic
    topology = slots.config(slots.at("second"), more="\nbackend extra\n    server x 127.0.0.1:1\n")
    assert slots.apply(topology).reloaded and slots.reloads() == reloads + 1
    seen = len(load.answers)
    wait_for(lambda: load.answers[seen:].count("second") > 10, 10, message="the new instance serving after a reload")
    assert (slots.slot("slot2").address, slots.slot("slot2").port, slots.slot("slot2").state) == ("127.0.0.1", new.port, "ready")
    assert failures(load) == []


def test_a_slot_whose_check_goes_to_another_port_gets_that_port_at_runtime(slots, load):
    """A breed checked on another of its ports: the renderer writes `server slotN <addr>:<port> port <check port>`,
    and filling the slot at runtime sets the check port before the first check. The instance answers 503 on its
    served port's /health, so it can only become UP when the check goes to the other port."""
    new = slots.instances["second"]
    new.healthy = False
    probe = LoopbackBackend("probe").start()
    try:
        reloads = slots.reloads()
        filled = slots.config(f"{slots.at('second')} port {probe.port}")
        result = slots.apply(filled, health_timeout=30)
        assert result.runtime_server_updates == [{"backend": "slots", "server": "slot2", "action": "fill", "address": "127.0.0.1",
                                                  "port": new.port, "check_port": probe.port}]
        assert not result.reloaded and slots.reloads() == reloads
        assert slots.status("slot2") == "UP"
        wait_for(lambda: load.answers.count("second") > 10, 10, message="the new instance serving")
        # only its check port moves (the instance restarted with another published port for it): freed, then filled
        other = LoopbackBackend("other-probe").start()
        try:
            moved = slots.config(f"{slots.at('second')} port {other.port}")
            result = slots.apply(moved, health_timeout=30)
            assert [update["action"] for update in result.runtime_server_updates] == ["free", "fill"]
            assert result.runtime_server_updates[1]["check_port"] == other.port and not result.reloaded
            assert slots.status("slot2") == "UP" and slots.reloads() == reloads
        finally:
            other.stop()
    finally:
        probe.stop()
    assert failures(load) == []


def test_emptying_a_slot_puts_it_in_maintenance_without_reload(tmp_path):
    slots = start_slots(tmp_path, slot2="second")
    load = Load(slots.port)
    load.start()
    try:
        wait_for(lambda: "second" in load.answers and "first" in load.answers, 10, message="both instances serving")
        reloads = slots.reloads()
        emptied = slots.config(FREE)
        result = slots.apply(emptied)
        assert result.changed and not result.reloaded
        assert result.runtime_server_updates == [
            {"backend": "slots", "server": "slot2", "action": "free", "address": "127.0.0.1", "port": slots.instances["second"].port}]
        slot2 = slots.slot("slot2")
        # in maintenance, and the address stays: a cookie client is sent elsewhere, nothing points at 0.0.0.0
        assert slot2.state == "maint" and (slot2.address, slot2.port) == ("127.0.0.1", slots.instances["second"].port)
        assert slots.env.config_path.read_text() == emptied and slots.reloads() == reloads
        seen = len(load.answers)
        wait_for(lambda: len(load.answers) > seen + 30, 10, message="traffic after the slot was emptied")
        assert set(load.answers[seen:]) == {"first"}
        assert not slots.apply(emptied).changed
    finally:
        load.stop()
        stop_slots(slots)
    assert failures(load) == []


def test_moving_an_instance_frees_then_fills_its_slot(slots, load):
    slots.apply(slots.config(slots.at("second")))
    reloads = slots.reloads()
    moved_to = LoopbackBackend("third").start()
    slots.instances["third"] = moved_to
    result = slots.apply(slots.config(slots.at("third")))
    assert not result.reloaded and slots.reloads() == reloads
    assert [(u["action"], u["port"]) for u in result.runtime_server_updates] == [("free", slots.instances["second"].port), ("fill", moved_to.port)]
    seen = len(load.answers)
    wait_for(lambda: load.answers[seen:].count("third") > 10, 10, message="the moved instance serving")
    later = len(load.answers)
    wait_for(lambda: len(load.answers) > later + 30, 10, message="more traffic")
    assert "second" not in load.answers[later:]
    assert failures(load) == []


def test_a_slot_change_with_anything_else_reloads_as_before(slots):
    reloads = slots.reloads()
    text = slots.config(slots.at("second")).replace("inter 100ms fall 2 rise 2", "inter 100ms fall 3 rise 2")
    result = slots.apply(text)
    assert result.reloaded and result.runtime_server_updates == [] and slots.reloads() == reloads + 1
    wait_for(lambda: slots.status("slot2") == "UP", 10, message="slot2 UP after the reload")
    # a comment is "anything else" too: only slot lines may differ
    result = slots.apply(text.replace(f"server slot2 {slots.at('second')}", f"server slot2 {FREE}") + "# a comment\n")
    assert result.reloaded and slots.reloads() == reloads + 2


def test_check_mode_reports_the_runtime_updates_and_touches_nothing(slots):
    runtime = slots.env.runtime()
    before = (slots.env.config_path.read_bytes(), slots.env.config_path.stat().st_mtime_ns, slots.reloads(),
              [server.as_dict() for server in runtime.show_servers_state("slots")])
    filled = slots.config(slots.at("second"))
    result = slots.apply(filled, check_mode=True)
    assert result.changed and not result.reloaded and result.diff[0]["after"] == filled
    assert result.runtime_server_updates == [
        {"backend": "slots", "server": "slot2", "action": "fill", "address": "127.0.0.1", "port": slots.instances["second"].port}]
    assert (slots.env.config_path.read_bytes(), slots.env.config_path.stat().st_mtime_ns, slots.reloads(),
            [server.as_dict() for server in runtime.show_servers_state("slots")]) == before
    assert not (slots.env.directory / ".drover" / "good").exists()


def test_an_instance_that_never_passes_its_check_changes_nothing(slots, load):
    slots.instances["second"].healthy = False
    # one instance is healthy, one is not: neither goes live, the file is not written, nothing reloads
    slots.instances["third"] = LoopbackBackend("third").start()
    reloads, text = slots.reloads(), slots.env.config_path.read_text()
    with pytest.raises(InstancesNotHealthyError) as info:
        slots.apply(slots.config(slots.at("second"), slots.at("third")), health_timeout=1.5)
    assert "slots/slot2 did not pass its health check within 1.5 s" in str(info.value)
    assert "nothing was written and HAProxy did not reload" in str(info.value) and "slots/slot3" in str(info.value)
    assert slots.env.config_path.read_text() == text and slots.reloads() == reloads
    assert slots.slot("slot2").state == "maint" and slots.slot("slot3").state == "maint"
    assert not load_state(str(slots.env.directory / ".drover")).pending
    assert "second" not in load.answers and failures(load) == []
    # once healthy, the same change goes live at runtime
    slots.instances["second"].healthy = True
    result = slots.apply(slots.config(slots.at("second"), slots.at("third")))
    assert [u["server"] for u in result.runtime_server_updates] == ["slot2", "slot3"] and not result.reloaded
    assert slots.reloads() == reloads


def test_a_failing_runtime_command_falls_back_to_the_reload(tmp_path):
    """An admin socket at `level operator` answers but refuses `set server`: the run reloads instead, and HAProxy
    runs the new file."""
    slots = start_slots(tmp_path, socket_level="operator")
    try:
        reloads = slots.reloads()
        filled = slots.config(slots.at("second"))
        result = slots.apply(filled)
        assert result.reloaded and result.runtime_server_updates == [] and slots.reloads() == reloads + 1
        assert any("could not be applied at runtime" in warning and "Permission denied" in warning for warning in result.warnings)
        assert slots.env.config_path.read_text() == filled and not load_state(str(slots.env.directory / ".drover")).pending
        wait_for(lambda: slots.status("slot2") == "UP", 10, message="slot2 UP after the reload")
    finally:
        stop_slots(slots)


# -- through ansible-playbook ----------------------------------------------------------------------------------------


def config_task(slots: SlotsEnv, content: str) -> dict:
    env = slots.env
    return {"name": "haproxy_config", "drover.fleet.haproxy_config": {
        "path": str(env.config_path), "content": content, "maps": {ROUTES: "web blue\n"},
        "master_socket": env.master_socket, "admin_socket": env.admin_socket}}


def test_haproxy_config_module_fills_and_frees_slots_without_reload(slots, load):
    reloads, runtime = slots.reloads(), slots.env.runtime()
    untouched = (slots.env.config_path.read_bytes(), [server.as_dict() for server in runtime.show_servers_state("slots")])
    filled = slots.config(slots.at("second"))
    check = run_playbook([config_task(slots, filled)], check=True, diff=True)[0]
    assert check["changed"] and not check["reloaded"] and check["runtime_server_updates"][0]["action"] == "fill"
    assert "server slot2 127.0.0.1:" in check["diff"][0]["after"]
    assert (slots.env.config_path.read_bytes(), [server.as_dict() for server in runtime.show_servers_state("slots")]) == untouched

    first, second = run_playbook([config_task(slots, filled)] * 2, diff=True)
    assert first["changed"] and not first["reloaded"] and first["reload_method"] is None
    assert first["runtime_server_updates"] == [
        {"backend": "slots", "server": "slot2", "action": "fill", "address": "127.0.0.1", "port": slots.instances["second"].port}]
    assert f"server slot2 {FREE}" in first["diff"][0]["before"] and f"server slot2 {slots.at('second')}" in first["diff"][0]["after"]
    assert not second["changed"] and second["runtime_server_updates"] == []
    wait_for(lambda: "second" in load.answers, 10, message="the new instance serving")

    emptied, again = run_playbook([config_task(slots, slots.config(FREE))] * 2)
    assert emptied["changed"] and not emptied["reloaded"] and [u["action"] for u in emptied["runtime_server_updates"]] == ["free"]
    assert not again["changed"]
    assert slots.slot("slot2").state == "maint" and slots.reloads() == reloads
    assert failures(load) == []
