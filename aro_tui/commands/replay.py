"""``aro-tui replay SESSION``: rerun recorded exchanges against the plugins as they are now.

Exit status: 0 every response equal (a recorded crash or timeout happening again counts as
equal; a recorded cancelled call is skipped), 1 some differ, 2 usage, 3 a plugin crashed,
timed out or is missing, or the recording lost exchanges. With ``--ignore`` and
``--rel-tol`` it serves as a regression check in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aro_tui.commands import path_argument, seconds
from aro_tui.commands.call import (
    EXIT_USAGE,
    UsageError,
    print_usage_error,
    resolve_launch,
    run_with_host,
)
from aro_tui.commands.sessions import add_sessions_dir_argument, load_session_argument
from aro_tui.core.sanitize import sanitize_line
from aro_tui.core.user_files import os_reason

if TYPE_CHECKING:
    from aro_tui.core.host.plugin_host import PluginHost
    from aro_tui.core.host.process import PluginProcess
    from aro_tui.core.session.json_diff import DiffOptions
    from aro_tui.core.session.reader import NumberRange, Session
    from aro_tui.core.session.records import RecordedExchange
    from aro_tui.core.session.replay import ReplayOutcome, ReplayResult

REPLAY_SCHEMA = "aro-tui/replay/1"
_SHOWN_DIFFERENCES = 20


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``replay`` subcommand."""
    summary = "rerun a recorded session's exchanges and diff the responses"
    parser = subparsers.add_parser(
        "replay",
        help=summary,
        description=(
            f"{summary}. Exit status: 0 all equal, 1 some differ, 2 usage, "
            "3 a plugin crashed or timed out (where the recording did not), is missing, or the "
            "recording lost exchanges."
        ),
    )
    parser.add_argument(
        "session", metavar="SESSION", help="a session file, an id or id prefix, or 'last'"
    )
    parser.add_argument(
        "--exchange",
        type=int,
        action="append",
        metavar="N",
        help="replay only exchange N (as numbered by `aro-tui open`); repeatable",
    )
    parser.add_argument(
        "--plugins-dir",
        type=path_argument,
        metavar="DIR",
        help="where to find the plugins now (default: the session's, else the usual search)",
    )
    parser.add_argument(
        "--python",
        type=path_argument,
        metavar="EXE",
        help="interpreter for plugins without a .venv",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help="per-call timeout (default: 300, enough to load a model)",
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="PATH",
        help="a response path to leave out of the diff, e.g. '$.timing_ms', '$..load_seconds', "
        "'$.items[*].id'; repeatable",
    )
    parser.add_argument(
        "--rel-tol",
        type=float,
        default=0.0,
        metavar="X",
        help="numbers within this relative tolerance are equal (e.g. 1e-6)",
    )
    parser.add_argument(
        "--include-internal",
        action="store_true",
        help="also rerun aro-tui's own model-cache queries (left out by default: they answer "
        "with load times and timestamps, so they never compare equal)",
    )
    parser.add_argument("--json", action="store_true", help=f"print {REPLAY_SCHEMA} JSON")
    add_sessions_dir_argument(parser)
    parser.set_defaults(func=run_replay)


def _options(args: argparse.Namespace) -> DiffOptions:
    from aro_tui.core.session.json_diff import DiffOptions, IgnorePatternError

    try:
        return DiffOptions.build(args.ignore, rel_tol=args.rel_tol)
    except IgnorePatternError as error:
        raise UsageError(str(error)) from None
    except ValueError as error:
        raise UsageError(f"--rel-tol: {error}") from None


