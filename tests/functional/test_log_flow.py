"""The log: filter, rerun, hostile output shown literally, large responses, save, help."""

from __future__ import annotations

import asyncio
import os
import resource
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import BUNDLED, TEST_PLUGINS, make_app, plugin_app, plugin_state, wait_until
from textual import events
from textual.app import App
from textual.command import CommandList
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Log, TextArea

from aro_tui.ui.app import AroApp
from aro_tui.ui.screens.help import HelpScreen
from aro_tui.ui.screens.main import MainScreen
from aro_tui.ui.screens.pager import PAGE_BYTES, PagerScreen
from aro_tui.ui.screens.save import SaveDialog
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable, FilterInput
from aro_tui.ui.widgets.response.exchange_view import StderrView
from aro_tui.ui.widgets.sidebar.action_list import ActionList

TEXT = "plugin-python-text"


def _palette_hits(app: App[None]) -> int:
    lists = app.screen.query(CommandList)
    return lists.first().option_count if lists else 0


async def test_filter_then_rerun_the_selected_exchange(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        screen.run_plugin_action(TEXT, "analyze")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "first call")
        screen.run_plugin_action(TEXT, "hash")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "second call")
        table = screen.query_one(ExchangeTable)
        assert table.row_count == 2
        await pilot.press("ctrl+f")
        await pilot.press(*"action:analyze")
        await pilot.press("enter")
        assert table.row_count == 1 and table.selected_number == 1
        assert app.focused is table
        await pilot.press("r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 3, "the rerun")
        assert app.exchange_log.entries[-1].action == "analyze"
        assert table.row_count == 2, "the rerun matches the filter and joins the table"
        await pilot.press("ctrl+f", "escape")
        assert table.row_count == 3


async def test_a_filter_matching_nothing_leaves_no_exchange_to_act_on(tmp_path: Path) -> None:
    """``r`` with a filter that hid every row reran the exchange selected before."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        for action, number in (("analyze", 1), ("hash", 2), ("analyze", 3)):
            screen.run_plugin_action(TEXT, action)
            await wait_until(pilot, lambda n=number: len(app.exchange_log) == n, f"#{number}")
        await pilot.press("ctrl+f", *"action:analyze", "enter")
        assert screen.query_one("#log").border_title == "Exchanges 3 · showing 2 (#1–#3)"
        await pilot.press("ctrl+f", "ctrl+a", *"zzz-no-match", "enter")
        table = screen.query_one(ExchangeTable)
        assert table.row_count == 0 and screen.shown_number is None
        note = str(screen.query_one("#response-note").render())
        assert "No exchange in the log matches the filter." in note
        await pilot.press("r")
        await pilot.pause()
        assert len(app.exchange_log) == 3, "nothing was rerun"
        assert any("Select an exchange in the log first" in n.message for n in app._notifications)
        screen.filter_log("status:nonsense")
        await pilot.pause()
        note = str(screen.query_one("#response-note").render())
        assert "No status is called nonsense: the statuses are ok, plugin_error," in note
        await pilot.press("ctrl+f", "escape")
        await wait_until(pilot, lambda: screen.shown_number == 3, "the newest shown again")


async def test_the_filter_finds_a_status_typed_as_the_log_shows_it(tmp_path: Path) -> None:
    """The status column reads ``plugin error``; typed into the filter, it showed nothing."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "plugin ready")
        for action, number in (("error", 1), ("not-json", 2), ("echo", 3)):
            screen.run_plugin_action("faulty", action)
            await wait_until(pilot, lambda n=number: len(app.exchange_log) == n, f"#{number}")
        assert [entry.status for entry in app.exchange_log.entries] == [
            "plugin_error",
            "protocol_error",
            "ok",
        ]
        table = screen.query_one(ExchangeTable)

        async def shown_for(query: str) -> list[str]:
            await pilot.press("f3", "slash", "escape", "slash", *query, "enter")
            assert screen.query_one(FilterInput).value == query
            return [table.get_row_at(row)[0].plain for row in range(table.row_count)]

        assert await shown_for("plugin error") == ["1"]
        assert await shown_for("error echo") == [], "each word must be in the row"
        assert await shown_for("error not-json") == ["2"]


async def test_the_filter_hint_says_where_free_text_is_looked_for(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        filter_input = app.main_screen.query_one(FilterInput)
        assert filter_input.placeholder == (
            "filter: words in #, action, status, plugin or error  "
            "status:timeout  plugin:text  action:hash"
        )
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: filter_input.size.width < 60, "the narrow layout")
        # Where the whole hint does not fit, the short one, never one cut off.
        assert filter_input.placeholder == "filter: text  status:timeout  plugin:text  action:hash"
        assert len(filter_input.placeholder) <= filter_input.content_size.width


async def test_a_burst_of_finished_calls_ends_on_the_newest(tmp_path: Path) -> None:
    """Forty calls finishing together (pipelined through the host): every one is logged, and
    the cursor and the panes end on the last one, whose bodies are the ones loaded."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        process = app.registry[TEXT].process
        assert process is not None
        calls = [process.submit("analyze", f'{{"text": "burst {n}"}}') for n in range(40)]
        await asyncio.gather(*calls)
        await wait_until(pilot, lambda: len(app.exchange_log) == 40, "every call logged")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert screen.query_one(ExchangeTable).selected_number == 40
        assert screen.shown_number == 40
        assert "burst 39" in screen.query_one("#request-text", TextArea).text
        response = screen.query_one("#response-text", TextArea).text
        assert '["39", 1]' in response  # analyze's word counts of the last call's text


async def test_stderr_title_says_which_call_and_when_lines_were_dropped(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "plugin ready")
        process = app.registry["faulty"].process
        assert process is not None
        await process.call("flood", '{"bytes": 100000}')  # 1,000 lines, then "flood done"
        await process.call("chatty", '{"tag": "t"}')  # three lines
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "both calls logged")
        stderr = screen.query_one(StderrView)
        await wait_until(pilot, lambda: "#2" in str(stderr.border_title), "the chatty call")
        assert str(stderr.border_title) == "stderr #2 (3 lines)"
        screen.query_one(ExchangeTable).focus()
        await pilot.press("up")  # the flood
        await wait_until(pilot, lambda: "#1" in str(stderr.border_title), "the flood")
        assert str(stderr.border_title) == "stderr #1 (last 200 of 1,001 lines)"
        assert stderr.lines[-1] == "flood done"
        running = asyncio.ensure_future(
            process.call("slow-chatty", '{"tag": "s", "seconds": 1.0}')  # a line a second
        )
        await wait_until(pilot, lambda: "s first" in stderr.lines, "the first line, live")
        assert str(stderr.border_title) == "stderr · running (1 line)"
        await running
        await wait_until(pilot, lambda: "#3" in str(stderr.border_title), "the call done")
        assert str(stderr.border_title) == "stderr #3 (2 lines)"


async def test_every_exchange_is_reached_by_scrolling_past_the_windows_edge(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, BUNDLED, max_table_rows=10)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        for count in range(1, 26):
            screen.run_plugin_action(TEXT, "hash")
            await wait_until(pilot, lambda n=count: len(app.exchange_log) == n, f"call {count}")
        table = screen.query_one(ExchangeTable)
        numbers = [entry.number for entry in table.shown_entries]
        assert numbers == list(range(16, 26)) and table.selected_number == 25
        assert screen.query_one("#log").border_title == "Exchanges 25 · showing 10 (#16–#25)"
        table.focus()
        await pilot.press(*["up"] * 10)  # nine rows up, then past the top
        assert table.selected_number == 15
        assert [entry.number for entry in table.shown_entries] == list(range(11, 21))
        await pilot.press(*["up"] * 30)
        assert table.selected_number == 1, "the oldest exchange is reachable"
        assert table.shown_entries[0].number == 1 and not table.at_newest
        assert screen.query_one("#log").border_title == "Exchanges 25 · showing 10 (#1–#10)"
        await pilot.press(*["down"] * 40)
        assert table.at_newest and table.selected_number == 25
        await pilot.press(*["pageup"] * 3)
        assert not table.at_newest
        screen.run_plugin_action(TEXT, "hash")
        await wait_until(pilot, lambda: len(app.exchange_log) == 26, "a call from an old window")
        assert table.at_newest and table.selected_number == 26
        assert table.shown_entries[-1].number == 26


async def test_two_keys_past_the_windows_edge_read_at_once_never_crash(tmp_path: Path) -> None:
    """Up Up at the top of the window, read together (auto-repeat, a busy machine): both
    asked for the same older rows, and the second slide added rows already shown, which
    ended the dashboard with DuplicateKey."""
    app = make_app(tmp_path, BUNDLED, max_table_rows=10)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        for count in range(1, 26):
            screen.run_plugin_action(TEXT, "hash")
            await wait_until(pilot, lambda n=count: len(app.exchange_log) == n, f"call {count}")
        table = screen.query_one(ExchangeTable)
        table.focus()
        await pilot.press("ctrl+home")
        await pilot.pause()
        # The log's first exchange, not the top of the window (#16 of 25 read as the first).
        assert table.selected_number == 1 and table.shown_entries[0].number == 1
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.selected_number == 25 and table.at_newest
        await pilot.press(*["up"] * 9)
        assert table.selected_number == 16
        for key in ("up", "up"):
            app.post_message(events.Key(key, None))
        await pilot.pause()
        await pilot.pause()
        numbers = [entry.number for entry in table.shown_entries]
        assert numbers == sorted(set(numbers)) and numbers[0] < 16
        assert table.selected_number == 14  # both keys count: the second moves on one row
        await pilot.press("ctrl+end")
        for key in ("down", "down"):
            app.post_message(events.Key(key, None))
        await pilot.pause()
        assert app.is_running


async def test_plugin_text_is_shown_literally(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "ui-hostile")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "ui-hostile") == "ready", "ready")
        screen.run_plugin_action("ui-hostile", "markup")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the exchange")
        await app.workers.wait_for_complete()
        await pilot.pause()
        response = screen.query_one("#response-text", TextArea).text
        assert "[bold red]not bold[/]" in response
        stderr = "\n".join(str(line) for line in screen.query_one("#stderr", Log).lines)
        assert "[bold red]not bold[/]" in stderr
        assert "␛]52;c;cHduZWQ=␇" in stderr
        assert "\x1b" not in stderr and "\x1b" not in response


async def _show_big_answer(app: AroApp, pilot: Pilot[Any], size_bytes: int) -> MainScreen:
    """Run faulty's ``big`` (a JSON string of ``size_bytes`` x's) and wait until it is shown."""
    screen = app.main_screen
    await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
    screen.drafts[("faulty", "big")] = (f'{{"bytes": {size_bytes}}}', "draft")
    screen.run_plugin_action("faulty", "big")
    await wait_until(pilot, lambda: screen.shown_number == 1, "the big exchange")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_large_response_is_truncated_with_a_way_to_see_and_save_all(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await _show_big_answer(app, pilot, 3_000_000)
        assert app.exchange_log.entries[-1].response_size_bytes > 3_000_000
        shown = screen.query_one("#response-text", TextArea).text
        assert len(shown.replace("\n", "")) <= 64 * 1024 + 64  # rows of the pane, 64 KiB
        note = str(screen.query_one("#response-note").render())
        assert "showing 64.0 KiB of 2.9 MiB" in note
        # Where the ARO runtime would differ: 2.9 MiB cannot pass its 64 KiB stdout pipe.
        assert "⚠ ARO runtime: this call would hang until the 30 s timeout" in note
        screen.query_one(ExchangeTable).focus()
        await pilot.press("x")
        assert isinstance(app.screen, PagerScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "page 1 of 12" in str(app.screen.query_one("#pager-title").render())
        # The answer is one 2.9 MiB line: a page shows all of its bytes, in rows of the
        # pane's width that need no further wrapping.
        pager_text = app.screen.query_one("#pager-text", TextArea)
        rows = pager_text.text.split("\n")
        assert "".join(rows).encode() == app.exchange_log.response_bytes(1)[:PAGE_BYTES]
        assert len(rows) > 1 and max(map(len, rows)) <= pager_text.wrap_width
        assert pager_text.wrapped_document.height == len(rows)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "page 2 of 12" in str(app.screen.query_one("#pager-title").render())
        # A narrower terminal lays the page out again: rows of the new width, no byte lost.
        wide = pager_text.wrap_width
        await pilot.resize_terminal(80, 24)
        await wait_until(pilot, lambda: pager_text.wrap_width < wide, "the new width")
        await wait_until(
            pilot,
            lambda: max(map(len, pager_text.text.split("\n"))) <= pager_text.wrap_width,
            "the page laid out again",
        )
        page_2 = app.exchange_log.response_bytes(1)[PAGE_BYTES : 2 * PAGE_BYTES]
        assert pager_text.text.replace("\n", "").encode() == page_2
        await pilot.resize_terminal(140, 45)
        # The pager saves all of it, every page, as the main screen's ctrl+s does.
        from_pager = tmp_path / "from-pager.json"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SaveDialog)
        app.screen.query_one("#save-path").value = str(from_pager)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "back to the pager")
        await wait_until(
            pilot, lambda: from_pager.exists() and from_pager.stat().st_size > 3_000_000, "save"
        )
        await app.workers.wait_for_complete()
        assert from_pager.read_bytes() == app.exchange_log.response_bytes(1)
        await pilot.press("escape")
        target = tmp_path / "out" / "big.json"
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SaveDialog)
        app.screen.query_one("#save-path").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: target.exists() and target.stat().st_size > 3_000_000, "save"
        )
        assert target.read_bytes() == app.exchange_log.response_bytes(1)


async def test_a_long_string_in_a_response_is_shown_in_rows_with_a_note(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await _show_big_answer(app, pilot, 50_000)
        body = screen.query_one("#response-text", TextArea)
        rows = body.text.split("\n")
        assert max(map(len, rows)) <= body.wrap_width
        assert "".join(rows).count("x") == 50_000  # nothing lost
        note = str(screen.query_one("#response-note").render())
        assert "long lines cut to the pane's width, not highlighted" in note
        assert "showing" not in note  # the whole answer is there


async def test_help_lists_every_binding_from_the_bindings(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED, autostart=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        ids = {row[3] for row in rows}
        for binding_id in ("run", "cancel", "restart-resend", "rerun", "save-response", "quit"):
            assert binding_id in ids
        run_row = next(row for row in rows if row[3] == "run")
        assert "^r" in run_row[1] and "f5" in run_row[1]
        # TextArea's f5-f7 (select word, line, all) never reach the editor: not listed there.
        editor_keys = {row[1] for row in rows if row[0] == "input editor"}
        assert editor_keys and not editor_keys & {"f5", "f6", "f7"}
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_runs_an_action(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("ctrl+p")
        await pilot.press(*"run plugin-python-text hash")
        await wait_until(pilot, lambda: _palette_hits(app) > 0, "palette hits")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the palette's run")
        assert app.exchange_log.entries[-1].action == "hash"


def _highlight_action(screen: MainScreen, name: str) -> None:
    """Move the action list's highlight to ``name`` (which selects it, as the keys would)."""
    actions = screen.query_one(ActionList)
    ids = [actions.get_option_at_index(i).id for i in range(actions.option_count)]
    actions.highlighted = ids.index(name)


