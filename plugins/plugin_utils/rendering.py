# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rendering for the filters: artifacts in the forms a playbook has them, every rendered file out."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.module_utils.dsl.sources import load_source
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import render
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render_inputs import instances_from_data, render_options_from_data
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def render_files(source, options=None, instances=None) -> dict:
    """All rendered files by relative path ("haproxy.cfg", "maps/<name>.map", "maps/<frontend>.<condition>.acl") of
    `source` (blueprint_load output, YAML text, a path or a list of paths), with render options and instances as data."""
    if options is not None and not isinstance(options, dict):
        raise AnsibleFilterError(f"options must be a dict, not {type(options).__name__}")
    if instances is not None and not isinstance(instances, dict):
        raise AnsibleFilterError(f"instances must be a dict, not {type(instances).__name__}")
    with filter_errors():
        return render(load_source(source), render_options_from_data(options), instances_from_data(instances)).files


__all__ = ["render_files"]
