# -*- coding: utf-8 -*-
# Copyright: drover.fleet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How text becomes words on an HAProxy 2.6 configuration line, and back.

The rules, from the HAProxy 2.6 configuration manual (section 2.2, "Quoting and escaping") and checked
against the real haproxy 2.6.12 with `haproxy -c` and real requests (tests/integration/test_condition_haproxy.py):

- spaces and tabs separate words; a newline ends the directive; there is no line continuation;
- outside quotes, `#` starts a comment that runs to the end of the line;
- outside quotes, a backslash escapes the next character: `\\ ` `\\#` `\\\\` `\\'` `\\"` give that character,
  `\\n` `\\r` `\\t` `\\xNN` give control characters, and any other `\\c` stays as the two characters;
- double quotes are weak: backslash escapes still apply, `#` and `'` are plain, and `$NAME` or `${NAME}`
  expand environment variables;
- single quotes are strong: nothing inside is interpreted, and a single quote cannot appear inside;
- quoted and unquoted parts next to each other make one word, so `'it'\\''s'` is the word `it's`;
- arguments inside a keyword's parentheses, such as the name in `req.cook(NAME)`, are parsed a second time
  with the same quote and backslash rules (except `\\#`, `\\$` and `\\xNN`), so a quote there needs two levels.

So that no value can break out of its word, `quote_word` always uses strong quoting (a single quote in the
value is written `\\'` between two strongly quoted parts) and control characters are refused, never encoded.
"""

from __future__ import annotations

import re
import unicodedata

from ansible_collections.drover.fleet.plugins.module_utils.errors import DroverError

# Control, format (bidi overrides, zero-width), surrogate and line/paragraph separator characters: refused
# everywhere, because they can end a line, hide text from a reader, or cannot be written in a config file.
UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))

# RFC 7230 section 3.2.6: token = 1*tchar.
TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# A configuration line holds at most 64 words (HAProxy says "too many words, truncating after word 64").
MAX_WORDS_PER_LINE = 64

WORD_SEPARATORS = " \t"
SIMPLE_ESCAPES = {" ": " ", "\t": "\t", "#": "#", "\\": "\\", "'": "'", '"': '"', "$": "$", "n": "\n", "r": "\r", "t": "\t"}
ENV_NAME_RE = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*")


class HaproxyTextError(DroverError):
    """Text that cannot be written safely on an HAProxy configuration line. `offset` is 0-based in that text."""

    def __init__(self, message: str, offset: int = 0):
        self.message = message
        self.offset = offset
        super().__init__(f"{message} (at offset {offset})")


def find_unsafe_character(text: str) -> int | None:
    """The index of the first control, format or line-separator character, or None."""
    for index, char in enumerate(text):
        if unicodedata.category(char) in UNSAFE_CATEGORIES:
            return index
    return None


def describe_character(char: str) -> str:
    """A readable name for a refused character, e.g. `U+000A LINE FEED`."""
    name = unicodedata.name(char, "") or {"\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\t": "TAB"}.get(char, "control character")
    return f"U+{ord(char):04X} {name}"


def refuse_unsafe_characters(text: str, what: str) -> None:
    index = find_unsafe_character(text)
    if index is not None:
        raise HaproxyTextError(f"{what} contains {describe_character(text[index])}; control and line-break characters are not allowed", index)


def is_token(text: str) -> bool:
    """True when `text` is an RFC 7230 token, the form of HTTP header and cookie names."""
    return TOKEN_RE.fullmatch(text) is not None


def quote_word(value: str) -> str:
    """`value` written as exactly one configuration word, with nothing interpreted inside it.

    Strong quoting keeps spaces, `#`, `$`, `"` and backslashes literal. A single quote cannot appear inside strong
    quotes, so it is written escaped between two quoted parts: `it's` becomes `'it'\\''s'`.
    """
    refuse_unsafe_characters(value, "the value")
    return "\\'".join(f"'{part}'" if part else "" for part in value.split("'")) or "''"


def quote_fetch_argument(token: str) -> str:
    """An HTTP token (header or cookie name) written as the argument of a sample fetch, e.g. NAME in `req.cook(NAME)`.

    Of the token characters only `#` and `'` are special: `#` would start a comment at the line level (written
    `\\#`), and `'` is a quote at both the line level and the argument level (written `\\\\\\'`, which the line
    parser turns into `\\'` and the argument parser into `'`). All other token characters are literal at both levels.
    """
    if not is_token(token):
        raise HaproxyTextError(f"{token!r} is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~ only)", 0)
    return token.replace("#", "\\#").replace("'", "\\\\\\'")


def split_words(line: str, allow_comment: bool = True, allow_environment: bool = True) -> list[str]:
    """Split one configuration line into words as HAProxy 2.6 does (see the module docstring).

    Raises HaproxyTextError for an unterminated quote or a line that ends in a lone backslash, and, when asked,
    for a comment (`#` outside quotes) or an environment variable expansion (`$` inside double quotes).
    """
    refuse_unsafe_characters(line, "the line")
    words: list[str] = []
    current: list[str] = []
    in_word = False
    index = 0
    length = len(line)
    while index < length:
        char = line[index]
        if char in WORD_SEPARATORS:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            index += 1
        elif char == "#":
            if not allow_comment:
                raise HaproxyTextError("'#' outside quotes starts a comment here; quote it or write it as \\#", index)
            break
        elif char == "'":
            end = line.find("'", index + 1)
            if end < 0:
                raise HaproxyTextError("unterminated single quote", index)
            current.append(line[index + 1:end])
            in_word = True
            index = end + 1
        elif char == '"':
            index = _read_double_quoted(line, index, current, allow_environment)
            in_word = True
        elif char == "\\":
            text, index = _read_escape(line, index)
            current.append(text)
            in_word = True
        else:
            current.append(char)
            in_word = True
            index += 1
    if in_word:
        words.append("".join(current))
    return words


def _read_double_quoted(line: str, start: int, current: list[str], allow_environment: bool) -> int:
    index = start + 1
    while index < len(line):
        char = line[index]
        if char == '"':
            return index + 1
        if char == "\\":
            text, index = _read_escape(line, index)
            current.append(text)
            continue
        if char == "$":
            match = ENV_NAME_RE.match(line, index + 1)
            if match:
                if not allow_environment:
                    raise HaproxyTextError("'$' inside double quotes expands an environment variable; write \\$ or use single quotes", index)
                # The variable's value is unknown here; it still lands inside this one word.
                current.append("$" + match.group(0))
                index = match.end()
                continue
        current.append(char)
        index += 1
    raise HaproxyTextError("unterminated double quote", start)


def _read_escape(line: str, index: int) -> tuple[str, int]:
    """The text one backslash sequence stands for, and the index after it."""
    if index + 1 >= len(line):
        raise HaproxyTextError("the line ends with a lone backslash", index)
    nxt = line[index + 1]
    if nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", line[index + 2:index + 4]):
        return chr(int(line[index + 2:index + 4], 16)), index + 4
    if nxt in SIMPLE_ESCAPES:
        return SIMPLE_ESCAPES[nxt], index + 2
    return "\\" + nxt, index + 2
