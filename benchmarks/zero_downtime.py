"""Zero downtime, proven under load: reloads, weight shifts, instance additions and drains while clients keep going.

The benchmark builds its own lab (1 load balancer, 3 app hosts, 1 load client host, a private /24 and bridge), runs
the demo service in podman containers labelled as the deploy role labels them, renders a two-version gateway (sticky
by instance), and starts HAProxy in master-worker mode inside lb1. Then, under continuous load, each kind of change
is one measured phase:

  reloads      topology changes that really reload (apply_config -> haproxy -c -> master CLI reload), alternating
               the number of server slots per backend;
  weights      route weight shifts: apply_config finds haproxy.cfg unchanged and replaces the maps at runtime;
  additions    a new container, not ready yet, put into a free slot at runtime with RuntimeClient.fill_slot (set
               addr, drain, health check passes, ready), and written into haproxy.cfg without a reload;
  drains       drain a server while clients pinned to it by cookie keep coming, wait_for_drain, maint, stop the
               container.

Load in every phase: wrk with keep-alive connections and wrk with a new connection per request (both inside the load
client host), and Python clients on the controller that keep cookies (sticky) or drop them (new visitors), all with
a 2 s timeout and no retries on the client side. The engine's side runs inside lb1 (benchmarks/zero_downtime_agent.py),
as drover's modules do on a load balancer. A negative control at the end repeats reloads without
`option idle-close-on-response`, to show that this load does see failed requests when there are any.

Run:  .venv/bin/python benchmarks/zero_downtime.py [--reloads 50 --shifts 20 --additions 5 --drains 5
          --control-reloads 20] [--no-write]
Exit status 1 when any request failed. `--json FILE` writes every number for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import stop_master_worker
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.render import RenderedConfig, RenderOptions, render
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Instance
from ansible_collections.drover.fleet.plugins.module_utils.fleet.placement import (
    LABEL_BLUEPRINT, LABEL_CLUSTER, LABEL_INSTANCE, LABEL_PORT, LABEL_SERVICE, LABEL_SLOT, LABEL_VERSION, container_name,
)
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network
from drover_cli.lab.fleet import LabState, lab_down, lab_up
from drover_cli.lab.host import HOST_ENV, LabHost, run_in_host, sshd_pid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_clients import CookiePool, PoolStats, Wrk, fresh_get  # noqa: E402
from report import machine_description, write_section  # noqa: E402

AGENT = Path(__file__).resolve().parent / "zero_downtime_agent.py"
CONTROL = "control: reloads without idle-close"
CONTROL_ADDITIONS = "control: additions with `state ready` only"
GATEWAY_PORT = 9050
CONTAINER_PORT = 8080
FIRST_HOST_PORT = 21001
BLUEPRINT_NAME, CLUSTER = "zd", "demo"
OLD, NEW = "demo:1.0", "demo:1.1"
SLOTS = 8
IDLE_CLOSE = "option idle-close-on-response"
# the pause of the idle clients between two requests on their keep-alive connection
THINK_SECONDS = (0.05, 0.5)
# The weight of the new version at each shift; the old version gets the rest.
WEIGHT_STEPS = (10, 20, 30, 40, 50, 40, 30, 20)

BLUEPRINT = """\
---
kind: breeds
name: demo:{version}
deployable: localhost/drover-demo:{version}
ports:
  web: 8080/http
health_checks:
  - path: /ready
    port: web
    interval: 1s
    timeout: 1s
    failures: 2
"""
GATEWAY = """\
---
kind: blueprints
name: zd
gateways:
  9050/http: demo/web
clusters:
  demo:
    gateways:
      sticky: instance
      routes:
        demo:1.0:
          weight: {old}%
        demo:1.1:
          weight: {new}%
    services:
      - breed: demo:1.0
        scale:
          cpu: 1
          memory: 64MB
          instances: 2
      - breed: demo:1.1
        scale:
          cpu: 1
          memory: 64MB
          instances: 1
