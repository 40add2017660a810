"""The install is reproducible: the .venv holds exactly what requirements.lock pins, and Ansible's commands print no
third-party warning (the tests and the demo read their stderr)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHECK_LOCK = REPO / "scripts" / "check_lock.py"
LOCK = REPO / "requirements.lock"


def check_lock(lock: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, CHECK_LOCK, lock], capture_output=True, text=True, timeout=60, check=False)


def test_environment_matches_the_lock():
    result = check_lock(LOCK)
    assert result.returncode == 0, result.stderr


def test_a_drifted_package_is_reported(tmp_path):
    drifted = tmp_path / "requirements.lock"
    text = LOCK.read_text(encoding="utf-8")
    pinned = next(line for line in text.splitlines() if line.startswith("cryptography=="))
    drifted.write_text(text.replace(pinned, "cryptography==51.0.1 \\"), encoding="utf-8")
    result = check_lock(drifted)
    assert result.returncode == 1
    assert "cryptography: locked 51.0.1, installed" in result.stderr


def test_every_locked_package_has_hashes():
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    pins = [i for i, line in enumerate(lines) if "==" in line and not line.startswith((" ", "#"))]
    assert len(pins) > 20
    assert all(lines[i + 1].strip().startswith("--hash=sha256:") for i in pins)


@pytest.mark.parametrize("command", [["ansible", "--version"], ["ansible-playbook", "--version"], ["ansible-doc", "-l", "drover.fleet"],
                                     ["ansible-galaxy", "collection", "list", "containers.podman"],
                                     # an inventory of its own: ansible.cfg names the lab's, which a fresh clone has not
                                     ["ansible", "all", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.ping",
                                      "-e", f"ansible_python_interpreter={sys.executable}"]])
def test_ansible_commands_print_no_warning(command):
    result = subprocess.run([BIN / command[0], *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr
