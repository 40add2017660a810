# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compiles a routing condition into named HAProxy ACLs and the condition text that goes after `if`.

Each leaf of the tree becomes one positive ACL (a browser alias too); negation stays in the expression
as `!name`. HAProxy conditions have no parentheses (a space is AND, `or` is OR, `!` is NOT, AND binds tighter), so
the tree is brought to disjunctive normal form: `(a or b) and c` becomes `a c or b c`. Duplicate literals,
self-contradicting alternatives (`a !a`) and alternatives that contain another one are removed.

The ACLs each leaf becomes (HAProxy 2.6):

- user agent substring: `req.fhdr(User-Agent) -m sub 'VALUE'`. `fhdr` reads the whole header line; `hdr` would split
  it on commas, and user agents contain commas (VAMP #1056); a browser alias of several substrings is one PCRE,
  `req.fhdr(User-Agent) -m reg '^(?!.*Edg).*Chrome'` (see user_agents.py);
- host without a port: `req.hdr(host),host_only -m str 'host'` (host_only drops the port and lowers the case);
  with a port: `req.hdr(host),lower -m str 'host:port'`;
- has cookie: `req.cook(NAME) -m found`; cookie contains: `req.cook(NAME) -m sub 'VALUE'`;
- has header: `req.hdr_cnt(NAME) gt 0`; header contains: `req.fhdr(NAME) -m sub 'VALUE'`;
- raw ACL: its text, verbatim.

Values are strongly quoted (see `haproxy_quoting`); a value starting with `-` is preceded by `--` so that HAProxy
does not read it as a flag. ACL names are `<acl_prefix>_<first 16 hex digits of SHA-256(definition)>`, so the same
condition always compiles to byte-identical text and equal leaves share one ACL, also across conditions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.conditions.parser import (
    check_host,
    check_name,
    check_raw_acl,
    check_value,
    host_port,
    parse_condition,
)
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
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.fetches import is_sample_fetch
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import quote_fetch_argument, quote_word
from ansible_collections.drover.fleet.plugins.module_utils.conditions.user_agents import UserAgentAlias, alias_pattern, find_user_agent_alias

# After normal-form expansion; beyond this the condition is refused rather than rendered as a huge rule.
MAX_ALTERNATIVES = 64
# The `if` expression must fit on one 64-word HAProxy line together with the directive in front of it.
MAX_EXPRESSION_WORDS = 48
ACL_NAME_RE = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class CompiledCondition:
    """`acls` are (name, definition) pairs in order of first use; `expression` goes after `if` or `unless`."""

    acls: list = field(default_factory=list)
    expression: str = ""
    tree: object = field(default=None, compare=False)

    def acl_lines(self) -> list[str]:
        """The `acl` directives, one per ACL, to place in the frontend before the rule."""
        return [f"acl {name} {definition}" for name, definition in self.acls]

    def as_dict(self) -> dict:
        return {"acls": [{"name": name, "definition": definition} for name, definition in self.acls], "expression": self.expression}


def compile_condition(text: str, acl_prefix: str = "acl") -> CompiledCondition:
    """Parse and compile a condition. Raises ConditionError."""
    check_acl_prefix(acl_prefix)
    tree = parse_condition(text)
    try:
        return compile_tree(tree, acl_prefix)
    except ConditionError as error:
        if error.text is None:
            raise ConditionError(error.message, error.column, text) from None
        raise


def condition_to_acl(text: str, acl_prefix: str = "acl") -> dict:
    """Plain data for templates and filters: {"acls": [{"name", "definition"}], "expression": str}."""
    return compile_condition(text, acl_prefix).as_dict()


def check_acl_prefix(acl_prefix: str) -> None:
    if not isinstance(acl_prefix, str) or not ACL_NAME_RE.fullmatch(acl_prefix):
        raise ConditionError(f"acl_prefix {acl_prefix!r} is not an ACL name: use letters, digits, '-', '_', '.' and ':'")


def acl_name(definition: str, acl_prefix: str = "acl") -> str:
    """The stable name of an ACL definition."""
    return f"{acl_prefix}_{hashlib.sha256(definition.encode('utf-8')).hexdigest()[:16]}"


def compile_tree(tree: ConditionNode, acl_prefix: str = "acl") -> CompiledCondition:
    """Compile an already parsed tree. Leaves are checked again, so a hand-built tree is as safe as a parsed one."""
    check_acl_prefix(acl_prefix)
    alternatives = _normal_form(_to_formula(tree))
    if not alternatives:
        raise ConditionError("the condition can never hold: every alternative contradicts itself")
    names: dict[str, str] = {}
    rendered = []
    for alternative in alternatives:
        words = []
        for definition, holds in alternative:
            name = names.setdefault(definition, acl_name(definition, acl_prefix))
            words.append(name if holds else f"!{name}")
        rendered.append(" ".join(words))
    expression = " or ".join(rendered)
    word_count = len(expression.split())
    if word_count > MAX_EXPRESSION_WORDS:
        raise ConditionError(
            f"the condition needs {word_count} words in HAProxy's 'if' (at most {MAX_EXPRESSION_WORDS} fit on one line); simplify it")
    return CompiledCondition([(name, definition) for definition, name in names.items()], expression, tree)


def leaf_definition(leaf: ConditionNode) -> str:
    """The HAProxy ACL definition of one leaf (not a user-agent alias). Checks the leaf's values again."""
    if isinstance(leaf, UserAgent):
        check_value(leaf.value, "the user agent")
        return _substring_match("req.fhdr(User-Agent)", leaf.value)
    if isinstance(leaf, Host):
        check_host(leaf.value)
        if host_port(leaf.value):
            return f"req.hdr(host),lower -m str {quote_word(leaf.value.lower())}"
        return f"req.hdr(host),host_only -m str {quote_word(leaf.value.lower())}"
    if isinstance(leaf, (HasCookie, CookieContains)):
        check_name(leaf.name, "cookie")
        fetch = f"req.cook({quote_fetch_argument(leaf.name)})"
        if isinstance(leaf, HasCookie):
            return f"{fetch} -m found"
        check_value(leaf.value, "the cookie value")
        return _substring_match(fetch, leaf.value)
    if isinstance(leaf, HasHeader):
        check_name(leaf.name, "header")
        return f"req.hdr_cnt({quote_fetch_argument(leaf.name)}) gt 0"
    if isinstance(leaf, HeaderContains):
        check_name(leaf.name, "header")
        check_value(leaf.value, "the header value")
        return _substring_match(f"req.fhdr({quote_fetch_argument(leaf.name)})", leaf.value)
    if isinstance(leaf, RawAcl):
        check_raw_acl(leaf.text)
        # A typo in the fetch would only show at `haproxy -c`; name it here, where the condition's location is known.
        if not is_sample_fetch(leaf.text.split()[0]):
            raise ConditionError(f"the raw ACL starts with {leaf.text.split()[0]!r}, which is not an HAProxy 2.6 sample fetch or ACL keyword")
        return leaf.text
    raise ConditionError(f"not a condition node: {leaf!r}")


def _substring_match(fetch: str, value: str) -> str:
    end_of_flags = "-- " if value.startswith("-") else ""
    return f"{fetch} -m sub {end_of_flags}{quote_word(value)}"


# A formula is ("acl", definition) | ("not", formula) | ("and", [formula]) | ("or", [formula]).

def _to_formula(node: ConditionNode) -> tuple:
    if isinstance(node, And):
        return ("and", [_to_formula(operand) for operand in node.operands])
    if isinstance(node, Or):
        return ("or", [_to_formula(operand) for operand in node.operands])
    if isinstance(node, Not):
        return ("not", _to_formula(node.operand))
    if isinstance(node, UserAgent):
        alias = find_user_agent_alias(node.value)
        if alias is not None:
            return _alias_formula(alias)
    return ("acl", leaf_definition(node))


def _alias_formula(alias: UserAgentAlias) -> tuple:
    pattern = alias_pattern(alias)
    if pattern is not None:
        # one header read and one scan for the whole alias, instead of one per substring
        return ("acl", f"req.fhdr(User-Agent) -m reg {quote_word(pattern)}")

    def contains(part: str) -> tuple:
        return ("acl", leaf_definition(UserAgent(part)))

    parts = [contains(part) for part in alias.required]
    if alias.any_of:
        parts.append(("or", [contains(part) for part in alias.any_of]))
    parts.extend(("not", contains(part)) for part in alias.excluded)
    return parts[0] if len(parts) == 1 else ("and", parts)


def _normal_form(formula: tuple, negated: bool = False) -> list:
    """The alternatives (disjunctive normal form) of `formula`, negated when asked (De Morgan on the way down)."""
    kind = formula[0]
    if kind == "acl":
        return [((formula[1], not negated),)]
    if kind == "not":
        return _normal_form(formula[1], not negated)
    operands = formula[1]
    is_or = (kind == "or") != negated
    if is_or:
        alternatives = []
        for operand in operands:
            alternatives.extend(_normal_form(operand, negated))
            _refuse_too_many(len(alternatives))
        return _simplify(alternatives)
    alternatives = [()]
    for operand in operands:
        right = _normal_form(operand, negated)
        _refuse_too_many(len(alternatives) * len(right))
        alternatives = _simplify([left + extra for left in alternatives for extra in right])
    return alternatives


def _refuse_too_many(count: int) -> None:
    # Checked before simplifying, which costs count squared.
    if count > MAX_ALTERNATIVES * 16:
        raise ConditionError(f"the condition expands to more than {MAX_ALTERNATIVES} alternatives in HAProxy's 'if'; simplify it")


def _simplify(alternatives: list) -> list:
    """Drop repeated literals, contradictions and alternatives that contain another alternative; keep the order."""
    cleaned = []
    for alternative in alternatives:
        literals = tuple(dict.fromkeys(alternative))
        if any((definition, not holds) in literals for definition, holds in literals):
            continue
        cleaned.append(literals)
    kept = []
    for index, alternative in enumerate(cleaned):
        members = set(alternative)
        absorbed = False
        for other_index, other in enumerate(cleaned):
            if other_index == index:
                continue
            other_members = set(other)
            # A strict subset absorbs; of two equal sets the first one stays.
            if other_members < members or (other_members == members and other_index < index):
                absorbed = True
                break
        if not absorbed:
            kept.append(alternative)
    if len(kept) > MAX_ALTERNATIVES:
        raise ConditionError(f"the condition expands to more than {MAX_ALTERNATIVES} alternatives in HAProxy's 'if'; simplify it")
    return kept
