"""Reading sessions back: damaged recordings still open; what isn't a session says so."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from session_recording import record_fake_exchanges

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session.reader import (
    SessionReadError,
    format_ranges,
    number_ranges,
    outline_session,
    read_session,
    read_session_header,
)
from aro_tui.core.session.recorder import SessionRecorder


def _recorded(tmp_path: Path, count: int = 3) -> Path:
    return record_fake_exchanges(tmp_path / "s.jsonl", count, plugins_dir=tmp_path)


def _cut_inside_last_exchange(path: Path) -> int:
    """Drop the end record and half of the last exchange line; return that line's number."""
    lines = path.read_bytes().splitlines(keepends=True)
    assert orjson.loads(lines[-1])["type"] == "end"
    last_exchange = lines[-2]
    path.write_bytes(b"".join(lines[:-2]) + last_exchange[: len(last_exchange) // 2])
    return len(lines) - 1


def test_a_recording_cut_off_mid_line_still_opens(tmp_path: Path) -> None:
    path = _recorded(tmp_path)
    cut_line = _cut_inside_last_exchange(path)
    session = read_session(path)
    assert [e.number for e in session.exchanges] == [1, 2]
    assert session.ended_at is None
    [warning] = session.warnings
    assert warning.startswith(f"line {cut_line}: the recording ends mid-record")


def test_bad_lines_in_the_middle_are_skipped_with_their_line_numbers(tmp_path: Path) -> None:
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(2, b"{not json\n")
    lines.insert(3, b'{"type": "mystery"}\n')
    lines.insert(4, b'{"type": "exchange", "number": 9}\n')
    lines.insert(5, b"\n")
    path.write_bytes(b"".join(lines))
    session = read_session(path)
    assert [e.number for e in session.exchanges] == [1, 2, 3]
    assert session.ended_at is not None
    assert [w.split(":")[0] for w in session.warnings] == ["line 3", "line 4", "line 5"]
    assert "not JSON" in session.warnings[0]
    assert "unknown record type 'mystery'" in session.warnings[1]
    assert "malformed exchange record" in session.warnings[2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"hello\n", "line 1 is not JSON"),
        (b'{"type": "exchange"}\n', "no header on line 1"),
        (b'{"type": "header", "format": "other/1"}\n', "unknown format"),
        (b'{"type": "header", "format": "aro-tui/session/2"}\n', "newer than this aro-tui"),
    ],
)
def test_files_that_are_not_sessions_say_why(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(content)
    with pytest.raises(SessionReadError, match=message):
        read_session(path)


def test_a_missing_file_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(SessionReadError, match="cannot be read"):
        read_session_header(tmp_path / "nope.jsonl")


def test_a_lost_side_file_fails_only_that_body(tmp_path: Path) -> None:
    recorder = SessionRecorder(tmp_path / "s.jsonl", spill_bytes=10)
    exchange = Exchange(1, "fake", "echo", b"{}")
    exchange.status = ExchangeStatus.OK
    exchange.response_bytes = b'{"long": "enough to spill"}'
    recorder.record_exchange(exchange)
    recorder.close()
    (tmp_path / "s.bodies" / "1.response").unlink()
    [recorded] = read_session(tmp_path / "s.jsonl").exchanges
    assert recorded.request.read() == b"{}"
    with pytest.raises(OSError):
        recorded.to_exchange()


def _exchange_lines(path: Path) -> list[int]:
    """The 0-based indexes of the exchange lines of ``path``."""
    lines = path.read_bytes().splitlines()
    return [i for i, line in enumerate(lines) if orjson.loads(line)["type"] == "exchange"]


def test_a_repeated_exchange_line_is_skipped_and_named_with_its_first(tmp_path: Path) -> None:
    """A copied line was read twice: listed and replayed twice, the count one too many."""
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    _, second, _ = _exchange_lines(path)
    lines.insert(second + 1, lines[second])  # exchange #2 again, right after itself
    path.write_bytes(b"".join(lines))
    session = read_session(path)
    assert [e.number for e in session.exchanges] == [1, 2, 3]
    assert session.warnings == [
        f"line {second + 2}: exchange #2 again (first on line {second + 1}); skipped"
    ]
    assert session.lost_exchanges == 0 and session.recorded_exchange_count == 3


def test_an_exchange_out_of_order_is_read_in_its_place_and_one_below_1_skipped(
    tmp_path: Path,
) -> None:
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    _, second, third = _exchange_lines(path)
    moved = lines[second]
    numbered_0 = orjson.loads(moved) | {"number": 0}
    lines[third + 1 : third + 1] = [moved, orjson.dumps(numbered_0) + b"\n"]
    del lines[second]  # #1 on line 2, #3 on line 3, then #2 on line 4 and #0 on line 5
    path.write_bytes(b"".join(lines))
    session = read_session(path)
    assert [e.number for e in session.exchanges] == [1, 2, 3]
    assert session.warnings == [
        "line 4: exchange #2 after #3 (line 3), out of order; read in its place",
        "line 5: exchange #0: exchanges are numbered from 1; skipped",
    ]
    assert session.missing_exchange_numbers == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[1, 2, 3]", "not a record object (an array); skipped"),
        (b'"exchange"', "not a record object (a string); skipped"),
        (b'{"no_type": 1}', "a record with no type; skipped"),
        (b'{"type": null}', "a record with no type; skipped"),
        (b'{"type": "header", "format": "aro-tui/session/1"}', "a second header; skipped"),
    ],
)
def test_lines_that_are_no_record_say_what_is_wrong(
    tmp_path: Path, line: bytes, message: str
) -> None:
    """Each was "unknown record type None" (or 'header', a type aro-tui knows)."""
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(2, line + b"\n")
    path.write_bytes(b"".join(lines))
    session = read_session(path)
    assert session.warnings == [f"line 3: {message}"]
    assert [e.number for e in session.exchanges] == [1, 2, 3]


