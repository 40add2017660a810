"""`ansible-galaxy collection build` makes a tarball that installs and works without this checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_built_collection_installs_and_is_usable(tmp_path):
    (tmp_path / "ansible.cfg").write_text("[defaults]\n")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")}
    run([BIN / "ansible-galaxy", "collection", "build", "--output-path", tmp_path, REPO], cwd=tmp_path, env=env)
    tarball = tmp_path / "drover-fleet-0.1.0.tar.gz"
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert {"galaxy.yml", "MANIFEST.json", "plugins/module_utils/dsl/reader.py", "plugins/modules/haproxy_config.py",
            "plugins/module_utils/haproxy/templates/haproxy.cfg.j2", "roles/haproxy/meta/argument_specs.yml"} <= names | {"galaxy.yml"}
    assert not any(name.startswith((".venv", "build/", ".lab")) for name in names)

    installed = tmp_path / "collections"
    # Only the installed copy may be found: no project ansible.cfg, no scan of sys.path (where the checkout is linked).
    env.update(ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    # Galaxy is out of reach here: dependencies come from the `ansible` package, so install without resolving them.
    run([BIN / "ansible-galaxy", "collection", "install", "--no-deps", "-p", installed, tarball], cwd=tmp_path, env=env)
    assert (installed / "ansible_collections" / "drover" / "fleet" / "MANIFEST.json").is_file()
    listing = run([BIN / "ansible-galaxy", "collection", "list", "drover.fleet", "--format", "json"], cwd=tmp_path, env=env)
    assert str(installed) in "".join(json.loads(listing))
    run([BIN / "ansible-doc", "drover.fleet.haproxy_config"], cwd=tmp_path, env=env)
    run([BIN / "ansible-doc", "-t", "filter", "drover.fleet.to_haproxy_cfg"], cwd=tmp_path, env=env)
    example = tmp_path / "gateway.yml"
    example.write_text("name: shop\nport: 9070/http\nroutes:\n  '[127.0.0.1:8080]':\n    weight: 100%\n")
    out = run([BIN / "ansible", "localhost", "-m", "ansible.builtin.debug", "-a",
               f"msg={{{{ '{example}' | drover.fleet.to_haproxy_cfg(options={{'bind_address': '127.0.0.1'}}) }}}}"], cwd=tmp_path, env=env)
    assert "bind 127.0.0.1:9070" in out
