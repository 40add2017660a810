# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The routing read back from a rendered haproxy.cfg: what `drover status` needs to explain the running proxy.

The renderer (render.py) writes each frontend's decision as a few recognisable lines:

    acl <name> <fetch> ...                                         condition ACLs
    http-request set-var(<test>) rand(N) if <acls>                 one draw for a condition several rules repeat
    http-request set-var(<pick>) rand(N),map_int(<map>,<default>)  a weighted pick kept in a variable (two steps)
    use_backend <backend> if { var(<test>) -m int lt <threshold> } a condition route with its strength
    use_backend <backend> if <acls> { rand(N) lt <threshold> }     a condition used by one rule, drawn in place
    use_backend <b1> if { rand(N),map_int(<map>,<default>),set-var(<pick>) -m str <b1> } live_<b1>
    use_backend <b2> if { var(<pick>) -m str <b2> } live_<b2>     (live_<b>: nbsrv(<b>) gt 0, or stopping)
                                                                   everything else: the map decides, one rule per
                                                                   backend it can name, drawn again when the route
                                                                   has no live server, then
    use_backend <b1> if { int(0),map_int(<map>,<default>) -m str <b1> } live_<b1>   the map's ends
    use_backend %[rand(N),map_int(<map>,<default>)]                (older renders, and a pick behind alternatives)
    use_backend %[var(<pick>)]                                     (older renders: the pick kept in a variable)

and a comment above every section (`# gateway sava/9050`, `# route target sava/sava/sava:1.0.0`) that names what
the generated `fe_...` and `bk_...` names stand for. This module reads those back, with labels, so the runtime data
(`show stat`, the running maps) can be shown in the blueprint's terms. Lines it does not recognise are kept as plain
conditions, so a hand-written configuration still shows its `use_backend` and `default_backend` rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import HaproxyTextError, split_words
from ansible_collections.drover.fleet.plugins.module_utils.routing.names import (
    LIVE_ACL_PATTERN, ROUTE_COOKIE_VAR_PATTERN, ROUTE_COOKIE_VARS_PATTERN, STAGE_TOKEN_PATTERN, STAGE_TOKEN_PREFIX, UNROUTED_PATTERN,
    VHOST_VAR_PATTERN, section_label)

SECTION_KEYWORDS = ("global", "defaults", "frontend", "backend", "listen", "peers", "resolvers", "userlist", "cache",
                    "mailers", "program", "http-errors", "ring")

_REQUEST_RULE = r"(?:http-request|tcp-request\s+content)"
_LOOKUP = re.compile(_REQUEST_RULE + r"\s+set-var\(([^)\s]+)\)\s+rand\((\d+)\),map_int\(([^,)]+),([^)]*)\)(?:\s+if\s+(.*))?$")
_DRAW = re.compile(_REQUEST_RULE + r"\s+set-var\(([^)\s]+)\)\s+rand\((\d+)\)\s+if\s+(.*)$")
# the client's route cookie kept for the route backends (older renders also kept the cookie's name with `str(...)`)
_ROUTE_COOKIE = re.compile(_REQUEST_RULE + rf"\s+set-var\({ROUTE_COOKIE_VARS_PATTERN}\)\s+(?:str|req\.cook)\(([^)]+)\)")
# a condition drawn once per request into its variable: the threshold in the term (older renders), in a strength file
# of draws (`-f`), or none at full strength (`-m found`)
_TEST_TERM = re.compile(r"\{\s*var\(([^)\s]+)\)\s+-m\s+(?:int\s+lt\s+(\d+)|int\s+-f\s+(\S+)|found)\s*\}")
# a condition used by one rule only is written inline: `<acls> { rand(N) lt T }` draws its strength in place
_CHANCE_TERM = re.compile(r"\{\s*rand\((\d+)\)\s+(?:lt\s+(\d+)|-m\s+int\s+-f\s+(\S+))\s*\}")
_STAGE_TERM = re.compile(rf"\{{\s*var\(([^)\s]+)\)\s+-m\s+str\s+({STAGE_TOKEN_PATTERN})\s*\}}")
# the first sticky rule reads the cookie itself and keeps it for the others (older renders read it in an http-request rule)
_STICKY_TERMS = re.compile(rf"\{{\s*(?:var\({ROUTE_COOKIE_VAR_PATTERN}\)|req\.cook\(([^)]+)\),set-var\({ROUTE_COOKIE_VAR_PATTERN}\))\s+-m\s+str\s+(\S+)\s*\}}"
                           rf"\s*(?:\{{\s*nbsrv\([^)]*\)\s+gt\s+0\s*\}}|{LIVE_ACL_PATTERN})")
