"""Exchange records: one request to a plugin and everything observed while it ran."""

from __future__ import annotations

import enum
import json
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aro_tui.core.runtime_notes import RuntimeNote

MAX_EXCHANGE_STDERR_LINES = 200
MAX_ERROR_CHARS = 4096
MAX_TRACEBACK_CHARS = 64 * 1024
"""How much of an error message and a traceback an exchange keeps: the response holds the
whole message, and a 5 MB exception was kept three times over in the log and the recording
(error, traceback, response)."""


MAX_KEPT_LINE_CHARS = 8 * 1024
MAX_KEPT_TAIL_CHARS = 256 * 1024
"""How much of a call's stderr its exchange keeps in memory (the dashboard's log and the
recording's ``stderr_tail`` hold the same): a line keeps its start and end, the tail its
newest lines. A plugin writing 5 MB with no newline kept all of it, 77 lines of 64 KiB, per
call: +9 MiB of dashboard memory and 6 MiB of recording each time."""


def kept_line(text: str) -> str:
    """``text``, or its start and end with how much was left out between them (a progress
    bar's last state stays, at the end)."""
    if len(text) <= MAX_KEPT_LINE_CHARS:
        return text
    half = MAX_KEPT_LINE_CHARS // 2
    return f"{text[:half]}… ({len(text) - 2 * half:,} characters left out) …{text[-half:]}"


def cap_error(text: str) -> str:
    """``text`` up to ``MAX_ERROR_CHARS``, then how much more the response holds."""
    if len(text) <= MAX_ERROR_CHARS:
        return text
    more = len(text) - MAX_ERROR_CHARS
    return f"{text[:MAX_ERROR_CHARS]}… ({more:,} more characters in the response)"


def cap_traceback(text: str) -> str:
    """``text``'s start and end (the frames, and the message last) up to
    ``MAX_TRACEBACK_CHARS``, with how much was left out between them."""
    if len(text) <= MAX_TRACEBACK_CHARS:
        return text
    half = MAX_TRACEBACK_CHARS // 2
    left_out = len(text) - 2 * half
    return f"{text[:half]}\n… ({left_out:,} characters left out) …\n{text[-half:]}"


class ExchangeStatus(enum.StrEnum):
    """How an exchange ended (``PENDING`` while it has not)."""

    PENDING = "pending"
    OK = "ok"
    PLUGIN_ERROR = "plugin_error"
    """The action returned a JSON object with a string ``"error"``, raised, or was unknown."""
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    CRASHED = "crashed"
    """The plugin process died (or was killed) before answering."""
    PROTOCOL_ERROR = "protocol_error"
    """The answer was not UTF-8 JSON text, not a string, or the stream was corrupt."""


