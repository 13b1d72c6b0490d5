"""A keymap in settings.json gives bindings other keys; what it names wrong is said."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import BUNDLED, make_app, plugin_state, wait_until
from textual.widgets import DataTable

from aro_tui.ui.app import AroApp
from aro_tui.ui.screens.help import HelpScreen
from aro_tui.ui.widgets.request.input_editor import InputEditor

TEXT = "plugin-python-text"


async def test_a_keymap_remaps_run_and_names_what_it_could_not_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs said a keymap remaps the ids F1 lists, but nothing read one."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (config / "aro-tui").mkdir(parents=True)
    keymap = {"run": "ctrl+e", "no-such-binding": "f12", "log.rerun": 5}
    (config / "aro-tui" / "settings.json").write_text(json.dumps({"keymap": keymap}))
    base = make_app(tmp_path, BUNDLED)
    app = AroApp(replace(base.config, user_files=True, record=False), base.registry.discovery)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "ready")
        screen.select_plugin(TEXT)
        screen.select_action("hash")
        screen.query_one(InputEditor).load('{"text": "b"}', "draft")
        await pilot.press("ctrl+r")  # ctrl+r was run's key; the keymap gave run ctrl+e
        await pilot.pause(0.3)
        assert len(app.exchange_log) == 0
        await pilot.press("ctrl+e")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        problems = "\n".join(app.start_problems)
        assert 'keymap: no key binding has the id "no-such-binding"' in problems
        assert 'keymap "log.rerun": 5 is not keys' in problems
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        table = app.screen.query_one("#help-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert ["dashboard", "^e", "Run", "run"] in rows  # not ^r / f5


async def test_help_lists_the_logs_oldest_and_newest_keys(tmp_path: Path) -> None:
    """docs/dashboard.md gave ctrl+home / ctrl+end for the log's ends; F1 did not list them."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        table = app.screen.query_one("#help-table", DataTable)
        ids = {
            str(table.get_row_at(i)[3]): str(table.get_row_at(i)[2]) for i in range(table.row_count)
        }
        assert ids["log.oldest"] == "Oldest exchange" and ids["log.newest"] == "Newest exchange"


def _keymapped_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keymap: object) -> AroApp:
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (config / "aro-tui").mkdir(parents=True)
    (config / "aro-tui" / "settings.json").write_text(json.dumps({"keymap": keymap}))
    base = make_app(tmp_path, BUNDLED)
    return AroApp(replace(base.config, user_files=True, record=False), base.registry.discovery)


async def test_keys_that_are_no_keys_and_keys_taken_from_another_binding_are_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Ctrl+E" left run with no working key and no word; "ctrl+s" took save's only key."""
    keymap = {"run": "Ctrl+E", "cancel": "control+g", "export": "ctrl+s"}
    app = _keymapped_app(tmp_path, monkeypatch, keymap)
    async with app.run_test(size=(140, 45)):
        problems = "\n".join(app.start_problems)
        assert 'keymap "run": "Ctrl" in "Ctrl+E" is no modifier' in problems
        assert 'keymap "cancel": "control" in "control+g" is no modifier' in problems
        assert 'keymap "export": ctrl+s is "save-response"\'s key too, where both apply' in problems
        assert app._keymap == {}  # none of them is applied


async def test_a_key_taken_from_another_binding_works_once_that_one_is_moved_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "log.copy": "f2" went to the log, but f2 stayed the screen's key for the editor (it
    acts first): the log could no longer copy, by c or by f2."""
    refused = _keymapped_app(tmp_path / "a", monkeypatch, {"log.copy": "f2"})
    async with refused.run_test(size=(140, 45)):
        problems = "\n".join(refused.start_problems)
        assert 'keymap "log.copy": f2 is "focus.input-f2"\'s key too' in problems
        assert 'give "focus.input-f2" another key in the keymap as well' in problems
        assert refused._keymap == {}
    app = _keymapped_app(tmp_path / "b", monkeypatch, {"log.copy": "f2", "focus.input-f2": "f12"})
    async with app.run_test(size=(140, 45)) as pilot:
        assert app.start_problems == []
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "ready")
        screen.send(TEXT, "hash", '{"text": "copy me"}')
        await wait_until(pilot, lambda: screen.shown_number == 1, "the exchange")
        await pilot.press("f3")
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("f2")
        assert len(copied) == 1 and "sha256" in copied[0]
        await pilot.press("f12")
        assert app.focused is screen.query_one(InputEditor).text_area


async def test_help_moves_off_f1_and_the_help_screen_tells_the_keys_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remapping help left f1 opening it (a second f1 binding); F1's header and the editor's
    rows named keys the keymap had given away."""
    app = _keymapped_app(tmp_path, monkeypatch, {"help": "f12", "run": "ctrl+e"})
    async with app.run_test(size=(140, 45)) as pilot:
        assert app.start_problems == []
        await pilot.press("f1")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f12")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        flow = str(app.screen.query_one("#help-flow").render())
        assert flow.endswith("edit → ctrl+e")
        table = app.screen.query_one("#help-table", DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        line_end = next(row for row in rows if row[2] == "Cursor line end")
        assert "^e" not in line_end[1]  # ctrl+e runs now, even in the editor


async def test_the_palette_opens_on_commands_that_only_show(tmp_path: Path) -> None:
    """The palette keeps its opening list, top row highlighted, until a query's results
    arrive: Enter right after a query that matched nothing ran that row, "Run faulty echo"
    (and "Run faulty exit" was four rows down)."""
    from aro_tui.ui.commands import DashboardCommands

    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "ready")
        provider = DashboardCommands(app.main_screen)
        titles = [str(hit.text) async for hit in provider.discover()]
        assert titles[0] == "Show keys (help)"
        first_acting = next(i for i, t in enumerate(titles) if t.startswith(("Run ", "Stop ")))
        shows = titles[:first_acting]
        assert all(
            t.startswith(("Show", "Filter log", "Switch theme", "Edit", "Clear the log"))
            for t in shows
        )
        assert any(t.startswith("Run plugin-python-text") for t in titles)  # still offered
