"""``aro-tui batch PLUGIN ACTION INPUTS.jsonl``: many inputs, pipelined, results in order."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import orjson

from aro_tui.commands.call import (
    EXIT_OK,
    EXIT_PLUGIN_ERROR,
    EXIT_USAGE,
    UsageError,
    add_plugin_arguments,
    check_action,
    resolve_launch,
    run_with_host,
)
from aro_tui.core.host.exchange import Exchange, ExchangeStatus

if TYPE_CHECKING:
    from aro_tui.core.host.process import PluginHost, PluginProcess


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` subcommand."""
    summary = "call one action for every line of a JSONL file, pipelined"
    parser = subparsers.add_parser("batch", help=summary, description=summary)
    add_plugin_arguments(parser)
    parser.add_argument("inputs", type=Path, metavar="INPUTS.jsonl", help="one JSON input a line")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="OUT.jsonl", help="results file (default: stdout)"
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


@dataclass(slots=True)
class BatchSummary:
    """Totals for a batch run.

    ``latencies_ms``: each call's latency, from sending the request to its answer (with more
    than one call in flight this includes the wait behind earlier calls, which the plugin runs
    in order). ``action_ms``: how long the action itself ran, measured in the plugin.
    """

    count: int = 0
    ok: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    action_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
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
            "calls_per_s": None if rate is None else round(rate, 1),
            "wall_s": round(self.wall_s, 3),
            "runtime_notes": dict(self.runtime_notes),
        }

    def text(self) -> str:
        """The one-line summary printed at the end."""
        totals = self.as_dict()
        parts = [f"{self.count} calls, {self.errors} errors"]
        if self.latencies_ms:
            parts.append(
                f"latency p50 {_ms(totals['latency_p50_ms'])}, p95 {_ms(totals['latency_p95_ms'])}"
            )
        if self.action_ms:
            parts.append(f"action p50 {_ms(totals['action_p50_ms'])}")
        if totals["calls_per_s"] is not None:
            parts.append(f"{totals['calls_per_s']:,.0f} calls/s")
        text = "; ".join(parts)
        if self.runtime_notes:
            counts = ", ".join(f"{code} ×{n:,}" for code, n in self.runtime_notes.most_common())
            text += f"\nARO runtime notes: {counts}; the first: {self.first_runtime_note}"
        return text


def _quantile(values: list[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (nearest rank), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _ms(value: object) -> str:
    return f"{value:.3g} ms" if isinstance(value, float) else "-"


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


def _read_inputs(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, stripped line) for every non-blank line."""
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if line:
                yield line_number, line


async def run_inputs(
    plugin: PluginProcess,
    action: str,
    inputs: Iterator[tuple[int, bytes]],
    out: IO[bytes],
    *,
    concurrency: int,
    on_result: Callable[[], None] | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Stream ``inputs`` through ``plugin`` with up to ``concurrency`` in flight; write results.

    ``summary`` (a new one if not given) holds the totals so far, also when the run is
    cancelled part way."""
    from aro_tui.core.host.process import PluginStartError

    if summary is None:
        summary = BatchSummary()
    window: deque[tuple[int, int, asyncio.Future[Exchange] | bytes]] = deque()
    start_error: PluginStartError | None = None
    started_s = time.perf_counter()

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
        if on_result is not None:
            on_result()

    async def drain(limit: int) -> None:
        while len(window) > limit or (window and _ready(window[0][2])):
            index, line_number, item = window.popleft()
            if not isinstance(item, bytes):
                await asyncio.wait([item])
            emit(index, line_number, item)

    for index, (line_number, line) in enumerate(inputs):
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError as error:
            message = f"line {line_number} is not valid JSON: {error}"
            window.append(
                (index, line_number, error_line(index, line_number, "invalid_input", message))
            )
            await drain(concurrency - 1)
            continue
        if start_error is None and not plugin.running:
            await drain(0)  # let every in-flight call end before restarting
            try:
                await plugin.start()
            except PluginStartError as error:
                start_error = error
        if start_error is not None:
            failure = error_line(
                index, line_number, "crashed", f"plugin did not start: {start_error}"
            )
            window.append((index, line_number, failure))
        else:
            window.append((index, line_number, plugin.submit(action, line)))
        await drain(concurrency - 1)
    await drain(0)
    summary.wall_s = time.perf_counter() - started_s
    return summary


def _ready(item: asyncio.Future[Exchange] | bytes) -> bool:
    return isinstance(item, bytes) or item.done()


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _open_output(path: Path | None) -> IO[bytes]:
    """``path`` opened for the results (stdout without one); ``UsageError`` naming the path
    when it cannot be written, before any plugin starts."""
    if path is None:
        return sys.stdout.buffer
    try:
        return path.open("wb")
    except OSError as error:
        raise UsageError(f"cannot write the results to {path}: {error.strerror}") from None


def run_batch(args: argparse.Namespace) -> int:
    """Run ``aro-tui batch``; 0 when every input succeeded, 1 otherwise, 2 on usage errors."""
    try:
        check_action(args.action)
        launch = resolve_launch(args)
        if args.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if not args.inputs.is_file():
            raise UsageError(f"{args.inputs} is not a file")
        total = _count_lines(args.inputs)
        out = _open_output(args.output)
    except UsageError as error:
        print(f"aro-tui batch: error: {error}", file=sys.stderr)
        return EXIT_USAGE

    async def main(host: PluginHost) -> int:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        plugin = host.add(launch)
        console = Console(stderr=True)
        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=args.no_progress,
            transient=True,
        )
        task_id = progress.add_task(f"{launch.name} {args.action}", total=total)
        summary = BatchSummary()
        started_s = time.perf_counter()
        try:
            with progress:
                await run_inputs(
                    plugin,
                    args.action,
                    _read_inputs(args.inputs),
                    out,
                    concurrency=args.concurrency,
                    on_result=lambda: progress.advance(task_id),
                    summary=summary,
                )
        except asyncio.CancelledError:  # SIGTERM, SIGHUP or ctrl+c: say how far it got
            summary.wall_s = time.perf_counter() - started_s
            where = args.output if args.output else "stdout"
            console.print(
                f"aro-tui batch: stopped after {summary.count:,} of {total:,} inputs; "
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
