# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HAProxy renderer: a routing plan (routing/plan.py) in, haproxy.cfg and its weight maps out.

All decisions are made in Python: each section is handed to the Jinja2 template as plain lists of lines, so the
template stays a simple layout that users can replace (RenderOptions.template_path) and 10,000 servers render fast.
Weights live only in the map files (`maps/<frontend>.map`), never in haproxy.cfg: a weight-only change gives a
byte-identical haproxy.cfg and new maps, which the runtime API loads without a reload.

Every value that comes from the user is either checked against a whitelist (names, hosts, balance, rewrites) or
written as one strongly quoted word (`quoting.quote_word`). Every name it writes comes from routing/names.py.
"""

from __future__ import annotations

import os
import re
import traceback
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.conditions.api import ConditionError, compile_condition
from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError, DslError, DslIssue
from ansible_collections.drover.fleet.plugins.module_utils.haproxy import parts
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import HaproxyTextError, quote_word, split_words
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.sockets import DEFAULT_ADMIN_SOCKET
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import HTTP, ArtifactSet, Instance
from ansible_collections.drover.fleet.plugins.module_utils.routing import names
from ansible_collections.drover.fleet.plugins.module_utils.routing.names import ROUTE_COOKIE_NAME_VAR, ROUTE_COOKIE_VAR, UNROUTED_BACKEND, live_acl
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import (
    DEFAULT_SLOTS,
    PICK_RANGE,
    BackendPlan,
    FrontendPlan,
    Rule,
    Test,
    WeightedMap,
    all_backends,
    plan,
)

try:
    import jinja2
    import jinja2.sandbox
except ImportError:  # pragma: no cover - reported when rendering
    jinja2 = None

DEFAULT_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates", "haproxy.cfg.j2")

# One request per line, as JSON: frontend, backend, server, timings (ms), status, bytes, termination state.
HTTP_LOG_FORMAT = (
    '{"t":"%tr","ci":"%ci","cp":%cp,"fe":"%ft","be":"%b","srv":"%s","TR":%TR,"Tw":%Tw,"Tc":%Tc,"Tr":%Tr,"Ta":%Ta,'
    '"st":%ST,"bytes":%B,"ts":"%tsc","fc":%fc,"bc":%bc,"sc":%sc,"rc":%rc,"sq":%sq,"bq":%bq,"r":%{+Q}r}'
)
TCP_LOG_FORMAT = (
    '{"t":"%t","ci":"%ci","cp":%cp,"fe":"%ft","be":"%b","srv":"%s","Tw":%Tw,"Tc":%Tc,"Tt":%Tt,'
    '"bytes":%B,"ts":"%ts","fc":%fc,"bc":%bc,"sc":%sc,"rc":%rc,"sq":%sq,"bq":%bq}'
)

_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:@%+=,~-]+")
_TIME = re.compile(r"\d+(?:us|ms|s|m|h|d)?")
_BIND = re.compile(r"(?:[A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*::[0-9A-Fa-f:.]*):\d{1,5}")
_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_COOKIE_KEY = re.compile(r"[A-Za-z0-9_.:+/=-]{8,128}")
_STATUS_RANGE = "200-399"


@dataclass
class RenderOptions:
    """How to render. Times are HAProxy time strings ("5s", "500ms")."""

    bind_address: str = "0.0.0.0"
    admin_socket: str = DEFAULT_ADMIN_SOCKET
    server_state_file: str = "/var/lib/haproxy/server-state"
    hard_stop_after: str = "30s"
    # `log <target>` in global; None: no log line at all
    log_target: str | None = "stdout format raw local0"
    # required when any gateway is sticky `instance`: keep it stable, or every instance cookie becomes invalid
    dynamic_cookie_key: str | None = None
    default_slots: int = DEFAULT_SLOTS
    template_path: str | None = None
    maps_dir: str = "maps"
    timeout_connect: str = "5s"
    timeout_client: str = "30s"
    timeout_server: str = "30s"
    timeout_http_request: str = "10s"
    timeout_http_keep_alive: str = "10s"
    timeout_queue: str = "10s"
    timeout_tunnel: str = "1h"
    retries: int = 3
    # L7 retries, e.g. "conn-failure empty-response response-timeout"; off by default (see docs/architecture.md)
    retry_on: str | None = None
    # server check `rise`: consecutive good checks before a server is up again
    check_rise: int = 2
    maxconn: int | None = None
    # `nbthread`; None: HAProxy's default (one thread per CPU it may run on)
    threads: int | None = None
    # a listener for the stats page (/stats) and Prometheus metrics (/metrics), e.g. "127.0.0.1:8404"; off when None
    stats_bind: str | None = None
    # one shared frontend for gateways' virtual hosts, e.g. "0.0.0.0:80"; virtual hosts are not served when None
    virtual_hosts_bind: str | None = None


@dataclass
class RenderedConfig:
    """The rendered files, by path relative to haproxy.cfg's directory: "haproxy.cfg", the weight maps
    "<maps_dir>/<name>.map" and the strength files "<maps_dir>/<frontend>.<condition>.acl"."""

    files: dict[str, str]
    frontends: list[FrontendPlan] = field(default_factory=list)
    backends: list[BackendPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def config(self) -> str:
        return self.files["haproxy.cfg"]

    @property
    def maps(self) -> dict[str, str]:
        return {path: text for path, text in self.files.items() if path != "haproxy.cfg"}


# ---------------------------------------------------------------------------------------------------------------------
# Words


def word(value: str) -> str:
    """`value` as one configuration word: as is when it holds only plain characters, else strongly quoted."""
    text = str(value)
    return text if _PLAIN_WORD.fullmatch(text) else quote_word(text)


def _check_option(name: str, value, pattern: re.Pattern, allowed: str) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise DroverError(f"RenderOptions.{name}: {value!r} is not allowed; expected {allowed}")


def _milliseconds(seconds: float) -> int:
    return max(1, int(round(float(seconds) * 1000)))


def validate_options(options: RenderOptions) -> None:
    """Refuse options that would not make one clean configuration line."""
    for name in ("hard_stop_after", "timeout_connect", "timeout_client", "timeout_server", "timeout_http_request",
                 "timeout_http_keep_alive", "timeout_queue", "timeout_tunnel"):
        _check_option(name, getattr(options, name), _TIME, "an HAProxy time such as 30s or 500ms")
    bind = options.bind_address
    if not isinstance(bind, str) or not (bind == "" or bind == "*" or _ADDRESS.fullmatch(bind) or re.fullmatch(r"[0-9A-Fa-f:.]+", bind)):
        raise DroverError(f"RenderOptions.bind_address: {bind!r} is not an address")
    for name in ("stats_bind", "virtual_hosts_bind"):
        value = getattr(options, name)
        if value is not None:
            _check_option(name, value, _BIND, "address:port, e.g. 127.0.0.1:8404")
            if not 1 <= int(value.rpartition(":")[2]) <= 65535:
                raise DroverError(f"RenderOptions.{name}: {value!r} is not allowed; the port must be from 1 to 65535")
    if options.dynamic_cookie_key is not None:
        _check_option("dynamic_cookie_key", options.dynamic_cookie_key, _COOKIE_KEY, "8 to 128 letters, digits or _.:+/=-")
    if options.retry_on is not None:
        _check_option("retry_on", options.retry_on, re.compile(r"[a-z0-9-]+(?: [a-z0-9-]+)*"), "retry-on keywords separated by spaces")
    maps_dir = options.maps_dir
    if not isinstance(maps_dir, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", maps_dir) or ".." in maps_dir.split("/"):
        raise DroverError(f"RenderOptions.maps_dir: {options.maps_dir!r} must be a relative directory without '..'")
    for name in ("default_slots", "retries", "check_rise", "maxconn", "threads"):
        value = getattr(options, name)
        if value is None and name in ("maxconn", "threads"):
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "retries" else 1):
            raise DroverError(f"RenderOptions.{name}: {value!r} must be a positive integer")
    for name in ("admin_socket", "server_state_file", "log_target"):
        value = getattr(options, name)
        if value is not None:
            try:
                quote_word(value)
            except HaproxyTextError as exc:
                raise DroverError(f"RenderOptions.{name}: {exc.message}") from None


# ---------------------------------------------------------------------------------------------------------------------
# Sections


def _global_lines(options: RenderOptions) -> list[str]:
    lines = [
        f"stats socket {word(options.admin_socket)} mode 600 level admin expose-fd listeners",
        "stats timeout 30s",
        f"server-state-file {word(options.server_state_file)}",
        f"hard-stop-after {options.hard_stop_after}",
        # relative paths (the weight maps) resolve next to haproxy.cfg, wherever HAProxy is started from
        "default-path config",
    ]
    if options.log_target:
        # the target is several words (`stdout format raw local0`); each must be plain
        lines.append("log " + " ".join(word(part) for part in options.log_target.split()))
    if options.maxconn:
        lines.append(f"maxconn {options.maxconn}")
    if options.threads:
        lines.append(f"nbthread {options.threads}")
    return lines


def _defaults_lines(options: RenderOptions) -> list[str]:
    lines = ["mode http"]
    if options.log_target:
        lines.append("log global")
    lines += [
        "option dontlognull",
        "option redispatch",
        f"retries {options.retries}",
    ]
    if options.retry_on:
        lines.append(f"retry-on {options.retry_on}")
    lines += [
        f"timeout connect {options.timeout_connect}",
        f"timeout client {options.timeout_client}",
        f"timeout server {options.timeout_server}",
        f"timeout http-request {options.timeout_http_request}",
        f"timeout http-keep-alive {options.timeout_http_keep_alive}",
        f"timeout queue {options.timeout_queue}",
        f"timeout tunnel {options.timeout_tunnel}",
        "load-server-state-from-file global",
    ]
    return lines


def _map_path(options: RenderOptions, weighted: WeightedMap) -> str:
    return names.map_path(options.maps_dir, weighted.name)


def _lookup(options: RenderOptions, weighted: WeightedMap, mode: str) -> str:
    """A fresh draw looked up in the weighted map; an empty map (every weight 0) gives the unrouted backend."""
    return f"rand({PICK_RANGE}),map_int({_map_path(options, weighted)},{UNROUTED_BACKEND[mode]})"


class _ConditionCompiler:
    """Compiles each route test once and turns compile errors into DslIssues at the condition's origin."""

    def __init__(self):
        self.issues: list[DslIssue] = []

    def lines(self, test: Test) -> tuple[list[str], str | None]:
        try:
            compiled = compile_condition(test.condition.definition, test.acl_prefix)
        except ConditionError as exc:
            self.issues.append(DslIssue(test.origin, f"condition cannot be compiled: {exc.message}", "InvalidCondition",
                                        repr(test.condition.definition)))
            return [], None
        return compiled.acl_lines(), compiled.expression


