# -*- coding: utf-8 -*-
"""`drover status -i <inventory>` against the lab's two load balancers: both read over real SSH in parallel, the
gateways grouped by blueprint, a weight changed on one load balancer only (through its admin socket) reported as a
difference naming what each says, which one holds the VIP, and a load balancer cut off the network shown as
unreadable within the deadline.

The lab (lb1, lb2 with a VIP, three app hosts) gets examples/lab/demo-canary.yml with playbooks/deploy.yml (its part
`blueprint-demo` on both load balancers) and playbooks/keepalived.yml, as benchmarks/failover.py builds it; it is
torn down in a finalizer and the removal is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ansible_collections.drover.fleet.tests.integration.test_lab import free_lab_network, leftovers
from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from drover_cli.lab.fleet import lab_down, lab_up, vip_holders
from drover_cli.lab.host import run_in_host
from drover_cli.status_command import EXIT_DISAGREE, EXIT_HEALTHY, EXIT_UNREADABLE, status_command

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from failover import GATEWAY_PORT, Pair  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(any(shutil.which(tool) is None for tool in ("podman", "haproxy", "keepalived")),
                       reason="run `make setup` first"),
]

GATEWAY = f"demo/{GATEWAY_PORT}"
V10, V11 = "demo/shop/demo:1.0", "demo/shop/demo:1.1"
LB_ADMIN = "/run/haproxy/admin.sock"
PART_FILE = "/etc/haproxy/drover.d/blueprint-demo.cfg"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("status-group")
    subnet, bridge = free_lab_network()
    state_dir = workdir / "lab"
    try:
        state = lab_up(5, state_dir, load_balancers=2, subnet=subnet, bridge=bridge, versions=("1.0", "1.1"))
        built = Pair(state, workdir)
        built.deploy("route")
        built.keepalived({"keepalived_auth_pass": secrets.token_hex(4)})
        yield built
    finally:
        lab_down(state_dir)
    wait_for(lambda: not leftovers(state_dir, bridge, set(), set()), timeout=10, message="lab removed")


def drover_status(*args: str):
    return CliRunner().invoke(status_command, list(args), catch_exceptions=False)


def group_json(pair, *args: str) -> tuple:
    result = drover_status("-i", str(pair.state.inventory), "--format", "json", *args)
    return result.exit_code, json.loads(result.output)


def admin(host, command: str) -> str:
    return run_in_host(host, ["sh", "-c", f"echo '{command}' | socat - UNIX-CONNECT:{LB_ADMIN}"]).stdout


def test_both_load_balancers_read_grouped_by_blueprint_and_agreeing(pair):
    holder = pair.active()  # keepalived has elected one

    def settled():
        code, data = group_json(pair)
        return data if code == EXIT_HEALTHY else None

    data = wait_for(settled, timeout=60, interval=0.5, message="both load balancers read, healthy and agreeing")
    assert data["group"] == "loadbalancers" and data["inventory"] == str(pair.state.inventory)
    assert [(lb["name"], lb["read"], lb["healthy"]) for lb in data["load_balancers"]] == [("lb1", True, True), ("lb2", True, True)]
    assert data["agree"] is True and data["differences"] == [] and data["exit_code"] == 0
    digests = {host.name: hashlib.sha256(run_in_host(host, ["cat", PART_FILE]).stdout.encode()).hexdigest() for host in pair.load_balancers}
    assert digests["lb1"] == digests["lb2"]
    assert data["blueprints"] == {"demo": {"part": "blueprint-demo", "gateways": [GATEWAY], "config_digests": digests,
                                           "agree": True, "healthy": True}}
    assert data["standalone_gateways"] == {}
    # each gateway once, each load balancer's own status beside it
    assert [g["label"] for g in data["gateways"]] == [GATEWAY]
    for lb in data["load_balancers"]:
        assert lb["status"]["blueprints"]["demo"]["config_file"] == PART_FILE
        assert lb["status"]["source"].startswith(f"ssh {lb['name']} (root@")
    # the VIP is on exactly one of them, and status says which (ip -o addr over the same SSH connection)
    assert vip_holders(pair.state) == [holder.name] and data["vip"] == {"address": pair.vip, "holders": [holder.name]}
    assert {lb["name"]: lb["vip"] for lb in data["load_balancers"]} == {name: name == holder.name for name in ("lb1", "lb2")}


def test_a_weight_changed_on_one_load_balancer_is_a_difference(pair):
    lb2 = pair.state.host("lb2")
    listing = admin(lb2, "show map")
    map_id = next(line.split()[0] for line in listing.splitlines() if line[:1].isdigit() and "fe_demo" in line)
    entries = [line.split() for line in admin(lb2, f"show map #{map_id}").splitlines() if line.strip()]
    backends = list(dict.fromkeys(entry[2] for entry in entries))
    assert len(backends) == 2, entries
    # (`set map` on a range key rewrites every entry of a map_int map: replace the entries instead)
    admin(lb2, f"clear map #{map_id}")
    admin(lb2, f"add map #{map_id} 0:4999 {backends[0]}")
    admin(lb2, f"add map #{map_id} 5000:9999 {backends[1]}")

    code, data = group_json(pair)
    assert code == EXIT_DISAGREE and data["exit_code"] == EXIT_DISAGREE and data["agree"] is False
    assert data["blueprints"]["demo"]["agree"] is False
    weights = {d["route"]: d["values"] for d in data["differences"] if d["subject"] == "weight"}
    assert weights == {V10: {"lb1": 90.0, "lb2": 50.0}, V11: {"lb1": 10.0, "lb2": 50.0}}
    assert all(d["part"] == "blueprint-demo" and d["gateway"] == GATEWAY for d in data["differences"])

    text = drover_status("-i", str(pair.state.inventory))
    assert text.exit_code == EXIT_DISAGREE
    lines = text.output.splitlines()
    assert lines[0].startswith("group loadbalancers of ") and f"VIP {pair.vip} held by " in lines[0]
    blueprints = lines[lines.index("BLUEPRINTS") + 2].split()
    assert blueprints[:2] == ["demo", GATEWAY] and blueprints[-2:] == ["DISAGREE", "ok"]
    gateway_rows = lines[lines.index("GATEWAYS") + 2:lines.index("ROUTES") - 1]
    assert [row.split()[0] for row in gateway_rows] == [GATEWAY]
    rows = [row.split() for row in lines[lines.index("DIFFERENCES") + 1:]]
    assert rows[0] == ["BLUEPRINT", "GATEWAY", "WHAT", "lb1", "lb2"]
    assert ["demo", GATEWAY, "weight", "of", V10, "90%", "50%"] in rows
    assert ["demo", GATEWAY, "weight", "of", V11, "10%", "50%"] in rows

    # --host still reads one load balancer, with the same grouping
    one = drover_status("--host", "lb2", "-i", str(pair.state.inventory), "--format", "json")
    assert one.exit_code == 0 and json.loads(one.output)["blueprints"]["demo"]["gateways"] == [GATEWAY]


def test_a_load_balancer_cut_off_is_unreadable_within_the_deadline(pair):
    lb2 = pair.state.host("lb2")
    pair.cut(lb2)
    try:
        started = time.monotonic()
        code, data = group_json(pair, "--timeout", "1")
        elapsed = time.monotonic() - started
    finally:
        pair.reconnect(lb2)
    assert code == EXIT_UNREADABLE and data["exit_code"] == EXIT_UNREADABLE and data["healthy"] is False
    by_name = {lb["name"]: lb for lb in data["load_balancers"]}
    assert by_name["lb1"]["read"] is True and by_name["lb2"]["read"] is False and by_name["lb2"]["status"] is None
    assert "lb2" in by_name["lb2"]["error"]
    # SSH's connect timeout (1 s) or the deadline (3 x 1 s), not a wait of its own
    assert elapsed < 3 + 5, elapsed
