"""A plugin edited while it runs: the dashboard says the process runs old code, and restarts
it by itself with --reload."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import (
    TEST_PLUGINS,
    make_app,
    plugin_state,
    ready_process,
    wait_until,
    write_plugin_folder,
)
from textual.widgets import TextArea

from aro_tui.core.plugins import source_changes
from aro_tui.ui.app import AroApp
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList, plugin_prompt

OLD_ANSWER = 'return "{}"'
NEW_ANSWER = """return '{"version": 2}'"""


def _editable_noop(tmp_path: Path) -> Path:
    folder = tmp_path / "Plugins" / "noop"
    shutil.copytree(TEST_PLUGINS / "noop", folder)
    assert OLD_ANSWER in (folder / "src" / "plugin.py").read_text()
    return folder


def _edit(folder: Path) -> None:
    source = folder / "src" / "plugin.py"
    source.write_text(source.read_text().replace(OLD_ANSWER, NEW_ANSWER, 1))


async def _noop_answer(pilot, app: AroApp, number: int) -> str:  # type: ignore[no-untyped-def]
    screen = app.main_screen
    screen.send("noop", "noop", "{}")
    await wait_until(pilot, lambda: len(app.exchange_log) == number, f"exchange #{number}")
    await wait_until(pilot, lambda: screen.shown_number == number, "it shown")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen.query_one("#response-text", TextArea).text


async def test_an_edit_is_flagged_and_shift_r_runs_the_new_code(tmp_path: Path) -> None:
    folder = _editable_noop(tmp_path)
    app = make_app(tmp_path, folder, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        entry = app.registry["noop"]
        _edit(folder)
        await wait_until(pilot, lambda: entry.changed_sources == ("src/plugin.py",), "the flag")
        assert "ready · changed plugin.py" in plugin_prompt(entry).plain
        assert await _noop_answer(pilot, app, 1) == "{}"  # the process still runs the old code
        assert entry.changed_sources  # and says so until it restarts
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: entry.changed_sources == (), "the restart")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready again")
        assert '"version": 2' in await _noop_answer(pilot, app, 2)


async def test_with_reload_an_edit_restarts_the_plugin_by_itself(tmp_path: Path) -> None:
    folder = _editable_noop(tmp_path)
    app = make_app(tmp_path, folder, reload=True, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        process, first_start = await ready_process(pilot, app, "noop")
        _edit(folder)
        await wait_until(pilot, lambda: process.started_at != first_start, "a restart")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready again")
        assert app.registry["noop"].changed_sources == ()
        assert '"version": 2' in await _noop_answer(pilot, app, 1)


async def test_with_reload_an_edit_that_does_not_import_waits_for_the_fix(
    tmp_path: Path,
) -> None:
    folder = _editable_noop(tmp_path)
    source = folder / "src" / "plugin.py"
    working = source.read_text()
    app = make_app(tmp_path, folder, reload=True, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        source.write_text(working + "\ndef broken(:\n")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "crashed", "the crash")
        await wait_until(
            pilot,
            lambda: any("SyntaxError" in n.message for n in app._notifications),
            "the import error named",
        )
        source.write_text(working.replace(OLD_ANSWER, """return '{"version": 3}'""", 1))
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "the fixed start")
        assert '"version": 3' in await _noop_answer(pilot, app, 1)


async def test_a_folder_too_large_to_scan_whole_is_named_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _editable_noop(tmp_path)
    monkeypatch.setattr(source_changes, "MAX_ENTRIES", 2)  # the copy holds 3 entries
    app = make_app(tmp_path, folder, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")

        def told() -> int:
            return sum("are not noticed" in n.message for n in app._notifications)

        await wait_until(pilot, lambda: told() == 1, "the note")
        await pilot.pause(0.3)  # several more scans
        assert told() == 1


async def test_a_deleted_file_is_flagged_until_the_restart(tmp_path: Path) -> None:
    folder = _editable_noop(tmp_path)
    helper = folder / "src" / "helper.py"
    helper.write_text("WORDS = 1\n")
    app = make_app(tmp_path, folder, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        entry = app.registry["noop"]
        screen = app.main_screen
        await wait_until(pilot, lambda: "noop" in screen.source_baselines, "the first scan")
        helper.unlink()
        await wait_until(pilot, lambda: entry.deleted_sources == ("src/helper.py",), "the flag")
        assert "ready · deleted helper.py" in plugin_prompt(entry).plain
        assert any("src/helper.py was deleted" in n.message for n in app._notifications)
        screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready again")
        await wait_until(pilot, lambda: not entry.sources_stale, "nothing stale")
        await pilot.pause(0.3)  # later scans measure against the new start's files
        assert entry.deleted_sources == ()


NOOP_SOURCE = 'def aro_action_noop(input_json):\n    return "{}"\n'


async def test_a_plugin_folder_copied_in_while_the_dashboard_is_open_is_listed(
    tmp_path: Path,
) -> None:
    """A plugin copied into the plugins folder never appeared: the dashboard had to be
    quit and opened again."""
    plugins = tmp_path / "Plugins"
    first = write_plugin_folder(plugins / "first", "first", NOOP_SOURCE)
    app = make_app(tmp_path, first, source_poll_s=0.05)
    app.config = replace(app.config, watch_plugins_dir=plugins)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "first") == "ready", "first ready")
        (plugins / "half-copied").mkdir()  # no plugin.yaml yet: not a plugin folder
        write_plugin_folder(plugins / "second", "second", NOOP_SOURCE)
        await wait_until(pilot, lambda: "second" in app.registry.entries, "the new plugin")
        assert list(app.registry.entries) == ["first", "second"]
        listed = app.main_screen.query_one(PluginList)
        assert [option.id for option in listed.options] == ["first", "second"]
        assert any("New plugin second in " in n.message for n in app._notifications)
        listed.focus()
        listed.highlighted = 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: plugin_state(app, "second") == "ready", "it starts")
        await pilot.pause(0.3)  # more scans: it is listed once
        assert list(app.registry.entries) == ["first", "second"]


SELF_WRITER = """
import json, os
HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "imports.log"), "a") as log:
    log.write("import\\n")
