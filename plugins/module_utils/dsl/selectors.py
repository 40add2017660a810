# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks VAMP's instance selectors, such as `label(tier)(web) and image(sava:.*)`.

A selector picks instances by their labels, image, name, kind, namespace or id; each value is a regular
expression. drover keeps selectors on gateways and routes and checks their syntax, as VAMP's reader does.
"""

from __future__ import annotations

import re

SELECTOR_FUNCTIONS = ("label", "image", "name", "kind", "namespace", "id")
SELECTOR_ALLOWED = ("functions label(<key>)(<regex>), image(<regex>), name(<regex>), kind(<regex>), namespace(<regex>), id(<regex>), "
                    "joined with and/or/not (also && || !) and parentheses")
_WORD = re.compile(r"[A-Za-z_]+")
_OPERATORS = (("&&", "and"), ("||", "or"), ("and", "and"), ("or", "or"), ("not", "not"), ("&", "and"), ("|", "or"), ("!", "not"))


class SelectorError(ValueError):
    """A selector that is not valid; the message says where and why."""


def check_selector(text: str) -> None:
    """Raises SelectorError when `text` is not a valid selector."""
    tokens = _tokens(text)
    position = _expression(tokens, 0)
    if position != len(tokens):
        raise SelectorError(f"unexpected {tokens[position][1]!r}")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char in "()":
            tokens.append((char, char))
            index += 1
            continue
        operator = _operator(text, index)
        if operator is not None:
            tokens.append(("op", operator[1]))
            index += len(operator[0])
            continue
        word = _WORD.match(text, index)
        if not word:
            raise SelectorError(f"unexpected {char!r} at {index}")
        name = word.group(0)
        if name not in SELECTOR_FUNCTIONS:
            raise SelectorError(f"unknown selector function {name!r}")
        index = word.end()
        arguments = 2 if name == "label" else 1
        for _position in range(arguments):
            value, index = _argument(text, index, name)
            try:
                re.compile(value)
            except re.error as exc:
                raise SelectorError(f"{name}({value}): invalid regular expression: {exc}") from None
        tokens.append(("fn", name))
    return tokens


def _operator(text: str, index: int) -> tuple[str, str] | None:
    for symbol, meaning in _OPERATORS:
        if text.startswith(symbol, index):
            after = text[index + len(symbol):index + len(symbol) + 1]
            if symbol.isalpha() and after and (after.isalnum() or after in "_("):
                continue  # a longer word, not the operator
            return symbol, meaning
    return None


def _argument(text: str, index: int, name: str) -> tuple[str, int]:
    """The text inside `( ... )` starting at `index` (nested parentheses allowed) and the index after it."""
    if index >= len(text) or text[index] != "(":
        raise SelectorError(f"{name} needs a value in parentheses")
    depth = 0
    for end in range(index, len(text)):
        if text[end] == "(":
            depth += 1
        elif text[end] == ")":
            depth -= 1
            if depth == 0:
                return text[index + 1:end].strip(), end + 1
    raise SelectorError(f"{name}: missing ')'")


def _expression(tokens: list, position: int) -> int:
    position = _term(tokens, position)
    while position < len(tokens) and tokens[position] in (("op", "and"), ("op", "or")):
        position = _term(tokens, position + 1)
    return position


def _term(tokens: list, position: int) -> int:
    if position >= len(tokens):
        raise SelectorError("the selector ends too early")
    token = tokens[position]
    if token == ("op", "not"):
        return _term(tokens, position + 1)
    if token[0] == "(":
        position = _expression(tokens, position + 1)
        if position >= len(tokens) or tokens[position][0] != ")":
            raise SelectorError("missing ')'")
        return position + 1
    if token[0] == "fn":
        return position + 1
    raise SelectorError(f"unexpected {token[1]!r}")
