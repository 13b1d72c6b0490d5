"""How the panes lay out text: JSON with its numbers packed, docstrings with hanging items."""

from __future__ import annotations

import json
from random import Random

import orjson
import pytest

from aro_tui.core.json_values import loads_exact
from aro_tui.ui.formatting import (
    FULL_PRETTY_LIMIT_BYTES,
    LONG_LINE_CHARS,
    fit_to_rows,
    format_duration,
    layout_json,
    preview_body,
    raised_where,
    stderr_title,
)
from aro_tui.ui.widgets.response.exchange_view import truncation_note
from aro_tui.ui.widgets.sidebar.action_list import wrap_docstring

EMBEDDING = [(-1) ** i * (i + 0.123456789012345) / 997 for i in range(384)]


def _pane_text(document: object, line_chars: int = 60) -> str:
    body = orjson.dumps(document)
    return preview_body(body, len(body), 1 << 20, line_chars).text


def test_an_embedding_is_packed_several_numbers_to_a_line() -> None:
    document = {"embeddings": [EMBEDDING, EMBEDDING[:8]], "dimensions": 384}
    text = _pane_text(document)
    assert json.loads(text) == document  # exactly the same data, only laid out
    lines = text.splitlines()
    assert len(lines) < 250  # one number a line: 399 lines
    assert all(len(line) <= 60 for line in lines)
    assert lines[1:3] == ['  "embeddings": [', "    ["]  # the nesting stays visible
    assert max(line.count(",") for line in lines) >= 2


def test_a_short_array_of_numbers_stays_on_its_keys_line() -> None:
    text = _pane_text({"shape": [2, 384], "ids": [101, 2023, 102], "empty": []})
    assert '  "shape": [2, 384],' in text.splitlines()
    assert '  "ids": [101, 2023, 102],' in text.splitlines()
    assert '"empty": []' in text


def test_the_panes_width_decides_how_many_numbers_share_a_line() -> None:
    ids = list(range(1000, 1100))
    narrow = _pane_text({"ids": ids}, line_chars=30).splitlines()
    wide = _pane_text({"ids": ids}, line_chars=120).splitlines()
    assert all(len(line) <= 30 for line in narrow)
    assert all(len(line) <= 120 for line in wide)
    assert len(wide) < len(narrow) / 2


def test_records_and_pairs_that_fit_the_pane_take_one_line_each() -> None:
    document = {
        "most_common": [["the", 2], ["cat", 1]],
        "labels": [{"label": "POSITIVE", "score": 0.98}, {"label": "NEGATIVE", "score": 0.02}],
        "flags": [True, False, None],
        "text": "[\n  1,\n  2\n]",  # looks like an array only once escaped
    }
    text = _pane_text(document)
    assert json.loads(text) == document
    assert text.splitlines() == [
        "{",
        '  "most_common": [["the", 2], ["cat", 1]],',
        '  "labels": [',
        '    {"label": "POSITIVE", "score": 0.98},',
        '    {"label": "NEGATIVE", "score": 0.02}',
        "  ],",
        '  "flags": [true, false, null],',
        '  "text": "[\\n  1,\\n  2\\n]"',
        "}",
    ]


def test_a_container_wider_than_the_pane_opens_one_member_a_line() -> None:
    details = {"task": "feature-extraction", "device": "cpu", "bytes": 90_000_000}
    wide = _pane_text({"details": details}, line_chars=100).splitlines()
    narrow = _pane_text({"details": details}, line_chars=40).splitlines()
    assert (
        wide[1] == '  "details": {"task": "feature-extraction", "device": "cpu", "bytes": 90000000}'
    )
    assert narrow[1:6] == [
        '  "details": {',
        '    "task": "feature-extraction",',
        '    "device": "cpu",',
        '    "bytes": 90000000',
        "  }",
    ]


def test_a_long_list_of_words_is_packed_like_numbers() -> None:
    tokens = ["the", "cat", "sat", "on", "a", "mat"] * 20
    text = _pane_text({"tokens": tokens, "long": ["x" * 80, "y"]})
    assert json.loads(text) == {"tokens": tokens, "long": ["x" * 80, "y"]}
    lines = text.splitlines()
    assert len(lines) < 25  # one a line: 120 lines
    assert all(len(line) <= 60 for line in lines if "xxx" not in line)
    assert f'    "{"x" * 80}",' in lines  # an item wider than the pane has its own line


def test_integers_past_64_bits_are_shown_as_the_plugin_sent_them() -> None:
    body = b'{"id": 123456789012345678901234567890, "ids": [18446744073709551617, 1]}'
    text = preview_body(body, len(body), 1 << 20).text
    assert "123456789012345678901234567890" in text
    assert "18446744073709551617" in text