_VHOST_TERM = re.compile(rf"\{{\s*var\({VHOST_VAR_PATTERN}\)\s+-m\s+str\s+\S+\s*\}}")
_DYNAMIC_TARGET = re.compile(r"%\[var\(([^)\s]+)\)\]")
_INLINE_LOOKUP = re.compile(r"%\[rand\((\d+)\),map_int\(([^,)]+),([^)]*)\)\]")
# a pick made in a rule's condition: the first of the static rules of one weighted pick
_PICK_TERM = re.compile(r"\{\s*rand\((\d+)\),map_int\(([^,)]+),([^)]*)\),set-var\(([^)\s]+)\)\s+-m\s+str\s+\S+\s*\}")
# the other static rules of that pick compare its variable
_PICK_COMPARE = re.compile(rf"\S+\s+if\s+\{{\s*var\(([^)\s]+)\)\s+-m\s+str\s+[^{re.escape(STAGE_TOKEN_PREFIX)}\s]\S*\s*\}}")
# the last resort of a pick whose draws named routes without a live server: the routes at the map's ends
_PICK_PROBE = re.compile(r"\{\s*int\(\d+\),map_int\([^)]*\)(?:,set-var\([^)\s]+\))?\s+-m\s+str\s+\S+\s*\}")
# the last resort of a weighted pick: a live route for a request the pick sent to a dead one
_LAST_RESORT = re.compile(r"!\{\s*var\([^)\s]+\)\s+-m\s+str\s+" + UNROUTED_PATTERN)
# a rule that also needs a live server in its backend (the sticky rules' own is part of _STICKY_TERMS)
_LIVE_TERM = re.compile(r"\{\s*nbsrv\([^)]*\)\s+gt\s+0\s*\}|(?<!\S)" + LIVE_ACL_PATTERN)


@dataclass
class MapLookup:
    """A weighted pick: `rand(pick_range)` looked up in the map file `path` (as written in haproxy.cfg) into `var`."""

    var: str
    path: str
    pick_range: int
    default: str
    guard: str = ""
    # (pick var, token) when this is the second step of a two-step decision: the outer pick chose `token`
    stage: tuple | None = None
    # condition draws the guard requires: this pick only serves requests that matched those conditions
    tests: list = field(default_factory=list)
    # a pick in a use_backend rule with a condition of its own (the rest of a route): not the gateway's main pick
    conditional: bool = False


@dataclass
class ConditionDraw:
    """`set-var(var) rand(pick_range) if <condition>`: the draw of one route condition; `condition` is readable, with
    every named ACL replaced by its definition."""

    var: str
    pick_range: int
    condition: str


@dataclass
class UseBackend:
    """One `use_backend` (or `default_backend`) rule. `target` is a backend name; `pick` the variable of a weighted
    pick when the target is `%[var(...)]`. `tests` are (condition draw var, threshold) pairs, `chances` the
    (threshold, range) of inline draws (`{ rand(range) -m int -f <strength file> }`, older: `lt <threshold>`); a
    threshold is a number of draws, the path of the strength file that holds it, or None for 100%. `other` is the
    rest of the condition, readable (named ACLs replaced by their definitions)."""

    target: str | None
    pick: str | None = None
    tests: list = field(default_factory=list)
    chances: list = field(default_factory=list)
    stage: tuple | None = None
    sticky_value: str | None = None
    route_cookie: str | None = None  # the cookie a sticky rule reads (the first one)
    other: str = ""
    default: bool = False


