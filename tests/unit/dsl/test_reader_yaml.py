# -*- coding: utf-8 -*-
"""The positioned YAML loader: the same values as PyYAML's safe loader, plus 1-based line and column of every
key, value and item, and VAMP's quirks (collections as keys, keys as text, last duplicate wins)."""

from __future__ import annotations

import datetime

import pytest
import yaml

from ansible_collections.drover.fleet.plugins.module_utils.errors import DslError
from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_paths
from ansible_collections.drover.fleet.plugins.module_utils.dsl.yaml_loader import YamlList, YamlMap, java_text, load_yaml_documents, mark_of


def load_one(text: str):
    documents = load_yaml_documents(text, "test.yml")
    assert len(documents) == 1
    return documents[0].value


def test_positions_of_keys_values_and_items():
    value = load_one("name: sava\nroutes:\n  web:\n    weight: 50%\nlist:\n  - a\n  -   b\n")
    assert isinstance(value, YamlMap) and (value.line, value.column) == (1, 1)
    assert value.key_mark("name") == (1, 1) and value.value_mark("name") == (1, 7)
    assert value["routes"]["web"].value_mark("weight") == (4, 13)
    assert value["routes"].key_mark("web") == (3, 3)
    items = value["list"]
    assert isinstance(items, YamlList) and items == ["a", "b"]
    assert items.value_mark(0) == (6, 5) and items.value_mark(1) == (7, 7)
    assert mark_of(items, 1) == (7, 7) and mark_of({"plain": "dict"}, "plain") == (None, None)
    # an absent key points at its mapping
    assert value.value_mark("absent") == (1, 1)


def test_text_of_a_str_subclass_loads():
    # Ansible 2.19 hands filters and actions its own str subclass; libyaml's parser accepts only an exact str
    class TaggedText(str):
        pass

    assert load_one(TaggedText("name: sava\n")) == {"name": "sava"}


def test_scalars_match_pyyaml_safe_load():
    text = ("a: [yes, no, On, null, Null, ~, '', \"\", 1, 1.5, .inf, -3, 0x1f, 2019-01-02, name, nothing, 'true', \"12\", "
            "1_000, 1:30, NULLS, offers, Y, n, ON, !!str 12]\nb:\nc: !!int \"7\"\n")
    assert load_one(text) == yaml.safe_load(text)
    assert load_one(text)["a"][13] == datetime.date(2019, 1, 2)


def test_flow_sequence_key_reads_as_java_text():
    value = load_one("routes:\n  [external/1/2]:\n    weight: 100%\n  [a, b]: x\n  {k: v}: y\n")
    assert list(value["routes"]) == ["[external/1/2]", "[a, b]", "{k=v}"]
    assert value["routes"].key_mark("[external/1/2]") == (2, 3)


def test_keys_are_text_as_java_prints_them():
    value = load_one("8080: a\n8080/tcp: b\ntrue: c\n1.5: d\n~: e\n")
    assert list(value) == ["8080", "8080/tcp", "true", "1.5", "null"]


def test_duplicate_key_last_wins_with_its_position():
    value = load_one("ports:\n  port: 80/http\n  port: 8080/http\n")
    assert value["ports"] == {"port": "8080/http"} and value["ports"].value_mark("port") == (3, 9)


def test_duplicate_keys_are_listed_with_their_paths():
    [document] = load_yaml_documents("a:\n  - {x: 1, x: 2}\n  - y\nb: 1\nb: 2\n", "dup.yml")
    assert document.duplicate_keys == [("x", "a[0].x", 2, 12, 2), ("b", "b", 5, 1, 4)]
    assert load_yaml_documents("a: 1\nb: 2\n", "ok.yml")[0].duplicate_keys == []


def test_multi_document_stream_keeps_empty_documents_and_starts():
    documents = load_yaml_documents("a: 1\n---\n---\nb: 2\n...\n---\n- x\n", "multi.yml")
    assert [document.value for document in documents] == [{"a": 1}, None, {"b": 2}, ["x"]]
    assert [document.index for document in documents] == [0, 1, 2, 3]
    assert documents[2].line == 4 and documents[3].line == 7


