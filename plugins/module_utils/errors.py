# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors the engine raises: each names where in the input it comes from, what was found and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Origin:
    """Where a value came from: file, 1-based line and column, and the dotted path inside the artifact."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    path: str = ""

    def __post_init__(self):
        # a key may hold a newline or another control character: the path is one printable line
        if not self.path.isprintable():
            object.__setattr__(self, "path", printable(self.path))

    def child(self, key: str | int, line: int | None = None, column: int | None = None) -> "Origin":
        """The origin of a nested value; keys become `.key`, list indexes and route names `[key]`."""
        if isinstance(key, int) or (isinstance(key, str) and key.startswith("[")):
            suffix = key if isinstance(key, str) else f"[{key}]"
            path = f"{self.path}{suffix}"
        else:
            path = f"{self.path}.{key}" if self.path else key
        return Origin(self.file, line if line is not None else self.line, column if column is not None else self.column, path)

    def location(self) -> str:
        where = printable(self.file) if self.file else "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


@dataclass(frozen=True)
class DslIssue:
    """One problem in the input. `code` is a stable identifier (VAMP's error class name where one exists)."""

    origin: Origin
    message: str
    code: str = "InvalidValue"
    found: str | None = None
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.origin.location()}: {self.origin.path or '<root>'}: {self.message}"
        details = []
        if self.found is not None:
            details.append(f"found {self.found}")
        if self.allowed is not None:
            details.append(f"allowed: {self.allowed}")
        if details:
            text += f" ({'; '.join(details)})"
        return printable(text)

    def as_dict(self) -> dict:
        return {
            "file": self.origin.file,
            "line": self.origin.line,
            "column": self.origin.column,
            "path": self.origin.path,
            "code": self.code,
            "message": self.message,
            "found": self.found,
            "allowed": self.allowed,
        }


class DroverError(Exception):
    """Base class of every error the engine raises on purpose."""


class DslError(DroverError):
    """Bad input. Carries every issue found, not only the first."""

    def __init__(self, issues: list[DslIssue], warnings: list[DslIssue] | None = None):
        self.issues = list(issues)
        self.warnings = list(warnings or [])
        super().__init__(self.summary())

    def summary(self) -> str:
        count = len(self.issues)
        lines = [f"{count} error{'s' if count != 1 else ''} in the input:"]
        lines.extend(f"  {issue}" for issue in self.issues)
        if self.warnings:
            lines.append("and warnings:")
            lines.extend(f"  {warning}" for warning in self.warnings)
        return "\n".join(lines)

    @property
    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]


@dataclass
class IssueCollector:
    """Gathers issues while a whole input is read, so that all of them are reported at once."""

    issues: list[DslIssue] = field(default_factory=list)
    warnings: list[DslIssue] = field(default_factory=list)

    def error(self, origin: Origin, message: str, code: str = "InvalidValue", found=None, allowed: str | None = None) -> None:
        self.issues.append(DslIssue(origin, message, code, _show(found), allowed))

    def warn(self, origin: Origin, message: str, code: str = "Ignored") -> None:
        self.warnings.append(DslIssue(origin, message, code))

    def extend(self, error: DslError) -> None:
        self.issues.extend(error.issues)

    def raise_if_any(self) -> None:
        if self.issues:
            raise DslError(self.issues)


def printable(text: str) -> str:
    """`text` on one printable line: newlines and other control or invisible characters as their escapes (\\n, \\x00)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


FOUND_TEXT_LIMIT = 80


def _show(value) -> str | None:
    """A short, printable form of a found value: repr keeps quotes, newlines and control characters visible."""
    if value is None:
        return None
    text = repr(value) if isinstance(value, str) else bounded_text(value, FOUND_TEXT_LIMIT)
    return text if len(text) <= FOUND_TEXT_LIMIT else text[:FOUND_TEXT_LIMIT - 3] + "..."


def bounded_text(value, limit: int) -> str:
    """`str(value)` as far as its first `limit` + 1 characters: lists, tuples and mappings are walked only that far.
    A YAML alias repeated at every level (a "billion laughs") is a few objects in memory but billions of characters
    as text; building all of it before cutting it took seconds to minutes."""
    pieces: list[str] = []
    size = 0
    stack = [iter((_Value(value, top=True),))]
    while stack and size <= limit:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
        elif isinstance(item, str):
            pieces.append(item)
            size += len(item)
        elif isinstance(item.value, (list, tuple, dict)):
            stack.append(_container_pieces(item.value))
        else:
            text = str(item.value) if item.top else repr(item.value)
            pieces.append(text)
            size += len(text)
    return "".join(pieces)[:limit + 1]


class _Value:
    """A value still to be written (as `str` at the top, `repr` inside a container, as Python writes them)."""

    __slots__ = ("value", "top")

    def __init__(self, value, top: bool = False):
        self.value = value
        self.top = top


def _container_pieces(value):
    """The text of a list, tuple or mapping as separators (str) and the values between them (_Value), lazily."""
    opening, closing = ("{", "}") if isinstance(value, dict) else ("(", ")") if isinstance(value, tuple) else ("[", "]")
    yield opening
    for index, item in enumerate(value.items() if isinstance(value, dict) else value):
        if index:
            yield ", "
        if isinstance(value, dict):
            yield _Value(item[0])
            yield ": "
            yield _Value(item[1])
        else:
            yield _Value(item)
    yield ",)" if isinstance(value, tuple) and len(value) == 1 else closing
