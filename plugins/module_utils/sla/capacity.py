# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many instances a cluster's SLA may scale it to, and so how many HAProxy server slots its services need.

A service backend pre-declares its servers as slots, so that scaling within them needs no reload. The number is the
largest `scale_instances` maximum of the blueprint's SLA escalations that target the cluster (an escalation without
`target` targets its own cluster; `to_all` and `to_one` groups are searched), and at least the scale's instances;
without such an escalation, a default.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.errors import Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet, Blueprint, Cluster, Escalation, Reference, Sla


def _lookup(value, table: dict, _origin: Origin):
    return table.get(value.name) if isinstance(value, Reference) else value


class SlotSizer:
    """The slots of each service, computed once per blueprint. `resolve(value, table, origin)` turns a reference into
    the artifact it names (None when it names nothing); the routing planner passes its own, which reports those."""

    def __init__(self, artifacts: ArtifactSet, default_slots: int, resolve=None):
        self.artifacts = artifacts
        self.default_slots = default_slots
        self.resolve = resolve or _lookup
        self._maxima: dict = {}

    def slots(self, blueprint: Blueprint, cluster: str, instances: int) -> int:
        """The most instances the SLA may scale `cluster` to, and at least `instances` (the scale's); without an SLA
        maximum, the default."""
        maxima = self.maxima(blueprint).get(cluster, [])
        if maxima:
            return max(int(max(maxima)), instances, 1)
        return max(self.default_slots, instances)

    def maxima(self, blueprint: Blueprint) -> dict:
        """{cluster name: scale_instances maxima of every escalation that targets it}."""
        cached = self._maxima.get(id(blueprint))
        if cached is None:
            cached = {}
            for owner in blueprint.clusters:
                for maximum, target in self._escalation_maxima(self._sla_escalations(owner), owner.name, set()):
                    cached.setdefault(target, []).append(maximum)
            self._maxima[id(blueprint)] = cached
        return cached

    def _sla_escalations(self, cluster: Cluster) -> list:
        if cluster.sla is None:
            return []
        escalations = list(getattr(cluster.sla, "escalations", []) or [])
        sla = self.resolve(cluster.sla, self.artifacts.slas, cluster.origin)
        if isinstance(sla, Sla) and sla is not cluster.sla:
            escalations = escalations + list(sla.escalations)
        return escalations

    def _escalation_maxima(self, escalations: list, owner: str, seen: set) -> list:
        """(maximum, target cluster) of every scale_instances escalation, groups included."""
        maxima = []
        for item in escalations:
            escalation = self.resolve(item, self.artifacts.escalations, Origin())
            if not isinstance(escalation, Escalation) or id(escalation) in seen:
                continue
            seen.add(id(escalation))
            if escalation.is_group:
                maxima.extend(self._escalation_maxima(escalation.escalations, owner, seen))
            elif escalation.type == "scale_instances" and escalation.maximum is not None:
                maxima.append((escalation.maximum, escalation.target or owner))
        return maxima


__all__ = ["SlotSizer"]
