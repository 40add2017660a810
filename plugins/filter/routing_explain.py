# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The routing_explain filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: routing_explain
short_description: Say which requests go to which route, with what probability
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - For every gateway of the artifacts, the routing as data and as plain sentences - the conditions with their
    strengths, the weight split of everything else, and the stickiness. C(drover explain) prints the same.
options:
  _input:
    description:
      - The artifacts, as returned by P(drover.fleet.blueprint_load#filter), or YAML text, a path or a list of paths.
    type: raw
    required: true
"""

EXAMPLES = r"""
---
- name: Print how a blueprint routes
  ansible.builtin.debug:
    msg: "{{ (drover_blueprint | drover.fleet.routing_explain) | map(attribute='statements') | flatten }}"
"""

RETURN = r"""
_value:
  description: One entry per gateway.
  type: list
  elements: dict
  contains:
    gateway:
      description: The gateway, as C(<blueprint or gateway name>/<port>).
      type: string
    port:
      description: The port it listens on.
      type: int
    sticky:
      description: C(route), C(instance) or null.
      type: string
    conditions:
      description: The condition rules in order, each with its route, conditions, strengths and probability.
      type: list
      elements: dict
    weights:
      description: The weight split of the requests no condition took, each with route, target and percent.
      type: list
      elements: dict
    statements:
      description: The same in plain words.
      type: list
      elements: string
"""

from ansible_collections.drover.fleet.plugins.module_utils.routing.explain import explain
from ansible_collections.drover.fleet.plugins.module_utils.dsl.sources import load_source
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def routing_explain(source) -> list:
    """The routing of every gateway, as data and sentences."""
    with filter_errors():
        return explain(load_source(source))


class FilterModule:
    """drover.fleet routing filters."""

    def filters(self):
        return {"routing_explain": routing_explain}