"""


def service_key(breed: str) -> str:
    return f"{BLUEPRINT_NAME}/{CLUSTER}/{breed}"


# -- the engine's side, inside lb1 ---------------------------------------------------------------------------------


class AgentError(RuntimeError):
    pass


class LbAgent:
    """benchmarks/zero_downtime_agent.py running inside the load balancer host (nsenter into its namespaces)."""

    def __init__(self, host: LabHost):
        pid = sshd_pid(host)
        if pid is None:
            raise AgentError(f"{host.name} is not running")
        argv = ["nsenter", "--target", str(pid), "--mount", "--net", "--uts", "--", sys.executable, str(AGENT)]
        self.process = subprocess.Popen(argv, env=HOST_ENV, cwd="/", stdin=subprocess.PIPE, stdout=subprocess.PIPE,  # pylint: disable=consider-using-with
                                        text=True, bufsize=1)
        self.haproxy_pid: int | None = None

    def call(self, op: str, **arguments) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AgentError(f"the agent in lb1 exited (code {self.process.poll()}) during {op}")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise AgentError(f"{op} failed in lb1: {answer['error']}\n{answer.get('trace', '')}")
        if op == "start":
            self.haproxy_pid = answer["pid"]
        return answer

    def close(self) -> None:
        """Stops HAProxy and the agent; kills only those two processes, by pid, when they do not stop."""
        try:
            if self.process.poll() is None:
                self.call("stop")
                self.process.wait(timeout=20)
        except (AgentError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            print(f"agent did not stop cleanly: {exc}", file=sys.stderr)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            if self.haproxy_pid:
                stop_master_worker(self.haproxy_pid)


# -- containers on the app hosts ------------------------------------------------------------------------------------


@dataclass
class Container:
    name: str
    host: LabHost
    breed: str
    slot: int
    port: int

    @property
    def instance(self) -> Instance:
        return Instance(slot=self.slot, address=self.host.address, port=self.port, name=self.name, host=self.host.name,
                        version=self.breed.split(":", 1)[1])


def run_container(host: LabHost, breed: str, slot: int, port: int, ready_delay_ms: int = 0) -> Container:
    """`podman run` with the labels the deploy role gives its containers (placement's names and keys). The demo
    service answers its readiness check with 503 for `ready_delay_ms` after it starts."""
    version = breed.split(":", 1)[1]
    name = container_name(BLUEPRINT_NAME, CLUSTER, breed, slot)
    labels = {LABEL_BLUEPRINT: BLUEPRINT_NAME, LABEL_CLUSTER: CLUSTER, LABEL_SERVICE: breed, LABEL_VERSION: version,
              LABEL_INSTANCE: name, LABEL_SLOT: str(slot), LABEL_PORT: str(CONTAINER_PORT)}
    argv = ["podman", "run", "-d", "--name", name, "--hostname", name, "--memory", "64m", "-p", f"{port}:{CONTAINER_PORT}",
            "-e", f"DROVER_READY_DELAY_MS={int(ready_delay_ms)}"]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    run_in_host(host, argv + [f"localhost/drover-demo:{version}"])
    return Container(name, host, breed, slot, port)


def stop_container(container: Container) -> None:
    run_in_host(container.host, ["podman", "stop", "--time", "5", container.name])
    run_in_host(container.host, ["podman", "rm", container.name])


def ready(host: LabHost, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host.address}:{port}/ready", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


# -- the gateway -----------------------------------------------------------------------------------------------------


@dataclass
class Routing:
    """The desired routing: weights, slots per backend, and the instances in their slots."""

    cookie_key: str
    admin_socket: str
    new_weight: int = 10
    slots: int = SLOTS
    containers: dict = field(default_factory=dict)
    # the negative control: the rendered config without `option idle-close-on-response`
    without_idle_close: bool = False

    def render(self) -> RenderedConfig:
        text = "".join(BLUEPRINT.format(version=breed.split(":")[1]) for breed in (OLD, NEW))
        text += GATEWAY.format(old=100 - self.new_weight, new=self.new_weight)
        options = RenderOptions(dynamic_cookie_key=self.cookie_key, default_slots=self.slots, admin_socket=self.admin_socket,
                                # a log line per request would fill lb1's tmpfs /run, where the master's output goes
                                log_target=None)
        instances: dict = {}
        for container in self.containers.values():
            instances.setdefault(service_key(container.breed), []).append(container.instance)
        rendered = render(load_text(text, "zero-downtime.yml"), options, instances)
        if self.without_idle_close:
            rendered.files["haproxy.cfg"] = rendered.config.replace(f"    {IDLE_CLOSE}\n", "")
        return rendered

    def backend(self, breed: str) -> str:
        return next(b.name for b in self.render().backends if b.instance_key == service_key(breed))


# -- phases ----------------------------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    changes: int
    seconds: float
    wrk: list
    cookies: PoolStats
    reloads: int
    timings: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)
    haproxy: dict = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(result.failed for result in self.wrk) + self.cookies.failed

    @property
    def non_2xx(self) -> int:
        return sum(result.non_2xx for result in self.wrk) + self.cookies.non_2xx


class Bench:
    def __init__(self, args, state: LabState, agent: LbAgent, routing: Routing):
        self.args = args
        self.state = state
        self.agent = agent
        self.routing = routing
        self.lb = state.group("loadbalancers")[0]
        self.apps, self.client = app_hosts(state), client_host(state)
        # nsenter execs wrk inside the client host (no fork): SIGINT still reaches wrk
        self.wrk_prefix = ["nsenter", "--target", str(sshd_pid(self.client)), "--mount", "--net", "--uts", "--"]
        self.next_port = FIRST_HOST_PORT
        self.url = f"http://{self.lb.address}:{GATEWAY_PORT}/"

    def port(self) -> int:
        self.next_port += 1
        return self.next_port - 1

    def servers(self) -> dict:
        return {(row["pxname"], row["svname"]): row for row in self.agent.call("servers")["servers"]}

    def frontend_requests(self) -> int:
        return sum(self.agent.call("servers")["frontends"].values())

    def backend_counters(self) -> dict:
        totals: dict = {}
        for counters in self.agent.call("servers")["backends"].values():
            for key, value in counters.items():
                totals[key] = totals.get(key, 0) + value
        return totals

    # -- load around a phase ----------------------------------------------------------------------------------------

    def phase(self, name: str, changes: int, body) -> PhaseResult:
        args = self.args
        pool = CookiePool(self.lb.address, GATEWAY_PORT, timeout=args.client_timeout)
        timeout = f"{args.client_timeout:g}s"
        wrks = [Wrk("wrk keep-alive", self.url, args.connections, timeout=timeout, prefix=self.wrk_prefix, env=HOST_ENV),
                Wrk("wrk new connection per request", self.url, args.close_connections, new_connection_per_request=True,
                    timeout=timeout, prefix=self.wrk_prefix, env=HOST_ENV)]
        print(f"== {name}: {changes} changes under load", flush=True)
        try:
            for wrk in wrks:
                wrk.start()
            for number in range(args.sticky_clients):
                pool.add(f"sticky{number}")
            for number in range(args.fresh_clients):
                pool.add(f"fresh{number}", keep_cookies=False)
            for number in range(args.idle_clients):
                pool.add(f"idle{number}", think=THINK_SECONDS)
            before = self.frontend_requests()
            wait_for(lambda: self.frontend_requests() - before > 300 and len(pool.answers) > 20, 30, message="load flowing")
            reloads_before = self.agent.call("reloads")["reloads"]
            counters_before = self.backend_counters()
            started = time.monotonic()
            timings, facts = body(pool)
            seconds = time.monotonic() - started
            # a fixed observation window after the last change: late effects (old workers closing their connections,
            # a new server's first requests) are still measured
            time.sleep(args.tail)
            reloads = self.agent.call("reloads")["reloads"] - reloads_before
            counters = self.backend_counters()
        finally:
            pool.stop()
            results, problems = [], []
            for wrk in wrks:
                try:
                    results.append(wrk.stop())
                except Exception as exc:  # pylint: disable=broad-except
                    problems.append(f"{wrk.label}: {exc}")
                finally:
                    wrk.kill()
        if problems:
            raise RuntimeError("wrk did not report: " + "; ".join(problems))
        haproxy = {} if reloads else {key: counters[key] - counters_before.get(key, 0) for key in counters}
        result = PhaseResult(name, changes, seconds, results, pool.stats(), reloads, timings, facts, haproxy)
        print(f"   {sum(r.requests for r in results) + result.cookies.requests} requests, {result.failed} failed, "
              f"{result.non_2xx} non-2xx, {reloads} reloads, {seconds:.1f} s", flush=True)
        return result

    # -- the changes ------------------------------------------------------------------------------------------------

    def reloads(self, pool, count: int) -> tuple[dict, dict]:
        del pool
        applied, reload_times, workers = [], [], []
        for number in range(count):
            # alternate the number of server slots per backend: a topology change, so a real reload
            self.routing.slots = SLOTS + 1 if number % 2 == 0 else SLOTS
            rendered = self.routing.render()
            answer = self.agent.call("apply", config=rendered.config, maps=rendered.maps)
            if not answer["reloaded"] or answer["reload_seconds"] is None:
                raise AgentError(f"reload {number + 1} did not reload: {answer}")
            applied.append(answer["seconds"])
            reload_times.append(answer["reload_seconds"])
            workers.append(answer["new_worker_pids"])
        return {"apply_config": applied, "reload": reload_times}, {"new_workers": len({tuple(w) for w in workers})}

    def weights(self, pool) -> tuple[dict, dict]:
        del pool
        applied, runtime, reloaded = [], [], 0
        for number in range(self.args.shifts):
            self.routing.new_weight = WEIGHT_STEPS[(number + 1) % len(WEIGHT_STEPS)]
            rendered = self.routing.render()
            answer = self.agent.call("apply", config=rendered.config, maps=rendered.maps)
            if answer["config_changed"] or answer["map_updates"] < 1:
                raise AgentError(f"weight shift {number + 1} was not a runtime map update: {answer}")
            reloaded += bool(answer["reloaded"])
            applied.append(answer["seconds"])
            runtime.append(answer["runtime_seconds"])
        return {"apply_config": applied, "runtime": runtime}, {"reloaded": reloaded, "final_new_weight": self.routing.new_weight}

    def additions(self, pool) -> tuple[dict, dict]:
        backend = self.routing.backend(OLD)
        used = {c.slot for c in self.routing.containers.values() if c.breed == OLD}
        free = [slot for slot in range(1, SLOTS + 1) if slot not in used]
        if len(free) < self.args.additions:
            raise AgentError(f"{self.args.additions} additions need free slots; {backend} has {free}")
        timings: dict = {"podman_run": [], "fill_slot": [], "commands": [], "write": []}
        facts: dict = {"status_before_ready": [], "sessions_before_ready": [], "status_after": []}
        for number, slot in enumerate(free[:self.args.additions]):
            host = self.apps[number % len(self.apps)]
            started = time.perf_counter()
            # not ready yet when it goes into its slot: HAProxy's health check must keep traffic away until it is
            container = run_container(host, OLD, slot, self.port(), ready_delay_ms=self.args.ready_delay_ms)
            timings["podman_run"].append(time.perf_counter() - started)
            self.routing.containers[container.name] = container
            mark = len(pool.answers)
            answer = self.agent.call("fill_slot", backend=backend, server=f"slot{slot}", address=host.address, port=container.port,
                                     config=self.routing.render().config, up_timeout=30)
            timings["fill_slot"].append(answer["fill_seconds"])
            timings["commands"].append(answer["command_seconds"])
            timings["write"].append(answer["validate_seconds"] + answer["write_seconds"])
            facts["status_before_ready"].append(answer["status_before_ready"])
            facts["status_after"].append(answer["status_after"])
            wait_for(lambda c=container: any(a.instance == c.name for a in pool.answers[mark:]), 30, 0.1, f"{container.name} serving")
            facts["sessions_before_ready"].append(answer["sessions_before_ready"])
        return timings, facts

    def ungated_additions(self, pool, count: int) -> tuple[dict, dict]:
        """The control for `additions`: the same not-yet-ready instances put into their slots with `state ready` only,
        then taken out again (maint, stop)."""
        del pool
        backend = self.routing.backend(OLD)
        used = {c.slot for c in self.routing.containers.values() if c.breed == OLD}
        free = [slot for slot in range(1, SLOTS + 1) if slot not in used]
        facts: dict = {"status_after_ready": [], "sessions_before_first_check": [], "status_after_first_check": []}
        for number, slot in enumerate(free[:count]):
            host = self.apps[number % len(self.apps)]
            container = run_container(host, OLD, slot, self.port(), ready_delay_ms=self.args.ready_delay_ms)
            answer = self.agent.call("fill_slot_ungated", backend=backend, server=f"slot{slot}", address=host.address,
                                     port=container.port, timeout=10)
            for key in facts:
                facts[key].append(answer[key])
            self.agent.call("set_state", backend=backend, server=f"slot{slot}", state="maint")
            self.agent.call("wait_for_drain", backend=backend, server=f"slot{slot}", timeout=self.args.drain_timeout)
            stop_container(container)
        return {}, facts

    def drains(self, pool) -> tuple[dict, dict]:
        args = self.args
        backend = self.routing.backend(OLD)
        victims = sorted((c for c in self.routing.containers.values() if c.breed == OLD), key=lambda c: -c.slot)
        if len(victims) - args.drains < 1:
            raise AgentError(f"{args.drains} drains need more than {args.drains} instances of {OLD}; there are {len(victims)}")
        timings: dict = {"drain_command": [], "wait_for_drain": [], "maint_command": [], "podman_stop": []}
        facts: dict = {"sticky_answers_while_draining": [], "fresh_answers_from_draining": [], "drained_in_time": [],
                       "pinned_redispatched": []}
        for victim in victims[:args.drains]:
            server = f"slot{victim.slot}"
            jars = [self.pin_to(victim.name) for _number in range(args.pinned_clients)]
            pinned = [pool.add(f"pinned-{victim.name}-{n}", jar=jar) for n, jar in enumerate(jars)]
            names = {client.name for client in pinned}

            def answers_from(index: int, since: float, clients: set, instance: str | None = victim.name) -> list:
                # only the answers appended after `index`: scanning the whole list on every poll would starve the clients
                return [a for a in pool.answers[index:] if a.client in clients and a.sent >= since and a.instance == instance]

            mark, start = len(pool.answers), time.time()
            wait_for(lambda: len(answers_from(mark, start, names)) >= 10, 30, 0.1, f"pinned clients reaching {victim.name}")
            drain = self.agent.call("set_state", backend=backend, server=server, state="drain")
            draining_mark, draining_since = len(pool.answers), time.time()
            timings["drain_command"].append(drain["runtime_seconds"])
            # cookie clients keep reaching the draining server
            wait_for(lambda: len(answers_from(draining_mark, draining_since, names)) >= 20, 30, 0.1,
                     f"pinned clients reaching draining {victim.name}")
            drained = self.agent.call("wait_for_drain", backend=backend, server=server, timeout=args.drain_timeout)
            timings["wait_for_drain"].append(drained["waited"])
            facts["drained_in_time"].append(drained["drained"])
            maint = self.agent.call("set_state", backend=backend, server=server, state="maint")
            maint_mark, maint_since = len(pool.answers), time.time()
            timings["maint_command"].append(maint["runtime_seconds"])

            # in maintenance, the pinned clients are sent to another instance, with a new cookie, without an error
            def moved() -> bool:
                moved_clients = {a.client for a in pool.answers[maint_mark:] if a.sent >= maint_since and a.instance not in (None, victim.name)}
                return names <= moved_clients

            wait_for(moved, 30, 0.1, f"pinned clients moved off {victim.name}")
            # requests still in flight on it end before its container stops
            self.agent.call("wait_for_drain", backend=backend, server=server, timeout=args.drain_timeout)
            fresh = {c.name for c in pool.clients if not c.keep_cookies}
            while_draining = [a for a in pool.answers[draining_mark:]
                              if draining_since <= a.sent < maint_since and a.instance == victim.name]
            facts["sticky_answers_while_draining"].append(len([a for a in while_draining if a.client in names]))
            facts["fresh_answers_from_draining"].append(len([a for a in while_draining if a.client in fresh]))
            started = time.perf_counter()
            stop_container(victim)
            timings["podman_stop"].append(time.perf_counter() - started)
            del self.routing.containers[victim.name]
            self.agent.call("write_config", config=self.routing.render().config)
            facts["pinned_redispatched"].append(len(names))
            pool.stop(pinned)
        return timings, facts

    def pin_to(self, instance: str, timeout: float = 30.0) -> dict:
        """The cookies of a new visitor whose first answer came from `instance`."""

        def attempt():
            status, answered_by, jar = fresh_get(self.lb.address, GATEWAY_PORT)
            return jar if status == 200 and answered_by == instance else None

        return wait_for(attempt, timeout, 0, f"a visitor pinned to {instance}")


# -- set-up, the run, the report -------------------------------------------------------------------------------------


def start_fleet(state: LabState) -> tuple[LbAgent, Routing]:
    apps = app_hosts(state)
    routing = Routing(cookie_key="zd" + os.urandom(12).hex(), admin_socket="/run/haproxy/admin.sock")
    port = FIRST_HOST_PORT - 10
    for breed, slot, host in ((OLD, 1, apps[0]), (OLD, 2, apps[1 % len(apps)]), (NEW, 1, apps[2 % len(apps)])):
        container = run_container(host, breed, slot, port)
        routing.containers[container.name] = container
        port += 1
    for container in routing.containers.values():
        wait_for(lambda c=container: ready(c.host, c.port), 30, message=f"{container.name} ready")
    agent = LbAgent(state.group("loadbalancers")[0])
    try:
        rendered = routing.render()
        agent.call("start", files=rendered.files, admin_socket=routing.admin_socket)
        expected = {(routing.backend(c.breed), f"slot{c.slot}") for c in routing.containers.values()}
        wait_for(lambda: all(agent_servers(agent).get(key, {}).get("status") == "UP" for key in expected), 30, message="servers UP")
    except BaseException:
        agent.close()
        raise
    return agent, routing


def app_hosts(state: LabState) -> list:
    return state.group("apps")[:-1]


def client_host(state: LabState) -> LabHost:
    """The last lab host sends the wrk load. In its own network namespace it may reuse ports in TIME_WAIT and use a
    wide port range: from the controller (`tcp_tw_reuse=2`: loopback only) wrk's new connections ran out of free
    ports after about 30,000 and each connect() then took about 2 ms, which cut their rate tenfold."""
    host = state.group("apps")[-1]
    run_in_host(host, ["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"])
    return host


def agent_servers(agent: LbAgent) -> dict:
    return {(row["pxname"], row["svname"]): row for row in agent.call("servers")["servers"]}


def summary(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"count": 0, "median_ms": math.nan, "max_ms": math.nan}
    return {"count": len(values), "median_ms": statistics.median(values) * 1000, "max_ms": max(values) * 1000}


def as_data(results: list, args, lab_seconds: float) -> dict:
    phases = []
    for result in results:
        phases.append({
            "name": result.name, "changes": result.changes, "seconds": result.seconds, "reloads": result.reloads,
            "failed": result.failed, "non_2xx": result.non_2xx,
            "wrk": [{key: value for key, value in asdict(w).items() if key != "output"} for w in result.wrk],
            "cookies": asdict(result.cookies), "timings": {name: summary(values) for name, values in result.timings.items()},
            "facts": result.facts, "haproxy": result.haproxy,
        })
    return {"phases": phases, "failed": sum(r.failed for r in results), "non_2xx": sum(r.non_2xx for r in results),
            "requests": sum(sum(w.requests for w in r.wrk) + r.cookies.requests for r in results),
            "lab_seconds": lab_seconds, "arguments": vars(args)}


def _ms(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


STEP_LABELS = {
    ("reloads", "apply_config"): "apply_config, whole procedure (haproxy -c, pre-flight, write, 0.2 s debounce, state dump, reload, verify)",
    ("reloads", "reload"): "reload: master CLI `reload` until the new worker answers `show info`",
    ("weights", "apply_config"): "apply_config, whole procedure (haproxy -c on the maps, compare, runtime update)",
    ("weights", "runtime"): "runtime map update (`show map`, `prepare`/`add`/`commit map`)",
    ("additions", "podman_run"): "`podman run` of the new container",
    ("additions", "fill_slot"): "fill_slot: `set server addr`, `state drain`, health check passes, `state ready`",
    ("additions", "commands"): "the three runtime commands themselves (sum per addition)",
    ("additions", "write"): "haproxy -c and atomic write of haproxy.cfg with the new slot (no reload)",
    ("drains", "drain_command"): "`set server state drain`",
    ("drains", "wait_for_drain"): "wait_for_drain (no session, no queue) while pinned clients keep coming",
    ("drains", "maint_command"): "`set server state maint`",
    ("drains", "podman_stop"): "`podman stop` + `podman rm`",
}
ERROR_KINDS = ("connect", "read", "write", "timeout")


def _load_rows(results: list) -> list:
    rows = ["| phase | changes | load | requests | socket errors (connect/read/write/timeout) | non-2xx | p50 ms | p99 ms | max ms |",
            "| --- | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for result in results:
        for w in result.wrk:
            errors = "/".join(str(w.errors[k]) for k in ERROR_KINDS)
            rows.append(f"| {result.name} | {result.changes} | {w.label} | {w.requests:,} | {errors} | {w.non_2xx} | "
                        f"{_ms(w.p50_ms)} | {_ms(w.p99_ms)} | {_ms(w.max_ms)} |")
        c = result.cookies
        errors = "/".join(str(c.errors.get(k, 0)) for k in ERROR_KINDS)
        other = sum(v for k, v in c.errors.items() if k not in ERROR_KINDS)
        rows.append(f"| {result.name} | {result.changes} | Python cookie clients | {c.requests:,} | {errors}"
                    f"{f' (+{other} other)' if other else ''} | {c.non_2xx} | {_ms(c.p50_ms)} | {_ms(c.p99_ms)} | {_ms(c.max_ms)} |")
    return rows


def _notes(data: dict, args) -> list:
    phases = {phase["name"]: phase for phase in data["phases"]}
    notes = []
    for name, phase in phases.items():
        counters = phase["haproxy"]
        notes.append(f"- {name}: {phase['reloads']} reload(s) of HAProxy during the phase"
                     + (f"; HAProxy retried {counters.get('wretr', 0)} and redispatched {counters.get('wredis', 0)} server "
                        f"connections, {counters.get('econ', 0)} backend connection errors" if counters
                        else " (HAProxy's counters restart with each worker)") + ".")
    if "additions" in phases:
        f = phases["additions"]["facts"]
        notes.append(f"- additions: each new instance answered its readiness check with 503 for its first {args.ready_delay_ms} ms "
                     f"and went into its slot at once; sessions HAProxy sent it before `state ready` (its `stot`): "
                     f"{', '.join(map(str, f['sessions_before_ready']))}; status after: {', '.join(f['status_after'])}.")
    if "drains" in phases:
        f = phases["drains"]["facts"]
        notes.append(f"- drains: answers from the draining instance to its pinned cookie clients while it drained: "
                     f"{', '.join(map(str, f['sticky_answers_while_draining']))}; to new visitors: "
                     f"{', '.join(map(str, f['fresh_answers_from_draining']))}; drained within {args.drain_timeout:g} s: "
                     f"{', '.join('yes' if x else 'no' for x in f['drained_in_time'])}; in maintenance every pinned client "
                     "went on to another instance (new cookie) without an error.")
    return notes


def markdown(data: dict, results: list, controls: list, args, started: str) -> str:
    lines = [
        "## Zero downtime under load (`benchmarks/zero_downtime.py`)",
        "",
        f"Run {started} on {machine_description()}. Lab of 1 load balancer, {args.apps} app hosts and 1 load client host "
        "(network namespaces on one bridge), the demo service in rootful podman, HAProxy in master-worker mode in lb1 "
        "(`nbthread` = cores). Other work ran on the machine at the same time.",
        "",
        "Gateway: two versions of the demo service, 90/10 then shifted, sticky by instance (a route cookie plus a dynamic "
        f"instance cookie), {SLOTS} server slots per version, health check `GET /ready` every 1 s with rise 2 and fall 2, "
        f"`retries 3`, `option redispatch`, `{IDLE_CLOSE}`, no L7 retries, as the renderer writes it. The engine's side "
        "runs inside lb1, as drover's modules do (`apply_config`, the runtime API client).",
        "",
        f"Load during every phase: from the load client host, wrk keep-alive ({args.connections} connections) and wrk with "
        f"a new connection per request ({args.close_connections} connections, `Connection: close`; wrk's latency starts "
        f"once a connection is up); from the controller, {args.sticky_clients} Python clients that keep their cookies, "
        f"{args.idle_clients} that also pause {THINK_SECONDS[0]:g}-{THINK_SECONDS[1]:g} s between requests (their "
        f"connection sits idle, as a browser's does), {args.fresh_clients} that never keep a cookie (new visitors) and "
        f"{args.pinned_clients} pinned to each drained instance, all on keep-alive connections. Every client gives up "
        f"after {args.client_timeout:g} s and none retries. Each phase ends with a {args.tail:g} s observation window "
        "after its last change.",
        "",
        *_load_rows(results),
        "",
        f"**Failed requests: {data['failed']} of {data['requests']:,}** (socket errors plus non-2xx answers, all phases and "
        "clients).",
        "",
        "How long changes take to apply (measured in lb1, under the load above):",
        "",
        "| phase | step | count | median ms | max ms |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for phase in data["phases"]:
        for name, values in phase["timings"].items():
            label = STEP_LABELS.get((phase["name"], name), name)
            lines.append(f"| {phase['name']} | {label} | {values['count']} | {_ms(values['median_ms'])} | {_ms(values['max_ms'])} |")
    lines += ["", "Checks made during the run:", "", *_notes(data, args)]
    control = {result.name: result for result in controls}
    if CONTROL_ADDITIONS in control:
        f = control[CONTROL_ADDITIONS].facts
        lines += ["", "Control for the additions: the same not-yet-ready instances put into their slots with `set server addr` "
                  "and `state ready` only. Leaving maintenance, HAProxy 2.6 counts the server up at once (status "
                  f"{', '.join(map(str, f['status_after_ready']))}) until its first check fails (then "
                  f"{', '.join(map(str, f['status_after_first_check']))}); the sessions it sent the not-ready instance in "
                  f"that time: **{', '.join(map(str, f['sessions_before_first_check']))}**. The demo service answers them "
                  "with 200, so no client saw an error here; a real service that is not ready would fail them. "
                  "`RuntimeClient.fill_slot` leaves maintenance through DRAIN instead, and the additions above got 0."]
    if CONTROL in control:
        result = control[CONTROL]
        lines += ["", f"Negative control, to show this load does see failures: the same reloads with `{IDLE_CLOSE}` taken "
                  f"out of the rendered configuration gave **{result.failed} failed requests**. Without it, an old worker "
                  "closes idle keep-alive connections as soon as it stops, and a client that sends its next request on one "
                  "gets a reset; with it, the old worker answers that request with `Connection: close` first:", "",
                  *_load_rows([result])]
    lines += ["", f"Reproduce: `.venv/bin/python benchmarks/zero_downtime.py --reloads {args.reloads} --shifts {args.shifts} "
              f"--additions {args.additions} --drains {args.drains} --control-additions {args.control_additions} "
              f"--control-reloads {args.control_reloads}` (as root; "
              f"{data['total_seconds'] / 60:.1f} min here, lab set-up included)."]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reloads", type=int, default=50)
    parser.add_argument("--shifts", type=int, default=20)
    parser.add_argument("--additions", type=int, default=5)
    parser.add_argument("--drains", type=int, default=5)
    parser.add_argument("--control-reloads", type=int, default=20,
                        help=f"reloads of a negative control run without `{IDLE_CLOSE}` at the end (0: none)")
    parser.add_argument("--control-additions", type=int, default=3,
                        help="additions of a control run with `set server addr` + `state ready` only, no gate (0: none)")
    parser.add_argument("--apps", type=int, default=3, help="app hosts in the lab")
    parser.add_argument("--connections", type=int, default=16, help="wrk keep-alive connections")
    parser.add_argument("--close-connections", type=int, default=4, help="wrk connections that close after each request")
    parser.add_argument("--sticky-clients", type=int, default=4)
    parser.add_argument("--fresh-clients", type=int, default=2)
    parser.add_argument("--idle-clients", type=int, default=8, help="cookie clients that pause between requests")
    parser.add_argument("--pinned-clients", type=int, default=3, help="cookie clients pinned to each drained instance")
    parser.add_argument("--client-timeout", type=float, default=2.0)
    parser.add_argument("--drain-timeout", type=float, default=10.0)
    parser.add_argument("--ready-delay-ms", type=int, default=1500, help="how long a new instance answers its readiness check with 503")
    parser.add_argument("--tail", type=float, default=2.0, help="seconds of load after each phase's last change")
    parser.add_argument("--subnet", help="the lab's /24 (default: a free one)")
    parser.add_argument("--bridge", help="the lab's bridge name (default: a free one)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--json", help="write every number to this file")
    args = parser.parse_args(argv)
    if args.additions > SLOTS - 2 or args.drains > args.additions:
        parser.error(f"--additions must be at most {SLOTS - 2} and --drains at most --additions")
    if args.control_additions > SLOTS - 2 - (args.additions - args.drains):
        parser.error("--control-additions needs that many free slots after the drains")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("the lab needs root", file=sys.stderr)
        return 2
    if not (args.subnet and args.bridge):
        args.subnet, args.bridge = free_lab_network()
    # a blueprint or renderer problem shows before any lab is built
    Routing(cookie_key="zd-check-0123456789", admin_socket="/run/haproxy/admin.sock").render()
    began = time.monotonic()
    started = time.strftime("%Y-%m-%d")
    workdir = Path(tempfile.mkdtemp(prefix="drover-zero-downtime-"))
    agent = None
    controls: list = []
    try:
        state = lab_up(args.apps + 2, workdir / "lab", subnet=args.subnet, bridge=args.bridge, versions=("1.0", "1.1"))
        agent, routing = start_fleet(state)
        lab_seconds = time.monotonic() - began
        bench = Bench(args, state, agent, routing)
        results = [
            bench.phase("reloads", args.reloads, lambda pool: bench.reloads(pool, args.reloads)),
            bench.phase("weights", args.shifts, bench.weights),
            bench.phase("additions", args.additions, bench.additions),
            bench.phase("drains", args.drains, bench.drains),
        ]
        if args.control_additions:
            # why fill_slot goes through DRAIN: without it, a new instance gets requests before any check passed
            controls.append(bench.phase(CONTROL_ADDITIONS, args.control_additions,
                                        lambda pool: bench.ungated_additions(pool, args.control_additions)))
        if args.control_reloads:
            # proof that the load can see a failure: the same reloads without the option that prevents them
            routing.without_idle_close = True
            controls.append(bench.phase(CONTROL, args.control_reloads, lambda pool: bench.reloads(pool, args.control_reloads)))
    finally:
        if agent is not None:
            agent.close()
        lab_down(workdir / "lab", bridge=args.bridge)
        shutil.rmtree(workdir, ignore_errors=True)
    data = as_data(results, args, lab_seconds)
    data["control"] = as_data(controls, args, lab_seconds)["phases"]
    data["total_seconds"] = time.monotonic() - began
    text = markdown(data, results, controls, args, started)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    if not args.no_write:
        write_section("zero-downtime", text)
    return 1 if data["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
