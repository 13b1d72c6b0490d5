"""Plugin lifecycle from the keyboard: rapid restarts, host exceptions, crash reasons."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psutil
import pytest
from helpers import (
    BUNDLED,
    TEST_PLUGINS,
    make_app,
    plugin_state,
    ready_process,
    wait_until,
    write_plugin_folder,
)
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import Log

from aro_tui.commands import dashboard
from aro_tui.core.host.process import PluginProcess
from aro_tui.ui.widgets.sidebar.action_list import ActionDoc
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList, plugin_prompt

TEXT = "plugin-python-text"


def _doc_text(app: object) -> str:
    doc = app.main_screen.query_one("#action-doc-text")  # type: ignore[attr-defined]
    return str(doc.render())


def _row_text(app: object, name: str) -> str:
    plugins = app.main_screen.query_one(PluginList)  # type: ignore[attr-defined]
    option = plugins.get_option(name)
    return str(option.prompt)


async def test_rapid_restart_and_typing_in_the_plugin_list_never_crashes(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press(*"RRRRR")
        await pilot.press(*"restarts", *"SRSsRs")
        await pilot.press(*"RRR")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert plugin_state(app, TEXT) in {"ready", "stopped"}
        await pilot.press("R")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "ready again")


async def test_an_exception_from_the_host_marks_the_plugin_crashed_and_the_app_stays_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_start(self: PluginProcess) -> None:
        raise TypeError("PluginProcess.start() half refactored")

    monkeypatch.setattr(PluginProcess, "start", broken_start)
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "crashed", "marked crashed")
        assert app.is_running
        messages = [n.message for n in app._notifications]
        assert any("TypeError" in m and "half refactored" in m for m in messages)
        assert "crashed TypeError" in _row_text(app, TEXT)
        assert "half refactored" in _doc_text(app)
        # A call (which starts the plugin) fails the same way, and the app is still up.
        app.main_screen.run_plugin_action(TEXT, "hash")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and plugin_state(app, TEXT) == "crashed"


async def test_a_crashed_plugin_says_why_in_its_row_and_docs(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "plugin ready")
        app.main_screen.run_plugin_action("faulty", "os-exit")
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "crashed", "crashed")
        await pilot.pause()
        assert "exit" in _row_text(app, "faulty")
        doc = _doc_text(app)
        assert "crashed" in doc.lower() and "exit code" in doc
        assert isinstance(app.main_screen.query_one(ActionDoc), ActionDoc)


def test_an_unhandled_exception_makes_aro_tui_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aro_tui.ui.app import AroApp

    def run_and_fail(self: AroApp, *args: object, **kwargs: object) -> None:
        self._return_code = 1

    monkeypatch.setattr(AroApp, "run", run_and_fail)
    assert dashboard.run_dashboard([str(BUNDLED.parent)]) == 1


async def test_f2_and_i_reach_the_input_editor(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        editor = app.main_screen.query_one("#input-text")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("f2")
        assert app.focused is editor
        await pilot.press("f3")
        assert app.focused is app.main_screen.query_one("#log-table")
        app.main_screen.query_one("#actions").focus()
        await pilot.press("i")
        assert app.focused is editor


def _footer_keys(app: object) -> set[str]:
    bindings = app.screen.active_bindings  # type: ignore[attr-defined]
    return {key for key, active in bindings.items() if active.binding.show}


async def test_the_footer_offers_start_or_stop_as_the_plugin_is(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        app.main_screen.query_one(PluginList).focus()
        await pilot.pause()
        assert "S" in _footer_keys(app) and "s" not in _footer_keys(app)
        await pilot.press("S")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "stopped", "plugin stopped")
        assert "s" in _footer_keys(app) and "S" not in _footer_keys(app)
        await pilot.press("S")  # stopping a stopped plugin is not offered (it says so)
        await pilot.press("s")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin started")
        assert "S" in _footer_keys(app)


def _notes(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


async def test_the_key_the_footer_does_not_offer_says_why_it_does_nothing(
    tmp_path: Path,
) -> None:
    """s on a running plugin and S on a stopped one did nothing and said nothing."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        process, started_at = await ready_process(pilot, app, TEXT)
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("s")
        await wait_until(pilot, lambda: "already running" in " ".join(_notes(app)), "a note")
        assert _notes(app)[-1] == (
            f"{TEXT} is already running (ready). Shift+S stops it, shift+R restarts."
        )
        await app.workers.wait_for_complete()
        assert process.started_at == started_at and plugin_state(app, TEXT) == "ready"
        await pilot.press("S")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "stopped", "plugin stopped")
        await pilot.press("S")
        await wait_until(pilot, lambda: "not running" in _notes(app)[-1], "a note")
        assert _notes(app)[-1] == f"{TEXT} is not running (stopped). s starts it."
        assert "s" in _footer_keys(app) and "S" not in _footer_keys(app)


