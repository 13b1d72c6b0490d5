"""Requests in flight to one harness: answer and stderr-end correlation, one watchdog timer.

Answers come in request order, so the oldest unanswered request (the head) is the only one
that can be running in the plugin; its deadline is the only one that can expire first.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.protocol import Frame
from aro_tui.core.host.types import exit_text

WATCHDOG_SLACK_S = 0.001


@dataclass(slots=True, eq=False)
class Pending:
    """Host-side bookkeeping for one request until both its frame and the end of its stderr
    arrived."""

    exchange: Exchange
    future: asyncio.Future[Exchange]
    timeout_s: float
    observed: bool = True
    frame: Frame | None = None
    stderr_ended: bool = False
    """Its last stderr line has been read (end marker, next begin marker, or a clean frame)."""
    cancel_requested: bool = False


RSS_BEFORE_MAX_AGE_S = 0.05
"""A call's "before" is the previous answer's "after" when it follows within this long (calls
back to back, pipelined ones: no read on their path); after a longer pause the tree is read."""


class InFlight:
    """The requests sent to one process and not finished yet, in order.

    ``awaiting_frame`` and ``awaiting_stderr_end`` are two queues because the response (stdout)
    and the end of the call's stderr output (an end marker, the next call's begin marker, or a
    frame saying nothing was left unread) travel on different pipes. Why one watchdog timer:
    a timer per call costs a heap push and a cancel per call; it is moved only when a
    deadline comes earlier and re-armed lazily when it fires early.
    """

    def __init__(self, on_timeout: Callable[[Pending], None]) -> None:
        """Start empty; ``on_timeout(pending)`` runs when the head overruns its timeout."""
        self.by_id: dict[int, Pending] = {}
        self.awaiting_frame: deque[Pending] = deque()
        self.awaiting_stderr_end: deque[Pending] = deque()
        self.last_rss_bytes: int | None = None
        """The latest tree rss reading: one call's "after" is the next call's "before"."""
        self.last_rss_s = 0.0
        """When ``last_rss_bytes`` was read (monotonic)."""
        self.read_rss: Callable[[], int | None] | None = None
        """Reads the tree's rss now (set when memory is sampled): for a call that starts
        after the plugin sat idle, whose threads may have allocated meanwhile."""
        self._on_timeout = on_timeout
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def reset(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget everything (a new process is starting)."""
        self.stop_watchdog()
        self._loop = loop
        self.by_id.clear()
        self.awaiting_frame.clear()
        self.awaiting_stderr_end.clear()
        self.last_rss_bytes = None
        self.read_rss = None

    def expect_startup(self, pending: Pending) -> None:
        """Attribute start-up stderr to ``pending`` until the harness's first end marker."""
        self.awaiting_stderr_end.append(pending)

    def add(self, pending: Pending, now_s: float) -> None:
        """Track a request just written."""
        self.by_id[pending.exchange.id] = pending
        self.awaiting_stderr_end.append(pending)
        self.awaiting_frame.append(pending)
        if len(self.awaiting_frame) == 1:
            self._become_head(pending, now_s)

    def refresh_rss(self, now_s: float) -> None:
        """Before a request is written to an idle plugin: read the tree's rss when the last
        reading is older than ``RSS_BEFORE_MAX_AGE_S``. A call's "before" was the previous
        answer's "after", so memory the plugin's threads took meanwhile (a model loaded in the
        background) was charged to this call; read after the write instead, the plugin had
        already begun allocating and a 30 MiB load read +19 MiB."""
        read_rss = self.read_rss
        if read_rss is None or now_s - self.last_rss_s <= RSS_BEFORE_MAX_AGE_S:
            return
        rss = read_rss()
        if rss:  # 0: the process is gone (a crash): keep the last reading
            self.last_rss_bytes, self.last_rss_s = rss, now_s

    def stderr_may_follow(self) -> bool:
        """Whether an earlier request may still print: a request sent now is then sent as
        pipelined, and the harness marks where its output begins and ends on stderr (without
        that, the earlier call's last lines and the new call's would be mixed)."""
        return bool(self.awaiting_stderr_end)

    def stderr_owner(self) -> Pending | None:
        """The request that stderr output belongs to now (None between calls)."""
        return self.awaiting_stderr_end[0] if self.awaiting_stderr_end else None

    def answered(self, request_id: int, now_s: float, answered_s: float) -> Pending | None:
        """Record the head's response frame, read at ``now_s`` (set ``last_rss_bytes`` first);
        None if ``request_id`` is not the head.

        ``answered_s`` is when the plugin wrote the frame, by the monotonic clock both processes
        read: the exchange ends then, not when a busy event loop got round to reading it. A
        time outside the call's span (a plugin in another time namespace) is not trusted.
        """
        awaiting = self.awaiting_frame
        if not awaiting or awaiting[0].exchange.id != request_id:
            return None
        pending = awaiting.popleft()
        exchange = pending.exchange
        if not exchange.head_monotonic_s <= answered_s <= now_s:
            answered_s = now_s
        exchange.finished_monotonic_s = answered_s
        exchange.rss_after_bytes = self.last_rss_bytes
        if awaiting:
            following = awaiting[0]
            self._become_head(following, max(answered_s, following.exchange.sent_monotonic_s))
        return pending

    def output_ended(self, pending: Pending) -> bool:
        """The common case of :meth:`stderr_ended`: ``pending`` printed its last line and no
        earlier request is still waiting for that. False (nothing done) otherwise."""
        awaiting = self.awaiting_stderr_end
        if not awaiting or awaiting[0] is not pending:
            return False
        awaiting.popleft()
        pending.stderr_ended = True
        return True

    def stderr_ended(self, before_id: int) -> list[Pending]:
        """Record that every request with an id below ``before_id`` printed its last stderr
        line; return those that were still waiting for that, oldest first."""
        awaiting = self.awaiting_stderr_end
        ended: list[Pending] = []
        while awaiting and awaiting[0].exchange.id < before_id:
            pending = awaiting.popleft()
            pending.stderr_ended = True
            ended.append(pending)
        return ended

    def stop_watchdog(self) -> None:
        """Cancel the timer (the process is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _become_head(self, pending: Pending, now_s: float) -> None:
        assert self._loop is not None
        pending.exchange.head_monotonic_s = now_s
        pending.exchange.rss_before_bytes = self.last_rss_bytes
        deadline_s = now_s + pending.timeout_s
        timer = self._timer
        if timer is None or timer.when() > deadline_s:
            if timer is not None:
                timer.cancel()
            self._timer = self._loop.call_at(deadline_s, self._on_watchdog)

    def _on_watchdog(self) -> None:
        assert self._loop is not None
        self._timer = None
        if not self.awaiting_frame:
            return
        head = self.awaiting_frame[0]
        deadline_s = head.exchange.head_monotonic_s + head.timeout_s
        if time.monotonic() >= deadline_s - WATCHDOG_SLACK_S:
            self._on_timeout(head)
        else:
            self._timer = self._loop.call_at(deadline_s, self._on_watchdog)


def end_unanswered(
    exchange: Exchange,
    executing: Exchange | None,
    *,
    stopped_for: str | None,
    kill_reason: str | None,
    exit_code: int | None,
    signal_number: int | None,
    last_stderr: list[str],
) -> ExchangeStatus:
    """Say on ``exchange`` why it got no answer when its process went, and return its status:
    ``cancelled`` when aro-tui stopped or killed the process, else ``crashed``.

    ``executing`` is the call the plugin was running then; the others were queued behind it
    and never ran. ``stopped_for`` is why aro-tui stopped the process (None: it was not asked
    to), ``kill_reason`` why aro-tui killed it, if it did, and ``last_stderr`` the process's
    last stderr lines, given to the call that crashed if it printed none of its own.
    """
    queued = executing is not None and exchange is not executing
    if stopped_for is not None:
        exchange.error = stopped_for + (" before it ran" if queued else "")
        return ExchangeStatus.CANCELLED
    ended = exit_text(exit_code, signal_number)
    exchange.exit_code = exit_code
    exchange.signal_number = signal_number
    exchange.error = f"plugin {ended} during the call"
    if kill_reason is not None:
        # Killed over another exchange, which has ended already: this one never ran, and
        # aro-tui ended it, not a fault of the plugin's ("crashed" under status:crash).
        exchange.error = f"not run: {kill_reason} ({ended})"
        exchange.never_ran = True
        return ExchangeStatus.CANCELLED
    if queued:
        assert executing is not None
        exchange.never_ran = True
        exchange.error = (
            f"not run: plugin {ended} during the {executing.action} call it was queued behind"
        )
    if not exchange.stderr_lines and not exchange.never_ran:
        # The crash's last words, for the call that crashed; a call that never ran printed
        # nothing (it showed the other calls' lines as its own).
        for line in last_stderr:
            exchange.keep_stderr_line(line)
    return ExchangeStatus.CRASHED
