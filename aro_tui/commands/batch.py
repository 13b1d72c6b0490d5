"""``aro-tui batch PLUGIN ACTION INPUTS.jsonl``: many inputs, pipelined, results in order."""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import stat
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO

import orjson

from aro_tui.commands import UTF8_BOM, OutputFile, json_input_problem, path_argument, stdout_closed
from aro_tui.commands.call import (
    EXIT_OK,
    EXIT_PLUGIN_ERROR,
    EXIT_USAGE,
    UsageError,
    actions_text,
    add_plugin_arguments,
    check_action,
    did_you_mean,
    missing_action,
    print_usage_error,
    resolve_launch,
    run_with_host,
)
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.json_values import check_json
from aro_tui.core.sanitize import sanitize_line
from aro_tui.core.user_files import os_reason

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from aro_tui.core.host.plugin_host import PluginHost
    from aro_tui.core.host.process import PluginProcess


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` subcommand."""
    summary = "call one action for every line of a JSONL file, pipelined"
    parser = subparsers.add_parser("batch", help=summary, description=summary)
    add_plugin_arguments(parser)
    parser.add_argument(
        "inputs",
        metavar="INPUTS.jsonl",
        help="one JSON input a line, or - to read them from stdin (the progress bar then has "
        "no total)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=output_argument,
        metavar="OUT.jsonl",
        help="results file, or - for stdout (the default; a file named - is ./-)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=16,
        metavar="N",
        help="requests in flight at once (the plugin runs them in order; default: 16)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_batch)


def output_argument(text: str) -> Path | None:
    """argparse type for ``-o``: a path, or None (stdout) for ``-``, as ``-`` means stdin for
    the inputs; ``-o -`` wrote a file named ``-``."""
    if text == "-":
        return None
    return path_argument(text)


@dataclass(slots=True)
class BatchSummary:
    """Totals for a batch run.

    ``latencies_ms``: each call's latency, from sending the request to its answer (with more
    than one call in flight this includes the wait behind earlier calls, which the plugin runs
    in order). ``action_ms``: how long the action itself ran, measured in the plugin.
    ``wall_s`` runs from the first request sent to the last result, so calls per second do not
    include the plugin's start (``start_ms``, its first start: spawn to ready).
    """

    count: int = 0
    ok: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    action_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    start_ms: float | None = None
    first_sent_s: float | None = None
    """``time.perf_counter()`` when the first request was sent."""
    runtime_notes: Counter[str] = field(default_factory=Counter)
    """How many calls got each runtime note code (``Exchange.runtime_notes``)."""
    first_runtime_note: str | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready totals."""
        rate = self.count / self.wall_s if self.wall_s > 0 else None
        return {
            "count": self.count,
            "ok": self.ok,
            "errors": self.errors,
            "latency_p50_ms": _quantile(self.latencies_ms, 0.5),
            "latency_p95_ms": _quantile(self.latencies_ms, 0.95),
            "action_p50_ms": _quantile(self.action_ms, 0.5),
            "calls_per_s": None if rate is None else _rounded_rate(rate),
            "wall_s": round(self.wall_s, 3),
            "start_ms": None if self.start_ms is None else round(self.start_ms, 1),
            "runtime_notes": dict(self.runtime_notes),
        }

    def stop_clock(self) -> None:
        """Set ``wall_s``: from the first request sent until now."""
        if self.first_sent_s is not None:
            self.wall_s = time.perf_counter() - self.first_sent_s

    def text(self) -> str:
        """The one-line summary printed at the end."""
        totals = self.as_dict()
        calls = f"{self.count} call{'' if self.count == 1 else 's'}"
        parts = [f"{calls}, {self.errors} error{'' if self.errors == 1 else 's'}"]
        if self.latencies_ms:
            parts.append(
                f"latency p50 {_ms(totals['latency_p50_ms'])}, p95 {_ms(totals['latency_p95_ms'])}"
            )
        if self.action_ms:
            parts.append(f"action p50 {_ms(totals['action_p50_ms'])}")
        if self.wall_s > 0:
            parts.append(f"{_rate(self.count / self.wall_s)} calls/s")
        if self.start_ms is not None:
            parts.append(f"plugin start {_ms(totals['start_ms'])}")
        text = "; ".join(parts)
        if self.runtime_notes:
            counts = ", ".join(f"{code} ×{n:,}" for code, n in self.runtime_notes.most_common())
            first = sanitize_line(str(self.first_runtime_note))
            text += f"\nARO runtime notes: {counts}; the first: {first}"
        return text


def _rate_decimals(calls_per_s: float) -> int:
    """Decimals for three significant digits below 100 calls a second (none from 100 up, at
    most 6: a call a day)."""
    if calls_per_s >= 100 or calls_per_s <= 0:
        return 0
    return min(6, 2 - math.floor(math.log10(calls_per_s)))


def _rounded_rate(calls_per_s: float) -> float:
    """To 0.1 from 100 calls a second up, else to three significant digits (0.222)."""
    if calls_per_s >= 100:
        return round(calls_per_s, 1)
    return round(calls_per_s, _rate_decimals(calls_per_s))


def _rate(calls_per_s: float) -> str:
    """``1,234``, ``12.3``, ``2.00``, ``0.222``: three significant digits below 100, trailing
    zeros kept and no exponent (a slow model's batch read "0 calls/s", then "2" and "9.26e-05")."""
    return f"{calls_per_s:,.{_rate_decimals(calls_per_s)}f}"


def _quantile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank), or None without values.

    Nearest rank is the ``ceil(fraction * n)``-th smallest: ``int(fraction * n)`` as an
    index took the next one, so p95 of 20 calls was the slowest and p50 of two the larger."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _ms(value: object) -> str:
    """Three significant digits, without an exponent: 0.0206, 195, 3,350 (not 3.35e+03)."""
    if not isinstance(value, float):
        return "-"
    return f"{value:,.0f} ms" if value >= 1000 else f"{value:.3g} ms"


def result_line(index: int, line_number: int, exchange: Exchange) -> bytes:
    """One output line: index, line, status, duration_ms, and response or error."""
    duration_s = exchange.action_duration_s
    if duration_s is None:
        duration_s = exchange.duration_s
    head = {
        "index": index,
        "line": line_number,
        "status": str(exchange.status),
        "duration_ms": None if duration_s is None else round(duration_s * 1000, 6),
    }
    response = exchange.response_bytes
    if exchange.status is not ExchangeStatus.OK:
        head["error"] = exchange.error
    if exchange.runtime_notes:
        head["runtime_notes"] = [note.code for note in exchange.runtime_notes]
    if exchange.status in (ExchangeStatus.OK, ExchangeStatus.PLUGIN_ERROR) and response:
        if b"\n" in response or b"\r" in response:
            # Keep it one line. In JSON text the host validated, a line break can only be
            # whitespace between tokens (inside a string it is escaped), so a space replaces
            # it; parsing and writing it again would have turned integers past 64 bits into
            # floats (orjson) and failed past 255 levels of nesting.
            response = response.replace(b"\r", b" ").replace(b"\n", b" ")
        return orjson.dumps(head)[:-1] + b',"response":' + response + b"}\n"
    return orjson.dumps(head) + b"\n"


def error_line(index: int, line_number: int, status: str, message: str) -> bytes:
    """The output line for an input that never reached the plugin."""
    record = {
        "index": index,
        "line": line_number,
        "status": status,
        "duration_ms": None,
        "error": message,
    }
    return orjson.dumps(record) + b"\n"


FLUSH_INTERVAL_S = 0.5
"""The longest a finished result waits in the output's buffer. A file, or stdout redirected to
one, is block-buffered: a slow batch's results appeared only at its end, and one killed with
SIGKILL left none. By time rather than by line, so a fast batch pays no write per result."""


class TimedFlush:
    """Flushes a batch's output once a result has waited :data:`FLUSH_INTERVAL_S` in its buffer.

    The flush itself happens in the batch's task (at the next result written, or in
    :meth:`wait_first` when no result comes), never in a timer callback, so a write error ends
    the batch as any other does. One timer per interval rather than a timeout on every wait:
    a fast batch waits once per call, and those timeouts cost it 2-3 % of its CPU time."""

    def __init__(self, out: IO[bytes]) -> None:
        """Flush ``out``."""
        self.out = out
        self._due: asyncio.Future[None] | None = None
        """Done once the oldest result not yet flushed has waited long enough; None when
        nothing waits."""
        self._timer: asyncio.TimerHandle | None = None

    def wrote(self) -> None:
        """A result went into the buffer: flush when one there is due, else start the clock."""
        if self._due is None:
            loop = asyncio.get_running_loop()
            due: asyncio.Future[None] = loop.create_future()
            self._due = due
            self._timer = loop.call_later(FLUSH_INTERVAL_S, _set_done, due)
        elif self._due.done():
            self.flush()

    def flush(self) -> None:
        """Pass what is buffered on to the file (or the reader of stdout) now."""
        self.out.flush()
        self.stop()

    def stop(self) -> None:
        """Forget the clock (what is buffered stays so)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._due = None

    async def wait_first(self, futures: list[asyncio.Future[Any]]) -> None:
        """Wait until one of ``futures`` is done, flushing when the buffered results come due
        meanwhile."""
        while True:
            due = self._due
            if due is not None and due.done():
                self.flush()
                due = None
            await _first_done(futures if due is None else [*futures, due])
            if due is None or not due.done() or any(future.done() for future in futures):
                return


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _first_done(futures: list[asyncio.Future[Any]]) -> None:
    """Wait until one of ``futures`` is done; cancelling the wait cancels none of them.

    ``asyncio.wait(futures, return_when=FIRST_COMPLETED)`` does the same, but builds sets, a
    counter and its results on every call, and a batch waits once per call: this costs a
    third less (uvloop, 3.1 µs against 4.6)."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(_: asyncio.Future[Any]) -> None:
        if not waiter.done():
            waiter.set_result(None)

    for future in futures:
        future.add_done_callback(wake)
    try:
        await waiter
    finally:
        for future in futures:
            future.remove_done_callback(wake)


_CHUNK_BYTES = 1 << 16
_STDIN_CHUNKS_AHEAD = 16
"""How many chunks of stdin may wait for the calls: what reading ahead can hold in memory."""

InputLines = AsyncIterator[list[tuple[int, bytes, bytes]]]
"""Batches of (line number, stripped line, what was stripped from its start), one for each
non-blank line of the inputs. The start (blanks, a BOM; mostly nothing) places a JSON error at
the file's column."""


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            yield chunk


async def _stream_chunks(fd: int) -> AsyncIterator[bytes]:
    """What arrives on ``fd`` (stdin), as it arrives.

    A daemon thread reads it, so that while the next input is awaited the loop goes on
    writing results and handling signals, and a read still waiting never holds up the exit."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes | OSError] = asyncio.Queue()
    room = threading.Semaphore(_STDIN_CHUNKS_AHEAD)

    def read_ahead() -> None:
        while True:
            room.acquire()
            try:
                chunk: bytes | OSError = os.read(fd, _CHUNK_BYTES)
            except OSError as error:
                chunk = error
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            except RuntimeError:  # the loop is closed: the batch is over
                return
            if isinstance(chunk, OSError) or not chunk:
                return

    threading.Thread(target=read_ahead, name="aro-tui batch stdin", daemon=True).start()
    while True:
        chunk = await chunks.get()
        room.release()
        if isinstance(chunk, OSError):
            raise chunk
        if not chunk:
            return
        yield chunk


def _stripped_line(raw: bytes) -> bytes:
    """``raw`` without the whitespace around it and a UTF-8 BOM at its start (a file saved on
    Windows starts with one; files joined with cat keep theirs mid-file). A line that held only
    a BOM is then blank, and skipped as blank lines are."""
    return raw.strip().removeprefix(UTF8_BOM).strip()


async def input_lines(chunks: AsyncIterator[bytes]) -> InputLines:
    """The non-blank lines of ``chunks``, a batch for each chunk that ends a line."""
    line_number = 0
    unfinished: list[bytes] = []  # the line the chunks so far end in (joined once: it may be long)
    async for chunk in chunks:
        *whole, rest = chunk.split(b"\n")
        if whole:
            whole[0] = b"".join([*unfinished, whole[0]])
            unfinished.clear()
        unfinished.append(rest)
        batch = []
        for raw in whole:
            line_number += 1
            line = _stripped_line(raw)
            if line:
                batch.append((line_number, line, _start_of(raw, line)))
        if batch:
            yield batch
    raw = b"".join(unfinished)
    last = _stripped_line(raw)
    if last:
        yield [(line_number + 1, last, _start_of(raw, last))]


def _start_of(raw: bytes, line: bytes) -> bytes:
    """What comes before ``line`` in ``raw``, the line it was stripped from."""
    return b"" if raw.startswith(line) else raw[: raw.find(line)]


def input_problem(line_number: int, line: bytes, start: bytes) -> str | None:
    """Why input ``line`` cannot be sent (None when it is JSON text), placed by the file's
    line and column: orjson's message gave its own "line 1 column 6" besides the file's."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as error:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return f"line {line_number} {json_input_problem(line)}"
        if check_json(text) is None:
            return None  # JSON orjson will not read: 1e999, a lone surrogate escape
        column = len(start.decode("utf-8", "replace")) + error.colno
        return f"line {line_number}, column {column}: not valid JSON: {error.msg}"
    return None


async def run_inputs(
    plugin: PluginProcess,
    action: str,
    inputs: InputLines,
    out: IO[bytes],
    *,
    concurrency: int,
    on_result: Callable[[], None] | None = None,
    summary: BatchSummary | None = None,
    check_started: Callable[[PluginProcess], None] | None = None,
) -> BatchSummary:
    """Stream ``inputs`` through ``plugin`` with up to ``concurrency`` in flight; write results.

    ``summary`` (a new one if not given) holds the totals so far, also when the run is
    cancelled part way. ``check_started`` runs once, when the plugin first started, before
    any input is sent: what it raises ends the run."""
    from aro_tui.core.host.process import PluginStartError

    if summary is None:
        summary = BatchSummary()
    window: deque[tuple[int, int, asyncio.Future[Exchange] | bytes]] = deque()
    start_error: PluginStartError | None = None
    flusher = TimedFlush(out)

    def emit(index: int, line_number: int, item: asyncio.Future[Exchange] | bytes) -> None:
        summary.count += 1
        if isinstance(item, bytes):
            summary.errors += 1
            out.write(item)
        else:
            exchange = item.result()
            if exchange.status is ExchangeStatus.OK:
                summary.ok += 1
            else:
                summary.errors += 1
            if exchange.latency_s is not None:
                summary.latencies_ms.append(exchange.latency_s * 1000)
            if exchange.action_duration_s is not None:
                summary.action_ms.append(exchange.action_duration_s * 1000)
            for note in exchange.runtime_notes:
                summary.runtime_notes[note.code] += 1
                if summary.first_runtime_note is None:
                    summary.first_runtime_note = note.text
            out.write(result_line(index, line_number, exchange))
        flusher.wrote()
        if on_result is not None:
            on_result()

    sent: dict[int, bytes] = {}
    """The input of each call in the window, to send again if the plugin never ran it."""

    async def send(
        index: int, line_number: int, line: bytes, *, settle_first: bool = True
    ) -> asyncio.Future[Exchange] | bytes:
        """Submit ``line``, starting the plugin again first if it is down; the call's
        future, or the result line saying the plugin would not start."""
        nonlocal start_error
        if start_error is None and not plugin.running:
            if settle_first:
                await drain(0)  # let every in-flight call end before restarting
            flusher.flush()  # a start can take seconds (a model's imports)
            try:
                await plugin.start()
            except PluginStartError as error:
                start_error = error
            if summary.start_ms is None and plugin.cold_start_s is not None:
                summary.start_ms = plugin.cold_start_s * 1000
                if check_started is not None and start_error is None:
                    check_started(plugin)
        if start_error is not None:
            return error_line(index, line_number, "crashed", f"plugin did not start: {start_error}")
        sent[index] = line
        if summary.first_sent_s is None:
            summary.first_sent_s = time.perf_counter()
        return plugin.submit(action, line)

    async def drain(limit: int) -> None:
        while len(window) > limit or (window and _ready(window[0][2])):
            index, line_number, item = window.popleft()
            if not isinstance(item, bytes):
                await flusher.wait_first([item])
                line = sent.pop(index)
                if item.result().never_ran:
                    # It waited behind a call that crashed the plugin or got it killed: send
                    # it again, alone, once the plugin is back (every call behind that one has
                    # ended with it, so there is nothing to settle).
                    retry = await send(index, line_number, line, settle_first=False)
                    window.appendleft((index, line_number, retry))
                    continue
            emit(index, line_number, item)

    async def next_lines() -> list[tuple[int, bytes, bytes]] | None:
        """The next batch of inputs; while it is awaited (stdin may pause), the results that
        come in are written, and what is written is passed on to the reader."""
        pending = asyncio.ensure_future(anext(inputs, None))
        try:
            while not pending.done():
                flusher.flush()
                if not window:
                    break
                head = window[0][2]
                assert not isinstance(head, bytes)  # drain() wrote those
                await flusher.wait_first([pending, head])
                await drain(len(window))
            return await pending
        finally:
            pending.cancel()

    first_index = 0
    try:
        while (lines := await next_lines()) is not None:
            for index, (line_number, line, start) in enumerate(lines, start=first_index):
                problem = input_problem(line_number, line, start)
                if problem is not None:
                    result = error_line(index, line_number, "invalid_input", problem)
                    window.append((index, line_number, result))
                    await drain(concurrency - 1)
                    continue
                window.append((index, line_number, await send(index, line_number, line)))
                await drain(concurrency - 1)
            first_index += len(lines)
        await drain(0)
    finally:
        flusher.stop()  # the caller flushes (or closes) the output
    summary.stop_clock()
    return summary


def check_action_exists(plugin: PluginProcess, action: str) -> None:
    """``UsageError`` when the started ``plugin`` has no function for ``action``: each input
    would get the same "Unknown action" result (a mistyped name, 10,000 of them)."""
    missing = missing_action(plugin, action)
    if missing is not None:
        names, close = missing
        raise UsageError(
            f'plugin {sanitize_line(plugin.name)} has no action "{sanitize_line(action)}" '
            f"({actions_text(names)}){did_you_mean(close)}"
        )


def _ready(item: asyncio.Future[Exchange] | bytes) -> bool:
    return isinstance(item, bytes) or item.done()


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if _stripped_line(line))


def _input_fd(inputs: str) -> int:
    """The fd to stream the inputs from: stdin's for ``-``, else the path opened (it stays
    open until the command ends)."""
    if inputs == "-":
        return sys.stdin.fileno()
    return os.open(inputs, os.O_RDONLY)


def _input_status(inputs: str) -> os.stat_result:
    """What ``inputs`` (a path, or ``-`` for stdin) is; ``UsageError`` unless it can be read
    line by line."""
    if inputs == "-":
        stdin: TextIO | None = sys.stdin  # None when the process was started without one
        if stdin is None:
            raise UsageError("- reads the inputs from stdin, which is closed")
        return os.fstat(stdin.fileno())
    where = sanitize_line(inputs)
    try:
        found = Path(inputs).stat()
    except FileNotFoundError:
        raise UsageError(f"{where} does not exist") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {where}: {os_reason(error)}") from None
    if stat.S_ISDIR(found.st_mode):
        raise UsageError(f"{where} is a folder, not a file of inputs")
    if stat.S_ISREG(found.st_mode):  # (opening a pipe to try it would wait for its writer)
        try:
            Path(inputs).open("rb").close()
        except OSError as error:
            raise UsageError(f"cannot read {where}: {os_reason(error)}") from None
    return found  # a file, or what streams like stdin: a pipe, <(...), /dev/null


def _check_output_is_not_input(
    output: Path | None, inputs: str, input_status: os.stat_result
) -> None:
    """``UsageError`` when the results would go to the input file (also through a link):
    ``-o`` would empty it before a line of it was read, ``>>`` would feed the results back in."""
    try:
        output_status = os.fstat(sys.stdout.fileno()) if output is None else output.stat()
    except (OSError, ValueError):
        return  # -o not there yet (or unreachable: _open_output says so), stdout not a file
    # Only files: the same terminal can be both stdin and stdout.
    if stat.S_ISREG(output_status.st_mode) and os.path.samestat(input_status, output_status):
        source = "stdin" if inputs == "-" else sanitize_line(inputs)
        if output is None:
            raise UsageError(
                f"stdout is the same file as {source}, the inputs: the results would be read "
                "back in as inputs"
            )
        raise UsageError(
            f"-o {sanitize_line(str(output))} is the same file as {source}, the inputs: "
            "opening it for the results would erase them"
        )


class ResultsFile(OutputFile):
    """``-o``, opened without emptying it: what it holds goes at the first result written,
    or at :meth:`empty`, once the plugin has started and the action is known to be its.

    Why: opened with ``"w"`` before the plugin started, a mistyped action (a usage error,
    exit 2, "nothing written") emptied the results of the run before. Opened to append, so
    that writes after the emptying start at 0."""

    _emptied = False

    def empty(self) -> None:
        """Drop what the file held before this run (once; not for a FIFO or a device)."""
        if not self._emptied:
            self._emptied = True
            if stat.S_ISREG(os.fstat(self.fileno()).st_mode):
                os.ftruncate(self.fileno(), 0)

    def write(self, data: ReadableBuffer, /) -> int:
        """Empty the file first, then write ``data`` (see :class:`OutputFile`)."""
        self.empty()
        return super().write(data)


def _open_output(path: Path | None) -> tuple[IO[bytes], ResultsFile | None]:
    """``path`` opened for the results (stdout without one), and its file; ``UsageError``
    naming the path when it cannot be written, ``OutputError`` when stdout is closed, before
    any plugin starts.

    A write error part way raises :class:`~aro_tui.commands.OutputError` (``aro-tui`` reports
    it)."""
    if path is None:
        if sys.__stdout__ is None:
            raise stdout_closed()
        return sys.stdout.buffer, None
    try:
        results = ResultsFile(path, "a")
    except OSError as error:
        where = sanitize_line(str(path))
        raise UsageError(f"cannot write the results to {where}: {error.strerror}") from None
    return io.BufferedWriter(results), results


def run_batch(args: argparse.Namespace) -> int:
    """Run ``aro-tui batch``; 0 when every input succeeded, 1 otherwise, 2 on usage errors."""
    from_stdin = args.inputs == "-"
    try:
        check_action(args.action)
        launch = resolve_launch(args)
        if args.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        input_status = _input_status(args.inputs)
        _check_output_is_not_input(args.output, args.inputs, input_status)
        # A pipe (``<(...)``, a FIFO) is read as it arrives, as stdin is: counting its lines
        # first would use them up.
        streamed = from_stdin or not stat.S_ISREG(input_status.st_mode)
        total = None if streamed else _count_lines(Path(args.inputs))
        out, results = _open_output(args.output)
    except UsageError as error:
        print_usage_error("batch", error)
        return EXIT_USAGE

    async def main(host: PluginHost) -> int:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        plugin = host.add(launch)
        console = Console(stderr=True)
        progress = Progress(
            TextColumn("{task.description}", style="progress.description", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            # Inputs typed at a terminal: a bar redrawn under them would garble what is typed.
            # stderr not a terminal (a log, a pipe): no bar to draw, and rich's last line of it
            # came out blank.
            disable=args.no_progress
            or not console.is_terminal
            or (from_stdin and os.isatty(sys.stdin.fileno())),
            transient=True,
        )
        description = sanitize_line(f"{launch.name} {args.action}")
        task_id = progress.add_task(description, total=total)
        summary = BatchSummary()
        chunks = (
            _stream_chunks(_input_fd(args.inputs)) if streamed else _file_chunks(Path(args.inputs))
        )
        try:
            with progress:
                await run_inputs(
                    plugin,
                    args.action,
                    input_lines(chunks),
                    out,
                    concurrency=args.concurrency,
                    on_result=lambda: progress.advance(task_id),
                    summary=summary,
                    check_started=lambda started: check_action_exists(started, args.action),
                )
            if results is not None:
                results.empty()  # no input, or none written: this run's results are none
        except UsageError as error:  # the action is not the plugin's: -o keeps what it held
            print_usage_error("batch", error)
            return EXIT_USAGE
        except asyncio.CancelledError:  # SIGTERM, SIGHUP or ctrl+c: say how far it got
            if results is not None:
                results.empty()  # what it holds is this run's, none of them perhaps
            summary.stop_clock()
            where = sanitize_line(str(args.output)) if args.output else "stdout"
            of_total = "" if total is None else f" of {total:,}"
            console.print(
                f"aro-tui batch: stopped after {summary.count:,}{of_total} "
                f"{'input' if total is None and summary.count == 1 else 'inputs'}; "
                f"their results are on {where}, in input order",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            console.print(summary.text(), highlight=False, markup=False, soft_wrap=True)
            raise
        finally:
            if args.output:
                out.close()
            else:
                out.flush()
        console.print(summary.text(), highlight=False, markup=False, soft_wrap=True)
        return EXIT_OK if summary.errors == 0 else EXIT_PLUGIN_ERROR

    return run_with_host(main)
