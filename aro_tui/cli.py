"""The ``aro-tui`` entry point: the dashboard by default, headless subcommands by name."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Iterable, Sequence

# Each module defines ``register(subparsers)``, which adds the parsers of the commands mapped
# to it here and sets ``func=<callable(args) -> int>`` on them. Why a map rather than asking
# every module: importing them all costs ~80 ms (asyncio, the host, yaml, Textual for some),
# more than a headless command's own work; a command imports only its module.
COMMAND_MODULES: dict[str, str] = {
    "list": "aro_tui.commands.inventory",
    "check": "aro_tui.commands.inventory",
    "call": "aro_tui.commands.call",
    "batch": "aro_tui.commands.batch",
    "bench": "aro_tui.commands.bench",
    "screenshots": "aro_tui.commands.screenshots",
    "bench-ui": "aro_tui.bench.ui_bench",
    "sessions": "aro_tui.commands.sessions",
    "open": "aro_tui.commands.sessions",
    "replay": "aro_tui.commands.replay",
}


def build_parser(commands: Iterable[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser for ``commands`` (by default every subcommand)."""
    parser = argparse.ArgumentParser(
        prog="aro-tui",
        description=(
            "Run and inspect ARO Python plugins. "
            "With no command (`aro-tui [PATH]`), open the dashboard."
        ),
        epilog="The dashboard's own options: `aro-tui [PATH] --help`.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in dict.fromkeys(COMMAND_MODULES[command] for command in commands):
        importlib.import_module(module_name).register(subparsers)
    return parser


def _reader_went_away() -> int:
    """What reads our stdout closed it (``aro-tui batch ... | head``): end quietly with the
    status a tool killed by SIGPIPE has, instead of a traceback (and, as Python flushes
    stdout at exit, a second one). The command's plugins were stopped on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aro-tui`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in COMMAND_MODULES:
        args = build_parser([arguments[0]]).parse_args(arguments)
        try:
            status: int = args.func(args)
        except BrokenPipeError:
            return _reader_went_away()
        return status
    if arguments and arguments[0] in {"-h", "--help"}:
        build_parser().parse_args(arguments)  # prints every command's summary and exits
    from aro_tui.commands.dashboard import run_dashboard

    return run_dashboard(arguments)
