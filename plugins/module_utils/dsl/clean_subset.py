# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The artifacts of a set that read cleanly: those with no error in their own document and none in anything they use.

Why: the routing plan finds errors the reader cannot (a gateway with no routes, a port no breed serves). It can only
be computed on artifacts that read cleanly, and waiting until every artifact does showed its errors one run later.
`drover validate` plans this subset in the same run instead; what uses a broken artifact is left out, so that a
broken one never causes a second, misleading error elsewhere ("breed x has no port 'web'" after the port's own error).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet, Reference

TABLES = ("breeds", "blueprints", "gateways", "scales", "slas", "escalations", "conditions", "routes")
_ARTIFACT_TYPES = ("Breed", "Blueprint", "Gateway", "Scale", "Sla", "Escalation", "Condition", "Route")


def clean_subset(artifacts: ArtifactSet, issues: list) -> ArtifactSet:
    """The artifacts of `artifacts` that hold none of `issues` (DslIssue) and use no artifact that does."""
    named = {(table, name): artifact for table in TABLES for name, artifact in getattr(artifacts, table).items()}
    documents = _Documents(named.values())
    dirty = set()
    for issue in issues:
        dirty.update(id(artifact) for artifact in documents.holding(issue.origin))
    users: dict[int, list] = {}
    for artifact in named.values():
        for used in _uses(artifact):
            if isinstance(used, tuple) and used not in named:
                dirty.add(id(artifact))  # it names something that was not loaded
                continue
            for owner in [named[used]] if isinstance(used, tuple) else documents.holding(used.origin):
                if owner is not artifact:
                    users.setdefault(id(owner), []).append(id(artifact))
    pending = list(dirty)
    while pending:
        for user in users.get(pending.pop(), ()):
            if user not in dirty:
                dirty.add(user)
                pending.append(user)
    subset = ArtifactSet(warnings=list(artifacts.warnings))
    for (table, name), artifact in named.items():
        if id(artifact) not in dirty:
            getattr(subset, table)[name] = artifact
    return subset


class _Documents:
    """Which artifact's document a place (file, line) is in: the last artifact of that file that starts at or before
    the line; every artifact of the file for a place with no line (a file that cannot be read)."""

    def __init__(self, artifacts):
        self.by_file: dict = {}
        for artifact in artifacts:
            self.by_file.setdefault(artifact.origin.file, []).append(artifact)
        for found in self.by_file.values():
            found.sort(key=lambda artifact: artifact.origin.line or 0)
        self.starts = {file: [artifact.origin.line or 0 for artifact in found] for file, found in self.by_file.items()}

    def holding(self, origin) -> list:
        found = self.by_file.get(origin.file, [])
        if origin.line is None:
            return list(found)
        index = bisect_right(self.starts.get(origin.file, []), origin.line) - 1
        return [found[index]] if index >= 0 else []


def _uses(artifact) -> list:
    """What an artifact uses: the artifact objects inside it (its own parts, and what its references were resolved
    to), and (table, name) for what it still names (a reference, the blueprint a standalone gateway's route leads to)."""
    found: list = []
    seen = {id(artifact)}
    pending = _children(artifact)
    while pending:
        value = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Reference):
            found.append((value.kind + "s", value.name))
            continue
        if getattr(value, "target_blueprint", None):
            found.append(("blueprints", value.target_blueprint))
        if type(value).__name__ in _ARTIFACT_TYPES:
            found.append(value)
        pending.extend(_children(value))
    return found


def _children(value) -> list:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, (list, tuple)):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [getattr(value, field.name) for field in dataclasses.fields(value)]
    return []
