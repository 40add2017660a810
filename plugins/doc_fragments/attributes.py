# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The `attributes` every drover.fleet module documents: check mode, diff mode, idempotency, the action group."""

from __future__ import annotations


class ModuleDocFragment:
    """Shared attribute descriptions; each module states its own support level."""

    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled or queried by the module has not changed in a relevant way.
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

    ACTIONGROUP_HAPROXY = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/drover.fleet.haproxy) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - drover.fleet.haproxy
"""
