# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parses VAMP's routing-condition language into a `condition_tree`.

The grammar (keywords in any case; whitespace is optional around symbols):

    condition  := term { ("or" | "||" | "|") term }
    term       := factor { ("and" | "&&" | "&") factor }          AND binds tighter than OR
    factor     := ("not" | "!") factor | "(" condition ")" | operand
    operand    := "<" raw HAProxy ACL ">"
                | "host" compare VALUE                             Host header, port ignored, any case
                | ("user-agent" | "user.agent" | "useragent") compare VALUE
                | ("has" | "contains" | "misses") ("cookie" | "header") NAME
                | ("cookie" | "header") NAME ("has" | "contains" | "misses") VALUE
    compare    := "==" | "=" | "is" | "has" | "contains"          holds
                | "!=" | "!" | "not" | "misses"                    negated

A VALUE is a word that runs to the next whitespace or parenthesis, as in VAMP, or a string in double or single
quotes in which a backslash takes the next character literally (`"Mozilla/5.0 (X11; Linux)"`). A NAME is the
same but must be an HTTP token. `has`/`contains` after `host` and `user-agent` mean equality and substring, as
in VAMP.

Values may contain any printable character (they are quoted for HAProxy by the compiler), but never control or
line-break characters. Raw ACLs inside `<...>` must stay one valid HAProxy line fragment: balanced quotes, no
comment, no environment variable, no control character, at most 62 words. A raw ACL is HAProxy configuration text
and is trusted as such (any fetch or flag HAProxy accepts), except what would reach into the load balancer itself
(`map`, `-f <file>`, `hostname`, `set-var`, ...: `fetches.acl_host_access`); these checks keep it inside its own
`acl` line, and `haproxy -c` validates it with the rest of the configuration.

