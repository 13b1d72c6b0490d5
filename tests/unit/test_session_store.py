"""The sessions folder: listing, finding by id, pruning to the configured limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.session.records import bodies_dir
from aro_tui.core.session.store import (
    list_sessions,
    prune_sessions,
    resolve_session,
    sessions_dir,
    start_session,
    summarize_session,
)
from aro_tui.core.settings import Settings


def _session(folder: Path, name: str, mtime: float, statuses: tuple[str, ...] = ("ok",)) -> Path:
    recorder = SessionRecorder(folder / f"{name}.jsonl", spill_bytes=20)
    for number, status in enumerate(statuses, start=1):
        exchange = Exchange(number, f"plugin-{name}", "echo", b"{}")
        exchange.status = ExchangeStatus(status)
        exchange.response_bytes = b'{"body": "spilled to the side folder"}'
        recorder.record_exchange(exchange)
    recorder.close()
    os.utime(recorder.path, (mtime, mtime))
    return recorder.path


def test_sessions_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert sessions_dir() == tmp_path / "aro-tui" / "sessions"


def test_list_and_summarize(tmp_path: Path) -> None:
    _session(tmp_path, "20250101-000000-aaaaaa", 1, ("ok", "plugin_error", "crashed"))
    cut = _session(tmp_path, "20250102-000000-bbbbbb", 2, ("ok",))
    cut.write_bytes(cut.read_bytes().rsplit(b"\n", 2)[0] + b"\n")  # drop the end record
    (tmp_path / "junk.jsonl").write_text("not a session\n")
    (tmp_path / "notes.txt").write_text("ignored")
    infos = {info.session_id: info for info in list_sessions(tmp_path)}
    assert set(infos) == {"20250101-000000-aaaaaa", "20250102-000000-bbbbbb", "junk"}
    first = infos["20250101-000000-aaaaaa"]
    assert (first.exchanges, first.errors, first.complete) == (3, 2, True)
    assert first.plugins == ["plugin-20250101-000000-aaaaaa"]
    assert first.size_bytes > first.path.stat().st_size  # includes spilled bodies
    second = infos["20250102-000000-bbbbbb"]
    assert (second.exchanges, second.errors, second.complete) == (1, 0, False)
    assert infos["junk"].problem is not None and "not JSON" in infos["junk"].problem
    assert summarize_session(tmp_path / "missing.jsonl").problem is not None


def test_resolve_by_path_id_prefix_and_last(tmp_path: Path) -> None:
    older = _session(tmp_path, "20250101-000000-aaaaaa", 1)
    newer = _session(tmp_path, "20250101-000001-abcdef", 2)
    assert resolve_session(str(older), tmp_path) == older
    assert resolve_session("20250101-000000-aaaaaa", tmp_path) == older
    assert resolve_session("20250101-000001", tmp_path) == newer
    assert resolve_session("last", tmp_path) == newer
    with pytest.raises(LookupError, match="matches 2 sessions"):
        resolve_session("20250101", tmp_path)
    with pytest.raises(LookupError, match="no session 'zzz'"):
        resolve_session("zzz", tmp_path)


def test_prune_by_count_deletes_the_oldest_with_their_bodies(tmp_path: Path) -> None:
    paths = [_session(tmp_path, f"s{index}", index + 1) for index in range(4)]
    assert bodies_dir(paths[0]).is_dir()
    deleted = prune_sessions(tmp_path, max_count=2, max_total_bytes=None)
    assert deleted == paths[:2]
    assert not bodies_dir(paths[0]).exists()
    assert [info.path for info in list_sessions(tmp_path)] == paths[2:]


def test_prune_by_bytes_keeps_the_active_session(tmp_path: Path) -> None:
    paths = [_session(tmp_path, f"s{index}", index + 1) for index in range(3)]
    one = summarize_session(paths[0]).size_bytes
    deleted = prune_sessions(tmp_path, None, max_total_bytes=one, keep=frozenset({paths[0]}))
    assert deleted == paths[1:]
    assert paths[0].exists()


def test_start_session_prunes_to_leave_room_for_the_new_one(tmp_path: Path) -> None:
    for index in range(3):
        _session(tmp_path, f"s{index}", index + 1)
    recorder = start_session(Settings(sessions_max_count=2), Path("/p"), tmp_path)
    recorder.close()
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == sorted(
        ["s2.jsonl", recorder.path.name]
    )
