"""The lab's demo service image, `localhost/drover-demo:<version>`, built with no registry.

The rootfs is busybox-static plus `drover-demo` (lab/demo/drover-demo.c, compiled statically), packed with tar
and loaded with `podman import`. Each version is the same rootfs with its version baked in as DROVER_VERSION.
Builds are cached by the hash of their inputs; imports are skipped when the host already has that build.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from drover_cli.lab.network import LabError

DEMO_REPOSITORY = "localhost/drover-demo"
DEMO_VERSIONS = ("1.0", "1.1", "1.2")
DEMO_PORT = 8080
SOURCE = Path(__file__).resolve().parents[2] / "lab" / "demo" / "drover-demo.c"
BUSYBOX = Path("/bin/busybox")
SERVER_PATH = "usr/local/bin/drover-demo"
BUILD_LABEL = "io.drover.demo.build"
VERSION_LABEL = "io.drover.demo.version"
# Bump when the rootfs layout or the import changes, so cached builds and imported images are replaced.
RECIPE = "drover-demo rootfs 1"
# Reproducible tar members: the same inputs give the same tarball.
FIXED_MTIME = 1_700_000_000

# Runs argv inside one lab host: `runner(argv)` raises on failure, `runner(argv, check=False)` does not.
HostRunner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class DemoImage:
    """A built rootfs tarball and what `podman import` needs to make each version of the image from it."""

    tarball: Path
    build_id: str
    versions: tuple[str, ...]

    def tag(self, version: str) -> str:
        return f"{DEMO_REPOSITORY}:{version}"

    def import_command(self, version: str, engine: str = "podman") -> list[str]:
        """The import of one version with `engine` (podman or docker): the same tag, command, environment and labels."""
        changes = [
            f'CMD ["/{SERVER_PATH}"]',
            "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            f"ENV DROVER_VERSION={version}",
            f"ENV DROVER_PORT={DEMO_PORT}",
            f"EXPOSE {DEMO_PORT}/tcp",
            f"LABEL {BUILD_LABEL}={self.build_id}",
            f"LABEL {VERSION_LABEL}={version}",
        ]
        if engine != "docker":
            # docker import refuses STOPSIGNAL; SIGTERM is docker's default anyway.
            changes.insert(5, "STOPSIGNAL SIGTERM")
        command = [engine, "import", "--message", f"drover demo service {version}"]
        if engine != "docker":
            command.insert(2, "--quiet")
        for change in changes:
            command += ["--change", change]
        return command + [str(self.tarball), self.tag(version)]


def build_demo_image(cache_dir: Path, versions: tuple[str, ...] = DEMO_VERSIONS) -> DemoImage:
    """Builds the demo rootfs tarball into `cache_dir`, or reuses the one built from the same inputs."""
    if shutil.which("gcc") is None:
        raise LabError("gcc is missing: the demo image compiles its server (run `bash scripts/setup.sh`)")
    if not BUSYBOX.exists():
        raise LabError(f"{BUSYBOX} is missing: install busybox-static (run `bash scripts/setup.sh`)")
    busybox = BUSYBOX.read_bytes()
    compiler = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    digest = hashlib.sha256()
    for part in (RECIPE.encode(), SOURCE.read_bytes(), busybox, compiler.encode()):
        digest.update(hashlib.sha256(part).digest())
    build_id = digest.hexdigest()[:16]
    tarball = Path(cache_dir) / f"drover-demo-{build_id}.tar"
    if not tarball.exists():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir) as work:
            server = Path(work) / "drover-demo"
            compiled = subprocess.run(["gcc", "-O2", "-static", "-pthread", "-o", str(server), str(SOURCE)],
                                      capture_output=True, text=True, check=False)
            if compiled.returncode != 0:
                raise LabError(f"compiling {SOURCE.name} failed (is libc6-dev installed?):\n{compiled.stderr}")
            partial = Path(work) / "rootfs.tar"
            _write_rootfs(partial, busybox, server.read_bytes())
            os.replace(partial, tarball)
    return DemoImage(tarball=tarball, build_id=build_id, versions=tuple(versions))


def _write_rootfs(target: Path, busybox: bytes, server: bytes) -> None:
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    with tarfile.open(target, "w", format=tarfile.GNU_FORMAT) as tar:
        for directory, mode in (("bin", 0o755), ("sbin", 0o755), ("usr", 0o755), ("usr/bin", 0o755),
                                ("usr/sbin", 0o755), ("usr/local", 0o755), ("usr/local/bin", 0o755), ("etc", 0o755),
                                ("tmp", 0o1777), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755), ("root", 0o700)):
            tar.addfile(_member(directory, tarfile.DIRTYPE, mode))
        _add_file(tar, "bin/busybox", busybox, 0o755)
        _add_file(tar, SERVER_PATH, server, 0o755)
        _add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n", 0o644)
        _add_file(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
        for applet in applets:
            if applet != "bin/busybox":
                link = _member(applet, tarfile.SYMTYPE, 0o777)
                link.linkname = "/bin/busybox"
                tar.addfile(link)


def _member(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uname = info.gname = "root"
    return info


def _add_file(tar: tarfile.TarFile, name: str, content: bytes, mode: int) -> None:
    info = _member(name, tarfile.REGTYPE, mode)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


def installed_demo_images(run_in_host: HostRunner) -> dict[str, dict]:
    """Tag -> {"id", "build"} for every drover-demo image in a host's storage."""
    result = run_in_host(["podman", "images", "--filter", f"reference={DEMO_REPOSITORY}", "--format", "json"])
    images = {}
    for entry in json.loads(result.stdout or "[]"):
        for name in entry.get("Names") or []:
            images[name] = {"id": entry.get("Id"), "build": (entry.get("Labels") or {}).get(BUILD_LABEL)}
    return images


def ensure_demo_images(image: DemoImage, run_in_host: HostRunner) -> list[str]:
    """Imports every version the host lacks or has from another build. Returns the tags it imported."""
    installed = installed_demo_images(run_in_host)
    imported = []
    for version in image.versions:
        current = installed.get(image.tag(version))
        if current and current["build"] == image.build_id:
            continue
        run_in_host(image.import_command(version))
        imported.append(image.tag(version))
        if current:
            # The replaced build is now untagged; drop it unless a container still uses it.
            run_in_host(["podman", "rmi", current["id"]], check=False)
    return imported
