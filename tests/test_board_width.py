"""Text fits a character board by display width: a Chinese character is two columns."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.boards.width import center, cut, fit, spread, width, wrap


@pytest.mark.parametrize(
    ("text", "columns"),
    [
        ("a", 1),
        ("满", 2),
        ("1号窗口", 7),
        ("满意率 98.7%", 12),
        ("ＡＢ", 4),  # fullwidth Latin is wide too
        ("é", 1),  # e + combining acute: one column
        ("", 0),
    ],
)
def test_width_counts_cjk_as_two_columns(text, columns):
    assert width(text) == columns


def test_fit_never_cuts_a_chinese_character_in_half():
    # 5 columns hold "1号" (3) and then "窗" (2); 4 columns cannot hold "窗": it is dropped whole.
    assert fit("1号窗口", 5) == "1号窗"
    assert fit("1号窗口", 4) == "1号 "
    assert fit("1号窗口", 3) == "1号"
    assert fit("窗口", 1) == " "


def test_fit_pads_to_the_exact_width_and_flattens_control_characters():
    assert fit("ab", 5) == "ab   "
    assert fit("a\nb\tc", 5) == "a b c"


def test_center_and_spread():
    assert center("满意", 8) == "  满意  "
    assert center("满意", 7) == " 满意  "
    assert spread("县民政局", "98.7%", 16) == "县民政局   98.7%"
    # The left side gives way to the number, a whole character at a time.
    assert spread("县人力资源和社会保障局", "100.0% 12", 20) == "县人力资源 100.0% 12"
    assert width(spread("县人力资源和社会保障局", "100.0% 12", 20)) == 20


def test_wrap_breaks_chinese_anywhere_and_keeps_latin_words():
    lines = wrap("今天下午三点起暂停办理 passport renewal 业务", 12)
    assert all(width(line) == 12 for line in lines)
    assert [line.rstrip() for line in lines] == [
        "今天下午三点",
        "起暂停办理",
        "passport",
        "renewal 业务",
    ]


cjk_or_latin = st.text(
    alphabet=st.sampled_from([*"号窗口满意率民政局abcXYZ 0123456789%-é·", "\u0301"]),
    max_size=40,
)


@given(cjk_or_latin, st.integers(min_value=0, max_value=40))
def test_fit_is_a_whole_character_prefix_of_exact_width(text, columns):
    fitted = fit(text, columns)
    assert width(fitted) == columns
    kept = cut(text, columns)
    assert fitted.startswith(kept)
    assert text.startswith(kept)
    # Nothing more of the text would have fitted.
    if len(kept) < len(text):
        assert width(text[: len(kept) + 1]) > columns


@given(cjk_or_latin, st.integers(min_value=2, max_value=30))
def test_wrap_loses_no_character(text, columns):
    lines = wrap(text, columns)
    assert all(width(line) == columns for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
