"""The main demo (`make demo`): a lab fleet of one load balancer and four app hosts, the demo canary blueprint
deployed with Ansible, real traffic through the load balancer, then a 50/50 weight shift and a stronger condition
applied at runtime.

Every step runs what a user runs: `drover lab up`, `ansible-playbook playbooks/deploy.yml`, `playbooks/gateway.yml`.
The lab stays up at the end so that you can look around; `make lab-down` removes it. The screen shows one line per
step with its time, and the traffic tables; the commands' full output goes to demo.log in the lab's state directory.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.routing.explain import explain

from drover_cli.lab.fleet import default_state_dir, lab_up
from drover_cli.lab.host import run_in_host

sys.path.insert(0, str(Path(__file__).resolve().parent))
from steps import DemoError, Steps, display_path  # noqa: E402
from traffic import USER_AGENTS, observed_split, sticky_client, sticky_summary, traffic_steps, wait_for  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BLUEPRINT = REPO / "examples" / "lab" / "demo-canary.yml"
BIN = Path(sys.executable).parent
REQUESTS = 1000
RECAP = re.compile(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=\d+", re.MULTILINE)


def ansible_playbook(steps: Steps, playbook: str, *extra: str) -> str:
    """Runs a playbook from the checkout as a user would, its output in the log; says what changed, from its recap."""
    output = steps.run([str(BIN / "ansible-playbook"), str(REPO / "playbooks" / playbook), *extra], cwd=REPO)
    changed = {host: int(count) for host, count in RECAP.findall(output)}
    total = sum(changed.values())
    return f"{total} change{'' if total == 1 else 's'} on {sum(1 for n in changed.values() if n)} of {len(changed)} hosts"


def reload_count(steps: Steps, inventory: Path, host: str) -> int:
    """How many reloads the load balancer's HAProxy master has done, read with drover.fleet.haproxy_info."""
    output = steps.run([str(BIN / "ansible"), host, "-i", str(inventory), "-m", "drover.fleet.haproxy_info", "-a", "gather=processes"], cwd=REPO)
    marker = f"{host} | SUCCESS => "
    if marker not in output:
        raise DemoError(f"drover.fleet.haproxy_info gave no result for {host}")
    result, _end = json.JSONDecoder().raw_decode(output.split(marker, 1)[1])
    return int(result["processes"]["master"]["reloads"])


def running_instances(lab) -> list[str]:
    """`demo:1.0 on app1, app2`: the drover containers running on the app hosts, by service, read from podman."""
    hosts: dict[str, list[str]] = {}
    for host in lab.group("apps"):
        listing = json.loads(run_in_host(host, ["podman", "ps", "--format", "json"], timeout=30).stdout or "[]")
        for container in listing:
            service = (container.get("Labels") or {}).get("drover.service")
            if service:
                hosts.setdefault(service, []).append(host.name)
    return [f"{service} on {', '.join(names)}" for service, names in sorted(hosts.items())]


def main() -> int:
    started = time.monotonic()
    steps = Steps(default_state_dir() / "demo.log")
    steps.print("drover demo: a canary release on a lab fleet, deployed with Ansible, routed by HAProxy")
    steps.print(f"The commands' full output (Ansible's included) goes to {display_path(steps.log_path)}\n")

    with steps.step("lab up") as step:
        lab = lab_up(5)
        lb, apps = lab.group("loadbalancers")[0], lab.group("apps")
        step.summary = f"{len(lab.hosts)} hosts ({lb.name}, {apps[0].name}..{apps[-1].name}): network namespaces with sshd and podman"
        step.details = [f"{host.name:<6}{host.address:<15}{host.group:<15}{host.zone}" for host in lab.hosts]

    with steps.step(f"deploy {BLUEPRINT.relative_to(REPO)} with playbooks/deploy.yml") as step:
        step.summary = ansible_playbook(steps, "deploy.yml", "-e", f"drover_blueprint={BLUEPRINT}")
        step.details = running_instances(lab)

    with steps.step("drover explain: what the blueprint promises") as step:
        gateway = explain(load_paths([str(BLUEPRINT)]))[0]
        port = gateway["port"]
        step.details = [f"- {statement}" for statement in gateway["statements"]]

    with steps.step(f"the gateway answers at {lb.address}:{port}"):
        wait_for(lambda: observed_split(lb.address, port, USER_AGENTS["Firefox"], 20), 60, "the gateway to answer")
    traffic_steps(steps, "each request a new client", lb.address, port, gateway, REQUESTS)
    with steps.step("sticky route") as step:
        step.summary = sticky_summary(*sticky_client(lb.address, port, USER_AGENTS["Firefox"], 30))

    with steps.step("shift to 50/50 and Chrome's strength to 80% with playbooks/gateway.yml") as step:
        before = reload_count(steps, lab.inventory, lb.name)
        with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="demo-50-50-") as shifted:
            shifted.write(BLUEPRINT.read_text().replace("weight: 90%", "weight: 50%").replace("weight: 10%", "weight: 50%")
                          .replace("condition_strength: 50%", "condition_strength: 80%"))
            shifted.flush()
            changes = ansible_playbook(steps, "gateway.yml", "-e", f"drover_blueprint={shifted.name}")
            shifted_gateway = explain(load_paths([shifted.name]))[0]
        after = reload_count(steps, lab.inventory, lb.name)
        if after != before:
            raise DemoError(f"HAProxy reloaded ({before} reloads before, {after} after): a change of weights and strengths must not reload it")
        step.summary = f"{changes}, applied at runtime with no HAProxy reload"
    traffic_steps(steps, "after the shift", lb.address, port, shifted_gateway, REQUESTS)

    steps.close()
    hints = [
        (f".venv/bin/drover status --host {lb.name} -i {display_path(lab.inventory)}", "gateways, routes, servers"),
        (".venv/bin/drover lab status", "the lab hosts and their containers"),
        (f"curl -s http://{lb.address}:{port}/", "one request through the gateway"),
        ("make lab-down", "remove the lab (hosts, containers, bridge, rules)"),
    ]
    width = max(len(command) for command, _what in hints)
    steps.print(f"\nDone in {time.monotonic() - started:.0f} s. The lab stays up; look around:")
    for command, what in hints:
        steps.print(f"  {command:<{width}}   # {what}")
    steps.print(f"The commands' full output: {display_path(steps.log_path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
