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
