"""``aro-tui sessions`` lists recorded sessions; ``aro-tui open SESSION`` reopens one."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aro_tui.commands import path_argument, table_console
from aro_tui.core.plugins.problem import clean_text
from aro_tui.core.sizes import format_size

if TYPE_CHECKING:
    from rich.console import JustifyMethod

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
        "--python",
        type=path_argument,
        metavar="EXE",
        help="interpreter for plugins without a .venv",
    )
    parser.set_defaults(func=run_open)


def safe_text(value: str) -> Any:
    from rich.text import Text

    return Text(clean_text(value))


def started_text(timestamp: float, *, seconds: bool = True) -> str:
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
        "stopped": info.stopped,
        "problem": info.problem,
    }


def run_sessions(args: argparse.Namespace) -> int:
    """Run ``aro-tui sessions``: 0 (an empty list included), 2 when the folder is a file."""
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
    console = table_console()
    if not infos:
        console.print(safe_text(f"No sessions in {folder}"))
        return EXIT_OK
    console.print(_sessions_table(folder, infos, console.width))
    return EXIT_OK


_LEFT_OUT_FIRST = ("Plugins", "Started", "Errors", "Calls", "Size")
"""The order columns are left out in when the terminal is too narrow; Id always stays."""
_MIN_PLUGINS_WIDTH = 8
"""Below this the Plugins column is left out rather than shown as a few letters and …."""
_COLUMN_GAP = 2
"""The blank between two columns: one of padding, one for the box's (blank) divider."""


def _session_row(info: SessionInfo) -> dict[str, str]:
    """A session's cells by column; an unreadable one says why under Plugins."""
    if info.problem is not None:
        row = dict.fromkeys(("Id", "Started", "Plugins", "Calls", "Errors", "Size"), "")
        return row | {
            "Id": info.session_id,
            "Started": "-",
            "Plugins": f"unreadable: {info.problem}",
        }
    return {
        "Id": info.session_id,
        "Started": started_text(info.started_at, seconds=False),
        "Plugins": ", ".join(info.plugins) or "-",
        "Calls": str(info.exchanges - info.internal),  # the calls made, not aro-tui's own
        "Errors": str(info.errors),
        "Size": format_size(info.size_bytes) + _size_mark(info),
    }


def _fit_columns(natural: dict[str, int], width: int) -> tuple[list[str], int]:
    """The columns that fit ``width`` and the Plugins column's width: it takes the room the
    others leave, down to ``_MIN_PLUGINS_WIDTH``; past that, columns are left out in
    ``_LEFT_OUT_FIRST``'s order until the rest fit whole."""
    columns = list(natural)
    for left_out in (None, *_LEFT_OUT_FIRST):
        if left_out is not None:
            columns.remove(left_out)
        fixed = [column for column in columns if column != "Plugins"]
        room = width - sum(natural[column] for column in fixed) - _COLUMN_GAP * (len(columns) - 1)
        if "Plugins" not in columns and room >= 0:
            return columns, 0
        if "Plugins" in columns and room >= min(natural["Plugins"], _MIN_PLUGINS_WIDTH):
            return columns, min(natural["Plugins"], room)
    return columns, 0


def _sessions_table(folder: Path, infos: list[SessionInfo], width: int) -> Any:
    """The sessions table, fitted to ``width`` by the dashboard's rule: the Plugins column
    shrinks (with …) to the room the other columns leave, and a column that does not fit
    whole is left out; an id, a figure or a size and its mark are never cut."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    rows = [_session_row(info) for info in infos]
    natural = {  # the width each column needs to show every cell whole, its title included
        column: max(cell_len(clean_text(text)) for text in [column, *(row[column] for row in rows)])
        for column in rows[0]
    }
    columns, plugins_width = _fit_columns(natural, width)
    table = Table(
        title=safe_text(f"Sessions in {folder}"),
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        pad_edge=False,
        show_edge=False,
    )
    for column in columns:
        if column == "Plugins":
            table.add_column(column, overflow="ellipsis", no_wrap=True, width=plugins_width)
        elif column == "Id":  # the one column that stays: folded in a very narrow terminal
            table.add_column(column, overflow="fold")
        else:
            justify: JustifyMethod = "left" if column == "Started" else "right"
            table.add_column(column, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(*(safe_text(row[column]) for column in columns))
    if "Size" in columns:
        marks = {_size_mark(info) for info in infos if info.problem is None}
        captions = {
            "*": "* cut off: aro-tui ended without closing it; it still opens",
            "+": "+ still being recorded by a running aro-tui",
        }
        lines = [text for mark, text in captions.items() if mark in marks]
        lines += [
            f"! {info.session_id}: recording stopped: {info.stopped}"
            for info in infos
            if info.stopped is not None and info.problem is None
        ]
        table.caption = safe_text("\n".join(lines))  # a reason may hold [brackets]
    return table


def _size_mark(info: SessionInfo) -> str:
    """``!`` stopped early (a write failed), ``+`` being recorded, ``*`` cut off, else
    nothing."""
    if info.stopped is not None:
        return "!"
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
        from aro_tui.commands.session_summary import print_summary

        return print_summary(args.session, args.sessions_dir)
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
