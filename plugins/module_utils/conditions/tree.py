# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boolean tree of a routing condition, the error raised for a bad condition, and the canonical condition text.

`condition_parser` builds the tree from VAMP's condition syntax and `condition_compiler` turns it into HAProxy ACLs.
Nodes are frozen dataclasses, so equal leaves compare and hash equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError


class ConditionError(DroverError):
    """A condition that cannot be parsed or compiled. `column` is the 0-based offset of the problem in `text`."""

    def __init__(self, message: str, column: int = 0, text: str | None = None):
        self.message = message
        self.column = column
        self.text = text
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"column {self.column}"
        if self.text is not None:
            shown = self.text if len(self.text) <= 100 else self.text[:97] + "..."
            where += f" of condition {shown!r}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class And:
    """Every operand holds."""

    operands: tuple

    def __post_init__(self):
        object.__setattr__(self, "operands", tuple(self.operands))


@dataclass(frozen=True)
class Or:
    """At least one operand holds."""

    operands: tuple

    def __post_init__(self):
        object.__setattr__(self, "operands", tuple(self.operands))


@dataclass(frozen=True)
class Not:
    operand: "ConditionNode"


@dataclass(frozen=True)
class UserAgent:
    """The User-Agent header contains `value`, or matches the browser alias named `value` (see `user_agents`)."""

    value: str


@dataclass(frozen=True)
class Host:
    """The Host header equals `value`, ignoring case; without a port in `value`, the request's port is ignored."""

    value: str


@dataclass(frozen=True)
class HasCookie:
    name: str


@dataclass(frozen=True)
class HasHeader:
    name: str


@dataclass(frozen=True)
class CookieContains:
    name: str
    value: str


@dataclass(frozen=True)
class HeaderContains:
    name: str
    value: str


@dataclass(frozen=True)
class RawAcl:
    """An HAProxy ACL criterion used verbatim: `<text>`, or, when `implicit`, a whole condition that looked like one."""

    text: str
    implicit: bool = False


ConditionNode = Union[And, Or, Not, UserAgent, Host, HasCookie, HasHeader, CookieContains, HeaderContains, RawAcl]

# A value that can be written without quotes in the condition language.
_BARE_FORBIDDEN = frozenset(" \t\n\r\f\v()\"'\\")


def quote_condition_value(value: str) -> str:
    """`value` as it is written in the condition language: bare when it can be, else double quoted."""
    if value and not any(char in _BARE_FORBIDDEN for char in value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def condition_text(node: ConditionNode) -> str:
    """The canonical condition text of a tree; parsing it gives the same tree back."""
    if isinstance(node, And):
        return " and ".join(_operand_text(operand) for operand in node.operands)
    if isinstance(node, Or):
        return " or ".join(_operand_text(operand) for operand in node.operands)
    if isinstance(node, Not):
        return f"not {_operand_text(node.operand)}"
    if isinstance(node, UserAgent):
        return f"user-agent == {quote_condition_value(node.value)}"
    if isinstance(node, Host):
        return f"host == {quote_condition_value(node.value)}"
    if isinstance(node, HasCookie):
        return f"has cookie {quote_condition_value(node.name)}"
    if isinstance(node, HasHeader):
        return f"has header {quote_condition_value(node.name)}"
    if isinstance(node, CookieContains):
        return f"cookie {quote_condition_value(node.name)} contains {quote_condition_value(node.value)}"
    if isinstance(node, HeaderContains):
        return f"header {quote_condition_value(node.name)} contains {quote_condition_value(node.value)}"
    if isinstance(node, RawAcl):
        return f"<{node.text}>"
    raise ConditionError(f"not a condition node: {node!r}")


def _operand_text(node: ConditionNode) -> str:
    text = condition_text(node)
    return f"({text})" if isinstance(node, (And, Or)) else text
