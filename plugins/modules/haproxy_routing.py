#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drover.fleet.haproxy_routing: documentation of the action plugin of the same name (plugins/action/haproxy_routing.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_routing
short_description: Render the HAProxy routing of VAMP artifacts on the controller and apply it with haproxy_config
version_added: 0.1.0
description:
  - Reads the artifacts (blueprints, breeds, gateways) on the controller, renders haproxy.cfg and its weight maps with
    the running instances in their server slots, and applies them on the load balancer with
    M(drover.fleet.haproxy_config). Each blueprint and each standalone gateway is a part of the load balancer of its own,
    and only the parts in O(parts) change, which validates, writes atomically, and reloads only when the topology changed.
    A change of route weights only replaces the maps at runtime, with no reload.
  - The O(dynamic_cookie_key) is masked (C(********)) everywhere in the result, the diff included, so C(--diff) can show
    the configuration without the secret. Any C(dynamic-cookie-key) line of the previous configuration is masked too.
    M(drover.fleet.haproxy_config) masks them in its own output as well, which the ssh connection plugin prints at C(-vvv).
author:
  - drover.fleet contributors (@drover-fleet)
extends_documentation_fragment:
  - drover.fleet.attributes
  - drover.fleet.haproxy_reload
  - drover.fleet.haproxy_socket
  - drover.fleet.haproxy_socket.master
attributes:
  action:
    description: Runs on the controller and calls M(drover.fleet.haproxy_config) on the target.
    support: full
  check_mode:
    support: full
    details:
      - M(drover.fleet.haproxy_config) validates the candidate and reports the diff; nothing is written or reloaded.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  artifacts:
    description:
      - The artifacts to route, as P(drover.fleet.blueprint_load#filter) output, YAML text, a path to a file or a
        directory, or a list of paths. A relative path is looked for in the playbook's directory first, then in the
        directory ansible-playbook runs in.
      - An empty list routes nothing (a configuration with no gateway).
    type: raw
    required: true
  instances:
    description:
      - The running instances by service key C(<blueprint>/<cluster>/<breed>), each a list of mappings with C(slot),
        C(address) and C(port) (and optionally C(name), C(host), C(version)), as the C(renderer_instances) of
        P(drover.fleet.placement_plan#filter).
      - A service without instances keeps all its server slots empty.
    type: dict
    default: {}
  server_state_file:
    description: The C(server-state-file) written into the configuration.
    type: path
    default: /var/lib/haproxy/server-state
  bind_address:
    description: The address the gateway frontends listen on.
    type: str
    default: 0.0.0.0
  default_slots:
    description:
      - Server slots of a service backend whose cluster has no SLA C(scale_instances) maximum.
      - Give P(drover.fleet.placement_plan#filter) the same value.
    type: int
    default: 8
  dynamic_cookie_key:
    description:
      - The secret HAProxy derives instance cookies from; required when a gateway is sticky C(instance).
      - Keep it stable (every instance cookie changes with it) and keep it in Ansible Vault.
    type: str
  stats_bind:
    description: Where the stats page (C(/stats)) and Prometheus metrics (C(/metrics)) listen, for example V(127.0.0.1:8404). Off when unset.
    type: str
  render_options:
    description:
      - More rendering settings, by their C(RenderOptions) names, for example C(timeout_server), C(retries),
        C(retry_on), C(maxconn), C(hard_stop_after), C(log_target), C(check_rise), C(virtual_hosts_bind), C(template_path).
    type: dict
    default: {}
  conflicts_only:
    description:
      - Only check that the parts can be written beside the other parts on the load balancer, and fail, naming the
        other blueprint, when one claims the same listener, section name or virtual host; change nothing. See
        M(drover.fleet.haproxy_config).
    type: bool
    default: false
  parts:
    description:
      - The parts of the load balancer this run writes, each C(blueprint-<name>) or C(gateway-<name>) (a blueprint, or a
        standalone gateway, of O(artifacts)). A named part that O(artifacts) does not render is removed from the load
        balancer; parts that are not named are left as they are, whoever wrote them.
      - Default, every part that O(artifacts) renders.
      - The load balancer keeps one file per part beside haproxy.cfg (C(drover.d/<part>.cfg)) and haproxy.cfg is
        assembled from them there; see M(drover.fleet.haproxy_config).
    type: list
    elements: str
seealso:
  - module: drover.fleet.haproxy_config
  - plugin: drover.fleet.placement_plan
    plugin_type: filter
"""

EXAMPLES = r"""
---
- name: Route the blueprint to the planned instances
  drover.fleet.haproxy_routing:
    artifacts: "{{ playbook_dir }}/blueprints/sava.yml"
    instances: "{{ drover_plan.renderer_instances }}"
    dynamic_cookie_key: "{{ vault_drover_cookie_key }}"
    admin_socket: /run/haproxy/admin.sock
    master_socket: /run/haproxy-master.sock
"""

RETURN = r"""
config_changed:
  description: Whether haproxy.cfg differed (see M(drover.fleet.haproxy_config) for every other key it returns).
  returned: always
  type: bool
  sample: true
reloaded:
  description: Whether HAProxy reloaded (or would reload).
  returned: always
  type: bool
  sample: false
runtime_map_updates:
  description: Maps replaced at runtime, without a reload.
  returned: always
  type: list
  elements: dict
  sample: [{"map": "maps/fe_sava_9050_26b9fe.map", "id": "#0", "entries": 2, "version": 3}]
rendered_files:
  description: The files this run wrote or would write, relative to the directory of O(path) (haproxy.cfg, the parts' maps).
  returned: always
  type: list
  elements: str
  sample: [haproxy.cfg, maps/fe_sava_9050_26b9fe.map]
parts:
  description: The parts this run wrote or removed (see O(parts)).
  returned: always
  type: list
  elements: str
  sample: [blueprint-sava]
"""
