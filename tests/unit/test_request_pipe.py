"""The harness's stdin writer: order kept when the pipe is full, close after flush, dead readers."""

from __future__ import annotations

import asyncio
import os

from aro_tui.core.host.request_pipe import RequestPipe


async def _read_all(fd: int) -> bytes:
    """Read ``fd`` until end of file without blocking the loop."""
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            await asyncio.sleep(0.001)
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


async def test_requests_bigger_than_the_pipe_arrive_whole_and_in_order() -> None:
    read_fd, write_fd = os.pipe()
    pipe = RequestPipe(write_fd, asyncio.get_running_loop())
    parts = [(b"h%d\n" % index, bytes([65 + index]) * (700_000 + index)) for index in range(5)]
    for header, body in parts:
        pipe.write(header, body)  # ~3.5 MB into a pipe that holds far less
    assert pipe.queued_bytes > 0
    pipe.write(b"last\n")
    pipe.close()  # only once everything queued is written
    received = await asyncio.wait_for(_read_all(read_fd), 10)
    os.close(read_fd)
    assert received == b"".join(header + body for header, body in parts) + b"last\n"
    assert pipe.queued_bytes == 0


async def test_writing_after_the_reader_is_gone_drops_data_without_raising() -> None:
    read_fd, write_fd = os.pipe()
    pipe = RequestPipe(write_fd, asyncio.get_running_loop())
    os.close(read_fd)
    pipe.write(b"call 1 2 - echo\n", b"{}")
    pipe.write(b"call 2 2 - echo\n", b"{}")
    assert pipe.queued_bytes == 0
    pipe.close()


def _readable(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 20)
    except BlockingIOError:
        return b""


async def test_pipelined_requests_go_out_together_at_the_end_of_the_pass() -> None:
    read_fd, write_fd = os.pipe()
    pipe = RequestPipe(write_fd, asyncio.get_running_loop())
    pipe.write(b"call 1 2 - echo\n", b"{}")  # nothing else in flight: written at once
    assert _readable(read_fd) == b"call 1 2 - echo\n{}"
    pipe.write(b"call 2 2 p echo\n", b"{}", batch=True)
    pipe.write(b"call 3 0 p noop\n", batch=True)
    pipe.write(b"call 4 2 - echo\n", b"{}")  # behind the batch, never ahead of it
    assert _readable(read_fd) == b"" and pipe.queued_bytes == 52
    await asyncio.sleep(0)
    assert _readable(read_fd) == b"call 2 2 p echo\n{}call 3 0 p noop\ncall 4 2 - echo\n{}"
    assert pipe.queued_bytes == 0
    pipe.close()
    os.close(read_fd)


async def test_a_batch_bigger_than_the_pipe_arrives_whole_and_in_order() -> None:
    read_fd, write_fd = os.pipe()
    pipe = RequestPipe(write_fd, asyncio.get_running_loop())
    parts = [(b"h%d\n" % index, bytes([65 + index]) * 300_000) for index in range(8)]
    for header, body in parts:
        pipe.write(header, body, batch=True)
    pipe.write(b"last\n", batch=True)
    await asyncio.sleep(0)
    assert pipe.queued_bytes > 0  # the pipe took part of it; the rest waits for room
    pipe.close()
    received = await asyncio.wait_for(_read_all(read_fd), 10)
    os.close(read_fd)
    assert received == b"".join(header + body for header, body in parts) + b"last\n"


async def test_closing_sends_a_pending_batch_first() -> None:
    read_fd, write_fd = os.pipe()
    pipe = RequestPipe(write_fd, asyncio.get_running_loop())
    pipe.write(b"call 1 0 p noop\n", batch=True)
    pipe.write(b"exit 2 0 p -\n", batch=True)
    pipe.close()
    received = await asyncio.wait_for(_read_all(read_fd), 10)
    os.close(read_fd)
    assert received == b"call 1 0 p noop\nexit 2 0 p -\n"
