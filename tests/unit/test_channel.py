"""The harness channel's stderr markers: which calls a chunk of stderr ends, and which lines
stay on which call (the parsing below the real-subprocess tests in test_host.py)."""

from __future__ import annotations

import asyncio

from aro_tui.core.host.channel import HarnessChannel
from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.inflight import InFlight, Pending

TOKEN = "t0ken"
MARKER = f"\x1e{TOKEN} ".encode()


class Calls:
    """An in-flight queue of calls 1..n with their frames in, and what the channel reports."""

    def __init__(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        self.inflight = InFlight(on_timeout=lambda pending: None)
        self.inflight.reset(loop)
        self.answered: list[int] = []
        self.lines: list[tuple[str, int | None]] = []
        self.channel = HarnessChannel(
            self.inflight,
            TOKEN,
            on_startup_frame=lambda frame: None,
            on_answered=lambda pending: self.answered.append(pending.exchange.id),
            on_stream_error=lambda message: None,
            on_stderr_line=self._line,
            on_closed=lambda: None,
        )
        self.pending: list[Pending] = []
        for request_id in range(1, count + 1):
            pending = Pending(Exchange(request_id, "p", "a", b"{}"), loop.create_future(), 60.0)
            self.inflight.add(pending, 0.0)
            self.pending.append(pending)
        for pending in self.pending:  # every frame is in; each call waits for its stderr end
            self.inflight.answered(pending.exchange.id, 0.0, 0.0)
            pending.frame = object()  # type: ignore[assignment]  # only "not None" is read

    def _line(self, text: str, exchange: Exchange | None) -> None:
        self.lines.append((text, None if exchange is None else exchange.id))

    def stderr_of(self, request_id: int) -> list[str]:
        return list(self.pending[request_id - 1].exchange.stderr_lines)


async def test_a_chunk_of_end_markers_ends_every_call_it_names_in_order() -> None:
    calls = Calls(4)
    calls.channel.feed_stderr(MARKER + b"end 1\n" + MARKER + b"end 2\n" + MARKER + b"end 3\n")
    assert calls.answered == [1, 2, 3]
    calls.channel.feed_stderr(MARKER + b"end 4\n")
    assert calls.answered == [1, 2, 3, 4]


async def test_a_begin_marker_ends_the_calls_before_it() -> None:
    calls = Calls(3)
    calls.channel.feed_stderr(MARKER + b"end 1\n" + MARKER + b"begin 3\n")
    assert calls.answered == [1, 2]


async def test_a_malformed_last_marker_still_lets_the_earlier_ones_end_their_calls() -> None:
    calls = Calls(3)
    calls.channel.feed_stderr(MARKER + b"end 1\n" + MARKER + b"end 2\n" + MARKER + b"bogus\n")
    assert calls.answered == [1, 2]
    assert calls.lines == []


async def test_lines_between_markers_stay_on_the_call_that_printed_them() -> None:
    calls = Calls(3)
    calls.channel.feed_stderr(
        b"one\n" + MARKER + b"end 1\n" + b"two\n" + MARKER + b"end 2\n" + b"three\n"
    )
    assert calls.answered == [1, 2]
    assert (calls.stderr_of(1), calls.stderr_of(2), calls.stderr_of(3)) == (
        ["one"],
        ["two"],
        ["three"],
    )


async def test_markers_split_across_reads_are_joined_before_they_count() -> None:
    calls = Calls(2)
    chunk = MARKER + b"end 1\n" + MARKER + b"end 2\n"
    calls.channel.feed_stderr(chunk[:-4])
    assert calls.answered == [1]
    calls.channel.feed_stderr(chunk[-4:])
    assert calls.answered == [1, 2]


async def test_output_without_newlines_is_cut_the_same_whatever_the_reads() -> None:
    """A progress bar redrawn with \\r and no newline was cut where each read ended: the
    same output counted 130 lines in `call` and 71 in the dashboard."""
    from aro_tui.core.host.channel import MAX_STDERR_LINE_BYTES

    output = b"".join(b"\rprogress %d/200000" % k for k in range(200_000))
    results = []
    for read_bytes in (4096, 65536, 1 << 20):
        calls = Calls(1)
        for start in range(0, len(output), read_bytes):
            calls.channel.feed_stderr(output[start : start + read_bytes])
        calls.channel.feed_stderr(b"\n")
        results.append([text for text, _ in calls.lines])
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == -(-len(output) // MAX_STDERR_LINE_BYTES)