def test_exchanges_missing_from_the_numbering_are_named(tmp_path: Path) -> None:
    """A line deleted whole leaves no warning; the gap, and the end record's count, show it."""
    path = _recorded(tmp_path, count=6)
    lines = path.read_bytes().splitlines(keepends=True)
    indexes = _exchange_lines(path)
    for index in reversed([indexes[1], indexes[3], indexes[4], indexes[5]]):  # #2, #4–6
        del lines[index]
    path.write_bytes(b"".join(lines))
    session = read_session(path)
    assert session.warnings == []
    assert session.missing_exchange_numbers == [(2, 2), (4, 6)]
    assert session.lost_exchanges == 4
    assert format_ranges(session.missing_exchange_numbers, "#") == "#2, #4–6"
    path.write_bytes(b"".join(lines[:-1]))  # no end record: only the gap is known
    assert read_session(path).missing_exchange_numbers == [(2, 2)]


def test_number_ranges_are_merged_and_bounded() -> None:
    assert number_ranges([4, 1, 2, 2, 5, 6, 21]) == [(1, 2), (4, 6), (21, 21)]
    assert format_ranges(number_ranges([1, 2, 4, 5, 21])) == "1–2, 4–5, 21"
    assert format_ranges([(n, n) for n in range(1, 30, 2)], "#", limit=3) == (
        "#1, #3, #5, and 12 more ranges"
    )


