"""Rerun recorded exchanges against the plugins as they are now and say what changed.

For each recorded exchange: the same action with the same input through the real host, then
a structural diff of the two responses, the change in service time and in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginProcess
from aro_tui.core.json_values import loads_exact
from aro_tui.core.session.json_diff import DiffEntry, DiffOptions, JsonDiff, diff_json
from aro_tui.core.session.records import RecordedExchange

__all__ = [
    "EXIT_CRASHED",
    "EXIT_DIFFERENT",
    "EXIT_EQUAL",
    "ReplayOutcome",
    "ReplayResult",
    "compare_exchange",
    "replay_exchanges",
    "replay_exit_code",
]

EXIT_EQUAL = 0
EXIT_DIFFERENT = 1
EXIT_CRASHED = 3

ReplayOutcome = Literal["equal", "different", "crashed", "missing"]
"""``crashed``: the new call crashed, timed out or was cancelled; ``missing``: it could not run
(the plugin is gone, or a recorded body could not be read)."""

UNCOMPARABLE_STATUSES = frozenset(
    {ExchangeStatus.CRASHED, ExchangeStatus.TIMEOUT, ExchangeStatus.CANCELLED}
)
"""A rerun that ended like this has no response to compare with the recorded one."""


@dataclass(frozen=True)
class ReplayResult:
    """One recorded exchange rerun: the outcome, the diff, and time and memory then and now."""

    recorded: RecordedExchange
    new: Exchange | None
    outcome: ReplayOutcome
    diff: JsonDiff | None = None
    """The responses' differences (None when the new call did not answer)."""
    problem: str | None = None
    """Why the rerun crashed or could not run."""

    @property
    def status_changed(self) -> bool:
        """Whether the new call ended with another status than the recorded one."""
        return self.new is not None and self.new.status != self.recorded.status

    @property
    def old_duration_ms(self) -> float | None:
        """Recorded service time."""
        return self.recorded.duration_ms

    @property
    def new_duration_ms(self) -> float | None:
        """Service time now."""
        duration = None if self.new is None else self.new.duration_s
        return None if duration is None else round(duration * 1000, 3)

    @property
    def old_rss_after_bytes(self) -> int | None:
        """Plugin tree's resident memory after the recorded call."""
        return self.recorded.rss_after_bytes

    @property
    def new_rss_after_bytes(self) -> int | None:
        """Plugin tree's resident memory after the call now."""
        return None if self.new is None else self.new.rss_after_bytes

    @property
    def old_rss_growth_bytes(self) -> int | None:
        """How much the recorded call grew the plugin's memory."""
        return _bytes_change(self.recorded.rss_after_bytes, self.recorded.rss_before_bytes)

    @property
    def new_rss_growth_bytes(self) -> int | None:
        """How much the call now grew the plugin's memory."""
        if self.new is None:
            return None
        return _bytes_change(self.new.rss_after_bytes, self.new.rss_before_bytes)

    def to_json(self, max_value_chars: int = 200) -> dict[str, Any]:
        """The ``aro-tui replay --json`` record of this exchange (``docs/sessions.md``)."""
        recorded = self.recorded
        diff = self.diff
        return {
            "number": recorded.number,
            "plugin": recorded.plugin,
            "action": recorded.action,
            "outcome": self.outcome,
            "old_status": str(recorded.status),
            "new_status": None if self.new is None else str(self.new.status),
            "problem": self.problem,
            "differences": None if diff is None else diff.total,
            "diff": None if diff is None else [e.to_json(max_value_chars) for e in diff.entries],
            "old_duration_ms": self.old_duration_ms,
            "new_duration_ms": self.new_duration_ms,
            "duration_change_ms": _difference(self.new_duration_ms, self.old_duration_ms),
            "old_rss_after_bytes": self.old_rss_after_bytes,
            "new_rss_after_bytes": self.new_rss_after_bytes,
            "rss_after_change_bytes": _difference(
                self.new_rss_after_bytes, self.old_rss_after_bytes
            ),
            "old_rss_growth_bytes": self.old_rss_growth_bytes,
            "new_rss_growth_bytes": self.new_rss_growth_bytes,
        }


def _bytes_change(new: int | None, old: int | None) -> int | None:
    return None if new is None or old is None else new - old


