# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules, held together with their rules so docs and specs cannot drift.

Modelled on community.crypto's ArgumentSpec: a spec plus its mutually_exclusive / required_if / ... lists, merged
from small factories (the runtime sockets here, the reload options in config_args.py), each documented by one doc
fragment. A module makes its AnsibleModule from `ansible_module_kwargs()`: module_utils never import AnsibleModule,
so the engine stays free of it. This file is small on purpose: every module imports it, and AnsiballZ ships what it
imports to the managed host.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.sockets import DEFAULT_ADMIN_SOCKET, DEFAULT_MASTER_SOCKET

_RULES = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class ArgumentSpec:
    """An argument spec and the rules that go with it."""

    def __init__(self, argument_spec: dict | None = None, **rules):
        unknown = set(rules) - set(_RULES)
        if unknown:
            raise ValueError(f"unknown argument spec rule(s): {', '.join(sorted(unknown))}")
        self.argument_spec = dict(argument_spec or {})
        self.mutually_exclusive = list(rules.get("mutually_exclusive") or [])
        self.required_together = list(rules.get("required_together") or [])
        self.required_one_of = list(rules.get("required_one_of") or [])
        self.required_if = list(rules.get("required_if") or [])
        self.required_by = dict(rules.get("required_by") or {})

    def merge(self, other: "ArgumentSpec") -> "ArgumentSpec":
        self.argument_spec.update(other.argument_spec)
        self.mutually_exclusive.extend(other.mutually_exclusive)
        self.required_together.extend(other.required_together)
        self.required_one_of.extend(other.required_one_of)
        self.required_if.extend(other.required_if)
        for key, names in other.required_by.items():
            self.required_by[key] = list(self.required_by.get(key, [])) + list(names)
        return self

    def ansible_module_kwargs(self, **kwargs) -> dict:
        """The keyword arguments of AnsibleModule: the spec, its rules, and `kwargs` (supports_check_mode, ...)."""
        for name in ("argument_spec",) + _RULES:
            if name in kwargs:
                raise ValueError(f"{name} comes from the ArgumentSpec, not from ansible_module_kwargs()")
        return dict(
            kwargs,
            argument_spec=self.argument_spec,
            mutually_exclusive=self.mutually_exclusive,
            required_together=self.required_together,
            required_one_of=self.required_one_of,
            required_if=self.required_if,
            required_by=self.required_by,
        )


def admin_socket_spec() -> ArgumentSpec:
    """The admin (stats) socket and the socket timeout; documented by the drover.fleet.haproxy_socket fragment."""
    return ArgumentSpec(
        {
            "admin_socket": {"type": "str", "default": DEFAULT_ADMIN_SOCKET, "aliases": ["socket"]},
            "timeout": {"type": "float", "default": 5.0},
        }
    )


def master_socket_spec() -> ArgumentSpec:
    """The master CLI socket; documented by the drover.fleet.haproxy_socket.master fragment."""
    return ArgumentSpec({"master_socket": {"type": "str", "default": DEFAULT_MASTER_SOCKET}})
