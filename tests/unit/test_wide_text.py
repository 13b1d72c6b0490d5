"""CJK and emoji take two terminal columns: names are cut, and docstrings wrapped, by columns.

Cut by character count, a CJK plugin name wrapped onto extra rows of the plugin list, a CJK
action was cut in the log by the table itself (no "…", a letter gone), the diff view's
"plugin · action" lost its action, and a CJK docstring was wrapped twice, to column 0.
"""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from textual.app import App, ComposeResult

from aro_tui.core.exchange_log import LogEntry
from aro_tui.core.plugins.discovery import discover
from aro_tui.core.sanitize import shorten, shorten_start
from aro_tui.ui.comparison import Comparison
from aro_tui.ui.registry import PluginEntry
from aro_tui.ui.screens.diff import DiffScreen
from aro_tui.ui.themes import theme_variable_defaults
from aro_tui.ui.widgets.log.exchange_table import column_widths, entry_cells
from aro_tui.ui.widgets.response.exchange_view import StderrView
from aro_tui.ui.widgets.sidebar.action_list import wrap_docstring
from aro_tui.ui.widgets.sidebar.plugin_list import plugin_prompt

PLUGIN_NAME = "日本語のテキスト処理プラグイン"
"""15 characters, 30 columns."""
ACTION_NAME = "文章を要約して返す処理"
EMOJI = "🙂🙃🙂🙃🙂🙃"


def test_shorten_cuts_to_columns_with_an_ellipsis() -> None:
    assert shorten(PLUGIN_NAME, 10) == "日本語の…"
    assert shorten(EMOJI, 6) == "🙂🙃…"
    assert shorten_start(PLUGIN_NAME, 10) == "…ラグイン"
    for width in range(1, 32):
        for text in (PLUGIN_NAME, EMOJI, "plain-ascii-name"):
            for cut in (shorten(text, width), shorten_start(text, width)):
                assert cell_len(cut) <= max(width, 1), (text, width, cut)
                assert cut == text or "…" in cut
    assert shorten(PLUGIN_NAME, 30) == PLUGIN_NAME  # fits exactly: not cut
    assert shorten("abcdef", 4) == "abc…" and shorten_start("abcdef", 4) == "…def"


def _lines(text: object, width: int) -> list[str]:
    """How a terminal ``width`` columns wide shows ``text`` (Rich lays it out)."""
    console = Console(width=width, color_system=None, file=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(text)
    return capture.get().rstrip("\n").split("\n")


def test_a_cjk_plugin_name_keeps_to_its_row(tmp_path: Path) -> None:
    folder = tmp_path / "Plugins" / "cjk"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "plugin.py").write_text("def aro_action_echo(input_json):\n    return '{}'\n")
    (folder / "plugin.yaml").write_text(
        f'name: "{PLUGIN_NAME}"\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n'
        "    path: src/\n"
    )
    (plugin,) = discover(folder).plugins  # invalid: aro add wants a lower-case name
    width = 20  # the name's room in a 24-column sidebar
    rows = _lines(plugin_prompt(PluginEntry(plugin), width), width + 2)
    assert rows[0].startswith("⚠ 日本語") and rows[0].endswith("…"), rows
    assert rows[1] == "  invalid", "the name took one row"


def test_cjk_names_in_the_log_are_cut_to_their_columns_with_an_ellipsis() -> None:
    entry = LogEntry(
        number=1, plugin=PLUGIN_NAME, action=ACTION_NAME, status="ok", duration_ms=1.0,
        request_size_bytes=2, response_size_bytes=2, stderr_line_count=0, error=None,
        exit_code=None, signal_number=None, rss_before_bytes=None, rss_after_bytes=None,
    )  # fmt: skip
    widths = column_widths(120)  # action 20 columns, plugin 21
    cells = entry_cells(entry, deterministic=True, widths=widths)
    action, plugin = cells[1], cells[6]
    assert cell_len(action.plain) <= widths[1] and action.plain.endswith("…")
    assert cell_len(plugin.plain) <= widths[6] and plugin.plain.endswith("…")
    assert ACTION_NAME.startswith(action.plain.removesuffix("…"))


def test_a_cjk_docstring_wraps_to_the_panel_keeping_its_hanging_indent() -> None:
    doc = (
        "文章を要約して返します。長い文章は最初の段落だけを使います。\n"
        "Input:\n"
        "    - text: 要約する文章、日本語または英語で書かれたもの\n"
        "    - 長さ: 要約の最大の文字数、既定値は百文字です\n"
    )
    width = 28
    lines = wrap_docstring(doc, width).splitlines()
    assert all(cell_len(line) <= width for line in lines), lines
    assert lines[:3] == ["文章を要約して返します。長い", "文章は最初の段落だけを使いま", "す。"]
    text_item = lines.index("    - text: 要約する文章、日")
    assert lines[text_item + 1 : text_item + 3] == ["      本語または英語で書かれ", "      たもの"]
    assert lines[text_item + 4] == "      数、既定値は百文字です", "hanging under the item's text"
    assert "".join("".join(lines).split()) == "".join(doc.split()), "no character lost"


class _DiffApp(App[None]):
    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults()

    def on_mount(self) -> None:
        self.push_screen(DiffScreen("replay", [self.comparison], deterministic=True))


async def test_the_diff_view_keeps_a_cjk_action_in_its_plugin_action_cell() -> None:
    comparison = Comparison(
        number=1, plugin="日本語", action=ACTION_NAME, outcome="equal", diff=None, problem=None,
        old_status="ok", new_status="ok", old_duration_ms=1.0, new_duration_ms=1.0,
        old_rss_after_bytes=None, new_rss_after_bytes=None, old_rss_growth_bytes=None,
        new_rss_growth_bytes=None,
    )  # fmt: skip
    app = _DiffApp(comparison)
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause()
        runs = app.screen.query_one("#diff-runs")
        shown = " ".join(runs.render_line(y).text for y in range(runs.size.height))
    assert f"日本語 · {ACTION_NAME}" in shown


class _StderrApp(App[None]):
    def compose(self) -> ComposeResult:
        yield StderrView()


async def test_tab_separated_stderr_keeps_its_columns() -> None:
    """Tabs were shown as ``␉``: a plugin's table on stderr lost its alignment."""
    lines = ["name\tsize\tstate", "模型\t12\tloaded", "tokenizer.json\t3\t\x1b[1mok"]
    app = _StderrApp()
    async with app.run_test(size=(60, 8)) as pilot:
        view = app.query_one(StderrView)
        view.show_lines(lines)
        await pilot.pause()
        shown = [view.render_line(y).text.rstrip() for y in range(3)]
    assert shown == [
        "name    size    state",
        "模型    12      loaded",
        "tokenizer.json  3       ␛[1mok",  # other control characters still made visible
    ]
