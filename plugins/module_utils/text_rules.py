# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which names and free-text strings the DSL allows.

Names and most strings end up in haproxy.cfg, container labels or command lines, so each rule is a whitelist: a
string that passes cannot carry a newline, a comment (`#`), a quote or an argument separator into HAProxy. Every
check returns None when the text is fine, or the `allowed:` text to show the user.
"""

from __future__ import annotations

import re

from ansible_collections.drover.fleet.plugins.module_utils.haproxy_fetches import is_sample_fetch
from ansible_collections.drover.fleet.plugins.module_utils.haproxy_quoting import HaproxyTextError, find_unsafe_character, split_words

# VAMP forbids whitespace, '/', '[' and ']' in names; we also keep out everything HAProxy or a shell would read as syntax
_NAME = re.compile(r"[A-Za-z0-9_.:@+~!-]+")
_STRICT_NAME = re.compile(r"[A-Za-z0-9_:@+~!-]+")
NAME_ALLOWED = "letters, digits and . _ : - @ + ~ ! (no whitespace, '/', '[', ']', quotes or other punctuation)"
STRICT_NAME_ALLOWED = "letters, digits and _ : - @ + ~ ! (no '.', whitespace, '/', '[', ']', quotes or other punctuation)"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_VIRTUAL_HOST = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*\.?(?::\d{{1,5}})?")
VIRTUAL_HOST_ALLOWED = "a host name such as example.com or *.example.com, optionally with :port"

_EXTERNAL = re.compile(rf"\[({_LABEL}(?:\.{_LABEL})*):(\d{{1,5}})\]")
EXTERNAL_ALLOWED = "[host:port] with a host name or IPv4 address and a port from 1 to 65535, e.g. [10.0.0.5:8080]"

# dynamic algorithms only: HAProxy refuses runtime weights and `add server` with static-rr and default-hash algorithms
_BALANCE = re.compile(
    r"roundrobin|leastconn|first|source|random(?:\(\d{1,3}\))?"
    r"|uri(?: whole| path-only| len \d{1,5}| depth \d{1,5})*"
    r"|url_param [A-Za-z0-9_.-]{1,64}(?: check_post)?"
    r"|hdr\([A-Za-z0-9_-]{1,64}\)(?: use_domain_only)?"
)
BALANCE_ALLOWED = ("roundrobin, leastconn, random, random(<n>), first, source, uri [whole|len <n>|depth <n>], url_param <name>, "
                   "hdr(<name>) (algorithms that allow runtime weights; static-rr is refused)")

_REWRITE_PATH = re.compile(r"[^\s\"'\\#]+")
_UNSAFE_IN_CONDITION = re.compile(r"[#\\]")
# Outside `{ ... }` blocks a rewrite condition may only combine them; the backend defines no named ACLs to refer to.
_CONDITION_OPERATORS = frozenset(("or", "||", "!"))
REWRITE_ALLOWED = ("'<new path> if <haproxy condition>': the path has no whitespace, quotes, '#', backslash or control characters; "
                   "the condition is anonymous ACLs such as '{ path_beg /api }', each starting with an HAProxy sample fetch, joined by "
                   "spaces (and), 'or' and '!', with balanced quotes and no '#', backslash or control characters")

_DEPLOYABLE = re.compile(r"[^\s\x00-\x1f\x7f\"'\\]+")
DEPLOYABLE_ALLOWED = "an image reference with no whitespace, quotes or control characters, e.g. magneticio/sava:1.0.0"


def name_problem(text) -> str | None:
    """None when `text` is a legal name (artifact, cluster, reference or route segment), else what is allowed."""
    if isinstance(text, str) and _NAME.fullmatch(text):
        return None
    return NAME_ALLOWED


def strict_name_problem(text) -> str | None:
    """Port names are strict: like names, and no '.' either."""
    if isinstance(text, str) and _STRICT_NAME.fullmatch(text):
        return None
    return STRICT_NAME_ALLOWED


def virtual_host_problem(text) -> str | None:
    if isinstance(text, str) and len(text) <= 253 and _VIRTUAL_HOST.fullmatch(text):
        return None
    return VIRTUAL_HOST_ALLOWED


def external_address_problem(text: str) -> str | None:
    """A route to an address outside the fleet: `[host:port]`."""
    match = _EXTERNAL.fullmatch(text)
    if match and 1 <= int(match.group(2)) <= 65535:
        return None
    return EXTERNAL_ALLOWED


def balance_problem(text) -> str | None:
    if isinstance(text, str) and _BALANCE.fullmatch(text):
        return None
    return BALANCE_ALLOWED


def rewrite_problem(path: str, condition: str) -> str | None:
    if not _REWRITE_PATH.fullmatch(path) or has_control_characters(path) or has_control_characters(condition):
        return REWRITE_ALLOWED
    if _UNSAFE_IN_CONDITION.search(condition):
        return REWRITE_ALLOWED
    try:
        words = split_words(condition, allow_comment=False, allow_environment=False)
    except HaproxyTextError:
        return REWRITE_ALLOWED
    return None if _anonymous_acls_only(words) else REWRITE_ALLOWED


def _anonymous_acls_only(words: list[str]) -> bool:
    """`{ fetch ... }` blocks joined by operators, each block opened and closed once, none empty."""
    inside, block, blocks = False, [], 0
    for word in words:
        if word in ("{", "!{"):
            if inside:
                return False
            inside, block = True, []
        elif word == "}":
            if not inside or not block or not is_sample_fetch(block[0]):
                return False
            inside, blocks = False, blocks + 1
        elif inside:
            block.append(word)
        elif word not in _CONDITION_OPERATORS:
            return False
    return not inside and blocks > 0


def deployable_problem(text) -> str | None:
    if isinstance(text, str) and _DEPLOYABLE.fullmatch(text):
        return None
    return DEPLOYABLE_ALLOWED


def has_control_characters(text: str) -> bool:
    """Newlines, tabs, line separators and other control or format characters, which no string that reaches
    haproxy.cfg may hold."""
    return find_unsafe_character(text) is not None