def test_anchors_aliases_and_merge_keys():
    value = load_one("base: &base {cpu: 0.5, memory: 128MB}\nsmall:\n  <<: *base\n  memory: 64MB\nsame: *base\n")
    assert value["small"] == {"cpu": 0.5, "memory": "64MB"} and value["small"].value_mark("memory") == (4, 11)
    assert value["same"] is value["base"]


def test_recursive_alias_is_refused():
    with pytest.raises(DslError) as error:
        load_one("a: &x\n  b: *x\n")
    assert error.value.codes == ["YamlSyntaxError"] and "recursive" in str(error.value)


@pytest.mark.parametrize("text, line, column", [
    ("a: [\nb", 3, 1),
    ("a: 1\n b: 2\n", 2, 3),
    ("name: x\n\tbad: tab\n", 2, 1),
])
def test_syntax_error_names_file_line_and_column(text, line, column):
    with pytest.raises(DslError) as error:
        load_yaml_documents(text, "broken.yml")
    issue = error.value.issues[0]
    assert issue.code == "YamlSyntaxError"
    assert (issue.origin.file, issue.origin.line, issue.origin.column) == ("broken.yml", line, column)


def test_unsafe_tags_are_refused():
    with pytest.raises(DslError) as error:
        load_one("a: !!python/object/apply:os.system [echo hi]\n")
    assert "python/object/apply" in str(error.value)


def test_java_text():
    assert java_text(None) == "null" and java_text(True) == "true" and java_text(False) == "false"
    assert java_text(10) == "10" and java_text(1.5) == "1.5"
    assert java_text(["a", 1, True]) == "[a, 1, true]" and java_text({"k": None}) == "{k=null}"


def test_a_tab_in_the_indentation_is_named():
    with pytest.raises(DslError, match="a tab: YAML indents with spaces only") as caught:
        load_yaml_documents("name: g\nroutes:\n\t'[h:1]': {}\n", "tab.yml")
    assert (caught.value.issues[0].origin.line, caught.value.issues[0].origin.column) == (3, 1)


@pytest.mark.parametrize("data, line, column, code, found", [
    ("name: g\x00\nport: 80\n", 1, 8, "YamlSyntaxError", "'\\x00' (U+0000)"),     # NUL in UTF-8 text
    ("a: é\nb: 'x\x1b'\n", 2, 6, "YamlSyntaxError", "'\\x1b' (U+001B)"),           # libyaml counts bytes: é is one column
    (b"name: caf\xe9\nport: 80\n", 1, 10, "FileEncodingError", "byte 0xe9"),      # Latin-1
    (b"a: \xc3\xa9\nb: \xe9\n", 2, 4, "FileEncodingError", "byte 0xe9"),          # UTF-8 first, then Latin-1
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\n\x00\xd0\x03", 2, 2, "FileEncodingError", "byte 0xd0"),  # binary
])
def test_characters_and_bytes_yaml_cannot_read_are_named_at_their_line_and_column(data, line, column, code, found):
    with pytest.raises(DslError) as caught:
        load_yaml_documents(data, "odd.yml")
    [issue] = caught.value.issues
    assert (issue.code, issue.origin.file, issue.origin.line, issue.origin.column, issue.found) == (code, "odd.yml", line, column, found)
    assert "\n" not in str(issue)
    if isinstance(data, bytes) and b"\0" in data:
        assert issue.message == "the file is binary, not YAML text"


def test_a_file_that_is_not_utf8_is_reported_by_the_reader_at_its_position(tmp_path):
    (tmp_path / "latin.yml").write_bytes(b"name: g\nport: 9019/http\nroutes: ['[caf\xe9:1]']\n")
    with pytest.raises(DslError) as caught:
        load_paths([str(tmp_path)])
    [issue] = caught.value.issues
    assert (issue.code, issue.origin.line, issue.origin.column) == ("FileEncodingError", 3, 15)