def test_an_outline_counts_and_warns_as_a_whole_read_and_reads_the_exchanges_again(
    tmp_path: Path,
) -> None:
    """``open --summary`` reads an outline, not the whole session: the same counts, plugins,
    damage and exchanges, in the same order, without holding the records."""
    path = tmp_path / "s.jsonl"
    recorder = SessionRecorder(path, spill_bytes=20)
    recorder.record_plugin_event("events-only", "started", pid=1)
    for number, plugin in enumerate(["b", "a", "b", "c", "a"], 1):
        exchange = Exchange(number, plugin, "echo", b'{"n": %d}' % (number * 10**20))
        exchange.status = ExchangeStatus.OK if number % 2 else ExchangeStatus.CRASHED
        exchange.response_bytes = b"{}"
        recorder.record_exchange(exchange)
        recorder.record_stderr_line(plugin, f"line {number}", None)
    recorder.record_sample({"t": 1.0})
    recorder.record_cache_event({"plugin": "a", "event": "load"})
    recorder.close()
    lines = path.read_bytes().splitlines(keepends=True)
    first, second, *_ = _exchange_lines(path)
    lines[first], lines[second] = lines[second], lines[first]  # #2 before #1: "a" comes first
    lines.insert(second + 1, lines[second])  # #1 again
    lines.insert(3, b"{not json\n")
    path.write_bytes(b"".join(lines)[:-10])  # the end record cut off
    session = read_session(path)
    seen: list[int] = []
    outline = outline_session(path, on_exchange=lambda exchange: seen.append(exchange.number))
    assert len(outline.warnings) == 4 and outline.warnings == session.warnings
    assert seen == [2, 1, 3, 4, 5]
    assert outline.plugins == session.plugins == ["b", "a", "c", "events-only"]
    counts = (outline.exchange_count, outline.error_count, outline.stderr_line_count)
    assert counts == (len(session.exchanges), session.error_count, len(session.stderr_lines))
    assert (outline.sample_count, outline.cache_event_count, outline.plugin_event_count) == (
        len(session.samples),
        len(session.cache_events),
        len(session.plugin_events),
    )
    assert outline.spilled_bodies == session.spilled_bodies and len(outline.spilled_bodies) == 5
    assert outline.ended_at is session.ended_at is None
    assert outline.exchange_lines == session.exchange_lines
    assert [e.record for e in outline.read_exchanges()] == [e.record for e in session.exchanges]


def test_an_exchange_changed_after_the_outline_is_left_out_with_a_warning(tmp_path: Path) -> None:
    path = _recorded(tmp_path)
    outline = outline_session(path)
    lines = path.read_bytes().splitlines(keepends=True)
    second = _exchange_lines(path)[1]
    lines[second] = b"x" * len(lines[second])
    path.write_bytes(b"".join(lines))
    assert [exchange.number for exchange in outline.read_exchanges()] == [1, 3]
    assert outline.warnings == [
        f"line {second + 1}: exchange #2 changed while it was read; left out"
    ]


def _cut_after(path: Path, marker: bytes, extra_bytes: int) -> int:
    """Cut ``path`` ``extra_bytes`` past the last ``marker``; return the cut line's number."""
    data = path.read_bytes()
    end = data.rindex(marker) + len(marker) + extra_bytes
    path.write_bytes(data[:end])
    return data[:end].count(b"\n") + 1


def test_an_exchange_the_recording_was_cut_off_in_is_lost_and_named(tmp_path: Path) -> None:
    """The warning said the last bytes were ignored, yet `lost` read 0: exchange #3, whose
    number those bytes began with, was never replayed and a CI check passed over it."""
    path = _recorded(tmp_path)
    cut_line = _cut_after(path, b'"number":3,', 40)
    for reading in (read_session(path), outline_session(path)):
        assert list(reading.exchange_lines) == [1, 2]
        assert reading.missing_exchange_numbers == [(3, 3)] and reading.lost_exchanges == 1
        [warning] = reading.warnings
        assert warning.startswith(
            f"line {cut_line}: the recording ends mid-record (aro-tui stopped while writing "
            "it): exchange #3 was cut off; the last "
        )


@pytest.mark.parametrize(
    ("marker", "extra_bytes"),
    [(b'"number":3', 0), (b'{"type":"exchange","t":', 3), (b'{"type":"end"', 5)],
    ids=["number unfinished", "before the number", "the end record"],
)
def test_a_cut_that_does_not_say_which_exchange_loses_none(
    marker: bytes, extra_bytes: int, tmp_path: Path
) -> None:
    """A number cut short (#3, or #31?), a line cut before it, or another record: no number
    to name, so none is counted lost."""
    path = _recorded(tmp_path)
    _cut_after(path, marker, extra_bytes)
    session = read_session(path)
    assert session.lost_exchanges == 0
    [warning] = session.warnings
    assert "ends mid-record" in warning and "cut off;" not in warning


def test_an_exchange_cut_off_again_after_its_whole_line_is_not_lost(tmp_path: Path) -> None:
    """A copy of a line that was read whole, cut off at the end: nothing is missing."""
    path = _recorded(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[1][:100])  # #1 again, cut
    session = read_session(path)
    assert session.lost_exchanges == 0
    assert "exchange #1 was cut off" in session.warnings[0]