async def test_run_like_the_aro_runtime_shows_what_aro_would_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime_bin = tmp_path / "bin"  # the runtime's python3: another environment than ours
    runtime_bin.mkdir()
    (runtime_bin / "python3").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{runtime_bin}{os.pathsep}{os.environ['PATH']}")
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        _highlight_action(screen, "chatty")
        await pilot.pause()
        assert screen.current_action == "chatty"
        screen.action_run_like_runtime()
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the report")
        await app.workers.wait_for_complete()
        await pilot.pause()
        title = str(app.screen.query_one("#pager-title").render())
        assert "ARO runtime · faulty · chatty" in title
        text = app.screen.query_one("#pager-text", TextArea).text
        # Said in the dashboard too (only `call --runtime` said it): a package missing there
        # would look like a broken plugin.
        assert text.startswith(
            f"note: {runtime_bin / 'python3'} is the runtime's choice (python3 on PATH); "
            f"aro-tui runs this plugin with {sys.executable}\n"
        )
        # The host shows these prints as stderr; the runtime would return them as the answer.
        assert "the ARO runtime would get a plain-text result, not JSON" in text
        assert "faulty: printed at import\npython print x\nfd1 write x\n" in text
        assert len(app.exchange_log) == 0  # not a host exchange: nothing in the log


