# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Routing conditions: the public entry points, gathered from the modules that implement them.

- `parse_condition(text)`: VAMP's condition language to a boolean tree (`condition_parser`, `condition_tree`);
- `compile_condition(text, acl_prefix="acl")`: the tree to named HAProxy ACLs and an `if` expression
  (`condition_compiler`, with browser aliases from `user_agents` and quoting from `haproxy_quoting`);
- `condition_to_acl(text)`: the same as plain data, for filters and templates.

Every problem raises `ConditionError`, whose `column` is the 0-based offset in the condition text.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.conditions.compiler import (
    CompiledCondition,
    acl_name,
    compile_condition,
    compile_tree,
    condition_to_acl,
)
from ansible_collections.drover.fleet.plugins.module_utils.conditions.parser import parse_condition
from ansible_collections.drover.fleet.plugins.module_utils.conditions.tree import (
    And,
    ConditionError,
    ConditionNode,
    CookieContains,
    HasCookie,
    HasHeader,
    HeaderContains,
    Host,
    Not,
    Or,
    RawAcl,
    UserAgent,
    condition_text,
)

__all__ = [
    "And",
    "CompiledCondition",
    "ConditionError",
    "ConditionNode",
    "CookieContains",
    "HasCookie",
    "HasHeader",
    "HeaderContains",
    "Host",
    "Not",
    "Or",
    "RawAcl",
    "UserAgent",
    "acl_name",
    "compile_condition",
    "compile_tree",
    "condition_text",
    "condition_to_acl",
    "parse_condition",
]