@dataclass
class FrontendConfig:
    name: str
    label: str
    comment: str = ""
    mode: str = "http"
    binds: list = field(default_factory=list)
    lookups: dict = field(default_factory=dict)
    draws: dict = field(default_factory=dict)
    rules: list = field(default_factory=list)
    route_cookie: str | None = None

    @property
    def main_lookups(self) -> list:
        """The picks that decide for every request without a condition: neither a stage nor behind a condition."""
        return [lookup for lookup in self.lookups.values() if lookup.stage is None and not lookup.tests and not lookup.conditional]


@dataclass
class BackendConfig:
    name: str
    label: str
    comment: str = ""
    mode: str = "http"
    balance: str = ""
    # the cookie name of `cookie <name> insert ... dynamic`: sticky instance
    instance_cookie: str | None = None


@dataclass
class RoutingConfig:
    frontends: list = field(default_factory=list)
    backends: dict = field(default_factory=dict)
    stats_sockets: list = field(default_factory=list)

    def frontend(self, name: str) -> FrontendConfig | None:
        for frontend in self.frontends:
            if frontend.name == name:
                return frontend
        return None

    @property
    def admin_socket(self) -> str | None:
        """The `stats socket` at `level admin` (else the first one): where the runtime API answers."""
        for address, level in self.stats_sockets:
            if level == "admin":
                return address
        return self.stats_sockets[0][0] if self.stats_sockets else None


def strip_comment(line: str) -> str:
    """The line without its `#` comment; a `#` inside quotes or escaped with a backslash is kept."""
    quote = None
    index = 0
    while index < len(line):
        char = line[index]
        if char == "\\" and quote != "'":
            index += 2
            continue
        if quote:
            if char == quote:
                quote = None
        elif char in ("'", '"'):
            quote = char
        elif char == "#":
            return line[:index].rstrip()
        index += 1
    return line.rstrip()


def _words(text: str) -> list:
    try:
        return split_words(text)
    except HaproxyTextError:
        return text.split()


def _readable_condition(expression: str, acls: dict) -> str:
    """An ACL expression with each named ACL replaced by `{ <definition> }`; `!` and `or` stay as they are."""
    parts = []
    for word in expression.split():
        negated = word.startswith("!") and len(word) > 1
        name = word[1:] if negated else word
        if name in acls:
            parts.append(("!" if negated else "") + "{ " + acls[name] + " }")
        else:
            parts.append(word)
    return " ".join(parts)


