# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet_instances filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_instances
short_description: Find the drover service instances among the containers of a host
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Reads the containers a container engine reports on one host and keeps those drover started, found by their
    C(drover.*) labels. The hosts are the source of truth about what runs.
  - Takes the C(containers) of M(containers.podman.podman_container_info), of
    M(community.docker.docker_container_info) (inspect form), or of M(community.docker.docker_host_info) with
    O(community.docker.docker_host_info#module:verbose_output=true) (list form).
  - The result feeds P(drover.fleet.placement_plan#filter).
options:
  _input:
    description: The containers of one host.
    type: list
    elements: dict
    required: true
  host:
    description: The inventory name of the host the containers run on.
    type: str
    required: true
  address:
    description: The address the load balancer reaches the host on. Defaults to O(host).
    type: str
  blueprint:
    description: Keep only the instances of this blueprint (a name or a list of names).
    type: raw
"""

EXAMPLES = r"""
---
- name: Read the containers of the host
  containers.podman.podman_container_info:
  register: _containers

- name: Keep the drover instances
  ansible.builtin.set_fact:
    drover_found: >-
      {{ _containers.containers | drover.fleet.fleet_instances(host=inventory_hostname, address=ansible_host) }}
"""

RETURN = r"""
_value:
  description:
    - One entry per drover container, sorted by name, with C(host), C(address), C(name), C(id), C(image), C(running),
      C(labels), C(ports) (container port to host port, as strings to numbers), and from the labels C(blueprint),
      C(cluster), C(service), C(version), C(slot), C(key) (C(<blueprint>/<cluster>/<service>)) and C(host_port) (the
      host port of the labelled C(drover.port)).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.module_utils.fleet.instances import find_instances
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def fleet_instances(containers, host, address=None, blueprint=None):
    """The drover instances among `containers`, the containers of `host`."""
    if not isinstance(containers, list) or not all(isinstance(item, dict) for item in containers):
        raise AnsibleFilterError("drover.fleet.fleet_instances expects a list of containers (mappings) as a container engine reports them")
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("drover.fleet.fleet_instances needs host=<inventory name>")
    wanted = [blueprint] if isinstance(blueprint, str) else blueprint
    if wanted is not None and not isinstance(wanted, (list, tuple)):
        raise AnsibleFilterError(f"drover.fleet.fleet_instances: blueprint must be a name or a list of names, not {blueprint!r}")
    with filter_errors("drover.fleet.fleet_instances: ", also=(ValueError, TypeError, AttributeError)):
        return find_instances(containers, host, address, list(wanted) if wanted is not None else None)


class FilterModule:
    """drover.fleet fleet filter."""

    def filters(self):
        return {"fleet_instances": fleet_instances}
