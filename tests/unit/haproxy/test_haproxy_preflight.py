# -*- coding: utf-8 -*-
"""The pre-flight checks: which listeners a configuration adds, and which of them cannot bind on this host."""

from __future__ import annotations

import socket

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.preflight import listeners, preflight_problems

CONFIG = """global
    stats socket /run/haproxy/admin.sock level admin
    stats socket ipv4@127.0.0.1:9999 level admin
    chroot {chroot}

frontend web
    bind :80,127.0.0.1:8080-8081 # comment
    bind ipv6@[::1]:8443 ssl crt x.pem
    bind 10.9.9.9:80 transparent
    bind unix@/run/x.sock
    bind ${{ADDR}}:81

listen stats
    bind *:9000

backend b
    server s 127.0.0.1:80
"""


def test_listeners_cover_binds_and_tcp_stats_sockets_only():
    found = listeners(CONFIG.format(chroot="/"))
    assert found == {
        (socket.AF_INET, "127.0.0.1", 9999),
        (socket.AF_INET, "0.0.0.0", 80),
        (socket.AF_INET, "127.0.0.1", 8080),
        (socket.AF_INET, "127.0.0.1", 8081),
        (socket.AF_INET6, "::1", 8443),
        (socket.AF_INET, "0.0.0.0", 9000),
    }


def test_a_held_port_and_a_foreign_address_are_problems_but_inherited_listeners_are_not():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        new = f"frontend a\n    bind 127.0.0.1:{port}\n    bind 192.0.2.1:80\n"
        problems = preflight_problems(new, None)
        assert problems == [f"bind 127.0.0.1:{port} is already in use by another process", "bind 192.0.2.1:80 is not an address of this host"]
        # The live config already binds it: the new worker inherits the socket, so it is not a problem.
        assert preflight_problems(f"frontend a\n    bind 127.0.0.1:{port}\n", f"frontend a\n    bind 127.0.0.1:{port}\n") == []


def test_a_missing_chroot_is_a_problem(tmp_path):
    assert preflight_problems(CONFIG.format(chroot=tmp_path / "nope"), CONFIG.format(chroot="/")) == [
        f"chroot directory {tmp_path / 'nope'} does not exist"
    ]
    assert preflight_problems(f"global\n    chroot {tmp_path}\n", None) == []
