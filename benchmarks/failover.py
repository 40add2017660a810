"""Load-balancer failover under load: a keepalived pair sharing a virtual IP, and what clients see when the active
load balancer goes away.

The benchmark builds its own lab (lb1, lb2 with a VIP on the lab bridge, 3 app hosts, a private /24 and bridge),
deploys examples/lab/demo-canary.yml with playbooks/deploy.yml (both load balancers get the same haproxy.cfg, slot
addresses and dynamic cookie key) and runs playbooks/keepalived.yml. Then, with cookie-keeping clients on the
controller sending paced requests to the VIP, each round takes the active load balancer out one way:
  haproxy   stop HAProxy on it (SIGTERM to the master): its keepalived check (`show info` on the host's own admin
            socket) fails `fall` times, keepalived releases the VIP and the peer takes it;
  link      cut it off the network (`ip link set <veth> down`): the peer misses three adverts and takes the VIP;
and then brings it back (HAProxy started again, link up) and waits until it is a BACKUP again. With nopreempt the
VIP stays where it went, so rounds alternate between lb1 and lb2.

Each round reports when the VIP moved, the outage clients saw (the longest time after the fault in which no client
got an answer), the failed requests, and whether each sticky client kept what it was pinned to: its version under
`sticky: route` (demo-canary.yml), its instance under `sticky: instance` (the same blueprint with instance cookies,
deployed for the `instance` rounds). A control round deploys `sticky: instance` with a different
dynamic-cookie-key on each load balancer, to show that the measurement sees clients lose their instance when the
load balancers disagree.

Run:  .venv/bin/python benchmarks/failover.py [--rounds 5] [--no-control] [--no-write] [--json FILE]
      .venv/bin/python benchmarks/failover.py --from-json FILE   (rewrites the section from an earlier run)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network
from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from drover_cli.lab.fleet import LOAD_BALANCER_GROUP, LabState, lab_down, lab_up, vip_holders
from drover_cli.lab.host import LabHost, run_in_host

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_clients import Answer, CookiePool  # noqa: E402
from report import machine_description, write_section  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
BLUEPRINT = REPO_ROOT / "examples" / "lab" / "demo-canary.yml"
GATEWAY_PORT = 9051
FAULTS = ("haproxy", "link")
KEEPALIVED_LOG = "/run/keepalived.log"
STATE_LINE = re.compile(r"\((?P<instance>[^)]+)\) Entering (?P<state>[A-Z]+) STATE")
SLOT_SUFFIX = re.compile(r"-\d+$")


# -- the pair ------------------------------------------------------------------------------------------------------


class Pair:
    """A lab with two load balancers sharing a VIP, and the faults a round injects into one of them."""

    def __init__(self, state: LabState, workdir: Path, cookie_key: str = "failover-bench-key-0123"):
        self.state = state
        self.workdir = workdir
        self.cookie_key = cookie_key
        self.load_balancers = state.group(LOAD_BALANCER_GROUP)
        if len(self.load_balancers) != 2 or not state.vip:
            raise ValueError("the failover needs a lab with two load balancers and a VIP (lab_up(..., load_balancers=2))")

    @property
    def vip(self) -> str:
        return str(self.state.vip)

    def playbook(self, name: str, variables: dict, *args: str, timeout: float = 900) -> str:
        """Runs playbooks/<name>.yml against the lab; returns its output, raises with the output's tail on failure."""
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.state.inventory), str(REPO_ROOT / "playbooks" / f"{name}.yml"),
                "-e", json.dumps(variables), *args]
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_SSH_CONTROL_PATH_DIR=str(self.workdir / "cp"), PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")
        run = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if run.returncode != 0:
            raise RuntimeError(f"{name}.yml failed ({run.returncode}):\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}")
        return run.stdout

    def deploy(self, sticky: str = "route", cookie_key: str | None = None) -> None:
        """Deploys the demo blueprint with `sticky: <sticky>`; `cookie_key` may be a per-host template (the control)."""
        path = self.workdir / f"demo-{sticky}.yml"
        path.write_text(BLUEPRINT.read_text(encoding="utf-8").replace("sticky: route", f"sticky: {sticky}"), encoding="utf-8")
        self.playbook("deploy", {"drover_blueprint": str(path), "haproxy_dynamic_cookie_key": cookie_key or self.cookie_key})

    def keepalived(self, variables: dict | None = None, *args: str) -> str:
        return self.playbook("keepalived", variables or {}, *args)

    def holders(self) -> list[str]:
        return vip_holders(self.state)

    def active(self, timeout: float = 60.0) -> LabHost:
        """The one load balancer that holds the VIP (waits until exactly one does)."""
        names = wait_for(lambda: self.holders() if len(self.holders()) == 1 else None, timeout=timeout,
                         interval=0.05, message="exactly one load balancer holds the VIP")
        return self.state.host(names[0])

    def peer(self, host: LabHost) -> LabHost:
        return next(other for other in self.load_balancers if other.name != host.name)

    def vrrp_state(self, host: LabHost) -> str | None:
        """The last state keepalived logged on `host` (MASTER, BACKUP, FAULT), None before any."""
        result = run_in_host(host, ["cat", KEEPALIVED_LOG], check=False)
        states = STATE_LINE.findall(result.stdout)
        return states[-1][1] if states else None

    def haproxy_config(self, host: LabHost) -> str:
        return run_in_host(host, ["cat", "/etc/haproxy/haproxy.cfg"]).stdout

    def stop_haproxy(self, host: LabHost) -> None:
        run_in_host(host, ["sh", "-c", "kill $(cat /run/haproxy.pid)"])

    def start_haproxy(self, host: LabHost) -> None:
        run_in_host(host, ["sh", "-c", "cd /etc/haproxy && haproxy -W -D -S /run/haproxy-master.sock,mode,600 "
                                       "-f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid"])

    def cut(self, host: LabHost) -> None:
        subprocess.run(["ip", "link", "set", self.state.network.veth_name(host.index), "down"], check=True)

    def reconnect(self, host: LabHost) -> None:
        subprocess.run(["ip", "link", "set", self.state.network.veth_name(host.index), "up"], check=True)

    def inject(self, fault: str, host: LabHost) -> None:
        {"haproxy": self.stop_haproxy, "link": self.cut}[fault](host)

    def repair(self, fault: str, host: LabHost, timeout: float = 60.0) -> None:
        """Undoes the fault and waits until `host` is a BACKUP again and its peer still holds the VIP (nopreempt)."""
        {"haproxy": self.start_haproxy, "link": self.reconnect}[fault](host)
        wait_for(lambda: self.vrrp_state(host) == "BACKUP", timeout=timeout, interval=0.1,
                 message=f"{host.name} back as a keepalived BACKUP")
        self.active(timeout)


