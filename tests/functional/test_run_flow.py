"""Select, edit, run, read the response; invalid JSON; cancel; crash and restart."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

from helpers import (
    BUNDLED,
    TEST_PLUGINS,
    make_app,
    plugin_app,
    plugin_state,
    wait_until,
)
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from aro_tui.core.session.recorder import MAX_RECORDED_STDERR_LINES
from aro_tui.ui.app import AroApp
from aro_tui.ui.screens.main import MainScreen
from aro_tui.ui.screens.pager import PagerScreen
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable
from aro_tui.ui.widgets.request.input_editor import InputEditor
from aro_tui.ui.widgets.response.exchange_view import ResponsePane, StderrView
from aro_tui.ui.widgets.sidebar.action_list import ActionList

TEXT = "plugin-python-text"


async def _choose(pilot, screen: MainScreen, action: str) -> None:  # type: ignore[no-untyped-def]
    actions = screen.query_one(ActionList)
    await wait_until(pilot, lambda: action in [o.id for o in actions.options], f"action {action}")
    actions.focus()
    while actions.highlighted_name != action:
        await pilot.press("down")
    await pilot.press("enter")


async def _ready_with_input(  # type: ignore[no-untyped-def]
    pilot, app: AroApp, action: str, text: str, plugin: str = "faulty"
) -> tuple[MainScreen, InputEditor]:
    """Wait for ``plugin``, choose ``action`` from the keyboard, put ``text`` in the editor."""
    screen = app.main_screen
    await wait_until(pilot, lambda: plugin_state(app, plugin) == "ready", "ready")
    await _choose(pilot, screen, action)
    editor = screen.query_one(InputEditor)
    editor.text_area.load_text(text)
    return screen, editor


async def test_select_edit_run_and_read_the_response(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await _choose(pilot, screen, "hash")
        editor = screen.query_one(InputEditor)
        assert json.loads(editor.text) == {"text": "", "algorithm": "sha256"}
        assert editor.source == "template"
        assert app.focused is editor.text_area
        editor.text_area.load_text('{"text": "hello", "algorithm": "md5"}')
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the exchange")
        await wait_until(pilot, lambda: screen.shown_number == 1, "exchange shown")
        await app.workers.wait_for_complete()
        await pilot.pause()
        response = screen.query_one("#response-text", TextArea).text
        assert "5d41402abc4b2a76b9719d911017c592" in response  # md5("hello")
        assert '"md5"' in screen.query_one("#request-text", TextArea).text
        assert app.exchange_log.entries[-1].status == "ok"
        # The input is remembered for the next session.
        assert app.memory.get(TEXT, "hash") == '{"text": "hello", "algorithm": "md5"}'


async def test_remembered_input_is_preferred_next_time(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    app.memory.remember(TEXT, "hash", '{"text": "again"}')
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await _choose(pilot, app.main_screen, "hash")
        editor = app.main_screen.query_one(InputEditor)
        assert editor.text == '{"text": "again"}' and editor.source == "last used"
        await pilot.press("ctrl+t")
        assert json.loads(editor.text) == {"text": "", "algorithm": "sha256"}
        assert editor.source == "template"
        # ctrl+z takes the template back: the text it replaced (a draft, say) was lost.
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert editor.text == '{"text": "again"}'
        # and with it what the status line says: it still described the template, "edited".
        assert editor.source == "last used" and not editor.modified
        status = str(app.main_screen.query_one("#input-status").render())
        assert status == "input: the last input you ran (remembered)"
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert editor.source == "template" and not editor.modified


async def test_invalid_json_is_shown_inline_and_nothing_is_sent(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await _choose(pilot, screen, "analyze")
        editor = screen.query_one(InputEditor)
        editor.text_area.load_text('{\n  "text": "a",\n  oops\n}')
        await pilot.press("f5")
        await pilot.pause()
        assert editor.problem is not None and editor.problem.line == 3
        status = str(screen.query_one("#input-status").render())
        assert "line 3, column 3" in status
        assert editor.has_class("-invalid")
        assert len(app.exchange_log) == 0
        assert app.registry[TEXT].process is not None
        assert not app.registry[TEXT].running_calls
        # Input nested 3000 deep ended the dashboard with a RecursionError; NaN was sent, and
        # its echo came back a protocol error.
        for text, said in (
            ("[" * 3000 + "]" * 3000, "nested too deep for Python's json module to read"),
            ('{"text": "NaN",\n "n": NaN}', "line 2, column 7: NaN is not JSON"),
        ):
            editor.text_area.load_text(text)
            await pilot.press("f5")
            await pilot.pause()
            assert said in str(screen.query_one("#input-status").render())
            assert len(app.exchange_log) == 0


async def test_cancel_keeps_the_ui_responsive(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "ui-hostile")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "ui-hostile") == "ready", "ready")
        await _choose(pilot, screen, "slow")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.live_exchange is not None, "the call to start")
        assert "running" in str(screen.query_one("#response-card").render())
        # The UI answers keys while the call runs.
        await pilot.press("f1")
        await pilot.press("escape")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the cancelled exchange")
        assert app.exchange_log.entries[-1].status == "cancelled"
        assert screen.live_exchange is None


async def test_while_a_call_runs_log_keys_act_on_the_row_the_cursor_is_on(
    tmp_path: Path,
) -> None:
    """During a call, moving the log's cursor changed nothing: `e`, `x` and ctrl+s acted on
    the exchange shown before the call."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        for number, text in ((1, '{"first": 1}'), (2, '{"second": 2}')):
            screen.send("faulty", "echo", text)
            await wait_until(pilot, lambda n=number: screen.shown_number == n, f"#{number}")
        screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: screen.live_exchange is not None, "the running call")
        table = screen.query_one(ExchangeTable)
        table.focus()
        await pilot.press("up")
        assert table.selected_number == 1
        await pilot.press("e")
        await pilot.pause()
        editor = screen.query_one(InputEditor)
        assert editor.text == '{"first": 1}' and editor.source == "request #1"
        assert "running" in str(screen.query_one("#response-card").render())  # card kept
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.live_exchange is None, "the cancel")


