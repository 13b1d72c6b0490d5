"""Bundled themes on standard widgets (snapshots), loading problems, and the remembered choice."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Label

from aro_tui.core.theme_files import DASHBOARD_VARIABLES, bundled_themes_dir
from aro_tui.ui.themes import (
    apply_theme,
    load_themes,
    remember_theme_changes,
    theme_variable_defaults,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "themes"
BUNDLED_THEMES = ["aro-dark", "aro-light", "aro-high-contrast"]
STATUSES = ["ok", "error", "timeout", "crashed", "running"]
CHART_VARIABLES = [name for name in DASHBOARD_VARIABLES if name.startswith("chart-")]
SnapCompare = Callable[..., bool]


class ThemePreview(App[None]):
    """Standard widgets coloured by the dashboard's theme variables."""

    TITLE = "aro-tui theme preview"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit")]
    CSS = "\n".join(
        [
            "DataTable { height: 8; }",
            "#chart { height: 3; }",
            "#chart Label { width: 1fr; height: 3; content-align: center middle; }",
            "#statuses { height: 1; }",
            "#statuses Label { width: 1fr; }",
            *(
                f"#{name} {{ background: ${name}; color: $background; }}"
                for name in CHART_VARIABLES
            ),
            *(f"#label-{s} {{ color: $status-{s}; text-style: bold; }}" for s in STATUSES),
        ]
    )

    def __init__(self, theme_name: str, theme_folders: list[Path] | None = None) -> None:
        super().__init__()
        self.wanted_theme = theme_name
        self.theme_problems = load_themes(self, theme_folders or [bundled_themes_dir()])

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return theme_variable_defaults()

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="*")
        yield DataTable(cursor_type="row")
        with Horizontal(id="statuses"):
            for status in STATUSES:
                yield Label(status, id=f"label-{status}")
        with Horizontal(id="chart"):
            for name in CHART_VARIABLES:
                yield Label(name.removeprefix("chart-"), id=name)
        yield Footer()

    def on_mount(self) -> None:
        self.theme_problem = apply_theme(self, self.wanted_theme)
        variables = self.get_css_variables()
        table = self.query_one(DataTable)
        table.add_columns("#", "plugin", "action", "status", "time")
        for number, status in enumerate(STATUSES, start=1):
            cell = Text(status, style=variables[f"status-{status}"])
            table.add_row(str(number), "plugin-python-text", "analyze", cell, "-")


@pytest.mark.parametrize("theme_name", BUNDLED_THEMES)
def test_bundled_theme(snap_compare: SnapCompare, theme_name: str) -> None:
    app = ThemePreview(theme_name)
    assert app.theme_problems == []
    assert snap_compare(app, terminal_size=(80, 20))


async def test_broken_files_are_reported_and_the_default_is_used(tmp_path: Path) -> None:
    app = ThemePreview("bad-variable", [bundled_themes_dir(), DATA / "broken", DATA / "user"])
    async with app.run_test():
        assert app.theme == "aro-dark"
        assert app.theme_problem is not None and "'bad-variable'" in app.theme_problem
        text = "\n".join(app.theme_problems)
        assert "bad-variable-colour.yaml:4: field 'variables.status-ok'" in text
        assert "not-yaml.yaml" in text and "builtin-name.yaml" in text
        assert "solarized-user" in app.available_themes
        assert "warning: field 'colour_scheme'" in text


async def test_user_theme_without_dashboard_colours_and_textual_themes_still_style() -> None:
    app = ThemePreview("solarized-user", [bundled_themes_dir(), DATA / "user"])
    async with app.run_test() as pilot:
        assert app.theme == "solarized-user"
        assert app.get_css_variables()["status-ok"] == "#859900"
        app.theme = "textual-light"  # a Textual theme: its own colours fill the variables
        await pilot.pause()
        derived = theme_variable_defaults(app.current_theme)
        assert app.get_css_variables()["chart-gpu"] == derived["chart-gpu"]
        # Drawn from the theme (its primary, made legible), not the dark-tuned default.
        assert derived["chart-gpu"] != theme_variable_defaults()["chart-gpu"]


async def test_switching_is_remembered_but_the_start_up_theme_is_not_rewritten(
    tmp_path: Path,
) -> None:
    settings = tmp_path / "settings.json"
    app = ThemePreview("aro-dark")
    async with app.run_test() as pilot:
        remember_theme_changes(app, settings)
        await pilot.pause()
        assert not settings.exists()
        app.theme = "aro-high-contrast"
        await pilot.pause()
        assert json.loads(settings.read_text())["theme"] == "aro-high-contrast"
