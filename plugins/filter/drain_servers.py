# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drain_servers filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: drain_servers
short_description: The load balancer's servers that point at the containers a placement plan removes
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Matches the servers a running HAProxy reports (RV(drover.fleet.haproxy_info#module:servers)) with the containers
    a placement plan removes (P(drover.fleet.placement_plan#filter), its C(remove)), by the address and host port
    HAProxy sends their traffic to. A service gone from the blueprint is found as well.
  - Each server comes with C(drain), false for a server in maintenance already, which only has to stay there.
options:
  _input:
    description: The plan, as P(drover.fleet.placement_plan#filter) returns it.
    type: dict
    required: true
  servers:
    description: The load balancer's servers, as RV(drover.fleet.haproxy_info#module:servers).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
---
- name: Read the load balancer's servers
  drover.fleet.haproxy_info:
    gather: [servers]
  register: haproxy

- name: Drain the servers of the containers the plan removes
  drover.fleet.haproxy_server:
    backend: "{{ item.backend }}"
    server: "{{ item.server }}"
    state: drain
    wait_for_drain: true
  loop: "{{ drover_plan | drover.fleet.drain_servers(haproxy.servers) | selectattr('drain') }}"
"""

RETURN = r"""
_value:
  description:
    - One entry per matching server, in the order of O(servers), with C(backend), C(server), C(address), C(port),
      C(state) and C(drain).
  type: list
  elements: dict
"""

from ansible_collections.drover.fleet.plugins.module_utils.fleet.placement import drain_servers as plan_drain
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def drain_servers(plan, servers):
    """The servers of `servers` that point at a container `plan` removes."""
    with filter_errors("drover.fleet.drain_servers: "):
        return plan_drain(plan, servers)


class FilterModule:
    """drover.fleet placement filter."""

    def filters(self):
        return {"drain_servers": drain_servers}
