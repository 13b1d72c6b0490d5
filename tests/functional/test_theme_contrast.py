"""Colours a user can read in every bundled theme, measured on what the widgets draw."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BUNDLED, make_app, plugin_app, plugin_state, wait_until
from rich.color import Color as RichColor
from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.color import Color
from textual.filter import dim_style
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import TextArea

from aro_tui.core.theme_files import bundled_themes_dir
from aro_tui.ui.app import AroApp
from aro_tui.ui.themes import follow_app_theme, load_themes
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable
from aro_tui.ui.widgets.request.input_editor import InputEditor
from aro_tui.ui.widgets.sidebar.action_list import DocText
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList

TEXT = "plugin-python-text"
BUNDLED_THEMES = ["aro-dark", "aro-light", "aro-high-contrast"]
UNFOCUSED_REGIONS = [
    "#actions",
    "#action-doc",
    "#input",
    "#log",
    "#request-text",
    "#response-pane",
    "#stderr",
]
BORDER_CHARS = set("╭╮╰╯─│")
MIN_BORDER_CONTRAST = 3.0
"""WCAG 2.1, 1.4.11: a control's outline against what is next to it."""
MIN_TEXT_CONTRAST = 4.5
"""WCAG 2.1, 1.4.3: ordinary text against its background."""
LIGHT_THEME_FILE = """\
name: paper
dark: false
primary: "#2255aa"
foreground: "#202020"
background: "#ffffff"
surface: "#f4f4f4"
panel: "#e8e8e8"
"""
JSON_BODY = '{"name": "plugin", "count": 3, "ok": true, "missing": null}'


