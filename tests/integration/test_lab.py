# -*- coding: utf-8 -*-
"""The lab against the real machine: network namespaces, sshd, rootful podman, the demo service, Ansible.

Each lab here lives in a temporary state directory on a /24 and bridge of its own, picked free at random, so the
tests never touch a user's lab (`drover0`, 10.199.77.0/24) and can run beside each other. Every lab is removed in a
`finally`, and the removal is checked: no process, namespace, mount, veth, bridge, iptables rule or cgroup remains.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from ansible_collections.drover.fleet.tests.support.helpers import wait_for
from drover_cli.lab.demo_image import DEMO_REPOSITORY, DEMO_VERSIONS
from drover_cli.lab.fleet import LabError, LabState, lab_down, lab_status, lab_up, load_lab
from drover_cli.lab.cli import lab as lab_command
from drover_cli.lab.processes import pid_alive

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root"),
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("gcc") is None, reason="run `make setup` first"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_lab_network() -> tuple[str, str]:
    """A private /24 that no interface of the machine overlaps, and a bridge name no link has."""
    listing = json.loads(subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True).stdout)
    used = [ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
            for entry in listing for a in entry.get("addr_info", []) if a.get("family") == "inet"]
    names = {entry["ifname"] for entry in listing}
    rng = random.Random()
    for _attempt in range(200):
        subnet = ipaddress.IPv4Network(f"10.199.{rng.randrange(128, 255)}.0/24")
        bridge = f"drvt{rng.randrange(16 ** 4):04x}"
        if not any(subnet.overlaps(net) for net in used) and bridge not in names:
            return str(subnet), bridge
    raise RuntimeError("no free /24 in 10.199.128.0/17")


def ssh(state: LabState, host: str, command: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `command` on a lab host over real ssh with the lab's generated key."""
    argv = ["ssh", "-i", str(state.ssh_key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5", f"root@{state.host(host).address}", command]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"ssh {host} {command!r} failed ({result.returncode}): {result.stderr}")
    return result


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def http_answers(url: str) -> bool:
    try:
        http_get(url, timeout=1)
        return True
    except OSError:
        return False


def lab_processes(state: LabState) -> dict[str, int]:
    """The sshd pid of every host, from the lab's pidfiles."""
    return {host.name: int(host.pid_file.read_text().strip()) for host in state.hosts}


def leftovers(state_dir: Path, bridge: str, pids: set[int], container_ids: set[str]) -> list[str]:
    """Everything of a removed lab that is still there; empty when the removal was complete."""
    found = []
    found += [f"process {pid}" for pid in pids if pid_alive(pid)]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found += [f"namespace {line}" for line in netns.splitlines() if line.startswith(f"{bridge}-")]
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, check=True).stdout)
    found += [f"link {link['ifname']}" for link in links if link["ifname"] == bridge or link["ifname"].startswith(f"{bridge}-")]
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, check=True).stdout
    found += [f"iptables {line}" for line in rules.splitlines() if f"drover-lab:{bridge}" in line]
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            text = mountinfo.read_text()
        except OSError:
            continue
        if str(state_dir) in text:
            found.append(f"mount of {state_dir} in {mountinfo}")
    for container_id in container_ids:
        found += [f"cgroup {path}" for path in Path("/sys/fs/cgroup").glob(f"*/libpod_parent/libpod-{container_id}")]
    found += [f"state {path}" for path in (state_dir / "hosts", state_dir / "lab.json", state_dir / "inventory.ini")
              if path.exists()]
    return found


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> LabState:
    """A 3-host lab (lb1, app1, app2), removed at the end even when a test failed."""
    state_dir = tmp_path_factory.mktemp("lab")
    subnet, bridge = free_lab_network()
    try:
        yield lab_up(3, state_dir, subnet=subnet, bridge=bridge)
    finally:
        lab_down(state_dir)
    wait_for(lambda: not leftovers(state_dir, bridge, set(), set()), timeout=10, message="lab removed")


