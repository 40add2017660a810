# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A load balancer shared by many blueprints: each deploy owns one *part* of haproxy.cfg, and only that.

haproxy.cfg is assembled on the load balancer from two kinds of file (docs/architecture.md, "Parts"):
- the head, written by the haproxy role: `global`, `defaults`, the stats listener, the no-route backends and the
  shell of the shared virtual-hosts frontend;
- one part per deploy, `drover.d/<part>.cfg` beside haproxy.cfg: that deploy's frontends and backends, the map and
  ACL files they load, and its virtual-host rules.

The load balancer is the source of truth: a run reads the other parts from its disk, never from the controller, and
refuses before anything changes when its part claims a port, a section name or a virtual host another part holds.
Sections a part shares with the assembled configuration are merged here: every part's pattern files go into one
`backend drover_pattern_files` before the first frontend, and every part's virtual-host rules into one
`frontend drover_virtual_hosts` behind the head's listener.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError

PARTS_DIR = "drover.d"
# the head as the haproxy role last wrote it, beside the parts (read by people and diffs; haproxy.cfg is what runs)
HEAD_FILE = "head.cfg"
PART_SUFFIX = ".cfg"
# a part is named after the artifact that owns it: `blueprint-<name>` or `gateway-<name>` (the DSL's name characters);
# `legacy` holds what a configuration written before parts held and no artifact can be found for
PART_KINDS = ("blueprint", "gateway")
PART_NAME = re.compile(r"(?:(?:blueprint|gateway)-[A-Za-z0-9_.:@+~!-]{1,200}|legacy)")
PATTERN_FILES = "drover_pattern_files"
VIRTUAL_HOSTS = "drover_virtual_hosts"
HEAD_MARK = "# drover head"
PART_MARK = "# drover part "
_PATTERN_ACL = re.compile(r"^acl\s+\S+\s+(.*)$")
_VHOST_RULE = re.compile(r"^http-request set-var\(\S+\) str\(\S+\) if \{ req\.hdr\(host\),(?:host_only|lower) -m (str|end) (.*) \}$")
_BIND = re.compile(r"^bind\s+(\S+)")


class PartConflictError(DroverError):
    """A part claims what another part of the same load balancer holds; nothing was changed."""


@dataclass
class Section:
    """One section of haproxy.cfg: its keyword (`frontend`, `backend`, ...), name, comment lines and body lines."""

    keyword: str
    name: str
    comments: list = field(default_factory=list)
    lines: list = field(default_factory=list)

    def text(self) -> str:
        head = "".join(f"{comment}\n" for comment in self.comments)
        body = "".join(f"    {line}\n" for line in self.lines)
        return f"{head}{self.keyword} {self.name}".rstrip() + "\n" + body


@dataclass
class ParsedConfig:
    """A configuration text as its leading comment lines and its sections, in order."""

    preamble: list
    sections: list


def part_key(kind: str, name: str) -> str:
    """The part of an artifact: `blueprint-<name>` or `gateway-<name>`."""
    return check_part_name(f"{kind}-{name}")


def describe(part: str) -> str:
    """A part as people read it: blueprint 'demo', gateway 'web'."""
    kind, _sep, name = part.partition("-")
    return f"{kind} {name!r}" if kind in PART_KINDS else f"part {part!r}"


def check_part_name(name: str) -> str:
    if not isinstance(name, str) or not PART_NAME.fullmatch(name):
        raise DroverError(f"part name {name!r}: blueprint-<name> or gateway-<name>, with a blueprint's or gateway's name "
                          "(it names the file drover.d/<part>.cfg on the load balancers)")
    return name


def parse_sections(text: str) -> ParsedConfig:
    """Sections of a rendered configuration. Comment lines directly above a section header belong to that section."""
    preamble, sections, pending = [], [], []
    current = None
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped:
            if pending and current is None:
                preamble.extend(pending)
                pending = []
            continue
        if stripped.startswith("#") and not raw[:1].isspace():
            pending.append(stripped)
            continue
        if not raw[:1].isspace():
            words = stripped.split(None, 1)
            current = Section(words[0], words[1].strip() if len(words) > 1 else "", pending)
            pending = []
            sections.append(current)
            continue
        if current is None:
            raise DroverError(f"configuration line outside any section: {stripped!r}")
        if not stripped.startswith("#"):
            current.lines.append(stripped)
    if current is None:
        preamble.extend(pending)
    return ParsedConfig(preamble, sections)


@dataclass
class Claims:
    """What a part holds on its load balancer: section names, listening addresses and virtual hosts."""

    names: set = field(default_factory=set)
    binds: set = field(default_factory=set)
    hosts: set = field(default_factory=set)


