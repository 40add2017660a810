#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drover.fleet.haproxy_server: one server's weight, state, address and health checks, at runtime."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_server
short_description: Set an HAProxy server's weight, state, address and health checks at runtime, and drain it
version_added: 0.1.0
description:
  - Changes one server of a running HAProxy through the admin socket, with no reload.
  - Reads the server's current state first (C(show servers state)) and changes only what differs from the desired
    state, so O(state=drain) on a server that is already draining reports no change. Live session counts never
    decide whether something changed.
  - Works on servers that are DOWN (failing health checks) as well as UP ones.
  - With O(wait_for_drain=true), waits until the server has no current session and no queued request, checking once
    more at the deadline. The wait looks at the counters only, so a DOWN server drains as soon as its last session ends.
  - A server that leaves maintenance with O(state=ready) and has a health check gets no new client before that check
    passes. HAProxy 2.6 would count it UP at once; the module moves it to drain first (new clients are never sent
    there), waits until a check has passed (O(health_timeout)), then sets it ready. If the check never passes, the server
    goes back to maintenance and the task fails.
  - Runtime changes are lost on reload unless the configuration uses C(server-state-file);
    M(drover.fleet.haproxy_config) dumps the state before every reload.
author:
  - drover.fleet contributors (@drover-fleet)
extends_documentation_fragment:
  - drover.fleet.attributes
  - drover.fleet.attributes.actiongroup_haproxy
  - drover.fleet.haproxy_socket
attributes:
  check_mode:
    support: full
    details:
      - Reads the current state and reports what would change; does not wait for draining.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  backend:
    description:
      - The backend the server belongs to.
    type: str
    required: true
  server:
    description:
      - The server's name in the backend, for example a slot of a C(server-template).
    type: str
    required: true
    aliases: [name]
  weight:
    description:
      - The server's absolute weight, 0 to 256.
      - The backend needs a dynamic balance algorithm (C(roundrobin), C(leastconn), C(random), C(first), or C(hash-type consistent)).
    type: int
  state:
    description:
      - The administrative state.
      - V(ready) takes traffic. V(drain) keeps persistent (cookie) clients and takes no new sessions. V(maint) takes no traffic.
    type: str
    choices: [ready, drain, maint]
  address:
    description:
      - The server's IP address (C(set server <backend>/<server> addr)). Used to point a pre-declared slot at an instance.
    type: str
  port:
    description:
      - The server's port. Without O(address), the current address is kept.
    type: int
  check_port:
    description:
      - The port the server's health checks go to (C(set server <backend>/<server> check-port)), when the instance
        answers its health check on another port than the one it serves, as a breed with several ports can.
      - Set before the address and the state, so a slot leaving maintenance is checked on this port before it gets
        any client.
    type: int
  health:
    description:
      - Enable or disable the server's health checks. The server line needs C(check) for V(enabled).
    type: str
    choices: [enabled, disabled]
  wait_for_drain:
    description:
      - After setting O(state=drain) or O(state=maint), wait until the server has no session and no queued request.
      - With O(state=maint), the server is set to drain first, and to maintenance once it has drained.
    type: bool
    default: false
  drain_timeout:
    description:
      - Seconds to wait for the server to drain before failing.
    type: float
    default: 60.0
  drain_poll:
    description:
      - Seconds between two looks at the server's session and queue counters while draining.
    type: float
    default: 0.2
  health_timeout:
    description:
      - Seconds a server leaving maintenance with O(state=ready) may take to pass its health check.
    type: float
    default: 60.0
seealso:
  - module: drover.fleet.haproxy_info
  - module: drover.fleet.haproxy_config
"""

EXAMPLES = r"""
---
- name: Point slot 3 at a new instance and put it in rotation
  drover.fleet.haproxy_server:
    backend: sava_1.1
    server: slot3
    address: 10.0.0.14
    port: 32768
    check_port: 32769
    health: enabled
    state: ready

- name: Drain an instance before removing it
  drover.fleet.haproxy_server:
    backend: sava_1.0
    server: slot1
    state: maint
    wait_for_drain: true
    drain_timeout: 120

