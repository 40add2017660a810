# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe HAProxy configuration changes: validate, write atomically, reload once, verify, roll back.

`apply_config()` is the whole procedure; docs/operations.md ("How haproxy_config reloads") explains it for operators.
In short, under an exclusive lock (fcntl.flock on `<state_dir>/lock`):

1. the candidate haproxy.cfg and its maps are checked with the real `haproxy -c` (candidate maps in a temp dir),
   then by the pre-flight checks `haproxy -c` cannot do (haproxy_preflight: listeners that cannot bind, chroot);
2. nothing differs from the files on disk -> nothing is written and nothing reloads;
3. only maps (or ACL pattern files, `*.acl`) differ -> the files are written atomically and the running HAProxy gets
   them through `prepare map` / `add map @<ver>` / `commit map` (`... acl` for ACL files), with no reload;
4. haproxy.cfg differs only in slot server lines (an instance added to or removed from a pre-declared slot, see
   haproxy_slot_changes) and HAProxy runs with no reload pending -> the runtime API fills the slots (health-gated),
   updates the maps, frees the slots, and then haproxy.cfg is written as the live configuration, with no reload;
   a runtime command that fails falls through to step 5, so that HAProxy ends up running the new file;
5. haproxy.cfg differs -> files are written atomically (temp file + rename, optional backup) and a reload is
   *pending*. The lock is released for a short debounce window; whichever run takes the lock after the window ends
   does one reload for every change written so far, so a burst of changes gives one reload;
6. the reload dumps `show servers state` into the `server-state-file` (without the servers the new configuration
   redefines), asks the master CLI (or systemd) to reload, and polls `show proc` until a new worker is listed
   (success) or `[failed: N]` grows (failure). The new worker must then answer `show info`;
7. a failed reload restores the last configuration that was live (kept under `<state_dir>/good/`), reloads it, and
   raises ReloadFailedError with HAProxy's own message.

Starting and stopping HAProxy without systemd is haproxy/process.py.

