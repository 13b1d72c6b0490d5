"""The ``aro-tui`` entry point: the dashboard by default, headless subcommands by name."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines ``register(subparsers)``, which adds its parsers and sets
# ``func=<callable(args) -> int>`` on them. Modules import heavy things lazily.
COMMAND_MODULES: tuple[str, ...] = (
    "aro_tui.commands.inventory",
    "aro_tui.commands.call",
    "aro_tui.commands.batch",
    "aro_tui.commands.bench",
    "aro_tui.commands.screenshots",
    "aro_tui.bench.ui_bench",
    "aro_tui.commands.sessions",
    "aro_tui.commands.replay",
)


def build_parser() -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser for every subcommand, and the subcommand names."""
    parser = argparse.ArgumentParser(
        prog="aro-tui",
        description=(
            "Run and inspect ARO Python plugins. "
            "With no command (`aro-tui [PATH]`), open the dashboard."
        ),
        epilog="The dashboard's own options: `aro-tui [PATH] --help`.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser, set(subparsers.choices)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aro-tui`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser, command_names = build_parser()
    if arguments and (arguments[0] in command_names or arguments[0] in {"-h", "--help"}):
        args = parser.parse_args(arguments)
        status: int = args.func(args)
        return status
    from aro_tui.commands.dashboard import run_dashboard

    return run_dashboard(arguments)