def _runtime_hang_drivers() -> list[int]:
    """The live runtime-mode processes running the ``hang`` action."""
    import psutil

    return [
        p.pid
        for p in psutil.process_iter(["cmdline", "status"])
        if "aro_action_hang" in " ".join(p.info["cmdline"] or [])
        and p.info["status"] != psutil.STATUS_ZOMBIE
    ]


async def _start_runtime_mode_hang(pilot: Pilot[None], app: AroApp) -> MainScreen:
    """Run ``faulty``'s ``hang`` (60 s) the runtime's way; return once its process runs."""
    screen = app.main_screen
    await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
    screen.drafts[("faulty", "hang")] = ('{"seconds": 60}', "draft")
    _highlight_action(screen, "hang")
    await pilot.pause()
    screen.action_run_like_runtime()
    await wait_until(pilot, lambda: bool(_runtime_hang_drivers()), "the runtime-mode process")
    return screen


async def test_quitting_kills_a_runtime_mode_call_in_flight(tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await _start_runtime_mode_hang(pilot, app)
    assert _runtime_hang_drivers() == []


async def test_ctrl_g_cancels_a_runtime_mode_call(tmp_path: Path) -> None:
    """ctrl+g said "Nothing is running" while the runtime-mode call ran for its 30 s."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = await _start_runtime_mode_hang(pilot, app)
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: screen.runtime_cancel is None, "the run's end", 5)
        assert _runtime_hang_drivers() == []
        messages = [n.message for n in app._notifications]
        assert "ARO runtime · faulty · hang: cancelled." in messages
        assert not any("Nothing is running" in m for m in messages)
        assert not isinstance(app.screen, PagerScreen)
        await pilot.press("ctrl+g")  # nothing left to cancel
        await pilot.pause()
        assert any("Nothing is running" in n.message for n in app._notifications)


async def test_saving_over_a_file_asks_first_and_a_folder_is_refused(tmp_path: Path) -> None:
    """Saving replaced an existing file without a word."""
    precious = tmp_path / "important.txt"
    precious.write_text("precious\n")
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await _show_big_answer(app, pilot, 100)
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, SaveDialog)
        dialog = app.screen
        hint = dialog.query_one("#save-hint")
        dialog.query_one("#save-path").value = str(tmp_path)  # type: ignore[attr-defined]
        await pilot.press("enter")
        assert "is a folder" in str(hint.render()) and app.screen is dialog
        dialog.query_one("#save-path").value = str(precious / "x.json")  # type: ignore[attr-defined]
        await pilot.press("enter")  # mkdir said "File exists"
        assert f"{precious} is a file, not a folder" in str(hint.render())
        assert app.screen is dialog
        dialog.query_one("#save-path").value = f"{precious}/"  # type: ignore[attr-defined]
        await pilot.press("enter")  # offered to replace the file itself
        assert f"{precious}/ names a file, not a folder" in str(hint.render())
        assert app.screen is dialog
        dialog.query_one("#save-path").value = str(precious)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert "important.txt exists · enter: replace it" in str(hint.render())
        assert app.screen is dialog and precious.read_text() == "precious\n"
        await pilot.press("escape")
        await pilot.pause()
        assert precious.read_text() == "precious\n"
        await pilot.press("ctrl+s")
        app.screen.query_one("#save-path").value = str(precious)  # type: ignore[attr-defined]
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: precious.read_bytes() != b"precious\n", "replaced")
        assert precious.read_bytes() == app.exchange_log.response_bytes(1)


async def test_runtime_notes_taller_than_their_space_scroll_rather_than_being_cut(
    tmp_path: Path,
) -> None:
    """At 80x24 the second note was cut off with no sign that there was more."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(80, 24)) as pilot:
        await _show_big_answer(app, pilot, 100_000)
        box = app.main_screen.query_one("#response-note-box")
        note = str(app.main_screen.query_one("#response-note").render())
        assert note.count("⚠ ARO runtime:") == 2  # printed at import; fills the pipe
        assert box.max_scroll_y > 0 and box.show_vertical_scrollbar
        box.focus()  # Tab reaches it too
        await pilot.press("end")
        # End scrolls with an animation: wait for it to arrive.
        await wait_until(pilot, lambda: box.scroll_y == box.max_scroll_y, "the last note", 5)


async def test_a_60_by_20_terminal_still_shows_log_rows(tmp_path: Path) -> None:
    """At 60×20 the log once had room for its filter and header only."""
    app = make_app(tmp_path, TEST_PLUGINS / "noop")
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        screen = app.main_screen
        screen.send("noop", "noop", "{}")
        screen.send("noop", "noop", "{}")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "two exchanges")
        await pilot.pause()
        table = screen.query_one(ExchangeTable)
        rows_region = table.scrollable_content_region
        assert rows_region.height - table.header_height >= 2