async def test_cancel_reaches_the_call_the_shown_one_waits_behind(tmp_path: Path) -> None:
    """A call run while another hangs waits behind it: the card says so, and ctrl+g interrupts
    the hanging call (it used to cancel the waiting one, and two seconds later kill the
    plugin with both calls in it)."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        process = app.registry["faulty"].process
        assert process is not None
        old_pid = process.pid
        screen.drafts[("faulty", "hang")] = ("{}", "draft")
        screen.drafts[("faulty", "echo")] = ('{"after": "hang"}', "draft")
        screen.run_plugin_action("faulty", "hang")
        await wait_until(pilot, lambda: process.in_flight == 1, "hang to be sent")
        screen.run_plugin_action("faulty", "echo")
        card = screen.query_one("#response-card")
        await wait_until(pilot, lambda: "behind the" in str(card.render()), "the waiting card")
        # Not "#1 hang": the host's request id, which the log would number otherwise.
        assert "waiting faulty · echo" in str(card.render())
        assert "behind the running hang" in str(card.render()) and "#" not in str(card.render())
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "both exchanges", 10)
        statuses = [(e.action, e.status) for e in app.exchange_log.entries]
        assert statuses == [("hang", "cancelled"), ("echo", "ok")]
        assert process.pid == old_pid, "cancelled in place, not killed"


async def test_crash_shows_a_card_and_one_key_restarts_and_resends(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        await _choose(pilot, screen, "os-exit")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the crash")
        await app.workers.wait_for_complete()
        await pilot.pause()
        entry = app.exchange_log.entries[-1]
        assert entry.status == "crashed" and entry.exit_code == 5
        card = str(screen.query_one("#response-card").render())
        assert "crashed" in card and "exit code 5" in card
        assert "about to os._exit" in card
        assert "f6" in card
        await pilot.press("f6")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "the resent call")
        assert app.exchange_log.request_bytes(2) == app.exchange_log.request_bytes(1)
        assert app.exchange_log.entries[-1].status == "crashed"


async def test_timeout_card(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "ui-hostile", timeout_s=0.5)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "ui-hostile") == "ready", "ready")
        await _choose(pilot, screen, "slow")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the timeout")
        await app.workers.wait_for_complete()
        await pilot.pause()
        card = str(screen.query_one("#response-card").render())
        assert "Timed out" in card and "sleeping" in card


async def test_quit_stops_every_plugin(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED, TEST_PLUGINS / "ui-hostile")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        process = app.registry[TEXT].process
        assert process is not None and process.pid is not None
        await pilot.press("ctrl+q")
    assert process.state == "stopped"


async def test_quit_with_calls_running_asks_for_a_second_ctrl_q(tmp_path: Path) -> None:
    """One ctrl+q ended four calls, 30 s ones, without a word."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "plugin ready")
        app.main_screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "busy")
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert app.is_running and plugin_state(app, "faulty") == "busy"
        (note,) = [n.message for n in app._notifications]
        assert note == "a call running (faulty · hang): ctrl+q again to stop it and quit"
        process = app.registry["faulty"].process
        await pilot.press("ctrl+q")
    assert process is not None and process.state == "stopped"


async def test_an_action_without_docstring_says_so_once_the_plugin_runs(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "plugin ready")
        await _choose(pilot, screen, "declared-missing")
        status = str(screen.query_one("#input-status").render())
        assert "defines no aro_action_declared_missing()" in status
        assert "start the plugin" not in status


