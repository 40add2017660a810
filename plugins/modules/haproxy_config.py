#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""drover.fleet.haproxy_config: write haproxy.cfg and its maps safely, reload HAProxy only when the topology changed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: haproxy_config
short_description: Write haproxy.cfg and its map files safely, and reload HAProxy only when the topology changed
version_added: 0.1.0
description:
  - Validates the candidate configuration with the real C(haproxy -c) before anything reaches the live path.
  - Writes haproxy.cfg and map files atomically (temp file, then rename), optionally keeping a backup.
  - When only map files differ (route weights live in maps), writes them and replaces the running maps through the runtime
    API (C(prepare map), C(add map @<version>), C(commit map)). HAProxy does not reload. ACL pattern files (C(*.acl)) are
    replaced the same way (C(prepare acl), C(add acl), C(commit acl)).
  - When haproxy.cfg differs only in the address, port or C(disabled) flag of C(server) lines (an instance added to or
    removed from a pre-declared slot), and HAProxy runs with no reload pending, the running HAProxy gets the change
    through the runtime API and does not reload. A slot that becomes filled is health-gated (C(MAINT), address,
    C(DRAIN) until its health check passed, then C(READY)); a slot that becomes free goes to C(MAINT) and keeps its
    address; a slot whose instance moves is freed, then filled. Then haproxy.cfg is written, so that a later reload or
    restart starts from it. See RV(runtime_server_updates).
  - If a runtime command fails on the way, the module reloads instead, so that HAProxy runs the new file. If a new
    instance does not pass its health check within O(health_timeout), the module fails and changes nothing (the slots
    it touched stay in maintenance, haproxy.cfg is not written, HAProxy does not reload).
  - When haproxy.cfg differs otherwise, dumps C(show servers state) to the C(server-state-file) and reloads through the master CLI,
    or through systemd where HAProxy runs under systemd. It then checks that a new worker came up (C(show proc), the failed
    reload counter, the admin socket answering from the new worker). If not, it restores the last configuration that
    was live, reloads it, and fails with HAProxy's own message.
  - Never reloads when nothing changed. Runs that change the configuration within O(debounce) seconds of each other
    share one reload. A lock file keeps two runs from interleaving.
  - A load balancer shared by several blueprints takes O(head) and O(parts) instead of O(content). Each blueprint
    and each standalone gateway owns one part, C(drover.d/<part>.cfg) beside O(path); haproxy.cfg is assembled on the
    host from the head and every part on its disk, under the lock, so a run changes only the parts it names and never
    needs to know the others. A part that claims a listener, a section name or a virtual host that another part holds
    is refused before anything changes, with a message naming that blueprint. A haproxy.cfg written as one file by an
    earlier drover is taken over, its sections becoming the parts of the blueprints they belong to.
  - See C(docs/operations.md), section "How haproxy_config reloads", for the whole procedure, and
    C(docs/architecture.md), section "Parts", for the shared load balancer.
author:
  - drover.fleet contributors (@drover-fleet)
extends_documentation_fragment:
  - drover.fleet.attributes
  - drover.fleet.attributes.actiongroup_haproxy
  - drover.fleet.haproxy_reload
  - drover.fleet.haproxy_socket
  - drover.fleet.haproxy_socket.master