def claims_of(sections: list) -> Claims:
    claims = Claims()
    for section in sections:
        if section.name == VIRTUAL_HOSTS:
            for line in section.lines:
                match = _VHOST_RULE.match(line)
                if match:
                    prefix = "*" if match.group(1) == "end" else ""
                    claims.hosts.update(prefix + host for host in match.group(2).split())
                match = _BIND.match(line)
                if match:
                    claims.binds.add(match.group(1))
            continue
        if section.name == PATTERN_FILES:
            continue
        claims.names.add((section.keyword, section.name))
        for line in section.lines:
            match = _BIND.match(line)
            if match:
                claims.binds.add(match.group(1))
    return claims


def same_listener(first: str, second: str) -> bool:
    """Whether two `address:port` listeners overlap: the same port, and the same address or a wildcard. HAProxy accepts
    two `bind`s of one address (SO_REUSEPORT, `haproxy -c` says valid) and the kernel splits connections between them."""
    (host_a, _sep, port_a), (host_b, _sep2, port_b) = first.rpartition(":"), second.rpartition(":")
    if not (port_a.isdigit() and port_b.isdigit()):
        return first == second    # not an address and port (a unix socket): only the same one overlaps
    wildcard = ("", "*", "0.0.0.0", "::")
    host_a, host_b = host_a.strip("[]"), host_b.strip("[]")
    return int(port_a) == int(port_b) and (host_a == host_b or host_a in wildcard or host_b in wildcard)


def conflicts(name: str, sections: list, others: dict, head_sections: list = ()) -> list:
    """What part `name` (its `sections`) claims that another part (`others`: {part: sections}) or the head holds."""
    mine = claims_of(sections)
    problems = []
    head = claims_of(list(head_sections))
    for keyword, section in sorted(mine.names & head.names):
        problems.append(f"{keyword} {section} is a name the haproxy role's head uses")
    for bind in sorted(mine.binds):
        for theirs in sorted(head.binds):
            if same_listener(bind, theirs):
                problems.append(f"the listener {bind} is where the head listens ({theirs}: stats or virtual hosts)")
    for other in sorted(others):
        theirs = claims_of(others[other])
        for keyword, section in sorted(mine.names & theirs.names):
            problems.append(f"{keyword} {section} is already defined by {describe(other)}")
        for bind in sorted(mine.binds):
            for held in sorted(theirs.binds):
                if same_listener(bind, held):
                    problems.append(f"the listener {bind} is already claimed by {describe(other)} ({held})")
        for host in sorted(mine.hosts & theirs.hosts):
            problems.append(f"virtual host {host} is already claimed by {describe(other)}")
    return [f"{describe(name)}: {problem}" for problem in problems]


def _pattern_lines(sections: list) -> list:
    """The pattern-file ACLs of some sections, renamed in order so that several parts' lists merge."""
    return [match.group(1) for section in sections if section.name == PATTERN_FILES
            for match in (_PATTERN_ACL.match(line) for line in section.lines) if match]


def assemble(head_text: str, parts: dict) -> str:
    """haproxy.cfg from the head and the parts ({part name: part text}), parts in name order.

    The merged pattern-file backend comes after the head and before the first part's frontends; every part's
    virtual-host rules go into the head's `frontend drover_virtual_hosts`, which is left out when no part has any."""
    head = parse_sections(head_text)
    parsed = {name: parse_sections(parts[name]).sections for name in sorted(parts)}
    patterns = []
    vhost_lines = []
    own = []
    for name, sections in parsed.items():
        patterns.extend(_pattern_lines(sections))
        for section in sections:
            if section.name == VIRTUAL_HOSTS:
                vhost_lines.extend(section.lines)
            elif section.name != PATTERN_FILES:
                own.append(section)
    out = ["\n".join(head.preamble) + "\n" if head.preamble else ""]
    vhost_shell = None
    for section in head.sections:
        if section.name == VIRTUAL_HOSTS:
            vhost_shell = section
            continue
        out.append("\n" + section.text() if out[-1] else section.text())
    if patterns:
        merged = Section("backend", PATTERN_FILES, ["# the map and ACL files of every part, loaded once before the frontends name them"],
                         [f"acl file{index} {pattern}" for index, pattern in enumerate(patterns)])
        out.append("\n" + merged.text())
    for section in own:
        out.append("\n" + section.text())
    if vhost_lines and vhost_shell is not None:
        default = [line for line in vhost_shell.lines if line.startswith("default_backend")]
        shell = [line for line in vhost_shell.lines if not line.startswith("default_backend")]
        # HAProxy runs every http-request rule before any use_backend rule, and warns when a part's order says otherwise
        rules = [line for line in vhost_lines if line.startswith("http-request")]
        routing = [line for line in vhost_lines if not line.startswith("http-request")]
        merged = Section(vhost_shell.keyword, vhost_shell.name, vhost_shell.comments, shell + rules + routing + default)
        out.append("\n" + merged.text())
    return "".join(out)


