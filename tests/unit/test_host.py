"""The plugin host: pipelined calls, several plugins, big payloads, chatty stderr, records."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from plugin_launch import launch_test_plugin

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.plugin_host import PluginHost
from aro_tui.core.host.process import (
    PluginLaunch,
    PluginObserver,
    PluginProcess,
    PluginState,
)
from aro_tui.core.host.protocol import Frame, interpret


def _launch(name: str = "faulty", **overrides: object) -> PluginLaunch:
    return launch_test_plugin(name, **overrides)


class Recorder(PluginObserver):
    """Keeps every event."""

    def __init__(self) -> None:
        self.states: list[PluginState] = []
        self.started: list[int] = []
        self.finished: list[Exchange] = []
        self.stderr: list[tuple[str, int | None]] = []

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        self.states.append(state)

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.started.append(exchange.id)

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.finished.append(exchange)

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        self.stderr.append((line, None if exchange is None else exchange.id))


@pytest.fixture
async def faulty() -> AsyncIterator[PluginProcess]:
    plugin = PluginProcess(_launch())
    await plugin.start()
    yield plugin
    await plugin.stop()


async def test_pipelined_calls_answer_in_order_with_their_own_ids(faulty: PluginProcess) -> None:
    futures = [faulty.submit("echo", f'{{"n": {index}}}') for index in range(300)]
    assert faulty.in_flight == 300
    exchanges = await asyncio.gather(*futures)
    assert [e.response_json()["n"] for e in exchanges] == list(range(300))
    assert len({e.id for e in exchanges}) == 300
    assert faulty.state is PluginState.READY and faulty.in_flight == 0


async def test_the_history_lets_old_large_bodies_go(faulty: PluginProcess) -> None:
    """A batch of 1 MB answers held the last 1,000 of them in the history: 1.8 GB for a
    batch that had written every result out."""
    from aro_tui.core.host.history import MAX_HISTORY_BYTES

    size = 8 * 1024 * 1024
    exchanges = [await faulty.call("big", f'{{"bytes": {size}}}') for _ in range(12)]
    assert all(e.status is ExchangeStatus.OK for e in exchanges)
    kept = list(faulty.history)
    held = sum(len(e.request_bytes) + len(e.response_bytes or b"") for e in kept)
    assert held <= MAX_HISTORY_BYTES and len(kept) < 12
    assert kept == exchanges[-len(kept) :]  # the newest, in order
    small = [await faulty.call("echo", "{}") for _ in range(3)]
    assert list(faulty.history)[-3:] == small


async def test_exchange_records_sizes_timing_and_memory(faulty: PluginProcess) -> None:
    exchange = await faulty.call("size", '{"pad": "' + "p" * 1000 + '"}')
    assert exchange.status is ExchangeStatus.OK
    assert exchange.request_size_bytes == 1011
    assert exchange.response_json() == {"length": 1011}
    assert exchange.response_size_bytes == len(b'{"length": 1011}')
    assert exchange.duration_s is not None and 0 < exchange.duration_s < 5
    assert exchange.rss_before_bytes and exchange.rss_before_bytes > 1_000_000
    assert exchange.rss_after_bytes and exchange.rss_after_bytes > 1_000_000
    assert faulty.cold_start_s is not None and faulty.cold_start_s > 0
    assert faulty.history[-1] is exchange


async def test_exchange_times_have_sub_millisecond_resolution_on_every_loop(
    faulty: PluginProcess,
) -> None:
    # uvloop's loop.time() counts whole milliseconds; a 70 µs call timed with it showed up
    # to 1 ms long in `aro-tui call` and `batch`.
    exchanges = [await faulty.call("echo", "{}") for _ in range(20)]
    sent = [exchange.sent_monotonic_s for exchange in exchanges]
    assert any(abs(value * 1000 - round(value * 1000)) > 1e-6 for value in sent)
    for exchange in exchanges:
        assert exchange.finished_monotonic_s is not None
        assert exchange.sent_monotonic_s <= exchange.head_monotonic_s
        assert exchange.head_monotonic_s <= exchange.finished_monotonic_s
        assert exchange.action_duration_s is not None and exchange.latency_s is not None
        assert exchange.action_duration_s <= exchange.latency_s


async def test_a_busy_event_loop_does_not_lengthen_the_recorded_round_trip(
    faulty: PluginProcess,
) -> None:
    # The dashboard's loop also draws the screen: an answer it read 14 ms late showed as a
    # 14 ms round trip for a 0.15 ms action. The plugin stamps when it wrote the frame.
    for _ in range(2):
        submitted_s = time.monotonic()
        future = faulty.submit("echo", '{"n": 1}')
        time.sleep(0.4)  # the loop is busy elsewhere; the plugin answers meanwhile
        exchange = await future
        assert time.monotonic() - submitted_s >= 0.4
        assert exchange.response_json() == {"n": 1}
        assert exchange.latency_s is not None and exchange.latency_s < 0.2
        assert exchange.duration_s is not None and exchange.duration_s < 0.2


async def test_observer_sees_states_exchanges_and_attributed_stderr() -> None:
    recorder = Recorder()
    plugin = PluginProcess(_launch(), recorder)
    try:
        exchange = await plugin.call("chatty", '{"tag": "obs"}')
        await plugin.call("echo", "{}")
    finally:
        await plugin.stop()
    assert recorder.states == [
        PluginState.STARTING,
        PluginState.READY,
        PluginState.BUSY,
        PluginState.READY,
        PluginState.BUSY,
        PluginState.READY,
        PluginState.STOPPED,
    ]
    assert recorder.started == [exchange.id, exchange.id + 1]
    assert [e.id for e in recorder.finished] == recorder.started
    assert ("faulty: printed at import", None) in recorder.stderr
    assert ("fd1 write obs", exchange.id) in recorder.stderr


async def test_several_plugins_at_once_and_stop_all() -> None:
    host = PluginHost()
    first = host.add(_launch("faulty"))
    second = host.add(_launch("noop"))
    assert host.add(_launch("noop")) is second
    try:
        results = await asyncio.gather(
            first.call("echo", '{"p": 1}'), second.call("echo", '{"p": 2}')
        )
        assert [r.response_json() for r in results] == [{"p": 1}, {"p": 2}]
        assert first.pid != second.pid
    finally:
        await host.stop_all()
    assert first.state is PluginState.STOPPED and second.state is PluginState.STOPPED


async def test_50_mb_response_and_20_mb_request_round_trip(faulty: PluginProcess) -> None:
    big = await faulty.call("big", '{"bytes": 50000000}')
    assert big.status is ExchangeStatus.OK
    assert big.response_size_bytes == 50_000_012
    assert big.response_bytes is not None and big.response_bytes.endswith(b"x" * 100 + b'"}')
    request = '{"data": "' + "y" * 20_000_000 + '"}'
    echoed = await faulty.call("echo", request)
    assert echoed.status is ExchangeStatus.OK
    assert echoed.response_bytes == request.encode()


async def test_10_mb_of_stderr_in_one_call_does_not_stall() -> None:
    recorder = Recorder()
    plugin = PluginProcess(_launch(), recorder)
    try:
        flood = await asyncio.wait_for(plugin.call("flood", '{"bytes": 10000000}'), 20)
        assert flood.status is ExchangeStatus.OK
        assert flood.stderr_line_count == 100_001
        assert flood.stderr_bytes >= 10_000_000
        assert len(flood.stderr_lines) == 200 and flood.stderr_lines[-1] == "flood done"
        after = await plugin.call("echo", '{"still": "alive"}')
        assert after.status is ExchangeStatus.OK and after.stderr_line_count == 0
    finally:
        await plugin.stop()


async def test_info_can_be_refreshed(faulty: PluginProcess) -> None:
    info = await faulty.refresh_info()
    assert info["plugin_info"]["name"] == "faulty"
    exchange = await faulty.call("echo", "{}")
    assert exchange.status is ExchangeStatus.OK


async def test_lines_printed_right_before_returning_stay_on_their_call() -> None:
    recorder = Recorder()
    plugin = PluginProcess(_launch(), recorder)
    try:
        await plugin.start()
        for round_index in range(50):
            exchanges = await asyncio.gather(
                *(plugin.submit("chatty", f'{{"tag": "r{round_index}c{n}"}}') for n in range(4))
            )
            for n, exchange in enumerate(exchanges):
                tag = f"r{round_index}c{n}"
                assert sorted(exchange.stderr_lines) == sorted(
                    [f"python print {tag}", f"fd1 write {tag}", f"stderr {tag}"]
                )
        quiet = await plugin.call("echo", "{}")
        assert quiet.stderr_line_count == 0
    finally:
        await plugin.stop()
    by_exchange = [(line, owner) for line, owner in recorder.stderr if line.startswith("stderr r")]
    assert len(by_exchange) == 200 and all(owner is not None for _, owner in by_exchange)


async def test_stderr_burst_bigger_than_the_pipe_between_pipelined_calls(
    faulty: PluginProcess,
) -> None:
    before = faulty.submit("chatty", '{"tag": "before"}')
    flood = faulty.submit("flood", '{"bytes": 3000000}')
    after = faulty.submit("chatty", '{"tag": "after"}')
    first, flooded, last = await asyncio.wait_for(asyncio.gather(before, flood, after), 20)
    assert first.stderr_line_count == 3 and all("before" in line for line in first.stderr_lines)
    assert flooded.status is ExchangeStatus.OK
    assert flooded.stderr_line_count == 30_001 and flooded.stderr_lines[-1] == "flood done"
    assert all(line == "f" * 99 for line in list(flooded.stderr_lines)[:-1])
    assert last.stderr_line_count == 3 and all("after" in line for line in last.stderr_lines)


async def test_lines_read_while_a_call_runs_stay_on_it_and_off_the_next(
    faulty: PluginProcess,
) -> None:
    # The host reads both lines of "slow-chatty" while it sleeps, so when it answers stderr
    # holds nothing unread and no end marker is written. Each call must still keep exactly
    # its own lines.
    for round_index in range(3):
        slow = await faulty.call("slow-chatty", f'{{"tag": "s{round_index}", "seconds": 0.05}}')
        quick = await faulty.call("chatty", f'{{"tag": "q{round_index}"}}')
        assert list(slow.stderr_lines) == [f"s{round_index} first", f"s{round_index} second"]
        assert sorted(quick.stderr_lines) == sorted(
            [f"python print q{round_index}", f"fd1 write q{round_index}", f"stderr q{round_index}"]
        )


async def test_a_last_line_without_a_newline_stays_on_its_call(faulty: PluginProcess) -> None:
    for tag in ("a", "b"):
        partial = await faulty.call("partial-line", f'{{"tag": "{tag}", "seconds": 0.06}}')
        after = await faulty.call("chatty", f'{{"tag": "{tag}"}}')
        assert list(partial.stderr_lines) == [f"{tag} progress 50%"]
        assert sorted(after.stderr_lines) == sorted(
            [f"python print {tag}", f"fd1 write {tag}", f"stderr {tag}"]
        )


async def test_a_call_sent_while_another_runs_starts_with_a_begin_marker(
    faulty: PluginProcess,
) -> None:
    # "running" prints its second line at 0.1 s (the host's poll reads it), then sleeps until
    # 0.2 s and answers with nothing unread: no end marker. "queued" is sent at 0.15 s, and the
    # host's loop is then blocked until 0.35 s, so both answers and all of queued's lines arrive
    # in one read. Only queued's begin marker tells its lines from running's.
    running = faulty.submit("slow-chatty", '{"tag": "running", "seconds": 0.1}')
    await asyncio.sleep(0.15)
    queued = faulty.submit("chatty", '{"tag": "queued"}')
    time.sleep(0.2)  # blocks the loop on purpose
    first, second = await asyncio.wait_for(asyncio.gather(running, queued), 5)
    assert list(first.stderr_lines) == ["running first", "running second"]
    assert sorted(second.stderr_lines) == sorted(
        ["python print queued", "fd1 write queued", "stderr queued"]
    )


async def test_calls_still_end_when_the_plugin_points_fd_2_elsewhere(
    faulty: PluginProcess,
) -> None:
    silenced = await asyncio.wait_for(faulty.call("stderr-elsewhere", "{}"), 5)
    assert silenced.status is ExchangeStatus.OK
    for tag in ("a", "b"):
        exchange = await asyncio.wait_for(faulty.call("chatty", f'{{"tag": "{tag}"}}'), 5)
        assert exchange.status is ExchangeStatus.OK
        # fd 1 still goes to the host; what went to the new fd 2 is gone, as the plugin asked.
        assert sorted(exchange.stderr_lines) == sorted([f"python print {tag}", f"fd1 write {tag}"])


async def test_stderr_of_a_running_call_shows_up_before_it_ends(faulty: PluginProcess) -> None:
    recorder = Recorder()
    faulty.observer = recorder
    pending = faulty.submit("hang", '{"seconds": 1.0}')
    for _ in range(50):
        if ("hanging", faulty.history[-1].id + 1 if faulty.history else 1) in recorder.stderr:
            break
        await asyncio.sleep(0.01)
    assert not pending.done()
    assert [line for line, _ in recorder.stderr] == ["hanging"]
    assert (await pending).status is ExchangeStatus.OK


async def test_the_host_runs_on_the_loop_it_is_parametrized_with(
    request: pytest.FixtureRequest, faulty: PluginProcess
) -> None:
    loop_module = type(asyncio.get_running_loop()).__module__
    assert ("uvloop" in loop_module) == ("[uvloop" in request.node.name)
    exchange = await faulty.call("echo", '{"loop": 1}')
    assert exchange.status is ExchangeStatus.OK and exchange.response_bytes == b'{"loop": 1}'


class FinishedOnly(PluginObserver):
    """Overrides one method; the others stay PluginObserver's no-ops."""

    def __init__(self) -> None:
        self.finished: list[int] = []

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.finished.append(exchange.id)


