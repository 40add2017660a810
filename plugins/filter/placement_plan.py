# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The placement_plan filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: placement_plan
short_description: Plan which containers of a blueprint run where, in which HAProxy slot and on which host port
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Compares the desired state (the blueprint) with the containers found on the hosts
    (P(drover.fleet.fleet_instances#filter)) and returns a deterministic plan.
  - An instance keeps its slot, host and host port for as long as it is wanted. A new instance takes the lowest free
    slot and goes to the zone with the fewest instances of its service, then to the host with the fewest.
    Scaling in removes the highest slots first.
  - A plan computed against the fleet it produced has nothing to start or remove.
options:
  _input:
    description:
      - The artifacts, as P(drover.fleet.blueprint_load#filter) output, YAML text, a path or a list of paths.
    type: raw
    required: true
  hosts:
    description:
      - The hosts that may run containers. Either a list of hosts for every cluster, or a mapping of cluster name to
        such a list, where the key V(*) gives the hosts of the clusters not named.
      - Each host is a mapping with C(name) (the inventory name), C(address) (where HAProxy reaches it), C(zone) and
        C(ports_in_use) (TCP ports already listening there).
    type: raw
    required: true
  containers:
    description:
      - The drover containers running on the hosts, as P(drover.fleet.fleet_instances#filter) returns them.
    type: list
    elements: dict
    default: []
  blueprint:
    description:
      - The name of the blueprint to plan, or a list of names. By default every blueprint of the input.
      - Containers of other blueprints are left alone.
    type: raw
  port_range:
    description:
      - The host ports to allocate from, inclusive, as V(low-high) or a list of two numbers.
    type: raw
    default: 20000-29999
  desired_counts:
    description:
      - Instance counts by service key C(<blueprint>/<cluster>/<breed>) that override the scale's instances, for
        example the state kept by SLA autoscaling.
    type: dict
    default: {}
  default_slots:
    description:
      - HAProxy server slots of a service backend whose cluster has no SLA C(scale_instances) maximum.
      - Give the same value to the renderer.
    type: int
  state:
    description:
      - V(present) plans the blueprint; V(absent) plans its removal (every container of the planned blueprints goes).
      - V(current) plans a routing change only. Each service keeps the instances it runs, whatever its scale says, and
        nothing starts.
    type: str
    choices: [present, absent, current]
    default: present
"""

EXAMPLES = r"""
---
- name: Plan the blueprint against the containers found on the app hosts
  ansible.builtin.set_fact:
    drover_plan: >-
      {{ drover_artifacts | drover.fleet.placement_plan(hosts=app_hosts, containers=found_containers, blueprint='sava') }}
  vars:
    app_hosts:
      - {name: app1, address: 10.0.0.11, zone: zone-a, ports_in_use: [22]}
      - {name: app2, address: 10.0.0.12, zone: zone-b, ports_in_use: [22]}

- name: Show what would start and stop
  ansible.builtin.debug:
    msg:
      start: "{{ drover_plan.start | map(attribute='container_name') }}"
      remove: "{{ drover_plan.remove | map(attribute='container_name') }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    changed:
      description: Whether anything is to start or to be removed.
      type: bool
    instances:
      description:
        - Every container the blueprint wants, sorted by service and slot, with what the container engine needs
          (C(container_name), C(image), C(labels), C(environment), C(publish), C(cpus), C(memory)) and where it
          runs (C(host), C(address), C(zone), C(host_port), C(slot)).
        - C(action) is V(start) for a container to start and V(keep) for one already there.
        - C(ready_url) is where the load balancer checks readiness before the slot gets traffic (null without a
          health check).
      type: list
      elements: dict
    start:
      description: The instances with C(action=start).
      type: list
      elements: dict
    keep:
      description: The instances with C(action=keep).
      type: list
      elements: dict
    remove:
      description:
        - Containers to remove, highest slots first, each with C(host), C(container_name), C(slot), C(reason), and the
          C(address) and C(host_port) whose HAProxy servers must be drained first.
      type: list
      elements: dict
    services:
      description: Every service with its key, slot count, desired count, HAProxy backends and container names.
      type: list
      elements: dict
    renderer_instances:
      description:
        - Every planned instance by service key, the form P(drover.fleet.haproxy_routing#module) takes.
        - A breed with several ports also has C(<key>/<port name>) entries.
      type: dict
    running_instances:
      description: Like RV(_value.renderer_instances), with only the instances already running (C(action=keep)).
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.module_utils.fleet.placement import (
    DEFAULT_PORT_RANGE, PlacementOptions, candidates_from_data, plan_data, plan_placement, running_from_data,
)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.sources import load_source
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def _port_range(value) -> tuple:
    if isinstance(value, str):
        low, sep, high = value.partition("-")
        if sep and low.strip().isdigit() and high.strip().isdigit():
            return int(low), int(high)
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        try:
            return int(value[0]), int(value[1])
        except (TypeError, ValueError):
            pass
    raise AnsibleFilterError(f"drover.fleet.placement_plan: port_range must be 'low-high' or [low, high], not {value!r}")


def _blueprints(value) -> list | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value):
        return list(value)
    raise AnsibleFilterError(f"drover.fleet.placement_plan: blueprint must be a name or a list of names, not {value!r}")


def placement_plan(source, hosts, containers=None, blueprint=None, port_range="%d-%d" % DEFAULT_PORT_RANGE, desired_counts=None, default_slots=None,
                   state="present"):
    """The placement plan of `source` on `hosts`, given the `containers` running there."""
    if state not in ("present", "absent", "current"):
        raise AnsibleFilterError(f"drover.fleet.placement_plan: state must be present, absent or current, not {state!r}")
    if isinstance(hosts, list):
        hosts = {"*": hosts}
    if not isinstance(hosts, dict):
        raise AnsibleFilterError(f"drover.fleet.placement_plan: hosts must be a list of hosts or a mapping of cluster to hosts, not {type(hosts).__name__}")
    if containers is not None and not isinstance(containers, list):
        raise AnsibleFilterError(f"drover.fleet.placement_plan: containers must be a list, not {type(containers).__name__}")
    if desired_counts is not None and not isinstance(desired_counts, dict):
        raise AnsibleFilterError(f"drover.fleet.placement_plan: desired_counts must be a mapping, not {type(desired_counts).__name__}")
    with filter_errors("drover.fleet.placement_plan: ", also=(ValueError,)):
        options = PlacementOptions(
            port_range=_port_range(port_range),
            default_slots=int(default_slots) if default_slots not in (None, "") else None,
            desired_counts={str(key): int(count) for key, count in (desired_counts or {}).items()},
            absent=state == "absent",
            current=state == "current",
        )
        plan = plan_placement(load_source(source), candidates_from_data(hosts), running_from_data(containers), _blueprints(blueprint), options)
    return plan_data(plan)


class FilterModule:
    """drover.fleet placement filter."""

    def filters(self):
        return {"placement_plan": placement_plan}