Fallback, as VAMP does: when the whole text is not condition syntax, VAMP uses it as one raw HAProxy ACL. Here
that fallback is taken only when the text looks like an ACL: its first word starts with a known HAProxy 2.6 sample
fetch (`hdr_sub(user-agent) Android`, `path_beg /api`), it holds none of the condition language's keywords or
operators, and it passes the raw ACL checks. Anything else, for example `user-agnet == Firefox` or
`path_beg /api and has cookie x`, is reported with the column of the syntax error, so that a typo never becomes
an arbitrary ACL. The fallback gives `RawAcl(text, implicit=True)`.
"""

from __future__ import annotations

import re

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
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.fetches import acl_host_access, is_sample_fetch
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import (
    MAX_WORDS_PER_LINE,
    HaproxyTextError,
    describe_character,
    find_unsafe_character,
    is_token,
    split_words,
)

WHITESPACE = " \t\n\r\f\v"
MAX_CONDITION_LENGTH = 65536
MAX_VALUE_LENGTH = 4096
MAX_NAME_LENGTH = 256
MAX_NESTING = 64
# `acl <name>` takes two of the 64 words of a configuration line.
MAX_RAW_ACL_WORDS = MAX_WORDS_PER_LINE - 2

# Characters that may directly follow a keyword; anything else makes it part of a longer word.
_KEYWORD_END = frozenset(WHITESPACE + "()<!=\"'&|")
_VALUE_END = frozenset(WHITESPACE + "()")
_USER_AGENT_RE = re.compile(r"user[-.]?agent", re.IGNORECASE)
_HOST_RE = re.compile(r"(?P<host>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")

_COMPARE_SYMBOLS = (("==", True), ("!=", False), ("=", True), ("!", False))
_COMPARE_WORDS = {"is": True, "has": True, "contains": True, "not": False, "misses": False}
_CONTAINS_WORDS = {"has": True, "contains": True, "misses": False}
# Words of the condition language: a text holding one of them is never taken as an implicit raw ACL.
_LANGUAGE_WORDS = frozenset(
    ("host", "cookie", "header", "user-agent", "user.agent", "useragent", "is", "not", "has", "contains", "misses",
     "and", "or", "&&", "&", "||", "|", "!", "==", "=", "!=")
)
_OPERAND_HELP = "host, user-agent, cookie NAME has VALUE, header NAME has VALUE, has/misses cookie|header NAME, <raw ACL>, 'not' or '('"


def parse_condition(text: str) -> ConditionNode:
    """The boolean tree of a condition. Raises ConditionError with the column of the first problem."""
    if not isinstance(text, str):
        raise ConditionError(f"a condition must be a string, found {type(text).__name__}", 0, None)
    if len(text) > MAX_CONDITION_LENGTH:
        raise ConditionError(f"the condition is {len(text)} characters long; at most {MAX_CONDITION_LENGTH} are allowed", MAX_CONDITION_LENGTH, text)
    for index, char in enumerate(text):
        if char not in WHITESPACE and find_unsafe_character(char) is not None:
            raise ConditionError(f"{describe_character(char)} is not allowed in a condition", index, text)
    if not text.strip():
        raise ConditionError("the condition is empty", 0, text)
    try:
        return _Parser(text).parse()
    except ConditionError as syntax_error:
        fallback = _implicit_raw_acl(text)
        if fallback is None:
            raise syntax_error from None
        return fallback


def check_value(value: str, what: str, column: int = 0, text: str | None = None) -> None:
    """A VALUE must be non-empty, printable and at most MAX_VALUE_LENGTH characters."""
    if not value:
        raise ConditionError(f"{what} is empty", column, text)
    if len(value) > MAX_VALUE_LENGTH:
        raise ConditionError(f"{what} is {len(value)} characters long; at most {MAX_VALUE_LENGTH} are allowed", column, text)
    index = find_unsafe_character(value)
    if index is not None:
        raise ConditionError(f"{what} contains {describe_character(value[index])}; control and line-break characters are not allowed", column, text)


def check_name(name: str, kind: str, column: int = 0, text: str | None = None) -> None:
    """A cookie or header NAME must be an HTTP token (RFC 7230)."""
    if not is_token(name) or len(name) > MAX_NAME_LENGTH:
        raise ConditionError(
            f"{kind} name {name!r} is not an HTTP token: use 1 to {MAX_NAME_LENGTH} letters, digits or !#$%&'*+-.^_`|~",
            column, text)
    if kind == "cookie" and name.startswith("$"):
        # HAProxy treats $-names as RFC 2109 cookie attributes ($Path, $Domain) and never matches them.
        raise ConditionError(f"cookie name {name!r} starts with '$', which HAProxy never matches as a cookie", column, text)


def check_host(value: str, column: int = 0, text: str | None = None) -> None:
    """A host is a DNS name, an IPv4 address or a bracketed IPv6 address, with an optional :port."""
    match = _HOST_RE.fullmatch(value)
    if match is None or len(value) > 261 or (match.group("port") and int(match.group("port")) > 65535):
        operators = " (put spaces around && and ||)" if any(symbol in value for symbol in "&|") else ""
        raise ConditionError(
            f"host {value!r} is not a host name: use a DNS name or IP address, optionally with :port "
            f"(internationalized names in punycode){operators}", column, text)


def host_port(value: str) -> str | None:
    """The port written in a host value, or None."""
    match = _HOST_RE.fullmatch(value)
    return match.group("port") if match else None


def check_raw_acl(acl: str, column: int = 0, text: str | None = None) -> None:
    """A raw ACL must be one safe line fragment: see the module docstring."""
    if not acl.strip():
        raise ConditionError("the raw ACL is empty", column, text)
    try:
        words = split_words(acl, allow_comment=False, allow_environment=False)
    except HaproxyTextError as error:
        raise ConditionError(f"raw ACL: {error.message}", column + error.offset, text) from None
    if len(words) > MAX_RAW_ACL_WORDS:
        raise ConditionError(f"the raw ACL has {len(words)} words; an HAProxy line holds at most {MAX_RAW_ACL_WORDS} after 'acl <name>'", column, text)
    if acl_host_access(words):
        raise ConditionError(f"the raw ACL uses {acl_host_access(words)}, which would reach into the load balancer itself, its files, host "
                             "facts, secrets or routing variables (docs/dsl.md lists what is refused)", column, text)


def _implicit_raw_acl(text: str) -> RawAcl | None:
    """The whole text as one raw ACL, when it looks like one (see the module docstring), else None."""
    acl = text.strip(WHITESPACE)
    words = acl.split()
    if not words or not is_sample_fetch(words[0]) or any(word.lower() in _LANGUAGE_WORDS for word in words):
        return None
    if "<" in acl or ">" in acl:
        return None
    # It is meant as an ACL: report what makes it unsafe rather than a condition syntax error.
    check_raw_acl(acl, len(text) - len(text.lstrip(WHITESPACE)), text)
    return RawAcl(acl, implicit=True)


class _Parser:
    """A recursive-descent parser over the text; `pos` is the current offset."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.depth = 0

    def parse(self) -> ConditionNode:
        node = self.condition()
        self.skip_whitespace()
        if self.pos < len(self.text):
            if self.text[self.pos] == ")":
                raise self.error("')' without a matching '('")
            raise self.error(f"expected 'and', 'or' or the end of the condition, found {self.found()}")
        return node

    # Grammar rules.

    def condition(self) -> ConditionNode:
        operands = [self.term()]
        while self.boolean_operator(("||", "|"), ("or",)):
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def term(self) -> ConditionNode:
        operands = [self.factor()]
        while self.boolean_operator(("&&", "&"), ("and",)):
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def factor(self) -> ConditionNode:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"the condition is nested more than {MAX_NESTING} levels deep")
        try:
            self.skip_whitespace()
            if self.text.startswith("!", self.pos) and not self.text.startswith("!=", self.pos):
                self.pos += 1
                return Not(self.factor())
            if self.keyword("not"):
                return Not(self.factor())
            if self.text.startswith("(", self.pos):
                opening = self.pos
                self.pos += 1
                node = self.condition()
                self.skip_whitespace()
                if not self.text.startswith(")", self.pos):
                    raise self.error(f"expected ')' to close the '(' at character {opening + 1}, found {self.found()}")
                self.pos += 1
                return node
            return self.operand()
        finally:
            self.depth -= 1

    def operand(self) -> ConditionNode:
        self.skip_whitespace()
        if self.text.startswith("<", self.pos):
            return self.raw_acl()
        if self.keyword("host"):
            holds = self.comparison("host")
            value, column = self.value("a host")
            check_host(value, column, self.text)
            return _negate_unless(holds, Host(value))
        match = _USER_AGENT_RE.match(self.text, self.pos)
        if match and self.ends_keyword(match.end()):
            self.pos = match.end()
            holds = self.comparison("user-agent")
            value, column = self.value("a user agent")
            check_value(value, "the user agent", column, self.text)
            return _negate_unless(holds, UserAgent(value))
        word = self.keyword(*_CONTAINS_WORDS)
        if word:
            kind = self.keyword("cookie", "header")
            if not kind:
                raise self.error(f"expected 'cookie' or 'header' after {word!r}, found {self.found()}")
            name, column = self.value(f"a {kind} name")
            check_name(name, kind, column, self.text)
            return _negate_unless(_CONTAINS_WORDS[word], HasCookie(name) if kind == "cookie" else HasHeader(name))
        kind = self.keyword("cookie", "header")
        if kind:
            name, column = self.value(f"a {kind} name")
            check_name(name, kind, column, self.text)
            self.skip_whitespace()
            word = self.keyword(*_CONTAINS_WORDS)
            if not word:
                raise self.error(f"expected 'has', 'contains' or 'misses' after the {kind} name, found {self.found()}")
            value, column = self.value(f"a {kind} value")
            check_value(value, f"the {kind} value", column, self.text)
            leaf = CookieContains(name, value) if kind == "cookie" else HeaderContains(name, value)
            return _negate_unless(_CONTAINS_WORDS[word], leaf)
        found = self.next_word()
        hint = " (write a raw HAProxy ACL inside <...>)" if found else ""
        raise self.error(f"expected a condition: {_OPERAND_HELP}; found {found!r}{hint}" if found else f"expected a condition: {_OPERAND_HELP}")

    def comparison(self, subject: str) -> bool:
        self.skip_whitespace()
        for symbol, holds in _COMPARE_SYMBOLS:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return holds
        word = self.keyword(*_COMPARE_WORDS)
        if word:
            return _COMPARE_WORDS[word]
        raise self.error(f"expected ==, =, !=, !, is, not, has, contains or misses after {subject!r}, found {self.found()}")

    def raw_acl(self) -> RawAcl:
        opening = self.pos
        closing = self.text.find(">", opening + 1)
        nested = self.text.find("<", opening + 1)
        if closing < 0:
            raise self.error("the raw ACL has no closing '>'")
        if 0 <= nested < closing:
            self.pos = nested
            raise self.error("'<' inside a raw ACL; a raw ACL cannot contain '<' or '>'")
        inner = self.text[opening + 1:closing]
        acl = inner.strip(WHITESPACE)
        if not acl:
            raise ConditionError("the raw ACL is empty", opening + 1, self.text)
        check_raw_acl(acl, opening + 1 + len(inner) - len(inner.lstrip(WHITESPACE)), self.text)
        self.pos = closing + 1
        return RawAcl(acl)

    def value(self, what: str) -> tuple[str, int]:
        """A bare word or a quoted string, and the column it starts at."""
        self.skip_whitespace()
        start = self.pos
        if start < len(self.text) and self.text[start] in "\"'":
            return self.quoted_string(), start
        while self.pos < len(self.text) and self.text[self.pos] not in _VALUE_END:
            self.pos += 1
        if self.pos == start:
            raise self.error(f"expected {what}, found {self.found()}")
        return self.text[start:self.pos], start

    def quoted_string(self) -> str:
        start = self.pos
        quote = self.text[start]
        chars = []
        index = start + 1
        while index < len(self.text):
            char = self.text[index]
            if char == quote:
                self.pos = index + 1
                return "".join(chars)
            if char == "\\" and index + 1 < len(self.text):
                index += 1
                char = self.text[index]
            chars.append(char)
            index += 1
        raise self.error(f"the string opened by {quote} at character {start + 1} is not closed")

    # Scanning helpers.

    def boolean_operator(self, symbols: tuple[str, ...], words: tuple[str, ...]) -> bool:
        saved = self.pos
        self.skip_whitespace()
        for symbol in symbols:
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return True
        if self.keyword(*words):
            return True
        self.pos = saved
        return False

    def keyword(self, *words: str) -> str | None:
        """Consumes one of `words` (any case) when it stands alone after optional whitespace; returns it in lower case."""
        saved = self.pos
        self.skip_whitespace()
        for word in words:
            end = self.pos + len(word)
            if self.text[self.pos:end].lower() == word and self.ends_keyword(end):
                self.pos = end
                return word
        self.pos = saved
        return None

    def ends_keyword(self, index: int) -> bool:
        return index >= len(self.text) or self.text[index] in _KEYWORD_END

    def skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in WHITESPACE:
            self.pos += 1

    def found(self) -> str:
        """What stands at `pos`, for error messages."""
        return repr(self.next_word()) if self.pos < len(self.text) else "the end of the condition"

    def next_word(self) -> str:
        end = self.pos
        while end < len(self.text) and self.text[end] not in WHITESPACE and end - self.pos < 40:
            end += 1
        return self.text[self.pos:end]

    def error(self, message: str) -> ConditionError:
        self.skip_whitespace()
        return ConditionError(message, self.pos, self.text)


def _negate_unless(holds: bool, node: ConditionNode) -> ConditionNode:
    return node if holds else Not(node)
