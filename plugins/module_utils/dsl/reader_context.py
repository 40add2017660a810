# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the DSL reader shares: where values were written, the issues found so far, and the small
reading steps VAMP uses everywhere (a reference or an inline definition, a value or a list of values, known keys).

Origins are built only for artifacts and for values that have a problem, which keeps reading large blueprints fast.
"""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.errors import IssueCollector, Origin
from ansible_collections.drover.fleet.plugins.module_utils.dsl.model import Reference
from ansible_collections.drover.fleet.plugins.module_utils.dsl.quantities import QuantityError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.text_rules import name_problem
from ansible_collections.drover.fleet.plugins.module_utils.dsl.yaml_loader import YamlMap, java_text, mark_of

REFERENCE_KEYS = ("reference", "ref")
# fields VAMP needs for Docker/Marathon only: read past them with a warning
RUNTIME_ONLY_KEYS = frozenset(("dialects", "dialect", "arguments", "network"))


class ReadContext:
    """State shared while one input is read and checked."""

    def __init__(self, file: str | None = None, issues: IssueCollector | None = None):
        self.file = file
        self.issues = issues if issues is not None else IssueCollector()
        # id(artifact) -> the mapping it was read from, so later checks can point at one of its fields
        self.sources: dict[int, YamlMap] = {}
        # ids of artifacts read with errors: later checks treat what they lack as unknown, not as missing, so one
        # mistake is reported once (a port that did not read is not also "no such port")
        self.incomplete: set[int] = set()
        # ids of values a check that reaches them by several ways (a cluster route behind two gateways) has reported
        self.reported: set[int] = set()

    def errors_so_far(self) -> int:
        return len(self.issues.issues)

    def mark_incomplete_since(self, artifact, errors_before: int) -> None:
        if len(self.issues.issues) > errors_before:
            self.incomplete.add(id(artifact))

    # --- where things are -------------------------------------------------------------------------------------

    def root(self, line: int | None = None, column: int | None = None) -> Origin:
        return Origin(self.file, line, column, "")

    @staticmethod
    def at(parent: Origin, container, key, path_key=None) -> Origin:
        """The origin of `container[key]`; `path_key` replaces the key in the dotted path (e.g. `[route]`)."""
        line, column = mark_of(container, key)
        return parent.child(key if path_key is None else path_key, line, column)

    @staticmethod
    def key_at(parent: Origin, mapping, key, path_key=None) -> Origin:
        """The origin of a key itself (a key that should not be there, or a key that names something, like a route)."""
        path_key = key if path_key is None else path_key
        if isinstance(mapping, YamlMap):
            line, column = mapping.key_mark(key)
            return parent.child(path_key, line, column)
        return parent.child(path_key)

    def remember(self, artifact, mapping) -> None:
        if isinstance(mapping, YamlMap):
            self.sources[id(artifact)] = mapping

    def field_origin(self, artifact, *keys: str) -> Origin:
        """The origin of a field of an artifact read earlier, or of an entry nested in it (`"dependencies", "db"`);
        the nearest written position when the field was not written."""
        origin = artifact.origin
        container = self.sources.get(id(artifact))
        for key in keys:
            if isinstance(container, dict) and key in container:
                line, column = mark_of(container, key)
                origin = origin.child(key, line, column)
                container = container[key]
            else:
                origin = origin.child(key)
                container = None
        return origin

    def written_keys(self, artifact, key: str) -> set[str] | None:
        """The keys written under `key` of an artifact read earlier (the port names of a breed, valid or not); None
        when that field is not a mapping."""
        value = self.sources.get(id(artifact), {}).get(key)
        return {str(name) for name in value} if isinstance(value, dict) else None

    # --- issues -----------------------------------------------------------------------------------------------

    def error(self, origin: Origin, message: str, code: str = "InvalidValue", found=None, allowed: str | None = None) -> None:
        self.issues.error(origin, message, code, found, allowed)

    def warn(self, origin: Origin, message: str, code: str = "Ignored") -> None:
        self.issues.warn(origin, message, code)

    def missing(self, mapping: dict, key: str, parent: Origin, message: str, allowed: str) -> None:
        """A required field that is absent or empty (`name:` with nothing after it): says which it found."""
        if key in mapping:
            self.error(self.at(parent, mapping, key), message, "MissingPathValueError", Described(f"'{key}' with no value"), allowed)
        else:
            self.error(parent.child(key), message, "MissingPathValueError", Described(f"no '{key}'"), allowed)

    def quantity(self, parser, value, origin: Origin, what: str, code: str = "InvalidValue"):
        """`parser(value)`, or None after recording what was wrong."""
        try:
            return parser(value)
        except QuantityError as exc:
            self.error(origin, f"{what}: {exc.message}", code, exc.found, exc.allowed)
            return None

    def field_quantity(self, parser, mapping: dict, key: str, parent: Origin, what: str, code: str = "InvalidValue"):
        """`parser(mapping[key])`, or None after recording the problem; the origin is only made for a problem."""
        try:
            return parser(mapping[key])
        except QuantityError as exc:
            self.error(self.at(parent, mapping, key), f"{what}: {exc.message}", code, exc.found, exc.allowed)
            return None

    def field_name(self, mapping: dict, key: str, parent: Origin, what: str) -> str | None:
        """`mapping[key]` when it is a legal name, else None after recording why."""
        value = mapping[key]
        if isinstance(value, str) and name_problem(value) is None:
            return value
        return self.name(value, self.at(parent, mapping, key), what)

    # --- shapes -----------------------------------------------------------------------------------------------

    def mapping(self, value, origin: Origin, what: str) -> YamlMap | None:
        if isinstance(value, dict):
            return value
        self.error(origin, f"{what} must be a mapping", "InvalidType", kind_of(value), "a mapping of keys to values")
        return None

    def check_keys(self, mapping: dict, origin: Origin, allowed, runtime_only=RUNTIME_ONLY_KEYS) -> None:
        """UnexpectedElement for keys the DSL does not have here; a warning for VAMP runtime-only keys."""
        for key in mapping:
            if key in allowed:
                continue
            if key in runtime_only:
                self.warn(self.key_at(origin, mapping, key), f"'{key}' is a VAMP runtime-only field and is ignored")
            else:
                self.error(self.key_at(origin, mapping, key), f"unexpected element '{key}'", "UnexpectedElement",
                           key, "one of: " + ", ".join(sorted(allowed)))

    def text(self, mapping: dict, key: str, origin: Origin, required: bool = False, what: str | None = None) -> str | None:
        """A scalar field as text (numbers and booleans as Java prints them), or None."""
        value = mapping.get(key)
        if value is None:
            if required:
                self.missing(mapping, key, origin, f"missing '{key}'", what or f"a value for '{key}'")
            return None
        if isinstance(value, (dict, list)):
            self.error(self.at(origin, mapping, key), f"'{key}' must be a single value", "InvalidType", kind_of(value), what or "text")
            return None
        return java_text(value)

    def name(self, value, origin: Origin, what: str = "name", code: str = "IllegalName") -> str | None:
        """A legal name, or None after recording why it is not."""
        if isinstance(value, (dict, list)) or value is None:
            self.error(origin, f"{what} must be text", "InvalidType", kind_of(value), "a name")
            return None
        text = java_text(value)
        problem = name_problem(text)
        if problem:
            self.error(origin, f"illegal {what}", code, text, problem)
            return None
        return text

    def reference_or_map(self, value, origin: Origin, kind: str, also_with_reference=()) -> Reference | dict | None:
        """VAMP's reference-or-anonymous rule: a string or `{ref|reference: name}` is a reference, any other
        mapping is an inline definition; a mapping with both is EitherReferenceOrAnonymous."""
        if isinstance(value, dict):
            ref_key = next((key for key in REFERENCE_KEYS if key in value), None)
            if ref_key is None:
                return value
            extra = [key for key in value if key not in REFERENCE_KEYS and key not in also_with_reference and key != "kind"]
            if extra:
                self.error(self.key_at(origin, value, extra[0]), f"a {kind} is either a reference or an inline definition, not both",
                           "EitherReferenceOrAnonymous", f"'{ref_key}' together with '{extra[0]}'",
                           f"either {{{ref_key}: <name>}} or the inline fields")
                return None
            name = self.name(value[ref_key], self.at(origin, value, ref_key), f"{kind} reference")
            return Reference(kind, name, origin) if name else None
        if isinstance(value, list) or value is None:
            self.error(origin, f"expected a {kind} name or definition", "InvalidType", kind_of(value),
                       f"a {kind} name (reference) or a mapping (inline {kind})")
            return None
        name = self.name(value, origin, f"{kind} reference")
        return Reference(kind, name, origin) if name else None

    @staticmethod
    def items(value) -> list:
        """VAMP's expand-to-list: a single value reads as a list of one; None as an empty list."""
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    @staticmethod
    def item_origin(parent: Origin, value, index: int) -> Origin:
        """Origin of item `index` of `value` after `items()`; a single value keeps the parent's path."""
        if isinstance(value, list):
            line, column = mark_of(value, index)
            return parent.child(index, line, column)
        return parent


def listing(names, limit: int = 12) -> str:
    """Names for an `allowed:` text, at most `limit` of them: "a, b, c and 40 more"."""
    names = list(names)
    shown = ", ".join(str(name) for name in names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


class Described:
    """A found value described in words ("a mapping"), shown without the quotes a found string gets."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


def kind_of(value):
    """What was found, for error messages: the value itself when it is a scalar, else its shape in words."""
    if value is None:
        return Described("nothing")
    if isinstance(value, dict):
        return Described("a mapping")
    if isinstance(value, list):
        return Described("a list")
    return value