attributes:
  check_mode:
    support: full
    details:
      - Validates the candidate with C(haproxy -c) and reports the diff, whether it would reload, and the runtime updates
        it would make (RV(runtime_map_updates), RV(runtime_server_updates)); writes nothing, reloads nothing, takes no lock.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  content:
    description:
      - The complete desired content of haproxy.cfg.
      - Exactly one of O(content) and O(head) is required.
    type: str
  head:
    description:
      - The head of a shared load balancer's haproxy.cfg (C(global), C(defaults), the listeners every part shares), as
        C(drover.fleet.haproxy_routing) renders it. Goes with O(parts).
    type: str
  parts:
    description:
      - The parts this run writes, as a dictionary of a part name (C(blueprint-<name>) or C(gateway-<name>)) to its
        content, or to V(null) to remove that part. Parts on the host that are not named here stay as they are.
      - In diff mode (C(--diff)), the diff shows these parts' files and their maps, not the assembled haproxy.cfg.
    type: dict
  conflicts_only:
    description:
      - With O(parts), only check that the parts can be written beside the parts on the host (no listener, section
        name or virtual host that another part holds), and fail if not. Reads the host, changes nothing, and needs
        neither HAProxy nor a lock; the deploy role runs it before it starts any container.
    type: bool
    default: false
  part_maps:
    description:
      - The map and ACL files of the parts in O(parts), as a dictionary of a part name to a dictionary like O(maps).
      - Map files that a written or removed part no longer names are deleted.
    type: dict
    default: {}
  secrets:
    description:
      - Strings in O(content) that must not appear in the module's output.
      - Each is replaced with C(********) in everything the module returns (the diff and the echoed O(content)
        included), so the secret stays out of the output at every verbosity, C(-vvv) too.
      - The value of every C(dynamic-cookie-key) line, in O(content) and in the configuration it replaces, is masked
        this way without being listed here.
      - M(drover.fleet.haproxy_routing) passes its O(drover.fleet.haproxy_routing#module:dynamic_cookie_key) here.
    type: list
    elements: str
    default: []
  maps:
    description:
      - Map files that belong with this configuration, as a dictionary of a path relative to the directory of O(path)
        to the complete file content (one C(key value) per line).
      - Reference them from haproxy.cfg with the same relative path and C(default-path config), for example
        C(map_int(maps/routes.map)), so that validation and runtime updates find them.
      - A file whose name ends in C(.acl) is an ACL pattern file (one pattern per line), used as C(-f maps/<name>.acl) in
        an ACL.
    type: dict
    default: {}
  validate_binary:
    description:
      - The HAProxy binary that validates the candidate with C(haproxy -c -f <candidate>).
    type: str
    default: haproxy
  preflight:
    description:
      - Before writing, check what C(haproxy -c) cannot, namely that every new listener can bind (no other process
        holds the port, the address belongs to this host) and that the C(chroot) directory exists.
      - On HAProxy 2.6 a reload whose listener cannot bind pauses the old worker's listeners for about two seconds
        (clients see refused connections) before it fails; the pre-flight check refuses such a configuration first.
    type: bool
    default: true
  state_dir:
    description:
      - Directory for the lock file, the reload bookkeeping and the last configuration that was live (the rollback target).
      - Defaults to C(.drover) in the directory of O(path).
    type: path
  server_state_file:
    description:
      - Where to dump C(show servers state) before a reload.
      - Defaults to the C(server-state-file) of the configuration's C(global) section (relative to C(server-state-base)
        or to the directory HAProxy runs in). Without either, runtime state does not survive reloads and a warning says so.
    type: path
  master_log:
    description:
      - File that receives the HAProxy master's stderr, quoted when a reload fails.
      - By default the module reads the master's stderr from C(/proc/<master pid>/fd/2) when it is a file, or the journal
        under systemd.
    type: path
  debounce:
    description:
      - Seconds the reload waits after the last configuration write, so that a burst of changes gives one reload.
      - Each run waits at most O(debounce_max) seconds after its own write.
    type: float
    default: 0.2
  debounce_max:
    description:
      - Upper bound, in seconds, of the debounce wait after this run's own write.
    type: float
    default: 2.0
  lock_timeout:
    description:
      - Seconds to wait for another run to release the lock before failing.
    type: float
    default: 120.0
  health_timeout:
    description:
      - Seconds an instance put into a free slot at runtime has to pass its health check. It gets no new client
        before that.
      - When one does not pass in time, the module fails and changes nothing; see the description.
    type: float
    default: 60.0
notes:
  - Runtime weights, states and addresses survive a reload only when the configuration sets C(server-state-file) in C(global)
    and C(load-server-state-from-file global) in C(defaults). A weight that the new configuration changes wins over the saved one.
  - Servers added with C(add server) at runtime never survive a reload; write them into the configuration.
seealso:
  - module: drover.fleet.haproxy_server
  - module: drover.fleet.haproxy_info
"""

EXAMPLES = r"""
---
- name: Deploy the rendered configuration and its route maps
  drover.fleet.haproxy_config:
    path: /etc/haproxy/haproxy.cfg
    content: "{{ lookup('ansible.builtin.template', 'haproxy.cfg.j2') }}"
    maps:
      maps/routes.map: |
        sava_1.0 90
        sava_1.1 10
    backup: true
  register: haproxy

- name: Shift weights only (a map change, applied at runtime without a reload)
  drover.fleet.haproxy_config:
    content: "{{ lookup('ansible.builtin.file', 'haproxy.cfg') }}"
    maps:
      maps/routes.map: |
        sava_1.0 50
        sava_1.1 50

