"""The harness's stdin, written by hand: a non-blocking pipe, ``writev``, a queue when full.

Why not the transport that ``subprocess_exec(stdin=PIPE)`` returns: uvloop makes that stdin a
Unix socket, and an 8 KB request through a socket costs the host an skb allocation and the
plugin a socket read (about 3 µs per call together, measured with ``perf``); asyncio's pipe
transport adds a Python layer per write. Here the host owns an ordinary pipe (enlarged to
1 MiB), writes header and body with one ``os.writev`` without joining them, and only when the
pipe is full queues the rest and lets the event loop say when it can write again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque


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

    @property
    def queued_bytes(self) -> int:
        """Bytes accepted but not yet in the pipe."""
        return sum(len(view) for view in self._queued)

    def write(self, header: bytes, body: bytes = b"") -> None:
        """Send ``header`` then ``body`` (in order after anything queued)."""
        if self._fd < 0:
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

    def close(self, *, flush: bool = True) -> None:
        """Close the pipe (the harness then reads end of file), after the queue if ``flush``."""
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
