#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drover.fleet.haproxy_info: read-only facts from HAProxy's runtime API."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_info
short_description: Read servers, statistics, process and map facts from a running HAProxy
version_added: 0.1.0
description:
  - Reads C(show servers state) and C(show stat) from the admin socket and merges them per server.
  - Reads C(show info), the master CLI's C(show proc) (workers, reload count, failed reloads) and the loaded maps.
  - Never changes anything.
author:
  - drover.fleet contributors (@drover-fleet)
extends_documentation_fragment:
  - drover.fleet.attributes
  - drover.fleet.attributes.actiongroup_haproxy
  - drover.fleet.attributes.info_module
  - drover.fleet.haproxy_socket
  - drover.fleet.haproxy_socket.master
options:
  gather:
    description:
      - Which facts to read.
      - V(processes) needs the master CLI; when O(master_socket) does not answer, RV(processes) is empty and a warning says so.
    type: list
    elements: str
    choices: [servers, info, processes, maps]
    default: [servers, info, processes, maps]
  backend:
    description:
      - Only report servers of this backend.
    type: str
  map_entries:
    description:
      - Include the entries of every loaded map in RV(maps).
    type: bool
    default: true
seealso:
  - module: drover.fleet.haproxy_server
  - module: drover.fleet.haproxy_config
"""

EXAMPLES = r"""
---
- name: Read everything
  drover.fleet.haproxy_info:
  register: haproxy

- name: Show the servers of one backend that are not UP
  ansible.builtin.debug:
    msg: "{{ haproxy.servers | rejectattr('operational_state', 'equalto', 'UP') | list }}"

- name: Check the last reload did not fail
  drover.fleet.haproxy_info:
    gather: [processes]
    master_socket: /run/haproxy-master.sock
  register: procs
  failed_when: procs.processes.master.failed_reloads > 0
"""

RETURN = r"""
servers:
  description:
    - One entry per server, from C(show servers state) merged with the server's C(show stat) row.
    - The same view of a server as C(drover status --format json) gives, where each server also has C(backend_label).
  returned: when V(servers) is gathered
  type: list
  elements: dict
  contains:
    backend:
      description: The backend's name.
      type: str
      sample: sava_1.0
    server:
      description: The server's name.
      type: str
      sample: slot1
    address:
      description: The server's IP address.
      type: str
      sample: 10.0.0.12
    port:
      description: The server's port.
      type: int
      sample: 32768
    weight:
      description: The current (runtime) weight.
      type: int
      sample: 100
    initial_weight:
      description: The weight the configuration gave.
      type: int
      sample: 100
    state:
      description: The administrative state, V(ready), V(drain) or V(maint).
      type: str
      sample: ready
    operational_state:
      description: V(UP), V(DOWN), V(STARTING) or V(STOPPING).
      type: str
      sample: UP
    health:
      description: Health checks V(enabled), V(disabled), or V(none) when the server line has no C(check).
      type: str
      sample: enabled
    check_port:
      description: The port health checks go to, when it is not the served port (null otherwise).
      type: int
      sample: 32769
    admin_state_bits:
      description: The raw C(srv_admin_state) bit mask of C(show servers state).
      type: int
      sample: 0
    status:
      description: The status C(show stat) prints, for example V(UP), V(UP 1/2), V(DOWN), V(DRAIN), V(MAINT), V(no check).
      type: str
      sample: UP
    availability:
      description:
        - What RV(servers[].status) means for traffic, V(UP), V(DOWN), V(NOLB) or V(MAINT).
        - The first word of the status, or, for V(DRAIN) and V(no check), the operational state (V(MAINT) in maintenance).
      type: str
      sample: UP
    serving:
      description: Whether the server takes new requests, it is V(UP), V(ready) and has a weight above 0.
      type: bool
      sample: true
    empty:
      description: Whether the server is a free slot, address C(0.0.0.0) port 0 in maintenance.
      type: bool
      sample: false
    sessions:
      description: Current sessions (C(scur)).
      type: int
      sample: 3
    queue:
      description: Queued requests (C(qcur)).
      type: int
      sample: 0
    total_sessions:
      description: Sessions since start (C(stot)).
      type: int
      sample: 1200
    session_rate:
      description: Sessions per second over the last second (C(rate)).
      type: int
      sample: 12
    check_status:
      description: The last health check's status (C(check_status)), V(null) without checks.
      type: str
      sample: L7OK
    check_code:
      description: The HTTP status or code of the last health check (C(check_code)), V(null) when it has none.
      type: int
      sample: 200
    check_duration:
      description: How long the last health check took, in ms (C(check_duration)).
      type: int
      sample: 2
    check_description:
      description: HAProxy's words on the last health check (C(check_desc)).
      type: str
      sample: Layer7 check passed
    response_time:
      description: Average response time in ms over the last 1024 requests (C(rtime)).
      type: int
      sample: 4
    last_change:
      description: Seconds since the last UP/DOWN transition (C(lastchg)).
      type: int
      sample: 5321
    http_5xx:
      description: HTTP 5xx responses from this server (C(hrsp_5xx)).
      type: int
      sample: 0
