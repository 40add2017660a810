#!/usr/bin/env bash
# Installs everything drover.fleet needs on a Debian/Ubuntu machine, as root. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc and libc6-dev compile the lab demo service statically (lab/demo/drover-demo.c). docker.io and python3-requests
# (community.docker's modules need requests in the target's Python) let the lab test the docker engine path.
# valgrind (callgrind) counts HAProxy's instructions per request for benchmarks/dataplane_instructions.py.
SYSTEM_PACKAGES=(haproxy wrk socat podman runc busybox-static openssh-server openssh-client iproute2 iptables curl gcc libc6-dev valgrind
                 docker.io python3-requests keepalived)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing system packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # apt's policy script keeps services from starting; drover starts HAProxy and sshd itself.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
# pyenv shims hide the real interpreter; a venv built from the real one has stable absolute paths.
PYTHON=$("$PYTHON" -c 'import sys; print(sys.executable)')
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
# Every Python package, transitive ones included, comes from requirements.lock at the version and hash it names, so a
# fresh machine installs what the tests ran with (requirements*.in hold the loose ranges; `make lock` refreshes it).
stamp=.venv/.requirements.sha
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing Python packages into .venv from requirements.lock"
    .venv/bin/pip install -q --require-hashes -r requirements.lock
    # setuptools warns about every editable install; the warning is about its own build, not about drover.
    PYTHONWARNINGS=ignore .venv/bin/pip install -q --no-deps --no-build-isolation -e .
    echo "$want" > "$stamp"
fi
# A package installed by hand, or left from an install before the lock, must not differ from the lock.
.venv/bin/python scripts/check_lock.py requirements.lock

# The checkout is the collection: expose it as ansible_collections/drover/fleet for Ansible and for Python.
mkdir -p build/ansible_collections/drover
ln -sfn "$PWD" build/ansible_collections/drover/fleet
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/build" > "$site/drover-collection.pth"
echo "setup: ready (.venv/bin/drover, .venv/bin/ansible-playbook)"
