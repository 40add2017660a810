"""The "found" text of an error is built only as far as it is shown."""

from __future__ import annotations

from ansible_collections.drover.fleet.plugins.module_utils.dsl.reader import load_text
from ansible_collections.drover.fleet.plugins.module_utils.errors import FOUND_TEXT_LIMIT, DslError, _show, bounded_text

import pytest


class CountedLeaf:
    """A leaf that counts how often it is written as text."""

    written = 0

    def __repr__(self) -> str:
        CountedLeaf.written += 1
        return "'lol'"


def laughs(levels: int, leaf) -> list:
    """A "billion laughs": nine references to the level below at every level (9 ** levels leaves, a few objects)."""
    value = [leaf] * 9
    for _level in range(levels - 1):
        value = [value] * 9
    return value


def test_a_billion_laughs_is_written_only_as_far_as_it_is_shown():
    CountedLeaf.written = 0
    text = _show(laughs(6, CountedLeaf()))   # 531,441 leaves: str() of all of it wrote every one
    assert text.startswith("[[[[[[" + "'lol', " * 8) and text.endswith("...") and len(text) == FOUND_TEXT_LIMIT
    assert CountedLeaf.written < FOUND_TEXT_LIMIT


@pytest.mark.parametrize("value", [[1, "a", {"x": (1,), "y": ()}], (1, 2), {}, [], 3.5, True, {"a": [1, [2, [3]]]}, ("x",), [None]])
def test_a_short_value_is_written_as_python_writes_it(value):
    assert bounded_text(value, 1000) == str(value)


def test_a_billion_laughs_weight_is_reported_with_a_short_found_text():
    anchors = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    anchors += [f"{chr(ord('a') + n)}: &{chr(ord('a') + n)} [{', '.join(['*' + chr(ord('a') + n - 1)] * 9)}]" for n in range(1, 9)]
    text = "\n".join(anchors) + "\nname: g\nport: 9100/http\nroutes:\n  '[127.0.0.1:1]':\n    weight: *i\n"
    with pytest.raises(DslError) as caught:
        load_text(text, "laughs.yml")
    weight = next(issue for issue in caught.value.issues if issue.origin.path.endswith(".weight"))
    assert weight.found.startswith("[[[[[[[[[") and len(weight.found) == FOUND_TEXT_LIMIT