class DuckObserver:
    """Not a PluginObserver subclass: every method is still called."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        self.events.append(f"state {state}")

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.events.append(f"started {exchange.id}")

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.events.append(f"finished {exchange.id}")

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        self.events.append(f"stderr {line}")


async def test_partial_duck_typed_and_replaced_observers_get_their_events(
    faulty: PluginProcess,
) -> None:
    partial = FinishedOnly()
    faulty.observer = partial
    first = await faulty.call("echo", "{}")
    assert partial.finished == [first.id]
    duck = DuckObserver()
    faulty.observer = duck  # type: ignore[assignment]
    second = await faulty.call("chatty", '{"tag": "duck"}')
    assert duck.events[:2] == ["state busy", f"started {second.id}"]
    assert duck.events[-2:] == [f"finished {second.id}", "state ready"]
    assert any(event.startswith("stderr ") and "duck" in event for event in duck.events)
    faulty.observer = None
    third = await faulty.call("echo", "{}")
    assert partial.finished == [first.id] and f"finished {third.id}" not in duck.events


def test_loop_run_uses_uvloop_when_installed_and_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aro_tui.core.host import loop

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    uvloop = pytest.importorskip("uvloop")
    monkeypatch.delenv(loop.LOOP_ENV, raising=False)
    assert loop.loop_factory() is uvloop.new_event_loop
    assert loop.run(loop_module()).startswith("uvloop")
    assert loop.loop_name().startswith("uvloop")
    monkeypatch.setenv(loop.LOOP_ENV, "asyncio")
    assert loop.run(loop_module()).startswith("asyncio") and loop.loop_name() == "asyncio"
    monkeypatch.delenv(loop.LOOP_ENV)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    assert loop.loop_factory() is None
    assert loop.run(loop_module()).startswith("asyncio")


def test_classify_json_result() -> None:
    from aro_tui.core.host.protocol import classify_json_result

    assert classify_json_result(b'{"a": 1}') == (ExchangeStatus.OK, None)
    assert classify_json_result(b"[1, 2]") == (ExchangeStatus.OK, None)
    assert classify_json_result(b'{"error": "bad"}') == (ExchangeStatus.PLUGIN_ERROR, "bad")
    assert classify_json_result(b'{"error": 3}') == (ExchangeStatus.OK, None)
    assert classify_json_result(b"{nope") == (ExchangeStatus.PROTOCOL_ERROR, None)
    assert classify_json_result(b'"\xff"') == (ExchangeStatus.PROTOCOL_ERROR, None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Invalid UTF-8 anywhere (msgspec leaves raw values unchecked; the host does not).
        (b'{"a": "x\xff"}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": {"b": ["ok", "\xc3"]}}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"\xff": 1}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": "\xed\xa0\x80"}', (ExchangeStatus.PROTOCOL_ERROR, None)),  # a surrogate
        ('{"a": "h\u00e9 \U0001f600"}'.encode(), (ExchangeStatus.OK, None)),
        # Nested values are validated, and so is what follows the document.
        (b'{"a": [1, 2,]}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": {"b": tru}}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": "tab\there"}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": "\\ud800"}', (ExchangeStatus.PROTOCOL_ERROR, None)),  # lone surrogate escape
        (b'{"a": 1} x', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": 1}{}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b' {"a": 1}\n', (ExchangeStatus.OK, None)),
        (b"", (ExchangeStatus.PROTOCOL_ERROR, None)),
        # NaN and Infinity literals are not JSON, at any depth.
        (b'{"a": NaN}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'{"a": [Infinity]}', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b"NaN", (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b"-Infinity", (ExchangeStatus.PROTOCOL_ERROR, None)),
        # Top-level values other than objects.
        (b"[1, 2]", (ExchangeStatus.OK, None)),
        (b"[1, 2", (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'[{"error": "x"}]', (ExchangeStatus.OK, None)),
        (b'"text"', (ExchangeStatus.OK, None)),
        (b'"text', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b"3.5", (ExchangeStatus.OK, None)),
        (b"null", (ExchangeStatus.OK, None)),
        (b"3 4", (ExchangeStatus.PROTOCOL_ERROR, None)),
        # Numbers past a double's range are JSON (a plugin's json reads inf); orjson refused.
        (b"-1e400", (ExchangeStatus.OK, None)),
        (b"[1e999]", (ExchangeStatus.OK, None)),
        (b'{"a": [1e999, {"b": -1e400}]}', (ExchangeStatus.OK, None)),
        (b'{"error": "x", "n": 1e999}', (ExchangeStatus.PLUGIN_ERROR, "x")),
        (b'"\\ud800"', (ExchangeStatus.PROTOCOL_ERROR, None)),
        (b'[1e999, "\\udc00"]', (ExchangeStatus.PROTOCOL_ERROR, None)),
        # Error classification: only a string "error" of the top-level object.
        (b'{"error": "bad", "x": [1.5]}', (ExchangeStatus.PLUGIN_ERROR, "bad")),
        (b'{"error": "caf\\u00e9 \\"q\\""}', (ExchangeStatus.PLUGIN_ERROR, 'caf\u00e9 "q"')),
        ('{"error": "\u00e9"}'.encode(), (ExchangeStatus.PLUGIN_ERROR, "\u00e9")),
        (b'{"error": ""}', (ExchangeStatus.PLUGIN_ERROR, "")),
        (b'{"error": null}', (ExchangeStatus.OK, None)),
        (b'{"error": {"message": "x"}}', (ExchangeStatus.OK, None)),
        (b'{"error": ["x"]}', (ExchangeStatus.OK, None)),
        (b'{"result": {"error": "nested"}}', (ExchangeStatus.OK, None)),
        (b'{"error": 1, "error": "last wins"}', (ExchangeStatus.PLUGIN_ERROR, "last wins")),
        # Deep nesting: what orjson accepts stays accepted; beyond its limit, rejected.
        (b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}", (ExchangeStatus.OK, None)),
        (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", (ExchangeStatus.PROTOCOL_ERROR, None)),
    ],
)
def test_classify_json_result_validates_without_building(
    body: bytes, expected: tuple[ExchangeStatus, str | None]
) -> None:
    from aro_tui.core.host.protocol import classify_json_result, interpret

    assert classify_json_result(body) == expected
    outcome = interpret(Frame(1, "ok", body, 5), "echo")
    assert outcome.status is expected[0]
    if expected[0] is ExchangeStatus.PLUGIN_ERROR:
        assert outcome.error == expected[1]
    if expected[0] is ExchangeStatus.PROTOCOL_ERROR:
        assert outcome.error is not None and ("JSON" in outcome.error or "UTF-8" in outcome.error)


def test_classify_json_result_agrees_with_orjson_on_the_bench_payloads() -> None:
    from aro_tui.commands.bench import make_payloads
    from aro_tui.core.host.protocol import classify_json_result

    for body in make_payloads().values():
        echoed = orjson.dumps(orjson.loads(body))
        assert classify_json_result(echoed) == (ExchangeStatus.OK, None)
        assert classify_json_result(echoed[:-1]) == (ExchangeStatus.PROTOCOL_ERROR, None)


CHILD_HOLDING_MEMORY_PLUGIN = """
import subprocess
import sys

