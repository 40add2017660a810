# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drover instances among the containers a container engine reports on one host: the hosts are the source of truth.

Reads the shapes podman and docker give: the inspect form (`podman inspect`, containers.podman.podman_container_info,
community.docker.docker_container_info) and docker's list form (community.docker.docker_host_info with
verbose_output). A drover container is one with a `drover.blueprint` label; the others are left alone.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.fleet.placement import (
    LABEL_BLUEPRINT, LABEL_CLUSTER, LABEL_SERVICE, LABEL_VERSION, RunningContainer,
)


def _name(container: dict) -> str:
    """`Name` (inspect form) or the first of `Names` (list form), without docker's leading `/`."""
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
    """Container port -> host port of the published TCP ports, from the inspect form (`8080/tcp: [{HostPort}]`) or the
    list form (`Ports: [{PrivatePort, PublicPort, Type}]`)."""
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


def find_instances(containers: list, host: str, address: str | None = None, blueprints: list | None = None) -> list:
    """The drover instances among `containers` (mappings as the engine reports them) of `host`, reached on `address`
    (default: `host`), of `blueprints` when given, as plain data sorted by name: what `placement_plan` takes."""
    found = []
    for item in containers:
        labels = _labels(item)
        if LABEL_BLUEPRINT not in labels or (blueprints is not None and labels[LABEL_BLUEPRINT] not in blueprints):
            continue
        container = RunningContainer(host=host, name=_name(item), labels=labels, ports=_ports(item),
                                     image=_image(item), running=_running(item), address=address or host)
        found.append({
            "host": container.host, "address": container.address, "name": container.name, "id": item.get("Id"),
            "image": container.image, "running": container.running, "labels": labels,
            "ports": {str(port): host_port for port, host_port in sorted(container.ports.items())},
            "blueprint": container.blueprint, "cluster": labels.get(LABEL_CLUSTER), "service": labels.get(LABEL_SERVICE),
            "version": labels.get(LABEL_VERSION), "slot": container.slot, "key": container.key, "host_port": container.host_port,
        })
    return sorted(found, key=lambda entry: entry["name"])


__all__ = ["find_instances"]
