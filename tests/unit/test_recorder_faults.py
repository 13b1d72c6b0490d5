"""A recording that cannot go on (deleted, a write refused, a side file refused) says so."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from session_recording import FAULTY, launch_for, record_fake_exchanges

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.plugin_host import PluginHost
from aro_tui.core.session.reader import outline_session, read_session, spilled_body_problems
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.session.records import bodies_dir
from aro_tui.core.session.store import (
    list_sessions,
    prune_sessions,
    remove_orphan_bodies,
    start_session,
)
from aro_tui.core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
UNIT_TESTS = Path(__file__).resolve().parent
DELETED = "the file was deleted or moved away while recording"


async def _call_big(host: PluginHost, count: int, size_bytes: int) -> None:
    plugin = host.add(launch_for(str(FAULTY), None))
    for _ in range(count):
        await plugin.call("big", f'{{"bytes": {size_bytes}}}')


def _run(sessions_dir: Path, aro_tui: list[str]) -> str:
    """``aro-tui`` with ``aro_tui``'s arguments; its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "aro_tui", *aro_tui, "--sessions-dir", str(sessions_dir)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
        check=True,
    )
    return result.stdout


def test_a_recording_deleted_while_recording_stops_and_says_so(tmp_path: Path) -> None:
    """The recorder wrote on into the deleted file and made its side folder again, holding
    the later bodies beside no session file, and nobody was told."""
    errors: list[str] = []
    recorder = SessionRecorder.create(tmp_path, on_error=errors.append)

    async def session() -> None:
        host = PluginHost(recorder.observer())
        try:
            await _call_big(host, 2, 300_000)
            recorder_drained(recorder, exchanges=2)
            recorder.path.unlink()  # rm -rf SESSION.jsonl SESSION.bodies
            shutil.rmtree(bodies_dir(recorder.path))
            await _call_big(host, 3, 300_000)
        finally:
            await host.stop_all()

    asyncio.run(session())
    recorder.close()
    assert errors == [
        f"recording to {recorder.path} stopped: the file was deleted or moved away while recording"
    ]
    assert recorder.error == errors[0]
    assert not bodies_dir(recorder.path).exists()  # no orphan side folder
    assert list(tmp_path.iterdir()) == []


def recorder_drained(recorder: SessionRecorder, exchanges: int) -> None:
    """Wait until the writer thread has written ``exchanges`` exchange records."""
    deadline = time.monotonic() + 20
    while recorder.path.read_bytes().count(b'"type":"exchange"') < exchanges:
        assert time.monotonic() < deadline, "the recorder never wrote the exchanges"
        time.sleep(0.01)


def test_a_recording_replaced_while_idle_stops_at_the_next_sync(tmp_path: Path) -> None:
    """Small records spill nothing: the file is looked at at each fsync, not only at close."""
    errors: list[str] = []
    recorder = SessionRecorder(tmp_path / "s.jsonl", fsync_interval_s=0.05, on_error=errors.append)
    recorder.path.rename(tmp_path / "elsewhere.jsonl")
    recorder.path.write_bytes(b"")  # another file where the recording was
    recorder.record_cache_event({"event": "load"})
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert errors == [
        f"recording to {recorder.path} stopped: another file was put in its place while recording"
    ]
    recorder.close()
    assert recorder.path.read_bytes() == b""


WRITE_UNTIL_TOO_LARGE = """
import asyncio, resource, sys
from pathlib import Path
from session_recording import FAULTY, record_calls
from aro_tui.core.session.recorder import SessionRecorder

resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))
recorder = SessionRecorder.create(Path(sys.argv[1]), on_error=print)
calls = [(str(FAULTY), "big", '{"bytes": 200000}')] * 9
asyncio.run(record_calls(recorder, calls, None))
recorder.close()
"""


def test_a_write_error_ends_the_recording_with_why(tmp_path: Path) -> None:
    """With ``ulimit -f 1024`` the note said "File too large", but the recording read as cut
    off (``aro-tui stopped while recording``), the real cause recorded nowhere."""
    sessions = tmp_path / "sessions"
    result = subprocess.run(
        [sys.executable, "-c", WRITE_UNTIL_TOO_LARGE, str(sessions)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(UNIT_TESTS)},
        timeout=120,
        check=True,
    )
    [path] = sessions.glob("*.jsonl")
    assert f"recording to {path} stopped: [Errno 27] File too large (writing exchange #" in (
        result.stdout
    )
    session = read_session(path)
    assert session.stopped is not None and "File too large (writing exchange #" in session.stopped
    lost = int(session.stopped.rpartition("#")[2].rstrip(")"))
    assert [exchange.number for exchange in session.exchanges] == list(range(1, lost))
    assert session.warnings == [
        f"recording stopped: {session.stopped}; nothing after that was recorded"
    ]  # the part of the failed line was cut away: no damaged line
    assert all(len(e.to_exchange().response_bytes or b"") > 200_000 for e in session.exchanges)

    listed = _run(sessions, ["sessions"])
    assert f"! {path.stem}: recording stopped: [Errno 27] File too large" in listed
    assert "cut off" not in listed
    [info] = list_sessions(sessions)
    assert (info.complete, info.recording, info.exchanges) == (False, False, lost - 1)
    summary = _run(sessions, ["open", path.stem, "--summary"])
    assert "(recording stopped early: see the warnings below)" in summary
    assert "warning: recording stopped: [Errno 27] File too large" in summary
    assert "cut off" not in summary