_children = []
CHILD = (
    "import sys, time\\n"
    "held = b'x' * (64 << 20)\\n"
    "sys.stdout.write('ready\\\\n'); sys.stdout.flush()\\n"
    "time.sleep(120)\\n"
)


def aro_plugin_info():
    return {"name": "parent", "actions": ["spawn", "noop"]}


def aro_action_spawn(input_json):
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE)
    child.stdout.readline()
    _children.append(child)
    return '{"pid": %d}' % child.pid


def aro_action_noop(input_json):
    return "{}"
"""


async def test_rss_is_the_whole_trees_with_a_child_holding_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aro_tui.core.host import process_tree

    monkeypatch.setattr(process_tree, "TREE_REFRESH_INTERVAL_S", 0.0)  # see the child at once
    module = tmp_path / "plugin.py"
    module.write_text(CHILD_HOLDING_MEMORY_PLUGIN)
    plugin = PluginProcess(_launch("parent", module_path=module))
    await plugin.start()
    try:
        alone = await plugin.call("noop", "{}")
        assert alone.rss_after_bytes is not None and alone.rss_after_bytes > 1_000_000
        spawned = await plugin.call("spawn", "{}")
        assert spawned.status is ExchangeStatus.OK
        child_pid = spawned.response_json()["pid"]
        assert child_pid in plugin.process_tree_pids()
        after = await plugin.call("noop", "{}")
        held = 60 << 20
        assert after.rss_before_bytes is not None and after.rss_after_bytes is not None
        assert after.rss_before_bytes >= alone.rss_after_bytes + held
        assert after.rss_after_bytes >= alone.rss_after_bytes + held
        now = plugin.rss_bytes()  # the host's own reading of every process
        assert now is not None and abs(now - after.rss_after_bytes) < 8 << 20
    finally:
        await plugin.stop()
    assert plugin.rss_bytes() is None or plugin.process_tree_pids() == []


async def test_rss_follows_memory_each_call_loads_and_frees_back_to_back() -> None:
    """Calls sent at once, each answered within microseconds of the last: the harness may
    reuse a reading only for actions too short to move memory, so a load and an unload still
    show their own change, and the calls around them agree with them."""
    plugin = PluginProcess(_launch("telemetry-alloc"))
    await plugin.start()
    try:
        calls = [("work", "{}"), ("load", '{"mb": 64}'), ("work", "{}"), ("unload", "{}")]
        calls.append(("work", "{}"))
        exchanges = await asyncio.gather(*(plugin.submit(action, b) for action, b in calls))
        assert all(exchange.status is ExchangeStatus.OK for exchange in exchanges)
        rss: list[tuple[int, int]] = []
        for exchange in exchanges:
            before, after = exchange.rss_before_bytes, exchange.rss_after_bytes
            assert before is not None and after is not None
            rss.append((before, after))
        (load_before, load_after), (unload_before, unload_after) = rss[1], rss[3]
        assert load_after - load_before >= 60 << 20
        assert rss[2][0] == load_after  # the next call starts from the load's reading
        assert unload_before - unload_after >= 60 << 20
        assert rss[4][0] == unload_after
    finally:
        await plugin.stop()


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux's VmHWM")
async def test_a_calls_peak_memory_is_measured_in_the_plugin_not_sampled() -> None:
    """The peak came from the 1 Hz samples: 64 MiB held for 0.1 s showed in one call of
    four, so identical calls read different peaks and the peak a batch needs went unseen."""
    plugin = PluginProcess(_launch("telemetry-alloc"))
    await plugin.start()
    try:
        for _ in range(3):  # each call's own peak: not the one before it
            spike = await plugin.call("spike", '{"mb": 64, "seconds": 0.1}')
            before, after = spike.rss_before_bytes, spike.rss_after_bytes
            peak = spike.rss_peak_bytes
            assert before is not None and peak is not None and after is not None
            assert peak - max(before, after) >= 60 << 20, (before, peak, after)
            quiet = await plugin.call("spike", '{"mb": 1, "seconds": 0.01}')
            assert quiet.rss_peak_bytes is not None and quiet.rss_after_bytes is not None
            assert quiet.rss_peak_bytes - quiet.rss_after_bytes < 8 << 20
        short = await plugin.call("work", "{}")  # well under 1 ms: not read
        assert short.rss_peak_bytes is None
        # Memory freed by a call too short to read its peak: the next peak starts lower.
        await plugin.call("load", '{"key": "big", "mb": 64}')
        await plugin.call("unload", '{"key": "big"}')
        for _ in range(20):
            await plugin.call("work", "{}")
        after_free = await plugin.call("spike", '{"mb": 1, "seconds": 0.01}')
        assert after_free.rss_peak_bytes is not None and after_free.rss_after_bytes is not None
        assert after_free.rss_peak_bytes - after_free.rss_after_bytes < 8 << 20
    finally:
        await plugin.stop()
    plugin = PluginProcess(_launch("telemetry-alloc", sample_memory=False))
    await plugin.start()
    try:
        unmeasured = await plugin.call("spike", '{"mb": 8, "seconds": 0.01}')
        assert unmeasured.rss_peak_bytes is None
    finally:
        await plugin.stop()


async def test_harness_reports_its_own_rss_only_when_memory_is_sampled(
    faulty: PluginProcess,
) -> None:
    from aro_tui.core.host.channel import harness_command

    argv, _ = harness_command(faulty.launch, "t", 3)
    assert "--report-rss" in argv
    argv, _ = harness_command(_launch(sample_memory=False), "t", 3)
    assert "--report-rss" not in argv
    exchange = await faulty.call("echo", "{}")
    host_reading = faulty.rss_bytes()  # read by the host from /proc/<pid>/statm
    assert exchange.rss_after_bytes is not None and host_reading is not None
    assert abs(exchange.rss_after_bytes - host_reading) < 4 << 20
    plugin = PluginProcess(_launch(sample_memory=False))
    await plugin.start()
    try:
        quiet = await plugin.call("echo", "{}")
        assert quiet.status is ExchangeStatus.OK
        assert quiet.rss_before_bytes is None and quiet.rss_after_bytes is None
    finally:
        await plugin.stop()


def _frame(request_id: int, body: bytes, *, status: int = 0, end: int = 1, **fields: int) -> bytes:
    from aro_tui.core.host.protocol import FRAME_HEADER, FRAME_MAGIC

    header = FRAME_HEADER.pack(
        fields.get("magic_bytes", FRAME_MAGIC),
        status,
        end,
        fields.get("length", len(body)),
        request_id,
        fields.get("action_ns", -1),
        fields.get("rss_pages", -1),
        fields.get("printed", 0),
        fields.get("answered_ns", 5_000_000_000),
        fields.get("peak_pages", -1),
    )
    return header + body


def test_frame_headers_carry_rss_end_marker_and_printed_bytes() -> None:
    from aro_tui.core.host.protocol import FrameDecoder, ProtocolError

    decoder = FrameDecoder()
    stream = (
        _frame(1, b"{}", action_ns=5, rss_pages=321, answered_ns=123)
        + _frame(2, b"{}", action_ns=6, end=0, printed=12)
        + _frame(3, b"[1] ", action_ns=7, rss_pages=9, end=0)
    )
    split_at = len(stream) - 20  # the third header arrives in two pieces
    frames = decoder.feed(stream[:split_at])
    frames += decoder.feed(stream[split_at:-1])
    frames += decoder.feed(stream[-1:])
    assert [
        (f.request_id, f.body, f.action_ns, f.rss_pages, f.end_marker, f.printed_bytes)
        for f in frames
    ] == [
        (1, b"{}", 5, 321, True, 0),
        (2, b"{}", 6, -1, False, 12),
        (3, b"[1] ", 7, 9, False, 0),
    ]
    assert frames[0].answered_ns == 123
    big = FrameDecoder()
    whole = _frame(4, b"abcdef", action_ns=8, rss_pages=77, printed=3)
    assert big.feed(whole[:-3]) == []
    assert big.feed(whole[-3:]) == [Frame(4, "ok", b"abcdef", 8, 77, True, 3, 5_000_000_000)]
    bad_frames = (
        _frame(1, b"{}", status=99),  # no such status
        _frame(1, b"{}", end=2),  # end flag neither 0 nor 1
        _frame(1, b"{}", length=-1),
        _frame(1, b"{}", magic_bytes=b"XX"),
        b"garbage that is not a frame\n" * 3,
        b"g",  # wrong from its first byte: no need to wait for a whole header
    )
    for bad in bad_frames:
        with pytest.raises(ProtocolError):
            FrameDecoder().feed(bad)


def test_harness_and_host_agree_on_status_codes() -> None:
    from aro_tui.core.host.protocol import HARNESS_STATUSES
    from aro_tui.harness import harness

    assert [harness._STATUS_CODES[name] for name in HARNESS_STATUSES] == list(
        range(len(HARNESS_STATUSES))
    )
    assert len(harness._STATUS_CODES) == len(HARNESS_STATUSES)


def test_a_plugin_clock_outside_the_call_is_not_trusted() -> None:
    from aro_tui.core.host.inflight import InFlight, Pending

    loop = asyncio.new_event_loop()
    try:
        inflight = InFlight(lambda pending: None)
        inflight.reset(loop)
        calls = []
        for request_id in (1, 2, 3):
            exchange = Exchange(request_id, "p", "a", b"{}", sent_monotonic_s=10.0)
            calls.append(Pending(exchange, loop.create_future(), 30.0))
            inflight.add(calls[-1], 10.0)
        # another time namespace: the plugin's clock reads far from the host's
        assert inflight.answered(1, 12.0, 1e6) is calls[0]
        assert calls[0].exchange.finished_monotonic_s == 12.0
        assert inflight.answered(2, 13.0, 5.0) is calls[1]  # before the call could start
        assert calls[1].exchange.finished_monotonic_s == 13.0
        assert calls[2].exchange.head_monotonic_s == 13.0
        assert inflight.answered(3, 14.0, 13.5) is calls[2]  # in span: the plugin's time
        assert calls[2].exchange.finished_monotonic_s == 13.5
        assert calls[2].exchange.duration_s == 0.5
    finally:
        loop.close()


def test_an_answer_nested_past_the_readers_depth_is_not_called_not_json() -> None:
    """3,000 levels of valid JSON read "response is not JSON (depth limit exceeded...)"."""
    outcome = interpret(Frame(1, "ok", b"[" * 3000 + b"]" * 3000, 5), "deep")
    assert outcome.status is ExchangeStatus.PROTOCOL_ERROR and outcome.error is not None
    assert outcome.error.startswith("response nests deeper than 1,024 levels")
    assert "not JSON" not in outcome.error


def test_only_a_failure_a_restart_can_mend_offers_restart_and_resend() -> None:
    """A protocol error's card said "f6: restart the plugin and resend" for a healthy plugin."""
    from aro_tui.ui.widgets.response.exchange_view import failure_card

    cases = (("protocol_error", False), ("cancelled", False), ("crashed", True), ("timeout", True))
    for status, offered in cases:
        card = failure_card(status, "why", None, None, [], "f6").plain
        assert ("f6: restart the plugin and resend" in card) is offered, status


