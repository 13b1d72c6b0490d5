"""plugin.yaml edited while the dashboard runs: a start or restart reads it again."""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import TEST_PLUGINS, make_app, plugin_state, ready_process, wait_until
from test_reload_flow import _noop_answer

from aro_tui.ui.app import AroApp
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList, plugin_prompt

WORKING_PATH = "path: src/"


def _noop_with_second_version(tmp_path: Path) -> Path:
    """The noop plugin, plus ``v2/plugin.py`` that answers differently (unused until
    plugin.yaml points at it)."""
    folder = tmp_path / "Plugins" / "noop"
    shutil.copytree(TEST_PLUGINS / "noop", folder)
    source = (folder / "src" / "plugin.py").read_text()
    (folder / "v2").mkdir()
    (folder / "v2" / "plugin.py").write_text(
        source.replace('return "{}"', """return '{"from": "v2"}'""", 1)
    )
    return folder


def _set_path(folder: Path, path: str, was: str = WORKING_PATH) -> None:
    manifest = folder / "plugin.yaml"
    text = manifest.read_text()
    assert was in text
    manifest.write_text(text.replace(was, path, 1))


def _notes(app: AroApp, text: str) -> list[str]:
    return [n.message for n in app._notifications if text in n.message]


async def test_a_restart_runs_the_module_plugin_yaml_names_now(tmp_path: Path) -> None:
    folder = _noop_with_second_version(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        assert await _noop_answer(pilot, app, 1) == "{}"
        _set_path(folder, "path: v2/")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready again")
        assert '"from": "v2"' in await _noop_answer(pilot, app, 2)


async def test_a_manifest_fixed_after_discovery_starts_with_enter(tmp_path: Path) -> None:
    folder = _noop_with_second_version(tmp_path)
    _set_path(folder, "path: missing/")
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        entry = app.registry["noop"]
        assert plugin_state(app, "noop") == "invalid"
        assert entry.process is None
        plugins = app.main_screen.query_one(PluginList)
        plugins.focus()
        await pilot.press("enter")  # still broken: said once, nothing starts
        await wait_until(pilot, lambda: bool(_notes(app, "noop not started")), "the refusal")
        assert "missing" in _notes(app, "noop not started")[0]
        assert entry.process is None
        docs = " ".join(str(app.main_screen.query_one("#action-doc-text").render()).split())
        assert "cannot run, 1 error: • line 6: provides[0].path:" in docs
        assert 'found "missing/"' in docs
        # Not "Docs come from the running plugin.": it cannot run yet.
        assert docs.endswith("Its docs come from it running, once those are fixed.")
        _set_path(folder, "path: v2/", was="path: missing/")
        plugins.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "the start")
        assert '"from": "v2"' in await _noop_answer(pilot, app, 1)


async def test_a_restart_onto_a_broken_manifest_is_refused_and_the_plugin_keeps_running(
    tmp_path: Path,
) -> None:
    folder = _noop_with_second_version(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        process, first_start = await ready_process(pilot, app, "noop")
        _set_path(folder, "path: missing/")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: bool(_notes(app, "noop not restarted")), "the refusal")
        note = _notes(app, "noop not restarted")[0]
        assert "not restarted: 1 error (provides[0].path" in note and "still runs" in note
        assert process.started_at == first_start
        assert plugin_state(app, "noop") == "ready"
        assert await _noop_answer(pilot, app, 1) == "{}"
        # Every key that asks is answered (the second press said nothing), F6 too, whose
        # row was left saying "restart…".
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: len(_notes(app, "noop not restarted")) == 2, "again")
        await pilot.press("f6")
        await wait_until(pilot, lambda: len(_notes(app, "noop not restarted")) == 3, "f6's")
        await pilot.pause()
        assert "restart…" not in plugin_prompt(app.registry["noop"]).plain
        assert len(app.exchange_log) == 1, "nothing resent"


async def test_with_reload_a_broken_manifest_is_named_once_then_the_fix_restarts(
    tmp_path: Path,
) -> None:
    folder = _noop_with_second_version(tmp_path)
    app = make_app(tmp_path, folder, reload=True, source_poll_s=0.05)
    async with app.run_test(size=(140, 45)) as pilot:
        process, first_start = await ready_process(pilot, app, "noop")
        _set_path(folder, "path: missing/")
        await wait_until(pilot, lambda: bool(_notes(app, "noop not restarted")), "the refusal")
        await pilot.pause(0.4)  # several more scans, each trying again
        assert len(_notes(app, "noop not restarted")) == 1
        assert len(_notes(app, "noop: restarting")) == 1
        assert process.started_at == first_start
        _set_path(folder, "path: v2/", was="path: missing/")
        await wait_until(pilot, lambda: process.started_at != first_start, "the restart")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready again")
        assert '"from": "v2"' in await _noop_answer(pilot, app, 1)


async def test_a_call_that_starts_a_stopped_plugin_reads_plugin_yaml_first(
    tmp_path: Path,
) -> None:
    folder = _noop_with_second_version(tmp_path)
    app = make_app(tmp_path, folder)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("S")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "stopped", "stopped")
        _set_path(folder, "path: v2/")
        assert '"from": "v2"' in await _noop_answer(pilot, app, 1)


async def test_plugins_sharing_a_name_are_both_listed_until_one_is_renamed(
    tmp_path: Path,
) -> None:
    """The second of two plugins named alike vanished from the dashboard without a word."""
    alpha = _noop_with_second_version(tmp_path)
    beta = tmp_path / "Plugins" / "zeta"  # listed after noop
    shutil.copytree(alpha, beta)
    app = make_app(tmp_path, tmp_path / "Plugins")  # one scan: both flagged duplicate-name
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert list(app.registry.entries) == ["noop", "noop (zeta)"]
        assert [plugin_state(app, name) for name in app.registry.entries] == ["invalid"] * 2
        plugins = app.main_screen.query_one(PluginList)
        plugins.focus()
        await pilot.press("down", "enter")  # beta, still named noop: refused
        await wait_until(pilot, lambda: bool(_notes(app, "not started")), "the refusal")
        assert "another plugin here is named noop too" in _notes(app, "not started")[0]
        manifest = beta / "plugin.yaml"
        manifest.write_text(manifest.read_text().replace("name: noop", "name: noop-two"))
        plugins.focus()
        # Alpha first: beta's plugin.yaml is read again, so its new name counts already.
        await pilot.press("up", "enter")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "alpha")
        plugins.focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: plugin_state(app, "noop (zeta)") == "ready", "beta")
