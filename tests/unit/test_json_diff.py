"""The structural JSON diff: paths, kinds, ignores, tolerances and bounded output."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from aro_tui.core.session.json_diff import (
    DiffOptions,
    IgnorePattern,
    IgnorePatternError,
    diff_json,
    format_path,
    format_value,
    format_value_pair,
)
from aro_tui.core.session.replay import diff_responses


def changes(old: Any, new: Any, **options: Any) -> list[tuple[str, str, Any, Any]]:
    diff = diff_json(old, new, DiffOptions.build(**options))
    return [(e.path, e.kind, e.old, e.new) for e in diff.entries]


def test_equal_documents() -> None:
    document = {"a": [1, 2.5, {"b": None}], "c": "x", "d": True}
    diff = diff_json(document, {"c": "x", "d": True, "a": [1, 2.5, {"b": None}]})
    assert diff.equal and diff.entries == () and diff.total == 0


def test_changed_added_removed_in_document_order() -> None:
    old = {"embeddings": [[0.1, 0.2, 0.3, 0.4]], "model": "a", "gone": 1}
    new = {"embeddings": [[0.1, 0.2, 0.3, 0.5]], "model": "b", "extra": {"k": 1}}
    assert changes(old, new) == [
        ("$.embeddings[0][3]", "changed", 0.4, 0.5),
        ("$.model", "changed", "a", "b"),
        ("$.gone", "removed", 1, None),
        ("$.extra", "added", None, {"k": 1}),
    ]


def test_lists_compare_by_position_with_added_and_removed_tails() -> None:
    assert changes([1, 2], [1, 2, 3]) == [("$[2]", "added", None, 3)]
    assert changes([1, 2, 3], [1]) == [("$[1]", "removed", 2, None), ("$[2]", "removed", 3, None)]


def test_type_changes_are_changes() -> None:
    assert changes({"a": 1}, {"a": "1"}) == [("$.a", "changed", 1, "1")]
    assert changes({"a": True}, {"a": 1}) == [("$.a", "changed", True, 1)]
    assert changes({"a": [1]}, {"a": {"0": 1}}) == [("$.a", "changed", [1], {"0": 1})]
    assert changes(None, {}) == [("$", "changed", None, {})]


def test_int_and_float_of_equal_value_are_equal() -> None:
    assert changes({"n": 1}, {"n": 1.0}) == []


def test_relative_tolerance() -> None:
    assert changes([1.0, 100.0], [1.0000001, 100.001], rel_tol=1e-4) == []
    assert changes([1.0], [1.01], rel_tol=1e-4) == [("$[0]", "changed", 1.0, 1.01)]


def test_keys_that_are_not_identifiers_are_quoted() -> None:
    assert format_path(["a b", 0, "x", 'q"k', "ü"]) == '$["a b"][0].x["q\\"k"]["ü"]'


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("$.timing_ms", ["timing_ms"], True),
        ("$.timing_ms", ["nested", "timing_ms"], False),
        ("$..load_seconds", ["load_seconds"], True),
        ("$..load_seconds", ["models", 3, "load_seconds"], True),
        ("$..load_seconds", ["models", 3, "other"], False),
        ("$.items[*].id", ["items", 7, "id"], True),
        ("$.items[2].id", ["items", 7, "id"], False),
        ("$.*_ms", ["decode_ms"], True),
        ("$.*", ["anything"], True),
        ("$.*", [0], False),
        ('$["a b"]', ["a b"], True),
        ('$["a*"]', ["abc"], False),
        ('$["a*"]', ["a*"], True),
        ("$..[*]", ["x", 3], True),
    ],
)
def test_ignore_patterns(pattern: str, path: list[Any], matches: bool) -> None:
    assert IgnorePattern(pattern).matches(path) is matches


@pytest.mark.parametrize("pattern", ["timing_ms", "$.a..", "$.a[x]", "$[", "$ .a"])
def test_bad_ignore_patterns_say_why(pattern: str) -> None:
    with pytest.raises(IgnorePatternError, match="ignore pattern"):
        IgnorePattern(pattern)


def test_ignored_paths_hide_their_subtree() -> None:
    old = {"timing_ms": 3, "models": [{"load_seconds": 1.5, "name": "a"}], "stats": {"x": 1}}
    new = {"timing_ms": 9, "models": [{"load_seconds": 2.5, "name": "b"}], "stats": {"x": 2}}
    result = changes(new=new, old=old, ignore=["$.timing_ms", "$..load_seconds", "$.stats"])
    assert result == [("$.models[0].name", "changed", "a", "b")]


def test_many_differences_are_counted_but_bounded() -> None:
    old = list(range(5000))
    new = [value + 1 for value in old]
    diff = diff_json(old, new, DiffOptions(max_entries=10))
    assert diff.total == 5000 and len(diff.entries) == 10 and diff.omitted == 4990
    assert diff.entries[0].path == "$[0]"


def test_deep_nesting_does_not_overflow_the_stack() -> None:
    old: Any = 1
    new: Any = 2
    for _ in range(5000):
        old, new = [old], [new]
    diff = diff_json(old, new)
    assert diff.total == 1
    assert diff.entries[0].path == "$" + "[0]" * 5000


def test_values_are_truncated_for_people() -> None:
    long_list = list(range(1000))
    [entry] = diff_json({"v": long_list}, {"v": "short"}).entries
    line = entry.describe(max_value_chars=30)
    assert line.startswith("~ $.v: [0,1,2,3")
    assert "… (3891 chars)" in line
    assert line.endswith('→ "short"')
    record = entry.to_json(max_value_chars=30)
    assert record["new"] == "short"
    assert isinstance(record["old"], str) and record["old"].endswith("(3891 chars)")
    assert format_value("ü" * 3) == '"üüü"'


def test_options_reject_negative_tolerance() -> None:
    with pytest.raises(ValueError, match="tolerances"):
        DiffOptions.build(rel_tol=-1)


def test_response_bodies_with_integers_past_64_bits_compare_exactly() -> None:
    old = b'{"id": 123456789012345678901234567890, "n": 1}'
    new = b'{"id": 123456789012345678901234567891, "n": 1}'
    diff = diff_responses(old, new)  # read as floats, both ids were the same number
    assert [entry.describe() for entry in diff.entries] == [
        "~ $.id: 123456789012345678901234567890 → 123456789012345678901234567891"
    ]
    assert diff_responses(old, old).equal


def test_a_tolerance_does_not_fail_on_integers_past_the_range_of_floats() -> None:
    huge = 10**400
    assert changes({"n": huge}, {"n": huge + 1}, rel_tol=0.01) == [
        ("$.n", "changed", huge, huge + 1)
    ]
    assert changes({"n": 100}, {"n": 100.5}, rel_tol=0.01) == []


def test_the_compare_views_memory_columns_hold_their_widest_figures() -> None:
    """At 140 columns the growth column read "+26.0 MiB → +25.0 Mi"."""
    from aro_tui.ui.screens.diff import compact_memory, run_columns, signed_memory, then_now

    widths = {key: width for key, _, width in run_columns(140)}
    sizes = [0, 999 * 1024, 26 * 1024**2, 1023 * 1024**2 + 1000, 123 * 1024**3]
    for old in sizes:
        for new in sizes:
            rss = then_now(compact_memory(old, False), compact_memory(new, False))
            assert len(rss) <= widths["rss"], rss
            growth = then_now(signed_memory(-old, False), signed_memory(new, False))
            assert len(growth) <= widths["growth"], growth


def test_long_strings_alike_past_the_cut_show_where_they_differ() -> None:
    """Cut from the start, both sides read "line1…(86 chars)": the change was past the cut."""
    before = "line1\n" + "x" * 60 + "text around "
    old, new = before + "日本 and more", before + "中国 and more"
    [entry] = diff_json({"q": old}, {"q": new}).entries
    line = entry.describe()
    old_text, new_text = line.removeprefix("~ $.q: ").split(" → ")
    assert old_text != new_text
    assert "text around 日本" in old_text and "text around 中国" in new_text
    assert old_text.startswith("…") and old_text.endswith(" (92 chars)")
    assert len(old_text.removesuffix(" (92 chars)")) <= 60
    record = entry.to_json(max_value_chars=30)
    assert "日本" in record["old"] and "中国" in record["new"]
    assert record["old"].startswith("…") and len(record["old"].removesuffix(" (92 chars)")) <= 30


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # A difference the plain cut shows is cut as before.
        ("ab" + "x" * 80, "ac" + "x" * 80, ('"abxxxxxx… (84 chars)', '"acxxxxxx… (84 chars)')),
        # One side fits whole; the other is cut around the difference.
        ("a" * 8, "a" * 8 + "c" + "d" * 20, ('"aaaaaaaa"', "…aacddddd… (31 chars)")),
        # Near the end: the window ends with the text, so it holds more before.
        ("a" * 30 + "b", "a" * 30 + "c", ('…aaaaaaab" (33 chars)', '…aaaaaaac" (33 chars)')),
        # Values that are not both strings keep the plain cut.
        ("a" * 30, ["a" * 30], ('"aaaaaaaa… (32 chars)', '["aaaaaaa… (34 chars)')),
    ],
)
def test_value_pairs_keep_the_budget(old: Any, new: Any, expected: tuple[str, str]) -> None:
    assert format_value_pair(old, new, 10) == expected


def test_changed_bodies_that_are_not_utf8_show_the_bytes_that_differ() -> None:
    """0xE9 against 0xE8 read "caf�" → "caf�", in text and in --json."""
    [entry] = diff_responses(b"caf\xe9 \\ \x00", b"caf\xe8 \\ \x00").entries
    # Control bytes as bytes are written (\x00, \x1b), not as JSON's \u0000 beside \xe9.
    assert entry.describe() == '~ $: b"caf\\xe9 \\\\ \\x00" → b"caf\\xe8 \\\\ \\x00"'
    record = entry.to_json()
    assert (record["old_encoding"], record["new_encoding"]) == ("base64", "base64")
    assert base64.b64decode(record["old"]) == b"caf\xe9 \\ \x00"
    assert base64.b64decode(record["new"]) == b"caf\xe8 \\ \x00"
    [text_entry] = diff_responses(b"caf\xc3\xa9", b"caf\xe8").entries
    assert text_entry.describe() == '~ $: "café" → b"caf\\xe8"'
    assert "old_encoding" not in text_entry.to_json()


def test_long_bodies_that_are_not_utf8_are_cut_where_they_differ() -> None:
    old, new = b"a" * 100 + b"\xe9", b"a" * 100 + b"\xe8"
    assert format_value_pair(old, new, 20) == (
        '…aaaaaaaaaaaaaa\\xe9" (107 chars)',
        '…aaaaaaaaaaaaaa\\xe8" (107 chars)',
    )


def test_a_response_against_no_recorded_response_is_its_json_value() -> None:
    """It read `~ $: null → "{\\"slept\\": true}"`: the new answer as an escaped string."""
    [entry] = diff_responses(None, b'{"slept": true}').entries
    assert (entry.old, entry.new) == (None, {"slept": True})
    assert entry.describe() == '~ $: null → {"slept":true}'
    assert entry.to_json() == {"path": "$", "kind": "changed", "old": None, "new": {"slept": True}}
    [entry] = diff_responses(b"not json", b"[1]").entries
    assert (entry.old, entry.new) == ("not json", [1])
