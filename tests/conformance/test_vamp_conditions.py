# -*- coding: utf-8 -*-
"""VAMP's condition specs (conditions.yaml of the shared corpus) against drover's parser and compiler.

For each case: the parse tree must equal `structure` (VAMP's fallback cases must give an implicit raw ACL), and
where VAMP's ACLs are given (`acl_structure`), the compiled `if` expression must have the same truth table. ACL
definitions on both sides are read back into abstract predicates (tests/support/acl_semantics.py): VAMP's `req.cook_cnt(x)
eq 0` is "not cookie x present", its `req.hdr(host) h` and our `req.hdr(host),host_only -m str 'h'` are both
"host is h". Names, order and exact ACL text are VAMP-specific and not compared (see the corpus README).

The corpus is never copied: it is read from <repo>/../shared/vamp-conformance, or from $DROVER_VAMP_CORPUS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import (
    And,
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
    compile_condition,
    parse_condition,
)
from ansible_collections.drover.fleet.tests.support.acl_semantics import compiled_truth_table, definition_atom, definition_atoms, vamp_atoms, vamp_truth_table
from ansible_collections.drover.fleet.tests.conformance.conftest import locate_vamp_corpus

CORPUS = locate_vamp_corpus()
CONDITIONS_FILE = CORPUS / "conditions.yaml"
REQUIRED_AGREEMENT = 0.90

_CHROME = ("drover's Chrome alias excludes Edge (user agents containing 'Edg'), which also sends 'Chrome'; "
           "VAMP's Chrome matched any user agent containing 'Chrome'")
_SAFARI = ("drover's Safari alias also excludes user agents containing 'Chrome' (Android WebViews) or 'Edg' (Edge on iOS), "
           "which also send 'Safari' and 'Version'; VAMP's Safari only required 'Safari' and 'Version'")
# Deliberate differences, by input. The suite fails if one disappears or a new one appears, so this list stays true.
KNOWN_DISAGREEMENTS = {
    "not <hdr_sub(user-agent) Android> and User-Agent != Chrome": _CHROME,
    "not <hdr_sub(user-agent) Android> or User-Agent != Chrome": _CHROME,
    "(User-Agent = Chrome OR User-Agent = Firefox) AND has cookie vamp": _CHROME,
    "User-Agent is Safari": _SAFARI,
    "user-agent = Safari": _SAFARI,
}


def _load_cases() -> list:
    if not CONDITIONS_FILE.is_file():
        return []
    return yaml.safe_load(CONDITIONS_FILE.read_text(encoding="utf-8"))["cases"]


CASES = _load_cases()
needs_corpus = pytest.mark.skipif(
    not CASES, reason=f"VAMP conformance corpus not found at {CORPUS} (set DROVER_VAMP_CORPUS to its folder)")


def to_structure(node):
    """A tree in the corpus schema; nested and/or of the same kind are flattened, as the corpus does."""
    if isinstance(node, (And, Or)):
        key = "and" if isinstance(node, And) else "or"
        flat = []
        for operand in node.operands:
            converted = to_structure(operand)
            flat.extend(converted[key] if isinstance(operand, type(node)) else [converted])
        return {key: flat}
    if isinstance(node, Not):
        return {"not": to_structure(node.operand)}
    if isinstance(node, UserAgent):
        return {"user_agent": node.value}
    if isinstance(node, Host):
        return {"host": node.value}
    if isinstance(node, HasCookie):
        return {"has_cookie": node.name}
    if isinstance(node, HasHeader):
        return {"has_header": node.name}
    if isinstance(node, CookieContains):
        return {"cookie_contains": {"name": node.name, "value": node.value}}
    if isinstance(node, HeaderContains):
        return {"header_contains": {"name": node.name, "value": node.value}}
    if isinstance(node, RawAcl):
        return {"value": node.text}
    raise TypeError(node)


def check_case(case) -> list[str]:
    """Every way drover disagrees with VAMP on this case (empty when it agrees)."""
    problems = []
    try:
        tree = parse_condition(case["input"])
        # Parser-spec cases assert only the tree; `<water ⇒ ice>` there is no HAProxy ACL, and compiling rejects it.
        compiled = compile_condition(case["input"]) if "acl_structure" in case else None
    except ConditionError as error:
        return [f"rejected: {error}"]
    if to_structure(tree) != case["structure"]:
        problems.append(f"tree {to_structure(tree)} differs from {case['structure']}")
    is_fallback = isinstance(tree, RawAcl) and tree.implicit
    if is_fallback != (case["structure_source"] == "fallback"):
        problems.append(f"implicit raw ACL is {is_fallback}, structure_source is {case['structure_source']}")
    if "acl_structure" in case:
        ours = [atom for definition in dict(compiled.acls).values() for atom in definition_atoms(definition)]
        atoms = list(dict.fromkeys(vamp_atoms(case["acl_structure"]) + ours))
        if compiled_truth_table(compiled, atoms) != vamp_truth_table(case["acl_structure"], atoms):
            problems.append(f"truth table of {compiled.expression!r} over {atoms} differs from {case['acl_structure']}")
        if "first_acl_definition" in case and definition_atom(case["first_acl_definition"])[0] not in ours:
            problems.append(f"no ACL tests {definition_atom(case['first_acl_definition'])[0]}")
    return problems


def _case_id(case) -> str:
    return f"{case['spec']}:{case['input']}"


def _case_params() -> list:
    """Each case; the documented disagreements are xfail(strict=True), so one that starts agreeing fails the run."""
    params = []
    for case in CASES:
        known = KNOWN_DISAGREEMENTS.get(case["input"])
        marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
        params.append(pytest.param(case, id=_case_id(case), marks=marks))
    return params


@needs_corpus
@pytest.mark.parametrize("case", _case_params())
def test_vamp_condition_case(case):
    problems = check_case(case)
    assert not problems, "; ".join(problems)


@needs_corpus
def test_vamp_condition_agreement(capsys):
    disagreements = {}
    for case in CASES:
        problems = check_case(case)
        if problems:
            disagreements.setdefault(case["input"], problems)
    agreeing = sum(1 for case in CASES if case["input"] not in disagreements)
    rate = agreeing / len(CASES)
    with capsys.disabled():
        print(f"\nVAMP condition conformance: {agreeing}/{len(CASES)} cases agree ({rate:.1%})")
        for text, problems in disagreements.items():
            print(f"  differs: {text!r}: {KNOWN_DISAGREEMENTS.get(text, 'UNEXPECTED')}; {problems[0]}")
    assert rate >= REQUIRED_AGREEMENT
    assert set(disagreements) == set(KNOWN_DISAGREEMENTS), "the list of deliberate differences is out of date"


def test_corpus_location_is_outside_the_project():
    repo = Path(__file__).resolve().parents[2]
    assert repo not in CORPUS.resolve().parents, "the VAMP corpus must be read in place, never copied into the project"


@needs_corpus
def test_differences_come_only_from_the_browser_aliases(monkeypatch):
    """With VAMP's alias table (haproxy/user-agents.yml) in place of ours, every case agrees."""
    from ansible_collections.drover.fleet.plugins.module_utils.conditions import user_agents

    monkeypatch.setitem(user_agents.USER_AGENT_ALIASES, "chrome", user_agents.UserAgentAlias("Chrome", required=("Chrome",)))
    monkeypatch.setitem(user_agents.USER_AGENT_ALIASES, "safari", user_agents.UserAgentAlias("Safari", required=("Safari", "Version")))
    assert {case["input"]: check_case(case) for case in CASES if check_case(case)} == {}
