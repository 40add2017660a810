#!/usr/bin/env bash
# Refreshes requirements.lock from requirements.in and requirements-test.in: every package, transitive ones included,
# pinned with its hashes. Run it (`make lock`) after changing a range in a .in file, or to take newer releases on
# purpose; then run `make test` and commit the lock with the change.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.10
tool=build/lock-tool
if [ ! -x "$tool/bin/uv" ] || [ "$("$tool/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    rm -rf "$tool"
    python3 -m venv "$tool"
    "$tool/bin/pip" install -q "uv==$UV_VERSION"
fi
"$tool/bin/uv" pip compile requirements.in requirements-test.in --python-version 3.11 --generate-hashes \
    --annotation-style split ${LOCK_UPGRADE:+--upgrade} -o requirements.lock
echo "lock: requirements.lock written; run make setup && make test before committing it"
