"""A recording gone wrong, said in a few notes: opened damaged, or deleted while recording."""

from __future__ import annotations

import random
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import TEST_PLUGINS, discovery_of, make_app, plugin_state, wait_until
from textual.pilot import Pilot
from textual.widgets import TextArea

from aro_tui.core.session.reader import read_session
from aro_tui.core.session.records import bodies_dir
from aro_tui.ui.app import MAX_START_NOTES, AroApp
from aro_tui.ui.screens.pager import PagerScreen

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from session_recording import record_fake_exchanges


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config and data folders, under ``tmp_path``."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def _damaged_recording(path: Path) -> Path:
    """300 exchanges with 5,000 random bytes written over the middle of the file."""
    record_fake_exchanges(path, 300)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 5000] = random.Random(7).randbytes(5000)
    path.write_bytes(bytes(data))
    return path


async def test_a_damaged_recording_opens_with_a_few_notes_and_lists_every_warning(
    xdg: Path,
) -> None:
    """5,000 random bytes in the middle gave 19 notes, one per warning, covering the screen
    for seconds; the bytes that were not UTF-8 read "str is not valid UTF-8: surrogates not
    allowed"."""
    path = _damaged_recording(xdg / "damaged.jsonl")
    session = read_session(path)
    warnings = session.warnings
    assert len(warnings) > MAX_START_NOTES
    assert not any("surrogates" in warning for warning in warnings)
    assert any("not UTF-8 text (byte 0x" in warning for warning in warnings)
    config = replace(
        make_app(xdg, TEST_PLUGINS).config, user_files=True, open_session=path, autostart=False
    )
    app = AroApp(config, discovery_of(TEST_PLUGINS / "faulty"))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(
            pilot, lambda: len(app.exchange_log) == len(session.exchanges), "the recording"
        )
        await app.workers.wait_for_complete()
        await pilot.pause()
        notes = [note.message for note in app._notifications]
        assert notes[: MAX_START_NOTES - 1] == warnings[: MAX_START_NOTES - 1]
        more = len(warnings) - (MAX_START_NOTES - 1)
        assert notes[MAX_START_NOTES - 1].startswith(f"…and {more} more problems")
        assert "ctrl+p → Show start-up problems" in notes[MAX_START_NOTES - 1]
        assert len(notes) == MAX_START_NOTES
        app.action_show_start_problems()
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the list")
        listed = app.screen.query_one("#pager-text", TextArea).text
    assert all(warning in listed for warning in warnings)


async def _big_calls(app: AroApp, pilot: Pilot[None], count: int) -> None:
    """``count`` calls of faulty's ``big`` (300,000 bytes each: spilled), made as a user
    does, each waited for in the log."""
    screen = app.main_screen
    await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "faulty ready")
    screen.drafts[("faulty", "big")] = ('{"bytes": 300000}', "draft")
    for _ in range(count):
        expected = len(app.exchange_log) + 1
        screen.run_plugin_action("faulty", "big")
        await wait_until(pilot, lambda: len(app.exchange_log) == expected, "the call")  # noqa: B023


async def test_a_recording_deleted_while_the_dashboard_runs_is_noticed_and_said(
    xdg: Path,
) -> None:
    """``rm -rf SESSION.jsonl SESSION.bodies`` between calls went unnoticed: the later calls
    went into the deleted file and a side folder made again beside no file."""
    config = replace(make_app(xdg, TEST_PLUGINS).config, user_files=True, record=True)
    app = AroApp(config, discovery_of(TEST_PLUGINS / "faulty"))
    async with app.run_test(size=(140, 45)) as pilot:
        recorder = app.recorder
        assert recorder is not None
        await _big_calls(app, pilot, 2)
        await wait_until(pilot, lambda: bodies_dir(recorder.path).is_dir(), "the side folder")
        recorder.path.unlink()
        shutil.rmtree(bodies_dir(recorder.path))
        await _big_calls(app, pilot, 3)
        stopped = f"recording to {recorder.path} stopped: the file was deleted"
        said = lambda: any(stopped in note.message for note in app._notifications)  # noqa: E731
        await wait_until(pilot, said, "the note")
        started_quitting = time.monotonic()
        await app.action_quit()
    assert time.monotonic() - started_quitting < 10  # not the recorder's 30 s close timeout
    assert not bodies_dir(recorder.path).exists()
    assert list(recorder.path.parent.iterdir()) == []


async def test_quitting_just_after_the_recording_was_deleted_is_quick(xdg: Path) -> None:
    """The recorder notices at close, on its thread, and says so: that waited for the event
    loop, itself waiting for the recorder to close, and quitting took 30 s."""
    config = replace(
        make_app(xdg, TEST_PLUGINS).config, user_files=True, record=True, autostart=False
    )
    app = AroApp(config, discovery_of(TEST_PLUGINS / "faulty"))
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        recorder = app.recorder
        assert recorder is not None
        recorder.path.unlink()
        started_quitting = time.monotonic()
        await app.action_quit()
    assert time.monotonic() - started_quitting < 10
    assert recorder.error is not None and "the file was deleted" in recorder.error
