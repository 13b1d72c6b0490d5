"""Rerun recorded exchanges against the plugins as they are now and say what changed.

For each recorded exchange: the same action with the same input through the real host, then
a structural diff of the two responses, the change in service time and in memory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
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
    "RECORDED_WITHOUT_ANSWER",
    "ReplayOutcome",
    "ReplayResult",
    "Rerun",
    "TimeMeasure",
    "compare_exchange",
    "compared_times",
    "failed_again",
    "replay_exchanges",
    "replay_exit_code",
]

EXIT_EQUAL = 0
EXIT_DIFFERENT = 1
EXIT_CRASHED = 3

ReplayOutcome = Literal["equal", "different", "crashed", "missing", "skipped"]
"""``crashed``: the new call crashed, timed out or was cancelled (unless the recorded one
ended the same way: ``equal``); ``missing``: it could not run (the plugin is gone, or a
recorded body could not be read); ``skipped``: not rerun, the recording has no answer to
compare with (:data:`RECORDED_WITHOUT_ANSWER`)."""

TimeMeasure = Literal["action", "round_trip"]
"""Which time a result compares: the action's own (measured in the plugin) or the round trip."""

UNCOMPARABLE_STATUSES = frozenset(
    {ExchangeStatus.CRASHED, ExchangeStatus.TIMEOUT, ExchangeStatus.CANCELLED}
)
"""A rerun that ended like this has no response to compare with the recorded one."""

RECORDED_WITHOUT_ANSWER: Mapping[ExchangeStatus, str] = {
    ExchangeStatus.CANCELLED: "recorded as cancelled: no answer to compare",
    ExchangeStatus.PENDING: "recorded unfinished: no answer to compare",
}
"""Recorded statuses not worth a rerun, and why: the call was stopped from outside, so
neither an answer nor a failure of the plugin's own is there to compare (a recorded crash
or timeout is: the plugin failing the same way again is ``equal``)."""

REPEATABLE_FAILURES = frozenset({ExchangeStatus.CRASHED, ExchangeStatus.TIMEOUT})
"""Recorded failures that count as ``equal`` when the rerun fails the same way again."""


@dataclass(frozen=True, slots=True)
class Rerun:
    """What a replay keeps of the new call: how it ended and what it cost, not its bodies
    (a replay of many large answers would otherwise hold every one to the end)."""

    status: ExchangeStatus
    error: str | None = None
    exit_code: int | None = None
    signal_number: int | None = None
    duration_s: float | None = None
    """The round trip, as the host measured it."""
    action_duration_s: float | None = None
    """The action's own time, measured in the plugin (None: no answer, or an old plugin)."""
    rss_before_bytes: int | None = None
    rss_after_bytes: int | None = None

    @classmethod
    def of(cls, exchange: Exchange) -> Rerun:
        """The parts of ``exchange`` a replay report uses."""
        return cls(
            exchange.status,
            exchange.error,
            exchange.exit_code,
            exchange.signal_number,
            exchange.duration_s,
            exchange.action_duration_s,
            exchange.rss_before_bytes,
            exchange.rss_after_bytes,
        )


def compared_times(
    old_action_ms: float | None,
    old_round_trip_ms: float | None,
    new_action_ms: float | None,
    new_round_trip_ms: float | None,
) -> tuple[float | None, float | None, TimeMeasure]:
    """(then, now, which): the action's own times when both sides have one, else both round
    trips; never one of each, which compared the dashboard's round trip with an action time."""
    if old_action_ms is not None and new_action_ms is not None:
        return old_action_ms, new_action_ms, "action"
    return old_round_trip_ms, new_round_trip_ms, "round_trip"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@dataclass(frozen=True)
