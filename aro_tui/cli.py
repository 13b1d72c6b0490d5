"""The ``aro-tui`` entry point: the dashboard by default, headless subcommands by name."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import signal
import sys
from collections.abc import Iterable, Sequence

from aro_tui.commands import ClosedStdout, OutputError, OutputFile, quiet_stderr
from aro_tui.core.sanitize import sanitize_line

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

EXIT_CANNOT_WRITE = 74
"""The command's output could not be written, so it is incomplete (sysexits.h's EX_IOERR)."""


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


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The subparser of ``command`` in ``parser`` (from :func:`build_parser`)."""
    for action in parser._actions:  # argparse keeps its subparsers nowhere public
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    raise LookupError(command)


def _reader_went_away() -> int:
    """What reads our stdout closed it (``aro-tui batch ... | head``): end quietly with the
    status a tool killed by SIGPIPE has, instead of a traceback (and, as Python flushes
    stdout at exit, a second one). The command's plugins were stopped on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 128 + signal.SIGPIPE


def _cannot_write_output(command: str, error: OutputError) -> int:
    """Say in one line that the output could not be written; the plugins were stopped on the
    way out."""
    where = f" to {sanitize_line(error.filename)}" if error.filename else ""
    print(
        f"aro-tui {command}: error: cannot write output{where}: {error.strerror}",
        file=sys.stderr,
    )
    return EXIT_CANNOT_WRITE


def _fill_closed_standard_fds() -> None:
    """Put /dev/null on each of fds 0, 1 and 2 the process was started without (``>&-``),
    so that no pipe opened later for a plugin lands there: libuv (uvloop) aborts on that.
    ``sys.stdin``/``sys.stdout`` stay None, so the commands still see them closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)


def _checked_stdout() -> tuple[io.TextIOWrapper, OutputFile | ClosedStdout] | None:
    """A stdout over the same file descriptor whose write errors are
    :class:`~aro_tui.commands.OutputError`, and its raw file; None when ``sys.stdout`` is not
    the process's own (a test capturing it)."""
    stdout = sys.stdout
    if stdout is None:  # started with stdout closed
        raw: OutputFile | ClosedStdout = ClosedStdout()
        encoding, errors, line_buffering = "utf-8", "strict", False
    elif stdout is sys.__stdout__ and isinstance(stdout, io.TextIOWrapper):
        stdout.flush()
        raw = OutputFile(stdout.fileno(), "w", closefd=False)
        encoding, errors = stdout.encoding, stdout.errors or "strict"
        line_buffering = stdout.line_buffering
    else:
        return None
    text = io.TextIOWrapper(
        io.BufferedWriter(raw), encoding=encoding, errors=errors, line_buffering=line_buffering
    )
    return text, raw


def run_command(command: str, args: argparse.Namespace) -> int:
    """Run a headless command: its status, or 141 when the reader of its output went away,
    or :data:`EXIT_CANNOT_WRITE` when its output could not be written."""
    _fill_closed_standard_fds()
    original_stdout, original_stderr = sys.stdout, sys.stderr
    checked = _checked_stdout()
    if checked is not None:
        sys.stdout = checked[0]
    if original_stderr is sys.__stderr__ and isinstance(original_stderr, io.TextIOWrapper):
        original_stderr.flush()
        sys.stderr = quiet_stderr(original_stderr.encoding, original_stderr.errors or "strict")
    try:
        status: int = args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _reader_went_away()
    except OutputError as error:
        return _cannot_write_output(command, error)
    except KeyboardInterrupt:  # ctrl+c where a command has no handler of its own: no traceback
        return 128 + signal.SIGINT
    finally:
        sys.stdout = original_stdout
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        sys.stderr = original_stderr
    if checked is not None and checked[1].error is not None:  # raised, and caught on the way
        return _cannot_write_output(command, checked[1].error)
    return status


def _discard_stderr_if_closed() -> None:
    """Started with stderr closed (``2>&-``), Python leaves ``sys.stderr`` None, and
    ``print(..., file=sys.stderr)`` then writes to stdout: notes, usage errors and warnings
    landed after a command's output. Send them to /dev/null instead, so stdout holds only it."""
    if sys.stderr is None:
        sys.stderr = io.TextIOWrapper(io.FileIO(os.devnull, "w"), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``aro-tui`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    _discard_stderr_if_closed()
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in COMMAND_MODULES:
        parser = build_parser([arguments[0]])
        args, unknown = parser.parse_known_args(arguments)
        if unknown:  # argparse's own message came from the top parser, with its usage
            _command_parser(parser, arguments[0]).error(
                f"unrecognized arguments: {' '.join(unknown)}"
            )
        return run_command(arguments[0], args)
    if arguments and arguments[0] in {"-h", "--help"}:
        build_parser().parse_args(arguments)  # prints every command's summary and exits
    from aro_tui.commands.dashboard import run_dashboard

    return run_dashboard(arguments)
