"""Reading sessions back: damaged recordings still open; what isn't a session says so."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session.reader import SessionReadError, read_session, read_session_header
from aro_tui.core.session.recorder import SessionRecorder


def _recorded(tmp_path: Path, count: int = 3) -> Path:
    recorder = SessionRecorder(tmp_path / "s.jsonl", plugins_dir=tmp_path)
    for number in range(1, count + 1):
        exchange = Exchange(number, "fake", "echo", b'{"text": "%d"}' % number)
        exchange.status = ExchangeStatus.OK
        exchange.response_bytes = b'{"n": %d}' % number
        recorder.record_exchange(exchange)
    recorder.close()
    return recorder.path


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