class ReplayResult:
    """One recorded exchange rerun: the outcome, the diff, and time and memory then and now."""

    recorded: RecordedExchange
    new: Rerun | None
    outcome: ReplayOutcome
    diff: JsonDiff | None = None
    """The responses' differences (None when the new call did not answer)."""
    problem: str | None = None
    """Why the rerun crashed or could not run."""
    note: str | None = None
    """Why an ``equal`` or ``skipped`` outcome rests on no diff: ``crashed again, as
    recorded``, ``recorded as cancelled: no answer to compare``."""

    @property
    def status_changed(self) -> bool:
        """Whether the new call ended with another status than the recorded one."""
        return self.new is not None and self.new.status != self.recorded.status

    def _times(self) -> tuple[float | None, float | None, TimeMeasure]:
        new = self.new
        return compared_times(
            _optional_ms(self.recorded.record.get("action_ms")),
            self.recorded.duration_ms,
            None if new is None else _ms(new.action_duration_s),
            None if new is None else _ms(new.duration_s),
        )

    @property
    def time_measure(self) -> TimeMeasure:
        """Which time :attr:`old_duration_ms` and :attr:`new_duration_ms` both are."""
        return self._times()[2]

    @property
    def old_duration_ms(self) -> float | None:
        """Recorded time, by :attr:`time_measure`."""
        return self._times()[0]

    @property
    def new_duration_ms(self) -> float | None:
        """Time now, by :attr:`time_measure`."""
        return self._times()[1]

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
        """The ``aro-tui replay --json`` record of this exchange (``docs/json-output.md``)."""
        recorded = self.recorded
        diff = self.diff
        old_ms, new_ms, measure = self._times()
        return {
            "number": recorded.number,
            "plugin": recorded.plugin,
            "action": recorded.action,
            "outcome": self.outcome,
            "old_status": str(recorded.status),
            "new_status": None if self.new is None else str(self.new.status),
            "problem": self.problem,
            "note": self.note,
            "differences": None if diff is None else diff.total,
            "diff": None if diff is None else [e.to_json(max_value_chars) for e in diff.entries],
            "time_measure": measure,
            "old_duration_ms": old_ms,
            "new_duration_ms": new_ms,
            "duration_change_ms": _difference(new_ms, old_ms),
            "old_rss_after_bytes": self.old_rss_after_bytes,
            "new_rss_after_bytes": self.new_rss_after_bytes,
            "rss_after_change_bytes": _difference(
                self.new_rss_after_bytes, self.old_rss_after_bytes
            ),
            "old_rss_growth_bytes": self.old_rss_growth_bytes,
            "new_rss_growth_bytes": self.new_rss_growth_bytes,
        }