class _Reader:
    """One pass over the configuration text, section by section."""

    def __init__(self):
        self.config = RoutingConfig()
        self.pending_comment = ""
        self.section = None
        self.acls: dict = {}

    def header(self, words: list, comment: str) -> None:
        keyword = words[0]
        name = words[1] if len(words) > 1 else ""
        self.acls = {}
        if keyword == "frontend":
            self.section = FrontendConfig(name=name, label=section_label(name, comment), comment=comment)
            self.config.frontends.append(self.section)
        elif keyword == "backend":
            self.section = BackendConfig(name=name, label=section_label(name, comment), comment=comment)
            self.config.backends[name] = self.section
        else:
            self.section = keyword

    def line(self, text: str) -> None:
        if self.section == "global":
            words = _words(text)
            if words[:2] == ["stats", "socket"] and len(words) > 2:
                level = words[words.index("level") + 1] if "level" in words[:-1] else "user"
                self.config.stats_sockets.append((words[2], level))
        elif isinstance(self.section, FrontendConfig):
            self.frontend_line(self.section, text)
        elif isinstance(self.section, BackendConfig):
            self.backend_line(self.section, text)

    def backend_line(self, backend: BackendConfig, text: str) -> None:
        words = _words(text)
        if words[0] == "mode" and len(words) > 1:
            backend.mode = words[1]
        elif words[0] == "balance":
            backend.balance = " ".join(words[1:])
        elif words[0] == "cookie" and len(words) > 1 and "dynamic" in words:
            backend.instance_cookie = words[1]

    def frontend_line(self, frontend: FrontendConfig, text: str) -> None:
        words = _words(text)
        keyword = words[0]
        if keyword == "bind" and len(words) > 1:
            frontend.binds.append(words[1])
        elif keyword == "mode" and len(words) > 1:
            frontend.mode = words[1]
        elif keyword == "acl" and len(words) > 2:
            # keep the definition as written (quotes included), so it reads like the configuration
            definition = text.split(None, 2)[2]
            self.acls[words[1]] = f"{self.acls[words[1]]} or {definition}" if words[1] in self.acls else definition
        elif keyword in ("use_backend", "default_backend"):
            plain = " ".join(_LIVE_TERM.sub(" ", _VHOST_TERM.sub(" ", text)).split())
            compare = _PICK_COMPARE.fullmatch(plain.split(None, 1)[1]) if keyword == "use_backend" and len(words) > 1 else None
            pick = _PICK_TERM.search(text)
            if ((compare and compare.group(1) in frontend.lookups) or (pick and pick.group(4) in frontend.lookups)
                    or _PICK_PROBE.search(text) or _LAST_RESORT.search(text)):
                return  # another rule of a pick already read (a backend, a second draw, the last resort): it stands for all
            if pick:
                # the first static rule of a pick: read as `use_backend %[var(<pick>)]`, with the lookup kept apart
                rest = " ".join(text.replace(pick.group(0), " ").split(None, 3)[3:])
                text = f"use_backend %[var({pick.group(4)})]" + (f" if {rest}" if rest else "")
            rule = self.rule(text, keyword == "default_backend")
            frontend.rules.append(rule)
            frontend.route_cookie = rule.route_cookie or frontend.route_cookie
            if pick:
                frontend.lookups[pick.group(4)] = MapLookup(
                    var=pick.group(4), path=pick.group(2).strip(), pick_range=int(pick.group(1)), default=pick.group(3).strip(),
                    stage=rule.stage, tests=[var for var, _threshold in rule.tests], conditional=bool(rule.chances or rule.other),
                )
            lookup = _INLINE_LOOKUP.fullmatch(text.split(None, 2)[1]) if keyword == "use_backend" and len(words) > 1 else None
            if lookup:
                # a pick made in the rule itself: named by its map
                path = lookup.group(2).strip()
                frontend.lookups[path] = MapLookup(
                    var=path, path=path, pick_range=int(lookup.group(1)), default=lookup.group(3).strip(), stage=rule.stage,
                    tests=[var for var, _threshold in rule.tests], conditional=bool(rule.chances or rule.other),
                )
                rule.target, rule.pick = None, path
        else:
            self.request_rule(frontend, text)

    def request_rule(self, frontend: FrontendConfig, text: str) -> None:
        cookie = _ROUTE_COOKIE.match(text)
        if cookie:
            frontend.route_cookie = cookie.group(1)
            return
        lookup = _LOOKUP.match(text)
        if lookup:
            guard = (lookup.group(5) or "").strip()
            stage = _STAGE_TERM.search(guard)
            frontend.lookups[lookup.group(1)] = MapLookup(
                var=lookup.group(1), path=lookup.group(3).strip(), pick_range=int(lookup.group(2)), default=lookup.group(4).strip(),
                guard=guard, stage=(stage.group(1), stage.group(2)) if stage else None,
                tests=[match.group(1) for match in _TEST_TERM.finditer(guard)],
            )
            return
        draw = _DRAW.match(text)
        if draw:
            frontend.draws[draw.group(1)] = ConditionDraw(draw.group(1), int(draw.group(2)), _readable_condition(draw.group(3).strip(), self.acls))

    def rule(self, text: str, default: bool) -> UseBackend:
        parts = text.split(None, 1)
        rest = parts[1] if len(parts) > 1 else ""
        if default:
            return UseBackend(target=rest.strip() or None, default=True)
        match = re.match(r"(\S+)(?:\s+(if|unless)\s+(.*))?$", rest.strip())
        if not match:
            return UseBackend(target=None, other=rest.strip())
        target, condition = match.group(1), (match.group(3) or "").strip()
        if match.group(2) == "unless":
            condition = f"not ( {condition} )"
        rule = UseBackend(target=target)
        dynamic = _DYNAMIC_TARGET.fullmatch(target)
        if dynamic:
            rule.target, rule.pick = None, dynamic.group(1)
        sticky = _STICKY_TERMS.search(condition)
        if sticky:
            rule.route_cookie, rule.sticky_value = sticky.group(1), sticky.group(2)
            condition = condition.replace(sticky.group(0), " ")
        # a live server in the rule's backend is a condition of every rule the renderer writes, not of the route
        condition = _LIVE_TERM.sub(" ", condition)
        # the renderer repeats the same draws in every alternative of a rule (exclusive alternatives of an inline
        # condition), so they are read from the first one
        alternatives = _alternatives(condition)
        first = alternatives[0] if alternatives else ""
        stage = _STAGE_TERM.search(first)
        if stage:
            rule.stage = (stage.group(1), stage.group(2))
        rule.tests = [(m.group(1), _threshold(m.group(2), m.group(3))) for m in _TEST_TERM.finditer(first)]
        rule.chances = [(_threshold(m.group(2), m.group(3)), int(m.group(1))) for m in _CHANCE_TERM.finditer(first)]
        rests = []
        for alternative in alternatives:
            rest = _CHANCE_TERM.sub(" ", _TEST_TERM.sub(" ", _VHOST_TERM.sub(" ", _STAGE_TERM.sub(" ", alternative))))
            rests.append(_readable_condition(" ".join(rest.split()), self.acls))
        rule.other = " or ".join(rest for rest in rests if rest) if all(rests) else ""
        return rule


