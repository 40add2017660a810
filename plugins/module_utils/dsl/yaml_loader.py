# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A safe YAML loader that remembers where every mapping key, value and list item was written.

Mappings load as `YamlMap` (a dict) and sequences as `YamlList` (a list); each carries the 1-based line and column
of its own start and of each of its entries, so the reader can name `file:line:column` for any value without
wrapping every scalar. Scalars stay plain Python values.

VAMP's YAML library (SnakeYAML) and this loader agree on two quirks that PyYAML's `safe_load` does not handle:
- a collection used as a mapping key (`[external/1/2]:`) reads as the text Java prints for it, `[external/1/2]`,
  and `[a, b]` as `"[a, b]"`;
- every mapping key is read as text (`8080:` gives the key "8080"), as VAMP's reader does with `toString`.
A repeated key keeps the last value, as in VAMP and PyYAML.
"""

from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError, DslIssue, Origin

try:
    import yaml
    HAS_YAML = True
    try:
        from yaml import CSafeLoader as _BaseLoader
    except ImportError:  # PyYAML built without libyaml: same behaviour, slower
        from yaml import SafeLoader as _BaseLoader
    _ScalarNode, _MappingNode, _SequenceNode = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
except ImportError:
    HAS_YAML = False
    _BaseLoader = object
    _ScalarNode = _MappingNode = _SequenceNode = None

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_MERGE = "tag:yaml.org,2002:merge"


# YAML 1.1 words PyYAML reads as booleans or null; every other plain word that starts with a letter is a string
_BOOL_WORDS = frozenset("yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF".split())
_NULL_WORDS = frozenset(("null", "Null", "NULL"))
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


class _Loader(_BaseLoader):  # pylint: disable=too-many-ancestors
    """PyYAML's safe loader with a quicker tag resolver (the C parser calls it for every node): plain words are
    told apart without trying each implicit type's regular expression; everything else is left to PyYAML."""

    def resolve(self, kind, value, implicit):
        if kind is _ScalarNode:
            if not implicit[0]:
                return _STR  # quoted
            if value:
                first = value[0]
                if first not in self.yaml_implicit_resolvers:
                    return _STR
                if first.isalpha():
                    return _BOOL if value in _BOOL_WORDS else _NULL if value in _NULL_WORDS else _STR
        elif kind is _MappingNode:
            return _MAP
        elif kind is _SequenceNode:
            return _SEQ
        return super().resolve(kind, value, implicit)


class YamlMap(dict):
    """A mapping as written. `marks[key]` holds the YAML marks of the key and of its value; `key_mark()` and
    `value_mark()` give them as 1-based (line, column)."""

    __slots__ = ("line", "column", "marks")

    def __init__(self, line: int = 0, column: int = 0):
        super().__init__()
        self.line = line
        self.column = column
        self.marks: dict = {}

    def value_mark(self, key: str) -> tuple[int, int]:
        """Line and column of the value of `key` (of the mapping itself when the key is absent)."""
        marks = self.marks.get(key)
        return (marks[1].line + 1, marks[1].column + 1) if marks else (self.line, self.column)

    def key_mark(self, key: str) -> tuple[int, int]:
        marks = self.marks.get(key)
        return (marks[0].line + 1, marks[0].column + 1) if marks else (self.line, self.column)


class YamlList(list):
    """A sequence as written. `marks[i]` is the YAML mark of item i; `value_mark(i)` gives its 1-based (line, column)."""

    __slots__ = ("line", "column", "marks")

    def __init__(self, line: int = 0, column: int = 0):
        super().__init__()
        self.line = line
        self.column = column
        self.marks: list = []

    def value_mark(self, index: int) -> tuple[int, int]:
        if 0 <= index < len(self.marks):
            mark = self.marks[index]
            return (mark.line + 1, mark.column + 1)
        return (self.line, self.column)


class YamlSyntaxError(DslError):
    """YAML that does not parse. `documents` are the ones read before the error, so a reader can still check them."""

    def __init__(self, issues: list[DslIssue], documents: list):
        super().__init__(issues)
        self.documents = documents