def test_a_card_says_whether_the_plugin_still_runs_and_a_recording_offers_no_key() -> None:
    """After unframed output aro-tui stops the plugin: the card said it was still running.
    In a reopened recording the card offered f6, which does nothing there."""
    from aro_tui.ui.widgets.response.exchange_view import failure_card

    broken = failure_card("protocol_error", "unframed output: b'garbage'", None, None, [], "f6")
    assert "aro-tui stopped the plugin; the next call starts it again" in broken.plain
    answered = failure_card("protocol_error", "response is not JSON", None, None, [], "f6")
    assert "the plugin is still running" in answered.plain
    recorded = failure_card("crashed", "exited", 1, None, [], None)
    assert "f6" not in recorded.plain and "restart" not in recorded.plain


def test_an_exchange_keeps_the_start_and_end_of_a_huge_traceback() -> None:
    """A 5 MB exception message was kept whole in the error, the traceback and the response;
    the traceback keeps its frames and its last line, the message's end."""
    from aro_tui.core.host.exchange import MAX_TRACEBACK_CHARS, cap_error, cap_traceback

    traceback = "Traceback (most recent call last):\n" + "E" * 5_000_000 + "\nValueError: end"
    kept = cap_traceback(traceback)
    assert len(kept) < MAX_TRACEBACK_CHARS + 100
    assert kept.startswith("Traceback (most recent call last):")
    assert kept.endswith("ValueError: end") and "characters left out" in kept
    assert cap_error("short") == "short"
    assert cap_error("x" * 10_000).endswith("(5,904 more characters in the response)")