Pure standard library, no AnsibleModule: the modules, the CLI and the tests share it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError, printable
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_scan import global_directives, server_definitions
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.parts import (
    HEAD_FILE, PartConflictError, assemble, check_part_name, conflicts, map_files_of, parse_sections, part_path, parts_dir,
    read_parts, split_single_file,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.preflight import preflight_problems
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.quoting import HaproxyTextError, quote_word
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.process import process_gone
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import (
    MasterClient,
    ProcessTable,
    RuntimeClient,
    maps_for_file,
    parse_map_text,
    pattern_kind,
)
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.sockets import DEFAULT_ADMIN_SOCKET, DEFAULT_MASTER_SOCKET
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.slot_changes import (
    InstancesNotHealthyError,
    fill_slots,
    free_slots,
    missing_servers,
    runtime_updates,
    slot_changes,
)

SERVICE_MANAGERS = ("auto", "master_cli", "systemd", "none")
RELOADERS = ("master_cli", "systemd")
NOT_RUNNING = "not_running"
STATE_FILE = "state.json"
LOCK_FILE = "lock"


class ConfigInvalidError(DroverError):
    """`haproxy -c` rejected the candidate; nothing was written."""

    # {line number: text} of the refused candidate's lines that HAProxy named, when the candidate was assembled here
    refused_lines: dict | None = None

    def __init__(self, message: str, output: str):
        self.output = output
        super().__init__(message)


class PreflightError(ConfigInvalidError):
    """The candidate passes `haproxy -c` but could not start here (a port in use, a missing chroot); nothing was written."""


class ReloadFailedError(DroverError):
    """The new worker did not come up. `rolled_back` tells whether the last good configuration was restored."""

    def __init__(self, message: str, haproxy_message: str = "", rolled_back: bool = False, rollback_ok: bool = False):
        self.haproxy_message = haproxy_message
        self.rolled_back = rolled_back
        self.rollback_ok = rollback_ok
        super().__init__(message)


class LockTimeoutError(DroverError):
    """Another run held the configuration lock for longer than the lock timeout."""


@dataclass
class ReloadOptions:
    """How `apply_config` validates, reloads and verifies. Times are seconds."""

    haproxy_binary: str = "haproxy"
    master_socket: str | None = DEFAULT_MASTER_SOCKET
    admin_socket: str | None = DEFAULT_ADMIN_SOCKET
    service_manager: str = "auto"
    systemd_unit: str = "haproxy"
    reload: bool = True
    backup: bool = False
    state_dir: str | None = None
    server_state_file: str | None = None
    master_log: str | None = None
    debounce: float = 0.2
    debounce_max: float = 2.0
    reload_timeout: float = 30.0
    health_timeout: float = 60.0
    lock_timeout: float = 120.0
    socket_timeout: float = 5.0
    poll: float = 0.05
    preflight: bool = True
    check_mode: bool = False


@dataclass
class ApplyResult:
    """What `apply_config` did (or, in check mode, would do)."""

    changed: bool = False
    config_changed: bool = False
    maps_changed: list = field(default_factory=list)
    reloaded: bool = False
    coalesced: bool = False
    reload_method: str | None = None
    backup_file: str | None = None
    runtime_map_updates: list = field(default_factory=list)
    runtime_server_updates: list = field(default_factory=list)
    diff: list = field(default_factory=list)
    new_worker_pids: list = field(default_factory=list)
    server_state_file: str | None = None
    servers_from_config: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ReloadState:
    """Kept in `<state_dir>/state.json`: which write generation is live, and the last good files."""

    generation: int = 0
    reloaded_generation: int = 0
    written_at: float = 0.0
    last_reload: dict = field(default_factory=dict)
    last_runtime_update: dict = field(default_factory=dict)
    snapshot: dict = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.generation > self.reloaded_generation


@dataclass
class ReloadOutcome:
    ok: bool
    method: str
    message: str = ""
    haproxy_message: str = ""
    new_worker_pids: list = field(default_factory=list)
    verified: bool = True
    attempted: bool = True


# -- files ---------------------------------------------------------------------------------------------------------


def read_text(path: str) -> str | None:
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def atomic_write(path: str, text: str, mode: int | None = None) -> None:
    """Write `text` to a temp file in the same directory, fsync it, then rename it over `path`.

    An existing file keeps its mode and owner, so readers never see a partial file and permissions do not drift.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            current = os.stat(path)
            os.chmod(tmp, current.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.chown(tmp, current.st_uid, current.st_gid)
        except FileNotFoundError:
            os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def backup_file(path: str) -> str | None:
    """A timestamped copy next to the file, named like Ansible's backups: `<path>.<pid>.<date>@<time>~`."""
    if not os.path.exists(path):
        return None
    stamp = time.strftime("%Y-%m-%d@%H:%M:%S", time.localtime())
    target = f"{path}.{os.getpid()}.{stamp}~"
    shutil.copy2(path, target)
    return target


def normalize_map_paths(maps: dict | None) -> dict:
    """Map keys are paths relative to the haproxy.cfg directory; refuse anything that escapes it."""
    result = {}
    for rel, text in (maps or {}).items():
        name = os.path.normpath(str(rel))
        if os.path.isabs(name) or name == ".." or name.startswith("../") or name == ".":
            raise DroverError(f"map path {rel!r} must be relative to the directory of haproxy.cfg and stay inside it")
        if not isinstance(text, str):
            raise DroverError(f"map {rel!r}: content must be text, found {type(text).__name__}")
        result[name] = text
    return result


# -- haproxy.cfg facts ---------------------------------------------------------------------------------------------


def relative_base(config_text: str, config_dir: str, process_cwd: str | None = None) -> str:
    """The directory HAProxy resolves relative file names against (`default-path`, else the process's cwd)."""
    policy = global_directives(config_text).get("default-path", "").split()
    if policy[:1] == ["config"]:
        return config_dir
    if policy[:1] == ["parent"]:
        return os.path.dirname(config_dir)
    if policy[:1] == ["origin"] and len(policy) > 1:
        return policy[1]
    return process_cwd or config_dir


def server_state_path(config_text: str, config_dir: str, process_cwd: str | None = None) -> str | None:
    """Where HAProxy reads server state at start-up: `server-state-file`, relative to `server-state-base` or cwd."""
    directives = global_directives(config_text)
    name = directives.get("server-state-file", "").strip().strip('"')
    if not name:
        return None
    if os.path.isabs(name):
        return name
    base = directives.get("server-state-base", "").strip().strip('"')
    return os.path.join(base or process_cwd or config_dir, name)


def _process_cwd(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


# -- validation ----------------------------------------------------------------------------------------------------


# a file name in a map or ACL reference: what sits between the delimiters the references are matched by
_REFERENCE_TOKEN = r"[^()\s,\"']+"


def directory_word(directory: str) -> str:
    """`directory` as one configuration word (`default-path origin <word>`); DroverError for a name no quoting can
    write (a line break would end the directive and start another, such as `lua-load`)."""
    try:
        return quote_word(directory)
    except HaproxyTextError as exc:
        raise DroverError(f"the directory {printable(directory)} cannot be given to HAProxy: {exc.message.replace('the value ', 'it ')}") from None


def _rewrite_for_check(config_text: str, config_dir: str, check_dir: str, maps: dict) -> str:
    """The candidate as `haproxy -c` must see it from a temp dir: relative paths still resolve like the live config,
    and the changed maps point at their candidate copies. One pass over the text whatever the number of maps (a pass
    per map made `render --check` of 1,000 gateways take 69 s)."""
    directory_word(config_dir)
    text = re.sub(
        r"^(\s*default-path\s+)(config|parent)\b",
        lambda m: m.group(1) + "origin " + directory_word(config_dir if m.group(2) == "config" else os.path.dirname(config_dir)),
        config_text,
        flags=re.MULTILINE,
    )
    replacements = {}
    for rel in maps:
        for ref in (os.path.join(config_dir, rel), rel, "./" + rel):
            replacements.setdefault(ref, os.path.join(check_dir, rel))
    # the config directory may hold a delimiter (a space): its absolute references are matched with it as a prefix
    prefix = os.path.join(config_dir, "")
    references = re.compile(r"(?<=[(\s,\"'=])(?:" + re.escape(prefix) + ")?" + _REFERENCE_TOKEN + r"(?=[)\s,\"']|$)", re.MULTILINE)
    text = references.sub(lambda m: replacements.get(m.group(0), m.group(0)), text)
    # a map name holding a delimiter is not one token: it gets a pass of its own (rendered names never do)
    for ref, replacement in replacements.items():
        if not re.fullmatch(_REFERENCE_TOKEN, ref.replace(prefix, "", 1)):
            text = re.sub(r"(?<=[(\s,\"'=])" + re.escape(ref) + r"(?=[)\s,\"']|$)", lambda _m, r=replacement: r, text, flags=re.MULTILINE)
    return text


def validate_config(config_path: str, config_text: str, maps: dict | None = None, binary: str = "haproxy") -> str:
    """Run the real `haproxy -c` on the candidate. Returns HAProxy's output; raises ConfigInvalidError.

    The candidate and its maps go to a temp dir; relative names resolve from the live config's directory, so
    unchanged maps, error files and certificates are checked as they are.
    """
    config_dir = os.path.dirname(os.path.abspath(config_path))
    maps = normalize_map_paths(maps)
    check_dir = tempfile.mkdtemp(prefix="drover-haproxy-check-")
    try:
        for rel, text in maps.items():
            target = os.path.join(check_dir, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8") as handle:
                handle.write(text)
        candidate = os.path.join(check_dir, os.path.basename(config_path))
        with open(candidate, "w", encoding="utf-8") as handle:
            handle.write(_rewrite_for_check(config_text, config_dir, check_dir, maps))
        try:
            proc = subprocess.run(
                [binary, "-c", "-f", candidate], cwd=config_dir if os.path.isdir(config_dir) else check_dir,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300, check=False,
            )
        except FileNotFoundError as exc:
            raise DroverError(f"HAProxy binary {binary!r} not found: cannot validate the configuration") from exc
        output = proc.stdout.decode("utf-8", errors="replace").replace(candidate, config_path).replace(check_dir + "/", "")
        if proc.returncode != 0:
            alerts = [line for line in output.splitlines() if "[ALERT]" in line] or output.strip().splitlines()[-5:]
            raise ConfigInvalidError("haproxy -c rejected the configuration:\n" + "\n".join(alerts), output)
        return output
    finally:
        shutil.rmtree(check_dir, ignore_errors=True)


def check_candidate(path: str, new_text: str, current_text: str | None, changed_maps: dict, options: ReloadOptions) -> None:
    """`haproxy -c`, then (for a changed haproxy.cfg) the start-up checks `haproxy -c` cannot do."""
    validate_config(path, new_text, changed_maps, options.haproxy_binary)
    if options.preflight and new_text != current_text:
        problems = preflight_problems(new_text, current_text)
        if problems:
            raise PreflightError("HAProxy could not start this configuration here, so nothing was written:\n" + "\n".join(problems),
                                 "\n".join(problems))


# -- the lock and the reload state ---------------------------------------------------------------------------------


class ConfigLock:
    """An exclusive fcntl.flock on `<state_dir>/lock`, taken with a timeout. The holder's pid is written in the file."""

    def __init__(self, state_dir: str, timeout: float = 120.0, poll: float = 0.05):
        self.path = os.path.join(state_dir, LOCK_FILE)
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None

    def __enter__(self) -> "ConfigLock":
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode("ascii", errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise LockTimeoutError(
                        f"another run holds the HAProxy configuration lock {self.path} (pid {holder}); gave up after {self.timeout:g} s"
                    ) from exc
                time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc_info) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def load_state(state_dir: str) -> ReloadState:
    text = read_text(os.path.join(state_dir, STATE_FILE))
    if not text:
        return ReloadState()
    try:
        data = json.loads(text)
    except ValueError:
        return ReloadState()
    known = {key: data[key] for key in ReloadState.__dataclass_fields__ if key in data}  # pylint: disable=no-member
    return ReloadState(**known)


def save_state(state_dir: str, state: ReloadState) -> None:
    atomic_write(os.path.join(state_dir, STATE_FILE), json.dumps(asdict(state), indent=1, sort_keys=True) + "\n", 0o600)


def _snapshot_name(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:20] + "-" + os.path.basename(path)


def _snapshot(state_dir: str, state: ReloadState, paths: list) -> None:
    """Keep the live content of files about to be overwritten, once per pending period (the rollback target)."""
    good = os.path.join(state_dir, "good")
    os.makedirs(good, mode=0o700, exist_ok=True)
    for path in paths:
        if path in state.snapshot:
            continue
        existed = os.path.exists(path)
        if existed:
            shutil.copy2(path, os.path.join(good, _snapshot_name(path)))
        state.snapshot[path] = existed


def _restore_snapshot(state_dir: str, state: ReloadState) -> list:
    restored = []
    good = os.path.join(state_dir, "good")
    for path, existed in state.snapshot.items():
        if existed:
            text = read_text(os.path.join(good, _snapshot_name(path)))
            if text is not None:
                atomic_write(path, text)
                restored.append(path)
        elif os.path.exists(path):
            os.unlink(path)
            restored.append(path)
    return restored


def _snapshot_text(state_dir: str, state: ReloadState, path: str) -> str | None:
    """The live content kept for `path` (the configuration the running HAProxy was started with), if any."""
    if not state.snapshot.get(path):
        return None
    return read_text(os.path.join(state_dir, "good", _snapshot_name(path)))


def _clear_snapshot(state_dir: str, state: ReloadState) -> None:
    shutil.rmtree(os.path.join(state_dir, "good"), ignore_errors=True)
    state.snapshot = {}


# -- runtime access ------------------------------------------------------------------------------------------------


def _master(options: ReloadOptions) -> MasterClient | None:
    return MasterClient(options.master_socket, options.socket_timeout) if options.master_socket else None


def runtime_client(options: ReloadOptions) -> RuntimeClient | None:
    """The admin socket when it answers, else the current worker through the master CLI, else None."""
    if options.admin_socket:
        client = RuntimeClient(options.admin_socket, options.socket_timeout)
        if client.reachable():
            return client
    master = _master(options)
    if master is not None and master.reachable():
        return master.worker(1)
    return None


def _systemd_active(unit: str) -> bool:
    if not os.path.isdir("/run/systemd/system") or shutil.which("systemctl") is None:
        return False
    proc = subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.returncode == 0


def detect_service_manager(options: ReloadOptions) -> str:
    """auto: systemd when the unit is active under systemd, else the master CLI when it answers, else `not_running`."""
    if options.service_manager not in SERVICE_MANAGERS:
        raise DroverError(f"service_manager must be one of {', '.join(SERVICE_MANAGERS)}; found {options.service_manager!r}")
    if options.service_manager != "auto":
        return options.service_manager
    if _systemd_active(options.systemd_unit):
        return "systemd"
    master = _master(options)
    if master is not None and master.reachable():
        return "master_cli"
    return NOT_RUNNING


class _MasterLog:
    """The master's stderr (a file), read from where it stood before the reload: HAProxy's own words on failure."""

    def __init__(self, path: str | None):
        self.path = path if path and os.path.isfile(path) else None
        self.offset = os.path.getsize(self.path) if self.path else 0

    @classmethod
    def discover(cls, options: ReloadOptions, master_pid: int | None) -> "_MasterLog":
        if options.master_log:
            return cls(options.master_log)
        if master_pid:
            try:
                return cls(os.readlink(f"/proc/{master_pid}/fd/2"))
            except OSError:
                pass
        return cls(None)

    def news(self) -> str:
        if not self.path:
            return ""
        with open(self.path, "r", encoding="utf-8", errors="replace") as handle:
            handle.seek(self.offset)
            text = handle.read()
        lines = [line for line in text.splitlines() if "[ALERT]" in line or "Loading failure" in line]
        return "\n".join(lines[-10:])


def _journal_since(unit: str, since: float) -> str:
    if shutil.which("journalctl") is None:
        return ""
    proc = subprocess.run(
        ["journalctl", "-u", unit, "--since", f"@{int(since)}", "--no-pager", "-o", "cat"],
        check=False, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    lines = [line for line in proc.stdout.decode("utf-8", errors="replace").splitlines() if "ALERT" in line]
    return "\n".join(lines[-10:])


def _show_proc(master: MasterClient | None) -> ProcessTable | None:
    if master is None:
        return None
    try:
        return master.show_proc()
    except DroverError:
        return None


def state_for_new_config(dump: str, live_text: str | None, new_text: str) -> tuple[str, list]:
    """The rows of a `show servers state` dump that the new configuration should inherit, and the servers dropped.

    A server whose definition (its `server` or `server-template` line, or the `default-server` lines that apply)
    differs between the live and the new configuration loses its saved state: the new configuration is the newer
    intent, e.g. the renderer put an instance into a slot that runs `disabled` at `0.0.0.0:0`, which the saved
    state would otherwise bring back. Without the live text nothing can be compared and the dump is kept whole.
    """
    if live_text is None:
        return dump, []
    live, new = server_definitions(live_text), server_definitions(new_text)
    kept, dropped, header = [], [], []
    for line in dump.splitlines():
        if not line.strip() or line.startswith("#") or not header:
            kept.append(line)
            if line.startswith("#"):
                header = line.lstrip("# ").split()
            continue
        row = dict(zip(header, line.split()))
        key = (row.get("be_name"), row.get("srv_name"))
        if key in live and live[key] == new.get(key):
            kept.append(line)
        else:
            dropped.append(f"{key[0]}/{key[1]}")
    return "\n".join(kept) + "\n", dropped


def dump_server_state(options: ReloadOptions, target: str, live_text: str | None = None, new_text: str | None = None) -> list | None:
    """Write the running worker's `show servers state` to `target` just before a reload, without the servers whose
    definition the new configuration changes. Returns the servers left out, or None when no runtime socket answers."""
    client = runtime_client(options)
    if client is None:
        return None
    dump = client.show_servers_state_text()
    dropped: list = []
    if new_text is not None:
        dump, dropped = state_for_new_config(dump, live_text, new_text)
    atomic_write(target, dump, 0o600)
    return dropped


def _strip_socket_prefix(address: str) -> str:
    for prefix in ("unix@", "ipv4@", "ipv6@", "tcp@"):
        if address.startswith(prefix):
            return address[len(prefix):]
    return address


def declares_stats_socket(config_text: str, address: str) -> bool:
    """Whether the configuration's global section binds `stats socket <address>`."""
    wanted = _strip_socket_prefix(address)
    for line in config_text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 3 and words[0] == "stats" and words[1] == "socket" and _strip_socket_prefix(words[2].strip('"')) == wanted:
            return True
    return False


def _master_gone(pid: int | None) -> bool:
    """Whether a master we could see in /proc before the reload has exited (None: it was not visible from here)."""
    return pid is not None and (not os.path.exists(f"/proc/{pid}") or process_gone(pid))


def _answers_from(client: RuntimeClient, pids: list) -> bool:
    try:
        return int(client.show_info().get("Pid", "0")) in pids
    except (DroverError, ValueError):
        return False


def reload_and_verify(options: ReloadOptions, method: str, config_text: str = "") -> ReloadOutcome:
    """Trigger one reload and wait until a new worker is serving, or the reload is known to have failed.

    Success needs all of: the master's reload counter grew, `[failed: N]` did not, a worker pid that was not there
    before is listed under `# workers`, and that worker answers `show info` on the admin socket (when the admin socket
    answered before and the new configuration still declares it), else through the master CLI (`@!<pid>`).
    """
    master = _master(options)
    before = _show_proc(master)
    admin = RuntimeClient(options.admin_socket, options.socket_timeout) if options.admin_socket else None
    admin_usable = admin is not None and admin.reachable() and declares_stats_socket(config_text, options.admin_socket)
    log = _MasterLog.discover(options, before.master.pid if before else None)
    started = time.time()
    if method == "master_cli":
        if before is None:
            return ReloadOutcome(False, method, f"the master CLI socket {options.master_socket} does not answer: is HAProxy running?",
                                 attempted=False)
        master.reload()
    elif method == "systemd":
        proc = subprocess.run(
            ["systemctl", "reload", options.systemd_unit], check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        if proc.returncode != 0:
            words = proc.stdout.decode("utf-8", errors="replace").strip()
            return ReloadOutcome(False, method, f"systemctl reload {options.systemd_unit} failed: {words}",
                                 _journal_since(options.systemd_unit, started))
        if before is None:
            active = _systemd_active(options.systemd_unit)
            return ReloadOutcome(active, method, "" if active else f"{options.systemd_unit} is not active after the reload",
                                 _journal_since(options.systemd_unit, started), verified=False)
    else:
        raise DroverError(f"cannot reload through {method!r}")

    old_workers = set(before.worker_pids)
    watched = before.master.pid if os.path.exists(f"/proc/{before.master.pid}") else None
    deadline = time.monotonic() + options.reload_timeout
    new_pids: list = []
    while time.monotonic() < deadline:
        table = _show_proc(master)  # None while the master re-executes itself
        if table is None and _master_gone(watched):
            return ReloadOutcome(False, method, "the HAProxy master exited during the reload", log.news())
        if table is not None:
            if table.failed_reloads > before.failed_reloads:
                words = log.news() or (_journal_since(options.systemd_unit, started) if method == "systemd" else "")
                return ReloadOutcome(False, method, "HAProxy refused the new configuration (the master's failed-reload counter grew)", words)
            new_pids = [pid for pid in table.worker_pids if pid not in old_workers]
            if table.reloads > before.reloads and new_pids:
                break
        time.sleep(options.poll)
    else:
        return ReloadOutcome(False, method, f"no new worker appeared within {options.reload_timeout:g} s", log.news())

    if admin_usable:
        probe, where = admin, f"the admin socket {options.admin_socket}"
    else:
        probe, where = RuntimeClient(options.master_socket, options.socket_timeout, prefix=f"@!{new_pids[0]} "), "the master CLI"
    while time.monotonic() < deadline:
        if _answers_from(probe, new_pids):
            return ReloadOutcome(True, method, new_worker_pids=new_pids)
        table = _show_proc(master)
        if (table is None and _master_gone(watched)) or (table is not None and not set(new_pids) & set(table.worker_pids)):
            return ReloadOutcome(False, method, f"the new worker {new_pids} exited right after it started", log.news())
        time.sleep(options.poll)
    return ReloadOutcome(False, method, f"the new worker {new_pids} never answered on {where}", log.news())


# -- apply ---------------------------------------------------------------------------------------------------------


def _diff(path: str, before: str | None, after: str) -> dict:
    return {"before": before or "", "after": after, "before_header": path if before is not None else "/dev/null", "after_header": path}


def _sync_runtime_maps(options: ReloadOptions, maps: dict, config_dir: str, config_text: str, check_mode: bool,
                       result: ApplyResult) -> None:
    """Bring the running HAProxy's maps to the desired entries with an atomic prepare/add/commit, no reload."""
    if not maps:
        return
    client = runtime_client(options)
    table = _show_proc(_master(options))
    base = relative_base(config_text, config_dir, _process_cwd(table.master.pid if table else None))
    if not maps:
        return
    if client is None:
        result.warnings.append("no runtime socket answers: map files are written, the running HAProxy is not updated")
        return
    loaded: dict = {}
    for rel, text in sorted(maps.items()):
        kind = pattern_kind(rel)
        if kind not in loaded:
            loaded[kind] = client.show_maps(kind)
        infos = maps_for_file(loaded[kind], os.path.join(config_dir, rel), base)
        if not infos:
            result.warnings.append(f"{kind} {rel} is not loaded by the running HAProxy: written to disk only")
            continue
        desired = parse_map_text(text)
        for info in infos:
            if client.show_map(info.ref, kind=kind) == desired:
                continue
            update = {"map": rel, "id": info.ref, "entries": len(desired)}
            if not check_mode:
                update["version"] = client.replace_map(info.ref, desired, kind=kind)
            result.runtime_map_updates.append(update)


def _wait_for_reload(state_dir: str, options: ReloadOptions, my_generation: int, my_write: float) -> ReloadState | None:
    """The debounce: wait until writes stop for `debounce` s (at most `debounce_max` s after our own write), or until
    another run has reloaded our generation. Returns that run's state, or None when this run must reload."""
    while True:
        state = load_state(state_dir)
        if state.reloaded_generation >= my_generation:
            return state
        now = time.time()
        if now - state.written_at >= options.debounce or now - my_write >= options.debounce_max:
            return None
        time.sleep(options.poll)


def _result_from_other_run(state: ReloadState, result: ApplyResult) -> ApplyResult:
    last = state.last_reload or {}
    if not last.get("ok", False):
        raise ReloadFailedError(
            "a concurrent run reloaded HAProxy with this change and the reload failed: " + last.get("message", "unknown error"),
            last.get("haproxy_message", ""), rolled_back=bool(last.get("rolled_back")), rollback_ok=bool(last.get("rollback_ok")),
        )
    result.reloaded = bool(last.get("reloaded", True))
    result.coalesced = True
    result.reload_method = last.get("method")
    result.new_worker_pids = list(last.get("new_worker_pids", []))
    return result


def _do_reload(path: str, state_dir: str, options: ReloadOptions, manager: str, result: ApplyResult) -> None:
    """Under the lock: dump server state, reload, verify; on failure roll back, reload again, and raise."""
    state = load_state(state_dir)
    target = state.generation
    config_text = read_text(path) or ""
    before = _show_proc(_master(options))
    cwd = _process_cwd(before.master.pid if before else None)
    state_file = options.server_state_file or server_state_path(config_text, os.path.dirname(path), cwd)
    result.server_state_file = state_file
    live_text = _snapshot_text(state_dir, state, path)
    if state_file is None:
        result.warnings.append("no server-state-file in the global section: runtime weights and states will not survive the reload")
    else:
        dropped = dump_server_state(options, state_file, live_text, config_text)
        if dropped is None:
            result.warnings.append("no runtime socket answered: server state was not dumped before the reload")
        else:
            result.servers_from_config = dropped

    outcome = reload_and_verify(options, manager, config_text)
    if outcome.ok:
        _clear_snapshot(state_dir, state)
        state.reloaded_generation = target
        state.last_reload = {"ok": True, "reloaded": True, "method": manager, "generation": target, "at": time.time(),
                             "new_worker_pids": outcome.new_worker_pids}
        save_state(state_dir, state)
        result.reloaded = True
        result.reload_method = manager
        result.new_worker_pids = outcome.new_worker_pids
        if not outcome.verified:
            result.warnings.append("the reload could not be verified: the master CLI socket does not answer")
        return

    if not outcome.attempted:
        # No reload happened, so the new files were never tried: keep them pending for the next run.
        raise ReloadFailedError(f"could not reload through {manager}: {outcome.message}")
    restored = _restore_snapshot(state_dir, state)
    rollback = None
    if restored:
        if state_file is not None:
            dump_server_state(options, state_file)
        rollback = reload_and_verify(options, manager, read_text(path) or "")
    _clear_snapshot(state_dir, state)
    state.reloaded_generation = target
    message = f"reload through {manager} failed: {outcome.message}"
    if outcome.haproxy_message:
        message += "\nHAProxy said:\n" + outcome.haproxy_message
    if rollback is None:
        message += "\nnothing to roll back to: no earlier configuration was kept"
    elif rollback.ok:
        message += f"\nrolled back to the previous configuration ({', '.join(restored)}); it is serving again"
    else:
        message += f"\nrolled back the files ({', '.join(restored)}) but reloading them failed too: {rollback.message}"
    state.last_reload = {"ok": False, "method": manager, "generation": target, "at": time.time(), "message": message,
                         "haproxy_message": outcome.haproxy_message, "rolled_back": bool(restored),
                         "rollback_ok": bool(rollback and rollback.ok)}
    save_state(state_dir, state)
    raise ReloadFailedError(message, outcome.haproxy_message, rolled_back=bool(restored), rollback_ok=bool(rollback and rollback.ok))


def _slot_plan(options: ReloadOptions, manager: str, pending: bool, live_text: str | None, new_text: str) -> tuple | None:
    """(runtime client, slot changes) when the new haproxy.cfg can go live through the runtime API; None: reload.

    Only when HAProxy runs (a reload would otherwise happen), no reload is pending (so the file on disk is what runs),
    the texts differ in slot server lines only, a runtime socket answers, and every server named exists there.
    """
    if manager not in RELOADERS or pending or live_text is None:
        return None
    changes = slot_changes(live_text, new_text)
    if not changes:
        return None
    client = runtime_client(options)
    if client is None or missing_servers(client, changes):
        return None
    return client, changes


def _apply_slots_at_runtime(path: str, new_text: str, maps: dict, changed_maps: list, state_dir: str, state: ReloadState,
                            options: ReloadOptions, plan: tuple, result: ApplyResult) -> bool:
    """Under the lock: fill the new slots, replace the maps, free the old slots, then write haproxy.cfg as live.

    Fills come before the maps so that a route whose weight grows has its instances in rotation, and frees after,
    when the maps no longer send traffic there. Returns False when a runtime command failed: the caller reloads,
    which makes HAProxy run the new file whatever was applied. Raises InstancesNotHealthyError (nothing written).
    """
    client, changes = plan
    config_dir = os.path.dirname(path)
    # the rollback target, should this fall back to a reload
    _snapshot(state_dir, state, [path] + [os.path.join(config_dir, rel) for rel in changed_maps])
    try:
        fill_slots(client, changes, options.health_timeout, options.poll)
        for rel in changed_maps:
            atomic_write(os.path.join(config_dir, rel), maps[rel])
        _sync_runtime_maps(options, maps, config_dir, new_text, False, result)
        free_slots(client, changes)
    except InstancesNotHealthyError:
        _clear_snapshot(state_dir, state)
        raise
    except DroverError as exc:
        result.warnings.append(f"the slot changes could not be applied at runtime ({exc}); reloading instead, so that HAProxy runs the new haproxy.cfg")
        return False
    if options.backup:
        result.backup_file = backup_file(path)
    atomic_write(path, new_text)
    _clear_snapshot(state_dir, state)
    state.generation += 1
    state.reloaded_generation = state.generation
    state.written_at = time.time()
    result.runtime_server_updates = runtime_updates(changes)
    state.last_runtime_update = {"generation": state.generation, "at": state.written_at, "updates": result.runtime_server_updates}
    save_state(state_dir, state)
    result.changed = True
    return True


def apply_config(path: str, new_text: str, maps: dict | None = None, options: ReloadOptions | None = None) -> ApplyResult:
    """Make haproxy.cfg at `path` and its `maps` ({path relative to the config dir: content}) live, safely.

    Raises ConfigInvalidError (nothing written), ReloadFailedError (rolled back), LockTimeoutError or DroverError.
    """
    options = options or ReloadOptions()
    path = os.path.abspath(path)
    maps = normalize_map_paths(maps)
    state_dir = _state_dir(path, options)
    result = ApplyResult()
    if options.check_mode:
        return _plan_only(path, new_text, maps, options, state_dir, result)
    with ConfigLock(state_dir, options.lock_timeout, options.poll):
        pending = _apply_locked(path, new_text, maps, options, state_dir, result, _Companions())
    return _reload_if_needed(path, state_dir, options, result, pending)


def apply_parts(path: str, head: str, parts: dict, maps: dict | None = None, options: ReloadOptions | None = None) -> ApplyResult:
    """Write some parts of a shared load balancer and make the assembled haproxy.cfg live, safely (haproxy/parts.py).

    `head`: the haproxy role's head; `parts`: {part: text, or None to remove it}; `maps`: {part: {relative path:
    content}}. The other parts are read from the load balancer and left as they are. A configuration written before
    parts existed is taken over: its sections become parts. Raises PartConflictError (nothing written) when a part
    claims a listener, a section or a virtual host another part holds, and what apply_config raises.
    """
    options = options or ReloadOptions()
    path = os.path.abspath(path)
    maps = {name: normalize_map_paths(part_maps) for name, part_maps in (maps or {}).items()}
    state_dir = _state_dir(path, options)
    result = ApplyResult()
    if options.check_mode:
        new_text, all_maps, companions = _assemble_parts(path, head, parts, maps)
        with _naming_refused_lines(new_text):
            return _plan_only(path, new_text, all_maps, options, state_dir, result, companions)
    with ConfigLock(state_dir, options.lock_timeout, options.poll):
        new_text, all_maps, companions = _assemble_parts(path, head, parts, maps)
        with _naming_refused_lines(new_text):
            pending = _apply_locked(path, new_text, all_maps, options, state_dir, result, companions)
    return _reload_if_needed(path, state_dir, options, result, pending)


_PARSING_LINE = re.compile(r"parsing \[[^\]]+:(\d+)\]")


def refused_line_texts(output: str, config_text: str) -> dict:
    """{line number: text} of the candidate's lines that `haproxy -c` output names."""
    lines = config_text.splitlines()
    numbers = {int(match.group(1)) for match in _PARSING_LINE.finditer(output)}
    return {number: lines[number - 1] for number in sorted(numbers) if 0 < number <= len(lines)}


@contextlib.contextmanager
def _naming_refused_lines(config_text: str):
    """A refused candidate assembled here keeps the lines HAProxy names: the controller maps them back to the YAML."""
    try:
        yield
    except ConfigInvalidError as exc:
        exc.refused_lines = refused_line_texts(exc.output, config_text)
        raise


def check_parts(path: str, head: str, parts: dict) -> None:
    """Raise PartConflictError when writing `parts` ({part: text or None}) would clash with the parts on this load
    balancer; read only, no lock, no `haproxy -c` (HAProxy need not be installed yet). A deploy calls it before it
    starts any container, so a clash changes nothing anywhere."""
    _assemble_parts(os.path.abspath(path), head, parts, {})


@dataclass
class _Companions:
    """What changes with haproxy.cfg that HAProxy does not read: files whose content differs (the parts, the head),
    files that exist and go (maps a part no longer names), and the diff to show instead of haproxy.cfg's (a part's
    own). Built from what is on disk, so nothing here needs reading again."""

    files: dict = field(default_factory=dict)
    delete: list = field(default_factory=list)
    diff: list | None = None

    def changed(self) -> bool:
        return bool(self.files or self.delete)


def _state_dir(path: str, options: ReloadOptions) -> str:
    return os.path.abspath(options.state_dir or os.path.join(os.path.dirname(path), ".drover"))


def _assemble_parts(path: str, head: str, wanted: dict, maps: dict) -> tuple:
    """(haproxy.cfg, its maps, the companions) for writing `wanted` ({part: text or None}) beside the parts on disk."""
    config_dir = os.path.dirname(path)
    on_disk = read_parts(path)
    current = read_text(path)
    taken_over = {}
    # a configuration drover wrote with no parts beside it: one file from before parts existed, or parts lost
    if not on_disk and current and "rendered by drover.fleet" in current:
        _old_head, taken_over = split_single_file(current)
        on_disk = dict(taken_over)
    desired = dict(on_disk)
    for name, text in wanted.items():
        check_part_name(name)
        if text:
            desired[name] = text
        else:
            desired.pop(name, None)
    head_sections = parse_sections(head).sections
    problems = []
    for name, text in sorted(wanted.items()):
        if text:
            others = {other: parse_sections(desired[other]).sections for other in desired if other != name}
            problems += [problem for problem in conflicts(name, parse_sections(text).sections, others, head_sections) if problem not in problems]
    if problems:
        raise PartConflictError("refused before anything changed: " + "; ".join(problems))
    new_text = assemble(head, desired)
    all_maps = {}
    for name, text in desired.items():
        part_maps = maps.get(name)
        if part_maps is None:
            continue
        all_maps.update(part_maps)
    companions = _Companions()
    companions.diff = []
    for name in sorted(set(wanted) | set(taken_over)):
        file = part_path(path, name)
        before = read_text(file)
        after = desired.get(name)
        if after is None:
            if before is not None:
                companions.delete.append(file)
                companions.diff.append(_diff(file, before, ""))
            stale = map_files_of(before or on_disk.get(name, ""))
        else:
            if before != after:
                companions.files[file] = after
                companions.diff.append(_diff(file, before, after))
            stale = sorted(set(map_files_of(before or "")) - set(map_files_of(after)))
        companions.delete += [os.path.join(config_dir, rel) for rel in stale
                              if rel not in all_maps and os.path.exists(os.path.join(config_dir, rel))]
    head_file = os.path.join(parts_dir(path), HEAD_FILE)
    head_before = read_text(head_file)
    if head_before != head:
        companions.files[head_file] = head
        companions.diff.insert(0, _diff(head_file, head_before, head))
    return new_text, all_maps, companions


def _apply_locked(path: str, new_text: str, maps: dict, options: ReloadOptions, state_dir: str, result: ApplyResult,
                  companions: "_Companions") -> tuple | None:
    """The part of a change made under the lock: check, write, and either change the running HAProxy at runtime or
    leave a reload pending. Returns (generation, write time, manager) when this run must see a reload through."""
    config_dir = os.path.dirname(path)
    state = load_state(state_dir)
    current = read_text(path)
    current_maps = {rel: read_text(os.path.join(config_dir, rel)) for rel in maps}
    changed_maps = sorted(rel for rel, text in maps.items() if current_maps[rel] != text)
    config_changed = current != new_text
    result.config_changed = config_changed
    result.maps_changed = changed_maps
    result.diff = _result_diff(path, current, new_text, config_dir, current_maps, maps, changed_maps, companions)
    if config_changed or changed_maps:
        check_candidate(path, new_text, current, {rel: maps[rel] for rel in changed_maps}, options)
    companions_changed = companions.changed()
    _write_companions(companions, state_dir, state, config_changed)

    manager = detect_service_manager(options) if options.reload else "none"
    plan = _slot_plan(options, manager, state.pending, current, new_text) if config_changed else None
    if plan is not None and _apply_slots_at_runtime(path, new_text, maps, changed_maps, state_dir, state, options, plan, result):
        result.changed = result.changed or companions_changed
        return None
    will_reload = manager in RELOADERS and (config_changed or state.pending)
    if config_changed:
        _snapshot(state_dir, state, [path] + [os.path.join(config_dir, rel) for rel in changed_maps])
    # Maps first: a reload started by anyone must never see a config that names a map not yet written.
    for rel in changed_maps:
        atomic_write(os.path.join(config_dir, rel), maps[rel])
    if config_changed:
        if options.backup:
            result.backup_file = backup_file(path)
        atomic_write(path, new_text)
        state.generation += 1
        state.written_at = time.time()
    if not will_reload and manager != NOT_RUNNING:
        _sync_runtime_maps(options, maps, config_dir, new_text, False, result)
    if not will_reload:
        if state.pending and manager == NOT_RUNNING:
            # Nothing runs: the next start loads these files, so nothing is left pending.
            result.warnings.append("HAProxy is not running (no master CLI, no systemd unit): files written, nothing reloaded")
            state.reloaded_generation = state.generation
            _clear_snapshot(state_dir, state)
        elif state.pending:
            result.warnings.append("reloading is off: the new haproxy.cfg is written but not live until HAProxy reloads")
    save_state(state_dir, state)
    result.changed = bool(config_changed or changed_maps or result.runtime_map_updates or will_reload or companions_changed)
    return (state.generation, state.written_at, manager) if will_reload else None


def _result_diff(path, current, new_text, config_dir, current_maps, maps, changed_maps, companions) -> list:
    map_diffs = [_diff(os.path.join(config_dir, rel), current_maps[rel], maps[rel]) for rel in changed_maps]
    if companions.diff is not None:
        return companions.diff + map_diffs
    return ([_diff(path, current, new_text)] if current != new_text else []) + map_diffs


def _write_companions(companions: "_Companions", state_dir: str, state: ReloadState, config_changed: bool) -> None:
    """Write the parts and delete stale maps; kept in the rollback snapshot with haproxy.cfg when that changes."""
    if config_changed:
        _snapshot(state_dir, state, sorted(companions.files) + sorted(companions.delete))
    for file, text in companions.files.items():
        os.makedirs(os.path.dirname(file), mode=0o750, exist_ok=True)
        atomic_write(file, text)
    for file in companions.delete:
        os.unlink(file)


def _reload_if_needed(path: str, state_dir: str, options: ReloadOptions, result: ApplyResult, pending: tuple | None) -> ApplyResult:
    if pending is None:
        return result
    my_generation, my_write, manager = pending
    other = _wait_for_reload(state_dir, options, my_generation, my_write)
    if other is not None:
        return _result_from_other_run(other, result)
    with ConfigLock(state_dir, options.lock_timeout, options.poll):
        state = load_state(state_dir)
        if state.reloaded_generation >= my_generation:
            return _result_from_other_run(state, result)
        _do_reload(path, state_dir, options, manager, result)
    return result


def _plan_only(path: str, new_text: str, maps: dict, options: ReloadOptions, state_dir: str, result: ApplyResult,
               companions: _Companions | None = None) -> ApplyResult:
    """Check mode: validate and report what would change; write nothing, reload nothing, take no lock."""
    companions = companions or _Companions()
    config_dir = os.path.dirname(path)
    current = read_text(path)
    current_maps = {rel: read_text(os.path.join(config_dir, rel)) for rel in maps}
    changed_maps = sorted(rel for rel, text in maps.items() if current_maps[rel] != text)
    result.config_changed = current != new_text
    result.maps_changed = changed_maps
    result.diff = _result_diff(path, current, new_text, config_dir, current_maps, maps, changed_maps, companions)
    if result.config_changed or changed_maps:
        check_candidate(path, new_text, current, {rel: maps[rel] for rel in changed_maps}, options)
    pending = load_state(state_dir).pending if os.path.isdir(state_dir) else False
    manager = detect_service_manager(options) if options.reload else "none"
    plan = _slot_plan(options, manager, pending, current, new_text) if result.config_changed else None
    if plan is not None:
        result.runtime_server_updates = runtime_updates(plan[1])
        _sync_runtime_maps(options, maps, config_dir, new_text, True, result)
        result.changed = True
        return result
    will_reload = manager in RELOADERS and (result.config_changed or pending)
    if not will_reload and manager != NOT_RUNNING:
        _sync_runtime_maps(options, maps, config_dir, new_text, True, result)
    result.reloaded = will_reload
    result.reload_method = manager if will_reload else None
    result.changed = bool(result.config_changed or changed_maps or result.runtime_map_updates or will_reload or companions.changed())
    return result
