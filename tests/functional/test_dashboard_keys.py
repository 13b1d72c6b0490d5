"""What a new user meets first: timings in the log, editing keys, the keyboard path, typing."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from helpers import BUNDLED, TEST_PLUGINS, make_app, plugin_state, wait_until
from textual import events
from textual.widgets import Footer

from aro_tui.ui.app import AroApp
from aro_tui.ui.screens.help import HelpScreen
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable
from aro_tui.ui.widgets.request.input_editor import InputEditor
from aro_tui.ui.widgets.sidebar.action_list import ActionList
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList

TEXT = "plugin-python-text"
FAULTY = TEST_PLUGINS / "faulty"


def _ms(cell: object) -> float:
    """``25 µs`` / ``12.3 ms`` / ``1.50 s`` as milliseconds."""
    value, unit = str(cell).split()
    return float(value) * {"µs": 0.001, "ms": 1.0, "s": 1000.0}[unit]


async def test_log_time_is_each_actions_own_time(tmp_path: Path) -> None:
    app = make_app(tmp_path, FAULTY)
    app.config = replace(app.config, deterministic=False)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "plugin ready")
        screen.send("faulty", "hang", '{"seconds": 0.2}')
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the slow call")
        screen.send("faulty", "echo", "{}")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "the fast call")
        await wait_until(pilot, lambda: screen.shown_number == 2, "the fast call shown")
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = screen.query_one(ExchangeTable)
        slow_ms, fast_ms = (_ms(table.get_cell(str(n), "duration")) for n in (1, 2))
        assert 190 <= slow_ms < 1000, slow_ms
        assert fast_ms < 50 and fast_ms < slow_ms / 4, fast_ms
        fast = app.exchange_log.get(2)
        assert fast is not None and fast.action_duration_ms is not None
        # A sub-millisecond action reads in microseconds, not "0.0 ms".
        assert fast.action_duration_ms < 1
        cell = str(table.get_cell("2", "duration"))
        assert cell == f"{fast.action_duration_ms * 1000:.0f} µs", cell
        title = str(screen.query_one("#response-pane").border_title)
        assert re.search(r"action \d+ µs · round trip [\d.]+ (µs|ms)", title), title


async def test_editor_select_all_replaces_and_undo_brings_it_back(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        editor = app.main_screen.query_one(InputEditor)
        await wait_until(pilot, lambda: editor.text.strip() not in {"", "{}"}, "a template")
        template = editor.text
        await pilot.press("f2", "ctrl+a", *"{}")
        assert editor.text == "{}"
        await pilot.press("ctrl+z", "ctrl+z")  # the typing, then the replacement
        assert editor.text == template
        await pilot.press("end", "ctrl+a")  # the whole text selected, not the line start
        assert editor.text_area.selected_text == template
        await pilot.press("home")
        assert editor.text_area.cursor_location[1] == 0


async def test_clear_input_from_the_palette_is_undoable(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        editor = app.main_screen.query_one(InputEditor)
        await wait_until(pilot, lambda: editor.text.strip() not in {"", "{}"}, "a template")
        template = editor.text
        await pilot.press("ctrl+p", *"clear the input", "enter")
        await wait_until(pilot, lambda: editor.text == "", "the input cleared")
        assert app.focused is editor.text_area
        await pilot.press("ctrl+z")
        assert editor.text == template


async def test_enter_walks_from_plugin_to_action_to_editor(tmp_path: Path) -> None:
    app = make_app(tmp_path, FAULTY, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await pilot.press("f4", "down", "enter")
        assert screen.current_plugin == TEXT
        actions = screen.query_one(ActionList)
        assert app.focused is actions
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await wait_until(pilot, lambda: actions.option_count > 2, "its actions")
        await pilot.press("down", "down", "enter")
        assert app.focused is screen.query_one(InputEditor).text_area
        assert screen.current_action == actions.get_option_at_index(2).id
        assert "Input · " + str(screen.current_action) == screen.query_one("#input").border_title
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        header = str(app.screen.query_one("#help-flow").render())
        assert "F4 plugins → Enter → action → Enter → edit → ctrl+r" in header


def _key_for_terminal_bytes(data: str) -> str:
    """The key Textual makes of ``data`` as a terminal sends it (tmux/xterm: alt+4 = ESC 4)."""
    from textual import events
    from textual._xterm_parser import XTermParser

    [key] = [event for event in XTermParser().feed(data) if isinstance(event, events.Key)]
    return key.key


async def test_alt_digits_focus_regions_as_terminals_send_them(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        screen.query_one(PluginList).focus()
        await pilot.press(_key_for_terminal_bytes("\x1b4"))  # Textual reads it as "¢"
        assert app.focused is screen.query_one(ExchangeTable)
        await pilot.press(_key_for_terminal_bytes("\x1b2"))
        assert app.focused is screen.query_one(ActionList)
        await pilot.press("alt+3")  # where the terminal's alt+3 arrives as such
        assert app.focused is screen.query_one(InputEditor).text_area


async def test_typing_in_the_plugin_list_never_stops_or_restarts(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        process = app.registry[TEXT].process
        assert process is not None
        pid = process.pid
        app.main_screen.query_one(PluginList).focus()
        await pilot.press(*"restarts sorry")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert plugin_state(app, TEXT) == "ready" and process.pid == pid
        await pilot.press("S")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "stopped", "stopped by S")
        await pilot.press("s")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "started by s")
        pid = process.pid
        await pilot.press("R")
        await app.workers.wait_for_complete()
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "restarted by R")
        assert process.pid != pid


async def test_log_header_shows_whole_column_names(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        table = app.main_screen.query_one(ExchangeTable)
        visible = table.scrollable_content_region.width
        used = 0
        for column in table.ordered_columns:
            used += column.get_render_width(table)
            assert used <= visible, f"column {column.label} is cut at 140 columns"


def _keys_read_at_once(app: AroApp, *keys: str) -> None:
    """Keys as the app gets them when a terminal sends several before it reads any (fast
    typing, a paste, or keys piled up while the machine was busy): queued together."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def _editing_the_text_plugin(pilot, app: AroApp, text: str) -> InputEditor:  # type: ignore[no-untyped-def]
    """Wait for the text plugin, go to the editor (F2) and put ``text`` in it."""
    await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
    await pilot.press("f2")
    editor = app.main_screen.query_one(InputEditor)
    editor.text_area.load_text(text)
    return editor


