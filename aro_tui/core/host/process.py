"""The plugin host: long-lived plugin processes driven over asyncio, one exchange per call.

``PluginProcess`` owns one plugin subprocess (the harness importing the plugin module);
``plugin_host.PluginHost`` owns many. Both report through a :class:`PluginObserver` whose
methods are called on the event loop; nothing here knows about widgets. See
``docs/host-protocol.md``. Around it: ``types`` (the public value types, re-exported here),
``inflight`` (requests in flight, the watchdog), ``channel`` (spawning the harness, reading
frames and stderr) and ``history`` (the finished exchanges kept).

Typical use::

    plugin = PluginProcess(PluginLaunch(name="text", module_path=..., interpreter=...))
    await plugin.start()                      # PluginStartError if the import fails
    exchange = await plugin.call("analyze", '{"text": "hi"}', timeout_s=30)
    exchange.status, exchange.response_bytes, exchange.duration_s, exchange.stderr_lines
    await plugin.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from aro_tui.core.host.channel import INSTANCE_ENV, HarnessChannel, spawn_harness
from aro_tui.core.host.exchange import (
    MAX_ERROR_CHARS,
    MAX_TRACEBACK_CHARS,
    Exchange,
    ExchangeStatus,
    cap_error,
    cap_traceback,
    kept_line,
)
from aro_tui.core.host.history import ExchangeHistory
from aro_tui.core.host.inflight import InFlight, Pending, end_unanswered
from aro_tui.core.host.process_tree import ProcessTree
from aro_tui.core.host.protocol import (
    HARNESS_IMPORT_ERROR,
    HARNESS_IMPORTED,
    HARNESS_OK,
    HARNESS_READY,
    Frame,
    check_action_name,
    classify_json_result,
    encode_request_header,
    harness_document,
    interpret,
)
from aro_tui.core.host.request_pipe import RequestPipe
from aro_tui.core.host.types import (
    DEFAULT_TIMEOUT_S,
    PluginLaunch,
    PluginObserver,
    PluginStartError,
    PluginState,
    exit_text,
    failed_start_exchange,
)
from aro_tui.core.runtime_notes import RuntimeContext, runtime_context_reach, runtime_notes

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PluginLaunch",
    "PluginObserver",
    "PluginProcess",
    "PluginStartError",
    "PluginState",
]

MAX_RECENT_STDERR_LINES = 200
LAST_WORDS_LINES = 20
START_ACTION = "<start>"
"""The action name of ``PluginProcess.start_record`` (no plugin action can be named so)."""
STOPPED_WHILE_STARTING = "stopped while starting"
PIPE_CLOSE_GRACE_S = 0.5
ARO_SWALLOWS_IMPORT_ERROR = (
    "ARO swallows this ImportError as it loads a plugin: there the plugin would load with no "
    "actions, and calling one would fail"
)

# Members read on every call, bound once: on Python 3.11 ``PluginState.READY`` is a descriptor
# lookup of ~100 ns, a module global ~10 ns (a round trip read ten of them).
_READY = PluginState.READY
_BUSY = PluginState.BUSY
_PENDING = ExchangeStatus.PENDING
_PROTOCOL_ERROR = ExchangeStatus.PROTOCOL_ERROR


class PluginProcess:
    """One plugin subprocess: start/stop/restart, pipelined calls, exchange records.

    Requests may be sent while others are in flight; the harness runs them in order. An
    exchange ends when both its response frame and the end of its stderr output arrived, so
    every stderr line is attributed to the call that printed it.
    """

    def __init__(self, launch: PluginLaunch, observer: PluginObserver | None = None) -> None:
        """Prepare (not start) the plugin described by ``launch``."""
        self.launch = launch
        self._observer: PluginObserver | None = None
        self._observe_state: _StateHook | None = None
        self._observe_started: _ExchangeHook | None = None
        self._observe_finished: _ExchangeHook | None = None
        self._observe_stderr: _StderrHook | None = None
        self._observe_partial: _StderrHook | None = None
        self.observer = observer
        self.state = PluginState.STOPPED
        self.info: dict[str, Any] | None = None
        """The harness's info document: ``actions`` [{name, function, defined, doc}],
        ``undeclared``, ``plugin_info`` (what aro_plugin_info() returned), ``info_error``."""
        self.cold_start_s: float | None = None
        self.start_record: Exchange | None = None
        """The current process's start as an exchange (id 0, action ``START_ACTION``): from
        spawn to ready, its tree's rss then as "after" and 0 as "before". What a plugin loads
        at import (a model) is charged to it, not to the first call."""
        self._spawned_s = 0.0
        self.started_at: float | None = None
        """Wall clock (epoch s) when the current process was spawned: a source file modified
        later is not what it runs."""
        self.import_printed_bytes = 0
        """What the module wrote through ``sys.stdout`` while it was imported."""
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.signal_number: int | None = None
        self.recent_stderr: deque[str] = deque(maxlen=MAX_RECENT_STDERR_LINES)
        self.last_words: deque[str] = deque(maxlen=LAST_WORDS_LINES)
        """The stderr lines written since the plugin last answered a call: what a crash is
        explained with. Lines of calls answered before it are not its cause."""
        self.stderr_partial: tuple[str, Exchange | None] | None = None
        """Text written after the last newline (a progress bar drawn with ``\\r``), and the
        exchange it belongs to (None between calls); None once it ended as a line."""
        self.history = ExchangeHistory()
        """The most recent finished exchanges, oldest first (bounded by count and bytes)."""
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: RequestPipe | None = None
        self._tree: ProcessTree | None = None
        self._channel: HarnessChannel | None = None
        self._token = ""
        self._next_id = 1
        self._inflight = InFlight(self._on_timeout)
        self._pending = self._inflight.by_id
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by _spawn
        self._checked_actions: set[str] = set()
        self._cancel_write_fd = -1
        self._ready: asyncio.Future[None] | None = None
        self._exited: asyncio.Event | None = None
        self._start_lock = asyncio.Lock()
        self._stopping = False
        self._kill_reason: str | None = None
        self._start_traceback: str | None = None
        self._start_import_error = False
        self._start_phase = "importing the module"
        self._runtime_context = self.runtime_context()

    # -- public API -------------------------------------------------------------------------

    @property
    def observer(self) -> PluginObserver | None:
        """Who receives this plugin's events (may be replaced at any time)."""
        return self._observer

    @observer.setter
    def observer(self, observer: PluginObserver | None) -> None:
        # Why cache the overridden methods: state changes and exchange starts/ends happen on
        # every call; calling PluginObserver's empty defaults costs time on the hot path.
        self._observer = observer
        self._observe_state = _hook(observer, "on_state_changed")
        self._observe_started = _hook(observer, "on_exchange_started")
        self._observe_finished = _hook(observer, "on_exchange_finished")
        self._observe_stderr = _hook(observer, "on_stderr_line")
        self._observe_partial = _hook(observer, "on_stderr_partial")

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.launch.name

    @property
    def in_flight(self) -> int:
        """How many exchanges are waiting for an answer."""
        return len(self._pending)

    def unfinished(self) -> list[Exchange]:
        """The observed exchanges still waiting for an answer, oldest first."""
        return [
            p.exchange for p in self._pending.values() if p.observed and not p.exchange.finished
        ]

    @property
    def executing(self) -> Exchange | None:
        """The exchange the plugin is working on now (the oldest unanswered; the others wait
        behind it, as calls run in order), or None."""
        awaiting = self._inflight.awaiting_frame
        return awaiting[0].exchange if awaiting else None

    @property
    def running(self) -> bool:
        """Whether the process is up and answering."""
        return self.state in (PluginState.READY, PluginState.BUSY)

    def action_names(self) -> list[str]:
        """Declared actions, then undeclared ``aro_action_*`` functions, then the listed
        qualifiers as ``qualifier:<name>``."""
        if self.info is None:
            return []
        return [
            str(action["name"])
            for key in ("actions", "undeclared", "qualifiers")
            for action in self.info.get(key, [])
        ]

    async def start(self) -> None:
        """Spawn the harness and wait until the module is imported (``PluginStartError``)."""
        async with self._start_lock:
            if self.running:
                return
            if self._transport is not None:
                await self._shutdown(graceful=False, reason="restarting")
            await self._spawn()

    async def stop(self) -> None:
        """Stop the process (gracefully, then SIGKILL); in-flight exchanges end cancelled.

        A plugin still starting (its import can take minutes, or hang) is killed at once and
        its start fails with ``PluginStartError`` ("stopped while starting"); without this, the
        stop waited for the start to finish or time out.
        """
        if self.state is PluginState.STARTING and self._transport is not None:
            self._stopping = True
            self._abandon(STOPPED_WHILE_STARTING)
        async with self._start_lock:
            await self._shutdown(graceful=True, reason="plugin stopped")

    async def restart(self) -> None:
        """Stop, then start again."""
        await self.stop()
        await self.start()

    async def call(
        self, action: str, input_json: str | bytes, *, timeout_s: float | None = None
    ) -> Exchange:
        """Run ``action`` with ``input_json`` (starting the plugin if needed); never raises
        for plugin faults — the returned exchange's ``status`` says what happened."""
        if not self.running:
            try:
                await self.start()
            except PluginStartError as error:
                return self._failed_start_exchange(action, input_json, error)
        return await self.submit(action, input_json, timeout_s=timeout_s)

    def submit(
        self, action: str, input_json: str | bytes, *, timeout_s: float | None = None
    ) -> asyncio.Future[Exchange]:
        """Send a request now (the plugin must be running); the future resolves when it ends.

        The fast path for pipelining: no task per call. Raises ``RuntimeError`` if the
        plugin is not running and ``ValueError`` for an invalid action name.
        """
        if action not in self._checked_actions:
            check_action_name(action)
            self._checked_actions.add(action)
        body = input_json if type(input_json) is bytes else _as_bytes(input_json)
        pending = self._send("call", action, body, timeout_s)
        started = self._observe_started
        if started is not None:
            started(self, pending.exchange)
        return pending.future

    def cancel(self, exchange_id: int) -> bool:
        """Ask the plugin to interrupt a call (SIGINT → KeyboardInterrupt in that call only).

        If it has not stopped after ``cancel_grace_s`` (blocked in C, swallowing the
        interrupt), the process tree is killed; the next call restarts it. A call still queued
        behind another is skipped when the plugin reaches it, and never kills the one running.
        Returns False if the exchange is not in flight.
        """
        pending = self._pending.get(exchange_id)
        if pending is None or pending.cancel_requested or self.pid is None:
            return pending is not None
        pending.cancel_requested = True
        with contextlib.suppress(OSError):  # a plugin may have closed its end
            os.write(self._cancel_write_fd, f"{exchange_id}\n".encode())
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGINT)
        loop = asyncio.get_running_loop()
        loop.call_later(self.launch.cancel_grace_s, self._escalate_cancel, pending)
        return True

    async def refresh_info(self) -> dict[str, Any]:
        """Ask the running harness for its info document again."""
        pending = self._send("info", "-", b"", self.launch.default_timeout_s, observed=False)
        exchange = await pending.future
        if exchange.status is not ExchangeStatus.OK or exchange.response_bytes is None:
            raise RuntimeError(exchange.error or "info request failed")
        info = harness_document(exchange.response_bytes)
        self.info = info if isinstance(info, dict) else None
        return info if isinstance(info, dict) else {}

    def runtime_context(self) -> RuntimeContext:
        """What :func:`~aro_tui.core.runtime_notes.runtime_notes` needs to know about this
        plugin besides an exchange (``Exchange.runtime_notes`` is filled with it)."""
        launch = self.launch
        source_dir = launch.source_dir or launch.module_path.parent
        return RuntimeContext(
            str(source_dir),
            self.cold_start_s,
            self.import_printed_bytes,
            **runtime_context_reach(self.info),
        )

    @property
    def unreachable_actions(self) -> Mapping[str, str]:
        """Actions the ARO runtime would not hand to the function run here, with why
        (:func:`~aro_tui.core.runtime_notes.unreachable_actions`); empty until started."""
        return self._runtime_context.unreachable

    def rss_bytes(self) -> int | None:
        """Resident memory of the plugin's process tree now (None when not running)."""
        return self._tree.rss_bytes() if self._tree is not None else None

    def process_tree_pids(self) -> list[int]:
        """Pids of the plugin's processes seen so far and still alive."""
        return self._tree.pids() if self._tree is not None else []

    def kill_now(self) -> None:
        """Synchronously SIGKILL the whole tree (for exit paths where the loop cannot run)."""
        if self._tree is not None:
            self._tree.kill()
        if self._transport is not None:
            # Closing now, while its loop still exists, spares a warning from __del__ later.
            with contextlib.suppress(RuntimeError):
                self._transport.close()

    # -- spawning and stopping ---------------------------------------------------------------

    async def _spawn(self) -> None:
        launch = self.launch
        loop = self._loop = asyncio.get_running_loop()
        self._reset_stream_state(loop)
        self._token = secrets.token_hex(8)
        self._ready = loop.create_future()
        exited = self._exited = asyncio.Event()
        channel = self._channel = HarnessChannel(
            self._inflight,
            self._token,
            on_startup_frame=self._on_startup_frame,
            on_answered=self._complete,
            on_stream_error=self._fail_stream,
            on_stderr_line=self._on_stderr_line,
            on_stderr_partial=self._on_stderr_partial,
            on_closed=lambda: self._on_gone(exited),
        )
        startup = Pending(
            Exchange(0, launch.name, START_ACTION, b""),
            loop.create_future(),
            launch.start_timeout_s,
            observed=False,
        )
        self._inflight.expect_startup(startup)
        self.started_at = time.time()
        self._set_state(PluginState.STARTING)
        self._spawned_s = time.monotonic()
        try:
            spawned = await spawn_harness(launch, self._token)
        except OSError as error:
            self._set_state(PluginState.CRASHED)
            raise PluginStartError(f"cannot start {launch.interpreter}: {error}") from error
        self._transport, protocol, self._stdin, self._cancel_write_fd, stdout_fd, stderr_fd = (
            spawned
        )
        channel.attach(stdout_fd, stderr_fd)
        self.pid = self._transport.get_pid()
        protocol.when_exited(self._on_process_exited)
        self._tree = ProcessTree(self.pid, (INSTANCE_ENV, self._token))
        if launch.sample_memory:
            channel.sample_rss = self._tree.rss_bytes
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), launch.start_timeout_s)
        except (TimeoutError, PluginStartError) as error:
            if isinstance(error, TimeoutError):
                self._abandon(f"not ready within {launch.start_timeout_s} s")
            await self._exited.wait()
            raise self._start_error(error) from None
        self._runtime_context = self.runtime_context()
        inflight = self._inflight
        start = self.start_record
        inflight.last_rss_bytes = None if start is None else start.rss_after_bytes
        inflight.last_rss_s = time.monotonic()
        inflight.read_rss = self._tree.known_rss_bytes if launch.sample_memory else None

    def _start_error(self, error: BaseException) -> PluginStartError:
        tail = list(self.recent_stderr)[-20:]
        aro_note = None
        if isinstance(error, TimeoutError):
            message = (
                f"plugin {self.name} was not ready within {self.launch.start_timeout_s:g} s "
                f"(still {self._start_phase})"
            )
        elif self._kill_reason == STOPPED_WHILE_STARTING:
            message = f"plugin {self.name} was {STOPPED_WHILE_STARTING}"
        elif self._start_traceback is not None:
            # Whose Python it was: a package installed in another one is "not found" here.
            launch = self.launch
            whose = f" ({launch.interpreter_origin})" if launch.interpreter_origin else ""
            message = (
                f"plugin {self.name} failed to import: {error} under {launch.interpreter}{whose}"
            )
            if self._start_import_error:
                aro_note = ARO_SWALLOWS_IMPORT_ERROR
                message += f" ({aro_note})"
        else:
            message = f"plugin {self.name} exited during start ({self._exit_text()})"
        return PluginStartError(
            message,
            traceback=self._start_traceback,
            exit_code=self.exit_code,
            signal_number=self.signal_number,
            stderr_tail=tail,
            stopped=self._kill_reason == STOPPED_WHILE_STARTING,
            timed_out=isinstance(error, TimeoutError),
            aro_note=aro_note,
        )

    async def _shutdown(self, *, graceful: bool, reason: str) -> None:
        if self._transport is None or self._exited is None:
            return
        if self._kill_reason is None:
            self._stopping = True
            self._kill_reason = reason
        if self._tree is not None:
            self._tree.refresh()
        if graceful and not self._exited.is_set():
            self._skip_queued_calls()
            with contextlib.suppress(Exception):
                self._send("exit", "-", b"", None, observed=False)
            if self._stdin is not None:
                self._stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exited.wait(), self.launch.stop_grace_s)
        self.kill_now()
        await self._exited.wait()
        if self._tree is not None:
            await asyncio.to_thread(self._tree.wait_gone, 2.0)
        self._set_state(PluginState.STOPPED)

    def _skip_queued_calls(self) -> None:
        """Have the harness skip every call queued behind the one it runs, which may finish
        (the exit waits behind them all): stopping must not start another call part way."""
        waiting = [p for p in self._pending.values() if p.frame is None]
        queued = [p for p in waiting[1:] if not p.cancel_requested]
        if not queued or self.pid is None:
            return
        for pending in queued:
            pending.cancel_requested = True
        ids = "".join(f"{p.exchange.id}\n" for p in queued)
        with contextlib.suppress(OSError):  # a plugin may have closed its end
            os.write(self._cancel_write_fd, ids.encode())
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGINT)  # the harness reads the ids; the call runs on

    @property
    def kill_reason(self) -> str | None:
        """Why aro-tui killed the process it runs now, if it did (a call timed out, a cancel
        it ignored, output that could not be read); None until then, and after a start."""
        return self._kill_reason

    def _abandon(self, reason: str) -> None:
        """Kill the process for ``reason``; it stops counting as running at once."""
        if self._kill_reason is None:
            self._kill_reason = reason
        self.kill_now()
        if self._transport is not None:
            self._set_state(PluginState.STOPPED)

    def _reset_stream_state(self, loop: asyncio.AbstractEventLoop) -> None:
        self._inflight.reset(loop)
        self.recent_stderr.clear()  # this process's lines only: a failed start's tail is its own
        self.last_words.clear()
        self.stderr_partial = None
        self.start_record = None
        self._stopping = False
        self._kill_reason = None
        self._start_traceback = None
        self._start_import_error = False
        self._start_phase = "importing the module"
        self.exit_code = None
        self.signal_number = None
        self.info = None

    # -- sending ----------------------------------------------------------------------------

    def _send(
        self,
        kind: str,
        action: str,
        body: bytes,
        timeout_s: float | None,
        *,
        observed: bool = True,
    ) -> Pending:
        stdin = self._stdin
        state = self.state
        if stdin is None or (state is not _BUSY and state is not _READY and kind != "exit"):
            raise RuntimeError(f"plugin {self.name} is not running ({state})")
        request_id = self._next_id
        self._next_id = request_id + 1
        loop = self._loop
        now_s = time.monotonic()  # not loop.time(): uvloop's has millisecond resolution
        inflight = self._inflight
        if not inflight.awaiting_frame:  # idle: its memory may have moved since it answered
            inflight.refresh_rss(now_s)
        # Written first, so that with host and plugin on different cores the bookkeeping
        # below overlaps with the plugin's work instead of delaying the request.
        pipelined = inflight.stderr_may_follow()
        stdin.write(
            encode_request_header(kind, request_id, action, len(body), pipelined=pipelined),
            body,
            batch=pipelined,
        )
        launch = self.launch
        exchange = Exchange(request_id, launch.name, action, body, time.time(), now_s)
        exchange.pid = self.pid
        pending = Pending(
            exchange,
            loop.create_future(),
            launch.default_timeout_s if timeout_s is None else timeout_s,
            observed,
        )
        inflight.add(pending, now_s)
        if observed and state is _READY:
            self._set_state(_BUSY)
        return pending

    # -- receiving (called by HarnessChannel) -----------------------------------------------

    def _on_startup_frame(self, frame: Frame) -> None:
        if self._ready is None or self._ready.done():
            self._fail_stream("unexpected startup frame")
            return
        self.import_printed_bytes = frame.printed_bytes
        if frame.status in (HARNESS_READY, HARNESS_IMPORT_ERROR):
            try:
                document = harness_document(frame.body)
            except ValueError as error:  # not one the harness writes: say so now, not at timeout
                self._fail_stream(f"unreadable start-up frame: {error}")
                return
        if frame.status == HARNESS_IMPORTED:
            self._start_phase = "in aro_plugin_info(), after the import"
        elif frame.status == HARNESS_READY:
            self.info = document if isinstance(document, dict) else {}
            # Before the state change: its observers (the recording) report the start's time.
            ready_s = time.monotonic()
            self.cold_start_s = ready_s - self._spawned_s
            self.start_record = self._start_record(ready_s)
            self._set_state(PluginState.READY)
            self._ready.set_result(None)
        elif frame.status == HARNESS_IMPORT_ERROR:
            details = document if isinstance(document, dict) else {}
            self._start_traceback = str(details.get("traceback") or "") or None
            self._start_import_error = details.get("import_error") is True
            _fail(self._ready, PluginStartError(str(details.get("error"))))
        else:
            self._fail_stream(f"unexpected startup status {frame.status!r}")

    def _start_record(self, ready_s: float) -> Exchange:
        record = Exchange(
            0, self.launch.name, START_ACTION, b"", self.started_at or 0.0, self._spawned_s
        )
        record.head_monotonic_s = self._spawned_s
        record.finished_monotonic_s = ready_s
        record.status = ExchangeStatus.OK
        record.pid = self.pid
        if self.launch.sample_memory and self._tree is not None:
            record.rss_before_bytes = 0  # the tree did not exist before
            record.rss_after_bytes = self._tree.rss_bytes() or None
        return record

    def _on_stderr_partial(self, text: str, exchange: Exchange | None) -> None:
        self.stderr_partial = (text, exchange)
        if self._observe_partial is not None:
            self._observe_partial(self, text, exchange)

    def _on_stderr_line(self, text: str, exchange: Exchange | None) -> None:
        self.stderr_partial = None
        kept = kept_line(text)
        self.recent_stderr.append(kept)
        self.last_words.append(kept)
        if self._observe_stderr is not None:
            self._observe_stderr(self, text, exchange)

    def _complete(self, pending: Pending) -> None:
        frame = pending.frame
        assert frame is not None
        if self.last_words:
            self.last_words.clear()
        exchange = pending.exchange
        exchange.printed_bytes = frame.printed_bytes
        if frame.action_ns >= 0:
            exchange.action_duration_s = frame.action_ns / 1e9
        validate_json = self.launch.validate_json and pending.observed
        if frame.status == HARNESS_OK and validate_json:
            # The common case, without building an Outcome.
            status, error = classify_json_result(frame.body)
            if status is not _PROTOCOL_ERROR:
                exchange.response_bytes = frame.body
                exchange.error = error
                self._finish(pending, status)
                return
        outcome = interpret(frame, exchange.action, validate_json=validate_json)
        exchange.response_bytes = outcome.response_bytes
        exchange.error = outcome.error
        if outcome.skipped and self._stopping:
            exchange.error = f"{self._kill_reason or 'plugin stopped'} before it ran"
        exchange.traceback = outcome.traceback
        self._finish(pending, outcome.status)
        if outcome.restart:
            self._abandon("cancelled during an import")

    def _finish(self, pending: Pending, status: ExchangeStatus) -> None:
        exchange = pending.exchange
        if exchange.status is not _PENDING:  # finished
            return
        exchange.status = status
        if exchange.error is not None and len(exchange.error) > MAX_ERROR_CHARS:
            exchange.error = cap_error(exchange.error)
        if exchange.traceback is not None and len(exchange.traceback) > MAX_TRACEBACK_CHARS:
            exchange.traceback = cap_traceback(exchange.traceback)
        if exchange.finished_monotonic_s is None:
            exchange.finished_monotonic_s = time.monotonic()
        if exchange.head_monotonic_s < exchange.sent_monotonic_s:
            # It ended while still queued behind another call (cancelled, or the plugin died):
            # the plugin never started on it, so its service time is nil, not "since boot".
            exchange.head_monotonic_s = exchange.finished_monotonic_s
        exchange.runtime_notes = runtime_notes(exchange, self._runtime_context)
        by_id = self._pending
        by_id.pop(exchange.id, None)
        future = pending.future
        if not future.done():
            future.set_result(exchange)
        if pending.observed:
            self.history.remember(exchange)
            if self._observe_finished is not None:
                self._observe_finished(self, exchange)
        if not by_id and self.state is _BUSY:
            self._set_state(_READY)

    # -- faults -----------------------------------------------------------------------------

    def _on_timeout(self, pending: Pending) -> None:
        if pending.exchange.finished:
            return
        pending.exchange.error = f"no answer within {pending.timeout_s:g} s; plugin killed"
        self._finish(pending, ExchangeStatus.TIMEOUT)
        # The action, not the host's request id: no screen or file numbers calls that way.
        self._abandon(f"killed after a {pending.exchange.action} call timed out")

    def _escalate_cancel(self, pending: Pending) -> None:
        if pending.exchange.finished or self._transport is None:
            return
        grace_s = self.launch.cancel_grace_s
        if self.executing is not pending.exchange:
            # Still queued behind the call the plugin is running: the harness answers it
            # "cancelled" when it gets there. Killing now would take that call with it.
            assert self._loop is not None
            self._loop.call_later(grace_s, self._escalate_cancel, pending)
            return
        pending.exchange.error = f"did not stop within {grace_s:g} s of SIGINT; plugin killed"
        self._finish(pending, ExchangeStatus.CANCELLED)
        self._abandon(f"killed to cancel a {pending.exchange.action} call")

    def _fail_stream(self, message: str) -> None:
        for pending in list(self._pending.values()):
            pending.exchange.error = message
            self._finish(pending, ExchangeStatus.PROTOCOL_ERROR)
        self._abandon(f"protocol error: {message}")

    def _on_process_exited(self) -> None:
        assert self._transport is not None
        returncode = self._transport.get_returncode()
        if returncode is not None and returncode < 0:
            self.signal_number = -returncode
        else:
            self.exit_code = returncode
        if self._channel is not None:
            self._channel.process_exited()
        loop = asyncio.get_running_loop()
        # Pipes may stay open in orphaned children; don't wait for them forever.
        loop.call_later(PIPE_CLOSE_GRACE_S, self._on_gone, self._exited)

    def _on_gone(self, exited: asyncio.Event | None = None) -> None:
        # ``exited`` pins a late timer to its own process: never end a newer one.
        if self._exited is None or self._exited.is_set():
            return
        if exited is not None and exited is not self._exited:
            return
        if self._channel is not None:
            self._channel.close()
        self._inflight.stop_watchdog()
        self.kill_now()  # orphaned children of a crashed plugin
        executing = self.executing
        for pending in list(self._pending.values()):
            if pending.frame is not None:
                self._complete(pending)
                continue
            status = end_unanswered(
                pending.exchange,
                executing,
                stopped_for=(self._kill_reason or "plugin stopped") if self._stopping else None,
                kill_reason=self._kill_reason,
                exit_code=self.exit_code,
                signal_number=self.signal_number,
                last_stderr=list(self.last_words),
            )
            self._finish(pending, status)
        if self._ready is not None and not self._ready.done():
            _fail(self._ready, PluginStartError("exited"))
        if self._cancel_write_fd >= 0:
            os.close(self._cancel_write_fd)
            self._cancel_write_fd = -1
        if self._tree is not None:
            self._tree.close()
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        if self._stdin is not None:
            self._stdin.close(flush=False)
        self._stdin = None
        crashed = not self._stopping and self._kill_reason is None
        self._set_state(PluginState.CRASHED if crashed else PluginState.STOPPED)
        self._exited.set()

    def _exit_text(self) -> str:
        return exit_text(self.exit_code, self.signal_number)

    def _failed_start_exchange(
        self, action: str, input_json: str | bytes, error: PluginStartError
    ) -> Exchange:
        body = _as_bytes(input_json)
        exchange = failed_start_exchange(self._next_id, self.name, action, body, error)
        self._next_id += 1
        self.history.remember(exchange)
        if self._observe_finished is not None:
            self._observe_finished(self, exchange)
        return exchange

    def _set_state(self, state: PluginState) -> None:
        if state is self.state:
            return
        self.state = state
        if self._observe_state is not None:
            self._observe_state(self, state)