async def _palette_command(pilot: Pilot[None], title: str) -> None:
    """Run the palette's command ``title``, typed as a user would, once it is highlighted."""
    await pilot.press("ctrl+p", *title)

    def highlighted() -> str:
        commands = pilot.app.screen.query(CommandList)
        if not commands or commands.first().highlighted is None:
            return ""
        command_list = commands.first()
        assert command_list.highlighted is not None
        return str(command_list.get_option_at_index(command_list.highlighted).prompt)

    await wait_until(pilot, lambda: highlighted().startswith(title), f"{title!r} highlighted")
    await pilot.press("enter")


async def test_the_palette_says_a_plugin_is_already_running_or_not_running(
    tmp_path: Path,
) -> None:
    """Its "Start X" on a running plugin and "Stop X" on a stopped one did nothing."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        process, started_at = await ready_process(pilot, app, TEXT)
        await _palette_command(pilot, f"Start {TEXT}")
        await wait_until(pilot, lambda: "already running" in " ".join(_notes(app)), "a note")
        assert _notes(app)[-1] == f"{TEXT} is already running (ready)."
        await app.workers.wait_for_complete()
        assert process.started_at == started_at
        await _palette_command(pilot, f"Stop {TEXT}")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "stopped", "plugin stopped")
        await _palette_command(pilot, f"Stop {TEXT}")
        await wait_until(pilot, lambda: "not running" in _notes(app)[-1], "a note")
        assert _notes(app)[-1] == f"{TEXT} is not running (stopped)."
        await _palette_command(pilot, f"Start {TEXT}")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "started again")


async def test_the_footer_offers_neither_start_nor_stop_for_a_plugin_that_cannot_run(
    tmp_path: Path,
) -> None:
    """It offered Start, which then only said the plugin cannot run."""
    broken = tmp_path / "Plugins" / "badyaml"
    shutil.copytree(TEST_PLUGINS / "noop", broken)
    (broken / "plugin.yaml").write_text("name: [unclosed\n")
    app = make_app(tmp_path, broken, BUNDLED, autostart=False)
    async with app.run_test(size=(140, 45)) as pilot:
        plugins = app.main_screen.query_one(PluginList)
        plugins.focus()
        await wait_until(pilot, lambda: app.main_screen.current_plugin == "badyaml", "invalid")
        assert plugin_state(app, "badyaml") == "invalid"
        assert not {"s", "S"} & _footer_keys(app)
        await pilot.press("down")
        await wait_until(pilot, lambda: "s" in _footer_keys(app), "Start for the text plugin")
        await pilot.press("up")
        await wait_until(pilot, lambda: "s" not in _footer_keys(app), "neither again")
        assert "S" not in _footer_keys(app)


async def test_a_huge_docstring_is_cut_and_says_how_much_is_left(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "ui-hostile")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "ui-hostile") == "ready", "ready")
        app.main_screen.select_action("huge-doc")
        await pilot.pause()
        doc = _doc_text(app)
        assert doc.startswith("A docstring of some 840 KB.")
        assert "more characters of this docstring" in " ".join(doc.split())
        assert len(doc) < 40_000  # wrapped; the whole would be some 840,000 characters


def _plugin_whose_import_hangs(tmp_path: Path) -> Path:
    folder = tmp_path / "Plugins" / "slow-import"
    (folder / "src").mkdir(parents=True)
    (folder / "plugin.yaml").write_text(
        "name: slow-import\nversion: 1.0.0\ndescription: loads for ever\n"
        "provides:\n  - type: python-plugin\n    path: src/\n"
    )
    (folder / "src" / "plugin.py").write_text(
        'import sys, time\nprint("loading a model", file=sys.stderr, flush=True)\ntime.sleep(600)\n'
    )
    return folder


@pytest.mark.parametrize("key", ["S", "ctrl+g"])
async def test_a_plugin_still_importing_can_be_stopped(tmp_path: Path, key: str) -> None:
    """Stop is offered while a plugin starts, and takes effect at once (the start used to
    hold it until the import ended or timed out)."""
    app = make_app(tmp_path, _plugin_whose_import_hangs(tmp_path), timeout_s=120)
    async with app.run_test(size=(140, 45)) as pilot:
        name = "slow-import"
        await wait_until(pilot, lambda: plugin_state(app, name) == "starting", "starting")
        app.main_screen.query_one(PluginList).focus()
        await pilot.pause()
        assert "S" in _footer_keys(app) and "s" not in _footer_keys(app)
        process = app.registry[name].process
        assert process is not None and process.pid is not None
        await pilot.press(key)
        await wait_until(pilot, lambda: plugin_state(app, name) == "stopped", "stopped", 10)
        assert not psutil.pid_exists(process.pid) or (
            psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE
        )
        assert "s" in _footer_keys(app)


async def test_what_a_plugin_prints_while_it_imports_shows_in_the_stderr_pane(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, _plugin_whose_import_hangs(tmp_path), timeout_s=120)
    async with app.run_test(size=(140, 45)) as pilot:
        stderr = app.main_screen.query_one("#stderr", Log)

        def shown() -> str:
            return "\n".join(str(line) for line in stderr.lines)

        await wait_until(pilot, lambda: "loading a model" in shown(), "the import's stderr")
        assert stderr.border_title == "stderr · slow-import at start (1 line)"
        assert plugin_state(app, "slow-import") == "starting"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: plugin_state(app, "slow-import") == "stopped", "stopped")


async def test_the_palette_shows_what_a_plugin_printed_outside_any_call(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        stderr = app.main_screen.query_one("#stderr", Log)
        await pilot.press("ctrl+p")
        await pilot.press(*"faulty printed lately")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: str(stderr.border_title).startswith("stderr · faulty"), "pane"
        )
        assert stderr.border_title == "stderr · faulty recent (1 line)"
        assert [str(line) for line in stderr.lines] == ["faulty: printed at import"]
        process = app.registry["faulty"].process
        assert process is not None
        await process.restart()  # a new process: the old one's lines are not its own
        assert list(process.recent_stderr) == ["faulty: printed at import"]


async def test_a_plugin_aro_tui_killed_is_not_shown_as_one_the_user_stopped(
    tmp_path: Path,
) -> None:
    """After a timeout killed it, the row read a plain "stopped", as after S."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty", timeout_s=1)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        app.main_screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the timeout")
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "stopped", "killed")
        entry = app.registry["faulty"]
        assert "stopped · killed: timed out" in plugin_prompt(entry).plain
        app.main_screen.start_plugin("faulty")
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "again")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("S")
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "stopped", "stopped")
        assert "killed" not in plugin_prompt(entry).plain