async def test_run_sends_the_text_typed_just_before_it(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        editor = await _editing_the_text_plugin(pilot, app, '{"text": ""}')
        editor.text_area.move_cursor((0, 10))
        _keys_read_at_once(app, *"abc", "ctrl+r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the exchange")
        assert app.exchange_log.request_bytes(1) == b'{"text": "abc"}'
        assert app.exchange_log.entries[-1].status == "ok"


async def test_focus_keys_take_the_keys_typed_after_them(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED, TEST_PLUGINS / "noop")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "first plugin ready")
        await pilot.press("f2")
        _keys_read_at_once(app, "f4", "down", "enter")  # Down and Enter go to the plugin list
        await wait_until(pilot, lambda: plugin_state(app, "noop") == "ready", "noop started")
        assert isinstance(app.focused, ActionList)
        assert app.main_screen.current_plugin == "noop"


async def test_keys_typed_after_choosing_an_action_edit_that_actions_input(
    tmp_path: Path,
) -> None:
    """Enter on an action, then ctrl+a and new text typed at once: the ctrl+a went to the
    action list and the text into the old input (or the chosen action's input, loaded late,
    replaced it)."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        actions = screen.query_one(ActionList)
        actions.focus()
        await pilot.pause()
        names = [option.id for option in actions.options]
        assert names.index("hash") > 0
        downs = ["down"] * names.index("hash")
        _keys_read_at_once(app, "home", *downs, "enter", "ctrl+a", *'{"text": "typed"}')
        await wait_until(pilot, lambda: screen.current_action == "hash", "hash chosen")
        await pilot.pause(0.3)
        editor = screen.query_one(InputEditor)
        assert editor.text == '{"text": "typed"}'
        assert app.focused is editor.text_area


async def test_editor_keys_typed_at_once_apply_in_order(tmp_path: Path) -> None:
    """ctrl+a then new text typed at once put the text before the old input (the select-all
    binding ran after the characters); a backspace could land after the next character."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        editor = await _editing_the_text_plugin(pilot, app, '{"text": "old"}')
        _keys_read_at_once(app, "ctrl+a", *'{"abc"', "backspace", "backspace", "X")
        await wait_until(pilot, lambda: "X" in editor.text, "the typing")
        assert editor.text == '{"abX'