async def test_the_palettes_screenshot_is_saved_where_it_can_be_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ~/Downloads, Textual's said only "Failed to save screenshot"."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no Downloads folder in it
    monkeypatch.chdir(tmp_path)
    app = make_app(tmp_path, TEST_PLUGINS / "noop")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p", *"screenshot")
        await wait_until(pilot, lambda: _palette_hits(app) > 0, "the command")
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(list(tmp_path.glob("*.svg"))), "the file")
        (saved,) = tmp_path.glob("*.svg")
        await wait_until(
            pilot,
            lambda: any(str(saved) in n.message for n in app._notifications),
            "where it went",
        )
    assert saved.read_text().startswith("<svg")


async def test_c_and_x_in_the_request_pane_act_on_the_request(tmp_path: Path) -> None:
    """In the request pane the footer said "c Copy response" and c copied the response:
    there was no key to copy or view the request."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        screen.send(TEXT, "hash", '{"text": "copy me"}')
        await wait_until(pilot, lambda: screen.shown_number == 1, "the exchange")
        await pilot.press("f3", "alt+6")
        assert app.focused is screen.query_one("#request-text")
        footer = " ".join(str(key.render()) for key in screen.query("FooterKey"))
        assert "Copy request" in footer and "Copy response" not in footer
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("c")
        assert copied == ['{"text": "copy me"}']
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the pager")
        assert isinstance(app.screen, PagerScreen)
        assert app.screen.title_text == "Request #1 · hash"
        assert "copy me" in app.screen.query_one("#pager-text", TextArea).text


async def test_the_request_pane_keys_take_the_running_calls_request(tmp_path: Path) -> None:
    """While a call ran, the request pane showed its request but c copied (and x opened)
    the request of the exchange under the log's cursor."""
    app = make_app(tmp_path, TEST_PLUGINS / "reckless")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "reckless") == "ready", "ready")
        screen.send("reckless", "loaded", '{"tag": "before"}')
        await wait_until(pilot, lambda: screen.shown_number == 1, "the first call")
        screen.send("reckless", "sleep", '{"seconds": 30, "tag": "RUNNING"}')
        await wait_until(pilot, lambda: screen.live_exchange is not None, "the running call")
        await pilot.press("f3", "alt+6")
        copied: list[str] = []
        app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
        await pilot.press("c")
        assert copied == ['{"seconds": 30, "tag": "RUNNING"}']
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the pager")
        assert "RUNNING" in app.screen.query_one("#pager-text", TextArea).text
        await pilot.press("escape")
        # The response pane shows the running call too: no response to copy yet (c copied
        # the log cursor's, another call's).
        await pilot.press("alt+5")
        await pilot.press("c")
        assert copied == ['{"seconds": 30, "tag": "RUNNING"}']
        assert any("still running" in text for text in _notifications(app))
        await pilot.press("ctrl+g")


