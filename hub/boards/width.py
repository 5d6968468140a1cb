"""Display width on a character board: a CJK character takes two columns.

A character LED controller draws Latin letters and digits in one column and
Chinese characters (and other East Asian wide or fullwidth characters) in
two. Every line sent to a board is fitted here: cut at a character
boundary so a wide character is never split, and padded with spaces to the
board's exact width. East Asian "ambiguous" characters (``·``, ``…``) count
as one column, as on the controllers we know; avoid them in layouts.

A board's lines barely change from one update to the next, so fitted lines
are remembered: laying out the same names and numbers again costs a lookup.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    """Columns ``char`` takes: 2 for wide and fullwidth, 0 for combining marks, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def clean(text: str) -> str:
    """``text`` on one line: control characters (newlines, tabs) become spaces."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


def width(text: str) -> int:
    """Columns ``text`` takes on a character board."""
    return sum(char_width(c) for c in text)


def cut(text: str, columns: int) -> str:
    """The longest start of ``text`` that fits in ``columns``, never half a character."""
    used = 0
    for i, char in enumerate(text):
        used += char_width(char)
        if used > columns:
            return text[:i]
    return text


# Lines fitted recently; enough for every line of a large hall's boards.
LINE_CACHE = 8192


@lru_cache(maxsize=LINE_CACHE)
def fit(text: str, columns: int) -> str:
    """``text`` cut to ``columns`` and padded with spaces to exactly ``columns``."""
    kept = cut(clean(text), columns)
    return kept + " " * (columns - width(kept))


@lru_cache(maxsize=LINE_CACHE)
def center(text: str, columns: int) -> str:
    """``text`` centred in ``columns`` (cut when it is wider)."""
    kept = cut(clean(text), columns)
    left = (columns - width(kept)) // 2
    return fit(" " * left + kept, columns)


@lru_cache(maxsize=LINE_CACHE)
def spread(left: str, right: str, columns: int) -> str:
    """``left`` and ``right`` on one line, ``right`` flush right; ``left`` gives way."""
    right = cut(clean(right), columns)
    room = columns - width(right)
    kept = cut(clean(left), max(0, room - 1)) if room > 0 else ""
    return kept + " " * (room - width(kept)) + right


def wrap(text: str, columns: int) -> list[str]:
    """``text`` broken into lines of at most ``columns``, each fitted.

    Chinese text may break between any two characters; a Latin word is kept
    whole when it fits on a line of its own. Newlines in ``text`` start a
    new line.
    """
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        current = ""
        for word in _words(clean(paragraph)):
            if width(current) + width(word) <= columns:
                current += word
                continue
            if current.strip():
                lines.append(current.rstrip())
            current = word.lstrip()
            while width(current) > columns:
                head = cut(current, columns)
                lines.append(head)
                current = current[len(head) :]
        if current.strip() or not lines:
            lines.append(current.rstrip())
    return [fit(line, columns) for line in lines]


def _words(text: str) -> list[str]:
    # A Latin word (with the spaces before it) stays together; every wide
    # character is a word of its own, since Chinese breaks anywhere.
    words: list[str] = []
    current = ""
    for char in text:
        if char_width(char) == 2:
            if current:
                words.append(current)
                current = ""
            words.append(char)
        elif char == " " and current.strip():
            words.append(current)
            current = char
        else:
            current += char
    if current:
        words.append(current)
    return words
