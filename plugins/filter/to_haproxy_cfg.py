# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The to_haproxy_cfg filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: to_haproxy_cfg
short_description: Render the one-hop HAProxy configuration for VAMP artifacts
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Renders C(haproxy.cfg) for the gateways of a blueprint or of standalone gateways, with one frontend per gateway,
    one backend per route target, scaling slots and health checks.
  - Route weights are not in C(haproxy.cfg) but in map files beside it, and condition strengths in ACL files beside
    it, so both change at runtime without a reload. Use P(drover.fleet.to_haproxy_maps#filter) for those files, or
    the C(drover.fleet.haproxy_routing) action, which renders and applies both.
options:
  _input:
    description:
      - The artifacts, as returned by P(drover.fleet.blueprint_load#filter), or YAML text, a path or a list of paths.
    type: raw
    required: true
  options:
    description:
      - Render settings, for example C(bind_address), C(admin_socket), C(server_state_file), C(dynamic_cookie_key),
        C(default_slots), C(log_target), C(stats_bind), C(template_path) (your own Jinja2 template).
    type: dict
    default: {}
  instances:
    description:
      - The running instances by service key C(<blueprint>/<cluster>/<breed name>), each a dict with C(slot),
        C(address) and C(port), and optionally C(name), C(host), C(version).
    type: dict
    default: {}
"""

EXAMPLES = r"""
---
- name: Render the configuration for a blueprint with no running instances
  ansible.builtin.copy:
    content: "{{ 'blueprints/sava.yml' | drover.fleet.to_haproxy_cfg(options={'bind_address': '127.0.0.1'}) }}"
    dest: /tmp/haproxy.cfg
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The text of C(haproxy.cfg).
  type: string
"""

from ansible_collections.drover.fleet.plugins.plugin_utils.rendering import render_files


def to_haproxy_cfg(source, options=None, instances=None) -> str:
    """The text of haproxy.cfg for the artifacts."""
    return render_files(source, options, instances)["haproxy.cfg"]


class FilterModule:
    """drover.fleet rendering filters."""

    def filters(self):
        return {"to_haproxy_cfg": to_haproxy_cfg}
