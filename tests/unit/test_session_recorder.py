"""Recording sessions: everything the host reports is written, read back the same, and safe."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest
from session_recording import FAULTY, TEXT, record_calls, record_session

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session import records
from aro_tui.core.session.reader import read_session
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.session.records import bodies_dir


def _exchange(number: int, response: bytes, request: bytes = b'{"text": "x"}') -> Exchange:
    exchange = Exchange(number, "fake", "echo", request, started_at=1_700_000_000.0 + number)
    exchange.status = ExchangeStatus.OK
    exchange.response_bytes = response
    exchange.head_monotonic_s, exchange.finished_monotonic_s = 10.0, 10.25
    exchange.rss_before_bytes, exchange.rss_after_bytes = 1000, 3000
    return exchange


def test_real_session_round_trips(tmp_path: Path) -> None:
    calls = [
        (TEXT, "analyze", '{"text": "one two. three"}'),
        (TEXT, "hash", '{"text": "h\\u00e9", "algorithm": "md5"}'),
        (TEXT, "analyze", "{}"),
        (str(FAULTY), "chatty", '{"tag": "rec"}'),
        (str(FAULTY), "os-exit", "{}"),
    ]
    recorder = SessionRecorder.create(tmp_path, plugins_dir=Path("/somewhere/Plugins"))
    recorder.record_sample({"t": 1.0, "devices": [], "processes": {}})
    recorder.record_cache_event({"plugin": TEXT, "event": "load", "model": "m"})
    asyncio.run(record_calls(recorder, calls))
    recorder.close()
    assert recorder.error is None

    session = read_session(recorder.path)
    assert session.warnings == []
    assert session.header.plugins_dir == Path("/somewhere/Plugins")
    assert session.header.format == "aro-tui/session/1"
    assert session.session_id == recorder.path.stem
    assert session.ended_at is not None
    assert [(e.number, e.plugin, e.action, e.status) for e in session.exchanges] == [
        (1, TEXT, "analyze", "ok"),
        (2, TEXT, "hash", "ok"),
        (3, TEXT, "analyze", "plugin_error"),
        (4, "faulty", "chatty", "ok"),
        (5, "faulty", "os-exit", "crashed"),
    ]
    assert session.error_count == 2
    assert session.plugins == [TEXT, "faulty"]
    first = session.exchanges[0].to_exchange()
    assert orjson.loads(first.response_bytes or b"")["words"] == 3
    assert first.request_bytes == b'{"text": "one two. three"}'
    assert first.duration_s is not None and first.duration_s > 0
    assert first.rss_after_bytes is not None and first.rss_after_bytes > 0
    chatty = session.exchanges[3]
    assert "stderr rec" in chatty.stderr_tail
    reopened = chatty.to_exchange()  # what it printed, and what the ARO runtime would make of it
    assert reopened.printed_bytes == len("python print rec\n")
    assert [note.code for note in reopened.runtime_notes] == ["printed-to-stdout"]
    assert "17 B during the call" in reopened.runtime_notes[0].text
    assert first.runtime_notes == () and first.printed_bytes == 0
    live = [line.line for line in session.stderr_lines if line.plugin == "faulty"]
    assert {"python print rec", "fd1 write rec", "stderr rec", "about to os._exit"} <= set(live)
    crashed = session.exchanges[4].to_exchange()
    assert crashed.exit_code == 5 and "about to os._exit" in crashed.stderr_lines
    events = [(e.plugin, e.event) for e in session.plugin_events]
    assert (TEXT, "started") in events and (TEXT, "stopped") in events
    assert ("faulty", "crashed") in events
    started = next(e for e in session.plugin_events if e.event == "started")
    assert isinstance(started.details["pid"], int)
    assert session.samples == [{"t": 1.0, "devices": [], "processes": {}}]
    assert session.cache_events == [{"plugin": TEXT, "event": "load", "model": "m"}]


def test_large_bodies_spill_to_a_side_file(tmp_path: Path) -> None:
    big = b'{"data": "' + b"x" * 200_000 + b'"}'
    recorder = SessionRecorder(tmp_path / "s.jsonl", spill_bytes=1024)
    recorder.record_exchange(_exchange(1, big))
    recorder.record_exchange(_exchange(2, b'{"small": true}'))
    recorder.close()
    lines = (tmp_path / "s.jsonl").read_bytes().splitlines()
    assert max(len(line) for line in lines) < 4096
    assert (bodies_dir(tmp_path / "s.jsonl") / "1.response").read_bytes() == big
    session = read_session(tmp_path / "s.jsonl")
    spilled, inline = session.exchanges
    assert spilled.response is not None and spilled.response.size_bytes == len(big)
    assert spilled.to_exchange().response_bytes == big
    assert inline.to_exchange().response_bytes == b'{"small": true}'
    assert session.size_bytes() > len(big)


def test_bodies_that_are_not_utf8_survive(tmp_path: Path) -> None:
    recorder = SessionRecorder(tmp_path / "s.jsonl")
    recorder.record_exchange(_exchange(1, b"\xff\xfe not utf-8", request=b'"\xc3\xa9"'))
    recorder.close()
    [recorded] = read_session(tmp_path / "s.jsonl").exchanges
    exchange = recorded.to_exchange()
    assert exchange.response_bytes == b"\xff\xfe not utf-8"
    assert exchange.request_bytes == '"é"'.encode()


def test_bodies_are_encoded_on_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    original = records.encode_body

    def spy(data: bytes, spill_to: Path | None) -> dict[str, object]:
        threads.append(threading.current_thread().name)
        return original(data, spill_to)

    monkeypatch.setattr("aro_tui.core.session.recorder.encode_body", spy)
    recorder = SessionRecorder(tmp_path / "s.jsonl")
    recorder.record_exchange(_exchange(1, b"[1]"))
    recorder.close()
    assert threads and all(name.startswith("session-writer-") for name in threads)


CRASHING_RECORDER = """
import os, sys, time
from pathlib import Path
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session.recorder import SessionRecorder