_StateHook = Callable[[PluginProcess, PluginState], None]
_ExchangeHook = Callable[[PluginProcess, Exchange], None]
_StderrHook = Callable[[PluginProcess, str, "Exchange | None"], None]


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    """Set ``error`` on the start's future, marked as seen: the start reports it through
    ``_start_error`` when it is waiting, and a start given up on (a timeout, the command
    cancelled or ending) must not print "Future exception was never retrieved" later. (A done
    callback would not do: it runs on the loop, which may be stopping.)"""
    future.set_exception(error)
    future.exception()


def _hook(observer: PluginObserver | None, name: str) -> Any:
    """``observer``'s bound method ``name``, guarded, or None if it is PluginObserver's no-op
    or a duck-typed observer has none (one written before the method existed).

    Guarded: an exception it raises goes no further, and the first is handed to the event
    loop's exception handler, which reports it (one per line of a 2 MB flood would bury the
    report). It was raised in the host's own callbacks: one from the stderr reader stopped
    the plugin's stderr being read, the plugin blocked on the full pipe, and the host waited
    for it for ever.
    """
    method = None if observer is None else getattr(type(observer), name, None)
    if method is None or method is getattr(PluginObserver, name):
        return None
    bound = getattr(observer, name)
    reported = False

    def guarded(*args: Any) -> None:
        nonlocal reported
        try:
            bound(*args)
        except Exception as error:
            if not reported:
                reported = True
                _report_observer_error(name, error)

    return guarded


def _report_observer_error(name: str, error: Exception) -> None:
    context = {"message": f"aro-tui: a plugin observer's {name} raised", "exception": error}
    try:
        asyncio.get_running_loop().call_exception_handler(context)
    except RuntimeError:  # no loop runs: nothing else would report it
        traceback.print_exception(error)


def _as_bytes(input_json: str | bytes) -> bytes:
    return input_json.encode("utf-8") if isinstance(input_json, str) else input_json
