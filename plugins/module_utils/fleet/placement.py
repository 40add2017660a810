# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Placement: which containers of a blueprint should run on which hosts, in which HAProxy slots, on which host ports.

The hosts are the source of truth: the running containers (read from their labels) come in, the blueprint is the
desired state, and the plan says what to keep, what to start and what to remove. The plan is deterministic and
stable: an instance keeps its slot, host and host port for as long as it is wanted; a new instance takes the lowest
free slot and goes to the least-loaded zone, then the least-loaded host; scaling in removes the highest slots
first. A plan computed against the fleet it produced has nothing to start or remove.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet, Blueprint, Breed, Cluster, Instance, Reference, Scale, Service
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import DEFAULT_SLOTS, all_backends
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import plan as routing_plan

LABEL_BLUEPRINT = "drover.blueprint"
LABEL_CLUSTER = "drover.cluster"
LABEL_SERVICE = "drover.service"
LABEL_VERSION = "drover.version"
LABEL_INSTANCE = "drover.instance"
LABEL_SLOT = "drover.slot"
LABEL_PORT = "drover.port"

DEFAULT_PORT_RANGE = (20000, 29999)
DEFAULT_ZONE = "default"
# podman and docker accept container names matching [a-zA-Z0-9][a-zA-Z0-9_.-]*
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 200


class PlacementError(DroverError):
    """The fleet cannot hold what the blueprint asks for (no hosts, no free ports, more instances than slots)."""


@dataclass(frozen=True)
class HostCandidate:
    """A host that may run a cluster's containers: its inventory name, the address HAProxy reaches it on, its zone
    and the TCP ports already listening there (any process, drover's or not)."""

    name: str
    address: str
    zone: str = DEFAULT_ZONE
    ports_in_use: frozenset = frozenset()


@dataclass
class RunningContainer:
    """A drover container found on a host, from its labels and published ports (`fleet_instances` builds these).
    `ports` maps each published container port to its host port."""

    host: str
    name: str
    labels: dict = field(default_factory=dict)
    ports: dict = field(default_factory=dict)
    image: str | None = None
    running: bool = True
    # the host's address, where HAProxy reaches the container's published ports
    address: str | None = None

    @property
    def blueprint(self) -> str | None:
        return self.labels.get(LABEL_BLUEPRINT)

    @property
    def cluster(self) -> str | None:
        return self.labels.get(LABEL_CLUSTER)

    @property
    def service(self) -> str | None:
        return self.labels.get(LABEL_SERVICE)

    @property
    def key(self) -> str:
        return service_key(self.blueprint or "", self.cluster or "", self.service or "")

    @property
    def slot(self) -> int | None:
        text = str(self.labels.get(LABEL_SLOT, ""))
        return int(text) if text.isdigit() and int(text) > 0 else None

    @property
    def container_port(self) -> int | None:
        text = str(self.labels.get(LABEL_PORT, ""))
        return int(text) if text.isdigit() else None

    @property
    def host_port(self) -> int | None:
        """The host port of the labelled (primary) container port."""
        return self.ports.get(self.container_port) if self.container_port is not None else None


@dataclass
class PlannedInstance:
    """One container the plan wants to run, with everything the deploy role passes to the container engine."""

    key: str
    blueprint: str
    cluster: str
    service: str
    slot: int
    host: str
    address: str
    zone: str
    container_name: str
    image: str
    version: str
    container_port: int
    host_port: int
    # every published container port -> host port; `container_port` is the primary one HAProxy sends traffic to
    ports: dict = field(default_factory=dict)
    # breed port name -> container port
    port_names: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    cpus: float | None = None
    memory_mb: float | None = None
    # where the load balancer checks readiness before it hands over the slot (None: only wait for the TCP port)
    ready_path: str | None = None
    ready_port: int | None = None
    action: str = "keep"

    @property
    def memory(self) -> str | None:
        """The memory limit as the container engines write it (`128m`); at least 6 MiB, podman's minimum."""
        if self.memory_mb is None:
            return None
        return f"{max(6, int(round(self.memory_mb)))}m"

    @property
    def publish(self) -> list[str]:
        """`host:container` port mappings, primary port first."""
        ordered = [self.container_port] + sorted(port for port in self.ports if port != self.container_port)
        return [f"{self.ports[port]}:{port}" for port in ordered]

    @property
    def ready_url(self) -> str | None:
        if self.ready_path is None:
            return None
        return f"http://{self.address}:{self.ready_port or self.host_port}{self.ready_path}"

    def instance(self, port_name: str | None = None) -> Instance:
        """The HAProxy server slot this instance fills, as the renderer takes it: for the primary port, or the named one."""
        port = self.host_port if port_name is None else self.ports[self.port_names[port_name]]
        return Instance(slot=self.slot, address=self.address, port=port, name=self.container_name, host=self.host, version=self.version)