BACKGROUND_ALLOCATOR = """
import threading, time
held = []
def aro_action_later(input_json):
    def allocate():
        time.sleep(0.2)
        held.append(bytearray(80 * 1024 * 1024))  # touched: resident at once
    threading.Thread(target=allocate).start()
    return "{}"
def aro_action_noop(input_json):
    return "{}"
"""


async def test_a_call_after_a_pause_is_measured_from_the_memory_it_started_with(
    tmp_path: Path,
) -> None:
    """A call's "before" was the previous answer's "after": 80 MiB a thread allocated between
    calls was charged to the next call (a no-op read +80 MiB, the one after it -80 MiB)."""
    (tmp_path / "plugin.py").write_text(BACKGROUND_ALLOCATOR)
    plugin = PluginProcess(_launch(module_path=tmp_path / "plugin.py"))
    await plugin.start()
    try:
        await plugin.call("later", "{}")
        await asyncio.sleep(0.6)  # the thread has allocated
        noop = await plugin.call("noop", "{}")
    finally:
        await plugin.stop()
    assert noop.rss_before_bytes is not None and noop.rss_after_bytes is not None
    assert abs(noop.rss_after_bytes - noop.rss_before_bytes) < 8 * 1024 * 1024


ALLOCATOR = """
held = []
def aro_action_alloc(input_json):
    held.append(bytearray(b"\\\\x01") * (48 * 1024 * 1024))
    return "{}"
"""