def part_text(name: str, sections: list) -> str:
    """A part file: a mark naming the part, then its sections."""
    body = "\n".join(section.text() for section in sections)
    return f"{PART_MARK}{name}: written by drover.fleet, do not edit; haproxy.cfg is assembled from it\n\n{body}"


def parts_dir(config_path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), PARTS_DIR)


def part_path(config_path: str, name: str) -> str:
    return os.path.join(parts_dir(config_path), check_part_name(name) + PART_SUFFIX)


def read_parts(config_path: str) -> dict:
    """{part name: text} of the parts on this load balancer (none when the directory does not exist)."""
    directory = parts_dir(config_path)
    found = {}
    if not os.path.isdir(directory):
        return found
    for entry in sorted(os.listdir(directory)):
        stem, suffix = os.path.splitext(entry)
        if suffix != PART_SUFFIX or not PART_NAME.fullmatch(stem):
            continue
        with open(os.path.join(directory, entry), encoding="utf-8") as handle:
            found[stem] = handle.read()
    return found


def map_files_of(text: str) -> list:
    """The map and ACL files (relative to the configuration's directory) that a part's pattern-file backend loads."""
    files = []
    for pattern in _pattern_lines(parse_sections(text).sections):
        for match in re.finditer(r"(?:-f\s+|map_\w+\(|map\()([^\s,)]+)", pattern):
            files.append(match.group(1))
    return sorted(set(files))


_BLUEPRINT_OF_COMMENT = re.compile(r"^# (?:gateway|route target) ([^/\s]+)/")
_STANDALONE_GATEWAY_COMMENT = re.compile(r"^# gateway ([^/\s]+)$")


def split_single_file(config_text: str, default_part: str = "legacy") -> tuple:
    """Take over a configuration written before parts existed: (its head text, {part: part text}).

    A section goes to the part of the artifact its comment names (`# gateway demo/9050` and `# route target
    demo/shop/demo:1.0`: blueprint-demo; `# gateway web`: gateway-web), which is the part a later deploy of that
    artifact writes; the rest (external targets, virtual-host rules) goes to `default_part`. Each pattern file goes with the
    frontend whose name it carries. `global`, `defaults`, the stats listener, the no-route backends and the
    virtual-hosts listener are the head's."""
    parsed = parse_sections(config_text)
    head, parts, frontend_owner = [], {}, {}
    patterns = []
    for section in parsed.sections:
        if section.keyword in ("global", "defaults") or section.name == "drover_stats" or section.name.startswith("drover_unrouted"):
            head.append(section)
            continue
        if section.name == PATTERN_FILES:
            patterns = _pattern_lines([section])
            continue
        if section.name == VIRTUAL_HOSTS:
            shell = [line for line in section.lines if line.split()[0] in ("bind", "mode", "option", "default_backend")]
            head.append(Section(section.keyword, section.name, section.comments, shell))
            rules = [line for line in section.lines if line not in shell]
            parts.setdefault(default_part, []).append(Section(section.keyword, section.name, [], rules))
            continue
        owner = default_part
        for comment in section.comments:
            match = _BLUEPRINT_OF_COMMENT.match(comment)
            standalone = _STANDALONE_GATEWAY_COMMENT.match(comment)
            if match and PART_NAME.fullmatch(f"blueprint-{match.group(1)}"):
                owner = f"blueprint-{match.group(1)}"
            elif standalone and PART_NAME.fullmatch(f"gateway-{standalone.group(1)}"):
                owner = f"gateway-{standalone.group(1)}"
        parts.setdefault(owner, []).append(section)
        if section.keyword == "frontend":
            frontend_owner[section.name] = owner
    owned_patterns: dict = {}
    for pattern in patterns:
        owner = next((part for frontend, part in sorted(frontend_owner.items(), key=lambda item: -len(item[0]))
                      if f"/{frontend}." in pattern), default_part)
        owned_patterns.setdefault(owner, []).append(pattern)
    for owner, lines in owned_patterns.items():
        parts.setdefault(owner, []).insert(0, Section("backend", PATTERN_FILES, [], [f"acl file{i} {line}" for i, line in enumerate(lines)]))
    head_text = "\n".join(parsed.preamble) + "\n\n" + "\n".join(section.text() for section in head)
    return head_text, {name: part_text(name, sections) for name, sections in parts.items()}