path = Path(sys.argv[1])
recorder = SessionRecorder(path, fsync_interval_s=60.0)
for number in (1, 2, 3):
    exchange = Exchange(number, "fake", "echo", b"{}")
    exchange.status = ExchangeStatus.OK
    exchange.response_bytes = b'{"n": %d}' % number
    recorder.record_exchange(exchange)
deadline = time.monotonic() + 10
while path.read_bytes().count(b"\\n") < 4 and time.monotonic() < deadline:
    time.sleep(0.01)
os._exit(9)  # no close(): as if aro-tui were killed
"""


def test_a_killed_recorder_leaves_a_session_that_reopens(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    result = subprocess.run([sys.executable, "-c", CRASHING_RECORDER, str(path)], check=False)
    assert result.returncode == 9
    session = read_session(path)
    assert [e.to_exchange().response_bytes for e in session.exchanges] == [
        b'{"n": 1}',
        b'{"n": 2}',
        b'{"n": 3}',
    ]
    assert session.ended_at is None and session.warnings == []


def test_close_is_idempotent_and_later_records_are_dropped(tmp_path: Path) -> None:
    path = record_session(tmp_path, [(TEXT, "hash", '{"text": "a"}')])
    recorder_lines = path.read_bytes().count(b"\n")
    assert read_session(path).exchanges[0].status == "ok"
    recorder = SessionRecorder(tmp_path / "other.jsonl")
    recorder.close()
    recorder.close()
    recorder.record_cache_event({"late": True})
    assert read_session(tmp_path / "other.jsonl").cache_events == []
    assert recorder_lines >= 3


def test_a_recording_opens_a_bounded_chunk_of_bodies_at_a_time(tmp_path: Path) -> None:
    from aro_tui.ui.screens.main_sessions import load_recording, recorded_exchanges

    bodies = [b'{"n": "' + bytes([48 + n]) * 100_000 + b'"}' for n in range(5)]
    recorder = SessionRecorder(tmp_path / "s.jsonl", spill_bytes=1024)
    for number, body in enumerate(bodies, start=1):
        recorder.record_exchange(_exchange(number, body))
    recorder.close()
    (bodies_dir(tmp_path / "s.jsonl") / "4.response").unlink()
    loaded = load_recording(tmp_path / "s.jsonl")
    chunks = list(recorded_exchanges(loaded.session, chunk_bytes=250_000))
    assert [len(chunk.exchanges) for chunk in chunks] == [3, 2]
    exchanges = [exchange for chunk in chunks for exchange in chunk.exchanges]
    assert [exchange.id for exchange in exchanges] == [1, 2, 3, 4, 5]
    assert [exchange.response_bytes for exchange in exchanges[:3]] == bodies[:3]
    assert exchanges[4].response_bytes == bodies[4]
    lost = exchanges[3]
    assert lost.response_bytes is None and lost.status is ExchangeStatus.OK
    assert lost.started_at == 1_700_000_004.0
    assert lost.request_bytes == b'{"text": "x"}'  # only the lost body goes
    assert chunks[1].warnings == []  # said by the dashboard, once for the chunk
    assert chunks[1].lost[0]["response"].endswith("4.response is missing")


def test_stderr_is_recorded_up_to_a_budget_per_call_and_per_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each stretch between calls had its own 2,000 lines: a plugin logging between calls,
    with a call a second, grew the recording by 1.1 GB an hour."""
    from aro_tui.core.session import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "MAX_RECORDED_STDERR_SESSION_BYTES", 10_000)
    recorder = SessionRecorder(tmp_path / "s.jsonl")
    line = "x" * 99
    for call in range(1, 21):  # 20 stretches between calls of 50 lines: 100,000 bytes
        for _ in range(50):
            recorder.record_stderr_line("p", line, None)
        recorder.end_stderr("p", None)
        recorder.record_stderr_line("p", "during", call)
        recorder.end_stderr("p", call)
    recorder.close()
    records = [json.loads(text) for text in (tmp_path / "s.jsonl").read_text().splitlines()]
    stderr = [record for record in records if record["type"] == "stderr"]
    one_by_one = [record for record in stderr if "skipped" not in record]
    skipped = sum(record.get("skipped", 0) for record in stderr)
    recorded = sum(len(record["line"]) for record in one_by_one)
    assert recorded <= 10_000 + 99  # the session's budget, not 20 stretches × 50 lines
    assert len(one_by_one) + skipped == 20 * 51  # every line recorded or counted