async def test_a_running_call_shows_its_own_request_not_the_last_exchange(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "ui-hostile")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "ui-hostile") == "ready", "ready")
        screen.send("ui-hostile", "markup", '{"label": "first"}')
        await wait_until(pilot, lambda: screen.shown_number == 1, "the first exchange shown")
        await app.workers.wait_for_complete()
        await pilot.pause()
        response = screen.query_one("#response-text", TextArea)
        assert "first" in response.text
        screen.send("ui-hostile", "slow", '{"seconds": 30}')
        await wait_until(pilot, lambda: screen.live_exchange is not None, "the call to start")
        assert '"seconds": 30' in screen.query_one("#request-text", TextArea).text
        assert response.text == ""  # not the first exchange's answer under the running card
        assert "slow · running" in str(screen.query_one(ResponsePane).border_title)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "the cancelled exchange")


async def test_a_deeply_nested_answer_is_shown_with_its_numbers_exact(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "ui-hostile")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        response = screen.query_one("#response-text", TextArea)
        await wait_until(pilot, lambda: plugin_state(app, "ui-hostile") == "ready", "ready")
        for number, depth in enumerate((2, 600), start=1):
            screen.send("ui-hostile", "deep", json.dumps({"depth": depth}))
            await wait_until(pilot, lambda n=number: screen.shown_number == n, "the exchange")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.exchange_log.entries[-1].status == "ok"
            if depth == 2:
                assert response.text.count('"level": ') == 2
                assert '{"id": 123456789012345678901234567890}' in response.text  # not 1.23e+29
        # orjson writes at most 255 levels: the pane's worker used to die and take the app down.
        assert app.is_running
        assert response.text.startswith('{\n  "level": {\n    "level": {')
        assert response.text.count('"level": ') > 200  # the rest is past the preview's size
        note = str(screen.query_one("#response-note").render())
        assert re.search(r"showing [\d,]+ of [\d,]+ lines", note)  # was "64.0 KiB of 3.4 KiB"
        screen.query_one(ExchangeTable).focus()
        await pilot.press("x")  # view all: the pager lays out the whole answer
        assert isinstance(app.screen, PagerScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.query_one("#pager-text", TextArea).text.count('"level": ') == 600
        assert "showing" not in str(app.screen.query_one("#pager-title").render())


async def test_a_restart_or_a_crash_keeps_the_chosen_action_and_its_unsent_edit(
    tmp_path: Path,
) -> None:
    """A restart once switched the editor to the first action and dropped the edit, so the
    next ctrl+r ran that other action."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen, editor = await _ready_with_input(pilot, app, "crash-if", '{"crash": false}')
        editor.text_area.load_text('{"crash": false, "note": "my draft"}')
        process = app.registry["faulty"].process
        assert process is not None
        first_pid = process.pid
        await pilot.press("f4", "R")  # shift+R: restart
        await wait_until(
            pilot,
            lambda: process.pid != first_pid and plugin_state(app, "faulty") == "ready",
            "a new process, ready",
        )
        assert screen.current_action == "crash-if"
        assert screen.query_one(ActionList).highlighted_name == "crash-if"
        assert editor.text == '{"crash": false, "note": "my draft"}'
        editor.text_area.load_text('{"crash": true, "note": "my draft"}')
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the crash")
        await wait_until(pilot, lambda: plugin_state(app, "faulty") != "busy", "crashed")
        await pilot.pause()
        assert app.exchange_log.entries[-1].status == "crashed"
        assert screen.current_action == "crash-if"
        assert json.loads(editor.text) == {"crash": True, "note": "my draft"}


async def test_e_on_a_logged_exchange_loads_its_request_into_the_editor(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen, editor = await _ready_with_input(pilot, app, "echo", '{"tag": "first"}')
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.shown_number == 1, "exchange 1")
        await _choose(pilot, screen, "pid")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.shown_number == 2, "exchange 2")
        await pilot.press("f3", "up")
        await wait_until(pilot, lambda: screen.shown_number == 1, "exchange 1 selected")
        await pilot.press("e")
        await pilot.pause(0.2)
        assert screen.current_action == "echo"
        assert screen.query_one(ActionList).highlighted_name == "echo"
        assert editor.text == '{"tag": "first"}' and editor.source == "request #1"
        assert app.focused is editor.text_area


async def test_joiners_and_marks_typed_into_the_editor_are_sent(tmp_path: Path) -> None:
    """A typed zero-width joiner (an emoji keyboard types 👨‍👩‍👧 so), right-to-left mark,
    ideographic or no-break space was dropped: TextArea inserts only what str.isprintable()
    allows. Sent without a word."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen, editor = await _ready_with_input(pilot, app, "echo", "")
        editor.text_area.focus()
        typed = '"👨\u200d👩\u200d👧 \u200fשלום\u3000日本\u00a0x"'
        for character in typed:  # as a terminal sends them (the pilot drops a ZWJ's character)
            app.post_message(events.Key(_character_to_key(character), character))
            await pilot.pause()
        assert editor.text == typed
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the call")
        assert app.exchange_log.request_bytes(1) == typed.encode()


async def test_a_one_megabyte_string_previews_its_first_64_kib_in_both_panes(
    tmp_path: Path,
) -> None:
    """Both panes once showed ``{`` alone, the request pane without saying it was cut."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        big = json.dumps({"data": "x" * 1_000_000})
        screen, _ = await _ready_with_input(pilot, app, "echo", big)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the answer")
        await app.workers.wait_for_complete()
        await pilot.pause()
        for pane in ("#request-text", "#response-text"):
            text = screen.query_one(pane, TextArea).text
            assert text.startswith("{") and len(text.replace("\n", "")) > 60_000, pane
        request_pane = screen.query_one("#request-text")
        assert request_pane.border_subtitle == "showing 64.0 KiB of 976.6 KiB"
        note = str(screen.query_one("#response-note").render())
        assert "showing 64.0 KiB of 976.6 KiB" in note


async def test_why_a_plugin_failed_to_import_stays_on_screen(tmp_path: Path) -> None:
    """It was only in a notification: the row and the docs then said ``crashed exit code 3
    · loading import-fails`` and the stderr pane had no traceback."""
    app = make_app(tmp_path, TEST_PLUGINS / "import-fails")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "import-fails") == "crashed", "crash")
        await pilot.pause()
        reason = app.registry["import-fails"].crash_reason()
        assert reason == (
            "failed to import: ModuleNotFoundError: No module named "
            f"'a_module_that_does_not_exist' under {sys.executable} (aro-tui's own Python, the "
            "plugin has no .venv) · exit code 3"
        )
        docs = " ".join(str(screen.query_one("#action-doc-text").render()).split())
        assert "No module named 'a_module_that_does_not_exist'" in docs
        # What ARO would have done instead, beside the crash.
        assert "⚠ ARO runtime: ARO swallows this ImportError as it loads a plugin" in docs
        stderr = screen.query_one(StderrView)
        assert "import-fails at start" in str(stderr.border_title)
        # The traceback's source line: the last of stderr, which may be read after the exit
        # (seen under load), so waited for; lost, it never comes.
        await wait_until(
            pilot,
            lambda: "import a_module_that_does_not_exist" in "\n".join(stderr.lines),
            "the traceback on stderr",
        )
        assert "loading import-fails" in "\n".join(stderr.lines)
        app.notify("")  # the pop-up is gone: the reason is still there
        screen.show_recent_stderr("import-fails")
        assert "ModuleNotFoundError" in "\n".join(stderr.lines)


async def test_the_stderr_pane_shows_the_newest_lines_unless_the_reader_scrolled_up(
    tmp_path: Path,
) -> None:
    """After a clear, the pane stayed where the previous lines had left it: a slow model load
    showed its first four lines of thirteen."""
    app = make_app(tmp_path, TEST_PLUGINS / "noop", autostart=False)
    async with app.run_test(size=(140, 45)) as pilot:
        view = app.main_screen.query_one(StderrView)

        def last_row_shown() -> str:
            rows = [view.render_line(y).text.strip() for y in range(view.size.height)]
            shown = [row for row in rows if row]
            return shown[-1] if shown else ""

        for count in (3, 20, 40, 5, 30):
            view.show_lines([f"line {n}" for n in range(count)])
            last = f"line {count - 1}"
            await wait_until(pilot, lambda last=last: last_row_shown() == last, last, 5)  # type: ignore[misc]
            assert view.scroll_y == view.max_scroll_y
        view.scroll_to(y=3, animate=False)
        await pilot.pause()
        view.show_lines([f"line {n}" for n in range(35)])  # the same call printed more
        await pilot.pause()
        assert view.scroll_y == 3
        view.show_lines([f"other {n}" for n in range(35)])  # another exchange
        await wait_until(pilot, lambda: view.scroll_y == view.max_scroll_y > 3, "the end", 5)
        # A terminal made smaller mid-call: the pane still follows the newest line (it read
        # as scrolled up, and showed lines 1-4 of 8 to the end of the call).
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: last_row_shown() == "other 34", "the end, smaller", 5)
        view.show_lines([f"other {n}" for n in range(40)])
        await wait_until(pilot, lambda: last_row_shown() == "other 39", "still following", 5)
        await pilot.resize_terminal(140, 45)
        await wait_until(pilot, lambda: last_row_shown() == "other 39", "the end, larger", 5)


async def test_a_start_that_succeeds_replaces_the_failed_ones_traceback(tmp_path: Path) -> None:
    """The stderr pane kept the old traceback after the plugin was fixed and started."""
    plugin = tmp_path / "Plugins" / "import-fails"
    shutil.copytree(TEST_PLUGINS / "import-fails", plugin)
    app = make_app(tmp_path, plugin)
    async with app.run_test(size=(140, 45)) as pilot:
        stderr = app.main_screen.query_one(StderrView)
        await wait_until(pilot, lambda: plugin_state(app, "import-fails") == "crashed", "crash")
        await wait_until(pilot, lambda: "ModuleNotFoundError" in "\n".join(stderr.lines), "tb")
        source = plugin / "src" / "plugin.py"
        source.write_text(source.read_text().replace("import a_module_that_does_not_exist", ""))
        app.main_screen.start_plugin("import-fails")
        await wait_until(pilot, lambda: plugin_state(app, "import-fails") == "ready", "ready")
        await pilot.pause()
        shown = "\n".join(stderr.lines)
        assert "ModuleNotFoundError" not in shown and "loading import-fails" in shown
        assert app.registry["import-fails"].crash_reason() is None


async def test_an_input_just_run_is_no_longer_called_an_edit_not_run_yet(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen, editor = await _ready_with_input(pilot, app, "hash", '{"text": "b"}', TEXT)
        await pilot.pause()
        status = screen.query_one("#input-status")
        assert str(status.render()).endswith(" · edited")  # an edit, before it is run
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the exchange")
        await pilot.pause()
        assert str(status.render()) == "input: the last input you ran (remembered)"
        await _choose(pilot, screen, "analyze")
        await _choose(pilot, screen, "hash")
        assert editor.text == '{"text": "b"}' and editor.source == "last used"


async def test_an_input_that_could_not_be_saved_says_so_once(tmp_path: Path) -> None:
    """With the state folder unwritable the editor said "(remembered)" and nothing was saved."""
    app = make_app(tmp_path, BUNDLED)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app.memory.path = blocker / "inputs.json"  # its "folder" is a file: every save fails
    async with app.run_test(size=(140, 45)) as pilot:
        screen, _ = await _ready_with_input(pilot, app, "hash", '{"text": "b"}', TEXT)
        for calls in (1, 2):
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda c=calls: len(app.exchange_log) == c, "the call")  # type: ignore[misc]
            await pilot.pause()
        status = str(screen.query_one("#input-status").render())
        assert status == "input: the last input you ran (could not be saved: kept until exit)"
        said = [str(n.message) for n in app._notifications]
        reason = f"Could not remember this input for later runs: {blocker / 'inputs.json'}: "
        assert [n for n in said if n.startswith(reason)] == [
            f"{reason}{blocker} is a file, not a folder."
        ]


async def test_an_input_over_64_kib_run_comes_back_this_run_and_says_so(tmp_path: Path) -> None:
    """It said "(remembered)", and coming back to the action showed the template."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        big = json.dumps({"s": "z" * 70_000})
        screen, editor = await _ready_with_input(pilot, app, "echo", big)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
        status = str(screen.query_one("#input-status").render())
        assert "over 64 KiB: kept until aro-tui exits" in status
        await _choose(pilot, screen, "chatty")
        await _choose(pilot, screen, "echo")
        assert editor.text == big
        assert "over 64 KiB: kept until aro-tui exits" in str(
            screen.query_one("#input-status").render()
        )


async def test_ctrl_g_reaches_a_call_another_plugin_is_running(tmp_path: Path) -> None:
    """With another plugin chosen after running a long call, ctrl+g said "Nothing is
    running." while the list showed the first one busy."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty", TEST_PLUGINS / "noop")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "faulty ready")
        screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "the long call")
        screen.select_plugin("noop")
        screen.start_plugin("noop")
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "noop ready")
        screen.send("noop", "noop", "{}")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "noop's call")
        await wait_until(pilot, lambda: screen.live_exchange is None, "nothing shown running")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "the cancelled call")
        assert app.exchange_log.entries[-1].status == "cancelled"
        assert not any("Nothing is running" in n.message for n in app._notifications)


async def test_a_docstring_without_an_input_section_is_not_called_its_source(
    tmp_path: Path,
) -> None:
    """ "template from the action's docstring (Input: section)" was said of a docstring with
    no Input: section."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        await _choose(pilot, screen, "echo")
        editor = screen.query_one(InputEditor)
        status = str(screen.query_one("#input-status").render())
        assert editor.text == "{}"
        assert "its docstring has no Input: section" in status


async def test_a_large_pasted_input_is_edited_as_plain_text(tmp_path: Path) -> None:
    """TextArea coloured the whole input again after every key: with a 2 MB paste each key
    took over a second. Past 128 KiB the editor drops the colours; they come back below."""
    from textual import events

    app = make_app(tmp_path, TEST_PLUGINS / "noop")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        area = app.main_screen.query_one(InputEditor).text_area
        area.focus()
        assert area.language == "json"
        await pilot.press("ctrl+a")
        await pilot.pause()
        big = json.dumps({"s": "z" * 200_000})
        app.post_message(events.Paste(big))  # as the terminal's paste arrives
        await wait_until(pilot, lambda: area.text == big, "the paste")
        assert area.language is None
        await pilot.press("ctrl+a", *"{}")
        await wait_until(pilot, lambda: area.text == "{}", "the small input")
        assert area.language == "json"


async def test_ctrl_g_cancels_the_call_on_screen_not_another_plugins_of_the_same_id(
    tmp_path: Path,
) -> None:
    """Two plugins each running their first call: ids count per plugin, and ctrl+g stopped
    the other plugin's call of the same id instead of the one on screen."""
    twin = tmp_path / "Plugins" / "faulty-twin"
    shutil.copytree(TEST_PLUGINS / "faulty", twin)
    manifest = twin / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("name: faulty", "name: faulty-twin", 1))
    app = make_app(tmp_path, TEST_PLUGINS / "faulty", twin)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "faulty ready")
        screen.start_plugin("faulty-twin")
        await wait_until(pilot, lambda: plugin_state(app, "faulty-twin") == "ready", "twin")
        screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "faulty busy")
        screen.send("faulty-twin", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: plugin_state(app, "faulty-twin") == "busy", "twin busy")
        live = screen.live_exchange
        assert live is not None and live.plugin == "faulty-twin"
        assert live.id in app.registry["faulty"].running_calls  # the same id over there
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "one call cancelled")
        assert app.exchange_log.entries[-1].plugin == "faulty-twin"
        assert plugin_state(app, "faulty") == "busy"