def test_each_host_has_its_own_name_address_and_key_only_root_login(lab):
    for host in lab.hosts:
        result = ssh(lab, host.name, "hostname; cat /etc/hostname; getent hosts $(hostname); ip -4 -br addr show eth0")
        name, hostname_file, resolved, eth0 = result.stdout.splitlines()
        assert name == host.name
        assert hostname_file == host.name
        assert resolved.split() == [host.address, host.name]
        assert f"{host.address}/24" in eth0
    refused = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{lab.host('lb1').address}", "true"],
        capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


def test_hosts_have_their_own_etc_and_run(lab):
    marker = f"drover-lab-test-{os.getpid()}"
    ssh(lab, "lb1", f"echo lb1 > /etc/haproxy/{marker}; echo lb1 > /run/{marker}; echo lb1 > /etc/containers/{marker}")
    try:
        assert (lab.host("lb1").dir / "etc" / "haproxy" / marker).read_text() == "lb1\n"
        assert not Path(f"/etc/haproxy/{marker}").exists() and not Path(f"/run/{marker}").exists()
        seen = ssh(lab, "app1", f"ls /etc/haproxy/{marker} /run/{marker} /etc/containers/{marker}", check=False)
        assert seen.returncode != 0 and seen.stdout == ""
    finally:
        ssh(lab, "lb1", f"rm -f /etc/haproxy/{marker} /run/{marker} /etc/containers/{marker}")


def test_hosts_reach_each_other_and_the_controller(lab):
    with socket.socket() as listener:
        listener.bind((lab.gateway, 0))
        listener.listen()
        controller_port = listener.getsockname()[1]
        probe = ("import socket,sys\n"
                 "for target in sys.argv[1:]:\n"
                 "    address, port = target.rsplit(':', 1)\n"
                 "    socket.create_connection((address, int(port)), timeout=3).close()\n"
                 "print('ok')")
        targets = [f"{lab.host('app2').address}:22", "lb1:22", f"controller:{controller_port}"]
        assert ssh(lab, "app1", f"python3 -c \"{probe}\" {' '.join(targets)}").stdout.strip() == "ok"
    assert f"via {lab.gateway}" in ssh(lab, "app2", "ip route show default").stdout


def test_inventory_has_groups_zones_and_connection_vars(lab):
    listing = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(lab.inventory), "--list"],
                             capture_output=True, text=True, check=True, timeout=60)
    inventory = json.loads(listing.stdout)
    assert inventory["loadbalancers"]["hosts"] == ["lb1"]
    assert inventory["apps"]["hosts"] == ["app1", "app2"]
    assert sorted(inventory["fleet"]["children"]) == ["apps", "loadbalancers"]
    hostvars = inventory["_meta"]["hostvars"]
    assert [hostvars[name]["zone"] for name in ("lb1", "app1", "app2")] == ["zone-a", "zone-a", "zone-b"]
    for host in lab.hosts:
        assert hostvars[host.name]["ansible_host"] == host.address
        assert hostvars[host.name]["ansible_user"] == "root"
        assert Path(hostvars[host.name]["ansible_ssh_private_key_file"]) == lab.ssh_key
        assert Path(hostvars[host.name]["ansible_python_interpreter"]).is_file()