info:
  description: C(show info) of the worker that answered, as a dictionary of strings.
  returned: when V(info) is gathered
  type: dict
  sample: {"Name": "HAProxy", "Version": "2.6.12-1+deb12u4", "Pid": "4242", "Uptime_sec": "600"}
processes:
  description: The master CLI's C(show proc); empty when the master CLI does not answer.
  returned: when V(processes) is gathered
  type: dict
  sample:
    master: {"pid": 4240, "type": "master", "reloads": 3, "failed_reloads": 0, "uptime": "0d00h10m00s", "version": "2.6.12"}
    workers: [{"pid": 4242, "type": "worker", "reloads": 0, "uptime": "0d00h01m00s", "version": "2.6.12"}]
    old_workers: []
    programs: []
maps:
  description: The maps the running HAProxy has loaded, with their entries when O(map_entries=true).
  returned: when V(maps) is gathered
  type: list
  elements: dict
  sample:
    - id: "#0"
      file: maps/routes.map
      current_version: 3
      entry_count: 2
      entries: [["sava_1.0", "90"], ["sava_1.1", "10"]]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient, RuntimeClient
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.server_view import read_server_views
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.module_args import ArgumentSpec, admin_socket_spec, master_socket_spec

FACTS = ("servers", "info", "processes", "maps")


def argument_spec() -> ArgumentSpec:
    spec = ArgumentSpec(
        {
            "gather": {"type": "list", "elements": "str", "choices": list(FACTS), "default": list(FACTS)},
            "backend": {"type": "str"},
            "map_entries": {"type": "bool", "default": True},
        }
    )
    return spec.merge(admin_socket_spec()).merge(master_socket_spec())


class InfoManager:
    """Only reads: `changed` is always false."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.gather = set(params["gather"])
        self.backend = params["backend"]
        self.map_entries = params["map_entries"]
        self.client = RuntimeClient(params["admin_socket"], params["timeout"])
        self.master = MasterClient(params["master_socket"], params["timeout"]) if params["master_socket"] else None

    def servers(self) -> list:
        return [view.as_dict() for view in read_server_views(self.client, self.backend)]

    def processes(self) -> dict:
        if self.master is None:
            return {}
        try:
            return self.master.show_proc().as_dict()
        except DroverError as exc:
            self.module.warn(f"no process facts: {exc}")
            return {}

    def maps(self) -> list:
        result = []
        for info in self.client.show_maps():
            entry = {"id": info.ref, "file": info.file, "current_version": info.current_version, "entry_count": info.entry_count}
            if self.map_entries:
                entry["entries"] = [list(pair) for pair in self.client.show_map(info.ref)]
            result.append(entry)
        return result

    def run(self) -> None:
        result = {"changed": False}
        try:
            if "servers" in self.gather:
                result["servers"] = self.servers()
            if "info" in self.gather:
                result["info"] = self.client.show_info()
            if "processes" in self.gather:
                result["processes"] = self.processes()
            if "maps" in self.gather:
                result["maps"] = self.maps()
        except DroverError as exc:
            self.module.fail_json(msg=str(exc))
        self.module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(**argument_spec().ansible_module_kwargs(supports_check_mode=True))
    InfoManager(module).run()


if __name__ == "__main__":
    main()