@pytest.mark.parametrize("depth", [600, 1010])
def test_nesting_deeper_than_python_recurses_is_still_shown(depth: int) -> None:
    body = b'{"a":' * depth + b"1" + b"}" * depth
    preview = preview_body(body, len(body), 1 << 20)
    if depth < 1000:  # read, too deep to lay out recursively: indented as text instead
        assert preview.is_json
        assert preview.text.count('"a": ') == depth
    else:  # past what the JSON reader takes: the text as it came
        assert preview.text.count('"a":') == depth


def test_every_number_form_is_packed_and_keeps_its_value() -> None:
    body = b'{"v": [1e-05, -0.0, 12345678901234567890, 2.5E+300, 3]}'
    text = preview_body(body, len(body), 1 << 20).text
    assert len(text.splitlines()) == 3
    assert json.loads(text) == json.loads(body)


def _streamed_lines(body: bytes, shown_bytes: int, line_chars: int = 60) -> list[str]:
    """The pane's lines for ``body`` when it is too large to read whole: its first
    ``shown_bytes`` laid out from the text."""
    total_bytes = max(len(body) + 1, FULL_PRETTY_LIMIT_BYTES + 1)
    preview = preview_body(body, total_bytes, shown_bytes, line_chars)
    assert preview.truncated and preview.is_json
    return preview.text.split("\n")


def test_an_embedding_batch_too_large_to_read_whole_is_packed_as_a_small_one_is() -> None:
    """Past 2 MiB the preview was re-indented one number a line, 384 lines a vector."""
    random = Random(7)
    vectors = [[random.uniform(-0.1, 0.1) for _ in range(384)] for _ in range(300)]
    body = orjson.dumps({"embeddings": vectors, "model": "all-MiniLM-L6-v2"})
    assert len(body) > FULL_PRETTY_LIMIT_BYTES
    preview = preview_body(body, len(body), 64 * 1024, 100)
    lines = preview.text.split("\n")
    assert preview.truncated and lines[:3] == ["{", '  "embeddings": [', "    ["]
    assert all(len(line) <= 100 for line in lines)
    numbers_shown = preview.text.count(".")
    assert len(lines) < numbers_shown / 3  # one a line: a line for each
    small_body = orjson.dumps({"embeddings": vectors[:20]})
    small = preview_body(small_body, len(small_body), 1 << 20, 100).text.split("\n")
    first_vector = small.index("    ],") + 1
    assert lines[:first_vector] == small[:first_vector]  # the same lines, under 2 MiB or over
    whole = layout_json(loads_exact(body), 100).split("\n")
    assert lines[:-1] == whole[: len(lines) - 1]  # the last line is cut mid-number


TRICKY = {
    "ids": [101, 2023, -7, 12345678901234567890, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    "scores": [0.061462910852, -0.0022480944, 1e-05, 2.5e300, -0.0, 1.0] * 3,
    "tokens": ["[CLS]", "a,b", 'say "hi"', "back\\slash", "é", "{", "", "😀", "x" * 70, "]"],
    "records": [
        {"label": "POSITIVE", "score": 0.98},
        {"label": "NEGATIVE", "score": 0.02, "spans": [[0, 3], [4, 9]], "note": "}, {"},
    ],
    "nested": [[1, 2], [], [[3.5, "]"], {}], {"deep": {"er": [True, False, None]}}],
    "mixed": [{"a": 1}, 2, "three", [4], {}],
    "empty": {},
    "none": [],
}


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(TRICKY).encode(),  # "\u00e9", "1e-05", a space after each comma
        json.dumps(TRICKY, indent=2, ensure_ascii=False).encode(),
        orjson.dumps(TRICKY),  # "1e-5"
    ],
    ids=["json.dumps", "indented", "orjson"],
)
@pytest.mark.parametrize("line_chars", [40, 100])
def test_a_body_laid_out_from_its_text_has_the_lines_it_has_read_whole(
    body: bytes, line_chars: int
) -> None:
    """Cut anywhere (mid-number, mid-string, mid-escape, between a key and its value), every
    line but the last is the whole document's line; read to its end, all of them are."""
    whole = layout_json(loads_exact(body), line_chars).split("\n")
    assert _streamed_lines(body, len(body), line_chars) == whole
    for shown_bytes in range(1, len(body)):
        lines = _streamed_lines(body, shown_bytes, line_chars)
        assert lines[:-1] == whole[: len(lines) - 1], body[:shown_bytes]


