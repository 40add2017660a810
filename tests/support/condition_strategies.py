# -*- coding: utf-8 -*-
"""Hypothesis strategies for routing conditions: random trees, and requests that exercise them.

Values lean towards what breaks configuration lines (quotes, `#`, `$`, backslashes, spaces, commas, a leading
`-`, non-ASCII). Requests reuse the tree's own names and values so that conditions match about as often as not;
they stay within what HTTP allows, so the same requests can be sent to a real HAProxy.
"""

from __future__ import annotations

import re
import string

from hypothesis import strategies as st

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
from ansible_collections.drover.fleet.tests.support.acl_semantics import Request

TCHAR_SPECIALS = "!#$%&'*+-.^_`|~"
ALIASES = ["Chrome", "Edge", "Firefox", "IE", "Safari"]
TRICKY_VALUES = ["it's", "a#b", "$HOME", "${HOME}", "back\\slash", '"q"', "-i", "a, b", " spaced ", "Firefox", "50%", "⇒"]
# Header names that would change how the request itself is framed or routed; never sent as random headers.
FRAMING_HEADERS = frozenset(("host", "cookie", "content-length", "transfer-encoding", "connection", "te", "upgrade", "expect",
                             "keep-alive", "proxy-connection", "trailer", "http2-settings"))
# RFC 6265 cookie-octet: what a cookie value may hold without quoting.
COOKIE_VALUE_RE = re.compile(r"[!#-+\--:<-\[\]-~]+")

token_names = st.text(alphabet=string.ascii_letters + string.digits + TCHAR_SPECIALS, min_size=1, max_size=12)
cookie_names = token_names.filter(lambda name: not name.startswith("$"))
printable_values = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1, max_size=16)
values = st.one_of(printable_values, st.sampled_from(TRICKY_VALUES))
hosts = st.one_of(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,4}){0,2}(:[0-9]{1,4})?", fullmatch=True),
                  st.sampled_from(["[::1]", "127.0.0.1", "Example.COM"]))
leaves = st.one_of(
    st.builds(UserAgent, st.one_of(values, st.sampled_from(ALIASES + ["chrome", "SAFARI"]))),
    st.builds(Host, hosts),
    st.builds(HasCookie, cookie_names),
    st.builds(HasHeader, token_names),
    st.builds(CookieContains, cookie_names, values),
    st.builds(HeaderContains, token_names, values),
)
raw_leaves = st.sampled_from([RawAcl("path_beg /api"), RawAcl("hdr_sub(user-agent) Android"), RawAcl("src 127.0.0.1"), RawAcl("method GET")])


def trees(leaf_strategy=leaves, max_leaves: int = 6):
    return st.recursive(
        leaf_strategy,
        lambda children: st.one_of(
            st.builds(Not, children),
            st.builds(And, st.lists(children, min_size=2, max_size=3).map(tuple)),
            st.builds(Or, st.lists(children, min_size=2, max_size=3).map(tuple)),
        ),
        max_leaves=max_leaves,
    )


def _names_and_values(tree) -> tuple[list, list]:
    names, texts = ["User-Agent", "X-Other"], ["Firefox", "Chrome Edg", "Safari Version", "MSIE"]
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (And, Or)):
            pending.extend(node.operands)
        elif isinstance(node, Not):
            pending.append(node.operand)
        else:
            names.extend(value for value in (getattr(node, "name", None),) if value)
            texts.extend(value for value in (getattr(node, "value", None),) if value)
    return names, texts


@st.composite
def requests_for(draw, tree, count: int = 4) -> list:
    """Requests whose hosts, header and cookie names and values come mostly from the tree itself."""
    names, texts = _names_and_values(tree)
    header_names = [name for name in names if name.lower() not in FRAMING_HEADERS]
    cookie_values = [text for text in texts if COOKIE_VALUE_RE.fullmatch(text)] + ["v"]
    host_choices = [text for text in texts if re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", text) and ("." in text or ":" in text)]
    host_choices += ["example.com", "other.org:81"]
    requests = []
    for _request in range(count):
        headers = [(draw(st.sampled_from(header_names)), draw(st.sampled_from(texts)) + draw(st.sampled_from(["", " x", ", y"])))
                   for _header in range(draw(st.integers(0, 3)))]
        cookies = [(draw(st.sampled_from(names)), draw(st.sampled_from(cookie_values))) for _cookie in range(draw(st.integers(0, 3)))]
        cookies = [(name, value) for name, value in cookies if not name.startswith("$")]
        requests.append(Request(host=draw(st.sampled_from(host_choices)), headers=headers, cookies=cookies))
    return requests


@st.composite
def tree_and_requests(draw, count: int = 4):
    tree = draw(trees())
    return tree, draw(requests_for(tree, count))
