"""A `StatusSource` on a remote load balancer, over SSH with paramiko: the admin socket lives on that machine (often
in its own mount namespace), so it is asked from there.

How a batch of runtime commands runs: ONE `exec` per batch starts a small Python program on the load balancer (the
interpreter Ansible already needs there) that does what `RuntimeClient` does locally for each command: connect to
the socket, send the command, half-close, read to the end. Its answers come back as JSON. That is one round trip per
refresh, no answer is cut short by a fixed wait, and nothing is installed on the host. When the host has no Python,
each command goes through `socat` instead (one `exec` per command, `-t 30` so a long answer is not cut after
socat's default half second). Files (haproxy.cfg, the maps, the part files, /proc/<pid>/cmdline) are read over SFTP.
The machine's addresses (which load balancer holds a virtual IP) come from `ip -o addr` on the same connection.

The connection stays open between refreshes (`drover status --watch`) and is opened again if it drops.
"""

from __future__ import annotations

import json
import re
import shlex
import socket

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError
from ansible_collections.drover.fleet.plugins.module_utils.fleet.status_source import StatusSource
from ansible_collections.drover.fleet.plugins.module_utils.haproxy.runtime import RuntimeConnectionError, parse_socket_address

from drover_cli.ssh_target import SshTarget

try:
    import paramiko
except ImportError:  # pragma: no cover - paramiko is a dependency of the CLI
    paramiko = None

COMMAND_NOT_FOUND = 127
_IP_ADDRESS = re.compile(r"\binet6?\s+([0-9A-Fa-f.:]+)(?:/\d+)?")
_FAMILIES = {socket.AF_UNIX: "unix", socket.AF_INET: "inet", socket.AF_INET6: "inet6"}

# Runs on the load balancer: stdin is {"timeout", "requests": [[family, address, command], ...]}; stdout a JSON list
# with, per request, {"answer": text} or {"error": text}. Python 3 standard library only.
REMOTE_QUERY = r"""
import json, socket, sys
request = json.load(sys.stdin)
families = {"unix": socket.AF_UNIX, "inet": socket.AF_INET, "inet6": socket.AF_INET6}
def ask(family, address, command):
    sock = socket.socket(families[family], socket.SOCK_STREAM)
    sock.settimeout(request["timeout"])
    try:
        sock.connect(address if family == "unix" else tuple(address))
        sock.sendall((command + "\n").encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return {"answer": b"".join(chunks).decode("utf-8", "replace")}
    except (OSError, ValueError) as exc:
        return {"error": getattr(exc, "strerror", None) or str(exc) or type(exc).__name__}
    finally:
        sock.close()
json.dump([ask(*item) for item in request["requests"]], sys.stdout)
"""


class SshConnectionError(RuntimeConnectionError):
    """The load balancer cannot be reached or refused the SSH login."""


