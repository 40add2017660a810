# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names drover gives what it writes into haproxy.cfg and its map files, and the patterns that read them back.

The routing plan and the renderer build every name with the functions here; `drover status` reads a running
configuration back with the patterns here (haproxy/cfg_routing.py, fleet/status.py). A name is built and parsed in
this one place, so the two sides cannot drift apart.

Identifiers are derived from artifact names, limited to [A-Za-z0-9_.:-] and suffixed with a short hash of the
original text, so two names that sanitize alike never collide and the same input always gives the same names.
"""

from __future__ import annotations

import hashlib
import os
import re

from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import HTTP, TCP

FRONTEND_PREFIX = "fe"
BACKEND_PREFIX = "bk"
# the backends a request without a route ends in: an empty backend, so HTTP 503 or a closed connection
UNROUTED_PREFIX = "drover_unrouted_"
UNROUTED_BACKEND = {HTTP: f"{UNROUTED_PREFIX}http", TCP: f"{UNROUTED_PREFIX}tcp"}
# the variables the renderer sets: the client's route cookie, the cookie's name for shared route backends, and the
# gateway the shared virtual-host frontend chose
ROUTE_COOKIE_VAR = "txn.drover_rc"
ROUTE_COOKIE_NAME_VAR = "txn.drover_rcn"
VHOST_VAR = "txn.drover_vhost"
# `live_<backend>`: the ACL that holds while the backend has a live server
LIVE_ACL_PREFIX = "live_"
# a stage's token in its frontend's main map: `@<route number>`
STAGE_TOKEN_PREFIX = "@"
# the ACL file of the backends that have a weight now: `<maps_dir>/<frontend>.weighted.acl`
WEIGHTED_ROUTES = "weighted"
# the comments above each section, naming what a generated name stands for
GATEWAY_COMMENT = "gateway "
ROUTE_TARGET_COMMENT = "route target "
SLOT_PREFIX = "slot"

# Patterns of the names above, for the reader of a running configuration (cfg_routing.py).
LIVE_ACL_PATTERN = re.escape(LIVE_ACL_PREFIX) + r"\S+"
STAGE_TOKEN_PATTERN = re.escape(STAGE_TOKEN_PREFIX) + r"\S+"
ROUTE_COOKIE_VAR_PATTERN = re.escape(ROUTE_COOKIE_VAR)
# what the first sticky rule (older renders: an http-request rule) sets: the route cookie, or its name
ROUTE_COOKIE_VARS_PATTERN = f"(?:{re.escape(ROUTE_COOKIE_NAME_VAR)}|{re.escape(ROUTE_COOKIE_VAR)})"
VHOST_VAR_PATTERN = re.escape(VHOST_VAR)
UNROUTED_PATTERN = re.escape(UNROUTED_PREFIX)

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.:-]+")
_NAME_LABEL_LIMIT = 48
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@+~!\[\] >-]")


def short_hash(*parts: str, length: int = 6) -> str:
    """A short, stable hash of `parts`: the same input gives the same name on every machine and run."""
    return hashlib.sha1("\0".join(parts).encode("utf-8")).hexdigest()[:length]


def haproxy_name(prefix: str, label: str, variant: str = "") -> str:
    """An HAProxy identifier for `label`: readable, limited to [A-Za-z0-9_.:-], and made unique by a hash of the
    original text and `variant` (two labels that sanitize alike still get different names)."""
    readable = _UNSAFE_NAME_CHARS.sub("_", label).strip("_")[:_NAME_LABEL_LIMIT]
    digest = short_hash(prefix, label, variant) if variant else short_hash(prefix, label)
    return f"{prefix}_{readable}_{digest}" if readable else f"{prefix}_{digest}"


# -- sections ----------------------------------------------------------------------------------------------------------


def frontend_name(label: str) -> str:
    """The frontend of the gateway `label` (`sava/9050`, or a standalone gateway's name)."""
    return haproxy_name(FRONTEND_PREFIX, label)


def backend_name(target: str, variant: str = "") -> str:
    """The backend of a route target (`<blueprint>/<cluster>/<breed>`, `[host:port]`); `variant` tells apart the
    backends of one target reached with different settings."""
    return haproxy_name(BACKEND_PREFIX, target, variant)


def is_unrouted(backend: str) -> bool:
    return backend.startswith(UNROUTED_PREFIX)


def slot_name(number: int) -> str:
    """The server of slot `number` in a service backend."""
    return f"{SLOT_PREFIX}{number}"


def comment(text: str) -> str:
    """Text for a `#` comment line: names only, nothing that could end the line."""
    return _COMMENT_UNSAFE.sub("?", text)


def gateway_comment(label: str) -> str:
    return comment(GATEWAY_COMMENT + label)


def route_target_comment(target: str) -> str:
    return comment(ROUTE_TARGET_COMMENT + target)


def section_label(name: str, comment_text: str) -> str:
    """What a generated section name stands for: the text after `gateway ` or `route target ` in the renderer's
    comment above it; otherwise the section's own name."""
    for prefix in (GATEWAY_COMMENT, ROUTE_TARGET_COMMENT):
        if comment_text.startswith(prefix):
            return comment_text[len(prefix):].strip() or name
    return name


# -- inside a frontend -------------------------------------------------------------------------------------------------


def frontend_tag(label: str) -> str:
    """The per-gateway prefix of its ACL and variable names."""
    return f"d{short_hash('tag', label)}"


def condition_key(route: int, inner: int | None = None) -> str:
    """A condition's key in its frontend: `c<route>`, or `c<route>_<inner route>` inside a cluster route."""
    return f"c{route}" if inner is None else f"c{route}_{inner}"


def condition_var(tag: str, key: str) -> str:
    """The variable a condition's draw is kept in (`acl_prefix` names its ACLs)."""
    return f"txn.{acl_prefix(tag, key)}"


def acl_prefix(tag: str, key: str) -> str:
    return f"{tag}_{key}"


def pick_var(tag: str, suffix: str = "") -> str:
    """The variable a weighted pick keeps the backend (or stage token) it drew in."""
    return f"txn.{tag}_to{suffix}"


def live_acl(backend: str) -> str:
    """The name of the ACL that holds while `backend` has a live server."""
    return f"{LIVE_ACL_PREFIX}{backend}"


def live_acl_backend(name: str) -> str | None:
    """The backend a `live_<backend>` ACL name is about; None for another name."""
    return name[len(LIVE_ACL_PREFIX):] if name.startswith(LIVE_ACL_PREFIX) and len(name) > len(LIVE_ACL_PREFIX) else None


def stage_token(route: int) -> str:
    """What the main map of a two-step frontend names for the cluster route number `route`."""
    return f"{STAGE_TOKEN_PREFIX}{route}"


# -- cookies -----------------------------------------------------------------------------------------------------------


def route_cookie_name(frontend: str) -> str:
    """One route cookie per sticky frontend: browsers do not tell ports apart."""
    return f"DRV_{short_hash('route', frontend, length=8)}"


def route_cookie_value(backend: str) -> str:
    """The route cookie's value that names `backend`: a hash, so no internal name leaks."""
    return short_hash("route-cookie", backend, length=10)


def instance_cookie_name(backend: str) -> str:
    return f"DRVI_{short_hash('instance', backend, length=8)}"


# -- files beside haproxy.cfg --------------------------------------------------------------------------------------


def _file_stem(frontend: str) -> str:
    return frontend.replace(":", "_")


def weights_map_name(frontend: str, suffix: str = "") -> str:
    """A weighted map of `frontend`: its main pick (no suffix), a stage's (`stage_suffix`) or the rest of a condition
    route's requests (`rest_suffix`)."""
    return f"{_file_stem(frontend)}{'.' + suffix if suffix else ''}"


def stage_suffix(route: int) -> str:
    return f"{route}s"


def rest_suffix(route: int) -> str:
    return f"{route}r"


def map_path(maps_dir: str, map_name: str) -> str:
    return f"{maps_dir}/{map_name}.map"


def frontend_acl_path(maps_dir: str, frontend: str, name: str) -> str:
    """An ACL file of one frontend beside its maps: `<maps_dir>/<frontend>.<name>.acl` (a condition's strength, named
    by its key, or WEIGHTED_ROUTES)."""
    return f"{maps_dir}/{_file_stem(frontend)}.{name}.acl"


def weights_map_role(frontend: str, path: str) -> int | None:
    """How the renderer named the map file `path` for `frontend`: 0 for its main pick, N for the stage of route N;
    None when it is none of them."""
    base = os.path.basename(path)
    stem = _file_stem(frontend)
    if base == f"{stem}.map":
        return 0
    match = re.fullmatch(re.escape(stem) + r"\.(\d+)s\.map", base)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


__all__ = [
    "BACKEND_PREFIX", "FRONTEND_PREFIX", "LIVE_ACL_PATTERN", "ROUTE_COOKIE_NAME_VAR", "ROUTE_COOKIE_VAR", "ROUTE_COOKIE_VARS_PATTERN",
    "STAGE_TOKEN_PATTERN", "UNROUTED_BACKEND", "UNROUTED_PATTERN", "UNROUTED_PREFIX", "VHOST_VAR", "VHOST_VAR_PATTERN", "WEIGHTED_ROUTES",
    "acl_prefix", "backend_name", "comment", "condition_key", "condition_var", "frontend_acl_path", "frontend_name", "frontend_tag",
    "gateway_comment", "haproxy_name", "instance_cookie_name", "is_unrouted", "live_acl", "live_acl_backend", "map_path", "pick_var",
    "rest_suffix", "route_cookie_name", "route_cookie_value", "route_target_comment", "section_label", "short_hash", "slot_name",
    "stage_suffix", "stage_token", "weights_map_name", "weights_map_role",
]
