#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drover.fleet.keepalived_process: start, reload or stop keepalived where no service manager runs it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: keepalived_process
short_description: Start, reload or stop keepalived on hosts without systemd
version_added: 0.1.0
description:
  - Starts keepalived in the foreground of its own session (C(keepalived --dont-fork --log-console -f <config> -p <pid file>
    -r <vrrp pid file>)), with its messages appended to O(log_file), and waits until its VRRP process runs.
  - Idempotent. keepalived counts as running when the pid in O(pid_file) is a live C(keepalived) process; pid files are
    checked by name because a stale one may hold a reused pid.
  - V(reloaded) sends SIGHUP (keepalived reads its configuration again) unless keepalived started after O(config) was
    last written, so a handler after a fresh start does nothing. Without a running keepalived it starts one.
  - For hosts with systemd, use the distribution's unit (M(ansible.builtin.systemd_service)) instead.
author:
  - drover.fleet contributors (@drover-fleet)
extends_documentation_fragment:
  - drover.fleet.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reports whether keepalived would be started, reloaded or stopped.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  state:
    description:
      - V(started) starts keepalived unless it runs. V(reloaded) makes a running keepalived read O(config) again.
        V(stopped) stops it (keepalived removes its virtual addresses as it stops).
    type: str
    choices: [started, reloaded, stopped]
    default: started
  config:
    description:
      - The configuration keepalived runs with.
    type: path
    default: /etc/keepalived/keepalived.conf
  pid_file:
    description:
      - Where keepalived's parent process writes its pid.
    type: path
    default: /run/keepalived.pid
  vrrp_pid_file:
    description:
      - Where its VRRP process writes its pid.
    type: path
    default: /run/keepalived_vrrp.pid
  log_file:
    description:
      - File that receives keepalived's messages (state transitions, check results).
      - Defaults to C(keepalived.log) next to O(pid_file).
    type: path
  binary:
    description:
      - The keepalived binary.
    type: str
    default: keepalived
  timeout:
    description:
      - Seconds to wait for the VRRP process at start, or for keepalived to end at stop.
    type: float
    default: 30.0
seealso:
  - module: drover.fleet.haproxy_process
"""

EXAMPLES = r"""
---
- name: Run keepalived on a host without systemd
  drover.fleet.keepalived_process:
    config: /etc/keepalived/keepalived.conf

- name: Make it read a changed configuration (a handler)
  drover.fleet.keepalived_process:
    state: reloaded

- name: Stop it; the virtual IP moves to a peer
  drover.fleet.keepalived_process:
    state: stopped
"""

RETURN = r"""
pid:
  description: The pid of keepalived's parent process; null when it is not running (or, in check mode, would be started).
  returned: always
  type: int
  sample: 4240
started:
  description: Whether this run started keepalived (in check mode, would start it).
  returned: always
  type: bool
  sample: true
reloaded:
  description: Whether this run sent keepalived SIGHUP (in check mode, would send it).
  returned: always
  type: bool
  sample: false
stopped:
  description: Whether this run stopped keepalived (in check mode, would stop it).
  returned: always
  type: bool
  sample: false
log_file:
  description: The file that receives keepalived's messages.
  returned: always
  type: str
  sample: /run/keepalived.log
"""

import os
from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.keepalived.process import (
    config_newer_than_process, keepalived_pid, reload_keepalived, start_keepalived, stop_keepalived,
)


def argument_spec() -> dict:
    return {
        "state": {"type": "str", "default": "started", "choices": ["started", "reloaded", "stopped"]},
        "config": {"type": "path", "default": "/etc/keepalived/keepalived.conf"},
        "pid_file": {"type": "path", "default": "/run/keepalived.pid"},
        "vrrp_pid_file": {"type": "path", "default": "/run/keepalived_vrrp.pid"},
        "log_file": {"type": "path"},
        "binary": {"type": "str", "default": "keepalived"},
        "timeout": {"type": "float", "default": 30.0},
    }


@dataclass
class KeepalivedParams:
    state: str
    config: str
    pid_file: str
    vrrp_pid_file: str
    log_file: str
    binary: str
    timeout: float

    @classmethod
    def from_module(cls, module) -> "KeepalivedParams":
        params = module.params
        log_file = params["log_file"] or os.path.join(os.path.dirname(os.path.abspath(params["pid_file"])), "keepalived.log")
        return cls(params["state"], params["config"], params["pid_file"], params["vrrp_pid_file"], log_file, params["binary"],
                   params["timeout"])


class KeepalivedManager:
    """get_current (pid file) -> compare with the desired state -> start, reload or stop unless in check mode."""

    def __init__(self, module, params: KeepalivedParams):
        self.module = module
        self.params = params

    def run(self) -> None:
        params = self.params
        pid = keepalived_pid(params.pid_file)
        result = {"changed": False, "started": False, "reloaded": False, "stopped": False, "pid": pid, "log_file": params.log_file}
        try:
            if params.state in ("started", "reloaded") and pid is None:
                result.update(changed=True, started=True)
                if not self.module.check_mode:
                    result["pid"] = start_keepalived(params.config, params.pid_file, params.vrrp_pid_file, params.log_file,
                                                     params.binary, params.timeout)
            elif params.state == "reloaded" and config_newer_than_process(params.config, params.pid_file):
                result.update(changed=True, reloaded=True)
                if not self.module.check_mode:
                    reload_keepalived(pid)
            elif params.state == "stopped" and pid is not None:
                result.update(changed=True, stopped=True)
                if not self.module.check_mode:
                    stop_keepalived(pid, params.timeout)
                    result["pid"] = None
        except DroverError as exc:
            self.module.fail_json(msg=str(exc), **result)
        self.module.exit_json(**result)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    KeepalivedManager(module, KeepalivedParams.from_module(module)).run()


if __name__ == "__main__":
    main()