def _negated(word: str) -> str:
    return word[1:] if word.startswith("!") else f"!{word}"


def _conjunction(words: list[str]) -> list[str] | None:
    """`words` (ACL names, `!` negated) without repeats; None when they contradict each other."""
    unique = list(dict.fromkeys(words))
    return None if any(_negated(word) in unique for word in unique) else unique


def exclusive_alternatives(expression: str) -> list[list[str]]:
    """The alternatives of a compiled condition (`a !b or c`) rewritten so that at most one holds for any request
    (`a !b or c !a or c a b`): each then gets its own `{ rand(...) lt ... }` draw, and only the draw of the one
    alternative that holds decides, which keeps the strength exact without storing the draw in a variable.
    `not (l1 l2 .. ln)` is written as the exclusive `!l1 or l1 !l2 or ...`, and a conjunction of exclusive
    alternatives stays exclusive."""
    result: list[list[str]] = []
    none_before: list[list[str]] = [[]]  # exclusive alternatives of "no earlier alternative holds"
    for alternative in (part.split() for part in expression.split(" or ")):
        result.extend(c for c in (_conjunction(alternative + rest) for rest in none_before) if c is not None)
        negation = [alternative[:index] + [_negated(alternative[index])] for index in range(len(alternative))]
        none_before = [c for c in (_conjunction(rest + extra) for rest in none_before for extra in negation) if c is not None]
    return result