@dataclass(slots=True, eq=False)
class Exchange:
    """One call to a plugin: request, response, timing, stderr and memory around it.

    ``request_bytes`` and ``response_bytes`` hold exactly the ``input`` JSON text sent to the
    action and the text it returned, as the chapter's protocol carries them; the chapter's
    request line is derived on demand by :meth:`spec_request_line`.
    """

    id: int
    plugin: str
    action: str
    request_bytes: bytes
    started_at: float = field(default_factory=time.time)
    """Wall-clock time (epoch seconds) the request was sent."""
    sent_monotonic_s: float = 0.0
    head_monotonic_s: float = 0.0
    """When the plugin could start on it (the previous in-flight exchange had finished)."""
    finished_monotonic_s: float | None = None
    action_duration_s: float | None = None
    """How long the action function ran, measured inside the plugin process."""
    status: ExchangeStatus = ExchangeStatus.PENDING
    response_bytes: bytes | None = None
    error: str | None = None
    """A one-line human summary when status is not OK."""
    traceback: str | None = None
    exit_code: int | None = None
    signal_number: int | None = None
    stderr_lines: deque[str] = field(
        default_factory=partial(deque, (), MAX_EXCHANGE_STDERR_LINES)  # half a lambda's cost
    )
    """The last lines the plugin wrote to stderr (or printed) during the call."""
    stderr_line_count: int = 0
    stderr_bytes: int = 0
    stderr_tail_chars: int = 0
    """How many characters ``stderr_lines`` holds (see :meth:`keep_stderr_line`)."""
    printed_bytes: int = 0
    """Of ``stderr_bytes``, what the plugin wrote through ``sys.stdout`` (``print``): the
    chapter's main loop and the ARO runtime would have taken it as part of the answer."""
    runtime_notes: tuple[RuntimeNote, ...] = ()
    """Where the public ARO runtime would have handled this call differently (set when the
    exchange ends; see :mod:`aro_tui.core.runtime_notes`)."""
    pid: int | None = None
    """The plugin process that ran it (memory samples of another process are not its)."""
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None
    """Resident memory of the plugin's whole process tree before and after the call. The
    plugin's own share is read when it answers, except after an action that ran under 20 µs:
    then it may be the reading taken up to 1 ms earlier (see the harness's
    ``_resident_pages``)."""
    rss_peak_bytes: int | None = None
    """The tree's highest resident memory during the call as the plugin process measured it
    (its ``VmHWM``; its children as they were after): only for an action of 1 ms or more, on
    Linux. None: take the larger of before and after, and the samples while it ran."""
    never_ran: bool = False
    """The plugin never started on it: it waited behind a call that crashed the plugin or got
    it killed (a timeout), and ended with it. Sending it again is safe."""
    left_running: tuple[str, ...] = ()
    """The non-daemon threads and multiprocessing children the action started and left
    running when it returned, as the harness named them (``thread 'Thread-3 (work)'``): the
    ARO runtime's process would wait for them at exit (a ``worker-still-running`` note)."""

    def keep_stderr_line(self, text: str) -> None:
        """Add ``text`` to ``stderr_lines`` within ``MAX_KEPT_LINE_CHARS`` a line and
        ``MAX_KEPT_TAIL_CHARS`` in all, the oldest lines going first."""
        text = kept_line(text)
        lines = self.stderr_lines
        if len(lines) == lines.maxlen:
            self.stderr_tail_chars -= len(lines[0])
        lines.append(text)
        self.stderr_tail_chars += len(text)
        while self.stderr_tail_chars > MAX_KEPT_TAIL_CHARS and len(lines) > 1:
            self.stderr_tail_chars -= len(lines.popleft())

    @property
    def finished(self) -> bool:
        """Whether the exchange has ended."""
        return self.status is not ExchangeStatus.PENDING

    @property
    def duration_s(self) -> float | None:
        """Service time: from when the plugin could start on it until the answer arrived."""
        if self.finished_monotonic_s is None:
            return None
        return self.finished_monotonic_s - self.head_monotonic_s

    @property
    def latency_s(self) -> float | None:
        """From sending the request (including time queued behind others) to the answer."""
        if self.finished_monotonic_s is None:
            return None
        return self.finished_monotonic_s - self.sent_monotonic_s

    @property
    def request_size_bytes(self) -> int:
        """Size of the input JSON text."""
        return len(self.request_bytes)

    @property
    def response_size_bytes(self) -> int:
        """Size of the returned text (0 when there is none)."""
        return 0 if self.response_bytes is None else len(self.response_bytes)

    @property
    def response_text(self) -> str | None:
        """The response decoded as UTF-8 (invalid bytes replaced)."""
        if self.response_bytes is None:
            return None
        return self.response_bytes.decode("utf-8", "replace")

    def response_json(self) -> Any:
        """The response parsed as JSON (raises ``ValueError`` if it is not)."""
        import orjson

        if self.response_bytes is None:
            raise ValueError("no response")
        return orjson.loads(self.response_bytes)

    def spec_request_line(self) -> str:
        """The request as the chapter's protocol carries it: ``{"action": ..., "input": ...}``."""
        input_text = self.request_bytes.decode("utf-8", "replace")
        return json.dumps({"action": self.action, "input": input_text})

    def spec_response_line(self) -> str | None:
        """The response line as the chapter's main loop would print it."""
        return self.response_text

    def summary(self) -> dict[str, Any]:
        """A JSON-ready record of the exchange (without the request and response bodies)."""
        duration_s = self.duration_s
        return {
            "id": self.id,
            "plugin": self.plugin,
            "action": self.action,
            "status": str(self.status),
            "started_at": self.started_at,
            "duration_ms": None if duration_s is None else round(duration_s * 1000, 3),
            "action_ms": (
                None if self.action_duration_s is None else round(self.action_duration_s * 1000, 3)
            ),
            "request_size_bytes": self.request_size_bytes,
            "response_size_bytes": self.response_size_bytes,
            "error": self.error,
            "exit_code": self.exit_code,
            "signal": self.signal_number,
            "stderr_line_count": self.stderr_line_count,
            "stderr_tail": list(self.stderr_lines),
            "rss_before_bytes": self.rss_before_bytes,
            "rss_after_bytes": self.rss_after_bytes,
            "rss_peak_bytes": self.rss_peak_bytes,
        }