class VipWatch:
    """Notes when the VIP appears on a host, from the kernel's address events in its namespace (`ip monitor`): polling
    from a process busy with client threads would see it late."""

    def __init__(self, host: LabHost, vip: str):
        self.vip = vip
        self.appeared: float | None = None
        self.process = subprocess.Popen(["ip", "-tshort", "-n", host.netns, "monitor", "address"],  # pylint: disable=consider-using-with
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            # [2026-12-07T22:40:11.123456]2: eth0    inet 10.199.201.250/32 scope global eth0
            if self.appeared is None and f" inet {self.vip}/" in line and "Deleted" not in line:
                self.appeared = datetime.fromisoformat(line[1:line.index("]")]).timestamp()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# -- one round -----------------------------------------------------------------------------------------------------


@dataclass
class Round:
    fault: str
    sticky: str
    active: str
    new_active: str
    vip_moved_s: float
    outage_s: float
    requests: int
    failed: int
    # failed requests sent after the VIP had moved: none expected, the new holder's gratuitous ARP reaches the clients
    failed_after_move: int
    errors: dict
    clients: int
    kept: int
    changed_clients: list = field(default_factory=list)


def pinned_to(answer: Answer, sticky: str) -> str | None:
    """What a sticky client is pinned to: its instance, or under route stickiness its service (the instance name
    without its slot number, e.g. drover-demo-shop-demo_1.1)."""
    if answer.instance is None:
        return None
    return answer.instance if sticky == "instance" else SLOT_SUFFIX.sub("", answer.instance)


def longest_gap(answers: list, since: float) -> float:
    """The longest time after `since` in which no client got a successful answer: failed requests and requests that
    hung (a SYN to a host that no longer holds the VIP) both count."""
    completions = sorted(a.sent + a.latency for a in answers if a.error is None and a.status == 200 and a.sent + a.latency > since)
    points = [since] + completions
    return max((later - earlier for earlier, later in zip(points, points[1:])), default=0.0)


def run_round(pair: Pair, fault: str, sticky: str, *, clients: int = 8, pace: float = 0.02, client_timeout: float = 2.0,
              warmup: int = 5, tail: int = 20, timeout: float = 60.0) -> Round:
    """One failover under load: clients pin themselves, the active load balancer fails, the VIP moves, every client
    gets `tail` answers in a row after the move, the load stops, and the failed load balancer is repaired."""
    active = pair.active()
    pool = CookiePool(pair.vip, GATEWAY_PORT, timeout=client_timeout)
    for number in range(clients):
        pool.add(f"client{number}", think=(pace, pace))
    try:
        def answers_of(name: str) -> list:
            return [answer for answer in list(pool.answers) if answer.client == name]

        wait_for(lambda: all(sum(a.error is None and a.status == 200 for a in answers_of(c.name)) >= warmup for c in pool.clients),
                 timeout=timeout, message="every client pinned before the fault")
        before = {c.name: pinned_to([a for a in answers_of(c.name) if a.status == 200][-1], sticky) for c in pool.clients}
        watch = VipWatch(pair.peer(active), pair.vip)
        try:
            started = time.time()
            pair.inject(fault, active)
            moved = wait_for(lambda: watch.appeared, timeout=timeout, message=f"the VIP moved from {active.name}")
        finally:
            watch.close()
        if pair.holders() != [pair.peer(active).name]:
            raise RuntimeError(f"after the fault on {active.name} the VIP is held by {pair.holders()}")

        def recovered(name: str) -> bool:
            last = answers_of(name)[-tail:]
            return len(last) == tail and all(a.sent > moved and a.error is None and a.status == 200 for a in last)

        wait_for(lambda: all(recovered(c.name) for c in pool.clients), timeout=timeout,
                 message=f"{tail} answers in a row for every client after the VIP moved")
    finally:
        pool.stop()
    answers = list(pool.answers)
    failures = [a for a in answers if a.error is not None or a.status != 200]
    errors: dict = {}
    for answer in failures:
        kind = answer.error or f"http {answer.status}"
        errors[kind] = errors.get(kind, 0) + 1
    after = {c.name: {pinned_to(a, sticky) for a in answers if a.client == c.name and a.sent > moved and a.status == 200}
             for c in pool.clients}
    changed = sorted(name for name in before if after[name] != {before[name]})
    result = Round(fault=fault, sticky=sticky, active=active.name, new_active=pair.peer(active).name,
                   vip_moved_s=moved - started,
                   outage_s=longest_gap(answers, started),
                   requests=len(answers), failed=len(failures), failed_after_move=sum(a.sent > moved for a in failures),
                   errors=errors, clients=clients,
                   kept=clients - len(changed), changed_clients=changed)
    pair.repair(fault, active)
    return result


# -- the run -------------------------------------------------------------------------------------------------------


def summary(rounds: list) -> dict:
    return {"rounds": len(rounds),
            "vip_moved_s": statistics.median(r.vip_moved_s for r in rounds),
            "outage_s": statistics.median(r.outage_s for r in rounds),
            "outage_max_s": max(r.outage_s for r in rounds),
            "failed_median": statistics.median(r.failed for r in rounds),
            "failed_max": max(r.failed for r in rounds),
            "failed_after_move": sum(r.failed_after_move for r in rounds),
            "requests": sum(r.requests for r in rounds),
            "kept": sum(r.kept for r in rounds), "clients": sum(r.clients for r in rounds)}


def markdown(groups: dict, args, started: str, seconds: float) -> str:
    lines = ["## Load-balancer failover (`benchmarks/failover.py`)", "",
             f"Run {started} on {machine_description()}, keepalived 2.2 (Debian), in {seconds:.0f} s.",
             f"Two load balancers share a VIP (drover.fleet.keepalived defaults: check every 1 s, fall 2, advert every "
             f"1 s, nopreempt); {args.clients} cookie clients on the controller send a request every "
             f"{args.pace * 1000:.0f} ms each to the VIP (2 s timeout, no retries); {args.rounds} rounds per line, "
             "alternating between lb1 and lb2. Outage: the longest time after the fault in which no client got an answer.", "",
             "| fault | sticky | VIP moved after (median) | outage (median, max) | failed requests (median, max) | sticky clients that kept theirs |",
             "| --- | --- | --- | --- | --- | --- |"]
    for (fault, sticky, label), rounds in groups.items():
        s = summary(rounds)
        lines.append(f"| {label or fault} | {sticky} | {s['vip_moved_s']:.2f} s | {s['outage_s']:.2f} s, {s['outage_max_s']:.2f} s | "
                     f"{s['failed_median']:g}, {s['failed_max']} of {s['requests']} | {s['kept']} of {s['clients']} |")
    lines += ["",
              "- `haproxy`: HAProxy stopped on the active load balancer. `link`: its link to the bridge cut "
              "(`ip link set <veth> down`); keepalived there sees the carrier go and releases the VIP too, so there is "
              "no split brain when the link returns.",
              "- Route cookies (`sticky: route`) name the route, so either load balancer honours them with no shared "
              "state. Instance cookies (`sticky: instance`) are derived from `dynamic-cookie-key` and the server's "
              "address and port: the load balancers must share the key and the slot addresses, which the deploy role "
              "gives them.",
              f"- Failed requests are the requests sent during the outage: these clients offer up to "
              f"{args.clients / args.pace:.0f} requests per second and a refused connection fails at once, so the count "
              "follows the request rate and the outage. Requests that failed after the VIP had moved: "
              f"{sum(summary(rounds)['failed_after_move'] for rounds in groups.values())}, in every round together "
              "(the new holder's gratuitous ARP reaches the clients at once).",
              "- The control gives each load balancer its own `dynamic-cookie-key`: clients whose cookie the new load "
              "balancer does not know are balanced again, and keep their instance only by chance (the canary's 1.0 has "
              "two instances, 1.1 one)."]
    return "\n".join(lines) + "\n"


def rounds_from_json(path: str) -> dict:
    """The rounds of an earlier `--json` run, grouped as `main` groups them (to rewrite the section from them)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {(group["fault"], group["sticky"], group["label"]): [Round(**item) for item in group["rounds"]]
            for group in data["groups"]}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per fault and stickiness")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pace", type=float, default=0.02, help="seconds each client waits between two requests")
    parser.add_argument("--client-timeout", type=float, default=2.0)
    parser.add_argument("--no-control", action="store_true", help="skip the control round with different cookie keys")
    parser.add_argument("--subnet", help="the lab's /24 (default: a free one)")
    parser.add_argument("--bridge", help="the lab's bridge name (default: a free one)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--json", help="write every number to this file")
    parser.add_argument("--from-json", help="no run: write the section from the rounds of an earlier --json file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        text = markdown(rounds_from_json(args.from_json), args, data.get("date", "earlier"), data["total_seconds"])
        print(text)
        if not args.no_write:
            write_section("failover", text)
        return 0
    if os.geteuid() != 0:
        print("the lab needs root", file=sys.stderr)
        return 2
    if not (args.subnet and args.bridge):
        args.subnet, args.bridge = free_lab_network()
    began = time.monotonic()
    started = time.strftime("%Y-%m-%d")
    workdir = Path(tempfile.mkdtemp(prefix="drover-failover-"))
    groups: dict = {}

    def rounds(pair: Pair, fault: str, sticky: str, count: int, label: str = "") -> None:
        for _number in range(count):
            result = run_round(pair, fault, sticky, clients=args.clients, pace=args.pace, client_timeout=args.client_timeout)
            print(json.dumps(asdict(result)), flush=True)
            groups.setdefault((fault, sticky, label), []).append(result)

    try:
        state = lab_up(5, workdir / "lab", load_balancers=2, subnet=args.subnet, bridge=args.bridge, versions=("1.0", "1.1"))
        pair = Pair(state, workdir)
        pair.deploy("route")
        pair.keepalived()
        for fault in FAULTS:
            rounds(pair, fault, "route", args.rounds)
        pair.deploy("instance")
        same = {host.name: pair.haproxy_config(host) for host in pair.load_balancers}
        if len(set(same.values())) != 1:
            raise RuntimeError("the load balancers got different haproxy.cfg files")
        for fault in FAULTS:
            rounds(pair, fault, "instance", args.rounds)
        if not args.no_control:
            pair.deploy("instance", cookie_key="control-key-{{ inventory_hostname }}-0123")
            rounds(pair, "haproxy", "instance", 1, label="control: haproxy, a different cookie key per LB")
    finally:
        lab_down(workdir / "lab", bridge=args.bridge)
        shutil.rmtree(workdir, ignore_errors=True)
    data = {"groups": [{"fault": fault, "sticky": sticky, "label": label, "summary": summary(items),
                        "rounds": [asdict(item) for item in items]} for (fault, sticky, label), items in groups.items()],
            "total_seconds": time.monotonic() - began, "date": started}
    text = markdown(groups, args, started, data["total_seconds"])
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    if not args.no_write:
        write_section("failover", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
