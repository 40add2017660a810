#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drover.fleet.haproxy_process: start or stop HAProxy in master-worker mode where no service manager runs it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_process
short_description: Start or stop HAProxy in master-worker mode on hosts without systemd
version_added: 0.1.0
description:
  - Starts HAProxy in master-worker mode (C(haproxy -W -S <master socket>,mode,600 -f <config> -p <pid file>)) in its own
    session, with the master's output appended to O(log_file), and waits until the master lists its first worker.
  - Idempotent. HAProxy counts as running when its master CLI answers on O(master_socket), or when the pid in
    O(pid_file) is a live C(haproxy) process. A running HAProxy is left alone; reloads are the job of
    M(drover.fleet.haproxy_config).
  - For hosts with systemd, use the distribution's unit (M(ansible.builtin.systemd_service)) instead.
author:
  - drover.fleet contributors (@drover-fleet)
extends_documentation_fragment:
  - drover.fleet.attributes
  - drover.fleet.haproxy_socket.master
attributes:
  check_mode:
    support: full
    details:
      - Reports whether HAProxy would be started or stopped.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description:
      - V(started) starts HAProxy unless it runs. V(stopped) stops the master found through O(pid_file) and its workers.
    type: str
    choices: [started, stopped]
    default: started
  config:
    description:
      - The configuration HAProxy starts with. Relative paths in it resolve against its directory.
    type: path
    default: /etc/haproxy/haproxy.cfg
  pid_file:
    description:
      - Where the master writes its pid.
    type: path
    default: /run/haproxy.pid
  log_file:
    description:
      - File that receives the master's stdout and stderr; M(drover.fleet.haproxy_config) quotes it when a reload fails.
      - Defaults to C(haproxy-master.log) next to O(pid_file).
    type: path
  binary:
    description:
      - The HAProxy binary.
    type: str
    default: haproxy
  timeout:
    description:
      - Seconds to wait for the first worker at start, or for the processes to end at stop.
    type: float
    default: 30.0
seealso:
  - module: drover.fleet.haproxy_config
  - module: drover.fleet.haproxy_info
"""

EXAMPLES = r"""
---
- name: Run HAProxy in master-worker mode on a host without systemd
  drover.fleet.haproxy_process:
    config: /etc/haproxy/haproxy.cfg
    master_socket: /run/haproxy-master.sock
    pid_file: /run/haproxy.pid

- name: Stop it
  drover.fleet.haproxy_process:
    state: stopped
    pid_file: /run/haproxy.pid
"""

RETURN = r"""
pid:
  description: The master's pid; null when HAProxy is not running (or, in check mode, would be started).
  returned: always
  type: int
  sample: 4240
started:
  description: Whether this run started HAProxy (in check mode, would start it).
  returned: always
  type: bool
  sample: true
stopped:
  description: Whether this run stopped HAProxy (in check mode, would stop it).
  returned: always
  type: bool
  sample: false
log_file:
  description: The file that receives the master's output.
  returned: always
  type: str
  sample: /run/haproxy-master.log
"""

import os
from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import haproxy_pid, start_master_worker, stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import MasterClient
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.module_args import ArgumentSpec, master_socket_spec


def argument_spec() -> ArgumentSpec:
    spec = ArgumentSpec(
        {
            "state": {"type": "str", "default": "started", "choices": ["started", "stopped"]},
            "config": {"type": "path", "default": "/etc/haproxy/haproxy.cfg"},
            "pid_file": {"type": "path", "default": "/run/haproxy.pid"},
            "log_file": {"type": "path"},
            "binary": {"type": "str", "default": "haproxy"},
            "timeout": {"type": "float", "default": 30.0},
        }
    )
    return spec.merge(master_socket_spec())


@dataclass
class ProcessParams:
    state: str
    config: str
    master_socket: str
    pid_file: str
    log_file: str
    binary: str
    timeout: float

    @classmethod
    def from_module(cls, module) -> "ProcessParams":
        params = module.params
        log_file = params["log_file"] or os.path.join(os.path.dirname(os.path.abspath(params["pid_file"])), "haproxy-master.log")
        return cls(params["state"], params["config"], params["master_socket"], params["pid_file"], log_file, params["binary"], params["timeout"])


class ProcessManager:
    """get_current (master CLI, pid file) -> compare with the desired state -> start or stop unless in check mode."""

    def __init__(self, module, params: ProcessParams):
        self.module = module
        self.params = params

    def run(self) -> None:
        params = self.params
        pid = haproxy_pid(params.pid_file)
        answering = MasterClient(params.master_socket, 2.0).reachable()
        result = {"changed": False, "started": False, "stopped": False, "pid": pid, "log_file": params.log_file}
        try:
            if params.state == "started" and not answering and pid is None:
                result.update(changed=True, started=True)
                if not self.module.check_mode:
                    if not os.path.isfile(params.config):
                        self.module.fail_json(msg=f"cannot start HAProxy: {params.config} does not exist", **result)
                    process = start_master_worker(params.config, params.master_socket, params.pid_file, params.log_file, params.binary, params.timeout)
                    result["pid"] = process.pid
            elif params.state == "started" and not answering:
                self.module.fail_json(msg=f"HAProxy {pid} from {params.pid_file} runs, but no master CLI answers on {params.master_socket}: "
                                          "was it started without -W -S, or with another socket?", **result)
            elif params.state == "stopped" and pid is not None:
                result.update(changed=True, stopped=True)
                if not self.module.check_mode:
                    if not stop_master_worker(pid, params.timeout):
                        self.module.fail_json(msg=f"HAProxy {pid} did not stop within {params.timeout:g} s", **result)
                    result["pid"] = None
        except DroverError as exc:
            self.module.fail_json(msg=str(exc), **result)
        self.module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(**argument_spec().ansible_module_kwargs(supports_check_mode=True))
    ProcessManager(module, ProcessParams.from_module(module)).run()


if __name__ == "__main__":
    main()
