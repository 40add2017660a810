# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turns the artifact model into plain data (dicts, lists, strings, numbers) and back.

Ansible variables and JSON output can only hold plain data, so filters hand the model around in this form.
Every dataclass becomes a dict with a `_type` key naming its class, which makes the way back unambiguous where a
field may hold either an inline artifact or a Reference.
"""

from __future__ import annotations

import dataclasses

from ansible_collections.drover.fleet.plugins.module_utils.dsl import model
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError, Origin

TYPE_KEY = "_type"

_CLASSES = {
    cls.__name__: cls
    for cls in vars(model).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == model.__name__
}
_CLASSES[Origin.__name__] = Origin


def to_data(value):
    """A plain-data copy of a model value (an ArtifactSet, an artifact, or anything inside one)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {TYPE_KEY: type(value).__name__}
        for field in dataclasses.fields(value):
            data[field.name] = to_data(getattr(value, field.name))
        return data
    if isinstance(value, dict):
        return {str(key): to_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(item) for item in value]
    return value


def from_data(data):
    """The model value that `to_data` produced `data` from."""
    if isinstance(data, dict):
        type_name = data.get(TYPE_KEY)
        if type_name is None:
            return {key: from_data(item) for key, item in data.items()}
        cls = _CLASSES.get(type_name)
        if cls is None:
            raise DroverError(f"not drover model data: unknown {TYPE_KEY} {type_name!r}")
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: from_data(item) for key, item in data.items() if key in names})
    if isinstance(data, list):
        return [from_data(item) for item in data]
    return data
