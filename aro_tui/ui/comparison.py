"""A logged exchange against a fresh run of it: outcome, JSON diff, latency and memory.

Plain Python (no Textual): the log's rows and bodies in, a :class:`Comparison` out. The log
holds both live exchanges and ones reopened from a recording, so one path serves both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aro_tui.core.exchange_log import ExchangeLog, LogEntry, LoggedExchange
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.runtime_notes import RuntimeNote
from aro_tui.core.session.json_diff import DiffEntry, DiffOptions, JsonDiff
from aro_tui.core.session.replay import (
    RECORDED_WITHOUT_ANSWER,
    UNCOMPARABLE_STATUSES,
    Rerun,
    TimeMeasure,
    compared_times,
    diff_responses,
    failed_again,
)
from aro_tui.ui.formatting import error_excerpt


def exchange_from_log(log: ExchangeLog, number: int) -> LoggedExchange:
    """Exchange ``number`` rebuilt from the log as the host ended it, with its log number
    (blocking: reads its bodies; ``KeyError``)."""
    entry = log.get(number)
    if entry is None:
        raise KeyError(number)
    details = log.details(number)
    stderr = log.stderr_lines(number)
    return LoggedExchange(
        number=number,
        id=int(details["exchange_id"]),
        plugin=entry.plugin,
        action=entry.action,
        request_bytes=log.request_bytes(number),
        started_at=float(details["started_at"]),
        sent_monotonic_s=float(details["sent_monotonic_s"]),
        head_monotonic_s=float(details["head_monotonic_s"]),
        finished_monotonic_s=_optional_float(details["finished_monotonic_s"]),
        action_duration_s=_optional_float(details["action_duration_s"]),
        status=ExchangeStatus(entry.status),
        response_bytes=log.response_bytes(number),
        error=entry.error,
        traceback=details["traceback"],
        exit_code=entry.exit_code,
        signal_number=entry.signal_number,
        stderr_lines=deque(stderr, maxlen=max(len(stderr), 1)),
        stderr_line_count=entry.stderr_line_count,
        stderr_bytes=int(details["stderr_bytes"]),
        printed_bytes=int(details["printed_bytes"]),
        runtime_notes=tuple(
            RuntimeNote(str(note["code"]), str(note["text"])) for note in details["runtime_notes"]
        ),
        pid=details.get("pid"),
        rss_before_bytes=entry.rss_before_bytes,
        rss_after_bytes=entry.rss_after_bytes,
        rss_peak_bytes=details.get("rss_peak_bytes"),
        lost_bodies=dict(details.get("lost_bodies") or {}),
    )


def _optional_float(value: float | None) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Comparison:
    """Exchange ``number`` as logged ("then") against a fresh run ("now")."""

    number: int
    plugin: str
    action: str
    outcome: str
    """``equal``, ``different``, how the rerun failed (``crashed``, ``timeout``,
    ``cancelled``), ``missing`` (no plugin) or ``skipped`` (nothing recorded to compare)."""
    diff: JsonDiff | None
    problem: str | None
    old_status: str
    new_status: str | None
    old_duration_ms: float | None
    new_duration_ms: float | None
    old_rss_after_bytes: int | None
    new_rss_after_bytes: int | None
    old_rss_growth_bytes: int | None
    new_rss_growth_bytes: int | None
    time_measure: TimeMeasure = "round_trip"
    """Which time both durations are (``compared_times``: as ``aro-tui replay`` compares)."""

    @property
    def entries(self) -> tuple[DiffEntry, ...]:
        """The differences (empty when equal or not compared)."""
        return () if self.diff is None else self.diff.entries


def _growth(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


def missing(entry: LogEntry, problem: str) -> Comparison:
    """``entry`` could not be rerun (its plugin isn't here, or isn't runnable)."""
    return Comparison(
        entry.number, entry.plugin, entry.action, "missing", None, problem, entry.status, None,
        entry.shown_duration_ms, None, entry.rss_after_bytes, None,
        _growth(entry.rss_before_bytes, entry.rss_after_bytes), None,
    )  # fmt: skip


def skipped(entry: LogEntry) -> Comparison | None:
    """``entry`` not worth a rerun, as ``aro-tui replay`` skips it (recorded as cancelled:
    no answer to compare), else None."""
    why = RECORDED_WITHOUT_ANSWER.get(ExchangeStatus(entry.status))
    if why is None:
        return None
    return Comparison(
        entry.number, entry.plugin, entry.action, "skipped", None, why, entry.status, None,
        entry.shown_duration_ms, None, entry.rss_after_bytes, None,
        _growth(entry.rss_before_bytes, entry.rss_after_bytes), None,
    )  # fmt: skip


def compare_logged(
    entry: LogEntry, old_response: bytes | None, new: Exchange, options: DiffOptions | None = None
) -> Comparison:
    """Compare a fresh run ``new`` of log entry ``entry`` with the response it had."""
    # The action's own times when both runs have one, else both round trips (never one of each).
    old_ms, new_ms, measure = compared_times(
        entry.action_duration_ms, entry.duration_ms, _ms(new.action_duration_s), _ms(new.duration_s)
    )
    new_status = str(new.status)
    diff: JsonDiff | None = None
    problem: str | None = None
    again = failed_again(entry.status, entry.exit_code, entry.signal_number, Rerun.of(new))
    if again is not None:  # a known failure, as `aro-tui replay` counts it
        outcome, problem = "equal", again
    elif new.status in UNCOMPARABLE_STATUSES:
        # The status itself: a cancelled rerun was once summed up as "crashed".
        outcome, problem = new_status, f"{new_status}: {error_excerpt(new.error or '')}"
    else:
        diff = diff_responses(old_response, new.response_bytes, options)
        outcome = "different" if not diff.equal or new_status != entry.status else "equal"
    return Comparison(
        entry.number, entry.plugin, entry.action, outcome, diff, problem, entry.status,
        new_status, old_ms, new_ms, entry.rss_after_bytes, new.rss_after_bytes,
        _growth(entry.rss_before_bytes, entry.rss_after_bytes),
        _growth(new.rss_before_bytes, new.rss_after_bytes), measure,
    )  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000