@dataclass
class Removal:
    """A container the plan removes. The deploy role first drains the HAProxy servers that point at
    `address:host_port` (found by address, so that even a service gone from the blueprint is drained)."""

    key: str
    host: str
    container_name: str
    slot: int | None
    reason: str
    address: str | None = None
    host_port: int | None = None

    @classmethod
    def of(cls, container: RunningContainer, reason: str, key: str | None = None, slot: int | None = None) -> "Removal":
        return cls(key or container.key, container.host, container.name, slot if slot is not None else container.slot, reason,
                   container.address, container.host_port)


@dataclass
class ServicePlan:
    key: str
    blueprint: str
    cluster: str
    service: str
    slots: int
    desired: int
    # the HAProxy backends that hold this service's slots (none when no gateway routes to it)
    backends: list = field(default_factory=list)
    instances: list = field(default_factory=list)


@dataclass
class Plan:
    """The whole plan. `services` lists every service of the blueprint(s), `remove` every container to go."""

    services: list = field(default_factory=list)
    remove: list = field(default_factory=list)

    @property
    def instances(self) -> list:
        return [instance for service in self.services for instance in service.instances]

    @property
    def start(self) -> list:
        return [instance for instance in self.instances if instance.action == "start"]

    @property
    def keep(self) -> list:
        return [instance for instance in self.instances if instance.action == "keep"]

    @property
    def changed(self) -> bool:
        return bool(self.start or self.remove)

    def renderer_instances(self, actions: tuple = ("keep", "start")) -> dict:
        """`{"<blueprint>/<cluster>/<service>": [Instance, ...]}`, the form `haproxy/render.py` takes, for the
        instances with the given actions (`("keep",)`: only those running already). A breed with several ports also
        gets `<key>/<port name>` entries, so each port's backend reaches that port's host port."""
        found = {}
        for service in self.services:
            chosen = [planned for planned in service.instances if planned.action in actions]
            found[service.key] = [planned.instance() for planned in chosen]
            names = service.instances[0].port_names if service.instances else {}
            if len(names) > 1:
                for name in names:
                    found[f"{service.key}/{name}"] = [planned.instance(name) for planned in chosen]
        return found


@dataclass
class PlacementOptions:
    """`port_range` is inclusive. `desired_counts` overrides a service's instance count by key (the SLA engine's
    scaling state); `slots` overrides its HAProxy slot count, which otherwise follows `slot_count`."""

    port_range: tuple = DEFAULT_PORT_RANGE
    default_slots: int | None = None
    desired_counts: dict = field(default_factory=dict)
    slots: dict = field(default_factory=dict)
    name_prefix: str = "drover"
    # undeploy: every container of the planned blueprints goes, nothing starts
    absent: bool = False
    # routing changes only: each service keeps the instances it runs, whatever its scale says; nothing starts
    current: bool = False


def service_key(blueprint: str, cluster: str, service: str) -> str:
    """The key that names a service's backend everywhere: `<blueprint>/<cluster>/<breed name>`."""
    return f"{blueprint}/{cluster}/{service}"


def container_name(blueprint: str, cluster: str, service: str, slot: int, prefix: str = "drover") -> str:
    """`drover-<blueprint>-<cluster>-<service>-<slot>`, with anything a container engine refuses replaced by `_`."""
    parts = [prefix, blueprint, cluster, service]
    name = "-".join(_NAME_UNSAFE.sub("_", part).strip("_") or "x" for part in parts)
    return f"{name[:_MAX_NAME]}-{slot}"


def image_version(image: str) -> str:
    """The tag of an image reference (`localhost/drover-demo:1.1` -> `1.1`); `latest` when it has none."""
    reference = image.split("://", 1)[-1].split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else "latest"