def relative_luminance(colour: Color) -> float:
    """WCAG 2 relative luminance: 0 for black, 1 for white."""
    channels = []
    for channel in (colour.r, colour.g, colour.b):
        value = channel / 255
        channels.append(value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: RichColor, second: RichColor, *, eight_bit: bool = False) -> float:
    """WCAG contrast of two colours as a truecolour terminal shows them, or (``eight_bit``) as a
    256-colour terminal does once they are rounded to its palette."""
    if eight_bit:
        first, second = (c.downgrade(ColorSystem.EIGHT_BIT) for c in (first, second))
    lighter, darker = sorted(
        (relative_luminance(Color.from_rich_color(c)) for c in (first, second)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def drawn(widget: Widget, segment: Segment) -> tuple[RichColor, RichColor]:
    """The text and background colour a cell is drawn in (dim text as the app dims it)."""
    style = widget.rich_style + (segment.style or Style())
    if style.dim:
        style = dim_style(style, widget.background_colors[1], 0.5)
    assert style.color is not None and style.bgcolor is not None, segment
    return style.color, style.bgcolor


def text_segments(strips: list[Strip]) -> list[Segment]:
    """The segments with something to read (not padding)."""
    return [segment for strip in strips for segment in strip if segment.text.strip()]


def outer_lines(widget: Widget, height: int) -> list[Strip]:
    """The first ``height`` lines the widget draws, its border included."""
    return widget.render_lines(Region(0, 0, widget.outer_size.width, height))


async def dashboard_in(pilot: Pilot[None], app: AroApp, theme: str) -> None:
    """The dashboard in ``theme`` with its plugin ready and the plugin list focused."""
    await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
    app.theme = theme
    app.main_screen.query_one(PluginList).focus()
    await pilot.pause()


def assert_unfocused_borders_stand_out(app: AroApp) -> None:
    """Each unfocused region's outline against its inside and outside, and its title."""
    for selector in UNFOCUSED_REGIONS:
        region = app.main_screen.query_one(selector)
        outside = region.background_colors[0].rich_color
        top = outer_lines(region, 1)
        border = [s for s in text_segments(top) if set(s.text) <= BORDER_CHARS]
        title = [s for s in text_segments(top) if not set(s.text) <= BORDER_CHARS]
        assert border and title, f"{selector}: no border drawn"
        for segment in border:
            line, inside = drawn(region, segment)
            for eight_bit in (False, True):
                for background in (inside, outside):
                    ratio = contrast(line, background, eight_bit=eight_bit)
                    where = f"{app.theme} {selector} border, {256 if eight_bit else 'true'}colour"
                    assert ratio >= MIN_BORDER_CONTRAST, f"{where}: {ratio:.2f}:1"
        for segment in title:
            ratio = contrast(*drawn(region, segment))
            assert ratio >= MIN_TEXT_CONTRAST, f"{app.theme} {selector} title: {ratio:.2f}:1"


@pytest.mark.parametrize("theme", BUNDLED_THEMES)
async def test_unfocused_region_borders_stand_out(tmp_path: Path, theme: str) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await dashboard_in(pilot, app, theme)
        assert_unfocused_borders_stand_out(app)


async def test_a_light_theme_file_without_border_colour_gets_a_legible_one(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "themes"
    folder.mkdir()
    (folder / "paper.yaml").write_text(LIGHT_THEME_FILE)
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        assert load_themes(app, [bundled_themes_dir(), folder]) == []
        await dashboard_in(pilot, app, "paper")
        assert_unfocused_borders_stand_out(app)


@pytest.mark.parametrize("theme", BUNDLED_THEMES)
async def test_highlighted_plugin_row_is_legible(tmp_path: Path, theme: str) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await dashboard_in(pilot, app, theme)
        plugins = app.main_screen.query_one(PluginList)
        assert plugins.highlighted_name == TEXT
        for focused in (True, False):
            if not focused:
                app.main_screen.query_one("#log-table").focus()
                await pilot.pause()
            assert plugins.has_focus == focused
            # The highlighted plugin's two lines: "● name" and "  ready".
            row = text_segments([plugins.render_line(0), plugins.render_line(1)])
            assert "ready" in "".join(segment.text for segment in row)
            for segment in row:
                for eight_bit in (False, True):
                    ratio = contrast(*drawn(plugins, segment), eight_bit=eight_bit)
                    where = (
                        f"{theme}, {'focused' if focused else 'not focused'},"
                        f" {256 if eight_bit else 'true'}colour: {segment.text!r}"
                    )
                    assert ratio >= MIN_TEXT_CONTRAST, f"{where} {ratio:.2f}:1"


class EditorPreview(App[None]):
    """One JSON editor following the app's theme as the dashboard's do."""

    AUTO_FOCUS = None  # no cursor drawn over the text

    def compose(self) -> ComposeResult:
        yield TextArea.code_editor(JSON_BODY, language="json")

    def on_mount(self) -> None:
        load_themes(self, [bundled_themes_dir()])
        self.theme = "aro-dark"
        follow_app_theme(self.query_one(TextArea), "monokai")


def assert_body_legible(area: TextArea, surface: Color, lines: int) -> None:
    """Every character of the text readable, on the theme's surface rather than a dark block
    (line numbers, muted by design, aside)."""
    width = area.scrollable_content_region.width
    strips = [area.render_line(y).crop(area.gutter_width, width) for y in range(lines)]
    row = text_segments(strips)
    assert row, "nothing drawn"
    for segment in row:
        ratio = contrast(*drawn(area, segment))
        assert ratio >= MIN_TEXT_CONTRAST, f"#{area.id} {segment.text!r}: {ratio:.2f}:1"
    for strip in strips:
        _, background = drawn(area, list(strip)[-1])  # the blank after the text
        assert contrast(background, surface.rich_color) < 1.5, f"#{area.id} on {background}"


async def test_editor_syntax_colours_follow_the_app_theme() -> None:
    app = EditorPreview()
    async with app.run_test(size=(80, 6)) as pilot:
        area = app.query_one(TextArea)
        assert area.theme == "monokai"
        app.theme = "aro-light"
        await pilot.pause()
        assert area.theme != "monokai"
        assert_body_legible(area, Color.parse(app.theme_variables["surface"]), 1)
        app.theme = "aro-dark"
        await pilot.pause()
        assert area.theme == "monokai"


async def test_request_response_and_editor_are_legible_on_a_light_theme(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await dashboard_in(pilot, app, "aro-light")
        screen = app.main_screen
        screen.drafts[(TEXT, "hash")] = (JSON_BODY, "draft")
        screen.run_plugin_action(TEXT, "hash")
        await wait_until(pilot, lambda: screen.shown_number == 1, "response")
        await pilot.pause()
        surface = Color.parse(app.theme_variables["surface"])
        for selector in ("#input-text", "#request-text", "#response-text"):
            assert_body_legible(screen.query_one(selector, TextArea), surface, 3)


STATUS_THEMES = [
    *BUNDLED_THEMES,
    "textual-dark",
    "textual-light",
    "solarized-light",
    "catppuccin-latte",
]
"""The bundled themes and some of Textual's own, light ones among them."""
STRICT_ONLY = "Strict_Only"
"""A name the ARO runtime loads and its package manager refuses: the docs warn of it."""
CALLS_PLUGIN = '''\
import json
import time


def aro_plugin_info():
    return {"actions": ["echo", "fail", "garble", "nap"]}


def aro_action_echo(input_json):
    """Answer the input."""
    return input_json


def aro_action_fail(input_json):
    """Answer an error."""
    return json.dumps({"error": "no such thing"})


def aro_action_garble(input_json):
    """Answer text that is not JSON."""
    return "not json"


def aro_action_nap(input_json):
    """Take a minute."""
    time.sleep(60)
    return "{}"
'''


def contrasts_of(widget: Widget, needle: str) -> list[float]:
    """The contrast of every drawn piece of ``widget``'s text that holds ``needle``."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    found = [segment for segment in text_segments(lines) if needle in segment.text]
    assert found, f"{needle!r} is not drawn in #{widget.id}"
    return [contrast(*drawn(widget, segment)) for segment in found]


async def readings_in_every_theme(
    pilot: Pilot[None], app: AroApp, widget: Widget, needle: str
) -> dict[str, float]:
    """``needle``'s worst contrast in ``widget`` under each of ``STATUS_THEMES``."""
    readings = {}
    for theme in STATUS_THEMES:
        app.theme = theme
        await pilot.pause()
        readings[theme] = min(contrasts_of(widget, needle))
    return readings


async def test_status_and_warning_text_reads_in_every_theme(tmp_path: Path) -> None:
    """Status words, cards and warnings drawn in the active theme's colours, not fixed ANSI
    ones: "⚠ action error:" measured 1.6:1 on aro-light's card, "ok" 1.5:1 in textual-light's
    log, and a running call's card was the error colour."""
    app = plugin_app(tmp_path, STRICT_ONLY, CALLS_PLUGIN)
    readings: dict[str, dict[str, float]] = {}
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, STRICT_ONLY) == "ready", "ready")
        screen.select_action("echo")
        docs = screen.query_one("#action-doc-text", DocText)
        await wait_until(pilot, lambda: "aro add" in str(docs.render()), "the docs' warning")
        readings["docs ⚠ runs, but aro add would refuse it"] = await readings_in_every_theme(
            pilot, app, docs, "⚠ runs"
        )

        card = screen.query_one("#response-card")
        for action, shown, needle in (
            ("echo", 1, None),
            ("fail", 2, "⚠ action error:"),
            ("garble", 3, "✖ Protocol error"),
        ):
            screen.drafts[(STRICT_ONLY, action)] = ("{}", "draft")
            screen.run_plugin_action(STRICT_ONLY, action)
            await wait_until(pilot, lambda n=shown: screen.shown_number == n, f"#{shown}")
            if needle is not None:
                await wait_until(pilot, lambda n=needle: n in str(card.render()), needle)
                readings[f"card {needle}"] = await readings_in_every_theme(pilot, app, card, needle)
        for action, shown in (("echo", 4), ("fail", 5), ("garble", 6)):
            # Each status once more, on a row of the other stripe (4.10:1 on aro-light's).
            screen.drafts[(STRICT_ONLY, action)] = ("{}", "draft")
            screen.run_plugin_action(STRICT_ONLY, action)
            await wait_until(pilot, lambda n=shown: screen.shown_number == n, f"#{shown}")
        table = screen.query_one("#log-table", ExchangeTable)
        for focused in (False, True):  # a focused table is drawn tinted
            if focused:
                table.focus()
            for status, cursor_row in (("ok", 2), ("plugin error", 0), ("protocol error", 0)):
                table.move_cursor(row=cursor_row)  # the cursor's row is drawn in its own colours
                await pilot.pause()
                where = "focused log" if focused else "log"
                readings[f"{where} {status}"] = await readings_in_every_theme(
                    pilot, app, table, status
                )

        editor = screen.query_one(InputEditor)
        editor.text_area.load_text('{"value": "f\tg"}')
        editor.validate()
        status = screen.query_one("#input-status")
        await wait_until(pilot, lambda: "Invalid JSON" in str(status.render()), "the problem")
        readings["editor ✖ Invalid JSON"] = await readings_in_every_theme(
            pilot, app, status, "✖ Invalid JSON"
        )

        screen.drafts[(STRICT_ONLY, "nap")] = ("{}", "draft")
        screen.run_plugin_action(STRICT_ONLY, "nap")
        await wait_until(pilot, lambda: "▶ running" in str(card.render()), "the running card")
        readings["card ▶ running"] = await readings_in_every_theme(pilot, app, card, "▶ running")
        box = screen.query_one("#response-card-box")
        error_muted = Color.parse(app.theme_variables["error-muted"])
        assert box.styles.background != error_muted, "a running call is no failure"
    unreadable = [
        f"{what} in {theme}: {ratio:.2f}:1"
        for what, by_theme in readings.items()
        for theme, ratio in by_theme.items()
        if ratio < MIN_TEXT_CONTRAST
    ]
    assert not unreadable, "\n".join(unreadable)
