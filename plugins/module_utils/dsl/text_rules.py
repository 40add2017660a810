# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which names and free-text strings the DSL allows.

Names and most strings end up in haproxy.cfg, container labels or command lines, so each rule is a whitelist: a
string that passes cannot carry a newline, a comment (`#`), a quote or an argument separator into HAProxy. Every
check returns None when the text is fine, or the `allowed:` text to show the user.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.fetches import acl_host_access, host_access, is_sample_fetch, is_value_fetch
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import HaproxyTextError, find_unsafe_character, split_words

# VAMP forbids whitespace, '/', '[' and ']' in names; we also keep out everything HAProxy or a shell would read as syntax
_NAME = re.compile(r"[A-Za-z0-9_.:@+~!-]+")
_STRICT_NAME = re.compile(r"[A-Za-z0-9_:@+~!-]+")
NAME_ALLOWED = "ASCII letters, digits and . _ : - @ + ~ ! (no whitespace, '/', '[', ']', quotes or other punctuation)"
STRICT_NAME_ALLOWED = "ASCII letters, digits and _ : - @ + ~ ! (no '.', whitespace, '/', '[', ']', quotes or other punctuation)"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_VIRTUAL_HOST = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*\.?(?::(\d{{1,5}}))?")
VIRTUAL_HOST_ALLOWED = "a host name such as example.com or *.example.com, optionally with :port (a port from 1 to 65535)"

_EXTERNAL = re.compile(rf"\[({_LABEL}(?:\.{_LABEL})*):(\d{{1,5}})\]")
EXTERNAL_ALLOWED = ("[host:port] with a host name or an IPv4 address as four numbers from 0 to 255 without leading zeros (HAProxy reads "
                    "10.0.0.010 as 10.0.0.8 and 2130706433 as 127.0.0.1), and a port from 1 to 65535, e.g. [10.0.0.5:8080]")
# a last label of digits, or of 0x and hex digits, makes the resolver HAProxy uses read the whole host as an IPv4 address
# in any legacy form (inet_aton): octal parts, fewer than four parts, one 32-bit number
_NUMERIC_LABEL = re.compile(r"\d+|0[xX][0-9a-fA-F]*")

# dynamic algorithms only: HAProxy refuses runtime weights and `add server` with static-rr and default-hash algorithms
_BALANCE = re.compile(
    r"roundrobin|leastconn|first|source|random(?:\([1-9]\d{0,2}\))?"
    r"|uri(?: whole| path-only| len [1-9]\d{0,4}| depth [1-9]\d{0,4})*"
    r"|url_param [A-Za-z0-9_.-]{1,64}(?: check_post)?"
    r"|hdr\([A-Za-z0-9_-]{1,64}\)(?: use_domain_only)?"
)
BALANCE_ALLOWED = ("roundrobin, leastconn, random, random(<n>), first, source, uri [whole|len <n>|depth <n>], url_param <name>, "
                   "hdr(<name>), with each <n> from 1 (algorithms that allow runtime weights; static-rr is refused)")

_UNSAFE_IN_PATH = re.compile(r"[\s\"'\\#]")
_UNSAFE_IN_CONDITION = re.compile(r"[#\\]")
# A route backend defines no named ACLs: a rewrite condition's terms are anonymous ACLs and HAProxy 2.6's predefined
# ones (each accepted by `haproxy -c`).
PREDEFINED_ACLS = frozenset((
    "FALSE", "HTTP", "HTTP_1.0", "HTTP_1.1", "HTTP_2.0", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_URL_STAR",
    "LOCALHOST", "METH_CONNECT", "METH_DELETE", "METH_GET", "METH_HEAD", "METH_OPTIONS", "METH_POST", "METH_PUT", "METH_TRACE",
    "RDP_COOKIE", "REQ_CONTENT", "TRUE", "WAIT_END",
))
# what a rewrite allows, said about the part that failed (the path or the condition)
_REWRITE_PATH_ALLOWED = "the new path has no whitespace, quotes, '#', backslash or control characters"
_REWRITE_LOG_FORMAT_ALLOWED = ("the new path is an HAProxy log-format: a literal % is written %%, and %[<sample fetch>] inserts a value, "
                               "e.g. /v2%[path]")
_REWRITE_CONDITION_ALLOWED = ("the condition is ACLs such as '{ path_beg /api }' (starting with a sample fetch) and predefined ACLs "
                              "(TRUE, METH_GET, ...), each may be negated with '!', joined by spaces (and) or 'or'")

# The docker/OCI image reference grammar (distribution/reference): [registry[:port]/]path[:tag][@digest], at most 255
# characters in the name. Nothing else reaches `podman run` or `docker run`: no option (`--privileged`), no shell text.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::\d+)?"
_IMAGE_NAME = re.compile(rf"(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_IMAGE_REFERENCE = re.compile(rf"({_IMAGE_NAME.pattern})(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?"
                              r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,})?")
DEPLOYABLE_ALLOWED = ("an image reference, [registry[:port]/]path[:tag][@digest], e.g. magneticio/sava:1.0.0 or "
                      "localhost:5000/team/app@sha256:<hex>: path parts are lowercase letters and digits joined by '.', '_', '__' or '-'")


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
    match = _VIRTUAL_HOST.fullmatch(text) if isinstance(text, str) and len(text) <= 253 else None
    if match and (match.group(1) is None or 1 <= int(match.group(1)) <= 65535):
        return None
    return VIRTUAL_HOST_ALLOWED


