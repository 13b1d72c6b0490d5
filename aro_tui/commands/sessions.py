"""``aro-tui sessions`` lists recorded sessions; ``aro-tui open SESSION`` reopens one."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aro_tui.commands import path_argument, stdout_console
from aro_tui.core.sizes import format_size

if TYPE_CHECKING:
    from aro_tui.core.session.reader import Session
    from aro_tui.core.session.store import SessionInfo

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_USAGE = 2
SESSIONS_SCHEMA = "aro-tui/sessions/1"


def add_sessions_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--sessions-dir``, shared with ``replay``."""
    parser.add_argument(
        "--sessions-dir",
        type=path_argument,
        metavar="DIR",
        help="where sessions are kept (default: $XDG_DATA_HOME/aro-tui/sessions)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``sessions`` and ``open`` subcommands."""
    summary = "list recorded dashboard sessions"
    parser = subparsers.add_parser("sessions", help=summary, description=summary)
    add_sessions_dir_argument(parser)
    parser.add_argument("--json", action="store_true", help=f"print {SESSIONS_SCHEMA} JSON")
    parser.set_defaults(func=run_sessions)

    summary = "reopen a recorded session read-only in the dashboard"
    parser = subparsers.add_parser(
        "open",
        help=summary,
        description=(
            "Reopen a recorded session read-only in the dashboard: its log with every body and "
            "stderr line, its memory chart on the recording's own time axis, its model cache. "
            "Running is off; d on an exchange (or 'replay all' in ctrl+p) reruns it against "
            "the plugin as it is now and shows what changed. A recording cut off mid-line "
            "still opens. --summary prints a summary instead (no dashboard)."
        ),
    )
    parser.add_argument(
        "session", metavar="SESSION", help="a session file, an id or id prefix, or 'last'"
    )
    add_sessions_dir_argument(parser)
    parser.add_argument(
        "--summary",
        action="store_true",
        help="print the header, exchanges, counts and damage instead of opening the dashboard",
    )
    parser.add_argument(
        "--plugins-dir",
        type=path_argument,
        metavar="DIR",
        help="plugins to replay against (default: the recorded folder, else the usual search)",
    )
    parser.add_argument(
        "--python", type=path_argument, help="interpreter for plugins without a .venv"
    )
    parser.set_defaults(func=run_open)


def _text(value: str) -> Any:
    from rich.text import Text

    from aro_tui.core.plugins.problem import clean_text

    return Text(clean_text(value))


def _started(timestamp: float, *, seconds: bool = True) -> str:
    if not timestamp:
        return "-"
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return time.strftime(pattern, time.localtime(timestamp))


def _info_json(info: SessionInfo) -> dict[str, Any]:
    return {
        "id": info.session_id,
        "path": str(info.path),
        "started_at": info.started_at or None,
        "plugins": info.plugins,
        "exchanges": info.exchanges,
        "internal": info.internal,
        "errors": info.errors,
        "size_bytes": info.size_bytes,
        "complete": info.complete,
        "recording": info.recording,
        "problem": info.problem,
    }


def run_sessions(args: argparse.Namespace) -> int:
    """Run ``aro-tui sessions``: 0 (an empty list included), 2 when the folder is a file."""
    from rich.table import Table

    from aro_tui.core.session.store import list_sessions, sessions_dir
    from aro_tui.core.user_files import os_reason

    folder: Path = (args.sessions_dir or sessions_dir()).absolute()
    try:
        not_a_folder = folder.exists() and not folder.is_dir()
    except (OSError, ValueError) as error:  # no search permission, a name too long...
        print(f"aro-tui sessions: error: cannot read {folder}: {os_reason(error)}", file=sys.stderr)
        return EXIT_USAGE
    if not_a_folder:
        print(f"aro-tui sessions: error: {folder} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    if args.sessions_dir is not None and not folder.exists():  # named: a typo, likely
        print(f"aro-tui sessions: error: {folder} does not exist", file=sys.stderr)
        return EXIT_USAGE
    if folder.exists() and not os.access(folder, os.R_OK | os.X_OK):  # it read as empty
        print(f"aro-tui sessions: error: cannot read {folder}: permission denied", file=sys.stderr)
        return EXIT_USAGE
    infos = list_sessions(folder)
    if args.json:
        document = {
            "schema": SESSIONS_SCHEMA,
            "sessions_dir": str(folder),
            "sessions": [_info_json(info) for info in infos],
        }
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=True) + "\n")
        return EXIT_OK
    console = stdout_console()
    if not infos:
        console.print(_text(f"No sessions in {folder}"))
        return EXIT_OK
    from rich import box

    table = Table(
        title=_text(f"Sessions in {folder}"),
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("Id", no_wrap=True, min_width=22)
    table.add_column("Started", no_wrap=True, min_width=16)
    # The plugin names give way first in a narrow terminal; the figures never wrap.
    table.add_column("Plugins", overflow="ellipsis", no_wrap=True, max_width=12)
    for column, width in (("Calls", 5), ("Errors", 6), ("Size", 9)):
        table.add_column(column, justify="right", no_wrap=True, min_width=width)
    for info in infos:
        if info.problem is not None:
            table.add_row(_text(info.session_id), "-", _text(f"unreadable: {info.problem}"))
            continue
        started = _started(info.started_at, seconds=False)
        table.add_row(
            _text(info.session_id),
            started,
            _text(", ".join(info.plugins) or "-"),
            str(info.exchanges - info.internal),  # the calls made, not aro-tui's own queries
            str(info.errors),
            format_size(info.size_bytes) + _size_mark(info),
        )
    marks = {_size_mark(info) for info in infos if info.problem is None}
    captions = {
        "*": "* cut off: aro-tui ended without closing it; it still opens",
        "+": "+ still being recorded by a running aro-tui",
    }
    table.caption = "\n".join(text for mark, text in captions.items() if mark in marks) or None
    console.print(table)
    return EXIT_OK


def _size_mark(info: SessionInfo) -> str:
    """``+`` being recorded, ``*`` cut off, else nothing."""
    if info.complete:
        return ""
    return "+" if info.recording else "*"


def load_session_argument(reference: str, folder: Path | None, command: str) -> Session | None:
    """The session ``reference`` names, or None after printing why it can't be read."""
    from aro_tui.core.session.reader import SessionReadError, read_session
    from aro_tui.core.session.store import resolve_session

    try:
        return read_session(resolve_session(reference, folder))
    except (LookupError, SessionReadError) as error:
        print(f"aro-tui {command}: error: {error.args[0]}", file=sys.stderr)
        return None


def run_open(args: argparse.Namespace) -> int:
    """Run ``aro-tui open``: 0, 2 when the session can't be found or read."""
    if args.summary:
        session = load_session_argument(args.session, args.sessions_dir, "open")
        if session is None:
            return EXIT_USAGE
        print_session_summary(session)
        return EXIT_OK
    from aro_tui.core.plugins.discovery import DiscoveryError, discover, resolve_search_path
    from aro_tui.core.session.reader import SessionReadError, read_session_header
    from aro_tui.core.session.store import resolve_session

    try:
        path = resolve_session(args.session, args.sessions_dir)
        header = read_session_header(path)
    except (LookupError, SessionReadError) as error:
        print(f"aro-tui open: error: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    plugins_path: Path | None = args.plugins_dir
    if plugins_path is None and header.plugins_dir is not None and header.plugins_dir.is_dir():
        plugins_path = header.plugins_dir
    search_path = resolve_search_path(plugins_path)
    try:
        discovery = discover(search_path, configured_interpreter=args.python)
    except DiscoveryError as error:
        print(f"aro-tui open: {error}", file=sys.stderr)
        return EXIT_USAGE

    from aro_tui.ui.app import AroApp
    from aro_tui.ui.config import AppConfig

    config = AppConfig(
        plugins_path=search_path,
        interpreter=args.python,
        user_files=True,
        open_session=path,
        autostart=False,
    )
    app = AroApp(config, discovery)
    app.run()
    return app.return_code or 0


def print_session_summary(session: Session) -> None:
    """Header, one line per exchange, counts of everything else, and any damage."""
    from rich.table import Table

    from aro_tui.core.session.store import being_recorded

    console = stdout_console()
    header = session.header
    console.print(_text(f"Session {session.session_id} ({session.path})"), soft_wrap=True)
    ended = "cut off (aro-tui stopped while recording)"
    if being_recorded(session.path):
        ended = "not yet (a running aro-tui is recording it)"
    if session.ended_at is not None:
        ended = _started(session.ended_at)
    lines = [
        f"  started   {_started(header.started_at)}   ended {ended}",
        f"  recorded  by aro-tui {header.aro_tui_version} ({header.format})",
        f"  plugins   {', '.join(session.plugins) or '-'}   from {header.plugins_dir or '-'}",
        f"  recorded  {len(session.exchanges)} exchanges ({session.error_count} not ok), "
        f"{len(session.stderr_lines)} stderr lines, {len(session.samples)} telemetry samples, "
        f"{len(session.cache_events)} cache events, {len(session.plugin_events)} plugin events",
    ]
    for line in lines:
        console.print(_text(line), soft_wrap=True)
    if session.exchanges:
        table = Table()
        for column in ("#", "Plugin", "Action", "Status", "Time ms", "Request", "Response"):
            left = column in {"Plugin", "Action", "Status"}
            table.add_column(column, justify="left" if left else "right", overflow="fold")
        for exchange in session.exchanges:
            duration = exchange.duration_ms
            response = exchange.response
            response_size = "-" if response is None else format_size(response.size_bytes)
            table.add_row(
                str(exchange.number),
                _text(exchange.plugin),
                _text(exchange.action),
                str(exchange.status),
                "-" if duration is None else f"{duration:.1f}",
                format_size(exchange.request.size_bytes),
                response_size,
            )
        console.print(table)
    for warning in _damage(session):
        console.print(_text(f"warning: {warning}"), style="yellow", soft_wrap=True)


def _damage(session: Session) -> list[str]:
    """What the recording lost: damaged lines, exchanges missing from the numbering, and
    spilled bodies whose side files are gone or cut (which the rows above cannot show)."""
    from aro_tui.core.session.reader import format_ranges, spilled_body_problems

    damage = list(session.warnings)
    if session.lost_exchanges:
        numbers = format_ranges(session.missing_exchange_numbers, "#")
        lost = session.lost_exchanges
        damage.append(f"{lost} exchange(s) missing from the recording: {numbers}")
    return damage + spilled_body_problems(session)