async def test_e_on_another_actions_request_keeps_each_actions_own_text(
    tmp_path: Path,
) -> None:
    """After `e` on another action's exchange, ctrl+z brought the first action's typing into
    the second one's input (and ctrl+r would have sent it there); the edit was lost too."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen, editor = await _ready_with_input(pilot, app, "hang", '{"seconds": 0}')
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the hang call")
        await _choose(pilot, screen, "echo")
        await pilot.press("ctrl+a", *'{"text": "EDITED"}')
        await wait_until(pilot, lambda: editor.text == '{"text": "EDITED"}', "the edit")
        screen.query_one(ExchangeTable).focus()
        await pilot.press("e")
        await wait_until(pilot, lambda: editor.text == '{"seconds": 0}', "hang's request")
        await pilot.press("ctrl+z", "ctrl+z")
        await pilot.pause()
        assert editor.text == '{"seconds": 0}' and screen.current_action == "hang"
        await _choose(pilot, screen, "echo")
        assert editor.text == '{"text": "EDITED"}'  # the unsent edit, kept


async def test_copy_save_and_view_of_a_call_without_a_response_say_so(tmp_path: Path) -> None:
    """A cancelled call: "Copied the response of #1 (0 bytes)" emptied the clipboard, and x
    opened an empty pager."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: screen.live_exchange is not None, "the call")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the cancelled call")
        screen.query_one(ExchangeTable).focus()
        await pilot.press("c", "x")
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert "#1 has no response to copy: it ended cancelled." in said
        assert "#1 has no response to view: it ended cancelled." in said
        assert not isinstance(app.screen, PagerScreen)