async def test_a_call_after_a_pause_counts_all_it_allocated(tmp_path: Path) -> None:
    """The idle plugin's memory was read after the request was written, while the plugin was
    already allocating: a 30 MiB load read +19 MiB, a 1 MiB one +0."""
    (tmp_path / "plugin.py").write_text(ALLOCATOR)
    plugin = PluginProcess(_launch(module_path=tmp_path / "plugin.py"))
    await plugin.start()
    grown = []
    busy = threading.Event()

    def hold_the_gil() -> None:  # as the dashboard's threads do: the loop waits its turn
        while not busy.is_set():
            pass

    other = threading.Thread(target=hold_the_gil)
    other.start()
    try:
        for _ in range(5):
            await asyncio.sleep(0.1)  # idle past the 50 ms a reading is reused
            exchange = await plugin.call("alloc", "{}")
            assert exchange.rss_before_bytes is not None and exchange.rss_after_bytes is not None
            grown.append(exchange.rss_after_bytes - exchange.rss_before_bytes)
    finally:
        busy.set()
        other.join()
        await plugin.stop()
    assert all(growth > 44 * 1024 * 1024 for growth in grown), grown


async def test_text_with_no_newline_yet_is_told_while_the_call_runs() -> None:
    """A progress bar drawn with \\r never ends its line until it is done: its states were
    not seen until then (and at start, never)."""

    class Partials(PluginObserver):
        def __init__(self) -> None:
            self.seen: list[tuple[str, int | None]] = []

        def on_stderr_partial(
            self, plugin: PluginProcess, text: str, exchange: Exchange | None
        ) -> None:
            self.seen.append((text, None if exchange is None else exchange.id))

    observer = Partials()
    plugin = PluginProcess(_launch(), observer)
    await plugin.start()
    try:
        future = plugin.submit("partial_line", '{"tag": "bar", "seconds": 0.6}')
        for _ in range(200):
            if observer.seen:
                break
            await asyncio.sleep(0.01)
        running = plugin.executing
        assert running is not None
        assert observer.seen == [("bar progress 50%", running.id)]
        assert plugin.stderr_partial == ("bar progress 50%", running)
        exchange = await future
        assert list(exchange.stderr_lines) == ["bar progress 50%"]  # then it ended as a line
        assert plugin.stderr_partial is None
    finally:
        await plugin.stop()