def external_address_problem(text: str) -> str | None:
    """A route to an address outside the fleet: `[host:port]`."""
    match = _EXTERNAL.fullmatch(text)
    if match and 1 <= int(match.group(2)) <= 65535 and _canonical_host(match.group(1)):
        return None
    return EXTERNAL_ALLOWED


def _canonical_host(host: str) -> bool:
    """A host name, or an IPv4 address written as the dotted quad HAProxy reads it as."""
    if not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return True
    try:
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


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


def _log_format_problem(path: str) -> str | None:
    parts = list(_LOG_FORMAT_PART.finditer(path))
    covered = 0
    for part in parts:
        if part.start() != covered:
            break
        covered = part.end()
    if covered != len(path):
        return _REWRITE_LOG_FORMAT_ALLOWED + f"; the '%' at character {covered + 1} of {path!r} is neither"
    for part in parts:
        fetch = part.group(1)
        if fetch is None:
            continue
        if host_access(fetch):
            return f"%[{fetch}] is refused in the new path: {host_access(fetch)} {_READS_THE_LOAD_BALANCER}"
        if not is_value_fetch(fetch):
            return (f"%[...] in the new path starts with an HAProxy sample fetch that gives a value, such as path, query or "
                    f"req.hdr(<name>); {fetch!r} is not one")
    return None


def rewrite_problem(path: str, condition: str) -> str | None:
    """None when `<path> if <condition>` can be written as an `http-request set-path` rule, else what is allowed, said
    about the part that failed."""
    if not path:
        return _REWRITE_PATH_ALLOWED + "; it is empty"
    problem = _first_unsafe(path, _UNSAFE_IN_PATH)
    if problem:
        return _REWRITE_PATH_ALLOWED + problem
    problem = _log_format_problem(path)
    if problem:
        return problem
    problem = _first_unsafe(condition, _UNSAFE_IN_CONDITION)
    if problem:
        return "the condition has no '#', backslash or control characters" + problem
    try:
        words = split_words(condition, allow_comment=False, allow_environment=False)
    except HaproxyTextError as exc:
        return f"the condition has balanced quotes and no environment variables; {exc.message}"
    problem = _condition_terms_problem(words)
    if problem:
        return _REWRITE_CONDITION_ALLOWED + f"; {problem}"
    return _condition_reading_problem(words)


def _first_unsafe(text: str, unsafe: re.Pattern) -> str | None:
    """"; <text> has <character> at character <n>" for the first character `unsafe` matches or a control character."""
    match = unsafe.search(text)
    control = find_unsafe_character(text)
    if match is None and control is None:
        return None
    index = min(match.start() if match else len(text), len(text) if control is None else control)
    return f"; {text!r} has {text[index]!r} at character {index + 1}"


def _condition_terms_problem(words: list[str]) -> str | None:
    """Terms joined by operators: `{ fetch ... }` blocks, each opened and closed once and not empty, and predefined
    ACLs, each optionally negated; anything else (a typo, or text that closed a brace early) would fail `haproxy -c`.
    None when the words are such terms, else what is wrong with them."""
    expect_term, inside, terms = True, None, 0
    for word in words:
        if inside is not None:
            if word == "}":
                if not inside:
                    return "'{ }' is empty"
                if not is_sample_fetch(inside[0]):
                    return f"'{{ {inside[0]}' does not start with a sample fetch"
                inside, expect_term, terms = None, False, terms + 1
            elif word in ("{", "!{"):
                return "a '{' is opened inside another"
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
            return f"{word!r} is neither a '{{ ... }}' ACL nor a predefined ACL" if word not in ("or", "||") else f"'{word}' has no term before it"
    if inside is not None:
        return "a '{' is not closed"
    if terms == 0:
        return "there is no term"
    return f"it ends with '{words[-1]}'" if expect_term else None


_READS_THE_LOAD_BALANCER = ("would reach into the load balancer itself, its files, host facts, secrets or routing variables (refused: map, "
                            "map_*, jwt_verify, lua.*, set-var, unset-var, hostname, env, last_rule_file, TLS secrets, and -f pattern files; "
                            "docs/dsl.md says why)")


def _condition_reading_problem(words: list[str]) -> str | None:
    """A rewrite condition's ACLs may not read the load balancer's files or facts either (`{ str(a),map(/etc/hostname)
    -m found }`, `{ path -f /etc/passwd }`); `words` are already known to be complete terms."""
    inside = None
    for word in words:
        if inside is None:
            inside = [] if word.removeprefix("!") == "{" else None
        elif word != "}":
            inside.append(word)
        elif acl_host_access(inside):
            return f"'{{ {' '.join(inside)} }}' is refused in the condition: {acl_host_access(inside)} {_READS_THE_LOAD_BALANCER}"
        else:
            inside = None
    return None


def deployable_problem(text) -> str | None:
    match = _IMAGE_REFERENCE.fullmatch(text) if isinstance(text, str) else None
    if match and len(match.group(1)) <= 255:
        return None
    return DEPLOYABLE_ALLOWED


def has_control_characters(text: str) -> bool:
    """Newlines, tabs, line separators and other control or format characters, which no string that reaches
    haproxy.cfg may hold."""
    return find_unsafe_character(text) is not None