def _difference(new: Any, old: Any) -> Any:
    """``new - old``, or None when either is unknown."""
    if new is None or old is None:
        return None
    result = new - old
    return round(result, 3) if isinstance(result, float) else result


def _parse(body: bytes | None) -> tuple[bool, Any]:
    if body is None:
        return False, None
    try:
        return True, loads_exact(body)  # two ids past 64 bits must not compare equal as floats
    except ValueError:
        return False, None


def diff_responses(
    old_body: bytes | None, new_body: bytes | None, options: DiffOptions | None = None
) -> JsonDiff:
    """The structural diff of two response bodies; text that isn't JSON is one value."""
    old_ok, old_json = _parse(old_body)
    new_ok, new_json = _parse(new_body)
    if old_ok and new_ok:
        return diff_json(old_json, new_json, options)
    if old_body == new_body:
        return JsonDiff((), 0)
    old_text = None if old_body is None else old_body.decode("utf-8", "replace")
    new_text = None if new_body is None else new_body.decode("utf-8", "replace")
    return JsonDiff((DiffEntry("$", "changed", old_text, new_text),), 1)


def compare_exchange(
    recorded: RecordedExchange, new: Exchange, options: DiffOptions | None = None
) -> ReplayResult:
    """Compare a fresh call with its recording (pure: no I/O but a spilled body's file)."""
    if new.status in UNCOMPARABLE_STATUSES:
        return ReplayResult(recorded, new, "crashed", None, _rerun_problem(new))
    try:
        old_body = None if recorded.response is None else recorded.response.read()
    except OSError as error:
        return ReplayResult(recorded, new, "missing", None, f"recorded response lost: {error}")
    diff = diff_responses(old_body, new.response_bytes, options)
    different = not diff.equal or new.status != recorded.status
    return ReplayResult(recorded, new, "different" if different else "equal", diff)


def _rerun_problem(new: Exchange) -> str:
    """How the rerun failed: its status and error, but not a status that is the outcome's
    own word, which would print as ``crashed: crashed: plugin exited…``."""
    if new.status is ExchangeStatus.CRASHED:
        return new.error or "the plugin process died"
    return f"{new.status}: {new.error}"


async def replay_exchanges(
    exchanges: Sequence[RecordedExchange],
    process_for: Callable[[str], PluginProcess],
    options: DiffOptions | None = None,
    *,
    timeout_s: float | None = None,
    on_result: Callable[[ReplayResult], None] | None = None,
) -> list[ReplayResult]:
    """Rerun ``exchanges`` in order, one at a time, and compare each with its recording.

    ``process_for(plugin_name)`` gives the process to call (started on the first call);
    ``LookupError`` from it marks that plugin's exchanges ``missing``. ``on_result`` is
    called after each exchange (on the event loop), for progress.
    """
    results: list[ReplayResult] = []
    missing: dict[str, str] = {}
    for recorded in exchanges:
        result = await _replay_one(recorded, process_for, options, timeout_s, missing)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


async def _replay_one(
    recorded: RecordedExchange,
    process_for: Callable[[str], PluginProcess],
    options: DiffOptions | None,
    timeout_s: float | None,
    missing: dict[str, str],
) -> ReplayResult:
    if recorded.plugin in missing:
        return ReplayResult(recorded, None, "missing", None, missing[recorded.plugin])
    try:
        process = process_for(recorded.plugin)
    except LookupError as error:
        missing[recorded.plugin] = str(error.args[0] if error.args else error)
        return ReplayResult(recorded, None, "missing", None, missing[recorded.plugin])
    try:
        request = recorded.request.read()
    except OSError as error:
        return ReplayResult(recorded, None, "missing", None, f"recorded request lost: {error}")
    try:
        new = await process.call(recorded.action, request, timeout_s=timeout_s)
    except ValueError as error:  # an action name no request can carry (an edited recording)
        return ReplayResult(recorded, None, "missing", None, str(error))
    return compare_exchange(recorded, new, options)


def replay_exit_code(results: Sequence[ReplayResult]) -> int:
    """3 if any rerun crashed or could not run, else 1 if any differs, else 0."""
    outcomes = {result.outcome for result in results}
    if outcomes & {"crashed", "missing"}:
        return EXIT_CRASHED
    if "different" in outcomes:
        return EXIT_DIFFERENT
    return EXIT_EQUAL