def _record_spilled(path: Path, block_second_body: bool) -> tuple[SessionRecorder, list[str]]:
    """Three big calls of the faulty plugin, each spilled; the second's side file refused."""
    lost: list[str] = []
    errors: list[str] = []
    recorder = SessionRecorder(path, spill_bytes=1024, on_error=errors.append)
    recorder.on_body_lost = lost.append

    async def session() -> None:
        host = PluginHost(recorder.observer())
        try:
            await _call_big(host, 1, 5000)
            recorder_drained(recorder, exchanges=1)
            if block_second_body:
                (bodies_dir(path) / "2.response").mkdir()  # in the side file's way
            else:
                bodies_dir(path).chmod(0o555)
            await _call_big(host, 2, 5000)
        finally:
            await host.stop_all()

    asyncio.run(session())
    recorder.close()
    assert errors == []
    return recorder, lost


def test_a_side_file_that_cannot_be_written_loses_only_that_body(tmp_path: Path) -> None:
    """A side file that could not be written stopped the whole recording, though the
    session file itself could still be written."""
    path = tmp_path / "s.jsonl"
    recorder, lost = _record_spilled(path, block_second_body=True)
    assert recorder.error is None
    assert len(lost) == 1 and "the response of exchange #2 could not be written" in lost[0]
    session = read_session(path)
    assert session.warnings == [] and session.ended_at is not None
    assert [exchange.number for exchange in session.exchanges] == [1, 2, 3]
    exchange, why = session.exchanges[1].salvage()
    assert exchange.response_bytes is None and exchange.request_bytes == b'{"bytes": 5000}'
    assert why["response"].startswith("not recorded: [Errno 21] Is a directory")
    assert session.exchanges[2].to_exchange().response_bytes is not None
    [problem] = spilled_body_problems(outline_session(path))
    assert problem.startswith("exchange #2: its response was not recorded ([Errno 21]")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_side_folder_loses_the_bodies_not_the_recording(tmp_path: Path) -> None:
    """``chmod 555 SESSION.bodies``: ``[Errno 13] Permission denied`` stopped it all."""
    path = tmp_path / "s.jsonl"
    try:
        recorder, lost = _record_spilled(path, block_second_body=False)
    finally:
        bodies_dir(path).chmod(0o755)
    assert recorder.error is None and len(lost) == 1 and "Permission denied" in lost[0]
    session = read_session(path)
    assert [exchange.number for exchange in session.exchanges] == [1, 2, 3]
    assert [set(e.salvage()[1]) for e in session.exchanges] == [
        set(),
        {"response"},
        {"response"},
    ]


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_pruning_removes_a_side_folder_whose_session_file_is_gone(tmp_path: Path) -> None:
    """A side folder left without its session file was listed nowhere and never pruned."""
    orphan = tmp_path / "20240101-000000-aaaaaa.bodies"
    orphan.mkdir()
    (orphan / "3.response").write_bytes(b"x" * 1000)
    _age(orphan, 3600)
    fresh = tmp_path / "20240101-000000-bbbbbb.bodies"  # a recording being moved by hand
    fresh.mkdir()
    kept = start_session(Settings(), None, tmp_path)  # the dashboard starting
    kept.close()
    assert not orphan.exists()
    assert fresh.exists()
    assert remove_orphan_bodies(tmp_path, grace_s=0) == [fresh]


def test_pruning_leaves_a_side_folder_a_live_recorder_holds(tmp_path: Path) -> None:
    """The race: a side folder whose file is gone but whose recorder still runs (it notices
    at its next sync or spill) is that recorder's until it stops, not an orphan; and one
    whose session file is there is never one."""
    errors: list[str] = []
    recorder = SessionRecorder(
        tmp_path / "live.jsonl", spill_bytes=1, fsync_interval_s=60, on_error=errors.append
    )
    recorder.record_exchange(_exchange(1))
    recorder_drained(recorder, exchanges=1)
    record_fake_exchanges(tmp_path / "other.jsonl", 1, spill_bytes=1)
    recorder.path.unlink()
    assert remove_orphan_bodies(tmp_path, grace_s=0) == []
    assert prune_sessions(tmp_path, 0, None) == [tmp_path / "other.jsonl"]
    assert bodies_dir(recorder.path).is_dir()
    recorder.close()  # notices, stops, lets go of the side folder
    assert errors == [
        f"recording to {recorder.path} stopped: the file was deleted or moved away while recording"
    ]
    assert remove_orphan_bodies(tmp_path, grace_s=0) == [bodies_dir(recorder.path)]
    assert list(tmp_path.iterdir()) == []


def _exchange(number: int) -> Exchange:
    exchange = Exchange(number, "fake", "echo", b'{"text": "x"}')
    exchange.status = ExchangeStatus.OK
    exchange.response_bytes = b'{"n": %d}' % number
    return exchange
