# -*- coding: utf-8 -*-
"""How many instances an SLA may scale a cluster to, and so the server slots its services get (the routing planner
sizes every service backend with it: tests/unit/routing/test_routing.py)."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet, Escalation, Reference, Sla
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.plugins.module_utils.sla.capacity import SlotSizer
from ansible_collections.drover.fleet.tests.support.routing_fixtures import sava, scaled_sla

BLUEPRINT = """\
name: shop
clusters:
  front:
    breed: {name: front, deployable: img, ports: {web: 8080/http}}
    sla:
      type: response_time_sliding_window
      threshold: {upper: 100, lower: 10}
      window: {interval: 60, cooldown: 60}
      escalations:
        - {type: scale_instances, minimum: 1, maximum: 6, scale_by: 1}
        - {type: scale_instances, minimum: 1, maximum: 12, scale_by: 1, target: back}
  back:
    breed: {name: back, deployable: img, ports: {web: 8080/http}}
  idle:
    breed: {name: idle, deployable: img, ports: {web: 8080/http}}
"""


def test_the_largest_maximum_of_the_escalations_that_target_a_cluster():
    artifacts = load_text(BLUEPRINT, "shop.yml")
    sizer = SlotSizer(artifacts, default_slots=8)
    blueprint = artifacts.blueprints["shop"]
    assert sizer.maxima(blueprint) == {"front": [6], "back": [12]}
    assert (sizer.slots(blueprint, "front", 2), sizer.slots(blueprint, "back", 1), sizer.slots(blueprint, "idle", 3)) == (6, 12, 8)
    # at least the scale's instances, with or without an SLA
    assert (sizer.slots(blueprint, "front", 9), sizer.slots(blueprint, "idle", 10)) == (9, 10)


def test_groups_and_references_are_searched_once():
    shared = Escalation("scale_instances", name="more", minimum=1, maximum=5, scale_by=1)
    artifacts = sava(sla=Sla("response_time_sliding_window", escalations=[
        Escalation("to_one", escalations=[Reference("escalation", "more"), Reference("escalation", "more")]),
        Reference("escalation", "unknown")]))
    artifacts.escalations["more"] = shared
    unresolved = []

    def resolve(value, table, origin):
        found = table.get(value.name) if isinstance(value, Reference) else value
        if found is None:
            unresolved.append(value.name)
        return found

    sizer = SlotSizer(artifacts, default_slots=8, resolve=resolve)
    assert sizer.maxima(artifacts.blueprints["sava"]) == {"sava": [5]}
    assert unresolved == ["unknown"]


def test_an_sla_of_its_own_or_none():
    artifacts = sava(sla=scaled_sla(3, grouped=False))
    assert SlotSizer(artifacts, 8).slots(artifacts.blueprints["sava"], "sava", 1) == 3
    assert SlotSizer(ArtifactSet(), 4).slots(sava().blueprints["sava"], "sava", 1) == 4