def test_a_cut_number_string_or_escape_ends_the_last_line_as_sent() -> None:
    body = json.dumps({"v": [0.061462910852, -0.00224809] * 5, "s": 'a "q" é [x]'}).encode()
    for cut_after, last_line in [
        (b"0.0614", "    0.061462910852, -0.00224809, 0.0614"),
        (b"-0.0022", "    0.061462910852, -0.00224809, 0.061462910852, -0.0022"),
        (b'"a \\"q', '  "s": "a \\"q'),
        (b'"a \\"q\\', '  "s": "a \\"q\\'),
        (b"\\u00", '  "s": "a \\"q\\" \\u00'),
    ]:
        shown_bytes = body.rindex(cut_after) + len(cut_after)
        assert _streamed_lines(body, shown_bytes)[-1] == last_line


def test_an_array_open_at_the_cut_is_packed_while_its_items_so_far_are_scalars() -> None:
    """What the text cannot tell: a container may follow. Read whole, such an array has one
    item a line, and so does its text once the container is in it."""
    body = json.dumps({"items": [*range(40), {"id": 40}]}).encode()
    before_the_record = _streamed_lines(body, body.index(b"{", 1))
    assert before_the_record[2].startswith("    0, 1, 2, 3,")
    with_the_record = _streamed_lines(body, len(body))
    assert with_the_record == layout_json(loads_exact(body)).split("\n")
    assert with_the_record[2:4] == ["    0,", "    1,"]


def test_a_member_wider_than_the_pane_opens_even_when_its_value_is_empty() -> None:
    """A long key before ``[]`` once kept its object on one line past the pane's edge."""
    key = "k" * 70
    lines = _pane_text({"details": {"n": 1, key: []}}).splitlines()
    assert lines[1:5] == ['  "details": {', '    "n": 1,', f'    "{key}": []', "  }"]


DOC = """Generate embeddings for text.

Input:
    - model: Hub name or local folder path; for all-MiniLM-L6-v2 the copy shipped by the package
    - batch_size: Texts per forward pass (default: 32)
Returns: a list of vectors, one per text, mean-pooled over the attention mask"""


def test_a_string_too_long_to_draw_quickly_is_cut_into_rows_of_the_pane_and_kept_whole() -> None:
    image = "QUJD" * 5000
    body = json.dumps({"image": image, "shape": [2, 3]}).encode()
    preview = fit_to_rows(preview_body(body, len(body), 64 * 1024, 100), 100)
    assert preview.lines_cut and not preview.is_json  # its strings now span lines
    rows = preview.text.split("\n")
    assert max(map(len, rows)) == 100
    assert "".join(rows).replace(" ", "") == json.dumps({"image": image, "shape": [2, 3]}).replace(
        " ", ""
    )


