"""A reckless plugin (``tests/plugins/reckless``) breaks the streams, str() and exceptions that
the harness relies on; every call still gets an answer and the process keeps its state.

Its folder sorts after ``faulty``: the dashboard starts the first plugin of a folder, and a
functional test runs ``faulty`` from the whole ``tests/plugins``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import orjson
import pytest
from test_host_faults import _launch

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginProcess, PluginState


@pytest.fixture
async def reckless() -> AsyncIterator[PluginProcess]:
    plugin = PluginProcess(_launch("reckless"))
    await plugin.start()
    yield plugin
    await plugin.stop()


async def _loaded(plugin: PluginProcess) -> dict[str, object]:
    """The plugin's pid, import time and call count (its "loaded model")."""
    exchange = await plugin.call("loaded", "{}")
    assert exchange.status is ExchangeStatus.OK, exchange.error
    document: dict[str, object] = orjson.loads(exchange.response_bytes or b"")
    return document


def _lines(*exchanges: Exchange) -> list[str]:
    return [line for exchange in exchanges for line in exchange.stderr_lines]


@pytest.mark.parametrize(
    ("action", "harness_says"),
    [
        ("stdout-none", "the plugin set sys.stdout to None, which cannot flush"),
        ("stderr-none", "the plugin set sys.stderr to None, which cannot flush"),
        ("stdout-closed", "the plugin closed sys.stdout"),
        ("stderr-closed", "the plugin closed sys.stderr"),
        ("fd1-closed-pending", "the plugin closed fd 1"),
        ("fd1-closed", "the plugin closed fd 1"),  # found when the next call prints
    ],
)
async def test_replacing_or_closing_the_standard_streams_keeps_the_answer_and_the_process(
    reckless: PluginProcess, action: str, harness_says: str
) -> None:
    """These used to crash the harness after the action had answered (the answer was lost,
    the plugin restarted without its loaded state)."""
    before = await _loaded(reckless)
    broken = await reckless.call(action, "{}")
    assert broken.status is ExchangeStatus.OK, broken.error
    assert broken.response_json() == {"ok": 1}
    printing = await reckless.call("print", '{"tag": "after"}')
    assert printing.status is ExchangeStatus.OK, printing.error
    assert "printed after" in printing.stderr_lines  # sys.stdout and fd 1 work again
    assert printing.printed_bytes == len("printed after\n")
    lines = _lines(broken, printing)
    assert any(line.startswith("aro-tui harness: " + harness_says) for line in lines), lines
    if action == "fd1-closed-pending":
        assert "pending" in broken.stderr_lines  # the unflushed text was delivered
    after = await _loaded(reckless)
    assert reckless.state is PluginState.READY
    assert (after["pid"], after["loaded_at"]) == (before["pid"], before["loaded_at"])
    assert after["calls"] == 2


@pytest.mark.parametrize(
    ("action", "error", "traceback_part"),
    [
        (
            "raises-bad-str",
            "Exception: <str() of BadStr failed: RuntimeError: no str>",
            "BadStr",
        ),
        (
            "answer-bad-str",
            "Exception: <str() of the answer, a StrThatFails, failed: RuntimeError: no str>",
            'raise RuntimeError("no str")',
        ),
        ("raises-generator-exit", "Exception: bye", "GeneratorExit: bye"),
        ("raises-own-base", "Exception: own base", "OwnBase: own base"),
    ],
)
async def test_exceptions_the_harness_cannot_print_are_plugin_errors(
    reckless: PluginProcess, action: str, error: str, traceback_part: str
) -> None:
    """An exception whose str() raises, a str answer whose str() raises, and a
    BaseException that is not an Exception used to end the plugin's process."""
    before = await _loaded(reckless)
    exchange = await reckless.call(action, "{}")
    assert exchange.status is ExchangeStatus.PLUGIN_ERROR
    assert exchange.error == error
    assert exchange.response_json() == {"error": error}
    assert exchange.traceback is not None and traceback_part in exchange.traceback
    after = await _loaded(reckless)
    assert (after["pid"], after["loaded_at"]) == (before["pid"], before["loaded_at"])


async def test_an_answer_whose_repr_raises_is_still_named(reckless: PluginProcess) -> None:
    """A non-string answer is described by its repr(), which may raise as well."""
    before = await _loaded(reckless)
    exchange = await reckless.call("returns-bad-repr", "{}")
    assert exchange.status is ExchangeStatus.PROTOCOL_ERROR
    assert exchange.error == (
        "action returned ReprThatFails, expected str (JSON text): "
        "<repr() of ReprThatFails failed: RuntimeError: no repr>"
    )
    after = await _loaded(reckless)
    assert after["pid"] == before["pid"]


async def test_output_a_thread_prints_between_calls_is_not_counted_on_the_next_call(
    reckless: PluginProcess,
) -> None:
    """The next call, which printed nothing, was told it had printed 2.1 KiB to stdout."""
    started = await reckless.call("background-print", '{"bytes": 2100, "seconds": 0.2}')
    assert started.status is ExchangeStatus.OK
    deadline_s = time.monotonic() + 10
    while "background done" not in reckless.recent_stderr:
        assert time.monotonic() < deadline_s, "the thread's output never arrived"
        await asyncio.sleep(0.01)
    quiet = await reckless.call("loaded", "{}")
    assert quiet.status is ExchangeStatus.OK
    assert quiet.printed_bytes == 0
    assert "printed-to-stdout" not in [note.code for note in quiet.runtime_notes]
    printing = await reckless.call("print", '{"tag": "own"}')
    assert printing.printed_bytes == len("printed own\n")  # its own output still counts


async def test_a_cancel_during_an_import_restarts_the_plugin() -> None:
    """ctrl+g while a first call imported torch left torch half-imported in a process that
    still read "ready": every later call failed ("partially initialized module 'torch'",
    "generic_type: ... already defined") until a manual restart."""
    plugin = PluginProcess(_launch("reckless"))
    await plugin.start()
    try:
        old_pid = plugin.pid
        pending = plugin.submit("import-slowly", "{}")
        while not any("slow_import: importing" in line for line in plugin.recent_stderr):
            await asyncio.sleep(0.01)  # inside the import
        assert plugin.cancel(max(plugin._pending))
        cancelled = await pending
        assert cancelled.status is ExchangeStatus.CANCELLED
        assert cancelled.error is not None and "imported slow_import" in cancelled.error
        assert plugin.state is PluginState.STOPPED
        assert plugin.kill_reason == "cancelled during an import"
        after = await plugin.call("loaded", "{}")  # starts a fresh process
        assert after.status is ExchangeStatus.OK and plugin.pid != old_pid
        # Each exchange names its own process (memory samples of the other are not its).
        assert (cancelled.pid, after.pid) == (old_pid, plugin.pid)
    finally:
        await plugin.stop()


async def test_a_cancel_outside_an_import_keeps_the_process(reckless: PluginProcess) -> None:
    """Only an interrupted import restarts: a module imported before, or an action's own
    code, leaves the process (and its loaded models) alone."""
    old_pid = reckless.pid
    pending = reckless.submit("sleep", '{"seconds": 30}')
    while not any("sleeping" in line for line in reckless.recent_stderr):
        await asyncio.sleep(0.01)
    assert reckless.cancel(max(reckless._pending))
    cancelled = await pending
    assert cancelled.status is ExchangeStatus.CANCELLED
    assert cancelled.error == "cancelled (KeyboardInterrupt in action)"
    assert reckless.pid == old_pid and reckless.state is PluginState.READY
