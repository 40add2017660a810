# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Browser aliases for `user-agent == <alias>`: Chrome, Edge, Firefox, IE and Safari.

Each alias is a boolean formula over substrings of the full User-Agent header. VAMP's table tested one substring
per browser (Safari: "Safari" and "Version"). Real user agents overlap: Edge and Opera send "Chrome", Chrome and
Edge send "Safari", Edge on iOS and Android WebViews send "Version". The aliases here are refined so that the
browsers of this table exclude each other:

- Edge matches "Edg", which covers Edge/ (EdgeHTML), Edg/ (Chromium), EdgA/ (Android) and EdgiOS/ (iOS);
  VAMP's "Edge" misses every Chromium-based Edge.
- Chrome matches "Chrome" but not Edge.
- Safari matches "Safari" and "Version" but not Chrome (Android WebViews) and not Edge.
- IE matches "MSIE" (IE up to 10) or "Trident/" (IE 11, which dropped "MSIE").
- Firefox matches "Firefox", as in VAMP.

Aliases are looked up case-insensitively, as VAMP does. Any other value is matched as a plain substring.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserAgentAlias:
    """A browser: the user agent must contain every `required` substring, one of `any_of` if given, and no `excluded`."""

    name: str
    required: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


USER_AGENT_ALIASES = {
    alias.name.lower(): alias
    for alias in (
        UserAgentAlias("Chrome", required=("Chrome",), excluded=("Edg",)),
        UserAgentAlias("Edge", required=("Edg",)),
        UserAgentAlias("Firefox", required=("Firefox",)),
        UserAgentAlias("IE", any_of=("MSIE", "Trident/")),
        UserAgentAlias("Safari", required=("Safari", "Version"), excluded=("Chrome", "Edg")),
    )
}


def find_user_agent_alias(value: str) -> UserAgentAlias | None:
    """The alias named `value` (any case), or None when `value` is a plain substring."""
    return USER_AGENT_ALIASES.get(value.strip().lower())


def alias_matches(alias: UserAgentAlias, user_agent: str) -> bool:
    """Whether a user agent string matches the alias; the compiled HAProxy ACLs implement the same formula."""
    if not all(part in user_agent for part in alias.required):
        return False
    if alias.any_of and not any(part in user_agent for part in alias.any_of):
        return False
    return not any(part in user_agent for part in alias.excluded)
