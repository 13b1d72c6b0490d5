"""Headless subcommands of ``aro-tui``; each module registers its own parsers."""

from __future__ import annotations

import argparse
import errno
import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from aro_tui.core.json_values import check_json

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


def seconds(text: str) -> float:
    """argparse type for a time limit: a positive, finite number of seconds (``nan`` or
    ``inf`` once reached the event loop's timer and failed there with a traceback)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


class OutputError(OSError):
    """A command's output could not be written (a full disk, a closed stdout); ``aro-tui``
    reports it in one line and exits with its own status."""


class OutputFile(io.FileIO):
    """A file (or file descriptor) a command writes its output to.

    A write error other than a closed pipe is raised as :class:`OutputError`, and kept in
    ``error`` so that it is reported even where a caller swallowed it; the writes after it
    are dropped, as what was written is incomplete anyway and Python would otherwise fail
    again flushing the rest at exit."""

    error: OutputError | None = None

    def write(self, data: ReadableBuffer, /) -> int:
        """Write ``data``; see the class."""
        if self.error is not None:
            return memoryview(data).nbytes
        try:
            return super().write(data)
        except BrokenPipeError:
            raise  # the reader went away: aro-tui ends quietly, as after SIGPIPE
        except OSError as error:
            name = None if isinstance(self.name, int) else os.fsdecode(self.name)
            self.error = OutputError(error.errno, error.strerror, name)
            raise self.error from None


def stdout_closed() -> OutputError:
    """The error for writing to a stdout the process was started without (``>&-``)."""
    return OutputError(errno.EBADF, "stdout is closed")


class ClosedStdout(io.RawIOBase):
    """``sys.stdout``'s file when the process was started without one: like
    :class:`OutputFile`, it raises :class:`OutputError` once and then drops what follows."""

    error: OutputError | None = None

    def writable(self) -> bool:
        """Yes: writing is how the command finds out."""
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        """Fail with :class:`OutputError` the first time."""
        if self.error is not None:
            return memoryview(data).nbytes
        self.error = stdout_closed()
        raise self.error


class QuietStderr(io.RawIOBase):
    """File descriptor 2 for a command's notes and the plugin stderr it echoes: a write that
    fails (a full disk, a reader gone: ``2>&1 | head``) is kept in ``error``, and it and the
    writes after it are dropped instead of raised.

    Why: the print that failed ran in the host's stderr callback, which then stopped reading
    the plugin's stderr; the plugin blocked on its full pipe and ``call --stderr`` hung for
    good, SIGTERM included. See :func:`stderr_failure`."""

    error: OSError | None = None

    def writable(self) -> bool:
        """Yes."""
        return True

    def fileno(self) -> int:
        """2: what reads ``sys.stderr.fileno()`` (a terminal's size, colour) sees fd 2."""
        return 2

    def isatty(self) -> bool:
        """Whether fd 2 is a terminal: plugin text shown there has its escapes made visible."""
        return os.isatty(2)

    def write(self, data: ReadableBuffer, /) -> int:
        """Write to fd 2, or drop ``data`` once a write has failed."""
        size = memoryview(data).nbytes
        if self.error is not None:
            return size
        try:
            return os.write(2, data)
        except OSError as error:
            self.error = error
            return size


def quiet_stderr(encoding: str, errors: str) -> io.TextIOWrapper:
    """A ``sys.stderr`` over :class:`QuietStderr`, line-buffered like Python's own."""
    return io.TextIOWrapper(
        io.BufferedWriter(QuietStderr()), encoding=encoding, errors=errors, line_buffering=True
    )


def stderr_failure() -> OSError | None:
    """Why writing to ``sys.stderr`` failed, when it is :func:`quiet_stderr`'s and did."""
    import sys

    raw = getattr(getattr(sys.stderr, "buffer", None), "raw", None)
    return raw.error if isinstance(raw, QuietStderr) else None


UTF8_BOM = b"\xef\xbb\xbf"
"""What Windows editors put before a UTF-8 file's text; JSON does not allow it there."""


def json_input_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be sent as an action's input (None when it is JSON text): bytes
    that are not UTF-8 are named with their offset, where orjson said only "str is not valid
    UTF-8: surrogates not allowed"."""
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError as error:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"is not UTF-8: byte 0x{data[bad.start]:02x} at offset {bad.start}"
        if check_json(text) is None:
            return None  # JSON orjson will not read: 1e999, a lone surrogate escape
        return f"is not valid JSON: {error}"
    return None


def path_argument(text: str) -> Path:
    """An argparse type for a path: an empty one is refused (``Path("")`` is the current
    folder, so ``check ""`` quietly checked whatever folder the shell was in)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (leave the option out for the default)")
    return Path(text)


def stdout_console() -> Any:
    """A rich Console on stdout for a command's human output. On a reader that went away
    (``| head``, ``| true``) it raises ``BrokenPipeError`` for ``run_command`` to end with
    141, as the other commands do; rich's own handling exited with 1 and no word."""
    import sys

    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _Console(file=sys.stdout, highlight=False, emoji=False)


UNFITTED_WIDTH = 1_000_000
"""The width a table is laid out in when stdout is not a terminal: no cell is wrapped or cut,
each row is one line with whole names (what grep and awk need), where rich's default of 80
columns split them."""


def table_console() -> Any:
    """A rich Console on stdout for a command's tables: fitted to a terminal's width (or to
    $COLUMNS when set), else as wide as the rows."""
    import sys

    console = stdout_console()
    if not os.environ.get("COLUMNS", "").isdigit() and not is_terminal(sys.stdout):
        console.width = UNFITTED_WIDTH
    return console


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for a pipe, a file, a closed stream)."""
    try:
        return stream is not None and bool(stream.isatty())
    except (OSError, ValueError):  # closed
        return False
