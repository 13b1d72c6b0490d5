"""UI benchmark: ingest 10,000 exchanges into the dashboard, then time key presses.

``python -m aro_tui.bench.ui_bench`` or ``aro-tui bench-ui``. Prints the ingest rate
through the real message path (ExchangeFinished → log → table → detail pane), the median
key-press latency measured with Pilot on an empty log (the baseline) and on the full log,
the longest the event loop stood still while a 50 MB answer was taken in against the same
for a 1 KB one (the baseline), and the process's resident memory before and after, with the
ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from aro_tui.core.host.exchange import Exchange
    from aro_tui.ui.app import AroApp


def register(subparsers: Any) -> None:
    """Add the ``bench-ui`` subcommand."""
    parser = subparsers.add_parser("bench-ui", help="dashboard ingest rate, key latency, memory")
    parser.add_argument("--exchanges", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--big-mb", type=int, default=50, help="size of the large answer")
    parser.set_defaults(func=run)


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


def _exchange(number: int, text_bytes: int = 1000) -> Exchange:
    from aro_tui.core.host.exchange import Exchange, ExchangeStatus

    request = b'{"text": "' + (b"lorem ipsum " * 16) + b'"}'
    exchange = Exchange(number, "plugin-python-text", "analyze", request)
    exchange.status = ExchangeStatus.OK if number % 50 else ExchangeStatus.TIMEOUT
    exchange.response_bytes = b'{"words": 32, "text": "' + b"x" * text_bytes + b'"}'
    exchange.head_monotonic_s = 0.0
    exchange.finished_monotonic_s = 0.001 * (number % 97)
    exchange.stderr_lines.extend([f"line {number}", "done"])
    exchange.stderr_line_count = 2
    return exchange


async def _key_latency_ms(pilot: Pilot[Any], presses: int) -> float:
    timings: list[float] = []
    for index in range(presses):
        key = "up" if index % 2 else "down"
        started = time.perf_counter()
        await pilot.press(key)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def _longest_stall_ms(app: AroApp, exchange: Exchange) -> float:
    """The longest gap in a 2 ms timer on the event loop while ``exchange`` is taken in and
    shown (log, table, detail pane), in ms over the timer's period."""
    from aro_tui.ui.messages import ExchangeFinished

    period_s = 0.002
    gaps: list[float] = []
    done = False

    async def probe() -> None:
        while not done:
            started = time.perf_counter()
            await asyncio.sleep(period_s)
            gaps.append(time.perf_counter() - started - period_s)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.05)
    logged = len(app.exchange_log)
    app.main_screen.post_message(ExchangeFinished("plugin-python-text", exchange))
    while len(app.exchange_log) == logged:
        await asyncio.sleep(period_s)
    await app.workers.wait_for_complete()
    await asyncio.sleep(0.2)
    done = True
    await task
    return max(gaps) * 1000


async def measure(exchanges: int, presses: int, big_mb: int = 50) -> dict[str, float]:
    """Run the benchmark in a headless app; the figures by name."""
    from aro_tui.core.plugins.discovery import default_plugins_path, discover
    from aro_tui.ui.app import AroApp
    from aro_tui.ui.config import AppConfig
    from aro_tui.ui.messages import ExchangeFinished

    plugins_path = default_plugins_path()
    config = AppConfig(plugins_path=plugins_path, autostart=False)
    app: AroApp = AroApp(config, discover(plugins_path))
    results: dict[str, float] = {}
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        table = screen.query_one("#log-table")
        table.focus()
        await pilot.pause()
        for number in range(1, 11):  # a few rows so the cursor has somewhere to move
            screen.post_message(ExchangeFinished("plugin-python-text", _exchange(number)))
        await pilot.pause()
        await app.workers.wait_for_complete()
        results["rss_before_mib"] = _rss_mib()
        results["key_latency_baseline_ms"] = await _key_latency_ms(pilot, presses)
        # Back on the newest row: the panes follow the calls that end only from there, and
        # the stalls and the ingest below are of that path (detail pane included).
        table.move_cursor(row=table.row_count - 1)  # type: ignore[attr-defined]
        await pilot.pause()
        results["stall_small_ms"] = await _longest_stall_ms(app, _exchange(11))
        big = _exchange(12, big_mb * 1_000_000)
        results["stall_big_ms"] = await _longest_stall_ms(app, big)
        del big
        table.focus()
        await pilot.pause()

        started = time.perf_counter()
        batch = 500
        for first in range(13, exchanges + 13, batch):
            for number in range(first, min(first + batch, exchanges + 13)):
                screen.post_message(ExchangeFinished("plugin-python-text", _exchange(number)))
            await pilot.pause()
        while len(app.exchange_log) < exchanges + 12:
            await pilot.pause(0.01)
        await app.workers.wait_for_complete()
        elapsed_s = time.perf_counter() - started
        results["ingest_per_s"] = exchanges / elapsed_s
        results["ingest_s"] = elapsed_s
        table.focus()
        await pilot.pause()
        results["key_latency_full_ms"] = await _key_latency_ms(pilot, presses)
        results["rss_after_mib"] = _rss_mib()
        results["table_rows"] = float(screen.query_one("#log-table").row_count)  # type: ignore[attr-defined]
        await app.registry.stop_all()
    return results


def report(results: dict[str, float], exchanges: int, big_mb: int = 50) -> str:
    """The figures as text."""
    latency_ratio = results["key_latency_full_ms"] / max(results["key_latency_baseline_ms"], 1e-9)
    stall_ratio = results["stall_big_ms"] / max(results["stall_small_ms"], 1e-9)
    rss_ratio = results["rss_after_mib"] / max(results["rss_before_mib"], 1e-9)
    return "\n".join(
        [
            f"ingest: {exchanges} exchanges in {results['ingest_s']:.2f} s "
            f"= {results['ingest_per_s']:.0f} exchanges/s "
            f"(table holds {results['table_rows']:.0f} rows)",
            f"key press latency (median): baseline {results['key_latency_baseline_ms']:.2f} ms "
            f"(12 exchanges), full {results['key_latency_full_ms']:.2f} ms ({exchanges + 12}); "
            f"ratio {latency_ratio:.2f}",
            "longest event-loop stall taking in an answer: "
            f"1 KB {results['stall_small_ms']:.1f} ms, "
            f"{big_mb} MB {results['stall_big_ms']:.1f} ms; ratio {stall_ratio:.1f}",
            f"resident memory: before {results['rss_before_mib']:.1f} MiB, "
            f"after {results['rss_after_mib']:.1f} MiB; ratio {rss_ratio:.2f}",
        ]
    )


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report."""
    results = asyncio.run(measure(args.exchanges, args.presses, args.big_mb))
    print(report(results, args.exchanges, args.big_mb))
    return 0


def main() -> int:
    """``python -m aro_tui.bench.ui_bench``."""
    parser = argparse.ArgumentParser(prog="python -m aro_tui.bench.ui_bench")
    parser.add_argument("--exchanges", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--big-mb", type=int, default=50)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
