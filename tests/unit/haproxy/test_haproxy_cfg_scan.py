# -*- coding: utf-8 -*-
"""The haproxy.cfg scan and the server-state filter that decides which runtime state a new configuration inherits."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_scan import global_directives, server_definitions
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import relative_base, server_state_path, state_for_new_config

LIVE = """global
    server-state-file state   # relative
    server-state-base /var/lib/haproxy
    default-path config

defaults
    default-server check inter 3s

backend web
    default-server fall 2
    server a 10.0.0.1:80 weight 10
    server-template slot 1-3 0.0.0.0:0 disabled

backend api
    server x 10.0.0.9:80
"""

DUMP = """1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
3 web 1 a 10.0.0.1 2 8 3 10
3 web 2 slot1 0.0.0.0 0 1 1 1
3 web 3 slot2 0.0.0.0 0 1 1 1
4 api 1 x 10.0.0.9 2 0 1 1
"""


def test_global_directives_and_paths():
    directives = global_directives(LIVE)
    assert directives["server-state-file"] == "state" and directives["default-path"] == "config"
    assert server_state_path(LIVE, "/etc/haproxy") == "/var/lib/haproxy/state"
    assert relative_base(LIVE, "/etc/haproxy", "/") == "/etc/haproxy"
    assert relative_base("global\n    default-path origin /srv/lb\n", "/etc/haproxy") == "/srv/lb"
    assert relative_base("global\n    daemon\n", "/etc/haproxy", "/") == "/"


def test_server_definitions_include_templates_and_default_server_lines():
    definitions = server_definitions(LIVE)
    assert set(definitions) == {("web", "a"), ("web", "slot1"), ("web", "slot2"), ("web", "slot3"), ("api", "x")}
    assert definitions[("web", "a")] == "default-server check inter 3s\ndefault-server fall 2\n10.0.0.1:80 weight 10"
    assert definitions[("api", "x")] == "default-server check inter 3s\n10.0.0.9:80"


def test_servers_the_new_config_redefines_lose_their_saved_state():
    new = LIVE.replace("server-template slot 1-3 0.0.0.0:0 disabled", "server slot1 10.0.0.5:8080\n    server-template slot 2-3 0.0.0.0:0 disabled")
    kept, dropped = state_for_new_config(DUMP, LIVE, new)
    assert dropped == ["web/slot1"]
    assert kept.splitlines()[:2] == DUMP.splitlines()[:2]
    assert [line.split()[3] for line in kept.splitlines()[2:]] == ["a", "slot2", "x"]
    # A default-server change redefines every server it applies to; an unrelated change redefines none.
    assert state_for_new_config(DUMP, LIVE, LIVE.replace("fall 2", "fall 3"))[1] == ["web/a", "web/slot1", "web/slot2"]
    assert state_for_new_config(DUMP, LIVE, LIVE + "\nbackend other\n    server o 10.0.0.7:80\n") == (DUMP, [])
    # Without the live configuration nothing can be compared: everything is kept.
    assert state_for_new_config(DUMP, None, new) == (DUMP, [])
