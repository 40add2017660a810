# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The blueprint_load filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: blueprint_load
short_description: Read, resolve and validate VAMP artifacts (blueprints, breeds, gateways, SLAs)
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Reads VAMP DSL artifacts from YAML text, a file, a directory or a list of paths, resolves references between
    them, validates the whole set and returns the resolved model as plain data.
  - Invalid input fails with every error at once, each naming the file, line, column and dotted path.
  - The result can be passed to P(drover.fleet.to_haproxy_cfg#filter) and P(drover.fleet.routing_explain#filter).
options:
  _input:
    description:
      - YAML text with one or more artifacts, a path to a YAML file or a directory of them, a list of paths, or the
        output of this filter (returned as it is).
    type: raw
    required: true
  search:
    description:
      - Directories in which a relative path is looked for first, in order, for example C(playbook_dir). A relative
        path none of them has is read as given, from the working directory.
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
---
- name: Load a blueprint and the breeds it references
  ansible.builtin.set_fact:
    drover_artifacts: "{{ ['blueprints/sava.yml', 'breeds/'] | drover.fleet.blueprint_load }}"

- name: Load a blueprint named relative to the playbook, or else to the working directory
  ansible.builtin.set_fact:
    drover_artifacts: "{{ 'blueprints/sava.yml' | drover.fleet.blueprint_load(search=[playbook_dir]) }}"

- name: Load artifacts given inline
  ansible.builtin.set_fact:
    drover_artifacts: "{{ lookup('ansible.builtin.file', 'gateway.yml') | drover.fleet.blueprint_load }}"
"""

RETURN = r"""
_value:
  description:
    - The resolved artifact set as plain data. Each object carries a C(_type) key naming its kind
      (C(Blueprint), C(Gateway), C(Breed), ...), and an C(origin) with the file, line, column and dotted path it was
      read from.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.module_utils.dsl.codec import TYPE_KEY, to_data
from ansible_collections.drover.fleet.plugins.module_utils.dsl.sources import load_source
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def blueprint_load(source, search=()):
    """Resolved model data for YAML text, a path or a list of paths; relative paths are looked for in `search` first.
    Its own output passes through unchanged (a role that loads whatever it is given may be given that)."""
    if isinstance(source, dict) and source.get(TYPE_KEY) == "ArtifactSet":
        return source
    if not isinstance(source, (str, list, tuple)):
        raise AnsibleFilterError(f"drover.fleet.blueprint_load expects YAML text, a path, a list of paths or its own output, not {type(source).__name__}")
    if isinstance(search, str) or not all(isinstance(directory, str) for directory in search):
        raise AnsibleFilterError("drover.fleet.blueprint_load: search must be a list of directories")
    with filter_errors():
        return to_data(load_source(source, search))


class FilterModule:
    """drover.fleet artifact filters."""

    def filters(self):
        return {"blueprint_load": blueprint_load}
