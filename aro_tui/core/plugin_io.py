"""One running harness's pipes: response frames on stdout, stderr lines, end-of-call sentinels.

The host ends an exchange only when both its frame and its sentinel arrived, so every stderr
line lands on the call that printed it (see ``docs/host-protocol.md``, "stdout and stderr").
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable

from aro_tui.core.exchange import Exchange
from aro_tui.core.host_types import PluginLaunch
from aro_tui.core.inflight import InFlight, Pending
from aro_tui.core.protocol import Frame, FrameDecoder, ProtocolError
from aro_tui.harness import HARNESS_PATH

INSTANCE_ENV = "ARO_TUI_PLUGIN_INSTANCE"
"""Set to the process's token in the plugin's environment, to find its orphans."""
MAX_STDERR_LINE_BYTES = 64 * 1024


def harness_command(
    launch: PluginLaunch, token: str, cancel_read_fd: int
) -> tuple[list[str], dict[str, str]]:
    """The harness's argv and environment for ``launch``."""
    argv = [
        str(launch.interpreter),
        str(HARNESS_PATH),
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
    ]
    if launch.source_dir is not None:
        argv += ["--source-dir", str(launch.source_dir)]
    env = dict(os.environ if launch.env is None else launch.env)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env[INSTANCE_ENV] = token
    return argv, env


async def spawn_harness(
    launch: PluginLaunch,
    token: str,
    protocol_factory: Callable[[], asyncio.SubprocessProtocol],
) -> tuple[asyncio.SubprocessTransport, asyncio.WriteTransport, int]:
    """Start the harness in its own session; return its transport, its stdin and the write
    end of its cancel pipe (``OSError`` if it cannot be started)."""
    loop = asyncio.get_running_loop()
    cancel_read_fd, cancel_write_fd = os.pipe()
    os.set_blocking(cancel_write_fd, False)
    argv, env = harness_command(launch, token, cancel_read_fd)
    try:
        transport, _ = await loop.subprocess_exec(
            protocol_factory,
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(launch.cwd) if launch.cwd is not None else None,
            env=env,
            start_new_session=True,
            pass_fds=(cancel_read_fd,),
        )
    except BaseException:
        os.close(cancel_write_fd)
        raise
    finally:
        os.close(cancel_read_fd)
    stdin = transport.get_pipe_transport(0)
    assert isinstance(stdin, asyncio.WriteTransport)
    return transport, stdin, cancel_write_fd


class HarnessChannel:
    """Decodes one harness's output and correlates it with the requests in flight.

    The owner supplies callbacks: ``on_startup_frame`` (id 0: ready / import error),
    ``on_answered`` (frame and sentinel both in), ``on_stream_error`` (corrupt stream),
    ``on_stderr_line`` (a line, with the observed exchange it belongs to or None) and
    ``sample_rss`` (the tree's rss, or None when memory is not sampled).
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
        sample_rss: Callable[[], int | None] | None,
    ) -> None:
        """Start with empty buffers for the process identified by ``token``."""
        self._inflight = inflight
        self._sentinel = f"\x1e{token} end ".encode()
        self._decoder = FrameDecoder()
        self._stderr_partial = b""
        self._on_startup_frame = on_startup_frame
        self._on_answered = on_answered
        self._on_stream_error = on_stream_error
        self._on_stderr_line = on_stderr_line
        self._sample_rss = sample_rss

    # -- stdout -----------------------------------------------------------------------------

    def feed_stdout(self, data: bytes) -> None:
        """Consume protocol bytes."""
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as error:
            self._on_stream_error(str(error))
            return
        for frame in frames:
            if frame.request_id == 0:
                self._on_startup_frame(frame)
                continue
            if self._sample_rss is not None:
                self._inflight.last_rss_bytes = self._sample_rss()
            pending = self._inflight.answered(frame.request_id, time.monotonic())
            if pending is None:
                self._on_stream_error(f"response for unexpected request id {frame.request_id}")
                return
            pending.frame = frame
            if pending.sentinel_seen:
                self._on_answered(pending)

    # -- stderr -----------------------------------------------------------------------------

    def feed_stderr(self, data: bytes) -> None:
        """Consume stderr bytes: complete lines are attributed, sentinels end calls."""
        if self._stderr_partial:
            data = self._stderr_partial + data
        lines = data.split(b"\n")
        partial = self._stderr_partial = lines.pop()
        if len(partial) > MAX_STDERR_LINE_BYTES and self._sentinel not in partial:
            lines.append(partial)
            self._stderr_partial = b""
        for line in lines:
            self._line(line)

    def flush_stderr(self) -> None:
        """Treat a last unterminated line as complete (the process is gone)."""
        if self._stderr_partial:
            self._line(self._stderr_partial)
            self._stderr_partial = b""

    def _line(self, line: bytes) -> None:
        marker = line.find(self._sentinel)
        if marker < 0:
            self._record(line)
            return
        if marker > 0:
            self._record(line[:marker])
        try:
            request_id = int(line[marker + len(self._sentinel) :])
        except ValueError:
            return
        pending = self._inflight.sentinel(request_id)
        if pending is not None and pending.frame is not None:
            self._on_answered(pending)

    def _record(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        pending = self._inflight.stderr_owner()
        exchange: Exchange | None = None
        if pending is not None:
            exchange = pending.exchange
            exchange.stderr_lines.append(text)
            exchange.stderr_line_count += 1
            exchange.stderr_bytes += len(line) + 1
            if not pending.observed:
                exchange = None
        self._on_stderr_line(text, exchange)


class HarnessProtocol(asyncio.SubprocessProtocol):
    """Forwards the subprocess's pipe events to its channel, and its end to ``on_gone``."""

    def __init__(
        self,
        channel: HarnessChannel,
        on_exited: Callable[[], None],
        on_gone: Callable[[], None],
    ) -> None:
        """Route fd 1 and fd 2 to ``channel``."""
        self._channel = channel
        self._on_exited = on_exited
        self._on_gone = on_gone
        self._exited = False
        self._closed_fds: set[int] = set()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        """Route one chunk."""
        assert isinstance(data, bytes)
        if fd == 1:
            self._channel.feed_stdout(data)
        elif fd == 2:
            self._channel.feed_stderr(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """A pipe closed."""
        self._closed_fds.add(fd)
        self._maybe_gone()

    def process_exited(self) -> None:
        """The process exited (its pipes may stay open in orphans)."""
        self._exited = True
        self._on_exited()
        self._maybe_gone()

    def _maybe_gone(self) -> None:
        if self._exited and {1, 2} <= self._closed_fds:
            self._on_gone()