def run_replay(args: argparse.Namespace) -> int:
    """Run ``aro-tui replay``."""
    session = load_session_argument(args.session, args.sessions_dir, "replay")
    if session is None:
        return EXIT_USAGE
    try:
        options = _options(args)
        exchanges, skipped, lost_numbers = _selected(args, session)
        if not exchanges and not lost_numbers:
            raise UsageError(f"session {session.session_id} has no exchanges to replay")
        plugins_dir = _plugins_dir(args, session)
    except KeyError as error:
        print(
            f"aro-tui replay: error: no exchange {error} (known: {_known_numbers(session)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except UsageError as error:
        print_usage_error("replay", error)
        return EXIT_USAGE

    async def main(host: PluginHost) -> int:
        from aro_tui.core.session.replay import (
            EXIT_CRASHED,
            replay_exchanges,
            replay_exit_code,
        )

        def process_for(name: str) -> PluginProcess:
            if name in host.plugins:
                return host.get(name)
            lookup = argparse.Namespace(
                command="replay",
                plugin=name,
                plugins_dir=plugins_dir,
                python=args.python,
                timeout=args.timeout,
            )
            try:
                process = host.add(resolve_launch(lookup))
            except UsageError as error:
                raise LookupError(str(error)) from None
            # Replay never reads the process's history; by default it keeps up to 64 MiB of
            # answers, three 22 MB ones, for nothing. The newest is always kept.
            process.history.max_body_bytes = 0
            return process

        records: list[dict[str, Any]] = []  # --json: each result's record, made as it ends

        def progress(result: ReplayResult) -> None:
            if args.json:
                records.append(result.to_json())
            else:
                _print_result(result)

        if not args.json:
            _print_preamble(session, plugins_dir, len(exchanges), skipped)
        results = await replay_exchanges(
            exchanges, process_for, options, on_result=progress, keep_diffs=False
        )
        exit_code = replay_exit_code(results)
        lost = sum(last - first + 1 for first, last in lost_numbers)
        if lost:  # a check that passed over damage would hide a regression it cannot see
            exit_code = max(exit_code, EXIT_CRASHED)
            if not args.json:
                print(_lost_text(lost_numbers, lost), file=sys.stderr)
        if args.json:
            _print_json(
                session, plugins_dir, args, results, records, exit_code, skipped, lost_numbers
            )
        else:
            print(_summary_line(results, lost, exit_code))
        return exit_code

    return run_with_host(main)


def _selected(
    args: argparse.Namespace, session: Session
) -> tuple[list[RecordedExchange], int, list[NumberRange]]:
    """The exchanges to rerun in the recording's order, how many of aro-tui's own queries
    were left out, and the numbers lost from the recording to report (``KeyError`` for a
    number ``--exchange`` names that the recording never had)."""
    from aro_tui.core.session.reader import number_ranges

    if not args.exchange:
        exchanges = session.exchanges
        if not args.include_internal:
            exchanges = [e for e in session.exchanges if not session.is_internal(e)]
        return exchanges, len(session.exchanges) - len(exchanges), session.missing_exchange_numbers
    # In the recording's order, once each: a stateful plugin's calls (a load, then a
    # generate) only mean what they meant in the order they were made.
    wanted = sorted(set(args.exchange))
    lost = [number for number in wanted if _in_ranges(number, session.missing_exchange_numbers)]
    exchanges = [session.exchange(number) for number in wanted if number not in lost]
    return exchanges, 0, number_ranges(lost)


def _summary_line(results: list[ReplayResult], lost: int, exit_code: int) -> str:
    """``Summary: 3 equal, 0 different, 0 crashed, 0 missing; exit status 0``, with the
    skipped and lost counts when there are any."""
    counts = Counter(result.outcome for result in results)
    parts = [f"{counts[o]} {o}" for o in ("equal", "different", "crashed", "missing")]
    parts += [f"{counts['skipped']} skipped (nothing to compare)"] if counts["skipped"] else []
    parts += [f"{lost} lost in the recording"] if lost else []
    return f"Summary: {', '.join(parts)}; exit status {exit_code}"


def _in_ranges(number: int, ranges: list[NumberRange]) -> bool:
    return any(first <= number <= last for first, last in ranges)


def _print_preamble(session: Session, plugins_dir: Path | None, count: int, skipped: int) -> None:
    """The recording's warnings (on stderr), then what is replayed against what."""
    for warning in session.warnings:  # damaged lines the recording could not give
        print(f"aro-tui replay: warning: {session.path}: {warning}", file=sys.stderr)
    where = str(plugins_dir or "the usual search path")
    recorded = session.header.plugins_dir
    if plugins_dir is None and recorded is not None:  # it fell back: say why
        where += f" (the recorded {sanitize_line(str(recorded))} is gone)"
    print(f"Replaying {count} exchange(s) of {session.session_id} against {where}")
    if skipped:
        print(
            f"Left out {skipped} model-cache quer{'y' if skipped == 1 else 'ies'} "
            "aro-tui made itself (--include-internal reruns them)"
        )


def _known_numbers(session: Session) -> str:
    """The exchange numbers the recording holds, as ranges: ``1–2, 4–21`` (a count, "1 to
    N", would name a lost number and hide the last one)."""
    from aro_tui.core.session.reader import format_ranges, number_ranges

    numbers = number_ranges(exchange.number for exchange in session.exchanges)
    return format_ranges(numbers) if numbers else "none"


def _lost_text(lost_numbers: list[NumberRange], lost: int) -> str:
    """Which exchanges the recording lost, by number: a line deleted whole leaves no warning
    to point at, only a gap in the numbering (any warnings were printed just above)."""
    from aro_tui.core.session.reader import format_ranges

    numbers = format_ranges(lost_numbers, "#")
    return (
        f"{lost} recorded exchange(s) could not be read back ({numbers}: their lines are "
        "damaged or gone): not replayed, reported as lost"
    )


def _plugins_dir(args: argparse.Namespace, session: Session) -> Path | None:
    """``--plugins-dir`` (absolute; ``UsageError`` unless a folder: a typo there made every
    exchange "missing", exit 3, as if the plugins had regressed), else the recorded one
    when it is still there."""
    if args.plugins_dir is not None:
        given = Path(args.plugins_dir).absolute()
        where = sanitize_line(str(given))
        try:
            is_dir, exists = given.is_dir(), given.exists()
        except (OSError, ValueError) as error:  # a name too long...
            raise UsageError(f"--plugins-dir {where}: cannot read it: {os_reason(error)}") from None
        if not is_dir:
            raise UsageError(
                f"--plugins-dir {where} {'is not a folder' if exists else 'does not exist'}"
            )
        if not os.access(given, os.R_OK | os.X_OK):
            raise UsageError(f"--plugins-dir {where}: cannot read it: permission denied")
        return given
    recorded = session.header.plugins_dir
    try:
        return recorded if recorded is not None and recorded.is_dir() else None
    except (OSError, ValueError):  # a damaged header: the usual search, as when it is gone
        return None


def _change(old: float | None, new: float | None, unit: str, digits: int = 1) -> str:
    if old is None or new is None:
        return "-"
    sign = "+" if new - old >= 0 else ""
    return f"{old:.{digits}f} → {new:.{digits}f} {unit} ({sign}{new - old:.{digits}f})"


def _mib(value: int | None) -> float | None:
    return None if value is None else value / 2**20


_TIME_LABELS = {"action": "action time", "round_trip": "round-trip time"}


def _print_result(result: ReplayResult) -> None:
    from aro_tui.core.plugins.problem import clean_text

    recorded = result.recorded
    head = f"#{recorded.number} {recorded.plugin} {recorded.action}: {result.outcome}"
    if result.status_changed and result.new is not None:
        head += f" (status {recorded.status} → {result.new.status})"
    for reason in (result.problem, result.note):
        if reason:
            head += f": {reason}"
    print(clean_text(head))
    if result.new is not None and result.outcome in ("equal", "different"):
        time_label = _TIME_LABELS[result.time_measure]
        time_text = _change(result.old_duration_ms, result.new_duration_ms, "ms", 3)
        memory = _change(_mib(result.old_rss_after_bytes), _mib(result.new_rss_after_bytes), "MiB")
        growth = _change(
            _mib(result.old_rss_growth_bytes), _mib(result.new_rss_growth_bytes), "MiB", 2
        )
        print(f"    {time_label} {time_text}; memory after {memory}; growth in call {growth}")
    diff = result.diff
    if diff is not None and not diff.equal:
        for entry in diff.entries[:_SHOWN_DIFFERENCES]:
            print("    " + clean_text(entry.describe()))
        hidden = diff.total - min(len(diff.entries), _SHOWN_DIFFERENCES)
        if hidden:
            print(f"    … and {hidden} more difference(s) (--json lists up to 1000)")


_OUTCOMES: tuple[ReplayOutcome, ...] = ("equal", "different", "crashed", "missing", "skipped")


def _print_json(
    session: Session,
    plugins_dir: Path | None,
    args: argparse.Namespace,
    results: list[ReplayResult],
    records: list[dict[str, Any]],
    exit_code: int,
    skipped: int,
    lost_numbers: list[NumberRange],
) -> None:
    counts = Counter(result.outcome for result in results)
    document: dict[str, Any] = {
        "schema": REPLAY_SCHEMA,
        "session": str(session.path.absolute()),
        "session_id": session.session_id,
        "plugins_dir": None if plugins_dir is None else str(plugins_dir),
        "ignore": list(args.ignore),
        "rel_tol": args.rel_tol,
        "internal_left_out": skipped,
        "warnings": list(session.warnings),
        "results": records,
        "summary": {outcome: counts[outcome] for outcome in _OUTCOMES},
        "lost": sum(last - first + 1 for first, last in lost_numbers),
        "lost_numbers": [[first, last] for first, last in lost_numbers],
        "exit_code": exit_code,
    }
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")