async def test_keys_typed_after_choosing_a_plugin_pick_its_action(tmp_path: Path) -> None:
    """Down and Enter typed right after Enter on a plugin moved the plugin list instead."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("f4")
        _keys_read_at_once(app, "enter", "down", "enter", "ctrl+a", *'{"x": 1}')
        editor = screen.query_one(InputEditor)
        await wait_until(pilot, lambda: "x" in editor.text, "the typing")
        assert screen.query_one(ActionList).highlighted == 1
        assert screen.current_action == screen.query_one(ActionList).highlighted_name
        assert editor.text == '{"x": 1}' and app.focused is editor.text_area


async def test_a_plugin_key_acts_on_the_plugin_highlighted_when_it_was_typed(
    tmp_path: Path,
) -> None:
    """S then Down typed at once stopped the plugin below: the moving keys overtook S."""
    app = make_app(tmp_path, BUNDLED, TEST_PLUGINS / "noop")
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("f4")
        _keys_read_at_once(app, "S", "down")
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "stopped", "text stopped")
        assert app.main_screen.current_plugin == "noop"
        assert plugin_state(app, "noop") == "stopped"  # never started, never stopped


async def test_log_keys_act_on_the_row_the_cursor_was_on_and_hand_on_the_typing(
    tmp_path: Path,
) -> None:
    """Up then r reran the exchange below; e then new text sent the text to the log."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        for number, text in ((1, "first"), (2, "second")):
            screen.drafts[(TEXT, "hash")] = (f'{{"text": "{text}"}}', "draft")
            screen.run_plugin_action(TEXT, "hash")
            await wait_until(pilot, lambda: screen.shown_number == number, f"#{number}")  # noqa: B023
        await pilot.press("f3")
        _keys_read_at_once(app, "up", "r")
        await wait_until(pilot, lambda: len(app.exchange_log) == 3, "the rerun")
        assert app.exchange_log.request_bytes(3) == b'{"text": "first"}'
        await wait_until(pilot, lambda: screen.shown_number == 3, "#3")
        await pilot.press("f3")
        _keys_read_at_once(app, "up", "e", "ctrl+a", *'{"text": "typed"}')
        editor = screen.query_one(InputEditor)
        await wait_until(pilot, lambda: "typed" in editor.text, "the typing")
        assert editor.text == '{"text": "typed"}'


async def test_text_typed_after_ctrl_t_lands_in_the_template(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        editor = await _editing_the_text_plugin(pilot, app, '{"text": "old"}')
        _keys_read_at_once(app, "ctrl+t", "X")
        await wait_until(pilot, lambda: "X" in editor.text, "the typing")
        assert editor.text.startswith("X{") and "old" not in editor.text


async def test_tab_and_alt_digits_take_the_keys_typed_after_them(tmp_path: Path) -> None:
    """F4 Tab Up Enter typed at once: Up and Enter went to the plugin list (Tab focused the
    actions only after them), which highlighted and started another plugin."""
    app = make_app(tmp_path, BUNDLED, TEST_PLUGINS / "noop")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "first plugin ready")
        await pilot.press("f4")
        _keys_read_at_once(app, "tab", "down")
        await wait_until(pilot, lambda: isinstance(app.focused, ActionList), "the action list")
        await pilot.pause()
        assert screen.current_plugin == TEXT
        assert screen.current_action == "extract-emails"
        await pilot.press("f3")
        # alt+1 as tmux sends it (ESC 1, which Textual reads as macOS's Option+1 character).
        _keys_read_at_once(app, "inverted_exclamation_mark", "down")
        await wait_until(pilot, lambda: isinstance(app.focused, PluginList), "the plugin list")
        await pilot.pause()
        assert screen.current_plugin != TEXT