def plan_placement(artifacts: ArtifactSet, candidates: dict, running: list, blueprints: list | None = None,
                   options: PlacementOptions | None = None) -> Plan:
    """The plan for `blueprints` (default: every blueprint in `artifacts`).

    `candidates` maps a cluster name to the HostCandidates that may run it; the key `*` gives the hosts of every
    cluster not named. `running` holds the RunningContainers found on the hosts; containers of other blueprints are
    left alone. Raises PlacementError when a cluster has no host, a host runs out of ports or a service wants more
    instances than it has slots.
    """
    options = options or PlacementOptions()
    _check_port_range(options.port_range)
    names = sorted(artifacts.blueprints) if blueprints is None else list(blueprints)
    missing = [name for name in names if name not in artifacts.blueprints]
    if missing:
        raise PlacementError(f"no blueprint named {', '.join(missing)}; the artifacts hold: {', '.join(sorted(artifacts.blueprints)) or 'none'}")
    ports = _PortBook(options.port_range, candidates, running)
    backends = backend_slots(artifacts, options.default_slots)
    # drover containers per host, every blueprint's: new instances go where fewer run
    fleet_load: dict = {}
    for container in running:
        fleet_load[container.host] = fleet_load.get(container.host, 0) + 1
    plan = Plan()
    wanted_keys = set()
    for blueprint in (artifacts.blueprints[name] for name in names):
        for cluster in blueprint.clusters:
            hosts = _cluster_hosts(candidates, blueprint, cluster)
            for service in cluster.services:
                spec = _ServiceSpec.build(artifacts, blueprint, cluster, service, options, backends)
                wanted_keys.add(spec.key)
                mine = [container for container in running if container.key == spec.key]
                plan.services.append(_plan_service(spec, hosts, mine, ports, fleet_load, plan.remove, options))
    for container in sorted(running, key=lambda item: (item.host, item.name)):
        if container.blueprint in names and container.key not in wanted_keys:
            plan.remove.append(Removal.of(container, "service no longer in the blueprint"))
    plan.remove.sort(key=lambda removal: (removal.key, -(removal.slot or 0), removal.host, removal.container_name))
    _check_unique_names(plan)
    return plan


def _check_unique_names(plan: Plan) -> None:
    """Two services whose names differ only in characters a container name cannot hold would share names."""
    seen: dict = {}
    for instance in plan.instances:
        other = seen.setdefault(instance.container_name, instance.key)
        if other != instance.key:
            raise PlacementError(f"services {other} and {instance.key} both give container name {instance.container_name}; rename one")


def backend_slots(artifacts: ArtifactSet, default_slots: int | None = None) -> dict:
    """`{service key: (slots, [backend names])}` from the routing plan, so that placement and the renderer agree on
    how many server slots each service backend has and the deploy role knows which backends to drain."""
    found: dict = {}
    for backend in all_backends(routing_plan(artifacts, default_slots or DEFAULT_SLOTS)):
        if backend.instance_key is None:
            continue
        slots, names = found.get(backend.instance_key, (0, []))
        found[backend.instance_key] = (max(slots, backend.slots), names + [backend.name])
    return found


