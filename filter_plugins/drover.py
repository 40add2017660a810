"""Short-name access to the drover.fleet filters for classic playbook repositories (no collection FQCN).

This shim holds no logic: it re-exports the collection's filters, which must be installed or on the collection path.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.filter.blueprint_load import blueprint_load
from ansible_collections.drover.fleet.plugins.filter.condition_to_acl import condition_to_acl
from ansible_collections.drover.fleet.plugins.filter.routing_explain import routing_explain
from ansible_collections.drover.fleet.plugins.filter.to_haproxy_cfg import to_haproxy_cfg
from ansible_collections.drover.fleet.plugins.filter.to_haproxy_maps import to_haproxy_maps


class FilterModule:
    """The drover.fleet filters under their short names."""

    def filters(self):
        return {
            "blueprint_load": blueprint_load,
            "condition_to_acl": condition_to_acl,
            "routing_explain": routing_explain,
            "to_haproxy_cfg": to_haproxy_cfg,
            "to_haproxy_maps": to_haproxy_maps,
        }