def test_lines_under_the_limit_stay_whole_and_highlighted() -> None:
    body = json.dumps({"text": "word " * (LONG_LINE_CHARS // 5 - 10)}).encode()
    preview = preview_body(body, len(body), 64 * 1024, 100)
    assert fit_to_rows(preview, 100) is preview
    assert preview.is_json and not preview.lines_cut


def test_docstring_items_wrap_under_their_own_text() -> None:
    lines = wrap_docstring(DOC, 30).splitlines()
    assert all(len(line) <= 30 for line in lines)
    start = lines.index("    - model: Hub name or local")
    following = lines[start + 1 : lines.index("    - batch_size: Texts per")]
    assert following and all(line.startswith(" " * 6) and line[6] != " " for line in following)
    returns = lines.index("Returns: a list of vectors,")
    assert lines[returns + 1].startswith(" " * 9)  # a "name: text" line hangs too
    assert " ".join(" ".join(lines).split()) == " ".join(DOC.split())  # no word lost


def test_a_docstring_wider_than_nothing_still_shows_every_word() -> None:
    narrow = wrap_docstring("    - averylongparameter_name_without_breaks: x", 12)
    assert "".join(narrow.split()) == "-averylongparameter_name_without_breaks:x"


def test_a_word_wider_than_what_is_left_of_a_line_starts_the_next_one() -> None:
    """textwrap put its start on the line before: ``(default: "s`` / ``entence-trans…``."""
    item = '    - model: a path (default: "sentence-transformers/all-MiniLM-L6-v2")'
    assert wrap_docstring(item, 28).splitlines() == [
        "    - model: a path",
        "      (default:",
        '      "sentence-transformers',
        '      /all-MiniLM-L6-v2")',
    ]


def test_a_word_wider_than_a_line_breaks_after_a_separator_only_if_no_line_is_added() -> None:
    assert wrap_docstring("the mask, L2-normalised)", 12).splitlines() == [
        "the mask,",
        "L2-",
        "normalised)",
    ]
    assert wrap_docstring("abcdefghijklmnopq", 8).splitlines() == ["abcdefgh", "ijklmnop", "q"]
    assert wrap_docstring("    averyveryverylongword", 12).splitlines() == [
        "    averyver",
        "    yverylon",
        "    gword",
    ]


def test_stderr_title_counts_lines_and_says_when_some_were_dropped() -> None:
    assert stderr_title("#3", 0, 0) == "stderr #3 (0 lines)"
    assert stderr_title("#3", 1, 1) == "stderr #3 (1 line)"
    assert stderr_title("#3", 20, 0) == "stderr #3 (20 lines)"  # a crash shows the plugin's last
    assert stderr_title("#12", 200, 104_857) == "stderr #12 (last 200 of 104,857 lines)"
    assert stderr_title("· running", 2, 2) == "stderr · running (2 lines)"


def test_durations_fit_the_logs_time_column_with_their_unit() -> None:
    """The column is 8 characters wide; '8779.28 s' lost its unit there (a call queued
    behind a hung one showed its wait since boot as '8779.28')."""
    shown = {
        ms: format_duration(ms)
        for ms in (0.0004, 0.9996, 999.94, 999.96, 99_994, 99_996, 1_200_000, 9_999_600)
    }
    assert list(shown.values()) == [
        "0 µs", "1.0 ms", "999.9 ms", "1.00 s", "99.99 s", "100 s", "1200 s", "2.8 h",
    ]  # fmt: skip
    assert all(len(text) <= 8 for text in shown.values())


def test_a_preview_cut_inside_a_long_line_shows_the_limit_not_only_the_lines_before() -> None:
    """The preview of a 1 MB string member was once the first line, ``{``, alone."""
    body = json.dumps({"data": "x" * 1_000_000, "n": 1}).encode()
    preview = fit_to_rows(preview_body(body, len(body), 64 * 1024, 100), 100)
    rows = preview.text.split("\n")
    assert rows[0] == "{" and rows[1].startswith('  "data": "xxx')
    assert sum(map(len, rows)) >= 64 * 1024 - 100
    assert preview.truncated and preview.lines_cut
    note = truncation_note(preview, 64 * 1024)
    assert note is not None and "showing 64.0 KiB of 976.6 KiB" in note.plain


def test_json_the_reader_cannot_lay_out_is_shown_as_sent_with_a_note() -> None:
    """1e400 (valid JSON, past a float) was shown raw, with no word why."""
    body = b'{"n": 1e400}'
    preview = preview_body(body, len(body), 64 * 1024)
    assert preview.text == '{"n": 1e400}' and not preview.truncated
    note = truncation_note(preview, 64 * 1024)
    assert note is not None
    assert note.plain.startswith("shown as sent, not laid out: Number out of range")
    plain_text = preview_body(b"not json at all", 15, 64 * 1024)
    assert truncation_note(plain_text, 64 * 1024) is None  # not meant as JSON: no note


def test_raised_where_names_the_last_exception_and_the_innermost_frame() -> None:
    chained = (
        "Traceback (most recent call last):\n"
        '  File "/p/src/plugin.py", line 10, in aro_action_load\n'
        "    json.loads(text)\n"
        "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "/harness/harness.py", line 560, in _call\n'
        "    result = function(text)\n"
        '  File "/p/src/plugin.py", line 12, in aro_action_load\n'
        '    raise ValueError("no model")\n'
        "ValueError: no model\n"
    )
    assert raised_where(chained) == "ValueError: no model · plugin.py:12 in aro_action_load"
    assert raised_where("KeyError: 'x'\n") == "KeyError: 'x'"
    assert raised_where("Traceback (most recent call last):\n") is None
    long = raised_where("E: " + "x" * 300)
    assert long is not None and len(long) == 120 and long.endswith("…")


def test_long_lines_are_cut_by_cells_so_wide_characters_fill_each_row_once() -> None:
    """Cut by characters, a row of CJK and emoji was twice the pane's width and wrapped
    again: every other row half empty, words split."""
    from rich.cells import cell_len

    from aro_tui.ui.formatting import cut_long_lines

    line = "ünïcødé 日本語 🎉🚀 " * 400
    rows = cut_long_lines(line, 40).split("\n")
    assert "".join(rows) == line
    assert all(cell_len(row) <= 40 for row in rows)
    assert all(cell_len(row) >= 38 for row in rows[:-1])  # full, but for a wide character
    ascii_rows = cut_long_lines("x" * 100, 40).split("\n")
    assert ascii_rows == ["x" * 40, "x" * 40, "x" * 20]