LONG_LINE_WRITER = """
import sys

def aro_action_write(input_json):
    sys.stderr.write("x" * 5_000_000 + "END")  # no newline: a bar drawn with \\r, a dump
    sys.stderr.flush()
    return "{}"
"""


async def test_the_stderr_an_exchange_keeps_is_bounded_in_characters(tmp_path: Path) -> None:
    """5 MB written with no newline were all kept, 77 lines of 64 KiB, by every exchange:
    +9 MiB of dashboard memory and 6 MiB of recording a call."""
    from aro_tui.core.host.exchange import MAX_KEPT_LINE_CHARS, MAX_KEPT_TAIL_CHARS

    (tmp_path / "plugin.py").write_text(LONG_LINE_WRITER)
    plugin = PluginProcess(_launch(module_path=tmp_path / "plugin.py"))
    await plugin.start()
    try:
        exchange = await plugin.call("write", "{}")
        kept = list(exchange.stderr_lines)
        assert exchange.stderr_line_count == 77  # all of it counted
        # As written: it counted a newline for each of the 77 pieces (5,000,077 bytes).
        assert exchange.stderr_bytes == 5_000_003
        assert sum(map(len, kept)) <= MAX_KEPT_TAIL_CHARS
        assert exchange.stderr_tail_chars == sum(map(len, kept))
        assert all(len(line) <= MAX_KEPT_LINE_CHARS + 60 for line in kept)
        assert kept[-1].endswith("xEND")  # the newest, and the end of each line, stay
        assert "characters left out" in kept[-2]
        assert all(len(line) <= MAX_KEPT_LINE_CHARS + 60 for line in plugin.recent_stderr)
    finally:
        await plugin.stop()


