# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way for every adapter (filters, CLI, roles) to turn what a user hands over into an ArtifactSet.

A source is YAML text, a path to a file or directory, a list of paths, model data from `blueprint_load`, or an
ArtifactSet already.
"""

from __future__ import annotations

import os

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet
from ansible_collections.drover.fleet.plugins.module_utils.dsl.codec import TYPE_KEY, from_data
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths, load_text


def load_source(source, search=()) -> ArtifactSet:
    """The resolved, validated ArtifactSet for `source`. Raises DslError listing every problem in the input.
    A relative path is looked for in the `search` directories first, in order (a playbook's directory), and read as
    given, from the working directory, when none has it."""
    if isinstance(source, ArtifactSet):
        return source
    if isinstance(source, dict) and source.get(TYPE_KEY) == ArtifactSet.__name__:
        return from_data(source)
    if isinstance(source, (list, tuple)):
        if not all(isinstance(path, str) for path in source):
            raise DroverError("a list source must hold only file or directory paths")
        return load_paths([_found(path, search) for path in source])
    if isinstance(source, str):
        path = _found(source, search)
        if _looks_like_path(path):
            return load_paths([path])
        return load_text(source)
    raise DroverError(f"cannot read artifacts from a {type(source).__name__}: give YAML text, a path, a list of paths or blueprint_load output")


def _found(path: str, search) -> str:
    """`path` inside the first of the `search` directories that has it, else `path` itself."""
    if "\n" in path or os.path.isabs(path):
        return path
    return next((os.path.join(directory, path) for directory in search if os.path.exists(os.path.join(directory, path))), path)


def _looks_like_path(text: str) -> bool:
    # YAML artifacts always contain a newline or a colon-space; a path never contains a newline.
    return "\n" not in text and (os.path.exists(text) or text.endswith((".yml", ".yaml")) or os.sep in text and ": " not in text)
