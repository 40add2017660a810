"""Checks that the Python environment running this script has exactly the versions requirements.lock names.

Exit 0 when every locked package is installed at its locked version, 1 otherwise (with one line per difference).
`scripts/setup.sh` runs it after each install, so a drifted .venv fails `make setup` (and so `make test`) at once.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def locked(path: str) -> dict[str, str]:
    pins = {}
    with open(path, encoding="utf-8") as lock:
        for line in lock:
            match = PIN.match(line)
            if match:
                pins[normalize(match.group(1))] = match.group(2)
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def differences(pins: dict[str, str]) -> list[str]:
    problems = []
    for name, version in sorted(pins.items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: locked {version}, not installed")
            continue
        if installed != version:
            problems.append(f"{name}: locked {version}, installed {installed}")
    return problems


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "requirements.lock"
    pins = locked(path)
    if not pins:
        print(f"check_lock: {path} names no package", file=sys.stderr)
        return 1
    problems = differences(pins)
    for problem in problems:
        print(f"check_lock: {problem}", file=sys.stderr)
    if problems:
        print(f"check_lock: the environment differs from {path}; run `make setup` (or `rm -r .venv && make setup`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