@dataclass
class YamlDocument:
    """One document of a YAML stream: its value, where it starts, and its 0-based index in the stream."""

    value: object
    line: int
    column: int
    index: int
    # keys given twice in one mapping, the last of which wins (as in SnakeYAML, which VAMP reads with):
    # (key, its dotted path, line and column of the later one, line of the first one)
    duplicate_keys: list = field(default_factory=list)


def mark_of(container, key) -> tuple[int | None, int | None]:
    """Line and column of a value inside a loaded mapping or list; (None, None) for plain Python values."""
    if isinstance(container, (YamlMap, YamlList)):
        return container.value_mark(key)
    return (None, None)


def java_text(value) -> str:
    """The text Java's toString gives a loaded YAML value; VAMP turns keys and many values into text this way."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):
        return "[" + ", ".join(java_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_text(k)}={java_text(v)}" for k, v in value.items()) + "}"
    return str(value)


class _Builder:
    """Turns composed YAML nodes into YamlMap / YamlList / scalars in one pass, with no deep copies."""

    def __init__(self, loader):
        self.loader = loader
        self.done: dict[int, object] = {}  # anchored nodes (aliases) are built once
        self.building: set[int] = set()
        self.duplicates: list = []  # (mapping, key, first key mark, later key mark)

    def build(self, node):
        if type(node) is _ScalarNode:  # pylint: disable=unidiomatic-typecheck  # the hot path: exact type is faster
            return node.value if node.tag == _STR else self.scalar(node)
        if node.tag not in (_MAP, _SEQ):
            # !!set, !!omap and the like: PyYAML's safe constructors build them (and refuse unsafe tags)
            return self.loader.construct_object(node, deep=True)
        key = id(node)
        if key in self.done:
            return self.done[key]
        if key in self.building:
            raise yaml.constructor.ConstructorError(None, None, "found a recursive alias, which the DSL does not allow", node.start_mark)
        self.building.add(key)
        try:
            value = self.mapping(node) if isinstance(node, yaml.MappingNode) else self.sequence(node)
        finally:
            self.building.discard(key)
        self.done[key] = value
        return value

    def scalar(self, node):
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == _NULL:
            return None
        loader = self.loader
        if tag == _INT:
            return loader.construct_yaml_int(node)
        if tag == _FLOAT:
            return loader.construct_yaml_float(node)
        if tag == _BOOL:
            return loader.construct_yaml_bool(node)
        # timestamps, binary and explicit tags: PyYAML's safe constructors decide (and refuse unsafe tags)
        return loader.construct_object(node, deep=True)

    def sequence(self, node) -> YamlList:
        mark = node.start_mark
        result = YamlList(mark.line + 1, mark.column + 1)
        marks = result.marks
        build = self.build
        for item in node.value:
            marks.append(item.start_mark)
            result.append(build(item))
        return result

    def mapping(self, node) -> YamlMap:
        mark = node.start_mark
        result = YamlMap(mark.line + 1, mark.column + 1)
        marks = result.marks
        build = self.build
        merged: list[YamlMap] = []
        for key_node, value_node in node.value:
            tag = key_node.tag
            if tag == _STR and type(key_node) is _ScalarNode:  # pylint: disable=unidiomatic-typecheck
                key = key_node.value
            elif tag == _MERGE:
                merged.extend(self.merge_sources(value_node))
                continue
            else:
                key = self.key(key_node)
            if key in marks:
                self.duplicates.append((result, key, marks[key][0], key_node.start_mark))
            result[key] = build(value_node)
            marks[key] = (key_node.start_mark, value_node.start_mark)
        # `<<: *anchor` keys have lower priority than the keys written here
        for source in merged:
            for key, value in source.items():
                if key not in result:
                    result[key] = value
                    marks[key] = source.marks[key]
        return result

    def merge_sources(self, node) -> list[YamlMap]:
        value = self.build(node)
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, YamlMap) for source in sources):
            raise yaml.constructor.ConstructorError(None, None, "'<<' merges only mappings", node.start_mark)
        return list(sources)

    def key(self, node) -> str:
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            return java_text(self.scalar(node))
        # a flow collection used as a key: SnakeYAML gives VAMP the Java text of the collection
        return java_text(self.build(node))


def _container_paths(value, path: str = "", found: dict | None = None) -> dict:
    """The dotted path of every mapping and list in `value`, by id (walked only for a document with duplicate keys).
    Each container is walked once: an alias shares the container, and its first path names it."""
    found = {} if found is None else found
    if id(value) in found:
        return found
    found[id(value)] = path
    items = value.items() if isinstance(value, dict) else ((f"[{index}]", item) for index, item in enumerate(value))
    for key, item in items:
        if isinstance(item, (dict, list)):
            _container_paths(item, path + key if isinstance(value, list) else _dotted(path, key), found)
    return found


def _dotted(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


@contextmanager
def paused_gc():
    """Reading builds many small objects that all stay alive; Python's cyclic garbage collector would scan them
    again and again (it more than halved load speed). Pause it while reading, then restore it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_yaml_documents(text: str | bytes, file: str | None = None) -> list[YamlDocument]:
    """Every document of a YAML stream (text, or the bytes of a file, which must be UTF-8), with positions. Empty
    documents are kept with value None.

    Raises YamlSyntaxError (a DslError, code `YamlSyntaxError`) with the file, line and column of the first syntax
    error; its `documents` are the ones read before it. Bytes that are not UTF-8 raise a DslError (code
    `FileEncodingError`) at the line and column of the first such byte."""
    if not HAS_YAML:
        raise DslError([DslIssue(Origin(file), "PyYAML is required to read YAML; install it with `pip install PyYAML`", "MissingLibrary")])
    # libyaml's parser takes an exact str only; Ansible hands its filters and actions a str subclass (tagged text)
    text = _decoded(text, file) if isinstance(text, bytes) else str(text)
    with paused_gc():
        return _load(text, file)