# An inline condition must keep its use_backend rule short: HAProxy reads at most 64 words and 2048 characters a line
# (the limits leave room for `use_backend <target> if` and a stage's guard).
_INLINE_ALTERNATIVES = 8
_INLINE_WORDS = 50
_INLINE_CHARACTERS = 1500


def strength_path(options: RenderOptions, frontend: FrontendPlan, test: Test) -> str:
    """The ACL file that holds a condition's strength as the range of draws it takes (`0:4999` for 50%)."""
    return names.frontend_acl_path(options.maps_dir, frontend.name, test.key)


def strength_text(test: Test) -> str:
    """A strength file's content: the draws below the threshold; empty (no draw matches) at 0%."""
    return f"0:{test.threshold - 1}\n" if test.threshold > 0 else ""


def _has_draw(test: Test) -> bool:
    return test.threshold < PICK_RANGE


class _StrengthTerms:
    """The strength terms of one frontend's rules. A strength below 100% is an ACL file of draws (`-m int -f`), which
    HAProxy replaces at runtime (`prepare`/`add`/`commit acl`): a strength change needs no reload, and the file costs
    nothing per request against a `lt <threshold>` (measured: 30,178 instructions against 30,175). At 100% there is
    no draw to compare."""

    def __init__(self, options: RenderOptions, frontend: FrontendPlan):
        self.options = options
        self.frontend = frontend

    def chance(self, test: Test) -> list[str]:
        """The strength as a term of its own draw; none at full strength."""
        if not _has_draw(test):
            return []
        return [f"{{ rand({PICK_RANGE}) -m int -f {strength_path(self.options, self.frontend, test)} }}"]

    def tests(self, tests: list[Test]) -> list[str]:
        """The terms of conditions drawn once per request into their variable, set only when the condition held."""
        return [f"{{ var({t.var}) -m int -f {strength_path(self.options, self.frontend, t)} }}" if _has_draw(t)
                else f"{{ var({t.var}) -m found }}" for t in tests]


class _RuleWriter:
    """Writes one frontend's use_backend rules. A condition used by a single rule is evaluated in that rule, with its
    own `{ rand(...) lt ... }` draw at the end of each exclusive alternative (no variable to set and read again); a
    condition several rules repeat keeps its one draw per request in a variable (`set-var(...) rand(...)`)."""

    def __init__(self, frontend: FrontendPlan, compiled: dict, guard: list[str], strengths: _StrengthTerms):
        self.guard = guard
        self.strengths = strengths
        self.inline: dict[str, list[list[str]]] = {}
        rules = frontend.rules + [rule for stage in frontend.stages for rule in stage.rules]
        uses: dict[str, int] = {}
        for rule in rules:
            for test in rule.tests:
                uses[test.key] = uses.get(test.key, 0) + 1
        for rule in rules:
            candidates = [t for t in rule.tests if uses[t.key] == 1 and compiled.get(t.key)]
            forms = {t.key: exclusive_alternatives(compiled[t.key]) for t in candidates}
            alternatives = 1
            for test in candidates:
                alternatives *= len(forms[test.key])
            if alternatives > _INLINE_ALTERNATIVES:
                continue
            self.inline.update(forms)
            text = self.condition(rule, [])
            if len(text.split()) > _INLINE_WORDS or len(text) > _INLINE_CHARACTERS:
                for test in candidates:
                    del self.inline[test.key]

    def condition(self, rule: Rule, extra: list[str]) -> str:
        """The `if` expression of `rule`: guard, the draws kept in variables, then each combination of the inline
        conditions' exclusive alternatives, each behind its own chance terms. A draw (about 80 instructions) is far
        cheaper than a header scan (several hundred), so drawing first leaves the ACLs unevaluated for the requests
        the strength refuses; as the alternatives exclude each other, only the one that can hold has its draw matter."""
        prefix = self.guard + extra + self.strengths.tests([t for t in rule.tests if t.key not in self.inline])
        alternatives: list[list[str]] = [[]]
        chances: list[str] = []
        for test in rule.tests:
            if test.key in self.inline:
                alternatives = [left + right for left in alternatives for right in self.inline[test.key]]
                chances += self.strengths.chance(test)
        return " or ".join(" ".join(prefix + chances + alternative) for alternative in alternatives).strip()

    def use_backend(self, rule: Rule, target: str, extra: list[str] = (), live: bool = False) -> str:
        """`live`: the rule also needs a live server in `target` (checked last, in each alternative), so a request a
        condition takes to a route without one goes on to the weighted pick instead of a 503."""
        terms = self.condition(rule, list(extra))
        if live:
            terms = " or ".join(f"{alternative} {live_acl(target)}".strip() for alternative in (terms.split(" or ") if terms else [""]))
        return f"use_backend {target} if {terms}" if terms else f"use_backend {target}"

    def pick(self, rule: Rule, weighted: WeightedMap, lookup: str, extra: list[str] = ()) -> list[str]:
        """A weighted pick as one static rule per backend the map can name: the first draws and looks up the map,
        keeps the name in a variable (the `set-var` converter) and compares it; the others compare the variable.
        That costs about 280 instructions less per request than `use_backend %[...]`, which builds the name as a
        string and finds the backend by it, and whose mere presence costs every request about 170 more. A pick
        behind a condition with alternatives (`a or b`) stays `%[...]`: a second alternative would draw again.

        Each rule also asks for a live server (`live_acl`). A request whose draw names a route without one is drawn
        again once, so it lands on the live routes in proportion to their weights; when that draw fails too, it goes
        to the first live route that holds the map's first or last range (a route with a weight, never one with 0).
        Behind a condition with its own draw, the second attempt asks for the pick's variable instead of the condition
        (the first attempt set it only when the condition held, and repeating the condition would draw it again); a
        condition without a draw is repeated, it decides the same way."""
        terms = self.condition(rule, list(extra))
        targets = list(dict.fromkeys(entry.target for entry in weighted.entries))
        if " or " in terms or not targets:
            return [self.use_backend(rule, f"%[{lookup}]", extra)]
        var = weighted.result_var
        again = f"{{ var({var}) -m found }}" if "rand(" in terms else terms

        def rules(condition: str, draw: str) -> list[str]:
            """The first rule looks up `draw` and keeps the name, the others compare it: one map lookup per attempt.
            HAProxy parses every `map_int(...)` of a configuration on its own, and with a lookup in each rule of the
            map's ends, `haproxy -c` (and every reload) took 12x longer at 5,000 gateways."""
            first = f"{{ {draw},set-var({var}) -m str {targets[0]} }}"
            found = [f"use_backend {targets[0]} if {' '.join(part for part in (condition, first) if part)} {live_acl(targets[0])}"]
            found += [f"use_backend {target} if {{ var({var}) -m str {target} }} {live_acl(target)}" for target in targets[1:]]
            return found

        lines = rules(terms, lookup) + rules(again, lookup)
        for probe in (0, PICK_RANGE - 1):
            lines += rules(again, lookup.replace(f"rand({PICK_RANGE})", f"int({probe})", 1))
        return lines


