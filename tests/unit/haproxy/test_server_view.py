# -*- coding: utf-8 -*-
"""One view of a server: `show servers state` joined with `show stat`, under the names haproxy_info and drover status
share (the real HAProxy's answers are joined in tests/unit/fleet and tests/integration/test_status.py)."""

from __future__ import annotations

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import parse_servers_state, parse_stat_csv
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.server_view import availability, server_views

STATE = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change \
srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn \
srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 web 1 slot1 0.0.0.0 0 5 1 1 10 1 0 0 6 0 0 0 - 0 - 0 0 - - 0
3 web 2 slot2 10.0.0.2 2 8 1 1 10 1 0 0 6 0 0 0 - 8080 - 0 8081 - - 0
3 web 3 plain 10.0.0.3 2 0 10 10 10 1 0 0 0 0 0 0 - 8080 - 0 0 - - 0
"""
STAT = """# pxname,svname,qcur,scur,stot,status,weight,check_status,check_code,check_duration,check_desc,lastchg,rate,rtime,hrsp_5xx,
web,slot1,0,0,0,MAINT,1,,,,,42,0,0,0,
web,slot2,1,3,120,DRAIN,1,L7OK,200,2,Layer7 check passed,42,5,7,1,
"""


def views() -> dict:
    return {view.server: view for view in server_views(parse_servers_state(STATE), parse_stat_csv(STAT))}


def test_state_and_stat_rows_are_joined_per_server():
    slot2 = views()["slot2"]
    assert (slot2.backend, slot2.endpoint, slot2.check_port, slot2.state, slot2.health) == ("web", "10.0.0.2:8080", 8081, "drain", "enabled")
    assert (slot2.sessions, slot2.queue, slot2.total_sessions, slot2.session_rate, slot2.response_time, slot2.http_5xx) == (3, 1, 120, 5, 7, 1)
    assert (slot2.status, slot2.availability, slot2.serving, slot2.check, slot2.last_change) == ("DRAIN", "UP", False, "L7OK/200 2ms", 42)


def test_a_free_slot_and_a_server_without_a_stat_row():
    slot1, plain = views()["slot1"], views()["plain"]
    assert (slot1.empty, slot1.availability, slot1.check_status, slot1.check) == (True, "MAINT", None, "")
    assert (plain.status, plain.sessions, plain.response_time, plain.health, plain.availability, plain.serving) == ("", 0, None, "none", "UP", True)
    assert set(plain.as_dict()) >= {"backend", "server", "serving", "empty", "availability", "health", "operational_state"}


@pytest.mark.parametrize("status, expected", [("UP 1/2", "UP"), ("DOWN 1/2", "DOWN"), ("NOLB", "NOLB"), ("DRAIN", "UP"), ("no check", "UP")])
def test_availability_is_the_status_word_or_the_operational_state(status, expected):
    server = parse_servers_state(STATE)[2]
    assert availability(server, status) == expected