def test_a_plugins_start_is_recorded_with_its_cold_start(tmp_path: Path) -> None:
    """The `started` record's cold_start_s was null: the ready state was reported before the
    time was taken."""
    from session_recording import FAULTY, record_session

    path = record_session(tmp_path, [("faulty", "echo", "{}")], FAULTY.parent)
    started = [e for e in read_session(path).plugin_events if e.event == "started"]
    assert len(started) == 1
    cold_start_s = started[0].details["cold_start_s"]
    assert isinstance(cold_start_s, float) and 0 < cold_start_s < 10


def test_a_recording_passes_on_text_with_no_newline_yet(tmp_path: Path) -> None:
    """With a recording on (the dashboard's default), a progress bar never showed while it
    was drawn: the recording's observer did not pass the partial text on."""
    from plugin_launch import launch_test_plugin

    from aro_tui.core.host.plugin_host import PluginHost
    from aro_tui.core.host.process import PluginObserver, PluginProcess

    seen: list[str] = []

    class Partials(PluginObserver):
        def on_stderr_partial(
            self, plugin: PluginProcess, text: str, exchange: Exchange | None
        ) -> None:
            seen.append(text)

    async def call() -> None:
        recorder = SessionRecorder.create(tmp_path, plugins_dir=tmp_path)
        host = PluginHost(recorder.observer(forward_to=Partials()))
        plugin = host.add(launch_test_plugin())
        try:
            await plugin.call("partial_line", '{"tag": "bar", "seconds": 0.5}')
        finally:
            await host.stop_all()
            recorder.close()

    asyncio.run(call())
    assert seen == ["bar progress 50%"]


def test_errors_count_the_calls_made_not_aro_tuis_own_queries(tmp_path: Path) -> None:
    """`aro-tui sessions` said "Calls 43 Errors 5" where 3 calls had failed: the other two
    were failed model-cache queries, which Calls leaves out."""
    from aro_tui.core.host.exchange import Exchange, ExchangeStatus
    from aro_tui.core.session.store import summarize_session

    recorder = SessionRecorder.create(tmp_path)
    recorder.is_internal = lambda exchange: exchange.id == 2
    for exchange_id, status in ((1, ExchangeStatus.PLUGIN_ERROR), (2, ExchangeStatus.TIMEOUT)):
        exchange = Exchange(exchange_id, "plug", "models" if exchange_id == 2 else "run", b"{}")
        exchange.status = status
        recorder.record_exchange(exchange)
    recorder.close()
    info = summarize_session(recorder.path)  # from the end record
    assert (info.exchanges, info.internal, info.errors) == (2, 1, 1)
    assert read_session(recorder.path).error_count == 1  # read through, as for a cut-off one
