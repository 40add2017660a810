# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options for HAProxy's runtime sockets, shared by the haproxy_* modules (specs in module_utils/haproxy/module_args.py,
defaults in module_utils/haproxy/sockets.py)."""

from __future__ import annotations


class ModuleDocFragment:
    """The admin socket (DOCUMENTATION) and the master CLI socket (MASTER)."""

    DOCUMENTATION = r"""
options:
  admin_socket:
    description:
      - HAProxy's admin socket, declared in C(global) with C(stats socket <path> level admin).
      - A unix socket path, or V(host:port) for a TCP socket. HAProxy's prefixes V(unix@), V(ipv4@) and V(ipv6@) are accepted.
    type: str
    default: /run/haproxy/admin.sock
    aliases: [socket]
  timeout:
    description:
      - Seconds to wait for each answer on a runtime socket.
    type: float
    default: 5.0
"""

    MASTER = r"""
options:
  master_socket:
    description:
      - The master CLI socket of HAProxy running in master-worker mode (C(haproxy -W -S <path>)).
      - Debian's systemd unit creates V(/run/haproxy-master.sock).
    type: str
    default: /run/haproxy-master.sock
"""