def live_acl_lines(decisions: list[str]) -> list[str]:
    """The definitions of the `live_<backend>` ACLs the rules use: a usable server (`nbsrv`), or a stopping worker.
    HAProxy 2.6 reports `nbsrv` 0 for every backend in the old worker while it soft-stops after a reload, and that
    worker still answers the requests in flight: without `stopping` they would find no live route (503s) and sticky
    clients would be released. Two definitions of one name are ORed."""
    backends = dict.fromkeys(filter(None, (names.live_acl_backend(word) for line in decisions for word in line.split())))
    lines = []
    for backend in backends:
        lines += [f"acl {live_acl(backend)} nbsrv({backend}) gt 0", f"acl {live_acl(backend)} stopping"]
    return lines


def _map_acl(options: RenderOptions, weighted: WeightedMap, mode: str) -> str:
    """A named ACL that is never used: it makes HAProxy load the map while `default-path config` applies, so a
    `use_backend %[...]` lookup, parsed later, finds the map by its name instead of opening it from the working
    directory (an ACL in a rule's condition is parsed at once and needs no such help)."""
    return f"acl {weighted.result_var.split('.', 1)[1]}_map {_lookup(options, weighted, mode)} -m found"


def routing_lines(frontend: FrontendPlan, options: RenderOptions, compiler: _ConditionCompiler, guard: list[str] | None = None) -> list[str]:
    """The rules that route a request in `frontend`, in order. `guard` (ACL terms) is added to every decision, for
    the shared virtual-host frontend."""
    guard = list(guard or [])
    when = f" if {' '.join(guard)}" if guard else ""
    mode = frontend.mode
    request = "http-request" if mode == HTTP else "tcp-request content"
    lines = []
    compiled = {}
    for test in frontend.tests:
        acls, expression = compiler.lines(test)
        lines.extend(acls)
        compiled[test.key] = expression
    writer = _RuleWriter(frontend, compiled, guard, _StrengthTerms(options, frontend))
    main = frontend.weighted
    decisions = _decision_lines(frontend, options, writer, guard)
    # a map looked up in a `use_backend %[...]` is loaded by a named ACL first (the stage tokens' main pick is kept in a
    # variable by an http-request rule, parsed at once)
    lines.extend(live_acl_lines(decisions))
    decided = "\n".join(decisions)
    lines.extend(_map_acl(options, weighted, mode) for weighted in frontend.weighted_maps if f"%[{_lookup(options, weighted, mode)}]" in decided)
    for test in frontend.tests:
        if compiled[test.key] and test.key not in writer.inline:
            # one draw per request decides the strength for every rule that repeats this test
            lines.append(f"{request} set-var({test.var}) rand({PICK_RANGE}) if {compiled[test.key]}")
    if frontend.route_cookie:
        if frontend.route_cookie_from_frontend:
            # route backends shared with other gateways read the cookie name from here (request fetches are gone when
            # the response is processed)
            lines.append(f"{request} set-var({ROUTE_COOKIE_NAME_VAR}) str({frontend.route_cookie}){when}")
    if frontend.stages:
        lines.append(f"{request} set-var({main.result_var}) {_lookup(options, main, mode)}{when}")
    return lines + decisions


def _decision_lines(frontend: FrontendPlan, options: RenderOptions, writer: _RuleWriter, guard: list[str]) -> list[str]:
    """The use_backend rules in decision order: sticky routes, conditions, stages, weights."""
    mode = frontend.mode
    main = frontend.weighted
    lines = []
    for index, sticky in enumerate(frontend.sticky_routes):
        # the first sticky rule reads the client's route cookie into a variable, for the other rules and for the route
        # backends' Set-Cookie rule: one rule fewer per request than an http-request rule doing it (220 instructions)
        cookie = f"req.cook({frontend.route_cookie}),set-var({ROUTE_COOKIE_VAR})" if index == 0 else f"var({ROUTE_COOKIE_VAR})"
        terms = " ".join(guard + [f"{{ {cookie} -m str {sticky.value} }}", live_acl(sticky.backend)])
        lines.append(f"use_backend {sticky.backend} if {terms}")
    for rule in frontend.rules:
        if rule.backend:
            lines.append(writer.use_backend(rule, rule.backend, live=True))
        else:
            lines.extend(writer.pick(rule, rule.weighted, _lookup(options, rule.weighted, mode)))
    for stage in frontend.stages:
        chosen = [f"{{ var({main.result_var}) -m str {stage.token} }}"]
        for rule in stage.rules:
            lines.append(writer.use_backend(rule, rule.backend, chosen, live=True))
        lines.extend(writer.pick(Rule(stage.route, []), stage.weighted, _lookup(options, stage.weighted, mode), chosen))
    if frontend.stages:
        # the main pick is already in its variable: the backends it can name, compared (stage tokens are above)
        for target in dict.fromkeys(e.target for e in main.entries if e.target not in {s.token for s in frontend.stages}):
            lines.append(f"use_backend {target} if {' '.join(guard + [f'{{ var({main.result_var}) -m str {target} }}', live_acl(target)])}")
    else:
        lines.extend(writer.pick(Rule(main.name, []), main, _lookup(options, main, mode)))
    return lines + _last_resort(frontend, options, guard)


