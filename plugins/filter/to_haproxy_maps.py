# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The to_haproxy_maps filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: to_haproxy_maps
short_description: Render the route-weight maps and condition-strength files that go beside haproxy.cfg
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Returns the map files that hold the route weights of every gateway, and the ACL files (C(*.acl)) that hold the
    strength of each condition below 100% and, for a gateway of three routes or more or one that chooses among
    clusters, the routes that have a weight
    (C(<frontend>.weighted.acl), read by its last-resort rules), by path relative to C(haproxy.cfg).
  - A change of weights or strengths alters these files and leaves C(haproxy.cfg) as it was, so it is applied at
    runtime. A strength that becomes or stops being 100% changes C(haproxy.cfg) (at 100% there is no draw).
options:
  _input:
    description:
      - The artifacts, as returned by P(drover.fleet.blueprint_load#filter), or YAML text, a path or a list of paths.
    type: raw
    required: true
  options:
    description: Render settings, as for P(drover.fleet.to_haproxy_cfg#filter).
    type: dict
    default: {}
"""

EXAMPLES = r"""
---
- name: Write the weight maps beside the configuration
  ansible.builtin.copy:
    content: "{{ item.value }}"
    dest: "/etc/haproxy/{{ item.key }}"
    mode: "0644"
  loop: "{{ drover_artifacts | drover.fleet.to_haproxy_maps | dict2items }}"
"""

RETURN = r"""
_value:
  description: File contents by relative path, for example C(maps/fe_sava_9050_5b45d3.map) and C(maps/fe_sava_9050_5b45d3.c1_2.acl).
  type: dict
"""

from ansible_collections.drover.fleet.plugins.plugin_utils.rendering import render_files


def to_haproxy_maps(source, options=None) -> dict:
    """The weight maps and strength files for the artifacts."""
    return {name: text for name, text in render_files(source, options).items() if name != "haproxy.cfg"}


class FilterModule:
    """drover.fleet rendering filters."""

    def filters(self):
        return {"to_haproxy_maps": to_haproxy_maps}