class SshSource(StatusSource):
    """Runtime commands and files of the load balancer `target`, over one SSH connection."""

    def __init__(self, target: SshTarget, timeout: float = 10.0, reader: str = "auto"):
        if paramiko is None:
            raise DroverError("reading a remote load balancer needs the Python package paramiko (pip install paramiko)")
        if reader not in ("auto", "python", "socat"):
            raise DroverError(f"reader must be auto, python or socat, not {reader!r}")
        self.target = target
        self.timeout = float(timeout)
        self.reader = reader
        # which reader answered last: "python" or "socat" (for people and tests)
        self.used_reader: str | None = None
        self.description = f"ssh {target.describe()}"
        self._client = None
        self._sftp = None

    # -- the connection ----------------------------------------------------------------------------------------------

    def _connect(self):
        if self._client is not None and self._client.get_transport() is not None and self._client.get_transport().is_active():
            return self._client
        self.close()
        client = paramiko.SSHClient()
        try:
            client.load_system_host_keys()
        except (OSError, paramiko.SSHException):
            pass
        # AutoAddPolicy keeps an unknown key in memory only: known_hosts is never written.
        client.set_missing_host_key_policy(paramiko.RejectPolicy() if self.target.host_key_check else paramiko.AutoAddPolicy())
        try:
            client.connect(
                hostname=self.target.address, port=self.target.port, username=self.target.user, key_filename=self.target.key_file,
                timeout=self.timeout, banner_timeout=self.timeout, auth_timeout=self.timeout,
                look_for_keys=self.target.key_file is None, allow_agent=True,
            )
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise SshConnectionError(f"{self.target.describe()}: the host key does not match known_hosts ({exc})") from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SshConnectionError(f"{self.target.describe()}: SSH login refused ({exc})") from None
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            hint = " (unknown host key: add it to known_hosts, or pass --no-host-key-check)" if "not found in known_hosts" in str(exc) else ""
            raise SshConnectionError(f"cannot reach {self.target.describe()} over SSH: {exc}{hint}") from None
        self._client = client
        return client

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def run(self, command: str, stdin: bytes = b"") -> tuple:
        """(exit status, stdout, stderr) of `command` on the load balancer."""
        client = self._connect()
        try:
            channel = client.get_transport().open_session(timeout=self.timeout)
            channel.settimeout(max(self.timeout * 6, 30.0))
            channel.exec_command(command)
            if stdin:
                channel.sendall(stdin)
            channel.shutdown_write()
            out, err = bytearray(), bytearray()
            while True:
                chunk = channel.recv(65536)
                if not chunk:
                    break
                out.extend(chunk)
            while True:
                chunk = channel.recv_stderr(65536)
                if not chunk:
                    break
                err.extend(chunk)
            status = channel.recv_exit_status()
            channel.close()
        except (paramiko.SSHException, OSError) as exc:
            self.close()
            raise SshConnectionError(f"{self.target.describe()}: `{command.split()[0]}` did not complete over SSH: {exc}") from None
        return status, bytes(out).decode("utf-8", "replace"), bytes(err).decode("utf-8", "replace")

    # -- StatusSource --------------------------------------------------------------------------------------------------

    def ask(self, requests: list) -> list:
        if not requests:
            return []
        if self.reader in ("auto", "python"):
            answers = self._ask_python(requests)
            if answers is not None:
                self.used_reader = "python"
                return answers
            if self.reader == "python":
                raise SshConnectionError(f"{self.target.describe()}: no {self.target.python} to read the runtime API with")
        self.used_reader = "socat"
        return [self._ask_socat(socket_address, command) for socket_address, command in requests]

    def _unreachable(self, socket_address: str, why: str) -> RuntimeConnectionError:
        return RuntimeConnectionError(f"cannot reach the HAProxy socket {socket_address} on {self.target.describe()}: {why}")

    def _ask_python(self, requests: list):
        items = []
        for socket_address, command in requests:
            family, address = parse_socket_address(socket_address)
            items.append([_FAMILIES[family], address, command])
        payload = json.dumps({"timeout": self.timeout, "requests": items}).encode("utf-8")
        status, out, err = self.run(f"{shlex.quote(self.target.python)} -c {shlex.quote(REMOTE_QUERY)}", payload)
        if status == COMMAND_NOT_FOUND:
            return None
        try:
            replies = json.loads(out)
        except ValueError:
            raise SshConnectionError(f"{self.target.describe()}: the runtime API reader failed ({status}): {err.strip() or out.strip()}") from None
        return [self._unreachable(socket_address, reply["error"]) if "error" in reply else reply["answer"]
                for (socket_address, _command), reply in zip(requests, replies)]

    def _ask_socat(self, socket_address: str, command: str):
        family, address = parse_socket_address(socket_address)
        if family == socket.AF_UNIX:
            peer = f"UNIX-CONNECT:{address}"
        else:
            peer = f"TCP:{'[' + address[0] + ']' if family == socket.AF_INET6 else address[0]}:{address[1]}"
        status, out, err = self.run(f"socat -t 30 - {shlex.quote(peer)}", (command + "\n").encode("utf-8"))
        if status == COMMAND_NOT_FOUND:
            raise SshConnectionError(f"{self.target.describe()}: neither {self.target.python} nor socat is installed there")
        if status != 0:
            return self._unreachable(socket_address, err.strip().splitlines()[-1] if err.strip() else f"socat exited with {status}")
        return out

    def _sftp_client(self):
        if self._sftp is None:
            try:
                self._sftp = self._connect().open_sftp()
            except (paramiko.SSHException, OSError) as exc:
                raise SshConnectionError(f"{self.target.describe()}: SFTP is not available: {exc}") from None
        return self._sftp

    def read_text(self, path: str) -> str | None:
        sftp = self._sftp_client()
        try:
            with sftp.open(path, "r") as handle:
                return handle.read().decode("utf-8", "replace")
        except (IOError, OSError):
            return None

    def read_link(self, path: str) -> str | None:
        try:
            return self._sftp_client().readlink(path)
        except (IOError, OSError):
            return None

    def addresses(self) -> list | None:
        status, out, err = self.run("ip -o addr show")
        if status != 0:
            raise SshConnectionError(f"{self.target.describe()}: `ip -o addr show` failed ({status}): {err.strip()}")
        return parse_ip_addresses(out)


def parse_ip_addresses(text: str) -> list:
    """The addresses of `ip -o addr show`, one line per address: `2: eth0    inet 10.0.0.5/24 brd ...`."""
    return [match.group(1) for match in map(_IP_ADDRESS.search, text.splitlines()) if match]