# what YAML 1.1 allows in a stream (PyYAML's Reader.NON_PRINTABLE is its complement)
_NOT_ALLOWED_IN_YAML = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def _line_and_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column (in characters) of `text[index]`."""
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


def _decoded(data: bytes, file: str | None) -> str:
    """The UTF-8 text of a file; a byte that is not UTF-8 (Latin-1 text, a binary file) is an error at its position."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[:exc.start].decode("utf-8")
        line, column = _line_and_column(before, len(before))
        binary = b"\0" in data[:65536]
        message = "the file is binary, not YAML text" if binary else "the file is not UTF-8 text"
        raise DslError([DslIssue(Origin(file, line, column), message, "FileEncodingError", f"byte 0x{data[exc.start]:02x}",
                                 "a YAML file in UTF-8 (Latin-1 and other encodings are not read)")]) from None


def _load(text: str, file: str | None) -> list[YamlDocument]:
    loader = _Loader(text)
    documents: list[YamlDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            start = node.start_mark
            builder = _Builder(loader)
            value = builder.build(node)
            document = YamlDocument(value, start.line + 1, start.column + 1, len(documents))
            if builder.duplicates:
                paths = _container_paths(value)
                document.duplicate_keys = [(key, _dotted(paths.get(id(mapping), ""), key), later.line + 1, later.column + 1, first.line + 1)
                                           for mapping, key, first, later in builder.duplicates]
            documents.append(document)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "invalid YAML"
        if mark and mark.index is not None and mark.index < len(text) and text[mark.index] == "\t":
            problem += " (a tab: YAML indents with spaces only)"
        raise YamlSyntaxError([DslIssue(Origin(file, line, column), f"YAML syntax error: {problem}", "YamlSyntaxError")], documents) from None
    except yaml.reader.ReaderError:
        # a character YAML does not allow (NUL, another control character): libyaml gives a byte offset, find it here
        found = _NOT_ALLOWED_IN_YAML.search(text)
        index = found.start() if found else 0
        line, column = _line_and_column(text, index)
        character = text[index] if found else ""
        raise YamlSyntaxError([DslIssue(Origin(file, line, column), "YAML syntax error: a control character YAML does not allow",
                                        "YamlSyntaxError", f"{character!r} (U+{ord(character) if character else 0:04X})",
                                        "text with tabs, line breaks and printable characters only")], documents) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError([DslIssue(Origin(file), f"YAML error: {exc}", "YamlSyntaxError")], documents) from None
    finally:
        loader.dispose()
    return documents
