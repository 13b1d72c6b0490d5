"""A plugin author iterating: restarts, a broken and fixed plugin.yaml, a call made while the
plugin starts. The chosen action, its input and every key typed stay where the user put them."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from helpers import TEST_PLUGINS, make_app, plugin_state, wait_until
from textual.pilot import Pilot
from textual.widgets import TextArea

from aro_tui.ui.app import AroApp
from aro_tui.ui.widgets.request.input_editor import InputEditor
from aro_tui.ui.widgets.sidebar.action_list import ActionList
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList, plugin_prompt

NAME = "iterating"

MANIFEST = f"""name: {NAME}
version: 0.1.0
provides:
  - type: python-plugin
    path: src/
    actions: [echo, shout, ghost]
"""
"""plugin.yaml as a plugin author leaves it mid-iteration: its list lags behind the code's."""

SOURCE = """
import time
time.sleep(IMPORT_DELAY_S)

def aro_plugin_info():
    return {"name": "iterating", "actions": ["echo", "yell", "lower", "slow", "ghost"]}

def aro_action_echo(input_json):
    return input_json

def aro_action_yell(input_json):
    return input_json.upper()

def aro_action_lower(input_json):
    \"\"\"Lower-case the text.\"\"\"
    return input_json.lower()

def aro_action_slow(input_json):
    time.sleep(5)
    return "{}"
"""
"""The code: ``ghost`` is declared but has no function; ``echo`` is plugin.yaml's first."""


def _write_source(folder: Path, import_delay_s: float, extra: str = "") -> None:
    code = SOURCE.replace("IMPORT_DELAY_S", repr(import_delay_s)) + extra
    (folder / "src" / "plugin.py").write_text(code)


def _iterating_plugin(tmp_path: Path, import_delay_s: float = 0.0) -> Path:
    folder = tmp_path / "Plugins" / NAME
    (folder / "src").mkdir(parents=True)
    (folder / "plugin.yaml").write_text(MANIFEST)
    _write_source(folder, import_delay_s)
    return folder


def _notes(app: AroApp, text: str) -> list[str]:
    return [n.message for n in app._notifications if text in n.message]


def _listed(app: AroApp) -> list[str]:
    actions = app.main_screen.query_one(ActionList)
    return [str(option.id) for option in actions.options]


async def _choose_lower_and_type(pilot: Pilot[None], app: AroApp, text: str) -> InputEditor:
    """Highlight ``lower`` with the keys (the list starts on echo), Enter, ctrl+a, type."""
    await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "ready")
    screen = app.main_screen
    screen.query_one(ActionList).focus()
    await pilot.press("down", "down")
    assert screen.current_action == "lower"
    await pilot.press("enter", "ctrl+a", *text)
    editor = screen.query_one(InputEditor)
    assert editor.text == text
    return editor


async def test_typing_on_through_a_reload_stays_in_the_chosen_actions_input(
    tmp_path: Path,
) -> None:
    """The restart's list, plugin.yaml's until the code told its own, lacked ``lower``: its
    first action (echo) was highlighted, and the keys typed next went into echo's input."""
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder, reload=True, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        editor = await _choose_lower_and_type(pilot, app, '{"text": "LOWER')
        _write_source(folder, import_delay_s=1.0)  # the save: --reload restarts it
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "starting", "the restart")
        await pilot.press(*" draft")
        assert screen.current_action == "lower"
        assert editor.border_title == "Input · lower"
        # While it starts, the actions are the ones the code reported, not plugin.yaml's.
        assert _listed(app) == ["echo", "yell", "lower", "slow", "ghost"]
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "ready again")
        await pilot.press(*'"}')
        assert screen.current_action == "lower"
        assert screen.query_one(ActionList).highlighted_name == "lower"
        assert editor.text == '{"text": "LOWER draft"}'
        assert (NAME, "echo") not in screen.drafts


async def test_stop_then_start_and_restart_keep_the_chosen_action(tmp_path: Path) -> None:
    """Without --reload: F4 then R, or S then s, moved the selection to echo."""
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        editor = await _choose_lower_and_type(pilot, app, '{"text": "kept"}')
        plugins = screen.query_one(PluginList)
        for keys in (("R",), ("S", "s")):
            plugins.focus()
            await pilot.press(*keys)
            await pilot.pause()
            assert screen.current_action == "lower", keys
            await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "ready")
            assert screen.current_action == "lower", keys
            assert screen.query_one(ActionList).highlighted_name == "lower"
            assert editor.text == '{"text": "kept"}'
            assert editor.border_title == "Input · lower"


async def test_a_crashed_plugin_lists_the_actions_its_code_last_reported(tmp_path: Path) -> None:
    """While crashed, the list showed plugin.yaml's stale actions (echo, shout, ghost)."""
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await _choose_lower_and_type(pilot, app, "{}")
        _write_source(folder, 0.0, extra="\nraise RuntimeError('half-edited')\n")
        screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "crashed", "the crash")
        assert _listed(app) == ["echo", "yell", "lower", "slow", "ghost"]
        assert screen.current_action == "lower"


def _break_manifest(folder: Path) -> None:
    manifest = folder / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("version: 0.1.0", "version: [0.1.0", 1))