with open(os.path.join(HERE, "state.json"), "w") as state:  # its own state, at import
    json.dump({"ready": True}, state)

def aro_plugin_info():
    return {"name": "writer", "actions": ["cache"]}

def aro_action_cache(input_json):
    with open(os.path.join(HERE, "cache.json"), "w") as cache:  # a results cache, per call
        cache.write(input_json)
    return "{}"
"""


async def test_files_a_plugin_writes_itself_do_not_restart_it(tmp_path: Path) -> None:
    """A plugin writing state.json as it imported was restarted by --reload every second,
    for ever (each start wrote it again), and a cache.json written in a call restarted it
    after the call, dropping what it had loaded. An edit of its code still restarts it."""
    folder = write_plugin_folder(tmp_path / "Plugins" / "writer", "writer", SELF_WRITER)
    imports = folder / "src" / "imports.log"
    app = make_app(tmp_path, folder, reload=True, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        process, first_start = await ready_process(pilot, app, "writer")
        app.main_screen.send("writer", "cache", '{"n": 1}')
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        await pilot.pause(0.5)  # ten scans
        assert imports.read_text().count("import") == 1
        assert process.started_at == first_start and app.registry["writer"].changed_sources == ()
        source = folder / "src" / "plugin.py"
        source.write_text(source.read_text() + "\n# edited\n")
        await wait_until(pilot, lambda: process.started_at != first_start, "a restart")
        await wait_until(pilot, lambda: plugin_state(app, "writer") == "ready", "ready again")
        await pilot.pause(0.5)
        assert imports.read_text().count("import") == 2  # once for the edit, not in a loop