def _weighted_backends(frontend: FrontendPlan) -> list[tuple[str, bool]]:
    """(backend, has a share now) for each backend the weights can name, in the routes' order: a two-step frontend's
    stage stands for its cluster's services, in the order of the cluster's own weights, and a service has a share when
    it and its cluster both have one."""
    stages = {stage.token: stage for stage in frontend.stages}
    found = []
    for entry in frontend.weighted.entries:
        inner = stages[entry.target].weighted.entries if entry.target in stages else [entry]
        found.extend((item.target, entry.units > 0 and item.units > 0) for item in inner if item.target not in stages)
    return found


def _last_resort_order(frontend: FrontendPlan) -> list[str]:
    """The backends a last resort may send to, in the routes' order; empty when the frontend needs none: a one-step
    pick of one or two backends, whose map ends already place whatever the draws left. Weights do not decide it (they
    change at runtime, haproxy.cfg does not)."""
    order = list(dict.fromkeys(target for target, _share in _weighted_backends(frontend)))
    return order if frontend.stages or len(order) > 2 else []


def weighted_routes_path(options: RenderOptions, frontend: FrontendPlan) -> str:
    """The ACL file of the backends that have a weight now, for the last resort; replaced at runtime with the maps."""
    return names.frontend_acl_path(options.maps_dir, frontend.name, names.WEIGHTED_ROUTES)


def weighted_routes_text(frontend: FrontendPlan) -> str:
    """One backend a line: each that the weights give a share."""
    return "".join(f"{target}\n" for target in dict.fromkeys(target for target, share in _weighted_backends(frontend) if share))


def _last_resort(frontend: FrontendPlan, options: RenderOptions, guard: list[str]) -> list[str]:
    """A request the weighted pick sent to a route without a live server, and that no later attempt placed, goes to
    the first live route that has a weight, instead of a 503. A two-step frontend's outer pick is made once, in an
    http-request rule, before any backend is known to be live, so there this is the only second chance; a one-step
    pick reaches it when both draws and both ends of the map name dead routes (three routes or more). "Has a weight"
    is read from the weighted-routes file, which changes with the maps at runtime: a route with weight 0 (a dark
    launch) is never a last resort, and a request the weights leave unrouted on purpose (every weight set to 0 at
    runtime) still gets its 503."""
    unrouted = f"!{{ var({frontend.weighted.result_var}) -m str {UNROUTED_BACKEND[frontend.mode]} }}"
    path = weighted_routes_path(options, frontend)
    return [f"use_backend {target} if {' '.join(guard + [unrouted, f'{{ str({target}) -m str -f {path} }}', live_acl(target)])}"
            for target in _last_resort_order(frontend)]


def route_cookie_lines(backend: BackendPlan) -> list[str]:
    """Set the route cookie when the client's cookie does not name this backend yet. One rule in the backend, not one
    per route in the frontend. A backend only one gateway reaches writes that gateway's cookie name as a constant;
    a shared one reads it from the frontend (sticky frontends only), and what the client sent, from variables."""
    if not backend.route_cookie_value:
        return []
    value = backend.route_cookie_value
    keeps = f"!{{ var({ROUTE_COOKIE_VAR}) -m str {value} }}"
    if backend.route_cookie_name:
        return [f"http-response add-header Set-Cookie '{backend.route_cookie_name}={value}; Path=/; HttpOnly' if {keeps}"]
    return [f"http-response add-header Set-Cookie '%[var({ROUTE_COOKIE_NAME_VAR})]={value}; Path=/; HttpOnly' "
            f"if {{ var({ROUTE_COOKIE_NAME_VAR}) -m found }} {keeps}"]


def frontend_lines(frontend: FrontendPlan, options: RenderOptions, compiler: _ConditionCompiler) -> list[str]:
    bind = options.bind_address
    lines = [f"bind {bind}:{frontend.port}", f"mode {frontend.mode}"]
    if frontend.mode == HTTP:
        # keep-alive clients are told to close idle connections on a reload, so no request lands on a closing socket
        lines.append("option idle-close-on-response")
    elif options.log_target:
        lines.append(f"log-format {quote_word(TCP_LOG_FORMAT)}")
    lines.extend(routing_lines(frontend, options, compiler))
    lines.append(f"default_backend {UNROUTED_BACKEND[frontend.mode]}")
    return lines


def _virtual_host_rules(frontend: FrontendPlan) -> list[str]:
    exact, with_port, wildcard = [], [], []
    for host in frontend.virtual_hosts:
        host = host.lower().rstrip(".")
        if host.startswith("*."):
            wildcard.append(host[1:])
        elif ":" in host:
            with_port.append(host)
        else:
            exact.append(host)
    target = f"http-request set-var({names.VHOST_VAR}) str({frontend.tag})"
    lines = []
    if exact:
        lines.append(f"{target} if {{ req.hdr(host),host_only -m str {' '.join(exact)} }}")
    if with_port:
        lines.append(f"{target} if {{ req.hdr(host),lower -m str {' '.join(with_port)} }}")
    if wildcard:
        lines.append(f"{target} if {{ req.hdr(host),host_only -m end {' '.join(wildcard)} }}")
    return lines


def _check_words(backend: BackendPlan) -> str:
    check = backend.health_check
    words = ["check"]
    if check is not None:
        words += [f"inter {_milliseconds(check.interval)}", f"fall {max(1, int(check.failures))}"]
    return " ".join(words)


