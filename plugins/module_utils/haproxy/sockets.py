# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where HAProxy's runtime sockets are when nothing says otherwise: the one place for these defaults.

The modules' specs (module_args.py), the reload options, the renderer, the status code and the CLI read them from
here; the drover.fleet.haproxy_socket doc fragment repeats them as text (ansible-test's validate-modules compares the
two). They are Debian's: its systemd unit passes `-S /run/haproxy-master.sock`, its haproxy.cfg has a stats socket in
/run/haproxy/.
"""

from __future__ import annotations

DEFAULT_ADMIN_SOCKET = "/run/haproxy/admin.sock"
DEFAULT_MASTER_SOCKET = "/run/haproxy-master.sock"