def _threshold(number: str | None, path: str | None):
    """A strength threshold as written: a number of draws, the path of the file of draws that holds it, or None (100%)."""
    return int(number) if number else path


def strength_files(config: "RoutingConfig") -> set:
    """The strength files (ACL files of draws) the rules of `config` read."""
    found = set()
    for frontend in config.frontends:
        for rule in frontend.rules:
            found.update(value for value, _range in rule.chances if isinstance(value, str))
            found.update(value for _var, value in rule.tests if isinstance(value, str))
    return found


def _alternatives(condition: str) -> list:
    """The alternatives of an HAProxy condition: split at `or` / `||` outside `{ ... }` (and outside the `not ( ... )`
    this reader writes for `unless`)."""
    alternatives, current, depth = [], [], 0
    for word in condition.split():
        if word in ("{", "!{", "("):
            depth += 1
        elif word in ("}", ")"):
            depth = max(0, depth - 1)
        elif depth == 0 and word in ("or", "||"):
            alternatives.append(" ".join(current))
            current = []
            continue
        current.append(word)
    alternatives.append(" ".join(current))
    return [alternative for alternative in alternatives if alternative.strip()]


def read_routing_config(text: str) -> RoutingConfig:
    """The frontends (binds, condition draws, weighted picks, use_backend rules), backends and stats sockets of a
    configuration, with the labels of the renderer's comments."""
    reader = _Reader()
    comment = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#"):
            comment = stripped.lstrip("#").strip()
            continue
        content = strip_comment(raw)
        if not content.strip():
            comment = ""
            continue
        if not raw[:1].isspace() and content.split()[0] in SECTION_KEYWORDS:
            reader.header(_words(content), comment)
        elif reader.section is not None:
            reader.line(content.strip())
        comment = ""
    return reader.config


__all__ = ["BackendConfig", "ConditionDraw", "FrontendConfig", "MapLookup", "RoutingConfig", "UseBackend", "read_routing_config",
           "strength_files", "strip_comment"]