@dataclass
class _ServiceSpec:
    """What one service of a cluster asks for, with references resolved."""

    key: str
    blueprint: str
    cluster: str
    breed: Breed
    scale: Scale | None
    desired: int
    slots: int
    backends: list
    environment: dict
    ready_path: str | None
    ready_port: int | None

    @property
    def port_names(self) -> dict:
        return {port.name: port.number for port in self.breed.ports if port.number is not None}

    @classmethod
    def build(cls, artifacts: ArtifactSet, blueprint: Blueprint, cluster: Cluster, service: Service, options: PlacementOptions,
              backends: dict) -> "_ServiceSpec":
        breed = _resolve(artifacts.breeds, service.breed, "breed")
        scale = _resolve(artifacts.scales, service.scale, "scale") if service.scale is not None else None
        key = service_key(blueprint.name, cluster.name, breed.name)
        if not breed.ports or breed.ports[0].number is None:
            raise PlacementError(f"{key}: breed {breed.name} has no port to publish")
        desired = options.desired_counts.get(key)
        desired = int(desired) if desired is not None else (scale.instances if scale else 1)
        if options.absent:
            desired = 0
        # a service no gateway routes to has no backend: its slots only number its containers
        slots, backend_names = backends.get(key, (max(desired, options.default_slots or DEFAULT_SLOTS), []))
        slots = options.slots.get(key) or slots
        if desired > slots:
            raise PlacementError(f"{key}: {desired} instances wanted but the backend has {slots} slots; raise the SLA's scale_instances maximum")
        if desired < 0:
            raise PlacementError(f"{key}: the instance count cannot be negative (found {desired})")
        environment = {breed.env_aliases.get(name, name): str(value) for name, value in breed.environment_variables.items()}
        environment.update({name: str(value) for name, value in service.environment_variables.items()})
        checks = service.health_checks if service.health_checks is not None else cluster.health_checks
        checks = checks if checks is not None else breed.health_checks
        ready_path = ready_port = None
        if checks:
            check = checks[0]
            ready_path = check.path if check.path.startswith("/") else "/" + check.path
            port = breed.port(check.port) if check.port else breed.ports[0]
            ready_port = port.number if port is not None else None
        return cls(key, blueprint.name, cluster.name, breed, scale, desired, slots, backend_names, environment, ready_path, ready_port)

    @property
    def container_ports(self) -> list[int]:
        return [port.number for port in self.breed.ports if port.number is not None]


def _resolve(table: dict, value, kind: str):
    if isinstance(value, Reference):
        found = table.get(value.name)
        if found is None:
            raise PlacementError(f"unresolved {kind} reference {value.name!r} at {value.origin.location()}")
        return found
    return value


def _cluster_hosts(candidates: dict, blueprint: Blueprint, cluster: Cluster) -> list[HostCandidate]:
    hosts = candidates.get(cluster.name, candidates.get("*")) or []
    names = [host.name for host in hosts]
    if len(set(names)) != len(names):
        raise PlacementError(f"{blueprint.name}/{cluster.name}: a host is listed twice among its candidates")
    return sorted(hosts, key=lambda host: host.name)


def _check_port_range(port_range) -> None:
    low, high = port_range
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= 65535):
        raise PlacementError(f"the host port range must be two port numbers low <= high, not {low}-{high}")


class _PortBook:
    """Host ports taken on each host: listening sockets, ports published by any container, and those handed out."""

    def __init__(self, port_range: tuple, candidates: dict, running: list):
        self.low, self.high = port_range
        self.taken: dict = {}
        for hosts in candidates.values():
            for host in hosts:
                self.taken.setdefault(host.name, set()).update(int(port) for port in host.ports_in_use)
        for container in running:
            self.taken.setdefault(container.host, set()).update(int(port) for port in container.ports.values() if port)

    def allocate(self, host: str) -> int:
        taken = self.taken.setdefault(host, set())
        for port in range(self.low, self.high + 1):
            if port not in taken:
                taken.add(port)
                return port
        raise PlacementError(f"host {host} has no free port left in {self.low}-{self.high}")


def _plan_service(spec: _ServiceSpec, hosts: list, mine: list, ports: _PortBook, fleet_load: dict, removals: list,
                  options: PlacementOptions) -> ServicePlan:
    by_name = {host.name: host for host in hosts}
    kept: dict = {}
    holding: set = set()
    # a slot holder must be on a candidate host, in the slot range and publish its primary port; among duplicates the
    # running one on the first host wins
    for container in sorted(mine, key=lambda item: (not item.running, item.host, item.name)):
        reason = _unusable(container, spec, by_name, kept, options.name_prefix)
        if reason:
            removals.append(Removal.of(container, reason, spec.key))
            if container.slot is not None:
                holding.add(container.slot)
        else:
            kept[container.slot] = container
    if options.current:
        spec.desired = len(kept)
    for slot in sorted(kept, reverse=True)[:max(0, len(kept) - spec.desired)]:
        container = kept.pop(slot)
        removals.append(Removal.of(container, "undeploy" if options.absent else "scale in", spec.key, slot))
    service = ServicePlan(spec.key, spec.blueprint, spec.cluster, spec.breed.name, spec.slots, spec.desired, list(spec.backends))
    for slot, container in sorted(kept.items()):
        host = by_name[container.host]
        published = {port: container.ports[port] for port in spec.container_ports if port in container.ports}
        for port in spec.container_ports:
            published.setdefault(port, ports.allocate(host.name))
        service.instances.append(_instance(spec, slot, host, published, options, "keep"))
    # a slot still held by a container on its way out is only reused when no other slot is free, so that it is
    # drained before anything else takes its place
    free = [slot for slot in range(1, spec.slots + 1) if slot not in kept]
    free.sort(key=lambda slot: (slot in holding, slot))
    missing = free[:spec.desired - len(kept)]
    if missing and not hosts:
        raise PlacementError(f"{spec.key}: no host may run cluster {spec.cluster}; give it a host group")
    for slot in missing:
        host = _least_loaded(hosts, service.instances, fleet_load)
        fleet_load[host.name] = fleet_load.get(host.name, 0) + 1
        published = {port: ports.allocate(host.name) for port in spec.container_ports}
        service.instances.append(_instance(spec, slot, host, published, options, "start"))
    service.instances.sort(key=lambda planned: planned.slot)
    return service


