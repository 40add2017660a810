# -*- coding: utf-8 -*-
"""RuntimeClient.fill_slot against a real HAProxy 2.6: a new instance put into a free slot gets no request before its
health check passes, while clients keep sending requests; a check that never passes leaves the slot in maintenance."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import SlotNotHealthyError
from ansible_collections.drover.fleet.tests.support.haproxy_instance import Load, LoopbackBackend, start_env, stop_env
from ansible_collections.drover.fleet.tests.support.helpers import free_port, wait_for

pytestmark = pytest.mark.haproxy


@pytest.fixture
def env(tmp_path):
    port = free_port()
    extra = f"""
frontend fe_slots
    bind 127.0.0.1:{port}
    default_backend slots

backend slots
    balance roundrobin
    option httpchk GET /health
    default-server check inter 100ms fall 2 rise 2
    server slot1 0.0.0.0:0 disabled
    server slot2 0.0.0.0:0 disabled
    server nocheck 0.0.0.0:0 disabled no-check
"""
    environment = start_env(tmp_path, extra=extra)
    environment.slots_port = port
    try:
        yield environment
    finally:
        stop_env(environment)


def test_a_filled_slot_gets_no_request_before_its_health_check_passes(env):
    instance = LoopbackBackend("new", healthy=False).start()
    load = Load(env.slots_port)
    load.start()
    client = env.runtime()
    filled: dict = {}
    filler = threading.Thread(target=lambda: filled.update(client.fill_slot("slots", "slot1", "127.0.0.1", instance.port, timeout=30)))
    try:
        filler.start()
        wait_for(lambda: client.server_stat("slots", "slot1")["status"].startswith("DOWN"), 10, message="slot1 failed its check")
        before = len(load.answers)
        wait_for(lambda: len(load.answers) > before + 20, 10, message="requests while the instance is unhealthy")
        assert "new" not in load.answers
        assert filler.is_alive()
        assert client.server("slots", "slot1").address == "127.0.0.1"

        instance.healthy = True
        filler.join(20)
        assert not filler.is_alive() and filled["status_before_ready"] == "DRAIN" and filled["sessions_before_ready"] == 0
        assert client.server_stat("slots", "slot1")["status"] == "UP"
        wait_for(lambda: "new" in load.answers, 10, message="the healthy instance serving")
    finally:
        load.stop()
        filler.join(30)
        instance.stop()


def test_a_slot_whose_check_never_passes_goes_back_to_maintenance(env):
    instance = LoopbackBackend("sick", healthy=False).start()
    client = env.runtime()
    try:
        started = time.monotonic()
        with pytest.raises(SlotNotHealthyError, match="slots/slot2 did not pass its health check within 0.5 s"):
            client.fill_slot("slots", "slot2", "127.0.0.1", instance.port, timeout=0.5, poll=0.02)
        assert time.monotonic() - started < 5
        assert client.server_stat("slots", "slot2")["status"] == "MAINT"
    finally:
        instance.stop()


def test_a_slot_without_health_check_is_ready_at_once(env):
    instance = LoopbackBackend("plain").start()
    client = env.runtime()
    try:
        result = client.fill_slot("slots", "nocheck", "127.0.0.1", instance.port, timeout=5)
        assert client.server_stat("slots", "nocheck")["status"] in ("UP", "no check")
        assert result["waited"] < 5
    finally:
        instance.stop()
