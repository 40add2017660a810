# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The artifact model: what the reader produces from VAMP's DSL and what the renderer, deployer and SLA engine read.

The reader keeps what the user wrote: an unset `weight` or `condition_strength` stays None, as in VAMP. The defaults
(routes without a weight share the remainder; strength is 100% when a condition is set) are applied by
`routing.py` when routing is computed. Every artifact carries the `Origin` it was read from, so later stages can
report errors at the right file, line and dotted path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin

HTTP = "http"
TCP = "tcp"


@dataclass
class Reference:
    """A named reference to an artifact defined elsewhere (`ref: name` or a bare name)."""

    kind: str
    name: str
    origin: Origin = field(default_factory=Origin)


@dataclass
class SlaReference(Reference):
    """A reference to a named SLA; VAMP lets it carry its own escalations (`sla: {ref: x, escalations: [...]}`)."""

    escalations: list = field(default_factory=list)


@dataclass
class Port:
    """A port: `web: 8080/http`. A value without a protocol is http."""

    name: str
    number: int | None
    protocol: str = HTTP
    origin: Origin = field(default_factory=Origin)
    # the value as written ("8080" or "8080/tcp"); VAMP's facts tell the two apart
    written: str | None = None

    @property
    def value(self) -> str:
        return f"{self.number}/{self.protocol}" if self.number is not None else ""


@dataclass
class HealthCheck:
    """An HTTP health check. Times are seconds. `port` names a breed port."""

    path: str = "/"
    port: str | None = None
    protocol: str = HTTP
    initial_delay: float = 0.0
    interval: float = 5.0
    timeout: float = 2.0
    failures: int = 3
    origin: Origin = field(default_factory=Origin)


@dataclass
class Breed:
    name: str
    deployable: str
    deployable_type: str | None = None
    ports: list[Port] = field(default_factory=list)
    environment_variables: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    dependencies: dict[str, "Breed | Reference"] = field(default_factory=dict)
    health_checks: list[HealthCheck] = field(default_factory=list)
    origin: Origin = field(default_factory=Origin)
    # `timeout[TIME_OUT]: 10` defines variable `timeout` that the container sees as TIME_OUT: name -> alias
    env_aliases: dict[str, str] = field(default_factory=dict)

    def port(self, name: str | None) -> Port | None:
        """The named port, or the only port when `name` is None."""
        if name is None:
            return self.ports[0] if len(self.ports) == 1 else None
        return next((p for p in self.ports if p.name == name), None)


@dataclass
class Scale:
    cpu: float
    memory_mb: float
    instances: int
    name: str | None = None
    origin: Origin = field(default_factory=Origin)


@dataclass
class Escalation:
    """`scale_instances|scale_cpu|scale_memory` (minimum, maximum, scale_by, target), `notify`, or a group
    `to_all|to_one` whose members are in `escalations`. Other types keep their raw `parameters`."""

    type: str
    name: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    scale_by: float | None = None
    target: str | None = None
    escalations: list["Escalation | Reference"] = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)

    @property
    def is_group(self) -> bool:
        return self.type in ("to_all", "to_one")


@dataclass
class Sla:
    """An SLA. `response_time_sliding_window` fills the typed fields; other types keep `parameters`."""

    type: str
    name: str | None = None
    upper_ms: float | None = None
    lower_ms: float | None = None
    interval_s: float | None = None
    cooldown_s: float | None = None
    parameters: dict = field(default_factory=dict)
    escalations: list["Escalation | Reference"] = field(default_factory=list)
    origin: Origin = field(default_factory=Origin)


@dataclass
class Condition:
    """A routing condition: the DSL text (compiled by `conditions.py`), optionally named."""

    definition: str
    name: str | None = None
    origin: Origin = field(default_factory=Origin)


@dataclass
class Rewrite:
    """`path: "<new path> if <haproxy condition>"`."""

    path: str
    condition: str
    origin: Origin = field(default_factory=Origin)


