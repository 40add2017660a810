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
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_UNSAFE_IN_CONDITION = re.compile(r"[\x00-\x1f\x7f#\\]")
REWRITE_ALLOWED = ("'<new path> if <haproxy condition>': the path has no whitespace, quotes, '#' or backslash; "
                   "the condition has no '#', backslash or control characters, and its quotes are balanced")

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
    if not _REWRITE_PATH.fullmatch(path) or not condition.strip() or _UNSAFE_IN_CONDITION.search(condition):
        return REWRITE_ALLOWED
    if condition.count('"') % 2 or condition.count("'") % 2:
        return REWRITE_ALLOWED
    return None


def deployable_problem(text) -> str | None:
    if isinstance(text, str) and _DEPLOYABLE.fullmatch(text):
        return None
    return DEPLOYABLE_ALLOWED


def has_control_characters(text: str) -> bool:
    """Newlines, tabs and other control characters, which no string that reaches haproxy.cfg may hold."""
    return bool(_UNSAFE.search(text))
