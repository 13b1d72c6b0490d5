"""One running harness's pipes: response frames on stdout, stderr lines, stderr markers.

The host ends an exchange only when both its frame and the end of its stderr output arrived,
so every stderr line lands on the call that printed it (see ``docs/host-protocol.md``,
"stdout and stderr"). The end of a call's output is known from one of three things: its end
marker (``\\x1e<token> end <id>``, written before its frame when stderr held unread bytes), the
next call's begin marker (written when that call was sent while this one could still print),
or its frame saying stderr held nothing unread when it answered (then there is nothing to wait
for and nothing to read: the common case costs no stderr system call on either side).

Why the pipes are read by hand (``add_reader`` + ``os.read``) rather than through asyncio's pipe
transports: stderr is normally *not* watched by the event loop. When a frame says an end marker
was written, it was written before the frame, so a non-blocking read of stderr finds it already
there; waking up for the marker as well cost an extra event-loop pass per call, and an extra
context switch when host and plugin share a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Callable

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.inflight import InFlight, Pending
from aro_tui.core.host.orphan_guard import OWNER_ENV, owner_marker
from aro_tui.core.host.process_tree import PAGE_SIZE_BYTES
from aro_tui.core.host.protocol import (
    HARNESS_PROTOCOL,
    Frame,
    FrameDecoder,
    ProtocolError,
    left_running_names,
)
from aro_tui.core.host.request_pipe import RequestPipe
from aro_tui.core.host.types import PluginLaunch
from aro_tui.harness import HARNESS_START_PATH

INSTANCE_ENV = "ARO_TUI_PLUGIN_INSTANCE"
"""Set to the process's token in the plugin's environment, to find its orphans."""
MAX_STDERR_LINE_BYTES = 64 * 1024
PIPE_SIZE_BYTES = 1 << 20
"""Asked for with F_SETPIPE_SZ (the unprivileged maximum): a chatty plugin or a big frame
blocks the plugin only after 1 MiB, not 64 KiB."""
STDERR_POLL_S = 0.02
"""How often stderr is drained while nothing else reads it (see HarnessChannel)."""
CHATTY_BYTES = 64 * 1024
"""stderr bytes per poll above which stderr is read continuously (add_reader)."""
READ_BYTES = 64 * 1024
DRAIN_SLICE_S = 0.02
"""The longest one drain of stderr reads before the event loop gets its turn back."""
"""Why not larger: ``os.read(fd, n)`` allocates ``n`` bytes up front, and glibc serves more
than 128 KiB with ``mmap`` until a large block has been freed; a 256 KiB read then cost ~17 µs
per call in a fresh process, against ~1 µs for 64 KiB."""
BIG_READ_BYTES = PIPE_SIZE_BYTES
"""The most read at once while a large frame body is arriving (exactly what it still needs)."""


def harness_command(
    launch: PluginLaunch, token: str, cancel_read_fd: int
) -> tuple[list[str], dict[str, str]]:
    """The harness's argv and environment for ``launch``."""
    argv = [
        str(launch.interpreter),
        str(HARNESS_START_PATH),
        "--module",
        str(launch.module_path),
        "--plugin-name",
        launch.name,
        "--token",
        token,
        "--cancel-fd",
        str(cancel_read_fd),
        "--parent-pid",
        str(os.getpid()),
        "--protocol",
        str(HARNESS_PROTOCOL),
    ]
    if launch.source_dir is not None:
        argv += ["--source-dir", str(launch.source_dir)]
    if launch.sample_memory:
        argv.append("--report-rss")
    env = dict(os.environ if launch.env is None else launch.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[INSTANCE_ENV] = token
    env[OWNER_ENV] = owner_marker()  # the guard kills what a kill -9 of aro-tui leaves
    return argv, env


async def spawn_harness(
    launch: PluginLaunch, token: str
) -> tuple[asyncio.SubprocessTransport, HarnessProtocol, RequestPipe, int, int, int]:
    """Start the harness in its own session (``OSError`` if it cannot be started).

    Returns its transport, the protocol that reports its exit, its stdin, the write end of
    its cancel pipe, and the non-blocking read ends of its stdout and stderr pipes (the
    caller owns those fds). All three standard streams are plain pipes made here (see
    ``request_pipe``).
    """
    loop = asyncio.get_running_loop()
    cancel_read_fd, cancel_write_fd = os.pipe()
    os.set_blocking(cancel_write_fd, False)
    stdin_read_fd, stdin_write_fd = os.pipe()
    stdout_read_fd, stdout_write_fd = os.pipe()
    stderr_read_fd, stderr_write_fd = os.pipe()
    child_fds = (cancel_read_fd, stdin_read_fd, stdout_write_fd, stderr_write_fd)
    ours = (cancel_write_fd, stdin_write_fd, stdout_read_fd, stderr_read_fd)
    for fd in (stdin_write_fd, stdout_read_fd, stderr_read_fd):
        _enlarge_pipe(fd)
    for fd in (stdout_read_fd, stderr_read_fd):
        os.set_blocking(fd, False)
    argv, env = harness_command(launch, token, cancel_read_fd)
    try:
        transport, protocol = await loop.subprocess_exec(
            HarnessProtocol,
            *argv,
            stdin=stdin_read_fd,
            stdout=stdout_write_fd,
            stderr=stderr_write_fd,
            cwd=str(launch.cwd) if launch.cwd is not None else None,
            env=env,
            start_new_session=True,
            pass_fds=(cancel_read_fd,),
        )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in child_fds:
            os.close(fd)
    stdin = RequestPipe(stdin_write_fd, loop)
    return transport, protocol, stdin, cancel_write_fd, stdout_read_fd, stderr_read_fd


def _enlarge_pipe(fd: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE_BYTES)


class HarnessChannel:
    """Reads one harness's stdout and stderr and correlates them with the requests in flight.

    stdout is watched with ``add_reader``. stderr is drained synchronously whenever frames
    arrive, and by a timer every ``STDERR_POLL_S`` (so lines between or during long calls
    show up, and the plugin never blocks on a full pipe for long); when a poll finds more
    than ``CHATTY_BYTES``, stderr is watched continuously until a poll period is quiet again.

    The owner supplies callbacks: ``on_startup_frame`` (id 0: ready / import error),
    ``on_answered`` (frame and end of stderr both in), ``on_stream_error`` (corrupt stream),
    ``on_stderr_line`` (a line, with the observed exchange it belongs to or None) and
    ``on_closed`` (the process exited and both pipes reached end of file); and, once the
    process tree is known, ``sample_rss``.
    """

    def __init__(
        self,
        inflight: InFlight,
        token: str,
        *,
        on_startup_frame: Callable[[Frame], None],
        on_answered: Callable[[Pending], None],
        on_stream_error: Callable[[str], None],
        on_stderr_line: Callable[[str, Exchange | None], None],
        on_closed: Callable[[], None],
        on_stderr_partial: Callable[[str, Exchange | None], None] | None = None,
    ) -> None:
        """Start with empty buffers for the process identified by ``token``."""
        self._inflight = inflight
        self._marker = f"\x1e{token} ".encode()
        self._running_marker = self._marker + b"running "
        self._decoder = FrameDecoder()
        self._stderr_partial = b""
        self._on_startup_frame = on_startup_frame
        self._on_answered = on_answered
        self._on_stream_error = on_stream_error
        self._on_stderr_line = on_stderr_line
        self._on_stderr_partial = on_stderr_partial
        self.sample_rss: Callable[[int], int | None] | None = None
        """The tree's rss given the harness's own resident pages from a frame header (-1 if
        not reported); set by the owner once the process tree is known, None when memory is
        not sampled."""
        self._on_closed = on_closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stdout_fd = -1
        self._stderr_fd = -1
        self._stderr_watched = False
        self._stderr_bytes_since_poll = 0
        self._poll_timer: asyncio.TimerHandle | None = None
        self._exited = False

    def attach(self, stdout_fd: int, stderr_fd: int) -> None:
        """Start reading the pipes' non-blocking read ends (the channel closes them)."""
        self._loop = asyncio.get_running_loop()
        self._stdout_fd = stdout_fd
        self._stderr_fd = stderr_fd
        self._loop.add_reader(stdout_fd, self._read_stdout)
        self._poll_timer = self._loop.call_later(STDERR_POLL_S, self._poll_stderr)

    def process_exited(self) -> None:
        """The process is gone: read stderr continuously to see its end of file."""
        self._exited = True
        self._watch_stderr(True)
        self._maybe_closed()

    def close(self) -> None:
        """Read what is left on stderr, stop watching, close both fds."""
        if self._stderr_fd >= 0:
            # The process is gone: at most a pipe's worth is left (its last lines, a
            # traceback), unless an orphan still writes; that one gets a second.
            self.drain_stderr(slice_s=1.0)
        if self._stderr_partial:
            self._line(self._stderr_partial)
            self._stderr_partial = b""
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None
        self._watch_stderr(False)
        self._close_stdout()
        if self._stderr_fd >= 0:
            os.close(self._stderr_fd)
            self._stderr_fd = -1

    # -- stdout -----------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        remaining = self._decoder.body_remaining()
        size = min(remaining, BIG_READ_BYTES) if remaining > READ_BYTES else READ_BYTES
        try:
            data = os.read(self._stdout_fd, size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_stdout()
            self._maybe_closed()
            return
        self.feed_stdout(data)

    def feed_stdout(self, data: bytes) -> None:
        """Consume protocol bytes."""
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as error:
            self._on_stream_error(str(error))
            return
        if not frames:
            return
        if self._stderr_fd >= 0:
            for frame in frames:
                if frame.end_marker:
                    self.drain_stderr()  # end markers were written before their frames
                    break
        inflight = self._inflight
        sample_rss = self.sample_rss
        now_s = time.monotonic()  # one read: they arrived together
        for frame in frames:
            request_id = frame.request_id
            if request_id == 0:
                self._on_startup_frame(frame)
                continue
            if sample_rss is not None:
                inflight.last_rss_bytes = sample_rss(frame.rss_pages)
                inflight.last_rss_s = now_s
            pending = inflight.answered(request_id, now_s, frame.answered_ns / 1e9)
            if pending is None:
                self._on_stream_error(f"response for unexpected request id {request_id}")
                return
            if frame.peak_pages >= frame.rss_pages >= 0:  # an action of 1 ms or more
                after = pending.exchange.rss_after_bytes
                if after is not None:
                    rise = (frame.peak_pages - frame.rss_pages) * PAGE_SIZE_BYTES
                    pending.exchange.rss_peak_bytes = after + rise
            if not frame.end_marker:  # stderr held nothing unread: its lines are all in
                if self._stderr_partial:
                    self._end_partial_line(request_id)
                if not inflight.output_ended(pending):  # earlier calls' output ends too
                    self._stderr_ended(before_id=request_id + 1)
            pending.frame = frame
            if pending.stderr_ended:
                self._on_answered(pending)

    def _close_stdout(self) -> None:
        if self._stdout_fd >= 0:
            if self._loop is not None:
                self._loop.remove_reader(self._stdout_fd)
            os.close(self._stdout_fd)
            self._stdout_fd = -1

    def _maybe_closed(self) -> None:
        if self._exited and self._stdout_fd < 0 and self._stderr_fd < 0:
            assert self._loop is not None
            self._loop.call_soon(self._on_closed)  # not while frames are being handled

    # -- stderr -----------------------------------------------------------------------------

    def drain_stderr(self, slice_s: float = DRAIN_SLICE_S) -> None:
        """Read everything stderr holds now, without blocking; after ``slice_s`` of reading,
        leave the rest to the event loop's next turn (stderr is then watched): a plugin
        writing faster than its lines are handled kept this loop reading, and the dashboard
        took no key, and no timeout fired, until the plugin stopped."""
        fd = self._stderr_fd
        deadline = time.monotonic() + slice_s
        while fd >= 0:
            if time.monotonic() > deadline:
                self._stderr_bytes_since_poll += CHATTY_BYTES + 1  # stays watched at the poll
                self._watch_stderr(True)
                return
            try:
                data = os.read(fd, READ_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._stderr_eof()
                return
            self._stderr_bytes_since_poll += len(data)
            self.feed_stderr(data)
            if len(data) < READ_BYTES:
                return
            fd = self._stderr_fd

    def _poll_stderr(self) -> None:
        assert self._loop is not None
        if self._stderr_fd < 0:
            self._poll_timer = None
            return
        if not self._stderr_watched:
            self.drain_stderr()
        chatty = self._stderr_bytes_since_poll > CHATTY_BYTES
        self._stderr_bytes_since_poll = 0
        self._watch_stderr(chatty or self._exited)
        self._poll_timer = self._loop.call_later(STDERR_POLL_S, self._poll_stderr)

    def _watch_stderr(self, watched: bool) -> None:
        if self._stderr_fd < 0 or self._loop is None or watched is self._stderr_watched:
            return
        self._stderr_watched = watched
        if watched:
            self._loop.add_reader(self._stderr_fd, self.drain_stderr)
        else:
            self._loop.remove_reader(self._stderr_fd)

    def _stderr_eof(self) -> None:
        self._watch_stderr(False)
        if self._stderr_fd >= 0:
            os.close(self._stderr_fd)
            self._stderr_fd = -1
        self._maybe_closed()

    def feed_stderr(self, data: bytes) -> None:
        """Consume stderr bytes: complete lines are attributed, markers end calls' output."""
        marker = self._marker
        if (
            not self._stderr_partial
            and data.startswith(marker)
            and data.endswith(b"\n")
            and data.count(b"\n" + marker) == data.count(b"\n") - 1
            and self._running_marker not in data
            and self._on_marker(data[data.rfind(marker) + len(marker) : -1])
        ):
            # The common case: markers only, one or (for pipelined calls) one per call. Each
            # ends every call before it, so the last one says all the others say (not so a
            # ``running`` marker: those are read one by one below).
            return
        if self._stderr_partial:
            data = self._stderr_partial + data
        lines = data.split(b"\n")
        partial = lines.pop()
        if len(partial) > MAX_STDERR_LINE_BYTES and marker not in partial:
            # Output with no newline (a progress bar redrawn with \r) becomes lines of exactly
            # MAX_STDERR_LINE_BYTES: cut where each read happened to end, the same output
            # counted 130 lines in `call` and 71 in the dashboard.
            cut = len(partial) - len(partial) % MAX_STDERR_LINE_BYTES
            pieces = [
                partial[i : i + MAX_STDERR_LINE_BYTES] for i in range(0, cut, MAX_STDERR_LINE_BYTES)
            ]
            partial = partial[cut:]
        else:
            pieces = []
        self._stderr_partial = partial
        for line in lines:
            self._line(line)
        for piece in pieces:
            self._record(piece, newline=False)
        if partial and self._on_stderr_partial is not None and b"\x1e" not in partial:
            # Text with no newline yet: a progress bar's state, shown as it is drawn. (Not
            # when a marker may be arriving in pieces: those are never shown.)
            self._on_stderr_partial(partial.decode("utf-8", "replace"), self._stderr_exchange())

    def _end_partial_line(self, request_id: int) -> None:
        """A call's last output without a newline is still its line (an end marker would
        have split it off; a clean frame has none)."""
        if not self._stderr_partial:
            return  # the common case: nothing waiting
        owner = self._inflight.stderr_owner()
        if owner is not None and owner.exchange.id == request_id:
            self._record(self._stderr_partial, newline=False)
            self._stderr_partial = b""

    def _line(self, line: bytes) -> None:
        position = line.find(self._marker)
        if position < 0:
            self._record(line)
            return
        if position > 0:  # a line left without its newline when the marker was written
            self._record(line[:position], newline=False)
        self._on_marker(line[position + len(self._marker) :])

    def _on_marker(self, text: bytes) -> bool:
        """``end <id>``: that call printed its last line; ``begin <id>``: every earlier one did;
        ``running <id> <json>``: the threads or child processes that call left running. False
        for text that is none of these (ignored)."""
        kind, _, id_text = text.partition(b" ")
        try:
            request_id = int(id_text)
        except ValueError:
            return kind == b"running" and self._on_left_running(id_text)
        if kind == b"end":
            request_id += 1
        elif kind != b"begin":
            return False
        self._stderr_ended(before_id=request_id)
        return True

    def _on_left_running(self, text: bytes) -> bool:
        """Note on the call the workers a ``running`` marker names (written before its frame,
        so read before the call ends)."""
        id_text, _, payload = text.partition(b" ")
        try:
            pending = self._inflight.by_id.get(int(id_text))
        except ValueError:
            return False
        if pending is not None:
            pending.exchange.left_running = left_running_names(payload)
        return True

    def _stderr_ended(self, before_id: int) -> None:
        """Calls numbered below ``before_id`` printed their last line; end those answered."""
        for pending in self._inflight.stderr_ended(before_id):
            if pending.frame is not None:
                self._on_answered(pending)

    def _record(self, line: bytes, *, newline: bool = True) -> None:
        """One stderr line to its call; ``newline``: the plugin ended it with one (counted
        in ``stderr_bytes``: output cut into 64 KiB lines counted a newline per piece)."""
        text = line.decode("utf-8", "replace").rstrip("\r")
        pending = self._inflight.stderr_owner()
        exchange: Exchange | None = None
        if pending is not None:
            exchange = pending.exchange
            exchange.keep_stderr_line(text)
            exchange.stderr_line_count += 1
            exchange.stderr_bytes += len(line) + newline
            if not pending.observed:
                exchange = None
        self._on_stderr_line(text, exchange)

    def _stderr_exchange(self) -> Exchange | None:
        """The observed exchange stderr output belongs to now (None between calls)."""
        pending = self._inflight.stderr_owner()
        return None if pending is None or not pending.observed else pending.exchange


class HarnessProtocol(asyncio.SubprocessProtocol):
    """Reports the subprocess's exit (its stdout and stderr are read by a HarnessChannel)."""

    def __init__(self) -> None:
        """Nobody is told of the exit until :meth:`when_exited`."""
        self.exited = False
        self._on_exited: Callable[[], None] | None = None

    def when_exited(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when the process exits, or now if it already has: uvloop can
        report an exit before ``subprocess_exec`` has returned the transport."""
        self._on_exited = callback
        if self.exited:
            callback()

    def process_exited(self) -> None:
        """The process exited (its pipes may stay open in orphans)."""
        self.exited = True
        if self._on_exited is not None:
            self._on_exited()
