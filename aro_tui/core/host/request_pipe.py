"""The harness's stdin, written by hand: a non-blocking pipe, ``writev``, a queue when full.

Why not the transport that ``subprocess_exec(stdin=PIPE)`` returns: uvloop makes that stdin a
Unix socket, and an 8 KB request through a socket costs the host an skb allocation and the
plugin a socket read (about 3 µs per call together, measured with ``perf``); asyncio's pipe
transport adds a Python layer per write. Here the host owns an ordinary pipe (enlarged to
1 MiB), writes header and body with one ``os.writev`` without joining them, and only when the
pipe is full queues the rest and lets the event loop say when it can write again.

Requests sent while others are in flight (pipelined) are gathered until the end of the event
loop's current pass and written with one ``writev``: a pipelining caller that sends a request
as each answer arrives gets many answers per read, and wrote one system call per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque

MAX_WRITEV_PARTS = 512
"""Parts per ``writev`` (Linux allows 1024)."""


def _after(parts: list[bytes], written: int) -> list[memoryview]:
    """What of ``parts`` is left once ``written`` bytes of them went out."""
    left: list[memoryview] = []
    for part in parts:
        if written >= len(part):
            written -= len(part)
            continue
        left.append(memoryview(part)[written:])
        written = 0
    return left


class RequestPipe:
    """The write end of the harness's stdin (the caller hands over ``fd``; this closes it).

    Writes never block and never raise for a dead reader: once the harness is gone, data is
    dropped (the host learns of the exit from the process, not from a failed write).
    """

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        """Own ``fd`` (made non-blocking here)."""
        os.set_blocking(fd, False)
        self._fd = fd
        self._loop = loop
        self._queued: deque[memoryview] = deque()
        self._watching = False
        self._close_when_flushed = False
        self._batch: list[bytes] = []
        """Pipelined requests waiting for the end of this event-loop pass."""

    @property
    def queued_bytes(self) -> int:
        """Bytes accepted but not yet in the pipe."""
        return sum(len(view) for view in self._queued) + sum(len(part) for part in self._batch)

    def write(self, header: bytes, body: bytes = b"", *, batch: bool = False) -> None:
        """Send ``header`` then ``body`` (in order after anything queued); with ``batch``, at
        the end of this event-loop pass together with the other requests batched in it."""
        if self._fd < 0:
            return
        if batch or self._batch:
            if not self._batch:
                self._loop.call_soon(self._write_batch)
            self._batch.append(header)
            if body:
                self._batch.append(body)
            return
        if self._queued:
            self._queue(header, body)
            return
        try:
            written = os.writev(self._fd, (header, body)) if body else os.write(self._fd, header)
        except (BlockingIOError, InterruptedError):
            written = 0
        except OSError:  # EPIPE: the harness is gone
            self.close(flush=False)
            return
        if written < len(header):
            self._queue(memoryview(header)[written:], body)
        elif written < len(header) + len(body):
            self._queue(memoryview(body)[written - len(header) :])

    def _write_batch(self) -> None:
        parts, self._batch = self._batch, []
        if self._fd < 0 or not parts:
            return
        if self._queued:
            self._queue(*parts)
            return
        for start in range(0, len(parts), MAX_WRITEV_PARTS):
            chunk = parts[start : start + MAX_WRITEV_PARTS]
            try:
                written = os.writev(self._fd, chunk)
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError:  # EPIPE: the harness is gone
                self.close(flush=False)
                return
            if written < sum(len(part) for part in chunk):
                self._queue(*_after(chunk, written), *parts[start + MAX_WRITEV_PARTS :])
                return

    def close(self, *, flush: bool = True) -> None:
        """Close the pipe (the harness then reads end of file), after the queue if ``flush``."""
        if flush and self._batch:
            self._write_batch()
        self._batch.clear()
        if flush and self._queued and self._fd >= 0:
            self._close_when_flushed = True
            return
        self._queued.clear()
        self._watch(False)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def _queue(self, *parts: bytes | memoryview) -> None:
        self._queued.extend(memoryview(part) for part in parts if len(part))
        self._watch(True)

    def _watch(self, watching: bool) -> None:
        if watching is self._watching or self._fd < 0:
            return
        self._watching = watching
        if watching:
            self._loop.add_writer(self._fd, self._flush)
        else:
            self._loop.remove_writer(self._fd)

    def _flush(self) -> None:
        queued = self._queued
        while queued:
            view = queued[0]
            try:
                written = os.write(self._fd, view)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.close(flush=False)
                return
            if written < len(view):
                queued[0] = view[written:]
                return
            queued.popleft()
        self._watch(False)
        if self._close_when_flushed:
            self.close()
