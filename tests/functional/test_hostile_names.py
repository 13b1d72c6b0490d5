"""Plugin and action names that look like markup, or repeat: shown as they are, never a crash.

A plugin named ``x[/]`` took the dashboard down with MarkupError as soon as it was highlighted
(border titles and the command palette read plain strings as markup), and an action listed
twice by ``aro_plugin_info()`` with DuplicateID.
"""

from __future__ import annotations

from pathlib import Path

from helpers import make_app, plugin_app, plugin_state, wait_until, write_plugin_folder
from test_log_flow import _highlight_action, _palette_hits
from textual.command import CommandList
from textual.content import Content

from aro_tui.ui.widgets.sidebar.action_list import ActionList
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList

PLUGIN = """
def aro_plugin_info():
    return {"name": "names", "version": "1.0.0",
            "actions": ["echo", "echo", "[/]", "[bold]b[/bold]"]}

def aro_action_echo(input_json):
    return input_json
"""


def _title(widget_title: str | None) -> str:
    """A border title as it reads on screen."""
    return Content.from_markup(widget_title or "").plain


async def test_markup_and_repeats_in_names_are_shown_literally(tmp_path: Path) -> None:
    plugins = tmp_path / "Plugins"
    # An invalid name, in the folder listed first: highlighted at start.
    invalid = write_plugin_folder(plugins / "a-invalid", "x[/]", PLUGIN)
    app = make_app(tmp_path, invalid, write_plugin_folder(plugins / "names", "names", PLUGIN))
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await pilot.pause()
        assert _title(screen.query_one("#actions").border_title) == "Actions · x[/]"
        screen.query_one(PluginList).focus()
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: plugin_state(app, "names") == "ready", "ready")
        actions = screen.query_one(ActionList)
        names = [str(actions.get_option_at_index(i).id) for i in range(actions.option_count)]
        assert names == ["echo", "[/]", "[bold]b[/bold]"]
        for name in ("[/]", "[bold]b[/bold]"):
            _highlight_action(screen, name)
            await pilot.pause()
            assert _title(screen.query_one("#input").border_title) == f"Input · {name}"
        await pilot.press("ctrl+p")
        await pilot.press(*"[/]")
        await wait_until(pilot, lambda: _palette_hits(app) > 0, "palette hits")
        prompts = [str(option.prompt) for option in app.screen.query_one(CommandList).options]
        assert any(prompt.startswith("Run names [/]\n") for prompt in prompts), prompts


async def test_a_long_action_name_takes_one_line_cut_with_an_ellipsis(tmp_path: Path) -> None:
    """At 80 columns `extract-all-the-urls-from-the-document` read `extract-all-the-urls-f` /
    `rom-the-document`, the second line looking like another action."""
    long_name = "extract-all-the-urls-from-the-document"
    source = (
        "def aro_plugin_info():\n"
        f"    return {{'actions': ['echo', '{long_name}', 'hash']}}\n"
        "def aro_action_echo(input_json):\n    return input_json\n"
        "def aro_action_extract_all_the_urls_from_the_document(input_json):\n    return '{}'\n"
        "def aro_action_hash(input_json):\n    return '{}'\n"
    )
    app = plugin_app(tmp_path, "long", source)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "long") == "ready", "ready")
        actions = app.main_screen.query_one(ActionList)
        await wait_until(pilot, lambda: actions.option_count == 3, "the actions")
        lines = [actions.render_line(y).text.strip() for y in range(3)]
    assert lines[0] == "echo" and lines[2] == "hash"
    assert lines[1].endswith("…") and long_name.startswith(lines[1].removesuffix("…"))