- name: Write one blueprint's part of a load balancer that other blueprints share
  drover.fleet.haproxy_config:
    head: "{{ rendered.head }}"
    parts:
      blueprint-shop: "{{ rendered.parts['blueprint-shop'] }}"
    part_maps:
      blueprint-shop: "{{ rendered.maps['blueprint-shop'] }}"

- name: HAProxy started by hand in master-worker mode, with its sockets in /var/lib/haproxy
  drover.fleet.haproxy_config:
    content: "{{ rendered_config }}"
    service_manager: master_cli
    master_socket: /var/lib/haproxy/master.sock
    admin_socket: /var/lib/haproxy/admin.sock
"""

RETURN = r"""
reloaded:
  description: Whether HAProxy reloaded to take this change live (or, in check mode, would reload).
  returned: always
  type: bool
  sample: true
coalesced:
  description: Whether a concurrent run did the reload that took this change live (debounced burst).
  returned: always
  type: bool
  sample: false
reload_method:
  description: How HAProxy was (or would be) reloaded, V(master_cli) or V(systemd); V(null) when it was not reloaded.
  returned: always
  type: str
  sample: master_cli
config_changed:
  description: Whether haproxy.cfg differed from O(content).
  returned: always
  type: bool
  sample: true
maps_changed:
  description: Map files (relative paths) whose content differed.
  returned: always
  type: list
  elements: str
  sample: [maps/routes.map]
runtime_map_updates:
  description: Maps replaced in the running HAProxy through the runtime API, without a reload.
  returned: always
  type: list
  elements: dict
  sample: [{"map": "maps/routes.map", "id": "#0", "entries": 2, "version": 3}]
runtime_server_updates:
  description:
    - Slot servers changed in the running HAProxy through the runtime API instead of a reload (in check mode, the
      changes it would make), in configuration order. Empty when the change reloaded or needed nothing.
    - C(action) is V(fill) (the instance at C(address):C(port) went into the slot after its health check passed) or
      V(free) (the slot went to maintenance; C(address) and C(port) name the instance that left). A slot whose instance
      moved has both, V(free) first.
  returned: always
  type: list
  elements: dict
  sample: [{"backend": "bk_sava_sava_sava:1.0.0_448a89", "server": "slot3", "action": "fill", "address": "10.0.0.12", "port": 31003}]
backup_file:
  description: The backup of the previous haproxy.cfg, when O(backup=true) and the file changed.
  returned: changed and when O(backup=true)
  type: str
  sample: /etc/haproxy/haproxy.cfg.4242.2026-01-31@10:00:00~
new_worker_pids:
  description: Pids of the workers the reload started.
  returned: always
  type: list
  elements: int
  sample: [31337]
server_state_file:
  description: The file the servers' runtime state was dumped to before the reload.
  returned: always
  type: str
  sample: /var/lib/haproxy/server-state
servers_from_config:
  description:
    - Servers whose definition the new configuration changes (their C(server) or C(server-template) line, or an applying
      C(default-server) line). Their saved runtime state was left out of the dump, so the new configuration sets them.
  returned: always
  type: list
  elements: str
  sample: [bk_sava_1.0.0/slot2]
rolled_back:
  description: On failure, whether the previous configuration was restored.
  returned: failed
  type: bool
  sample: true
rollback_ok:
  description: On a failed reload, whether HAProxy came up again on the restored configuration and serves it.
  returned: failed
  type: bool
  sample: true
refused_lines:
  description:
    - When C(haproxy -c) refused a candidate assembled from O(parts), the lines it named, by line number (the
      candidate is assembled on the host, so the caller cannot number its lines itself).
  returned: failed, with O(parts)
  type: dict
  sample: {"42": "    acl d1df9b6_c1_2 req.hdr(x) -m bogus"}
haproxy_message:
  description: On failure, what HAProxy said (its C(ALERT) lines).
  returned: failed
  type: str
  sample: "[ALERT] (1234) : Binding [/etc/haproxy/haproxy.cfg:40] for frontend web: cannot bind socket (Address already in use)"