async def test_choosing_a_plugin_with_no_actions_yet_leaves_no_other_action_in_the_title(
    tmp_path: Path,
) -> None:
    """The editor kept "Input · echo" (the other plugin's action) over a plugin that failed
    to import; ctrl+r then said "Choose an action first."."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty", TEST_PLUGINS / "import-fails")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        screen = app.main_screen
        await _choose(pilot, screen, "echo")
        editor = screen.query_one(InputEditor)
        assert editor.border_title == "Input · echo"
        screen.select_plugin("import-fails")
        await pilot.pause()
        assert editor.border_title == "Input"


async def test_a_plugin_flooding_stderr_leaves_the_dashboard_live(tmp_path: Path) -> None:
    """A plugin writing stderr lines without pause froze the dashboard: one message per line
    (a million a second) and a read loop that never gave the event loop back. No key was
    taken, the call's timeout never fired, memory grew by 50 MB/s and the recording by a
    JSON record per line (1.1 GB in a minute)."""
    flood = TEST_PLUGINS / "stderr-flood"
    base = make_app(tmp_path, flood)
    config = replace(base.config, user_files=True, record=True, timeout_s=3.0)
    app = AroApp(config, base.registry.discovery)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "stderr-flood") == "ready", "ready")
        app.main_screen.send("stderr-flood", "stream", "{}")
        await wait_until(pilot, lambda: app.main_screen.live_exchange is not None, "the call")
        # How late the event loop runs a 20 ms sleep while the plugin writes.
        lags = []
        for _ in range(40):
            started = time.monotonic()
            await asyncio.sleep(0.02)
            lags.append(time.monotonic() - started - 0.02)
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the timeout")
        entry = app.exchange_log.entries[-1]
        assert entry.status == "timeout"
        assert max(lags) < 1.0, f"the event loop stalled for {max(lags):.1f} s"
        # The timeout card has the pane to itself (no response): its last stderr line and
        # the f6 hint were hidden below 60% of it, above empty rows.
        await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "the card")
        await app.workers.wait_for_complete()
        await pilot.pause()
        box = app.main_screen.query_one("#response-card-box")
        assert "restart the plugin" in str(app.main_screen.query_one("#response-card").render())
        assert box.max_scroll_y == 0
        assert app.recorder is not None
        path = app.recorder.path
        await app.action_quit()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    stderr = [record for record in records if record["type"] == "stderr"]
    skipped = [record["skipped"] for record in stderr if "skipped" in record]
    (exchange,) = [record for record in records if record["type"] == "exchange"]
    # One by one up to the limit, then a count at the call's end (and one more for the
    # lines the plugin wrote while it was being killed).
    assert len(stderr) == MAX_RECORDED_STDERR_LINES + len(skipped)
    assert MAX_RECORDED_STDERR_LINES + skipped[0] == exchange["stderr_line_count"]


async def _first_call_shown(
    app: AroApp, pilot: Pilot[None], plugin: str, action: str, request: str
) -> None:
    """Once ``plugin`` is ready, its first call, finished and shown in the panes."""
    await wait_until(pilot, lambda: plugin_state(app, plugin) == "ready", "ready")
    app.main_screen.send(plugin, action, request)
    await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call")
    await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "shown")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_a_huge_error_message_is_cut_on_the_card(tmp_path: Path) -> None:
    """An exception of 5 MB was laid out in full on the response card: the dashboard froze
    for seconds when it arrived, and again whenever its log row was selected."""
    app = make_app(tmp_path, TEST_PLUGINS / "reckless")
    async with app.run_test(size=(140, 45)) as pilot:
        await _first_call_shown(app, pilot, "reckless", "huge-error", '{"lines": 50000}')
        card = str(app.main_screen.query_one("#response-card", Static).render())
        assert "⚠ action error: Exception: EEEE" in card
        assert "the response holds the whole message" in card
        assert len(card) < 1500
        # Taller than its share of the pane: it scrolls, where its end was cut off unseen.
        box = app.main_screen.query_one("#response-card-box")
        assert box.max_scroll_y > 0
        # The exchange keeps 4 KiB of it; the response all of it (once, not three times).
        entry = app.exchange_log.entries[-1]
        assert entry.error is not None and len(entry.error) < 5000
        assert len(app.exchange_log.response_bytes(1) or b"") > 5_000_000


async def test_an_input_section_that_is_no_object_is_said_so_not_called_missing(
    tmp_path: Path,
) -> None:
    """`Input: [1, 2]` read "its docstring has no Input: section", which it plainly has."""
    source = (
        "def aro_plugin_info():\n    return {'actions': ['listy']}\n"
        "def aro_action_listy(input_json):\n    '''Input: [1, 2]'''\n    return '{}'\n"
    )
    app = plugin_app(tmp_path, "listy", source)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "listy") == "ready", "ready")
        await _choose(pilot, screen, "listy")
        status = str(screen.query_one("#input-status").render())
    assert "its Input: section is neither a JSON object nor a list of fields" in status


async def test_a_raised_exception_shows_its_type_place_and_traceback(tmp_path: Path) -> None:
    """The chapter's answer to a raised ValueError is "Exception: bad input value": the card
    showed only that, and the traceback the harness kept appeared nowhere on screen."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await _first_call_shown(app, pilot, "faulty", "raises", "{}")
        card = str(app.main_screen.query_one("#response-card", Static).render())
        assert "⚠ action error: Exception: bad input value" in card
        assert "raised ValueError: bad input value · plugin.py:" in card
        assert "in aro_action_raises" in card
        stderr = app.main_screen.query_one(StderrView)
        shown = [str(line) for line in stderr.lines]
        assert shown[0] == "(no stderr output)"
        assert shown[1].startswith("── the action raised")
        assert shown[2].startswith("Traceback (most recent call last)")
        assert shown[-1] == "ValueError: bad input value"
        assert str(stderr.border_title).endswith("· traceback")
        # A returned error object has no traceback: nothing is added.
        app.main_screen.send("faulty", "error", "{}")
        await wait_until(pilot, lambda: app.main_screen.shown_number == 2, "the second")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [str(line) for line in stderr.lines] == ["(no stderr output)"]
        card = str(app.main_screen.query_one("#response-card", Static).render())
        assert "raised" not in card


