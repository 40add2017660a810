# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One server's desired runtime settings: compared with what HAProxy reports, then applied in a safe order.

What the haproxy_server module does, without Ansible:

- `compare` finds the settings that differ from `show servers state` (never from live session counts, which flap),
  in the order they are applied: check port and address before the state, so a slot is ready only once it points
  somewhere and is checked there;
- `apply` makes them. A server that leaves maintenance for `ready` with health checks enabled is health-gated
  (`RuntimeClient.fill_slot`: DRAIN until a check passed, then READY), since HAProxy 2.6 counts it UP at once. With
  `wait_for_drain`, the server drains first (sessions end, cookie clients still reach it) and goes to maintenance
  only once it has no session and no queued request.

Pure standard library, no AnsibleModule.
"""

from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeClient, ServerState

DRAINING_STATES = ("drain", "maint")


@dataclass
class DesiredServer:
    """What one server should look like; None leaves a setting as it is."""

    backend: str
    server: str
    weight: int | None = None
    state: str | None = None
    address: str | None = None
    port: int | None = None
    check_port: int | None = None
    health: str | None = None
    wait_for_drain: bool = False
    drain_timeout: float = 60.0
    drain_poll: float = 0.2
    health_timeout: float = 60.0

    def problems(self) -> list:
        """Every value HAProxy would refuse, or that asks for something impossible, at once."""
        found = []
        if self.weight is not None and not 0 <= self.weight <= 256:
            found.append(f"weight must be between 0 and 256; found {self.weight}")
        if self.port is not None and not 0 <= self.port <= 65535:
            found.append(f"port must be between 0 and 65535; found {self.port}")
        if self.check_port is not None and not 1 <= self.check_port <= 65535:
            found.append(f"check_port must be between 1 and 65535; found {self.check_port}")
        if self.wait_for_drain and self.state not in DRAINING_STATES:
            found.append(f"wait_for_drain needs state drain or maint; found state {self.state}")
        return found

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.server}"

    def _endpoint(self, current: ServerState) -> tuple:
        return (self.address if self.address is not None else current.address, self.port if self.port is not None else current.port)

    def compare(self, current: ServerState) -> tuple:
        """The settings that differ, in apply order, and the server as it will be after `apply` (a dict like
        ServerState.as_dict()). Raises DroverError for health checks asked of a server that has none."""
        after = current.as_dict()
        changes = []
        if self.check_port is not None and self.check_port != current.check_port:
            changes.append("check_port")
            after["check_port"] = self.check_port
        address, port = self._endpoint(current)
        if (self.address is not None or self.port is not None) and (address != current.address or port != current.port):
            changes.append("address")
            after.update(address=address, port=port)
        if self.weight is not None and self.weight != current.weight:
            changes.append("weight")
            after["weight"] = self.weight
        if self.health is not None:
            if self.health == "enabled" and current.health == "none":
                raise DroverError(f"server {self.name} has no health check configured (add `check` to its server line)")
            if current.health != "none" and self.health != current.health:
                changes.append("health")
                after["health"] = self.health
        if self.state is not None and self.state != current.state:
            changes.append("state")
            after["state"] = self.state
        return changes, after

    def apply(self, client: RuntimeClient, changes: list, current: ServerState) -> dict | None:
        """Make `changes` (from `compare`) through the admin socket. Returns what the drain wait saw, or None."""
        health_after = self.health if self.health is not None and current.health != "none" else current.health
        if "state" in changes and self.state == "ready" and current.state == "maint" and health_after == "enabled":
            self._health_gated_ready(client, changes, current)
            return None
        if "check_port" in changes:
            client.set_check_port(self.backend, self.server, self.check_port)
        if "address" in changes:
            client.set_addr(self.backend, self.server, *self._endpoint(current))
        if "weight" in changes:
            client.set_weight(self.backend, self.server, self.weight)
        if "health" in changes:
            if self.health == "enabled":
                client.enable_health(self.backend, self.server)
            else:
                client.disable_health(self.backend, self.server)
        drain = None
        if self.wait_for_drain:
            # Draining lets sessions finish; maintenance would stop new cookie clients from reaching the server early.
            if current.state != self.state and current.state != "maint":
                client.set_state(self.backend, self.server, "drain")
            drain = client.wait_for_drain(self.backend, self.server, self.drain_timeout, self.drain_poll)
        if "state" in changes:
            client.set_state(self.backend, self.server, self.state)
        return drain

    def _health_gated_ready(self, client: RuntimeClient, changes: list, current: ServerState) -> None:
        """Out of maintenance only once a health check passed (RuntimeClient.fill_slot); weight first, so the server
        starts with the weight asked for."""
        if "weight" in changes:
            client.set_weight(self.backend, self.server, self.weight)
        if "health" in changes:
            client.enable_health(self.backend, self.server)
        address, port = self._endpoint(current)
        check_port = self.check_port if "check_port" in changes else None
        client.fill_slot(self.backend, self.server, address, port, timeout=self.health_timeout, check_port=check_port)
