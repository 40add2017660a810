# -*- coding: utf-8 -*-
"""Test support: what a compiled condition means, worked out in Python, to compare with VAMP and with HAProxy.

- `parse_expression` / `evaluate_expression`: HAProxy's condition syntax after `if` (a space is AND, `or` or `||`
  is OR, `!` is NOT, AND binds tighter, no parentheses).
- `definition_atom`: an ACL definition, ours or VAMP's, read back into an abstract predicate such as
  ("cookie_present", "vamp"), with its polarity. Values are read back through the HAProxy word splitter, so a
  quoting mistake shows up as a wrong atom. A browser alias compiled to one regular expression is read back as
  the alias's formula over its substring atoms (`definition_atoms`, `definition_alias`).
- `Request` and `tree_matches` / `definition_matches`: a request and what a condition tree, or one of our ACL
  definitions, says about it; the integration test checks the real HAProxy against the same requests.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.conditions.parser import host_port
from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import (
    And,
    CookieContains,
    HasCookie,
    HasHeader,
    HeaderContains,
    Host,
    Not,
    Or,
    RawAcl,
    UserAgent,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import split_words
from ansible_collections.drover.fleet.plugins.module_utils.conditions.user_agents import (
    USER_AGENT_ALIASES, UserAgentAlias, alias_pattern, find_user_agent_alias)

_FETCH_RE = re.compile(r"(?P<fetch>[a-z_.]+)(?:\((?P<argument>.*)\))?(?P<converters>(?:,[a-z_]+)*)")


def parse_expression(expression: str) -> list[list[tuple[str, bool]]]:
    """Alternatives of (acl name, must hold) literals."""
    alternatives: list[list[tuple[str, bool]]] = [[]]
    for word in expression.split():
        if word in ("or", "||"):
            alternatives.append([])
        elif word.startswith("!"):
            alternatives[-1].append((word[1:], False))
        else:
            alternatives[-1].append((word, True))
    if any(not alternative for alternative in alternatives):
        raise ValueError(f"empty alternative in {expression!r}")
    return alternatives


def evaluate_expression(expression: str, truth) -> bool:
    """`truth(name)` gives each ACL's value."""
    return any(all(truth(name) == holds for name, holds in alternative) for alternative in parse_expression(expression))


def _argument(text: str) -> str:
    # The second (argument-level) parse: our names only ever carry \' there.
    return text.replace("\\'", "'")


def definition_atom(definition: str) -> tuple[tuple, bool]:
    """The abstract predicate an ACL definition tests, and True if the ACL holds when the predicate does."""
    words = split_words(definition)
    match = _FETCH_RE.fullmatch(words[0])
    if match is None:
        return ("raw", definition), True
    fetch, argument, converters = match.group("fetch"), _argument(match.group("argument") or ""), match.group("converters")
    flags = words[1:]
    if flags[:1] == ["-m"]:
        method, patterns = flags[1], flags[2:]
    else:
        method, patterns = None, flags
    if patterns[:1] == ["--"]:
        patterns = patterns[1:]
    if fetch in ("req.fhdr", "hdr") and method == "sub" and len(patterns) == 1:
        return ("header_sub", argument.lower(), patterns[0]), True
    if fetch in ("req.hdr_cnt", "hdr_cnt") and len(patterns) == 2 and patterns[1] == "0":
        return ("header_present", argument.lower()), patterns[0] == "gt"
    if fetch in ("req.cook", "cook") and method == "found":
        return ("cookie_present", argument), True
    if fetch in ("req.cook_cnt", "cook_cnt") and patterns == ["eq", "0"]:
        return ("cookie_present", argument), False
    if fetch in ("req.cook", "cook") and method == "sub" and len(patterns) == 1:
        return ("cookie_sub", argument, patterns[0]), True
    if fetch in ("req.cook_sub", "cook_sub") and method is None and len(patterns) == 1:
        return ("cookie_sub", argument, patterns[0]), True
    if fetch in ("req.hdr", "hdr", "hdr_str") and argument.lower() == "host" and len(patterns) == 1:
        if converters in ("", ",lower", ",host_only") and method in (None, "str"):
            return ("host", patterns[0].lower()), True
    return ("raw", definition), True


