# -*- coding: utf-8 -*-
"""What the haproxy_server module compares (haproxy/server_change.py), on servers read from a `show servers state`
dump as HAProxy 2.6 writes it. Applying the changes runs against a real HAProxy in
tests/integration/test_haproxy_modules.py."""

from __future__ import annotations

import pytest

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import parse_servers_state
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.server_change import DesiredServer

HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change "
          "srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn "
          "srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port")
# a free slot (maintenance, checked) and a ready server without a health check
DUMP = f"""1
{HEADER}
3 web 1 slot1 0.0.0.0 0 5 1 1 10 1 0 0 6 0 0 0 - 0 - 0 0 - - 0
3 web 2 plain 10.0.0.2 2 0 10 10 10 1 0 0 0 0 0 0 - 8080 - 0 0 - - 0
"""
SLOT, PLAIN = parse_servers_state(DUMP)


def test_every_problem_at_once():
    desired = DesiredServer("web", "slot1", weight=300, port=70000, check_port=0, state="ready", wait_for_drain=True)
    assert desired.problems() == [
        "weight must be between 0 and 256; found 300",
        "port must be between 0 and 65535; found 70000",
        "check_port must be between 1 and 65535; found 0",
        "wait_for_drain needs state drain or maint; found state ready",
    ]
    assert DesiredServer("web", "slot1", weight=0, port=0, check_port=65535, state="maint", wait_for_drain=True).problems() == []


def test_changes_come_in_apply_order_with_the_predicted_server():
    assert (SLOT.state, SLOT.health, SLOT.check_port) == ("maint", "enabled", None)
    desired = DesiredServer("web", "slot1", weight=5, state="ready", address="10.0.0.7", port=31001, check_port=31002)
    changes, after = desired.compare(SLOT)
    assert changes == ["check_port", "address", "weight", "state"]
    assert after == dict(SLOT.as_dict(), check_port=31002, address="10.0.0.7", port=31001, weight=5, state="ready")


def test_nothing_differs_nothing_changes():
    assert DesiredServer("web", "plain", weight=10, state="ready", address="10.0.0.2", port=8080).compare(PLAIN) == ([], PLAIN.as_dict())
    # a port alone keeps the address; disabling checks a server does not have is already true
    assert DesiredServer("web", "plain", port=8080, health="disabled").compare(PLAIN)[0] == []
    assert DesiredServer("web", "plain", port=9090).compare(PLAIN)[1]["address"] == "10.0.0.2"


def test_health_checks_asked_of_a_server_without_them():
    with pytest.raises(DroverError, match=r"server web/plain has no health check configured \(add `check` to its server line\)"):
        DesiredServer("web", "plain", health="enabled").compare(PLAIN)