async def test_the_panes_do_not_keep_every_document_they_showed(tmp_path: Path) -> None:
    """Each response and request shown left its TextArea document alive (tree-sitter's tree
    keeps a callback of it, a cycle the collector cannot see): the dashboard grew by about
    9 KiB a call, 360 MB over 30,000 calls."""
    import gc

    from textual.document._syntax_aware_document import SyntaxAwareDocument

    def documents() -> int:
        gc.collect()
        return sum(isinstance(item, SyntaxAwareDocument) for item in gc.get_objects())

    app = make_app(tmp_path, TEST_PLUGINS / "noop")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "ready")
        before = documents()  # with those of earlier apps in this process
        for count in range(1, 61):
            screen.send("noop", "echo", f'{{"n": {count}}}')
            await wait_until(pilot, lambda n=count: screen.shown_number == n, f"call {count}")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert documents() - before < 10  # not one or two more per call shown


def _notifications(app: App[Any]) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


async def test_a_failed_save_is_said_in_the_dialog_with_the_typed_path_kept(
    tmp_path: Path,
) -> None:
    """A write that failed closed the dialog with a toast: the typed path was lost, and the
    keys typed next went to the dashboard."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        await _show_big_answer(app, pilot, 100)
        for key in ("ctrl+s", "ctrl+o", "O"):  # the response, the exchange, the whole log
            if key == "O":
                await pilot.press("f3")
            await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), "the dialog")
            dialog = app.screen
            field = dialog.query_one("#save-path", Input)
            hint = dialog.query_one("#save-hint")
            refused = {  # by the file system, even as root: on checking, and on writing
                str(tmp_path / ("x" * 300)): "File name too long",
                "/proc/aro-tui-test.json": "/proc takes no new files",
            }
            for bad, why in refused.items():
                field.value = bad
                await pilot.press("enter")
                said = hint.render
                await wait_until(pilot, lambda s=said: "could not save" in str(s()), bad)  # type: ignore[misc]
                assert why in str(hint.render())
                assert app.screen is dialog and field.value == bad
                assert app.focused is field
                await pilot.press("end", "x", "backspace")  # typing clears the verdict
            target = tmp_path / f"saved-{key}.json"
            field.value = str(target)
            await pilot.press("enter")
            await wait_until(pilot, lambda d=dialog: app.screen is not d, "closed once saved")  # type: ignore[misc]
            assert target.stat().st_size > 0
            assert any(str(target) in n.message for n in app._notifications)


async def test_a_save_that_fails_leaves_the_file_it_would_replace_as_it_was(
    tmp_path: Path,
) -> None:
    """A full disk part way through ctrl+s (or ctrl+o, or the pager's save) said "could not
    save" and left the file it was replacing cut to what had been written; a new file was
    left half-written. The whole-log export (O) already wrote beside it and renamed."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    folder = tmp_path / "out"
    folder.mkdir()
    precious = folder / "precious.json"
    async with app.run_test(size=(140, 45)) as pilot:
        await _show_big_answer(app, pilot, 2_000_000)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        for keys in (("ctrl+s",), ("ctrl+o",), ("f3", "O"), ("x", "ctrl+s")):
            precious.write_text('{"my": "notes"}')
            for key in keys:
                await pilot.press(key)
            await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), "the dialog")
            dialog = app.screen
            dialog.query_one("#save-path", Input).value = str(precious)
            await pilot.press("enter")  # "precious.json exists · enter: replace it"
            # A file may grow to 1 MB from here (Python ignores SIGXFSZ: writes fail, EFBIG).
            resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
            try:
                await pilot.press("enter")
                hint = dialog.query_one("#save-hint")
                await wait_until(pilot, lambda h=hint: "could not save" in str(h.render()), key)  # type: ignore[misc]
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            assert precious.read_text() == '{"my": "notes"}', keys
            assert [p.name for p in folder.iterdir()] == ["precious.json"], keys  # no partial
            await pilot.press("escape")
            while app.screen is not app.main_screen:
                await pilot.press("escape")