QUALIFIER_PLUGIN = """
import json


def aro_plugin_info():
    return {"name": "q", "version": "1", "actions": ["ping"],
            "qualifiers": [{"name": "reverse", "description": "Reverse a string."}, "upper"]}


def aro_action_ping(input_json):
    return "{}"


def aro_plugin_qualifier(name, input_json):
    value = json.loads(input_json)["value"]
    if name == "reverse":
        return json.dumps({"result": value[::-1]})
    return json.dumps({"error": "no qualifier " + name})
"""


async def test_qualifiers_run_as_actions_named_after_them(tmp_path: Path) -> None:
    """ARO calls ``aro_plugin_qualifier(name, input_json)`` for the qualifiers a plugin lists;
    without a way to call them, an author could not try one here at all."""
    from aro_tui.core.templates import render_template

    module = tmp_path / "plugin.py"
    module.write_text(QUALIFIER_PLUGIN)
    plugin = PluginProcess(PluginLaunch("q", module, Path(sys.executable)))
    await plugin.start()
    try:
        assert plugin.action_names() == ["ping", "qualifier:reverse", "qualifier:upper"]
        reverse = await plugin.call("qualifier:reverse", '{"value": "abc", "type": "String"}')
        assert reverse.status is ExchangeStatus.OK
        assert orjson.loads(reverse.response_bytes or b"") == {"result": "cba"}
        upper = await plugin.call("qualifier:upper", '{"value": "abc", "type": "String"}')
        assert (upper.status, upper.error) == (ExchangeStatus.PLUGIN_ERROR, "no qualifier upper")
        (doc,) = [
            q["doc"] for q in (plugin.info or {})["qualifiers"] if q["name"].endswith("reverse")
        ]
        assert doc.startswith("Reverse a string.")
        assert orjson.loads(render_template(doc)) == {"value": "", "type": "String"}
    finally:
        await plugin.stop()
    module.write_text(QUALIFIER_PLUGIN.replace("def aro_plugin_qualifier", "def other"))
    await plugin.start()
    try:
        missing = await plugin.call("qualifier:reverse", '{"value": "abc"}')
        assert missing.status is ExchangeStatus.PLUGIN_ERROR
        assert "defines no aro_plugin_qualifier()" in (missing.error or "")
    finally:
        await plugin.stop()


def test_a_harness_of_another_protocol_refuses_with_a_reason(tmp_path: Path) -> None:
    """A dashboard left running while aro-tui was updated on disk started the new harness,
    read its frames as "malformed response header: b'AF\\x07…'" and killed every plugin."""
    import subprocess

    from aro_tui.core.host.channel import harness_command
    from aro_tui.core.host.protocol import HARNESS_PROTOCOL
    from aro_tui.harness import harness

    assert harness.PROTOCOL == HARNESS_PROTOCOL  # raised together
    module = tmp_path / "plugin.py"
    module.write_text("")
    argv, env = harness_command(PluginLaunch("p", module, Path(sys.executable)), "t", -1)
    argv[argv.index("--protocol") + 1] = str(HARNESS_PROTOCOL - 1)  # an older aro-tui
    ran = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert ran.returncode == harness.EXIT_OTHER_PROTOCOL
    assert "aro-tui was updated while it ran; restart it" in ran.stderr


async def test_only_qualifiers_aro_could_register_are_listed_and_run(tmp_path: Path) -> None:
    """42, None, "" or a name with a newline were listed as qualifier:42... and ran; so did a
    qualifier aro_plugin_info() never listed, where ARO applies only those it lists."""
    from aro_tui.core.host.protocol import QUALIFIER_PREFIX
    from aro_tui.harness import harness

    assert harness.QUALIFIER_PREFIX == QUALIFIER_PREFIX  # one name on both sides
    module = tmp_path / "plugin.py"
    module.write_text(
        QUALIFIER_PLUGIN.replace(
            '"qualifiers": [{"name": "reverse", "description": "Reverse a string."}, "upper"]',
            '"qualifiers": [42, None, "", "a\\nb", {"name": 7}, "reverse", "reverse"]',
        )
    )
    plugin = PluginProcess(PluginLaunch("q", module, Path(sys.executable)))
    await plugin.start()
    try:
        assert plugin.action_names() == ["ping", "qualifier:reverse"]
        unlisted = await plugin.call("qualifier:upper", '{"value": "abc"}')
        assert unlisted.status is ExchangeStatus.PLUGIN_ERROR
        assert "aro_plugin_info() lists no such qualifier" in (unlisted.error or "")
        await plugin.refresh_info()  # asked again: still there
        assert plugin.action_names() == ["ping", "qualifier:reverse"]
        listed = await plugin.call("qualifier:reverse", '{"value": "abc"}')
        assert listed.status is ExchangeStatus.OK
    finally:
        await plugin.stop()


class Raising(PluginObserver):
    """An observer whose stderr callback fails (as printing to a full disk does)."""

    def __init__(self) -> None:
        self.lines = 0

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        self.lines += 1
        raise OSError(28, "No space left on device")


async def test_an_observer_that_raises_does_not_stop_the_plugins_stderr_being_read() -> None:
    """The exception ended the host's stderr reader: the plugin blocked on its full stderr
    pipe, and `call --stderr 2>/dev/full` hung for good."""
    observer = Raising()
    plugin = PluginProcess(_launch(), observer)
    await plugin.start()
    try:
        exchange = await asyncio.wait_for(plugin.call("flood", '{"bytes": 2000000}'), 30)
        assert exchange.status is ExchangeStatus.OK
        assert exchange.response_json() == {"lines": 20000}
        assert observer.lines > 20000  # every line reached it, each raising
    finally:
        await plugin.stop()