def test_ansible_ping_reaches_every_host(lab, tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp_path / "cp"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"))
    result = subprocess.run([str(VENV_BIN / "ansible"), "-i", str(lab.inventory), "fleet", "-m", "ansible.builtin.ping", "-o"],
                            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for host in lab.hosts:
        assert f'{host.name} | SUCCESS => {{"changed": false,"ping": "pong"}}' in result.stdout


def test_every_host_holds_every_demo_version(lab):
    for host in lab.hosts:
        images = ssh(lab, host.name, f"podman images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' {DEMO_REPOSITORY}").stdout
        assert sorted(images.split()) == sorted(f"{DEMO_REPOSITORY}:{version}" for version in DEMO_VERSIONS)


def test_demo_container_serves_version_instance_and_runtime_faults(lab):
    host = lab.host("app1")
    name = f"lab-test-{os.getpid()}"
    port = 18080
    ssh(lab, "app1", f"podman run -d --name {name} -e DROVER_INSTANCE=app1-one -p {port}:8080 {DEMO_REPOSITORY}:1.1")
    try:
        base = f"http://{host.address}:{port}"
        wait_for(lambda: http_answers(f"{base}/ready"), timeout=15, message="demo container answers")
        status, body = http_get(f"{base}/orders/7")
        assert status == 200
        assert json.loads(body) == {"version": "1.1", "instance": "app1-one", "path": "/orders/7"}
        assert http_get(f"{base}/health")[0] == 200

        status, body = http_get(f"{base}/control?error_rate=1&latency_ms=150")
        assert status == 200 and json.loads(body)["error_rate"] == 1 and json.loads(body)["latency_ms"] == 150
        started = time.monotonic()
        status, body = http_get(f"{base}/orders/8")
        assert status == 500 and json.loads(body)["error"] == "injected"
        assert time.monotonic() - started >= 0.15  # the injected latency is a lower bound
        assert http_get(f"{base}/control?error_rate=2")[0] == 400
        http_get(f"{base}/control?error_rate=0&latency_ms=0&ready=0")
        assert http_get(f"{base}/ready")[0] == 503
        assert http_get(f"{base}/x")[0] == 200

        # SIGTERM ends it: exit code 0, where a SIGKILL after the stop timeout would give 137.
        ssh(lab, "app1", f"podman stop --time 20 {name}")
        exit_code = ssh(lab, "app1", f"podman inspect --format '{{{{.State.ExitCode}}}}' {name}").stdout.strip()
        assert exit_code == "0"
    finally:
        ssh(lab, "app1", f"podman rm --force --time 0 {name}", check=False)


def test_status_lists_every_host_with_its_health(lab):
    ssh(lab, "app2", "podman run -d --name status-probe localhost/drover-demo:1.0")
    try:
        by_name = {entry["name"]: entry for entry in lab_status(lab.state_dir)}
        assert set(by_name) == {"lb1", "app1", "app2"}
        assert by_name["app2"] == {"name": "app2", "address": lab.host("app2").address, "group": "apps", "zone": "zone-b",
                                   "sshd": True, "podman": True, "containers": 1, "vip": None}
        assert by_name["lb1"]["vip"] is None  # one load balancer: no VIP
        assert by_name["lb1"]["group"] == "loadbalancers" and by_name["lb1"]["containers"] == 0
        cli = CliRunner().invoke(lab_command, ["status", "--format", "json", "--state-dir", str(lab.state_dir)])
        assert cli.exit_code == 0, cli.output
        assert {entry["name"]: entry["containers"] for entry in json.loads(cli.output)} == {"lb1": 0, "app1": 0, "app2": 1}
    finally:
        ssh(lab, "app2", "podman rm --force --time 0 status-probe", check=False)


def test_up_again_changes_nothing(lab):
    pids = lab_processes(lab)
    inventory = lab.inventory.read_text()
    images = ssh(lab, "app1", f"podman images --no-trunc --quiet {DEMO_REPOSITORY}").stdout
    again = lab_up(3, lab.state_dir)
    assert again.subnet == lab.subnet and again.bridge == lab.bridge
    assert lab_processes(again) == pids
    assert again.inventory.read_text() == inventory
    assert ssh(lab, "app1", f"podman images --no-trunc --quiet {DEMO_REPOSITORY}").stdout == images


def test_up_repairs_a_half_built_lab(lab):
    """A host whose sshd died and a host whose namespace vanished are rebuilt; the healthy one is left alone."""
    before = lab_processes(lab)
    os.kill(before["app2"], 9)
    subprocess.run(["ip", "netns", "del", lab.host("app1").netns], check=True)
    repaired = lab_up(3, lab.state_dir)
    after = lab_processes(repaired)
    assert after["lb1"] == before["lb1"]
    assert after["app1"] != before["app1"] and after["app2"] != before["app2"]
    for host in ("app1", "app2"):
        assert ssh(repaired, host, "hostname; podman ps --quiet").stdout.splitlines() == [host]


def test_down_of_another_state_dir_leaves_this_lab_alone(lab, tmp_path):
    pids = lab_processes(lab)
    other = tmp_path / "other-lab"
    lab_down(other)
    with pytest.raises(LabError, match="belongs to the lab in"):
        lab_down(other, bridge=lab.bridge)
    with pytest.raises(LabError, match="already exists and belongs to"):
        lab_up(1, other, subnet=lab.subnet, bridge=lab.bridge, images=False)
    assert lab_processes(lab) == pids
    assert ssh(lab, "lb1", "hostname").stdout.strip() == "lb1"


def test_down_leaves_nothing_behind(tmp_path):
    subnet, bridge = free_lab_network()
    state_dir = tmp_path / "lab"
    pids: set[int] = set()
    containers: set[str] = set()
    try:
        state = lab_up(2, state_dir, subnet=subnet, bridge=bridge)
        assert load_lab(state_dir).bridge == bridge
        pids |= set(lab_processes(state).values())
        run = ssh(state, "app1", f"podman run -d -p 18081:8080 {DEMO_REPOSITORY}:1.2").stdout.strip()
        containers.add(run)
        inspect = ssh(state, "app1", f"podman inspect --format '{{{{.State.Pid}}}} {{{{.State.ConmonPid}}}}' {run}").stdout
        pids |= {int(pid) for pid in inspect.split()}
        # A daemon that left its ssh session, as HAProxy started by hand would.
        daemon = ssh(state, "lb1", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!").stdout
        pids.add(int(daemon))
        assert all(pid_alive(pid) for pid in pids)
        assert leftovers(state_dir, bridge, pids, containers), "the leftover check must see a running lab"
    finally:
        lab_down(state_dir)
    wait_for(lambda: not leftovers(state_dir, bridge, pids, containers), timeout=10, message="nothing of the lab left")
    lab_down(state_dir)  # a second down finds nothing to do and does not fail
    assert leftovers(state_dir, bridge, pids, containers) == []


def test_load_balancers_come_first_and_two_share_a_vip(tmp_path):
    """`--load-balancers 2`: lb1, lb2, then the apps (`--hosts` stays the total); the VIP is reserved in the state and
    the inventory, and `lab status` names the load balancer whose eth0 holds it."""
    subnet, bridge = free_lab_network()
    state_dir = tmp_path / "lab"
    runner = CliRunner()
    refused = runner.invoke(lab_command, ["up", "--hosts", "1", "--load-balancers", "2", "--state-dir", str(state_dir),
                                          "--subnet", subnet, "--bridge", bridge, "--no-images"])
    assert refused.exit_code == 1 and "--load-balancers must be between 1 and --hosts (1), not 2" in refused.output
    try:
        up = runner.invoke(lab_command, ["up", "--hosts", "3", "--load-balancers", "2", "--state-dir", str(state_dir),
                                         "--subnet", subnet, "--bridge", bridge, "--no-images"])
        assert up.exit_code == 0, up.output
        state = load_lab(state_dir)
        vip = str(ipaddress.IPv4Network(subnet).network_address + 250)
        assert [(host.name, host.group, host.zone, host.address) for host in state.hosts] == [
            ("lb1", "loadbalancers", "zone-a", str(ipaddress.IPv4Network(subnet).network_address + 10)),
            ("lb2", "loadbalancers", "zone-b", str(ipaddress.IPv4Network(subnet).network_address + 11)),
            ("app1", "apps", "zone-a", str(ipaddress.IPv4Network(subnet).network_address + 12))]
        assert state.vip == vip and f"vip:       {vip}" in up.output
        listing = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(state.inventory), "--list"],
                                 capture_output=True, text=True, check=True, timeout=60)
        hostvars = json.loads(listing.stdout)["_meta"]["hostvars"]
        assert hostvars["lb2"]["keepalived_vip"] == vip and hostvars["app1"]["drover_lb_vip"] == vip

        status = runner.invoke(lab_command, ["status", "--state-dir", str(state_dir)])
        assert f"VIP {vip}: held by no load balancer" in status.output
        # what keepalived does on the holder
        subprocess.run(["ip", "-n", state.host("lb2").netns, "addr", "add", f"{vip}/32", "dev", "eth0"], check=True)
        assert [entry["vip"] for entry in lab_status(state_dir)] == [False, True, None]
        status = runner.invoke(lab_command, ["status", "--state-dir", str(state_dir)])
        assert f"VIP {vip}: held by lb2\n" in status.output
    finally:
        lab_down(state_dir)
    wait_for(lambda: not leftovers(state_dir, bridge, set(), set()), timeout=10, message="lab removed")