_PROGRESS_BARS = """
import json, sys, time
sys.stderr.write("\\rimporting  30%")
sys.stderr.flush()
time.sleep(1.5)
sys.stderr.write("\\rimporting 100%\\n")

def aro_plugin_info():
    return {"name": "bars", "actions": ["load"]}

def aro_action_load(input_json):
    for percent in (10, 60):
        sys.stderr.write("\\rloading %3d%%|%s" % (percent, "#" * (percent // 10)))
        sys.stderr.flush()
        time.sleep(0.3)
    time.sleep(json.loads(input_json).get("hold", 0))
    sys.stderr.write("\\rloading 100%|##########\\n")
    return "{}"
"""


async def test_progress_bars_show_their_current_state_at_start_and_while_a_call_runs(
    tmp_path: Path,
) -> None:
    """A tqdm bar (\\r, no newline) never showed while it was drawn, at start or during a
    call; once done, its line read from its first state, the last thousands of columns on."""
    app = plugin_app(tmp_path, "bars", _PROGRESS_BARS)
    async with app.run_test(size=(140, 45)) as pilot:
        stderr = app.main_screen.query_one(StderrView)

        def shown() -> list[str]:
            return [str(line) for line in stderr.lines]

        await wait_until(pilot, lambda: shown() == ["importing  30%"], "the import's bar")
        assert plugin_state(app, "bars") == "starting"
        await wait_until(pilot, lambda: plugin_state(app, "bars") == "ready", "ready")
        app.main_screen.send("bars", "load", '{"hold": 1.0}')
        await wait_until(pilot, lambda: shown() == ["loading  60%|######"], "the bar at 60%")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the call done")
        await wait_until(pilot, lambda: shown() == ["loading 100%|##########"], "the last state")
        assert app.exchange_log.stderr_lines(1)[0].startswith("\rloading  10%")  # kept whole


