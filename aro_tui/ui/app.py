"""The dashboard app: wires discovery, the plugin host, the log and the screens together."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import TextArea

from aro_tui.core.discovery import Discovery
from aro_tui.core.exchange_log import ExchangeLog
from aro_tui.core.input_memory import InputMemory
from aro_tui.ui.commands import DashboardCommands
from aro_tui.ui.config import AppConfig
from aro_tui.ui.registry import PluginRegistry
from aro_tui.ui.screens.help import HelpScreen
from aro_tui.ui.screens.main import MainScreen
from aro_tui.ui.screens.pager import PagerScreen
from aro_tui.ui.screens.save import SaveDialog
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable, FilterInput
from aro_tui.ui.widgets.response.exchange_view import BodyView
from aro_tui.ui.widgets.sidebar.action_list import ActionList
from aro_tui.ui.widgets.sidebar.plugin_list import PluginList


class AroApp(App[None]):
    """Run and inspect ARO Python plugins."""

    TITLE = "aro-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("f1", "help", "Help", id="help"),
    ]
    COMMANDS = App.COMMANDS | {DashboardCommands}
    # A mode (not get_default_screen) so the screen's CSS_PATH is loaded.
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {"dashboard": MainScreen}
    DEFAULT_MODE = "dashboard"

    def __init__(self, config: AppConfig, discovery: Discovery) -> None:
        super().__init__()
        self.config = config
        self.registry = PluginRegistry(discovery, config.timeout_s)
        self.memory = InputMemory(config.memory_path)
        self.exchange_log = ExchangeLog()

    @property
    def main_screen(self) -> MainScreen:
        """The dashboard screen (always at the bottom of the stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def binding_groups(self) -> list[tuple[str, list[BindingType]]]:
        """Every binding by region, for the help screen."""
        general: list[BindingType] = [
            *self.BINDINGS,
            Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette"),
            Binding("tab", "focus_next", "Next region"),
            Binding("shift+tab", "focus_previous", "Previous region"),
        ]
        return [
            ("everywhere", general),
            ("dashboard", list(MainScreen.BINDINGS)),
            ("plugin list", list(PluginList.BINDINGS)),
            ("action list", list(ActionList.BINDINGS)),
            ("exchange log", list(ExchangeTable.BINDINGS)),
            ("log filter", list(FilterInput.BINDINGS)),
            ("request/response", list(BodyView.BINDINGS)),
            ("full response", list(PagerScreen.BINDINGS)),
            ("save dialog", list(SaveDialog.BINDINGS)),
            ("input editor", list(TextArea.BINDINGS)),
        ]

    def action_help(self) -> None:
        """Show every key binding."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.binding_groups()))

    async def action_quit(self) -> None:
        """Stop every plugin process, then leave."""
        await self.registry.stop_all()
        self.exit()

    def on_unmount(self) -> None:
        self.registry.kill_all_now()
        self.exchange_log.close()