def backend_lines(backend: BackendPlan, options: RenderOptions, instances: list[Instance], check_ports: dict | None = None) -> list[str]:
    """The lines of one route backend. `check_ports` maps a slot to the port its instance publishes for the health
    check's port, when the check is on another port of the breed."""
    lines = [f"mode {backend.mode}", f"balance {backend.balance or 'roundrobin'}"]
    if backend.hash_balance:
        # consistent hashing keeps runtime weight changes and slot changes possible
        lines.append("hash-type consistent")
    check = backend.health_check
    if check is not None and (check.protocol or HTTP) == HTTP:
        lines.append(f"option httpchk GET {word(check.path or '/')}")
        lines.append(f"http-check expect status {_STATUS_RANGE}")
    if check is not None:
        lines.append(f"timeout check {_milliseconds(check.timeout)}")
    if backend.sticky_instance:
        lines.append(f"cookie {backend.instance_cookie} insert indirect nocache dynamic")
        lines.append(f"dynamic-cookie-key {options.dynamic_cookie_key}")
    lines.extend(route_cookie_lines(backend))
    for rewrite in backend.rewrites:
        # checked by text_rules.rewrite_problem; split_words proves the condition stays words on this one line
        split_words(rewrite.condition, allow_comment=False, allow_environment=False)
        lines.append(f"http-request set-path {rewrite.path} if {rewrite.condition}")
    default_server = [_check_words(backend)]
    if check is not None:
        default_server.append(f"rise {options.check_rise}")
    if backend.check_port:
        default_server.append(f"port {backend.check_port}")
    if backend.is_external:
        # a host name that does not resolve must not stop HAProxy: the server starts in maintenance instead
        default_server.append("init-addr last,libc,none")
    lines.append("default-server " + " ".join(default_server))
    if backend.is_external:
        host, port = backend.address
        lines.append(f"server ext {host}:{port}")
        return lines
    by_slot = {}
    for instance in instances:
        by_slot[instance.slot] = instance
    for slot in range(1, max([backend.slots] + list(by_slot)) + 1):
        instance = by_slot.get(slot)
        if instance is None:
            lines.append(f"server {names.slot_name(slot)} 0.0.0.0:0 disabled")
        elif (check_ports or {}).get(slot):
            # the instance publishes the checked port under a port of its own (the default-server's is the breed's)
            lines.append(f"server {names.slot_name(slot)} {instance.address}:{instance.port} port {check_ports[slot]}")
        else:
            lines.append(f"server {names.slot_name(slot)} {instance.address}:{instance.port}")
    return lines


def _check_ports(backend: BackendPlan, instances: dict | None) -> dict:
    """{slot: published port} of the health check's port, for a check on another port of a several-port breed."""
    if not backend.check_port_name or not instances or f"{backend.instance_key}/{backend.check_port_name}" not in instances:
        return {}
    return {instance.slot: instance.port for instance in _backend_instances(backend, instances, backend.check_port_name)}


def _backend_instances(backend: BackendPlan, instances: dict | None, port_name: str | None = None) -> list[Instance]:
    if not instances or backend.instance_key is None:
        return []
    found = instances.get(f"{backend.instance_key}/{port_name or backend.port_name}")
    if found is None:
        found = instances.get(backend.instance_key, [])
    slots = set()
    for instance in found:
        if not isinstance(instance, Instance):
            raise DroverError(f"instances[{backend.instance_key!r}] must hold Instance objects, found {type(instance).__name__}")
        if not isinstance(instance.slot, int) or instance.slot < 1 or instance.slot in slots:
            raise DroverError(f"instances[{backend.instance_key!r}]: slot {instance.slot!r} must be a unique positive integer")
        if not isinstance(instance.address, str) or not _ADDRESS.fullmatch(instance.address):
            raise DroverError(f"instances[{backend.instance_key!r}]: address {instance.address!r} is not a host name or IPv4 address")
        if not isinstance(instance.port, int) or not 1 <= instance.port <= 65535:
            raise DroverError(f"instances[{backend.instance_key!r}]: port {instance.port!r} is not a port number")
        slots.add(instance.slot)
    return list(found)


def stats_lines(options: RenderOptions) -> list[str]:
    return [
        f"bind {options.stats_bind}",
        "mode http",
        "no log",
        "http-request use-service prometheus-exporter if { path /metrics }",
        "stats enable",
        "stats uri /stats",
        "stats refresh 10s",
    ]


def _refuse_shared_ports(frontends: list[FrontendPlan], options: RenderOptions, serves_virtual_hosts: bool) -> None:
    """A shared listener (virtual hosts, stats) on an address a gateway listens on: HAProxy accepts two `bind`s of one
    address (SO_REUSEPORT, `haproxy -c` says valid) and the kernel splits the connections between them at random."""
    listeners = [(f"gateway {f.label}", f"{options.bind_address}:{f.port}") for f in frontends]
    for name, wanted in (("virtual_hosts_bind", serves_virtual_hosts), ("stats_bind", True)):
        value = getattr(options, name)
        if not value or not wanted:
            continue
        for owner, address in listeners:
            if parts.same_listener(value, address):
                raise DroverError(f"RenderOptions.{name}: {value} is also where {owner} listens ({address}); HAProxy would split "
                                  f"the connections between the two at random: choose another port")
        listeners.append((f"RenderOptions.{name}", value))


# ---------------------------------------------------------------------------------------------------------------------
# Template

_TEMPLATES: dict = {}


