# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The arguments of drover.fleet.haproxy_config, in one place.

The haproxy_routing action renders on the controller and passes the options below on to haproxy_config, so it takes
them from here (`passed_on_spec`) instead of typing them out again. The drover.fleet.haproxy_reload doc fragment
documents `reload_spec`, as drover.fleet.haproxy_socket documents the socket specs.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.module_args import ArgumentSpec, admin_socket_spec, master_socket_spec
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import SERVICE_MANAGERS


def reload_spec() -> ArgumentSpec:
    """Which haproxy.cfg, and how HAProxy reloads it; documented by the drover.fleet.haproxy_reload fragment."""
    return ArgumentSpec(
        {
            "path": {"type": "path", "default": "/etc/haproxy/haproxy.cfg"},
            "backup": {"type": "bool", "default": False},
            "reload": {"type": "bool", "default": True},
            "service_manager": {"type": "str", "default": "auto", "choices": list(SERVICE_MANAGERS)},
            "systemd_unit": {"type": "str", "default": "haproxy"},
            "reload_timeout": {"type": "float", "default": 30.0},
        }
    )


def passed_on_spec() -> ArgumentSpec:
    """The options a caller of haproxy_config (the haproxy_routing action) takes and passes on unchanged."""
    return reload_spec().merge(admin_socket_spec()).merge(master_socket_spec())


def config_argument_spec() -> ArgumentSpec:
    """The whole argument spec of haproxy_config."""
    spec = ArgumentSpec(
        {
            "content": {"type": "str"},
            "head": {"type": "str"},
            "parts": {"type": "dict"},
            "part_maps": {"type": "dict", "default": {}},
            "conflicts_only": {"type": "bool", "default": False},
            # no_log values are masked by AnsibleModule in all it returns, substrings of other values included
            "secrets": {"type": "list", "elements": "str", "default": [], "no_log": True},
            "maps": {"type": "dict", "default": {}},
            "validate_binary": {"type": "str", "default": "haproxy"},
            "preflight": {"type": "bool", "default": True},
            "state_dir": {"type": "path"},
            "server_state_file": {"type": "path"},
            "master_log": {"type": "path"},
            "debounce": {"type": "float", "default": 0.2},
            "debounce_max": {"type": "float", "default": 2.0},
            "lock_timeout": {"type": "float", "default": 120.0},
            "health_timeout": {"type": "float", "default": 60.0},
        },
        mutually_exclusive=[("content", "head"), ("content", "parts"), ("maps", "part_maps")],
        required_one_of=[("content", "head")],
        required_together=[("head", "parts")],
    )
    return spec.merge(passed_on_spec())
