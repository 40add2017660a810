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

from ansible_collections.drover.fleet.plugins.module_utils.fleet.placement import (
    LABEL_BLUEPRINT, LABEL_CLUSTER, LABEL_SERVICE, LABEL_VERSION, RunningContainer,
)


def _name(container: dict) -> str:
    name = container.get("Name")
    if not name and container.get("Names"):
        name = container["Names"][0]
    return str(name or "").lstrip("/")


def _labels(container: dict) -> dict:
    labels = (container.get("Config") or {}).get("Labels")
    if labels is None:
        labels = container.get("Labels")
    return {str(key): str(value) for key, value in (labels or {}).items()}


def _ports(container: dict) -> dict:
    """Container port -> host port, from the inspect form (`8080/tcp: [{HostPort}]`) or the list form."""
    ports = {}
    if isinstance(container.get("Ports"), list):
        for item in container["Ports"]:
            if item.get("PublicPort") and item.get("Type", "tcp") == "tcp":
                ports[int(item["PrivatePort"])] = int(item["PublicPort"])
        return ports
    bindings = (container.get("HostConfig") or {}).get("PortBindings") or (container.get("NetworkSettings") or {}).get("Ports") or {}
    for spec, targets in bindings.items():
        number, protocol = (str(spec).split("/", 1) + [""])[:2]
        if protocol not in ("", "tcp") or not number.isdigit():
            continue
        for target in targets or []:
            if str(target.get("HostPort") or "").isdigit():
                ports[int(number)] = int(target["HostPort"])
                break
    return ports


def _running(container: dict) -> bool:
    state = container.get("State")
    if isinstance(state, dict):
        return bool(state.get("Running"))
    return str(state or "").lower() == "running"


def _image(container: dict) -> str | None:
    return container.get("ImageName") or (container.get("Config") or {}).get("Image") or container.get("Image")


def fleet_instances(containers, host, address=None, blueprint=None):
    """The drover instances among `containers`, the containers of `host`."""
    if not isinstance(containers, list) or not all(isinstance(item, dict) for item in containers):
        raise AnsibleFilterError("drover.fleet.fleet_instances expects a list of containers (mappings) as a container engine reports them")
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("drover.fleet.fleet_instances needs host=<inventory name>")
    wanted = [blueprint] if isinstance(blueprint, str) else blueprint
    if wanted is not None and not isinstance(wanted, (list, tuple)):
        raise AnsibleFilterError(f"drover.fleet.fleet_instances: blueprint must be a name or a list of names, not {blueprint!r}")
    found = []
    for item in containers:
        labels = _labels(item)
        if LABEL_BLUEPRINT not in labels or (wanted is not None and labels[LABEL_BLUEPRINT] not in wanted):
            continue
        container = RunningContainer(host=host, name=_name(item), labels=labels, ports=_ports(item), image=_image(item),
                                     running=_running(item), address=address or host)
        found.append({
            "host": container.host, "address": container.address, "name": container.name, "id": item.get("Id"),
            "image": container.image, "running": container.running, "labels": labels,
            "ports": {str(port): host_port for port, host_port in sorted(container.ports.items())},
            "blueprint": container.blueprint, "cluster": labels.get(LABEL_CLUSTER), "service": labels.get(LABEL_SERVICE),
            "version": labels.get(LABEL_VERSION), "slot": container.slot, "key": container.key, "host_port": container.host_port,
        })
    return sorted(found, key=lambda entry: entry["name"])


class FilterModule:
    """drover.fleet fleet filter."""

    def filters(self):
        return {"fleet_instances": fleet_instances}