def _template(path: str | None):
    """The compiled template, cached per path and modification time (compiled once per process). Templates run in
    Jinja2's sandbox: a template given with --template or template_path is code, and may not reach Python's internals
    (`''.__class__...`, `cycler.__init__.__globals__.os`), read files or include other templates."""
    if jinja2 is None:
        raise DroverError("rendering haproxy.cfg needs the Python package Jinja2 (pip install Jinja2)")
    path = os.path.abspath(path or DEFAULT_TEMPLATE)
    try:
        mtime = os.stat(path).st_mtime_ns
        cached = _TEMPLATES.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
    except OSError as exc:
        raise DroverError(f"template {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DroverError(f"template {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    environment = jinja2.sandbox.SandboxedEnvironment(
        autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
        loader=jinja2.FunctionLoader(_no_other_templates),
    )
    try:
        template = environment.from_string(source)
    except jinja2.TemplateError as exc:
        where = f", line {exc.lineno}" if getattr(exc, "lineno", None) else ""
        raise DroverError(f"template {path}{where}: {_one_line(exc)}") from None
    _TEMPLATES[path] = (mtime, template)
    return template


def _no_other_templates(name: str):
    raise jinja2.TemplateNotFound(name, f"{name!r}: a template is one file; include, import and extends are not available")


def _render_template(path: str | None, **context) -> str:
    """The template filled in; DroverError, with the template's line, for whatever goes wrong inside it."""
    template = _template(path)
    try:
        return template.render(**context)
    except Exception as exc:  # a user's template can fail in any way Jinja2 or Python can (1/0, an undefined name)
        lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == "<template>"]
        where = f", line {lines[-1]}" if lines else ""
        raise DroverError(f"template {os.path.abspath(path or DEFAULT_TEMPLATE)}{where}: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    return f"{' '.join(str(exc).split())} ({type(exc).__name__})"


def map_files(frontends: list[FrontendPlan], options: RenderOptions | None = None) -> dict[str, str]:
    """The files a plan's weights and strengths live in, which change at runtime: {"<maps_dir>/<name>.map":
    "lo:hi target\\n...", "<maps_dir>/<frontend>.<test>.acl": "0:<threshold - 1>\\n", and for a frontend with a last
    resort "<maps_dir>/<frontend>.weighted.acl": "<backend>\\n..."}."""
    options = options or RenderOptions()
    files = {}
    for frontend in frontends:
        for weighted in frontend.weighted_maps:
            files[_map_path(options, weighted)] = weighted.text()
        for test in frontend.tests:
            if _has_draw(test):
                files[strength_path(options, frontend, test)] = strength_text(test)
        if _last_resort_order(frontend):
            files[weighted_routes_path(options, frontend)] = weighted_routes_text(frontend)
    return dict(sorted(files.items()))


def pattern_file_lines(files: dict[str, str]) -> list[str]:
    """Named ACLs, never used, that load each map and ACL file once, in a section before the frontends. HAProxy 2.6
    looks a file up by walking every pattern list created so far (each inline ACL pattern makes one), so a file
    first met after thousands of gateways' rules costs a walk per mention: `haproxy -c` (and each reload) of 5,000
    gateways took 23 s, and 2.4 s with the files loaded first. An unused ACL costs nothing per request."""
    lines = []
    for index, path in enumerate(files):
        # an ACL file as strings: any line loads so (a strength's ranges, the weighted routes' names)
        lines.append(f"acl file{index} int(0),map_int({path}) -m found" if path.endswith(".map") else f"acl file{index} str(x) -m str -f {path}")
    return lines


def weights_map(artifacts: ArtifactSet, options: RenderOptions | None = None) -> dict[str, str]:
    """Only the map files: what a runtime weight change needs (haproxy.cfg is unchanged by weights)."""
    options = options or RenderOptions()
    return map_files(plan(artifacts, options.default_slots), options)


@dataclass
class _Sections:
    """Everything a plan renders to, before it is laid out as one file or as parts."""

    frontends: list
    backends: list
    frontend_sections: list
    backend_sections: list
    vhost_rules: dict
    vhost_routing: dict
    warnings: list


def _sections(artifacts: ArtifactSet, options: RenderOptions, instances: dict | None) -> _Sections:
    validate_options(options)
    frontends = plan(artifacts, options.default_slots)
    backends = all_backends(frontends)
    warnings = []
    if any(b.sticky_instance for b in backends) and not options.dynamic_cookie_key:
        raise DroverError("a gateway is sticky `instance`, so rendering needs a dynamic cookie key, a stable secret that signs the "
                          "instance cookies (RenderOptions.dynamic_cookie_key: the haproxy role's haproxy_dynamic_cookie_key, "
                          "haproxy_routing's dynamic_cookie_key, or DROVER_DYNAMIC_COOKIE_KEY in the environment of `drover render`)")
    if any(f.virtual_hosts for f in frontends) and not options.virtual_hosts_bind:
        warnings.append("gateways have virtual_hosts but no virtual-hosts listener is set (RenderOptions.virtual_hosts_bind: "
                        "render_options.virtual_hosts_bind in Ansible, --virtual-hosts-bind for `drover render`): virtual hosts are not served")
    compiler = _ConditionCompiler()
    frontend_sections = [{"name": f.name, "comment": names.gateway_comment(f.label), "lines": frontend_lines(f, options, compiler),
                          "part": part_of_frontend(f)} for f in frontends]
    vhost_rules, vhost_routing = {}, {}
    if options.virtual_hosts_bind:
        for frontend in frontends:
            if frontend.mode == HTTP and frontend.virtual_hosts:
                vhost_rules[frontend.name] = _virtual_host_rules(frontend)
                guard = [f"{{ var({names.VHOST_VAR}) -m str {frontend.tag} }}"]
                vhost_routing[frontend.name] = routing_lines(frontend, options, compiler, guard)
    _refuse_shared_ports(frontends, options, bool(vhost_rules))
    if compiler.issues:
        raise DslError(compiler.issues)
    owners = _backend_parts(frontends)
    backend_sections = [
        {"name": b.name, "comment": names.route_target_comment(b.target), "part": owners[b.name],
         "lines": backend_lines(b, options, _backend_instances(b, instances), _check_ports(b, instances))}
        for b in backends
    ]
    return _Sections(frontends, backends, frontend_sections, backend_sections, vhost_rules, vhost_routing, warnings)


def _stats_section(options: RenderOptions) -> dict:
    return {"name": "drover_stats", "comment": "stats page and Prometheus metrics", "lines": stats_lines(options)}


def _unrouted_section(mode: str) -> dict:
    return {"name": UNROUTED_BACKEND[mode], "comment": "no route: HTTP 503 or a closed connection", "lines": [f"mode {mode}"]}


def _vhost_shell(options: RenderOptions) -> list[str]:
    return [f"bind {options.virtual_hosts_bind}", "mode http", "option idle-close-on-response"]


def _template_context(options: RenderOptions, patterns: dict, frontends: list, backends: list) -> dict:
    return dict(
        global_lines=_global_lines(options),
        defaults_lines=_defaults_lines(options),
        pattern_files=pattern_file_lines(patterns),
        http_log_format=quote_word(HTTP_LOG_FORMAT),
        # without a log target HAProxy ignores a log-format (with a warning) and still calls its logger per request
        logging=bool(options.log_target),
        frontends=frontends,
        backends=backends,
        options=options,
    )


def render(artifacts: ArtifactSet, options: RenderOptions | None = None, instances: dict | None = None) -> RenderedConfig:
    """Render haproxy.cfg and its maps as one file. `instances`: {"<blueprint>/<cluster>/<breed>": [Instance, ...]} (a
    key with "/<port name>" appended wins for that port), the running instances to put into their server slots.

    Raises DslError (bad input, at its origin) or DroverError (bad options)."""
    options = options or RenderOptions()
    found = _sections(artifacts, options, instances)
    frontend_sections = list(found.frontend_sections)
    if found.vhost_rules:
        lines = _vhost_shell(options) + [line for rules in found.vhost_rules.values() for line in rules]
        lines += [line for routing in found.vhost_routing.values() for line in routing] + [f"default_backend {UNROUTED_BACKEND[HTTP]}"]
        frontend_sections.append({"name": "drover_virtual_hosts", "comment": "virtual hosts of all http gateways", "lines": lines})
    if options.stats_bind:
        frontend_sections.append(_stats_section(options))
    backend_sections = list(found.backend_sections) + [_unrouted_section(mode) for mode in sorted({f.mode for f in found.frontends})]
    patterns = map_files(found.frontends, options)
    config = _render_template(options.template_path, **_template_context(options, patterns, frontend_sections, backend_sections))
    files = {"haproxy.cfg": config}
    files.update(patterns)
    return RenderedConfig(files=files, frontends=found.frontends, backends=found.backends, warnings=found.warnings)


# ---------------------------------------------------------------------------------------------------------------------
# Parts: a load balancer shared by many blueprints (haproxy/parts.py)


def part_of_frontend(frontend: FrontendPlan) -> str:
    """The part a gateway's frontend belongs to: its blueprint's (`blueprint-<name>`), or its own for a standalone
    gateway (`gateway-<name>`). A blueprint gateway's label starts with `<blueprint>/`; names never hold a `/`."""
    if "/" in frontend.label:
        return parts.part_key("blueprint", frontend.label.split("/", 1)[0])
    return parts.part_key("gateway", frontend.label)


def _backend_parts(frontends: list[FrontendPlan]) -> dict:
    """{backend name: part}: a service's backend belongs to its blueprint's part, an external address's to the part of
    the first gateway that routes to it."""
    owners = {}
    for frontend in frontends:
        for backend in frontend.backends:
            if backend.instance_key:
                owners.setdefault(backend.name, parts.part_key("blueprint", backend.instance_key.split("/", 1)[0]))
            else:
                owners.setdefault(backend.name, part_of_frontend(frontend))
    return owners


@dataclass
class RenderedParts:
    """The head (the haproxy role's: global, defaults, listeners every part shares) and the parts, each with its
    map and ACL files ({path relative to haproxy.cfg's directory: content})."""

    head: str
    parts: dict[str, str]
    maps: dict[str, dict]
    frontends: list[FrontendPlan] = field(default_factory=list)
    backends: list[BackendPlan] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def render_head(options: RenderOptions | None = None) -> str:
    """The head of haproxy.cfg, the same for every part: global, defaults, the stats listener, the no-route backends,
    and the virtual-hosts listener that parts add their rules to (parts.assemble)."""
    options = options or RenderOptions()
    validate_options(options)
    frontends = []
    if options.virtual_hosts_bind:
        frontends.append({"name": parts.VIRTUAL_HOSTS, "comment": "virtual hosts of the http gateways of every part",
                          "lines": _vhost_shell(options) + [f"default_backend {UNROUTED_BACKEND[HTTP]}"]})
    if options.stats_bind:
        frontends.append(_stats_section(options))
    backends = [_unrouted_section(mode) for mode in sorted(UNROUTED_BACKEND)]
    return parts.HEAD_MARK + "\n" + _render_template(options.template_path, **_template_context(options, {}, frontends, backends))


def render_parts(artifacts: ArtifactSet, options: RenderOptions | None = None, instances: dict | None = None) -> RenderedParts:
    """The head and one part per blueprint and per standalone gateway of `artifacts` (see part_of_frontend)."""
    options = options or RenderOptions()
    found = _sections(artifacts, options, instances)
    by_part: dict = {}
    for frontend, section in zip(found.frontends, found.frontend_sections):
        part = by_part.setdefault(section["part"], {"patterns": {}, "sections": [], "vhost": []})
        part["patterns"].update(map_files([frontend], options))
        part["sections"].append(parts.Section("frontend", section["name"], ["# " + section["comment"]], section["lines"]))
        part["vhost"] += found.vhost_rules.get(frontend.name, []) + found.vhost_routing.get(frontend.name, [])
    for section in found.backend_sections:
        part = by_part.setdefault(section["part"], {"patterns": {}, "sections": [], "vhost": []})
        part["sections"].append(parts.Section("backend", section["name"], ["# " + section["comment"]], section["lines"]))
    texts, maps = {}, {}
    for name, part in sorted(by_part.items()):
        sections = []
        if part["patterns"]:
            sections.append(parts.Section("backend", parts.PATTERN_FILES, [], pattern_file_lines(part["patterns"])))
        sections += part["sections"]
        if part["vhost"]:
            sections.append(parts.Section("frontend", parts.VIRTUAL_HOSTS, [], part["vhost"]))
        texts[name] = parts.part_text(name, sections)
        maps[name] = dict(part["patterns"])
    return RenderedParts(head=render_head(options), parts=texts, maps=maps, frontends=found.frontends, backends=found.backends,
                         warnings=found.warnings)


__all__ = ["RenderOptions", "RenderedConfig", "RenderedParts", "render_head", "render_parts", "map_files", "render", "validate_options", "weights_map", "word"]