async def test_the_save_dialog_says_a_link_or_a_device_is_there_before_writing(
    tmp_path: Path,
) -> None:
    """It said "exists · enter: replace it" of a device node, which the export then replaced
    with a file, and of a link, which it replaced instead of the file it links to."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    target = tmp_path / "target.json"
    target.write_text("old")
    (tmp_path / "link.json").symlink_to(target)
    os.mkfifo(tmp_path / "pipe")
    async with app.run_test(size=(140, 45)) as pilot:
        await _show_big_answer(app, pilot, 10)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), "the dialog")
        field = app.screen.query_one("#save-path", Input)
        hint = app.screen.query_one("#save-hint")
        for name, said in (
            ("link.json", f"link.json links to {target} · enter: replace that file"),
            ("pipe", "pipe is a device or a pipe, not a file · enter: write into it"),
        ):
            field.value = str(tmp_path / name)
            await pilot.press("enter")
            await wait_until(pilot, lambda s=said: s in str(hint.render()), name)  # type: ignore[misc]


async def test_spare_width_goes_to_the_action_and_plugin_names(tmp_path: Path) -> None:
    """At 200 columns a long action name was cut at 15 characters beside 50 empty ones."""
    long_action = "summarize-the-quarterly-report-in-detail"
    source = (
        "def aro_plugin_info():\n"
        f'    return {{"name": "a-plugin-with-a-long-name", "actions": ["{long_action}"]}}\n'
        f"def aro_action_{long_action.replace('-', '_')}(input_json):\n"
        '    return "{}"\n'
    )
    for size, whole in (((200, 50), True), ((140, 45), False)):
        app = plugin_app(tmp_path / str(size[0]), "a-plugin-with-a-long-name", source)
        async with app.run_test(size=size) as pilot:
            await wait_until(
                pilot,
                lambda a=app: plugin_state(a, "a-plugin-with-a-long-name") == "ready",
                "ready",  # type: ignore[misc]
            )
            app.main_screen.send("a-plugin-with-a-long-name", long_action, "{}")
            await wait_until(pilot, lambda a=app: len(a.exchange_log) == 1, "the call")  # type: ignore[misc]
            await pilot.pause()
            table = app.main_screen.query_one(ExchangeTable)
            action = str(table.get_cell("1", "action"))
            plugin = str(table.get_cell("1", "plugin"))
            # At 140 columns the room left after the columns that fit is 2: names are cut.
            assert (action == long_action) is whole, action
            assert (plugin == "a-plugin-with-a-long-name") is whole, plugin
            widths = [column.get_render_width(table) for column in table.ordered_columns]
            assert sum(widths) <= table.size.width
