# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start-up problems `haproxy -c` cannot see, found before a reload is tried.

Why: on HAProxy 2.6, a reload whose new listener cannot bind (address in use, address not on this host) is retried
for about two seconds while the old worker's listeners are *paused*, so clients get "connection refused" even though
the reload then fails and the old worker resumes (measured here: tens of thousands of refused connection attempts
from four looping clients). A missing `chroot` directory is worse: the new worker dies after fork, and without
`master-worker no-exit-on-failure` the master kills every process. Checking these before the reload means such a
configuration is refused while the old one keeps serving untouched.
"""

from __future__ import annotations

import errno
import os
import socket

from ansible_collections.drover.fleet.plugins.module_utils.haproxy.cfg_scan import section_lines

# Bind options that make an address legitimately non-local or bound elsewhere: not checked from here.
_UNCHECKABLE_OPTIONS = {"transparent", "freebind", "namespace", "interface"}
_STREAM_PREFIXES = ("ipv4@", "ipv6@", "tcp@", "tcp4@", "tcp6@")
_SKIPPED_PREFIXES = ("unix@", "abns@", "fd@", "sockpair@", "udp@", "udp4@", "udp6@", "quic4@", "quic6@", "uxst@", "uxdg@")
MAX_PORTS_PER_RANGE = 64


def _addresses(token: str) -> list:
    """(family, host, port) for each stream address in one bind argument (comma lists, port ranges)."""
    found = []
    for part in token.split(","):
        part = part.strip().strip('"')
        if not part or "$" in part or part.startswith("/") or part.startswith(_SKIPPED_PREFIXES):
            continue
        for prefix in _STREAM_PREFIXES:
            if part.startswith(prefix):
                part = part[len(prefix):]
                break
        host, sep, ports = part.rpartition(":")
        if not sep:
            continue
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        if host in ("", "*"):
            host = "0.0.0.0"
        low, _dash, high = ports.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            continue
        first, last = int(low), int(high or low)
        for port in range(first, min(last, first + MAX_PORTS_PER_RANGE - 1) + 1):
            found.append((family, host, port))
    return found


def listeners(config_text: str) -> set:
    """Every TCP address the configuration listens on: `bind` lines and TCP `stats socket`s."""
    found = set()
    for line in section_lines(config_text):
        section, words = line.keyword, line.words
        if section in ("frontend", "listen") and words[0] == "bind" and len(words) > 1:
            if _UNCHECKABLE_OPTIONS.intersection(words[2:]):
                continue
            found.update(_addresses(words[1]))
        elif section == "global" and words[:2] == ["stats", "socket"] and len(words) > 2:
            found.update(_addresses(words[2]))
    return found


def _bind_problem(family: int, host: str, port: int) -> str | None:
    """Try the bind HAProxy will do (SO_REUSEADDR and SO_REUSEPORT, as HAProxy sets them on Linux)."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use by another process"
            if exc.errno == errno.EADDRNOTAVAIL:
                return "is not an address of this host"
            return None  # e.g. EACCES when not root: HAProxy itself may still bind it
    return None


def preflight_problems(new_text: str, live_text: str | None) -> list:
    """What would stop the new configuration's worker from starting, checked without touching HAProxy.

    Listeners the live configuration already has are skipped: the new worker inherits them from the old one.
    """
    problems = []
    inherited = listeners(live_text or "")
    for family, host, port in sorted(listeners(new_text) - inherited, key=lambda item: (item[1], item[2])):
        reason = _bind_problem(family, host, port)
        if reason:
            shown = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
            problems.append(f"bind {shown} {reason}")
    for line in section_lines(new_text):
        words = line.words
        if line.keyword == "global" and words[0] == "chroot" and len(words) > 1 and not os.path.isdir(words[1]):
            problems.append(f"chroot directory {words[1]} does not exist")
    return problems