async def test_plugins_work_where_aro_tui_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard ran plugins in their own folder, while `call`, `batch` and "Run like
    the ARO runtime" ran them where aro-tui was started: "./models/x" in an input found a
    model headless and "Local model folder not found" in the dashboard."""
    started_in = tmp_path / "app"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    app = make_app(tmp_path, TEST_PLUGINS / "reckless")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "reckless") == "ready", "ready")
        app.main_screen.send("reckless", "cwd", "{}")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        answer = app.exchange_log.response_bytes(1) or b""
        assert json.loads(answer) == {"cwd": str(started_in)}


async def test_a_plugin_that_becomes_ready_replaces_another_plugins_start_output(
    tmp_path: Path,
) -> None:
    """The stderr pane kept "slow-import at start" beside another plugin just started and
    ready, which had printed at its own import."""
    slow = _plugin_whose_import_hangs(tmp_path)
    app = make_app(tmp_path, slow, TEST_PLUGINS / "faulty", timeout_s=120)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        stderr = screen.query_one("#stderr", Log)
        await wait_until(pilot, lambda: "slow-import at start" in str(stderr.border_title), "it")
        process = app.registry["slow-import"].process
        assert process is not None
        await process.stop()
        screen.select_plugin("faulty")
        screen.start_plugin("faulty")
        await wait_until(pilot, lambda: "faulty at start" in str(stderr.border_title), "faulty's")
        assert "faulty: printed at import" in "\n".join(str(line) for line in stderr.lines)


async def test_a_plugin_restarted_for_an_interrupted_import_says_so_in_its_row(
    tmp_path: Path,
) -> None:
    """The row read "stopped · killed: cancell…": the reason did not fit the sidebar."""
    app = make_app(tmp_path, TEST_PLUGINS / "reckless")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "reckless") == "ready", "ready")
        screen.send("reckless", "import-slowly", "{}")
        process = app.registry["reckless"].process
        assert process is not None

        def importing() -> bool:
            return any("slow_import: importing" in line for line in process.recent_stderr)

        await wait_until(pilot, importing, "the import")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: plugin_state(app, "reckless") == "stopped", "restarted")
        row = plugin_prompt(app.registry["reckless"], 30).plain
        assert "stopped · import interrupted" in row and "…" not in row


async def test_a_restart_does_not_show_the_last_starts_lines_as_its_own(tmp_path: Path) -> None:
    """After shift+R the pane kept "at start" lines of the process before, so a restart
    still importing read as past its model load."""
    source = (
        "import os, sys, time\n"
        f"marker = {str(tmp_path / 'started-once')!r}\n"
        "if os.path.exists(marker):\n"
        "    time.sleep(600)\n"
        "open(marker, 'w').close()\n"
        'print("model loaded in the first start", file=sys.stderr, flush=True)\n'
        "time.sleep(1)\n"
        "def aro_plugin_info():\n"
        '    return {"name": "second-start-slow", "actions": ["noop"]}\n'
        "def aro_action_noop(input_json):\n"
        '    return "{}"\n'
    )
    folder = tmp_path / "Plugins" / "second-start-slow"
    app = make_app(
        tmp_path, write_plugin_folder(folder, "second-start-slow", source), timeout_s=120
    )
    async with app.run_test(size=(140, 45)) as pilot:
        name = "second-start-slow"
        stderr = app.main_screen.query_one("#stderr", Log)

        def shown() -> str:
            return "\n".join(str(line) for line in stderr.lines)

        await wait_until(pilot, lambda: plugin_state(app, name) == "ready", "first start")
        await wait_until(pilot, lambda: "first start" in shown(), "its lines")
        app.main_screen.query_one(PluginList).focus()
        await pilot.press("R")
        await wait_until(pilot, lambda: plugin_state(app, name) == "starting", "restarting")
        await wait_until(pilot, lambda: "first start" not in shown(), "the old lines gone")
        assert stderr.border_title == f"stderr · {name} at start (0 lines)"
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: plugin_state(app, name) == "stopped", "stopped")


async def test_a_symlinked_plugin_folder_is_loaded_through_the_link(tmp_path: Path) -> None:
    """The dashboard loaded it from its real path, `call` and ARO through the link: a plugin
    reading a file beside its app by `__file__` found it headless and not here."""
    real = write_plugin_folder(
        tmp_path / "elsewhere" / "linked",
        "linked",
        "import json, os, sys\n"
        "def aro_plugin_info():\n"
        '    return {"name": "linked", "actions": ["where"]}\n'
        "def aro_action_where(input_json):\n"
        '    return json.dumps({"file": __file__, "path0": sys.path[0]})\n',
    )
    plugins = tmp_path / "app" / "Plugins"
    plugins.mkdir(parents=True)
    (plugins / "linked").symlink_to(real, target_is_directory=True)
    app = make_app(tmp_path, plugins / "linked")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "linked") == "ready", "ready")
        app.main_screen.send("linked", "where", "{}")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        answer = json.loads(app.exchange_log.response_bytes(1) or b"")
        assert answer["file"] == str(plugins / "linked" / "src" / "plugin.py")
        assert answer["path0"] == str(plugins / "linked" / "src")
