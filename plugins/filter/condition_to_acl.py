# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The condition_to_acl filter."""

from __future__ import annotations

DOCUMENTATION = r"""
name: condition_to_acl
short_description: Compile a VAMP routing condition to HAProxy ACLs
version_added: 0.1.0
author:
  - drover.fleet contributors
description:
  - Compiles a condition such as C(user-agent == Chrome and has cookie beta) to named HAProxy ACLs and the
    expression to put after C(if).
  - ACL names are derived from a hash of their definition, so the same condition always gives the same text.
  - Values are quoted for HAProxy; text that could inject HAProxy syntax (newlines, control characters, bad header
    or cookie names) fails with the column of the problem.
options:
  _input:
    description: The condition text.
    type: string
    required: true
  acl_prefix:
    description: The prefix of the ACL names.
    type: string
    default: acl
"""

EXAMPLES = r"""
---
- name: Show the ACLs for a condition
  ansible.builtin.debug:
    msg: "{{ 'user-agent == Firefox or cookie group has admin' | drover.fleet.condition_to_acl }}"
"""

RETURN = r"""
_value:
  description: The ACLs and the expression.
  type: dict
  contains:
    acls:
      description: The ACLs, each with C(name) and C(definition) (the fetch and match, for example C(req.fhdr(User-Agent) -m sub 'Firefox')).
      type: list
      elements: dict
    expression:
      description: The HAProxy condition over the ACL names; a space is AND, C(or) is OR and C(!) is NOT.
      type: string
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import condition_to_acl as compile_to_data
from ansible_collections.drover.fleet.plugins.plugin_utils.filter_errors import filter_errors


def condition_to_acl(text, acl_prefix="acl") -> dict:
    """ACLs and an `if` expression for a condition."""
    if not isinstance(text, str):
        raise AnsibleFilterError(f"drover.fleet.condition_to_acl expects the condition text, not {type(text).__name__}")
    with filter_errors("invalid condition: "):
        return compile_to_data(text, acl_prefix)


class FilterModule:
    """drover.fleet condition filters."""

    def filters(self):
        return {"condition_to_acl": condition_to_acl}