- name: Halve a server's share
  drover.fleet.haproxy_server:
    socket: /var/lib/haproxy/admin.sock
    backend: sava_1.0
    server: slot2
    weight: 50
"""

RETURN = r"""
before:
  description: The server as it was before the module ran.
  returned: always
  type: dict
  sample:
    backend: sava_1.0
    server: slot1
    address: 10.0.0.12
    port: 32768
    weight: 100
    initial_weight: 100
    state: ready
    operational_state: UP
    health: enabled
    check_port: null
    admin_state_bits: 0
after:
  description: The server after the module ran (in check mode, the predicted state).
  returned: always
  type: dict
  sample:
    backend: sava_1.0
    server: slot1
    address: 10.0.0.12
    port: 32768
    weight: 100
    initial_weight: 100
    state: maint
    operational_state: UP
    health: enabled
    check_port: null
    admin_state_bits: 1
changes:
  description: The settings that differed and were (or would be) changed, in the order they are applied.
  returned: always
  type: list
  elements: str
  sample: [state]
drain:
  description: What the drain wait saw when it finished.
  returned: when O(wait_for_drain=true) and not in check mode
  type: dict
  sample: {"sessions": 0, "queue": 0, "waited": 3.2, "status": "DRAIN"}
"""

from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.module_args import ArgumentSpec, admin_socket_spec
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import SERVER_STATES, RuntimeClient, ServerState
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.server_change import DesiredServer


def argument_spec() -> ArgumentSpec:
    spec = ArgumentSpec(
        {
            "backend": {"type": "str", "required": True},
            "server": {"type": "str", "required": True, "aliases": ["name"]},
            "weight": {"type": "int"},
            "state": {"type": "str", "choices": list(SERVER_STATES)},
            "address": {"type": "str"},
            "port": {"type": "int"},
            "check_port": {"type": "int"},
            "health": {"type": "str", "choices": ["enabled", "disabled"]},
            "wait_for_drain": {"type": "bool", "default": False},
            "drain_timeout": {"type": "float", "default": 60.0},
            "drain_poll": {"type": "float", "default": 0.2},
            "health_timeout": {"type": "float", "default": 60.0},
        },
        required_if=[("wait_for_drain", True, ("state",))],
    )
    return spec.merge(admin_socket_spec())


@dataclass
class ServerParams:
    desired: DesiredServer
    socket: str
    timeout: float

    @classmethod
    def from_module(cls, module) -> "ServerParams":
        p = module.params
        desired = DesiredServer(p["backend"], p["server"], p["weight"], p["state"], p["address"], p["port"], p["check_port"], p["health"],
                                p["wait_for_drain"], p["drain_timeout"], p["drain_poll"], p["health_timeout"])
        problems = desired.problems()
        if problems:
            module.fail_json(msg="\n".join(problems))
        return cls(desired, p["admin_socket"], p["timeout"])


class ServerManager:
    """get_current -> compare -> apply unless check mode (the engine's DesiredServer compares and applies)."""

    def __init__(self, module, params: ServerParams):
        self.module = module
        self.desired = params.desired
        self.client = RuntimeClient(params.socket, params.timeout)

    def get_current(self) -> ServerState:
        return self.client.server(self.desired.backend, self.desired.server)

    def run(self) -> None:
        try:
            current = self.get_current()
            changes, predicted = self.desired.compare(current)
            result = {"changed": bool(changes), "changes": changes, "before": current.as_dict()}
            if self.module.check_mode:
                result["after"] = predicted
            else:
                drain = self.desired.apply(self.client, changes, current)
                if drain is not None:
                    result["drain"] = drain
                result["after"] = self.get_current().as_dict()
        except DroverError as exc:
            self.module.fail_json(msg=str(exc))
        if self.module._diff:  # pylint: disable=protected-access
            name = self.desired.name
            result["diff"] = {"before": result["before"], "after": result["after"], "before_header": name, "after_header": name}
        self.module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(**argument_spec().ansible_module_kwargs(supports_check_mode=True))
    ServerManager(module, ServerParams.from_module(module)).run()


if __name__ == "__main__":
    main()