def _optional_ms(value: Any) -> float | None:
    """A recorded time in ms, or None when absent or not a number (a damaged record)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _bytes_change(new: int | None, old: int | None) -> int | None:
    return None if new is None or old is None else new - old


def _difference(new: Any, old: Any) -> Any:
    """``new - old``, or None when either is unknown."""
    if new is None or old is None:
        return None
    result = new - old
    return round(result, 3) if isinstance(result, float) else result


def _response_value(body: bytes | None) -> tuple[bool, Any]:
    """(whether it is JSON, its value): the parsed JSON, else the text, else the bytes
    themselves (not UTF-8: replacement characters would make two changed bodies read alike);
    None for no body."""
    if body is None:
        return False, None
    try:
        return True, loads_exact(body)  # two ids past 64 bits must not compare equal as floats
    except ValueError:
        pass
    try:
        return False, body.decode("utf-8")
    except UnicodeDecodeError:
        return False, body


def diff_responses(
    old_body: bytes | None, new_body: bytes | None, options: DiffOptions | None = None
) -> JsonDiff:
    """The structural diff of two response bodies; a body that isn't JSON is one value (its
    text, or its bytes when not UTF-8), as is a JSON one against it or against no body."""
    old_is_json, old_value = _response_value(old_body)
    new_is_json, new_value = _response_value(new_body)
    if old_is_json and new_is_json:
        return diff_json(old_value, new_value, options)
    if old_body == new_body:
        return JsonDiff((), 0)
    return JsonDiff((DiffEntry("$", "changed", old_value, new_value),), 1)


def compare_exchange(
    recorded: RecordedExchange, new: Exchange, options: DiffOptions | None = None
) -> ReplayResult:
    """Compare a fresh call with its recording (pure: no I/O but a spilled body's file).

    The result keeps the diff and a :class:`Rerun`, not the new call's bodies, so a replay
    holds about one exchange's bodies at a time.
    """
    rerun = Rerun.of(new)
    if new.status in UNCOMPARABLE_STATUSES:
        return _failed_result(recorded, rerun)
    try:
        old_body = None if recorded.response is None else recorded.response.read()
    except OSError as error:
        return ReplayResult(recorded, rerun, "missing", None, f"recorded response lost: {error}")
    diff = diff_responses(old_body, new.response_bytes, options)
    different = not diff.equal or new.status != recorded.status
    return ReplayResult(recorded, rerun, "different" if different else "equal", diff)


def _failed_result(recorded: RecordedExchange, rerun: Rerun) -> ReplayResult:
    """A rerun that did not answer: ``equal`` when the recorded call failed the same way
    (a known crash is not a new regression), else ``crashed``."""
    record = recorded.record
    again = failed_again(str(recorded.status), record.get("exit_code"), record.get("signal"), rerun)
    if again is not None:
        return ReplayResult(recorded, rerun, "equal", note=again)
    problem = _rerun_problem(rerun)
    if recorded.status == rerun.status:  # the same status, another exit code or signal
        problem += f"; recorded: {recorded.error or recorded.status}"
    return ReplayResult(recorded, rerun, "crashed", None, problem)


def failed_again(
    then_status: str, then_exit_code: Any, then_signal: Any, rerun: Rerun
) -> str | None:
    """``crashed again, as recorded (exit code 5)`` when ``rerun`` failed as the call then did
    (the same status, a crash or a timeout, and the same exit code and signal where known
    then), else None: a known failure is not a new regression (``replay`` and the
    dashboard's compare alike)."""
    if rerun.status not in REPEATABLE_FAILURES or str(rerun.status) != then_status:
        return None
    for then, now in ((then_exit_code, rerun.exit_code), (then_signal, rerun.signal_number)):
        if then is not None and then != now:
            return None
    return _again_note(rerun)


def _again_note(rerun: Rerun) -> str:
    """``crashed again, as recorded (exit code 5)``; ``timed out again, as recorded``."""
    if rerun.status is ExchangeStatus.TIMEOUT:
        return "timed out again, as recorded"
    how = [f"exit code {rerun.exit_code}"] if rerun.exit_code is not None else []
    how += [f"signal {rerun.signal_number}"] if rerun.signal_number is not None else []
    return "crashed again, as recorded" + (f" ({', '.join(how)})" if how else "")


def _rerun_problem(new: Rerun) -> str:
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
    keep_diffs: bool = True,
) -> list[ReplayResult]:
    """Rerun ``exchanges`` in order, one at a time, and compare each with its recording.

    ``process_for(plugin_name)`` gives the process to call (started on the first call);
    ``LookupError`` from it marks that plugin's exchanges ``missing``. An exchange recorded
    without an answer (:data:`RECORDED_WITHOUT_ANSWER`) is ``skipped``, not rerun: a hang
    that was cancelled would hold the replay for its whole timeout. ``on_result`` is called
    after each exchange (on the event loop), for progress. Without ``keep_diffs`` the results
    returned keep each diff's count, not its entries, which ``on_result`` saw whole: a changed
    value can be a whole answer (a 20 MB string), and a long replay kept every one of them.
    """
    results: list[ReplayResult] = []
    missing: dict[str, str] = {}
    for recorded in exchanges:
        result = await _replay_one(recorded, process_for, options, timeout_s, missing)
        if on_result is not None:
            on_result(result)
        if not keep_diffs and result.diff is not None and result.diff.entries:
            result = dataclasses.replace(result, diff=JsonDiff((), result.diff.total))
        results.append(result)
    return results


async def _replay_one(
    recorded: RecordedExchange,
    process_for: Callable[[str], PluginProcess],
    options: DiffOptions | None,
    timeout_s: float | None,
    missing: dict[str, str],
) -> ReplayResult:
    skip_reason = RECORDED_WITHOUT_ANSWER.get(recorded.status)
    if skip_reason is not None:
        return ReplayResult(recorded, None, "skipped", note=skip_reason)
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
    """3 if any rerun crashed or could not run, else 1 if any differs, else 0 (``skipped``
    ones count for nothing: there was nothing to compare)."""
    outcomes = {result.outcome for result in results}
    if outcomes & {"crashed", "missing"}:
        return EXIT_CRASHED
    if "different" in outcomes:
        return EXIT_DIFFERENT
    return EXIT_EQUAL
