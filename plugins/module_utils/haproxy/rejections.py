# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `haproxy -c` refuses in a rendered configuration, traced back to the input that produced it.

Two kinds of user text are parsed further by HAProxy than by drover: the ACLs of route conditions (a raw ACL, `<...>`,
passes through as written) and the rewrites of route backends (`http-request set-path <path> if <condition>`). When
`haproxy -c` refuses such a line, its message names a line of a candidate configuration that was never written; here
the line is found in the rendered text and named by the condition or the rewrite that produced it (file, line, column,
dotted path), with HAProxy's own reason.
"""

from __future__ import annotations

import re

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError, DslIssue, Origin
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.reload import ConfigInvalidError, validate_config

_ALERT = re.compile(r"^\[ALERT\].*? : parsing \[(?P<file>.+):(?P<line>\d+)\] : (?P<reason>.*?)\.?$", re.MULTILINE)
# what HAProxy says before the reason itself, e.g. "error detected while parsing ACL 'x' : "
_CONTEXT = re.compile(r"^error detected (?:while parsing|in) [^:]*? : ")
_NO_SUCH_ACL = re.compile(r"no such ACL : '([^']+)'")
_SET_PATH = "http-request set-path "
ACL_ALLOWED = "a raw ACL HAProxy 2.6 accepts: <sample fetch> [flags] [-m <matching method>] <patterns> (its manual, section 7.1)"
REWRITE_ALLOWED = "a rewrite condition HAProxy 2.6 accepts: ACLs such as '{ path_beg /api }' (its manual, section 7.1)"


def check_rendered(config_path: str, rendered, binary: str = "haproxy") -> str:
    """`validate_config` on a rendered configuration (`RenderedConfig`). Returns HAProxy's output. When HAProxy refuses
    a line that comes from the input, raises DslError at the condition or rewrite in the YAML (with any other line it
    refuses, at that line); otherwise ConfigInvalidError as validate_config does."""
    try:
        return validate_config(config_path, rendered.config, rendered.maps, binary)
    except ConfigInvalidError as exc:
        issues = input_issues(exc.output, rendered)
        if not issues:
            raise
        raise DslError(issues) from None


def input_issues(output: str, rendered, refused_lines: dict | None = None) -> list[DslIssue]:
    """The refusals in `haproxy -c` output that come from the input, each at its condition or rewrite, followed by the
    other refused lines (at the configuration line); [] when no refused line comes from the input. `refused_lines`
    ({line number: text}) stands in for the rendered configuration when the candidate was assembled elsewhere (the
    parts of a shared load balancer, assembled on the host)."""
    if refused_lines is not None:
        numbered = {int(number): text for number, text in refused_lines.items()}
        lines = [numbered.get(number, "") for number in range(1, max(numbered, default=0) + 1)]
    else:
        lines = rendered.config.splitlines()
    tests = {f"{test.acl_prefix}_": test for frontend in rendered.frontends for test in frontend.tests}
    rewrites = {f"{_SET_PATH}{rewrite.path} if {rewrite.condition}": rewrite for backend in rendered.backends for rewrite in backend.rewrites}
    located: dict = {}
    others: list[DslIssue] = []
    refused_acls = set()
    for alert in _ALERT.finditer(output):
        number = int(alert.group("line"))
        text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
        reason = _CONTEXT.sub("", alert.group("reason"))
        words = text.split(None, 2)
        test = _test_of(tests, words[1]) if len(words) == 3 and words[0] == "acl" else None
        if test is not None:
            refused_acls.add(words[1])
            issue = DslIssue(test.origin, f"haproxy -c refuses the ACL of this condition: {reason}", "HaproxyRejectedError",
                             repr(words[2]), ACL_ALLOWED)
            located.setdefault((test.origin, words[2]), issue)
        elif text in rewrites:
            rewrite = rewrites[text]
            issue = DslIssue(rewrite.origin, f"haproxy -c refuses this rewrite: {reason}", "HaproxyRejectedError",
                             repr(f"{rewrite.path} if {rewrite.condition}"), REWRITE_ALLOWED)
            located.setdefault((rewrite.origin, text), issue)
        else:
            others.append((alert, number, reason))
    if not located:
        return []
    # a rule naming a refused ACL is refused too ("no such ACL"): that is the same mistake, already reported
    return list(located.values()) + [
        DslIssue(Origin(alert.group("file"), number), f"haproxy -c refuses this line: {reason}", "HaproxyRejectedError")
        for alert, number, reason in others if not any(name in refused_acls for name in _NO_SUCH_ACL.findall(reason))]


def _test_of(tests: dict, acl: str):
    """The route test whose condition compiled to the ACL named `acl` (`<tag>_<key>_<hash>`)."""
    prefix = acl[:acl.rfind("_") + 1]
    return tests.get(prefix)
