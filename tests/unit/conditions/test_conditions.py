# -*- coding: utf-8 -*-
"""Routing conditions: parser, precedence, browser aliases, ACL compilation, stable names, quoting and rejection.

Compiled ACL lines are checked by the real `haproxy -c` (2.6); what they mean is checked in Python through
tests/support/acl_semantics.py, and against a running HAProxy in tests/integration/test_condition_haproxy.py.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ansible_collections.drover.fleet.plugins.module_utils.conditions.compiler import MAX_ALTERNATIVES, compile_tree, leaf_definition
from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import (
    And,
    CompiledCondition,
    ConditionError,
    CookieContains,
    HasCookie,
    HasHeader,
    HeaderContains,
    Host,
    Not,
    Or,
    RawAcl,
    UserAgent,
    acl_name,
    compile_condition,
    condition_text,
    condition_to_acl,
    parse_condition,
)
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import (
    HaproxyTextError,
    quote_fetch_argument,
    quote_word,
    split_words,
)
from ansible_collections.drover.fleet.tests.support.acl_semantics import Request, compiled_matches, definition_atom, parse_expression, tree_matches
from ansible_collections.drover.fleet.tests.support.condition_strategies import ALIASES, TCHAR_SPECIALS, leaves, raw_leaves, tree_and_requests, trees
from ansible_collections.drover.fleet.tests.support.haproxy_harness import haproxy_check, write_files

UA = UserAgent


# --- Parsing ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, tree", [
    ("user-agent == Firefox", UA("Firefox")),
    ("User-Agent==Firefox", UA("Firefox")),
    ("user.agent = Firefox", UA("Firefox")),
    ("USERAGENT is Firefox", UA("Firefox")),
    ("user-agent has Firefox", UA("Firefox")),
    ("user-agent contains Firefox", UA("Firefox")),
    ("user-agent != b", Not(UA("b"))),
    ("user-agent ! b", Not(UA("b"))),
    ("user-agent!=b", Not(UA("b"))),
    ("user-agent not b", Not(UA("b"))),
    ("user-agent misses b", Not(UA("b"))),
    ("host = example.com", Host("example.com")),
    ("HOST == Example.COM:8080", Host("Example.COM:8080")),
    ("host is [::1]", Host("[::1]")),
    ("has cookie X", HasCookie("X")),
    ("contains cookie X", HasCookie("X")),
    ("misses cookie X", Not(HasCookie("X"))),
    ("has header X-Id", HasHeader("X-Id")),
    ("MISSES HEADER X-Id", Not(HasHeader("X-Id"))),
    ("cookie X has Y", CookieContains("X", "Y")),
    ("cookie X contains Y=1", CookieContains("X", "Y=1")),
    ("cookie X misses Y", Not(CookieContains("X", "Y"))),
    ("header X has Y", HeaderContains("X", "Y")),
    ("Header X Contains a,b", HeaderContains("X", "a,b")),
    ("header X misses Y", Not(HeaderContains("X", "Y"))),
    ("<path_beg /api>", RawAcl("path_beg /api")),
    ("  <  hdr(x)  -m sub  'a b'  > ", RawAcl("hdr(x)  -m sub  'a b'")),
    ("path_beg /api", RawAcl("path_beg /api", implicit=True)),
])
def test_every_form_parses(text, tree):
    assert parse_condition(text) == tree


@pytest.mark.parametrize("text, tree", [
    ("has cookie a or has cookie b and has cookie c", Or((HasCookie("a"), And((HasCookie("b"), HasCookie("c")))))),
    ("has cookie a and has cookie b or has cookie c", Or((And((HasCookie("a"), HasCookie("b"))), HasCookie("c")))),
    ("(has cookie a or has cookie b) and has cookie c", And((Or((HasCookie("a"), HasCookie("b"))), HasCookie("c")))),
    ("not has cookie a and has cookie b", And((Not(HasCookie("a")), HasCookie("b")))),
    ("!(has cookie a || has cookie b)", Not(Or((HasCookie("a"), HasCookie("b"))))),
    ("has cookie a && has cookie b | has cookie c", Or((And((HasCookie("a"), HasCookie("b"))), HasCookie("c")))),
    ("has cookie a & has cookie b AND has cookie c", And((HasCookie("a"), HasCookie("b"), HasCookie("c")))),
    ("has cookie a OR has cookie b Or has cookie c", Or((HasCookie("a"), HasCookie("b"), HasCookie("c")))),
    ("not not has cookie a", Not(Not(HasCookie("a")))),
    ("((has cookie a))", HasCookie("a")),
    ("host==a && host==b", And((Host("a"), Host("b")))),
])
def test_and_binds_tighter_than_or(text, tree):
    assert parse_condition(text) == tree


@pytest.mark.parametrize("text, value", [
    ('user-agent == "Mozilla/5.0 (X11; Linux x86_64)"', "Mozilla/5.0 (X11; Linux x86_64)"),
    ("user-agent == 'a, b; c'", "a, b; c"),
    (r'user-agent == "say \"hi\" \\ done"', 'say "hi" \\ done'),
    (r"user-agent == 'it\'s'", "it's"),
    ("user-agent == a#b$c", "a#b$c"),
    ("user-agent == ' padded '", " padded "),
])
def test_quoted_and_special_values(text, value):
    assert parse_condition(text) == UA(value)


@pytest.mark.parametrize("text, column, fragment", [
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("user-agnet == Firefox", 0, "expected a condition"),
    ("host", 4, "expected ==, =, !=, !, is, not, has, contains or misses"),
    ("host ~ a", 5, "expected =="),
    ("host == ", 8, "expected a host"),
    ("host == a b", 10, "expected 'and', 'or'"),
    ("(host == a", 10, "expected ')'"),
    ("host == a)", 9, "')' without a matching '('"),
    ("has biscuit x", 4, "expected 'cookie' or 'header'"),
    ("cookie x equals y", 9, "expected 'has', 'contains' or 'misses'"),
    ("host == a and", 13, "expected a condition"),
    ('user-agent == "abc', 14, "is not closed"),
    ("has cookie a;b", 11, "not an HTTP token"),
    ("has header 'a b'", 11, "not an HTTP token"),
    ("cookie $Path has x", 7, "starts with '$'"),
    ("host == exa_mple.com:99999", 8, "not a host name"),
    ("host == -example.com", 8, "not a host name"),
    ("host == ex/ample", 8, "not a host name"),
    ("host==a&&host==b", 6, "not a host name"),
    ('user-agent == ""', 14, "is empty"),
    ('user-agent == "a\nb"', 14, "LINE FEED"),
    ('user-agent == "a\u202eb"', 16, "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("user-agent == a\x00b", 15, "U+0000"),
    ("<path_beg /a", 0, "no closing '>'"),
    ("<path_beg <a>", 10, "'<' inside a raw ACL"),
    ("< >", 1, "raw ACL is empty"),
    ("<path_beg /a # comment>", 13, "starts a comment"),
    ('<hdr(x) "$HOME">', 9, "environment variable"),
    ("<hdr(x) 'abc>", 8, "unterminated single quote"),
    ('<hdr(x) "abc>', 8, "unterminated double quote"),
    ("<path_beg /a\\>", 12, "lone backslash"),
    ("<path " + " ".join(["/x"] * 62) + ">", 1, "at most 62"),
    ("path_beg /api and has cookie x", 0, "write a raw HAProxy ACL inside <...>"),
    ("cookie vamp hass 1", 12, "expected 'has', 'contains' or 'misses'"),
    ("hostname == x", 0, "expected a condition"),
    ("path_beg 'unclosed", 9, "unterminated single quote"),
    ("(" * 70 + "has cookie a" + ")" * 70, 64, "nested more than"),
])
def test_errors_name_the_column(text, column, fragment):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.column == column, caught.value
    assert fragment in caught.value.message
    assert isinstance(caught.value, DroverError)
    assert f"column {column}" in str(caught.value)


@pytest.mark.parametrize("not_text", [None, 42, ["host == a"]])
def test_non_strings_are_refused(not_text):
    with pytest.raises(ConditionError, match="must be a string"):
        parse_condition(not_text)


def test_fallback_only_for_text_that_looks_like_an_acl():
    assert parse_condition("hdr_sub(user-agent) Android") == RawAcl("hdr_sub(user-agent) Android", implicit=True)
    assert parse_condition(" req.hdr(host),lower -m str a.b ") == RawAcl("req.hdr(host),lower -m str a.b", implicit=True)
    for typo in ("user_agent == Firefox", "hdr_sbu(user-agent) Android", "cookie(x) -m found or has cookie y", "Firefox"):
        with pytest.raises(ConditionError):
            parse_condition(typo)


# --- Compiling ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("leaf, definition", [
    (UA("Firefox 1.0, beta"), "req.fhdr(User-Agent) -m sub 'Firefox 1.0, beta'"),
    (UA("-i"), "req.fhdr(User-Agent) -m sub -- '-i'"),
    (Host("Example.COM"), "req.hdr(host),host_only -m str 'example.com'"),
    (Host("Example.COM:8080"), "req.hdr(host),lower -m str 'example.com:8080'"),
    (HasCookie("JSESSIONID"), "req.cook(JSESSIONID) -m found"),
    (CookieContains("user", "it's"), "req.cook(user) -m sub 'it'\\''s'"),
    (HasHeader("X-Special"), "req.hdr_cnt(X-Special) gt 0"),
    (HeaderContains("X-Tag", "a#b $HOME \\"), "req.fhdr(X-Tag) -m sub 'a#b $HOME \\'"),
    (HasCookie("a#b'c"), "req.cook(a\\#b\\\\\\'c) -m found"),
    (RawAcl("path_beg /api"), "path_beg /api"),
])
def test_leaf_definitions(leaf, definition):
    assert leaf_definition(leaf) == definition


def test_negation_stays_in_the_expression():
    compiled = compile_condition("misses cookie vamp")
    assert compiled.acls == [(acl_name("req.cook(vamp) -m found"), "req.cook(vamp) -m found")]
    assert compiled.expression == f"!{acl_name('req.cook(vamp) -m found')}"


def test_normal_form_distributes_and_over_or():
    compiled = compile_condition("(has cookie a or has cookie b) and not (has header x or has header y)")
    names = {definition_atom(definition)[0][1]: name for name, definition in compiled.acls}
    assert compiled.expression == f"{names['a']} !{names['x']} !{names['y']} or {names['b']} !{names['x']} !{names['y']}"


def test_normal_form_drops_repeats_contradictions_and_absorbed_alternatives():
    names = {}
    for name, definition in compile_condition("(has cookie a or has cookie b) and (has cookie a or not has cookie b)").acls:
        names[definition_atom(definition)[0][1]] = name
    # (a or b)(a or !b) = a or a!b or ba = a
    assert compile_condition("(has cookie a or has cookie b) and (has cookie a or not has cookie b)").expression == names["a"]
    assert compile_condition("has cookie a and has cookie a").expression == names["a"]


def test_identical_leaves_share_one_acl():
    compiled = compile_condition("has cookie a and has header h or has cookie a and not has header h or host == x")
    definitions = list(dict(compiled.acls).values())
    assert len(definitions) == len(set(definitions)) == 3


def test_names_are_stable_and_prefixed():
    text = "(user-agent == Chrome or user-agent = 'a b') and cookie s has 1 or host == example.com"
    first = compile_condition(text)
    assert compile_condition(text) == first
    assert repr(compile_condition(text).acls) == repr(first.acls)
    assert all(name == acl_name(definition) and name.startswith("acl_") and len(name) == 20 for name, definition in first.acls)
    assert all(name.startswith("route_7.b:") for name in dict(compile_condition(text, acl_prefix="route_7.b:").acls))
    # Whitespace, case of keywords and quoting style do not change the output.
    assert compile_condition("( USER-AGENT = chrome OR useragent IS \"a b\" ) AND COOKIE s HAS '1' OR host = example.com") == first


@pytest.mark.parametrize("prefix", ["", "a b", "x#", "é", None])
def test_bad_acl_prefix(prefix):
    with pytest.raises(ConditionError, match="acl_prefix"):
        compile_condition("has cookie a", acl_prefix=prefix)


def test_contradiction_and_size_limits():
    with pytest.raises(ConditionError, match="can never hold"):
        compile_condition("has cookie a and misses cookie a")
    wide = " and ".join(f"(has cookie a{i} or has cookie b{i})" for i in range(8))
    with pytest.raises(ConditionError, match=f"more than {MAX_ALTERNATIVES} alternatives|words"):
        compile_condition(wide)


def test_condition_to_acl_is_plain_data():
    data = condition_to_acl("user-agent == Firefox")
    assert data == {"acls": [{"name": acl_name("req.fhdr(User-Agent) -m sub 'Firefox'"),
                              "definition": "req.fhdr(User-Agent) -m sub 'Firefox'"}],
                    "expression": acl_name("req.fhdr(User-Agent) -m sub 'Firefox'")}
    assert isinstance(compile_condition("user-agent == Firefox"), CompiledCondition)


def test_hand_built_trees_are_checked_too():
    for leaf in (UA("a\nb"), HasCookie("a b"), HeaderContains("x", ""), Host("a/b"), RawAcl("path /a # x")):
        with pytest.raises(ConditionError):
            compile_tree(leaf)


# --- Browser aliases ----------------------------------------------------------------------------------------

REAL_USER_AGENTS = [
    ("Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
    ("Chrome", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"),
    ("Chrome", "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230805.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36"),
    ("Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"),
    ("Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36 Edge/18.19582"),
    ("Edge", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
             "EdgiOS/120.0.2210.126 Mobile/15E148 Safari/605.1.15"),
    ("Edge", "Mozilla/5.0 (Linux; Android 10; HD1913) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36 "
             "EdgA/120.0.2210.126"),
    ("Firefox", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    ("Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"),
    ("Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 "
               "Safari/604.1"),
    ("IE", "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; rv:11.0) like Gecko"),
    ("IE", "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)"),
    (None, "curl/7.88.1"),
]


@pytest.mark.parametrize("browser, agent", REAL_USER_AGENTS, ids=lambda value: value[:40] if value else "none")
def test_each_real_user_agent_matches_exactly_its_alias(browser, agent):
    request = Request(headers=[("User-Agent", agent)])
    matching = [alias for alias in ALIASES if compiled_matches(compile_condition(f"user-agent == {alias.lower()}"), request)]
    assert matching == ([browser] if browser else [])


def test_alias_lookup_ignores_case_and_plain_values_are_substrings():
    assert compile_condition("user-agent == SAFARI") == compile_condition("user-agent == Safari")
    assert compile_condition("user-agent == Mozilla").acls == [(acl_name("req.fhdr(User-Agent) -m sub 'Mozilla'"),
                                                                "req.fhdr(User-Agent) -m sub 'Mozilla'")]


# --- HAProxy quoting ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["plain", "two words", "it's", "'", "''", "a#b", "$HOME", "${HOME}", "back\\slash", "\\", 'say "x"',
                                   "-i", "tab\there", "⇒ unicode", "\\x41 \\n"])
def test_quote_word_round_trips(value):
    if "\t" in value:
        with pytest.raises(HaproxyTextError):
            quote_word(value)
        return
    assert split_words(f"x {quote_word(value)} y", allow_comment=False) == ["x", value, "y"]


def test_fetch_arguments_quote_every_token_character():
    token = string.ascii_letters + string.digits + TCHAR_SPECIALS
    written = quote_fetch_argument(token)
    (word,) = split_words(written, allow_comment=False)
    assert word.replace("\\'", "'") == token
    for bad in ("a b", "a(b", "a,b", 'a"b', "a\\b", "", "é"):
        with pytest.raises(HaproxyTextError):
            quote_fetch_argument(bad)


def test_split_words_follows_haproxy_rules():
    assert split_words(r"a\ b 'c d' \"e 'f'\''g' h\#i # comment") == ["a b", "c d", '"e', "f'g", "h#i"]
    assert split_words(r'"x\$y ${Z}"') == ["x$y ${Z}"]
    assert split_words(r"\x41\q") == ["A\\q"]


# --- Properties -----------------------------------------------------------------------------------------------

LANGUAGE_PIECES = ["host", "user-agent", "User.Agent", "cookie", "header", "has", "misses", "contains", "is", "not", "==", "=", "!=", "!",
                   "and", "or", "&&", "||", "&", "|", "(", ")", "<", ">", "<path /a>", '"a b"', "'", '"', "#", "$HOME", "\\", "\n", "\t",
                   "x", "Firefox", "hdr_sub(user-agent)", "path_beg", "/api", "-i", "a=b", "\x00", "\u2028", "⇒"]
condition_like_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(LANGUAGE_PIECES), max_size=12).map(" ".join),
    st.lists(st.sampled_from(LANGUAGE_PIECES), max_size=12).map("".join),
)


@settings(max_examples=600, deadline=None)
@given(condition_like_text)
def test_any_text_compiles_or_raises_condition_error(text):
    try:
        compiled = compile_condition(text)
    except ConditionError as error:
        assert 0 <= error.column <= len(text)
        event("refused")
        return
    event("compiled")
    _assert_safe_lines(compiled)


@settings(max_examples=300, deadline=None)
@given(trees(st.one_of(leaves, raw_leaves)))
def test_canonical_text_parses_back_to_the_same_tree(tree):
    assert parse_condition(condition_text(tree)) == tree


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree_and_requests())
def test_compiled_acls_mean_what_the_tree_means(case):
    tree, requests = case
    try:
        compiled = compile_tree(tree)
    except ConditionError as error:
        assume("never hold" not in error.message and "alternatives" not in error.message and "words" not in error.message)
        raise
    for request in requests:
        assert compiled_matches(compiled, request) == tree_matches(tree, request), request


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(trees(st.one_of(leaves, raw_leaves)), min_size=3, max_size=12))
def test_compiled_lines_pass_haproxy_check(tmp_path_factory, forest):
    compiled = []
    for tree in forest:
        try:
            compiled.append(compile_condition(condition_text(tree)))
        except ConditionError as error:
            assert "never hold" in error.message or "alternatives" in error.message or "words" in error.message
    assume(compiled)
    event(f"{len(compiled)} conditions in one config")
    for condition in compiled:
        _assert_safe_lines(condition)
    directory = tmp_path_factory.mktemp("haproxy")
    write_files({"haproxy.cfg": _minimal_config(compiled)}, directory)
    check = haproxy_check(directory)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "[WARNING]" not in check.stdout + check.stderr, check.stdout + check.stderr


def test_haproxy_check_sees_each_rule_as_one_line(tmp_path):
    """Control: the same values unquoted would break the line, which is what quoting prevents."""
    unsafe = "frontend fe\n    mode http\n    bind 127.0.0.1:1\n    acl a req.fhdr(User-Agent) -m sub it's\n"
    write_files({"haproxy.cfg": "defaults\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n" + unsafe}, tmp_path)
    assert haproxy_check(tmp_path).returncode != 0


def _assert_safe_lines(compiled: CompiledCondition) -> None:
    for line in compiled.acl_lines():
        assert "\n" not in line and "\r" not in line
        words = split_words(line, allow_comment=False, allow_environment=False)
        assert len(words) <= 64 and words[0] == "acl"
    for alternative in parse_expression(compiled.expression):
        assert all(name in dict(compiled.acls) for name, _holds in alternative)
    assert len(compiled.expression.split()) <= 48


def _minimal_config(compiled: list) -> str:
    lines = ["defaults", "    mode http", "    timeout connect 1s", "    timeout client 1s", "    timeout server 1s",
             "frontend fe", "    bind 127.0.0.1:1"]
    for condition in compiled:
        lines.extend(f"    {line}" for line in condition.acl_lines())
    for index, condition in enumerate(compiled):
        lines.append(f"    http-request return status 200 content-type text/plain string c{index} if {condition.expression}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text, message", [
    ("host==a.com&&host==b.com", "put spaces around && and ||"),
    ("(host == a.com", r"close the '\(' at character 1,"),
    ("user-agent == 'Chrome", "opened by ' at character 15 is not closed"),
])
def test_parse_errors_point_the_way(text, message):
    with pytest.raises(ConditionError, match=message):
        parse_condition(text)
