"""Plain-words rendering of `routing.explain` data for `drover explain`."""

from __future__ import annotations


def describe_gateway(plan: dict) -> str:
    """A short paragraph for one gateway: where it listens, then one line per routing statement."""
    hosts = f" (virtual hosts: {', '.join(plan['virtual_hosts'])})" if plan.get("virtual_hosts") else ""
    lines = [f"gateway {plan['gateway']}: port {plan['port']}/{plan['mode']}{hosts}"]
    lines.extend(f"  - {statement}" for statement in plan["statements"])
    if not plan.get("sticky"):
        lines.append("  - not sticky: every request is routed on its own")
    return "\n".join(lines)
