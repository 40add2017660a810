"""The main demo (`make demo`): a lab fleet of one load balancer and four app hosts, the demo canary blueprint
deployed with Ansible, real traffic through the load balancer, then a 50/50 weight shift and a stronger condition
applied at runtime.

Every step runs what a user runs: `drover lab up`, `ansible-playbook playbooks/deploy.yml`, `playbooks/gateway.yml`.
The lab stays up at the end so that you can look around; `make lab-down` removes it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.routing.plan import explain

from drover_cli.lab.fleet import lab_up

sys.path.insert(0, str(Path(__file__).resolve().parent))
from traffic import USER_AGENTS, DemoError, expected_split, observed_split, print_split, sticky_client, wait_for  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BLUEPRINT = REPO / "examples" / "lab" / "demo-canary.yml"
BIN = Path(sys.executable).parent
REQUESTS = 1000


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def ansible_playbook(playbook: str, *extra: str) -> None:
    """Run a playbook from the checkout as a user would, its output shown as it comes."""
    command = [str(BIN / "ansible-playbook"), str(REPO / "playbooks" / playbook), *extra]
    print("$ " + " ".join(command[0:1] + [os.path.relpath(c, REPO) if c.startswith(str(REPO)) else c for c in command[1:]]), flush=True)
    if subprocess.run(command, cwd=REPO, check=False).returncode != 0:
        raise DemoError(f"{playbook} failed; see the output above")


def reload_count(inventory: Path) -> int:
    """How many reloads the load balancer's HAProxy master has done, read with drover.fleet.haproxy_info."""
    out = subprocess.run([str(BIN / "ansible"), "loadbalancers", "-i", str(inventory), "-m", "drover.fleet.haproxy_info",
                          "-a", "gather=processes", "-o"], cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise DemoError(f"haproxy_info failed:\n{out.stdout}{out.stderr}")
    result = json.loads(out.stdout.split("=>", 1)[1])
    return int(result["processes"]["master"]["reloads"])


def version_of(route: str) -> str:
    return route.rsplit(":", 1)[-1]


def main() -> int:
    started = time.monotonic()
    step("Bringing up the lab: 1 load balancer and 4 app hosts (network namespaces with sshd and podman)")
    lab = lab_up(5)
    for host in lab.hosts:
        print(f"  {host.name:<6} {host.address:<15} {host.group:<14} {host.zone}")
    lb = lab.group("loadbalancers")[0]

    step(f"Deploying {BLUEPRINT.relative_to(REPO)} with Ansible")
    ansible_playbook("deploy.yml", "-e", f"drover_blueprint={BLUEPRINT}")
    artifacts = load_paths([str(BLUEPRINT)])
    gateway = explain(artifacts)[0]
    port = gateway["port"]
    print("drover explain says:")
    for statement in gateway["statements"]:
        print(f"  - {statement}")

    step(f"Sending real traffic to the gateway at {lb.address}:{port}")
    wait_for(lambda: observed_split(lb.address, port, USER_AGENTS["Firefox"], 20), 60, "the gateway to answer")
    for name, agent in USER_AGENTS.items():
        matched = {"user-agent == Chrome"} if name == "Chrome" else set()
        print_split(f"{name} users, each request a new client", observed_split(lb.address, port, agent, REQUESTS),
                    expected_split(gateway, matched, version_of))
    first, kept = sticky_client(lb.address, port, USER_AGENTS["Firefox"], 30)
    print(f"\nsticky route: a client first served by {first} sent its cookie back 30 times and got {dict(kept)}")

    step("Shifting the weights to 50/50 and Chrome's condition strength to 80% at runtime with playbooks/gateway.yml")
    before = reload_count(lab.inventory)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="demo-50-50-", delete=False) as shifted:
        shifted.write(BLUEPRINT.read_text().replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%")
                      .replace("condition_strength: 50%", "condition_strength: 80%"))
    try:
        ansible_playbook("gateway.yml", "-e", f"drover_blueprint={shifted.name}")
        shifted_gateway = explain(load_paths([shifted.name]))[0]
    finally:
        os.unlink(shifted.name)
    after = reload_count(lab.inventory)
    print(f"HAProxy reloads before the shift: {before}, after: {after} ({'no reload' if after == before else 'RELOADED'})")
    if after != before:
        raise DemoError("a change of weights and strengths must not reload HAProxy")
    for name, agent in USER_AGENTS.items():
        matched = {"user-agent == Chrome"} if name == "Chrome" else set()
        print_split(f"{name} users after the shift", observed_split(lb.address, port, agent, REQUESTS),
                    expected_split(shifted_gateway, matched, version_of))

    step(f"Done in {time.monotonic() - started:.0f} s. Look around:")
    print(f"  .venv/bin/drover status --host {lb.name} -i {os.path.relpath(lab.inventory, REPO)}   # gateways, routes, servers")
    print("  .venv/bin/drover lab status                      # the lab hosts and their containers")
    print(f"  curl -s http://{lb.address}:{port}/              # one request through the gateway")
    print("  make lab-down                                    # remove the lab (hosts, containers, bridge, rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