"""

from dataclasses import dataclass

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_scan import secret_values
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.config_args import config_argument_spec
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import (
    ApplyResult, ConfigInvalidError, ReloadFailedError, ReloadOptions, apply_config, apply_parts, check_parts,
)


def _text_dict(value) -> dict:
    return {str(name): "" if text is None else str(text) for name, text in (value or {}).items()}


@dataclass
class ConfigParams:
    path: str
    content: str | None
    maps: dict
    options: ReloadOptions
    head: str | None = None
    parts: dict | None = None
    part_maps: dict | None = None
    conflicts_only: bool = False

    @classmethod
    def from_module(cls, module) -> "ConfigParams":
        params = module.params
        maps = _text_dict(params["maps"])
        options = ReloadOptions(
            haproxy_binary=params["validate_binary"],
            master_socket=params["master_socket"],
            admin_socket=params["admin_socket"],
            service_manager=params["service_manager"],
            systemd_unit=params["systemd_unit"],
            reload=params["reload"],
            backup=params["backup"],
            preflight=params["preflight"],
            state_dir=params["state_dir"],
            server_state_file=params["server_state_file"],
            master_log=params["master_log"],
            debounce=params["debounce"],
            debounce_max=params["debounce_max"],
            reload_timeout=params["reload_timeout"],
            lock_timeout=params["lock_timeout"],
            health_timeout=params["health_timeout"],
            socket_timeout=params["timeout"],
            check_mode=module.check_mode,
        )
        parts = None if params["parts"] is None else {str(name): None if text is None else str(text) for name, text in params["parts"].items()}
        part_maps = {str(name): _text_dict(files) for name, files in (params["part_maps"] or {}).items()}
        return cls(params["path"], params["content"], maps, options, params["head"], parts, part_maps, params["conflicts_only"])

    def apply(self):
        if self.head is not None and self.conflicts_only:
            check_parts(self.path, self.head, self.parts or {})
            return ApplyResult()
        if self.head is not None:
            return apply_parts(self.path, self.head, self.parts or {}, self.part_maps, self.options)
        return apply_config(self.path, self.content, self.maps, self.options)


class ConfigManager:
    """apply_config does get_current -> compare -> apply (nothing in check mode); this adapts it to Ansible."""

    def __init__(self, module, params: ConfigParams):
        self.module = module
        self.params = params

    def run(self) -> None:
        self.mask_secret_values()
        try:
            outcome = self.params.apply()
        except ConfigInvalidError as exc:
            extra = {"refused_lines": exc.refused_lines} if exc.refused_lines is not None else {}
            self.module.fail_json(msg=str(exc), rolled_back=False, haproxy_message=exc.output, **extra)
        except ReloadFailedError as exc:
            self.module.fail_json(msg=str(exc), rolled_back=exc.rolled_back, rollback_ok=exc.rollback_ok, haproxy_message=exc.haproxy_message)
        except DroverError as exc:
            self.module.fail_json(msg=str(exc))
        for warning in outcome.warnings:
            self.module.warn(warning)
        result = {
            "changed": outcome.changed,
            "reloaded": outcome.reloaded,
            "coalesced": outcome.coalesced,
            "reload_method": outcome.reload_method,
            "config_changed": outcome.config_changed,
            "maps_changed": outcome.maps_changed,
            "runtime_map_updates": outcome.runtime_map_updates,
            "runtime_server_updates": outcome.runtime_server_updates,
            "new_worker_pids": outcome.new_worker_pids,
            "server_state_file": outcome.server_state_file,
            "servers_from_config": outcome.servers_from_config,
        }
        if outcome.backup_file:
            result["backup_file"] = outcome.backup_file
        if self.module._diff:  # pylint: disable=protected-access
            result["diff"] = outcome.diff
        self.module.exit_json(**result)

    def mask_secret_values(self) -> None:
        """AnsibleModule masks its no_log values in all it returns: add the secret directives' values of the new
        configuration and of the one it replaces (a key being changed shows in the diff's before)."""
        texts = [self.params.content or self.params.head or ""] + [text for text in (self.params.parts or {}).values() if text]
        try:
            with open(self.params.path, encoding="utf-8", errors="replace") as current:
                texts.append(current.read())
        except OSError:
            pass  # no configuration yet
        for text in texts:
            self.module.no_log_values.update(secret_values(text))


def main() -> None:
    module = AnsibleModule(**config_argument_spec().ansible_module_kwargs(supports_check_mode=True))
    ConfigManager(module, ConfigParams.from_module(module)).run()


if __name__ == "__main__":
    main()
