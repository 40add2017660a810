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

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.fetches import criterion_fetch_name, is_sample_fetch, is_value_fetch
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import HaproxyTextError, find_unsafe_character, split_words

# VAMP forbids whitespace, '/', '[' and ']' in names; we also keep out everything HAProxy or a shell would read as syntax
_NAME = re.compile(r"[A-Za-z0-9_.:@+~!-]+")
_STRICT_NAME = re.compile(r"[A-Za-z0-9_:@+~!-]+")
NAME_ALLOWED = "ASCII letters, digits and . _ : - @ + ~ ! (no whitespace, '/', '[', ']', quotes or other punctuation)"
STRICT_NAME_ALLOWED = "ASCII letters, digits and _ : - @ + ~ ! (no '.', whitespace, '/', '[', ']', quotes or other punctuation)"

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
# A route backend defines no named ACLs: a rewrite condition's terms are anonymous ACLs and HAProxy 2.6's predefined
# ones (each accepted by `haproxy -c`).
PREDEFINED_ACLS = frozenset((
    "FALSE", "HTTP", "HTTP_1.0", "HTTP_1.1", "HTTP_2.0", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_URL_STAR",
    "LOCALHOST", "METH_CONNECT", "METH_DELETE", "METH_GET", "METH_HEAD", "METH_OPTIONS", "METH_POST", "METH_PUT", "METH_TRACE",
    "RDP_COOKIE", "REQ_CONTENT", "TRUE", "WAIT_END",
))
REWRITE_ALLOWED = ("'<new path> if <haproxy condition>': the path has no whitespace, quotes, '#', backslash or control characters, "
                   "and is an HAProxy log-format (a literal % is written %%, %[<sample fetch>] inserts a value, e.g. /v2%[path], not env()); "
                   "the condition is anonymous ACLs such as '{ path_beg /api }', each starting with an HAProxy sample fetch, and "
                   "predefined ACLs (TRUE, METH_GET, ...), each optionally negated with '!', joined by spaces (and) or 'or' / '||', "
                   "with balanced quotes and no '#', backslash or control characters")

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


# algorithms that hash what an HTTP request carries: on a tcp port HAProxy falls back to roundrobin with a warning
_HTTP_BALANCE = re.compile(r"(uri|url_param|hdr\()")
TCP_BALANCE_ALLOWED = "on a tcp port: roundrobin, leastconn, random, random(<n>), first or source (uri, url_param and hdr need an http port)"


def balance_needs_http(text) -> bool:
    return isinstance(text, str) and _HTTP_BALANCE.match(text) is not None


def balance_problem(text) -> str | None:
    if isinstance(text, str) and _BALANCE.fullmatch(text):
        return None
    return BALANCE_ALLOWED


# the new path is an HAProxy log-format: `%%` is a literal %, `%[<sample fetch>...]` inserts a value (`/v2%[path]`)
_LOG_FORMAT_PART = re.compile(r"%%|%\[([^\[\]%]+)\]|[^%]")


def _log_format_problem(path: str) -> bool:
    parts = list(_LOG_FORMAT_PART.finditer(path))
    if sum(len(part.group(0)) for part in parts) != len(path):
        return True
    # env(): the load balancer's own environment would go to the upstream service in its request path
    return any(part.group(1) is not None and (not is_value_fetch(part.group(1)) or criterion_fetch_name(part.group(1)) == "env")
               for part in parts)


def rewrite_problem(path: str, condition: str) -> str | None:
    if not _REWRITE_PATH.fullmatch(path) or has_control_characters(path) or has_control_characters(condition):
        return REWRITE_ALLOWED
    if _log_format_problem(path):
        return REWRITE_ALLOWED
    if _UNSAFE_IN_CONDITION.search(condition):
        return REWRITE_ALLOWED
    try:
        words = split_words(condition, allow_comment=False, allow_environment=False)
    except HaproxyTextError:
        return REWRITE_ALLOWED
    return None if _condition_terms_only(words) else REWRITE_ALLOWED


def _condition_terms_only(words: list[str]) -> bool:
    """Terms joined by operators: `{ fetch ... }` blocks, each opened and closed once and not empty, and predefined
    ACLs, each optionally negated; anything else (a typo, or text that closed a brace early) would fail `haproxy -c`."""
    expect_term, inside, terms = True, None, 0
    for word in words:
        if inside is not None:
            if word == "}":
                if not inside or not is_sample_fetch(inside[0]):
                    return False
                inside, expect_term, terms = None, False, terms + 1
            elif word in ("{", "!{"):
                return False
            else:
                inside.append(word)
        elif word in ("or", "||") and not expect_term:
            expect_term = True
        elif word == "!":
            continue
        elif word.removeprefix("!") == "{":
            inside = []
        elif word.removeprefix("!") in PREDEFINED_ACLS:
            expect_term, terms = False, terms + 1
        else:
            return False
    return inside is None and not expect_term and terms > 0


def deployable_problem(text) -> str | None:
    if isinstance(text, str) and _DEPLOYABLE.fullmatch(text):
        return None
    return DEPLOYABLE_ALLOWED


def has_control_characters(text: str) -> bool:
    """Newlines, tabs, line separators and other control or format characters, which no string that reaches
    haproxy.cfg may hold."""
    return find_unsafe_character(text) is not None