def _unusable(container: RunningContainer, spec: _ServiceSpec, hosts: dict, kept: dict, prefix: str) -> str | None:
    if container.host not in hosts:
        return "host is no longer in the cluster's group"
    if container.slot is None or container.slot > spec.slots:
        return f"slot {container.labels.get(LABEL_SLOT)!r} is outside 1-{spec.slots}"
    if container.slot in kept:
        return f"slot {container.slot} is already held by {kept[container.slot].name} on {kept[container.slot].host}"
    if container.container_port not in spec.container_ports or container.host_port is None:
        return "it does not publish the service's port"
    if container.name != container_name(spec.blueprint, spec.cluster, spec.breed.name, container.slot, prefix):
        return "its name does not match its labels"
    return None


def _least_loaded(hosts: list, placed: list, fleet_load: dict) -> HostCandidate:
    """The host for a new instance: the zone with the fewest instances of this service, then the zone with the fewest
    drover containers of any service, then within it the host with the fewest instances of this service, then the host
    with the fewest containers; names break ties."""
    zone_load: dict = {}
    zone_fleet: dict = {}
    host_load: dict = {}
    for host in hosts:
        zone_load.setdefault(host.zone, 0)
        zone_fleet[host.zone] = zone_fleet.get(host.zone, 0) + fleet_load.get(host.name, 0)
        host_load[host.name] = 0
    for instance in placed:
        zone_load[instance.zone] = zone_load.get(instance.zone, 0) + 1
        host_load[instance.host] = host_load.get(instance.host, 0) + 1
    return min(hosts, key=lambda host: (zone_load[host.zone], zone_fleet[host.zone], host.zone, host_load[host.name],
                                        fleet_load.get(host.name, 0), host.name))


def _instance(spec: _ServiceSpec, slot: int, host: HostCandidate, published: dict, options: PlacementOptions, action: str) -> PlannedInstance:
    name = container_name(spec.blueprint, spec.cluster, spec.breed.name, slot, options.name_prefix)
    primary = spec.container_ports[0]
    version = image_version(spec.breed.deployable)
    labels = {
        LABEL_BLUEPRINT: spec.blueprint,
        LABEL_CLUSTER: spec.cluster,
        LABEL_SERVICE: spec.breed.name,
        LABEL_VERSION: version,
        LABEL_INSTANCE: name,
        LABEL_SLOT: str(slot),
        LABEL_PORT: str(primary),
    }
    ready_port = published.get(spec.ready_port) if spec.ready_port is not None else None
    return PlannedInstance(
        key=spec.key, blueprint=spec.blueprint, cluster=spec.cluster, service=spec.breed.name, slot=slot, host=host.name,
        address=host.address, zone=host.zone, container_name=name, image=spec.breed.deployable.split("://", 1)[-1],
        version=version, container_port=primary, host_port=published[primary], ports=published, port_names=spec.port_names, labels=labels,
        environment=dict(spec.environment), cpus=spec.scale.cpu if spec.scale else None,
        memory_mb=spec.scale.memory_mb if spec.scale else None, ready_path=spec.ready_path, ready_port=ready_port, action=action,
    )


