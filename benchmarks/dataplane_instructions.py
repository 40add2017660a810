"""Data-plane cost of drover's generated routing in CPU instructions: the three configurations of
`benchmarks/dataplane.py` (drover's rendered gateway with a 50% condition, map-driven weights and sticky routes, the
configuration an HAProxy expert writes by hand for the same behaviour, and plain roundrobin, over the same backends),
each HAProxy run under valgrind's callgrind, which counts the instructions HAProxy executes in user space while wrk
sends requests, for each kind of client of `dataplane.py`.

Instruction counts do not move with other load on the machine, so they show differences of a few hundred
instructions that CPU time per request (±1 µs on a shared machine) cannot. They leave out the kernel (socket reads and
writes, the same for every configuration) and cache misses, so they rank costs; `dataplane.py` gives the times.
Run: .venv/bin/python benchmarks/dataplane_instructions.py [--duration 4] [--no-write] [--keep DIR]   (needs valgrind)
With --keep, the callgrind dumps stay in DIR (`<config>.<client>.out`) for `callgrind_annotate`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dataplane import (  # noqa: E402
    CLIENTS, DROVER, HAND_WRITTEN, PLAIN, Setup, backend_config, backend_ports, run_wrk, setups, start_haproxy, wait_listening,
    write_files,
)
from report import machine_description, write_section  # noqa: E402

CONNECTIONS = 8


def instructions_per_request(config: Path, setup: Setup, duration: int, client_name: str, keep: Path | None) -> tuple[float, int]:
    """(instructions per request, requests) of an HAProxy under callgrind: instrumentation is switched on only while
    wrk runs, after a warm-up, so start-up and health checks before it are not counted."""
    client = CLIENTS[client_name]
    out = config.parent / "callgrind.out"
    process = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                "haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(setup.port, 60)
        setup.ready()
        run_wrk(setup.port, 1, CONNECTIONS, client, setup.cookie, timeout=60)
        subprocess.run(["callgrind_control", "-i", "on", str(process.pid)], capture_output=True, check=True)
        requests = run_wrk(setup.port, duration, CONNECTIONS, client, setup.cookie, timeout=60)
        subprocess.run(["callgrind_control", "-i", "off", str(process.pid)], capture_output=True, check=True)
        subprocess.run(["callgrind_control", "-d", str(process.pid)], capture_output=True, check=True)
    finally:
        process.terminate()
        process.wait(timeout=60)
    total = 0
    for dump in sorted(config.parent.glob("callgrind.out*")):
        found = re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.M)
        count = int(found.group(1)) if found else 0
        total += count
        if keep and count:
            shutil.copy(dump, keep / f"{setup.directory}.{re.sub(r'[^a-z0-9]+', '-', client_name)}.out")
        dump.unlink()
    return total / requests, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=4)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the callgrind dumps in this folder")
    parser.add_argument("--only", help="count only the kinds of client whose name contains this text (implies --no-write)")
    args = parser.parse_args()
    args.no_write = args.no_write or bool(args.only)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("valgrind is not installed: run `make setup`")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        ports = backend_ports()
        backends = start_haproxy(Path(tmp, "backends"), {"haproxy.cfg": backend_config(ports)})
        try:
            configs = [(setup, write_files(Path(tmp, setup.directory), setup.files)) for setup in setups(Path(tmp), ports)]
            for client_name in CLIENTS:
                if args.only and args.only not in client_name:
                    continue
                for setup, config in configs:
                    results[(client_name, setup.name)] = instructions_per_request(config, setup, args.duration, client_name, args.keep)
                print(f"{client_name}: " + ", ".join(f"{setup.name} {results[(client_name, setup.name)][0]:.0f}" for setup, _config in configs)
                      + " instructions per request", flush=True)
        finally:
            backends.terminate()
            backends.wait(timeout=10)
    rows = []
    for client_name in dict.fromkeys(name for name, _config in results):
        plain, hand, drover = (results[(client_name, name)][0] for name in (PLAIN, HAND_WRITTEN, DROVER))
        rows.append(f"| {client_name} | {plain:.0f} | {hand:.0f} | {drover:.0f} | {drover - hand:+.0f} | {hand / drover:.3f} | "
                    f"{drover - plain:+.0f} | {plain / drover:.3f} | {results[(client_name, DROVER)][1]} |")
    markdown = "\n".join([
        "## Data plane in instructions (`benchmarks/dataplane_instructions.py`)",
        "",
        f"Machine: {machine_description()}. The three configurations of `dataplane.py`, each HAProxy under callgrind, wrk with "
        f"1 thread and {CONNECTIONS} connections for {args.duration} s per kind of client; instructions executed by HAProxy in user "
        "space per request, which other load on the machine does not change (the kernel's socket work, more than half of "
        "the CPU time per request here and the same for every configuration, is not counted, so these ratios are lower "
        "than the throughput ratios above).",
        "",
        "| client | plain roundrobin | hand-written | drover gateway | drover − hand-written | hand-written/drover | "
        "drover − plain | plain/drover | requests counted (drover) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])
    if not args.no_write:
        write_section("dataplane-instructions", markdown)
    print(markdown)


if __name__ == "__main__":
    main()
