"""The one sanitizer: plugin text never drives the terminal."""

from __future__ import annotations

from aro_tui.core.json_values import check_json
from aro_tui.core.sanitize import (
    as_overwritten,
    sanitize,
    sanitize_line,
    sanitize_tabbed_line,
    shorten,
)


def test_escape_and_osc52_are_made_visible() -> None:
    hostile = "before\x1b]52;c;aGVsbG8=\x07after\x1b[2J"
    shown = sanitize(hostile)
    assert "\x1b" not in shown and "\x07" not in shown
    assert shown == "before␛]52;c;aGVsbG8=␇after␛[2J"


def test_newline_and_tab_survive_but_carriage_return_does_not() -> None:
    assert sanitize("a\tb\nc\rd") == "a\tb\nc␍d"


def test_c1_del_and_bidi_overrides_are_escaped() -> None:
    assert sanitize("x\x9by\x7fz\u202e") == "x\\x9by␡z\\u202e"


def test_rich_markup_is_left_alone_for_text_objects() -> None:
    assert sanitize("[bold]hi[/]") == "[bold]hi[/]"


def test_line_form_also_hides_newlines_and_tabs() -> None:
    assert sanitize_line("name\nwith\ttab") == "name␊with␉tab"


def test_shorten() -> None:
    assert shorten("abcdef", 4) == "abc…"
    assert shorten("abc", 4) == "abc"


def test_line_and_paragraph_separators_cannot_break_a_line() -> None:
    """A text widget breaks the line at U+2028: a JSON string holding one was split in two."""
    text = '{"s": "a\u2028b\u2029c"}'
    assert sanitize(text) == '{"s": "a\\u2028b\\u2029c"}'
    assert len(sanitize(text).splitlines()) == 1


def test_a_line_drawn_with_carriage_returns_reads_as_a_terminal_shows_it() -> None:
    bar = "".join(f"\rLoading weights: {n:3d}%|" + "█" * (n // 10) for n in range(0, 101, 5))
    assert as_overwritten(bar + "\r") == "Loading weights: 100%|██████████"
    assert as_overwritten("abcdef\rxy") == "xycdef"  # a shorter part leaves the longer's end
    assert as_overwritten("no carriage return") == "no carriage return"
    assert as_overwritten("\r\r") == ""
    long = as_overwritten("x" * 60_000 + "\ry" * 30_000)  # linear, not quadratic
    assert long == "y" + "x" * 59_999


def test_carriage_returns_overwrite_by_columns_as_a_terminal_does() -> None:
    """A CJK character covers two columns: overwritten by characters, ``ABCDEFGH\\r日本`` read
    ``日本CDEFGH``, where a terminal shows ``日本EFGH``."""
    assert as_overwritten("ABCDEFGH\r日本") == "日本EFGH"
    assert as_overwritten("進捗進捗進捗進捗 0%\r進捗 50%") == "進捗 50%進捗進捗 0%"
    assert as_overwritten("日本語\rA") == "A 本語"  # 日 half covered: a space


def test_a_tabbed_line_is_laid_out_on_tab_stops_by_columns() -> None:
    assert sanitize_tabbed_line("a\tbb\tc") == "a       bb      c"
    assert sanitize_tabbed_line("日本\tx", tab_size=4) == "日本    x"  # 4 columns, then a stop
    assert sanitize_tabbed_line("\x1b[2J\tx\ny") == "␛[2J    x␊y"  # the stand-in takes a column


def test_a_control_character_in_a_json_string_is_named_in_a_whole_message() -> None:
    """The editor said "Invalid JSON at line 1, column 13: Invalid control character at"."""
    problem = check_json('{"value": "f\tg"}')
    assert problem is not None
    assert sanitize_line(problem.describe()) == (
        "Invalid JSON at line 1, column 13: a tab (U+0009) inside a string: JSON needs \\t"
    )
    unterminated = check_json('{"value": "abc')
    assert unterminated is not None
    assert unterminated.describe() == (
        'Invalid JSON at line 1, column 11: a string starts here and has no closing "'
    )
    other = check_json('["\x01"]')
    assert other is not None and other.message.startswith("a control character (U+0001)")


def test_input_nested_too_deep_is_pointed_at_where_pythons_reader_gave_up() -> None:
    """It pointed at level 500 as a guide, while the dashboard read 960 levels and sent them."""
    problem = check_json("[" * 3000 + "]" * 3000)
    assert problem is not None and problem.line == 1
    level = problem.column  # the bracket at column N opens level N
    assert f"it gave up near level {level:,}" in problem.message
    assert level > 500
    # A few levels less is read, from here, so the point is not short of where it failed.
    assert check_json("[" * (level - 10) + "]" * (level - 10)) is None
