# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`explain`: a routing plan in plain words and as data, for people and for `drover explain`.

For each gateway: which requests go to which route, with what probability, and the stickiness, in decision order
(sticky routes, then conditions, then the weights). The plan itself is routing/plan.py.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import ArtifactSet
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import (
    STICKY_INSTANCE, STICKY_ROUTE, FrontendPlan, Rule, WeightedMap, plan)


def _percent(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _weights_text(weighted: WeightedMap) -> str:
    parts = [f"{_percent(e.percent)} {e.route}" for e in weighted.entries if e.units > 0]
    return ", ".join(parts) if parts else "no route (503)"


def _rule_text(rule: Rule) -> str:
    tests = " and ".join(f"`{t.condition.definition}`" for t in rule.tests)
    chance = 1.0
    for test in rule.tests:
        chance *= test.strength / 100.0
    where = rule.route if rule.backend else f"{rule.route} (split: {_weights_text(rule.weighted)})"
    return f"requests matching {tests} go to {where} with {_percent(chance * 100.0)}"


def _rule_data(rule: Rule) -> dict:
    return {
        "route": rule.route,
        "conditions": [{"condition": t.condition.definition, "strength": t.strength} for t in rule.tests],
        "probability": round(_product(t.strength for t in rule.tests), 4),
        "backend": rule.backend,
        "weights": _weights_data(rule.weighted) if rule.weighted else None,
    }


def _product(values) -> float:
    result = 100.0
    for value in values:
        result = result * value / 100.0
    return result


def _weights_data(weighted: WeightedMap) -> list[dict]:
    return [{"route": e.route, "target": e.label or e.target, "percent": e.percent} for e in weighted.entries]


def _frontend_sticky(frontend: FrontendPlan) -> str | None:
    if any(b.sticky_instance for b in frontend.backends):
        return STICKY_INSTANCE
    return STICKY_ROUTE if frontend.sticky_routes else None


def explain_plan(frontends: list[FrontendPlan]) -> list[dict]:
    """`explain` for an already computed plan."""
    result = []
    for frontend in frontends:
        statements = []
        if frontend.sticky_routes:
            kind = "instance (server) and route" if _frontend_sticky(frontend) == STICKY_INSTANCE else "route"
            statements.append(f"sticky {kind}: a client keeps the route in its cookie while that route has a live server")
        statements.extend(_rule_text(rule) for rule in frontend.rules)
        lead = "all other requests" if frontend.rules else "all requests"
        statements.append(f"{lead}: {_weights_text(frontend.weighted)}")
        if len(frontend.weighted.entries) > 1 or frontend.rules:
            statements.append("a route with no live server is passed over: a condition's requests go on to the weights, and a "
                              "weighted request is drawn again among the routes that have one")
        for stage in frontend.stages:
            inner = [_rule_text(rule) for rule in stage.rules] + [f"the rest: {_weights_text(stage.weighted)}"]
            statements.append(f"requests weighted to {stage.route}: " + "; ".join(inner))
        result.append({
            "gateway": frontend.label,
            "frontend": frontend.name,
            "port": frontend.port,
            "mode": frontend.mode,
            "virtual_hosts": list(frontend.virtual_hosts),
            "sticky": _frontend_sticky(frontend),
            "sticky_routes": [s.route for s in frontend.sticky_routes],
            "conditions": [_rule_data(rule) for rule in frontend.rules],
            "weights": _weights_data(frontend.weighted),
            "stages": [{"route": s.route, "conditions": [_rule_data(r) for r in s.rules], "weights": _weights_data(s.weighted)}
                       for s in frontend.stages],
            "statements": statements,
        })
    return result


def explain(artifacts: ArtifactSet) -> list[dict]:
    """For each gateway, in data form: which requests go to which route with what probability, and the stickiness.
    `statements` says the same in plain words, in decision order."""
    return explain_plan(plan(artifacts))


__all__ = ["explain", "explain_plan"]