# What a route points at. Inside a cluster gateway: a service, named by its breed (`sava:1.0.0`).
# In a blueprint gateway: `cluster/port`. In a standalone gateway: `deployment/cluster/port` or `cluster/port`.
# Anywhere: an external address `[host:port]`.
SERVICE_TARGET = "service"
CLUSTER_TARGET = "cluster"
EXTERNAL_TARGET = "external"


@dataclass
class Route:
    path: str
    target_kind: str = SERVICE_TARGET
    weight: float | None = None
    condition: "Condition | Reference | None" = None
    condition_strength: float | None = None
    rewrites: list[Rewrite] = field(default_factory=list)
    balance: str | None = None
    name: str | None = None
    origin: Origin = field(default_factory=Origin)
    # VAMP instance selector (kept and checked, not used for routing)
    selector: str | None = None
    # a route given as a reference to a named route (`sava: conservative`); load_* replaces it by that route's values
    reference: "Reference | None" = None
    # filled by load_* for cluster targets: the blueprint, cluster and breed port name the route sends traffic to
    target_blueprint: str | None = None
    target_cluster: str | None = None
    target_port: str | None = None

    @property
    def path_parts(self) -> list[str]:
        return self.path.split("/")

    @property
    def external_address(self) -> tuple[str, int] | None:
        """`[host:port]` as (host, port); None for other targets."""
        if self.target_kind != EXTERNAL_TARGET:
            return None
        host, port = self.path.strip("[]").rsplit(":", 1)
        return host, int(port)


@dataclass
class GatewayService:
    """VAMP's `service: {host, port}` of a gateway: where the gateway itself is reachable."""

    host: str
    port: Port


@dataclass
class Gateway:
    """A gateway. A standalone or blueprint gateway has a port number; a cluster gateway is keyed by the breed
    port it serves (`port.number` is None) and routes between the cluster's services."""

    name: str
    port: Port
    sticky: str | None = None
    virtual_hosts: list[str] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    origin: Origin = field(default_factory=Origin)
    metadata: dict = field(default_factory=dict)
    selector: str | None = None
    service: GatewayService | None = None


@dataclass
class Service:
    breed: "Breed | Reference"
    scale: "Scale | Reference | None" = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    health_checks: list[HealthCheck] | None = None
    origin: Origin = field(default_factory=Origin)


@dataclass
class Cluster:
    name: str
    services: list[Service] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    sla: "Sla | Reference | None" = None
    health_checks: list[HealthCheck] | None = None
    origin: Origin = field(default_factory=Origin)


@dataclass
class Blueprint:
    name: str
    clusters: list[Cluster] = field(default_factory=list)
    gateways: list[Gateway] = field(default_factory=list)
    environment_variables: dict[str, str] = field(default_factory=dict)
    origin: Origin = field(default_factory=Origin)
    metadata: dict = field(default_factory=dict)

    def cluster(self, name: str) -> Cluster | None:
        return next((c for c in self.clusters if c.name == name), None)


@dataclass
class ArtifactSet:
    """Everything read from a set of files, by kind and name, with references resolved where they could be."""

    breeds: dict[str, Breed] = field(default_factory=dict)
    blueprints: dict[str, Blueprint] = field(default_factory=dict)
    gateways: dict[str, Gateway] = field(default_factory=dict)
    scales: dict[str, Scale] = field(default_factory=dict)
    slas: dict[str, Sla] = field(default_factory=dict)
    escalations: dict[str, Escalation] = field(default_factory=dict)
    conditions: dict[str, Condition] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    warnings: list = field(default_factory=list)


@dataclass
class Instance:
    """A running instance of a service, as found on the hosts (container labels). `slot` is its stable 1-based
    position among the service backend's pre-declared HAProxy server slots."""

    slot: int
    address: str
    port: int
    name: str | None = None
    host: str | None = None
    version: str | None = None