def _regex_pattern(definition: str) -> str | None:
    """The pattern of a `req.fhdr(User-Agent) -m reg '...'` definition."""
    words = split_words(definition)
    if len(words) == 4 and words[0].lower() == "req.fhdr(user-agent)" and words[1:3] == ["-m", "reg"]:
        return words[3]
    return None


def definition_alias(definition: str):
    """The browser alias (of the current table) whose one regular expression this definition is, or None."""
    pattern = _regex_pattern(definition)
    return next((alias for alias in USER_AGENT_ALIASES.values() if pattern is not None and alias_pattern(alias) == pattern), None)


def _user_agent_atom(part: str) -> tuple:
    return ("header_sub", "user-agent", part)


def definition_atoms(definition: str) -> list:
    """The atoms an ACL depends on: its own, or for an alias's regular expression each of the alias's substrings."""
    alias = definition_alias(definition)
    if alias is None:
        return [definition_atom(definition)[0]]
    return [_user_agent_atom(part) for part in alias.required + alias.any_of + alias.excluded]


def compiled_truth_table(compiled, atoms: list) -> list[bool]:
    """The value of a compiled condition for every assignment of `atoms`, in itertools.product order."""
    definitions = dict(compiled.acls)
    table = []
    for values in itertools.product((False, True), repeat=len(atoms)):
        table.append(evaluate_expression(compiled.expression, _acl_truth(definitions, dict(zip(atoms, values)))))
    return table


def _acl_truth(definitions: dict, assignment: dict):
    """ACL name -> its value when each atom has the value in `assignment`."""
    def truth(name: str) -> bool:
        alias = definition_alias(definitions[name])
        if alias is not None:
            def has(part):
                return assignment[_user_agent_atom(part)]

            return (all(has(part) for part in alias.required) and (not alias.any_of or any(has(part) for part in alias.any_of))
                    and not any(has(part) for part in alias.excluded))
        atom, holds = definition_atom(definitions[name])
        return assignment[atom] == holds

    return truth


def vamp_truth_table(acl_structure, atoms: list) -> list[bool]:
    """The value of a VAMP `acl_structure` tree for every assignment of `atoms`."""
    table = []
    for values in itertools.product((False, True), repeat=len(atoms)):
        table.append(_evaluate_vamp(acl_structure, dict(zip(atoms, values))))
    return table


def vamp_atoms(acl_structure) -> list:
    if "acl" in acl_structure:
        return [definition_atom(acl_structure["acl"])[0]]
    if "not" in acl_structure:
        return vamp_atoms(acl_structure["not"])
    key = "and" if "and" in acl_structure else "or"
    return [atom for operand in acl_structure[key] for atom in vamp_atoms(operand)]


def _evaluate_vamp(node, assignment) -> bool:
    if "acl" in node:
        atom, holds = definition_atom(node["acl"])
        return assignment[atom] == holds
    if "not" in node:
        return not _evaluate_vamp(node["not"], assignment)
    if "and" in node:
        return all(_evaluate_vamp(operand, assignment) for operand in node["and"])
    return any(_evaluate_vamp(operand, assignment) for operand in node["or"])


@dataclass
class Request:
    """What a condition can look at: the Host header, other headers (in order, repeats allowed) and cookies."""

    host: str = "example.com"
    path: str = "/"
    headers: list = field(default_factory=list)
    cookies: list = field(default_factory=list)

    def header_values(self, name: str) -> list[str]:
        """As HAProxy sees them: Host and Cookie lines included, spaces and tabs around each value removed."""
        values = [value for key, value in self.header_lines() if key.lower() == name.lower()]
        return [value.strip(" \t") for value in values]

    def header_lines(self) -> list[tuple[str, str]]:
        """Every header line the request sends."""
        lines = [("Host", self.host)] + list(self.headers)
        if self.cookies:
            lines.append(("Cookie", "; ".join(f"{key}={value}" for key, value in self.cookies)))
        return lines

    def cookie_values(self, name: str) -> list[str]:
        return [value for key, value in self.cookies if key == name]

    @property
    def user_agent(self) -> str | None:
        values = self.header_values("User-Agent")
        return values[-1] if values else None


