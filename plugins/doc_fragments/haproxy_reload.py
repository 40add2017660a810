# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which haproxy.cfg to manage and how HAProxy reloads it: options of haproxy_config that the haproxy_routing action
passes on (spec: reload_spec in module_utils/haproxy/config_args.py)."""

from __future__ import annotations


class ModuleDocFragment:
    """The haproxy.cfg path, its backup, and the reload."""

    DOCUMENTATION = r"""
options:
  path:
    description:
      - The haproxy.cfg to manage.
      - Its map and ACL pattern files live relative to its directory (for example C(maps/routes.map)), where relative
        map names are resolved.
    type: path
    default: /etc/haproxy/haproxy.cfg
  backup:
    description:
      - Keep a timestamped copy of the previous haproxy.cfg next to it before overwriting it.
    type: bool
    default: false
  reload:
    description:
      - Reload HAProxy when haproxy.cfg changed.
      - When V(false), files are written and maps are still updated at runtime; the new haproxy.cfg stays pending
        and the next run with O(reload=true) reloads it.
    type: bool
    default: true
  service_manager:
    description:
      - How to reload HAProxy.
      - V(auto) uses systemd when the O(systemd_unit) is active under systemd, else the master CLI when O(master_socket)
        answers. When neither answers, HAProxy is not running; files are written and nothing is reloaded.
      - V(master_cli) sends C(reload) to O(master_socket). V(systemd) runs C(systemctl reload).
      - V(none) never reloads.
    type: str
    choices: [auto, master_cli, systemd, none]
    default: auto
  systemd_unit:
    description:
      - The systemd unit to reload with O(service_manager=systemd).
    type: str
    default: haproxy
  reload_timeout:
    description:
      - Seconds to wait for the new worker to come up before the reload counts as failed.
    type: float
    default: 30.0
"""
