# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replaces every reference in a set of artifacts by the artifact it names.

Breeds, scales, SLAs, escalations, conditions and routes are looked up by name among the documents loaded
together. A breed defined inline in a blueprint can be referred to by name too, as VAMP stores inline breeds. A
reference that names nothing is an `UnresolvedReferenceError`. Referenced objects are shared, not copied, except
where the reference adds something of its own (an SLA reference with its own escalations, a route reference
with its own path).
"""

from __future__ import annotations

import dataclasses

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import (
    ArtifactSet, Blueprint, Breed, Escalation, Gateway, Reference, Route, Sla, SlaReference)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader_context import ReadContext, listing

_PLURAL = {"breed": "breeds", "scale": "scales", "sla": "slas", "escalation": "escalations", "condition": "conditions", "route": "routes"}


class Resolver:
    """Resolves the references of one ArtifactSet in place."""

    def __init__(self, ctx: ReadContext, artifacts: ArtifactSet):
        self.ctx = ctx
        self.artifacts = artifacts
        self.inline_breeds: dict[str, Breed] = {}
        self.escalation_stack: list[str] = []
        self.known: dict[str, str] = {}  # kind -> the names that exist, as shown in errors (made once)

    def resolve(self) -> None:
        for blueprint in self.artifacts.blueprints.values():
            for cluster in blueprint.clusters:
                for service in cluster.services:
                    if isinstance(service.breed, Breed):
                        self._collect_inline(service.breed)
        for breed in self.artifacts.breeds.values():
            self._collect_inline(breed, top=True)
        for route in self.artifacts.routes.values():
            self._route_fields(route)
        for escalation in self.artifacts.escalations.values():
            self._escalation_members(escalation)
        for sla in self.artifacts.slas.values():
            sla.escalations = self._escalations(sla.escalations)
        for breed in self.artifacts.breeds.values():
            self._breed_dependencies(breed, set())
        for blueprint in self.artifacts.blueprints.values():
            self._blueprint(blueprint)
        for gateway in self.artifacts.gateways.values():
            self._gateway(gateway)

    # --- lookups ----------------------------------------------------------------------------------------------

    def lookup(self, reference: Reference):
        table = getattr(self.artifacts, _PLURAL[reference.kind])
        found = table.get(reference.name)
        if found is None and reference.kind == "breed":
            found = self.inline_breeds.get(reference.name)
        if found is None:
            if reference.kind not in self.known:
                names = set(table) | set(self.inline_breeds) if reference.kind == "breed" else set(table)
                self.known[reference.kind] = listing(sorted(names)) or "none is defined"
            self.ctx.error(reference.origin, f"unknown {reference.kind} '{reference.name}'", "UnresolvedReferenceError", reference.name,
                           f"a {reference.kind} defined in the files loaded: {self.known[reference.kind]}")
        return found

    def _collect_inline(self, breed: Breed, top: bool = False) -> None:
        if not top:
            self.inline_breeds.setdefault(breed.name, breed)
        for dependency in breed.dependencies.values():
            if isinstance(dependency, Breed) and dependency.name not in self.inline_breeds:
                self._collect_inline(dependency)

    # --- artifacts --------------------------------------------------------------------------------------------

    def _breed(self, breed):
        if isinstance(breed, Reference):
            found = self.lookup(breed)
            if found is None:
                return breed
            breed = found
        self._breed_dependencies(breed, set())
        return breed

    def _breed_dependencies(self, breed: Breed, visiting: set) -> None:
        if id(breed) in visiting:
            return  # a dependency cycle: validation reports it
        visiting.add(id(breed))
        for key, dependency in breed.dependencies.items():
            if isinstance(dependency, Reference):
                found = self.lookup(dependency)
                if found is None:
                    continue
                breed.dependencies[key] = dependency = found
            self._breed_dependencies(dependency, visiting)
        visiting.discard(id(breed))

    def _blueprint(self, blueprint: Blueprint) -> None:
        for cluster in blueprint.clusters:
            for service in cluster.services:
                service.breed = self._breed(service.breed)
                if isinstance(service.scale, Reference):
                    service.scale = self.lookup(service.scale) or service.scale
            cluster.sla = self._sla(cluster.sla)
            for gateway in cluster.gateways:
                self._gateway(gateway)
        for gateway in blueprint.gateways:
            self._gateway(gateway)

    def _sla(self, sla):
        if isinstance(sla, SlaReference):
            found = self.lookup(sla)
            if found is None:
                return sla
            if sla.escalations:
                # the reference's own escalations replace the named SLA's
                return dataclasses.replace(found, escalations=self._escalations(sla.escalations))
            return found
        if isinstance(sla, Reference):
            return self.lookup(sla) or sla
        if isinstance(sla, Sla):
            sla.escalations = self._escalations(sla.escalations)
        return sla

    def _escalations(self, escalations: list) -> list:
        resolved = []
        for escalation in escalations:
            if isinstance(escalation, Reference):
                if escalation.name in self.escalation_stack:
                    self.ctx.error(escalation.origin, f"escalation '{escalation.name}' contains itself", "RecursiveReferenceError",
                                   " -> ".join(self.escalation_stack + [escalation.name]), "escalation groups without cycles")
                    resolved.append(escalation)
                    continue
                found = self.lookup(escalation)
                if found is None:
                    resolved.append(escalation)
                    continue
                self._escalation_members(found)
                escalation = found
            else:
                self._escalation_members(escalation)
            resolved.append(escalation)
        return resolved

    def _escalation_members(self, escalation: Escalation) -> None:
        if not escalation.escalations:
            return
        self.escalation_stack.append(escalation.name or escalation.type)
        try:
            escalation.escalations = self._escalations(escalation.escalations)
        finally:
            self.escalation_stack.pop()

    def _gateway(self, gateway: Gateway) -> None:
        for route in gateway.routes:
            if route.reference is not None:
                found = self.lookup(route.reference)
                if found is None:
                    continue
                route.name = found.name
                route.weight, route.condition, route.condition_strength = found.weight, found.condition, found.condition_strength
                route.rewrites, route.balance, route.selector = list(found.rewrites), found.balance, found.selector
                route.reference = None
            self._route_fields(route)

    def _route_fields(self, route: Route) -> None:
        if isinstance(route.condition, Reference):
            route.condition = self.lookup(route.condition) or route.condition


def resolve_references(ctx: ReadContext, artifacts: ArtifactSet) -> None:
    Resolver(ctx, artifacts).resolve()