def _host_matches(request: Request, value: str) -> bool:
    header = request.host.lower()
    if host_port(value):
        return header == value.lower()
    if header.startswith("["):
        host = header[:header.index("]") + 1]
    else:
        host = header.split(":", 1)[0]
    return host == value.lower()


def tree_matches(node, request: Request) -> bool:
    """What the condition means for a request, read straight from the tree (no ACLs involved)."""
    if isinstance(node, And):
        return all(tree_matches(operand, request) for operand in node.operands)
    if isinstance(node, Or):
        return any(tree_matches(operand, request) for operand in node.operands)
    if isinstance(node, Not):
        return not tree_matches(node.operand, request)
    if isinstance(node, UserAgent):
        agents = request.header_values("User-Agent")
        alias = find_user_agent_alias(node.value)
        if alias is not None:
            return _alias_over_lines(alias, agents)
        return any(node.value in agent for agent in agents)
    if isinstance(node, Host):
        return _host_matches(request, node.value)
    if isinstance(node, HasCookie):
        return bool(request.cookie_values(node.name))
    if isinstance(node, CookieContains):
        return any(node.value in value for value in request.cookie_values(node.name))
    if isinstance(node, HasHeader):
        return bool(request.header_values(node.name))
    if isinstance(node, HeaderContains):
        return any(node.value in value for value in request.header_values(node.name))
    if isinstance(node, RawAcl):
        raise ValueError("a raw ACL has no meaning outside HAProxy")
    raise TypeError(node)


def alias_matches(alias: UserAgentAlias, user_agent: str) -> bool:
    """Whether one user agent line holds the alias, by its definition: every required substring, one of `any_of`, no
    excluded one (the oracle the compiled ACL's regular expression is checked against)."""
    if not all(part in user_agent for part in alias.required):
        return False
    if alias.any_of and not any(part in user_agent for part in alias.any_of):
        return False
    return not any(part in user_agent for part in alias.excluded)


def _alias_over_lines(alias, agents) -> bool:
    """HAProxy tries an ACL on every User-Agent line: a one-substring alias holds when a line contains it, an alias
    of several substrings (one regular expression) when one line matches the whole alias."""
    if alias_pattern(alias) is not None:
        return any(alias_matches(alias, agent) for agent in agents)
    return any(part in agent for agent in agents for part in alias.required + alias.any_of)


def definition_matches(definition: str, request: Request) -> bool:
    """What one of our ACL definitions says about a request, read back from its HAProxy text."""
    pattern = _regex_pattern(definition)
    if pattern is not None:
        # Python's re reads these patterns (lookaheads, groups, escaped literals) as PCRE does
        return any(re.search(pattern, value) for value in request.header_values("User-Agent"))
    atom, holds = definition_atom(definition)
    kind = atom[0]
    if kind == "header_sub":
        result = any(atom[2] in value for value in request.header_values(atom[1]))
    elif kind == "header_present":
        result = bool(request.header_values(atom[1]))
    elif kind == "cookie_present":
        result = bool(request.cookie_values(atom[1]))
    elif kind == "cookie_sub":
        result = any(atom[2] in value for value in request.cookie_values(atom[1]))
    elif kind == "host":
        result = _host_matches(request, atom[1])
    else:
        raise ValueError(f"cannot evaluate {definition!r}")
    return result == holds


def compiled_matches(compiled, request: Request) -> bool:
    definitions = dict(compiled.acls)
    return evaluate_expression(compiled.expression, lambda name: definition_matches(definitions[name], request))
