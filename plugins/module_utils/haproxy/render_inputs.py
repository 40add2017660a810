# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render inputs from plain data (Ansible variables, JSON): RenderOptions from a dict, instances from lists of dicts."""

from __future__ import annotations

import dataclasses

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderOptions
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance

RENDER_OPTION_NAMES = frozenset(field.name for field in dataclasses.fields(RenderOptions))
_INSTANCE_NAMES = frozenset(field.name for field in dataclasses.fields(Instance))


def render_options_from_data(data: dict | None) -> RenderOptions:
    """RenderOptions from `{setting: value}`; an unknown setting is an error that lists the allowed ones."""
    data = dict(data or {})
    unknown = sorted(set(data) - RENDER_OPTION_NAMES)
    if unknown:
        raise DroverError(f"unknown render option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(RENDER_OPTION_NAMES))}")
    return RenderOptions(**data)


def instances_from_data(data: dict | None) -> dict:
    """`{key: [Instance]}` from plain data: `{key: [{slot, address, port, name?, host?, version?}]}`."""
    found = {}
    for key, items in (data or {}).items():
        if not isinstance(items, list):
            raise DroverError(f"instances[{key!r}] must be a list of instances, not {type(items).__name__}")
        found[str(key)] = []
        for item in items:
            if isinstance(item, Instance):
                found[str(key)].append(item)
                continue
            if not isinstance(item, dict) or not {"slot", "address", "port"} <= set(item):
                raise DroverError(f"instances[{key!r}]: each instance needs slot, address and port; found {item!r}")
            values = {name: item[name] for name in _INSTANCE_NAMES if name in item}
            try:
                values["slot"], values["port"] = int(values["slot"]), int(values["port"])
            except (TypeError, ValueError) as exc:
                raise DroverError(f"instances[{key!r}]: slot and port must be whole numbers; found {item!r}") from exc
            found[str(key)].append(Instance(**values))
    return found