async def test_tab_indents_in_the_editor_and_escape_leaves_for_the_log(tmp_path: Path) -> None:
    """Escape in the editor went to the log's filter, where alt+2 then typed ™."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("f2")
        area = app.main_screen.query_one(InputEditor).text_area
        area.load_text("{}")
        area.move_cursor((0, 1))
        await pilot.press("tab")
        assert app.focused is area
        assert area.text.startswith("{ ") and area.text.endswith("}")
        await pilot.press("escape")
        assert isinstance(app.focused, ExchangeTable)
        await pilot.press("trade_mark_sign")  # alt+2 as tmux sends it: the actions
        assert isinstance(app.focused, ActionList)


async def test_the_footer_says_how_to_leave_the_editor(tmp_path: Path) -> None:
    """Tab indents in the editor and the footer never named Esc: a user tabbing to move on
    stayed in the editor, indenting their input."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("f2")
        await pilot.pause()
        footer = app.main_screen.query_one(Footer)

        def entries() -> list[str]:
            return [" ".join(str(key.render()).split()) for key in footer.query("FooterKey")]

        assert "esc Leave editor" in entries()
        # At 80 columns every entry still fits whole ("Leave the editor" cut ^q Quit off).
        assert footer.max_scroll_x == 0, "the footer overflows: its last entry is cut"
        await pilot.press("escape")
        assert isinstance(app.focused, ExchangeTable)
        await pilot.pause()
        assert not any(entry.startswith("esc") for entry in entries())


async def test_f2_on_a_short_terminal_brings_the_editor_back_from_the_memory_view(
    tmp_path: Path,
) -> None:
    """At 80x24 the memory view (f8) hides the editor; F2 then focused the hidden editor
    and the text typed next changed the input out of sight."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        editor = screen.query_one(InputEditor)
        await pilot.press("f8")
        await pilot.pause()
        assert screen.has_class("-telemetry") and editor.region.height == 0
        await pilot.press("f2")
        await pilot.pause()
        assert not screen.has_class("-telemetry")
        assert app.focused is editor.text_area and editor.region.height > 0


async def test_f8_moves_focus_out_of_the_panes_it_hides(tmp_path: Path) -> None:
    """With the request pane focused, f8 hid it and left no region marked as focused; the
    memory view now takes the focus, with the focused region's heavy border."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("f3", "alt+6")
        assert app.focused is screen.query_one("#request-text")
        await pilot.press("f8")
        await pilot.pause()
        telemetry = screen.telemetry
        assert app.focused is not None and telemetry in app.focused.ancestors
        assert telemetry.styles.border_top[0] == "heavy"
        await pilot.press("f8")
        assert isinstance(app.focused, ExchangeTable)


async def test_help_and_palette_list_each_key_once(tmp_path: Path) -> None:
    """Help listed f1 twice and the editor's home twice; the palette had Textual's "Keys"
    beside "Show keys (help)"."""
    from aro_tui.ui.screens.help import binding_rows

    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        rows = binding_rows(app, app.binding_groups())
        f1 = [row for row in rows if row[1] == "f1"]
        assert len(f1) == 1
        editor_keys = [keys for region, keys, _, _ in rows if region == "input editor"]
        assert len(editor_keys) == len(set(editor_keys)), editor_keys
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Keys" not in titles and "Theme" in titles


async def test_redo_and_undo_that_shrink_a_tall_input_keep_the_dashboard_up(
    tmp_path: Path,
) -> None:
    # Textual's TextArea recomputed the cursor's place before moving it: redoing a replacement
    # of an input taller than the editor (or undoing a multi-line paste) put the cursor past
    # the end of the shorter text and ended the app with a ValueError.
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        editor = app.main_screen.query_one(InputEditor)
        tall = "{\n" + ",\n".join(f'  "field{n}": {n}' for n in range(12)) + "\n}"
        editor.load(tall, "test")
        await pilot.press("f2", "ctrl+a", "x")
        assert editor.text == "x"
        await pilot.press("ctrl+z")
        assert editor.text == tall
        await pilot.press("ctrl+y")
        assert editor.text == "x"
        assert editor.text_area.cursor_location == (0, 1)
        await pilot.press("ctrl+z", "ctrl+a")
        editor.text_area.replace("{}", *editor.text_area.selection)  # one edit, like a paste
        await pilot.press("ctrl+a")
        editor.text_area.replace(tall, *editor.text_area.selection)
        await pilot.press("ctrl+z")
        assert editor.text == "{}"
        await pilot.press("ctrl+y", "ctrl+z", "ctrl+z", "ctrl+y", "ctrl+y")
        assert editor.text == tall
        assert app.is_running
