# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A light scan of a rendered haproxy.cfg: sections, global directives, and what defines each server.

Not a parser of the whole language: it reads what the reload machinery needs (where relative paths resolve, where
server state is saved, which listeners and servers a configuration has), from configurations `haproxy -c` accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


# directives whose value is a secret, kept out of every output (the value is the second group)
SECRET_DIRECTIVE = re.compile(r"(dynamic-cookie-key\s+)(\S+)")


def secret_values(config_text: str) -> set:
    """The secret values written in a configuration (see SECRET_DIRECTIVE)."""
    return {match.group(2) for match in SECRET_DIRECTIVE.finditer(config_text)}


@dataclass(frozen=True)
class SectionLine:
    """One line inside a section, without its comment. `serial` numbers the sections in file order."""

    serial: int
    keyword: str
    name: str
    text: str

    @property
    def words(self) -> list:
        return self.text.split()


def physical_lines(config_text: str):
    """Every physical line as `(line, SectionLine or None)`: None for section headers, blank and comment-only lines."""
    serial, keyword, name = -1, "", ""
    for line in config_text.splitlines(keepends=True):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            yield line, None
            continue
        if not line[:1].isspace():
            words = stripped.split()
            serial, keyword, name = serial + 1, words[0], (words[1] if len(words) > 1 else "")
            yield line, None
            continue
        yield line, SectionLine(serial, keyword, name, stripped)


def section_lines(config_text: str):
    """Every non-empty line inside a section, as a SectionLine."""
    for _line, inside in physical_lines(config_text):
        if inside is not None:
            yield inside


def global_directives(config_text: str) -> dict:
    """Directives of the `global` section(s): first word -> the rest of the line."""
    found = {}
    for line in section_lines(config_text):
        if line.keyword == "global":
            words = line.text.split(None, 1)
            found[words[0]] = words[1].strip() if len(words) > 1 else ""
    return found


def _template_numbers(spec: str) -> list:
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", spec)
    if not match:
        return []
    if match.group(2) is None:
        return list(range(1, int(match.group(1)) + 1))
    return list(range(int(match.group(1)), int(match.group(2)) + 1))


def server_definitions(config_text: str) -> dict:
    """{(backend, server): what defines it} for `server` and `server-template` lines of backends and listens.

    The definition includes the `default-server` lines that apply (the last `defaults` section's, then those of the
    backend above the server line), so a change there counts as a change of every server it applies to.
    """
    definitions = {}
    defaults: list = []
    applying: dict = {}
    for line in section_lines(config_text):
        words = line.words
        if line.keyword == "defaults":
            defaults = applying.setdefault(line.serial, [])
            if words[0] == "default-server":
                defaults.append(line.text)
            continue
        if line.keyword not in ("backend", "listen"):
            continue
        lines = applying.setdefault(line.serial, list(defaults))
        if words[0] == "default-server":
            lines.append(line.text)
        elif words[0] == "server" and len(words) > 1:
            definitions[(line.name, words[1])] = "\n".join(lines + [" ".join(words[2:])])
        elif words[0] == "server-template" and len(words) > 2:
            for number in _template_numbers(words[2]):
                definitions[(line.name, f"{words[1]}{number}")] = "\n".join(lines + [" ".join(words[3:])])
    return definitions