async def _broken_and_fixed_while_stopped(pilot: Pilot[None], app: AroApp, folder: Path) -> None:
    """Running; plugin.yaml broken; S, then s: refused, the row says invalid; then fixed."""
    await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "ready")
    _break_manifest(folder)
    plugins = app.main_screen.query_one(PluginList)
    plugins.focus()
    await pilot.press("S")
    await wait_until(pilot, lambda: plugin_state(app, NAME) == "stopped", "stopped")
    await pilot.press("s")
    await wait_until(pilot, lambda: plugin_state(app, NAME) == "invalid", "the refusal")
    assert "YAML syntax error" in plugin_prompt(app.registry[NAME]).plain
    (folder / "plugin.yaml").write_text(MANIFEST)


async def test_s_and_shift_r_read_a_fixed_plugin_yaml_again(tmp_path: Path) -> None:
    """After the fix, s and R still said "cannot run: YAML syntax error at line 2": only
    Enter read the file again."""
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        await _choose_lower_and_type(pilot, app, "{}")
        for key in ("s", "R"):
            await _broken_and_fixed_while_stopped(pilot, app, folder)
            app.main_screen.query_one(PluginList).focus()
            await pilot.press(key)
            await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", f"{key} starts")
            assert not _notes(app, "cannot run"), key


async def test_ctrl_r_reads_a_fixed_plugin_yaml_again_and_sends(tmp_path: Path) -> None:
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await _choose_lower_and_type(pilot, app, '{"text": "Fixed"}')
        await _broken_and_fixed_while_stopped(pilot, app, folder)
        screen.query_one(InputEditor).text_area.focus()
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        await wait_until(pilot, lambda: screen.shown_number == 1, "it shown")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert json.loads(screen.query_one("#response-text", TextArea).text) == {"text": "fixed"}
        assert not _notes(app, "cannot run")


async def test_a_call_plugin_yaml_still_refuses_says_it_was_not_sent(tmp_path: Path) -> None:
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await _choose_lower_and_type(pilot, app, "{}")
        await _broken_and_fixed_while_stopped(pilot, app, folder)
        _break_manifest(folder)
        refusals = len(_notes(app, "not started"))
        screen.query_one(InputEditor).text_area.focus()
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(_notes(app, "not started")) > refusals, "it")
        await pilot.pause()
        card = str(screen.query_one("#response-card").render())
        assert f"not sent {NAME} · lower: 1 error (YAML syntax error at line 2" in card
        assert len(app.exchange_log) == 0


async def test_a_call_made_while_its_plugin_starts_says_it_waits_for_the_start(
    tmp_path: Path,
) -> None:
    """ctrl+r during a 5 s import changed nothing on screen until the plugin was ready."""
    folder = _iterating_plugin(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        editor = await _choose_lower_and_type(pilot, app, '{"text": "Waited"}')
        _write_source(folder, import_delay_s=1.5)
        screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "starting", "the restart")
        editor.text_area.focus()
        await pilot.press("ctrl+r")
        await pilot.pause()
        card = str(screen.query_one("#response-card").render())
        assert f"waiting {NAME} · lower for the plugin to start" in card
        request = screen.query_one("#request-text", TextArea).text
        assert json.loads(request) == {"text": "Waited"}
        assert editor.border_subtitle == "waiting for start"
        assert plugin_state(app, NAME) == "starting"  # all of it seen before the start ended
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        await wait_until(pilot, lambda: screen.shown_number == 1, "it shown")
        await app.workers.wait_for_complete()
        await pilot.pause()
        response = screen.query_one("#response-text", TextArea).text
        assert json.loads(response) == {"text": "waited"}
        assert editor.border_subtitle == ""


async def test_an_action_without_its_function_says_so_in_the_input_status(
    tmp_path: Path,
) -> None:
    """It said "the action has no docstring to make a template from"."""
    app = make_app(tmp_path, _iterating_plugin(tmp_path))
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "ready")
        screen.query_one(ActionList).focus()
        await pilot.press("end")
        assert screen.current_action == "ghost"
        status = str(screen.query_one("#input-status").render())
        assert "the module defines no aro_action_ghost()" in status
        assert "docstring" not in status


async def test_a_plugin_copied_in_under_a_name_taken_is_listed_invalid(tmp_path: Path) -> None:
    """It was listed as stopped, "Docs appear once the plugin has started (Enter starts
    it)", and Enter was then refused: another plugin here is named noop too."""
    plugins = tmp_path / "Plugins"
    first = plugins / "noop"
    shutil.copytree(TEST_PLUGINS / "noop", first)
    app = make_app(tmp_path, first, source_poll_s=0.05)
    app.config = replace(app.config, watch_plugins_dir=plugins)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "noop ready")
        shutil.copytree(first, plugins / "noop-copy")
        copy = "noop (noop-copy)"
        await wait_until(pilot, lambda: copy in app.registry.entries, "the copy listed")
        assert plugin_state(app, copy) == "invalid"
        row = plugin_prompt(app.registry[copy]).plain
        assert "invalid" in row and "another plugin has the same name" in row
        assert plugin_state(app, "noop") == "ready"


async def test_a_plugin_renamed_to_a_name_taken_says_so_in_its_row(tmp_path: Path) -> None:
    plugins = tmp_path / "Plugins"
    shutil.copytree(TEST_PLUGINS / "noop", plugins / "noop")
    other = plugins / "other"
    shutil.copytree(TEST_PLUGINS / "noop", other)
    manifest = other / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("name: noop", "name: other", 1))
    app = make_app(tmp_path, plugins)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "noop ready")
        manifest.write_text(manifest.read_text().replace("name: other", "name: noop", 1))
        listed = app.main_screen.query_one(PluginList)
        listed.focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: bool(_notes(app, "other not started")), "the refusal")
        assert plugin_state(app, "other") == "invalid"
        assert "another plugin has the same name" in plugin_prompt(app.registry["other"]).plain
