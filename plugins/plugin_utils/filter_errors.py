# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters' one translation of engine errors: a DroverError (file, line, column and dotted path in its message)
becomes an AnsibleFilterError chained to it. Controller-only: filters and action plugins use plugins/plugin_utils/."""

from __future__ import annotations

from contextlib import contextmanager

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError


@contextmanager
def filter_errors(prefix: str = "", also: tuple = ()):
    """Raise what the engine refuses inside the block as AnsibleFilterError, its message after `prefix`; `also` names
    more exception types to report so (ValueError from a number that is not one)."""
    try:
        yield
    except (DroverError,) + tuple(also) as exc:
        raise AnsibleFilterError(f"{prefix}{exc}") from exc


__all__ = ["filter_errors"]
