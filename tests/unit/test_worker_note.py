"""The ``worker-still-running`` runtime note: an action that returns while a non-daemon thread
or a multiprocessing child it started still runs would, under the ARO runtime (one
``python3 -c`` process per call), last until they end, and their prints would join the answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from plugin_launch import TEST_PLUGINS, launch_test_plugin

from aro_tui.cli import main
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginProcess
from aro_tui.core.runtime_notes import RuntimeContext, runtime_notes

LEAVES_WORKERS = TEST_PLUGINS / "leaves-workers"
CODE = "worker-still-running"


@pytest.fixture
async def plugin() -> AsyncIterator[PluginProcess]:
    process = PluginProcess(launch_test_plugin("leaves-workers"))
    await process.start()
    yield process
    await process.call("release", "{}")  # its threads end, so the stop need not kill it
    await process.stop()


def _worker_notes(exchange: Exchange) -> list[str]:
    return [note.text for note in exchange.runtime_notes if note.code == CODE]


async def test_a_thread_left_running_is_named_in_a_note(plugin: PluginProcess) -> None:
    exchange = await plugin.call("thread", "{}")
    assert exchange.status is ExchangeStatus.OK
    name = exchange.response_json()["started"]
    assert _worker_notes(exchange) == [
        f"ARO runtime: this call would not end until the thread '{name}' it started ends (the "
        "runtime's process waits for it at exit), and what it prints to stdout would become "
        "part of the answer"
    ]
    # Still running, but not this call's: said once, by the call that started it.
    assert _worker_notes(await plugin.call("echo", "{}")) == []


async def test_a_thread_name_cannot_drive_the_terminal(plugin: PluginProcess) -> None:
    exchange = await plugin.call("thread", '{"name": "two\\nlines \\u001b[31mred"}')
    [text] = _worker_notes(exchange)
    assert "the thread 'two␊lines ␛[31mred' it started ends" in text


@pytest.mark.parametrize("method", ["fork", "spawn"])
async def test_a_child_process_left_running_is_named_in_a_note(
    plugin: PluginProcess, method: str
) -> None:
    exchange = await plugin.call("process", f'{{"method": "{method}", "seconds": 0.5}}')
    started = exchange.response_json()
    [text] = _worker_notes(exchange)
    assert text.startswith(
        f"ARO runtime: this call would not end until the child process '{started['started']}' "
        f"(pid {started['pid']}) it started ends"
    )


async def test_a_thread_pool_still_working_is_named_in_a_note(plugin: PluginProcess) -> None:
    """A pool kept by the module holds up no call while idle, but it does while it works."""
    assert _worker_notes(await plugin.call("executor", "{}")) == []
    exchange = await plugin.call("executor-busy", "{}")
    [text] = _worker_notes(exchange)
    assert "the thread 'ThreadPoolExecutor-" in text


@pytest.mark.parametrize(
    "action", ["echo", "daemon-thread", "joined-thread", "daemon-process", "pool", "executor"]
)
async def test_no_note_when_nothing_the_runtime_waits_for_is_left(
    plugin: PluginProcess, action: str
) -> None:
    """Daemon threads and children are not waited for at exit, joined ones have ended, an
    idle thread pool's workers are stopped at exit without waiting, and the thread the import
    started (still running) is not a call's."""
    exchange = await plugin.call(action, "{}")
    assert exchange.status is ExchangeStatus.OK
    assert exchange.left_running == ()
    assert _worker_notes(exchange) == []


async def test_pipelined_calls_each_get_their_own_workers(plugin: PluginProcess) -> None:
    """The harness says so on stderr before the call's frame: read in one chunk with the end
    markers of the calls around it, each still lands on its own call."""
    calls = [
        plugin.submit("echo", b"{}"),
        plugin.submit("thread", b'{"name": "second"}'),
        plugin.submit("echo", b"{}"),
        plugin.submit("thread", b'{"name": "fourth"}'),
        plugin.submit("echo", b"{}"),
    ]
    exchanges = await asyncio.gather(*calls)
    assert [exchange.left_running for exchange in exchanges] == [
        (),
        ("thread 'second'",),
        (),
        ("thread 'fourth'",),
        (),
    ]


def test_call_prints_the_note(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", str(LEAVES_WORKERS), "thread", '{"seconds": 0.2}']) == 0
    out, err = capfd.readouterr()
    name = out.split('"started": "')[1].split('"')[0]
    assert (
        f"aro-tui call: note: ARO runtime: this call would not end until the thread '{name}' "
        "it started ends"
    ) in err


def test_several_workers_are_listed_in_one_note() -> None:
    exchange = Exchange(1, "p", "work", b"{}", status=ExchangeStatus.PLUGIN_ERROR)
    exchange.response_bytes = b'{"error": "failed after starting them"}'
    exchange.left_running = ("thread 'a'", "child process 'b' (pid 7)", "2 more")
    [note] = runtime_notes(exchange, RuntimeContext())
    assert note.code == CODE
    assert note.text == (
        "ARO runtime: this call would not end until the thread 'a', child process 'b' (pid 7) "
        "and 2 more it started end (the runtime's process waits for them at exit), and what "
        "they print to stdout would become part of the answer"
    )