async def test_an_invalid_input_is_named_whole_at_80_columns(tmp_path: Path) -> None:
    """At 80x24 the one-row status line cut the error ("… Expecting") once its toast went."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        editor = screen.query_one(InputEditor)
        editor.text_area.load_text('{"text": "broken", }')
        await pilot.press("f5")
        await pilot.pause()
        status = screen.query_one("#input-status")
        shown = " ".join(status.render_line(y).text.strip() for y in range(status.size.height))
        assert "Expecting property name enclosed in double quotes" in shown, shown
        assert status.size.height <= 3
        editor.text_area.load_text('{"text": "fixed"}')  # valid again: back to one row
        await pilot.pause()
        assert status.size.height == 1


async def test_a_plugin_with_no_action_chosen_does_not_keep_the_last_ones_input(
    tmp_path: Path,
) -> None:
    """Enter on a plugin that crashed at import left the previous plugin's input and its
    "template from the action's docstring" status in the editor."""
    plugins = tmp_path / "Plugins"
    for name in ("noop", "import-fails"):
        shutil.copytree(TEST_PLUGINS / name, plugins / name)
    app = make_app(tmp_path, plugins)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "import-fails") == "crashed", "crash")
        screen.select_plugin("noop")
        screen.start_plugin("noop")
        await _choose(pilot, screen, "echo")
        editor = screen.query_one(InputEditor)
        assert editor.border_title is not None and "echo" in str(editor.border_title)
        screen.select_plugin("import-fails")
        await pilot.pause()
        status = str(screen.query_one("#input-status").render())
        assert editor.text == ""
    assert status == "input: no action chosen: pick one in Actions (alt+2)"


async def test_a_long_action_name_gives_way_to_the_response_titles_figures(
    tmp_path: Path,
) -> None:
    """`Response #2 · 分析文本内容并返回统计结果的动作 · action 6…`: the name took the room and
    the timings were cut."""
    action = "分析文本内容并返回统计结果的动作" * 3
    source = (
        "def aro_plugin_info():\n"
        f'    return {{"name": "wide", "actions": ["{action}"]}}\n'
        f"def aro_action_{action}(input_json):\n"
        '    return "{}"\n'
    )
    app = plugin_app(tmp_path, "wide", source)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "wide") == "ready", "ready")
        screen = app.main_screen
        screen.send("wide", action, "{}")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the call")
        await app.workers.wait_for_complete()
        await pilot.pause()
        pane = screen.query_one("#response-pane")
        title = str(pane.border_title)
        assert "…" in title and title.endswith("ms"), title
        assert "round trip" in title