def plan_data(plan: Plan) -> dict:
    """The plan as plain data for Ansible: what the deploy role loops over and what `--check --diff` shows."""
    instances = [_instance_data(instance) for instance in plan.instances]
    return {
        "changed": plan.changed,
        "instances": instances,
        "start": [item for item in instances if item["action"] == "start"],
        "keep": [item for item in instances if item["action"] == "keep"],
        "remove": [dict(vars(removal)) for removal in plan.remove],
        "services": [
            {"key": service.key, "blueprint": service.blueprint, "cluster": service.cluster, "service": service.service,
             "slots": service.slots, "desired": service.desired, "backends": service.backends,
             "instances": [planned.container_name for planned in service.instances]}
            for service in plan.services
        ],
        "renderer_instances": _instances_data(plan.renderer_instances()),
        "running_instances": _instances_data(plan.renderer_instances(("keep",))),
    }


def _instances_data(instances: dict) -> dict:
    return {key: [dict(vars(instance)) for instance in value] for key, value in instances.items()}


def _instance_data(instance: PlannedInstance) -> dict:
    data = dict(vars(instance))
    data["ports"] = {str(port): host_port for port, host_port in instance.ports.items()}
    data["labels"] = dict(instance.labels)
    data["environment"] = dict(instance.environment)
    data["memory"] = instance.memory
    data["publish"] = instance.publish
    data["ready_url"] = instance.ready_url
    return data


def drain_servers(plan: dict, servers: list) -> list:
    """The load balancer's servers (haproxy_info's `servers`: backend, server, address, port, state) that point at a
    container the plan (`plan_data`) removes, found by `address:host_port`, so that even a service gone from the
    blueprint is drained. Each comes with `drain`: false for a server in maintenance already, which only has to stay
    there. The deploy role drains those with `drain`, then puts all of them in maintenance, before the containers go."""
    if not isinstance(plan, dict) or not isinstance(plan.get("remove", []), list):
        raise PlacementError(f"the plan must be placement_plan's result, a mapping with a list `remove`, not {type(plan).__name__}")
    if not isinstance(servers, list) or not all(isinstance(server, dict) for server in servers):
        raise PlacementError("the servers must be a list of mappings with backend, server, address, port and state (haproxy_info's servers)")
    removed = {(removal.get("address"), _port(removal.get("host_port"))) for removal in plan.get("remove", []) if isinstance(removal, dict)}
    return [
        {"backend": server.get("backend"), "server": server.get("server"), "address": server.get("address"), "port": server.get("port"),
         "state": server.get("state"), "drain": server.get("state") != "maint"}
        for server in servers
        if (server.get("address"), _port(server.get("port"))) in removed
    ]


def _port(value) -> int | None:
    """A port as an int, whether it comes as a number or as text (a templated value)."""
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


def running_from_data(items) -> list[RunningContainer]:
    """RunningContainers from plain data (`fleet_instances` output): dicts with host, name, labels, ports, image, running."""
    containers = []
    for item in items or []:
        if not isinstance(item, dict) or not item.get("host") or not item.get("name"):
            raise PlacementError(f"a running container must be a mapping with host and name, not {item!r}")
        ports = {int(port): int(host_port) for port, host_port in (item.get("ports") or {}).items() if host_port not in (None, "")}
        containers.append(RunningContainer(host=str(item["host"]), name=str(item["name"]), labels=dict(item.get("labels") or {}), ports=ports,
                                           image=item.get("image"), running=bool(item.get("running", True)), address=item.get("address")))
    return containers


def candidates_from_data(data) -> dict:
    """Candidates from plain data: `{cluster or "*": [{name, address, zone, ports_in_use}, ...]}`."""
    if not isinstance(data, dict):
        raise PlacementError(f"the candidate hosts must be a mapping of cluster name to a list of hosts, not {type(data).__name__}")
    candidates = {}
    for cluster, hosts in data.items():
        if not isinstance(hosts, list):
            raise PlacementError(f"the candidate hosts of {cluster} must be a list, not {type(hosts).__name__}")
        candidates[str(cluster)] = [_candidate(host, cluster) for host in hosts]
    return candidates


def _candidate(host, cluster) -> HostCandidate:
    if not isinstance(host, dict) or not host.get("name"):
        raise PlacementError(f"a candidate host of {cluster} must be a mapping with at least a name, not {host!r}")
    return HostCandidate(name=str(host["name"]), address=str(host.get("address") or host["name"]), zone=str(host.get("zone") or DEFAULT_ZONE),
                         ports_in_use=frozenset(int(port) for port in host.get("ports_in_use") or ()))
