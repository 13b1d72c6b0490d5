"""The discovered plugins with their live status."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets.option_list import Option

from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.ui.registry import PluginEntry
from aro_tui.ui.widgets.sidebar.ordered_list import OrderedOptionList, moving_bindings

STATE_GLYPHS = {
    "stopped": ("○", "dim"),
    "starting": ("◌", "cyan"),
    "ready": ("●", "green"),
    "busy": ("◉", "yellow"),
    "crashed": ("✖", "bold red"),
    "invalid": ("⚠", "bold red"),
}
"""Each state's glyph and its style when the theme sets no ``$status-*`` variables."""

STATE_VARIABLES = {
    "starting": "status-running",
    "ready": "status-ok",
    "busy": "status-timeout",
    "crashed": "status-crashed",
    "invalid": "status-error",
}
"""Each state's theme variable (themes/README.md, "Dashboard colours"), as the log uses."""


def themed_state_styles(variables: dict[str, str]) -> dict[str, str]:
    """Rich styles for each plugin state from a theme's variables."""
    styles: dict[str, str] = {}
    for state, (_glyph, fallback) in STATE_GLYPHS.items():
        colour = variables.get(STATE_VARIABLES.get(state, ""))
        bold = "bold " if state in {"crashed", "invalid"} else ""
        styles[state] = f"{bold}{colour}" if colour else fallback
    return styles


def plugin_prompt(
    entry: PluginEntry,
    width_chars: int = 30,
    state_styles: dict[str, str] | None = None,
    *,
    on_cursor: bool = False,
) -> Text:
    """One plugin's row: status glyph, name, state word (problems for an invalid one).

    ``on_cursor``: the highlighted row, all in the cursor's own colour; a status colour on the
    cursor's background can't be read (aro-dark's green "ready" on its blue cursor: 1.1:1).
    """
    state = entry.state_text
    glyph, style = STATE_GLYPHS.get(state, ("?", ""))
    style = (state_styles or {}).get(state, style)
    note_style, stale_style = "dim", (state_styles or {}).get("busy", "yellow")
    if on_cursor:
        style = "bold" if state in {"crashed", "invalid"} else ""
        note_style = stale_style = ""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{glyph} ", style=style)
    text.append(shorten(sanitize_line(entry.name), width_chars))
    text.append(f"\n  {state}", style=style)
    reason = entry.crash_reason()
    killed = entry.stop_note() if state == "stopped" else None
    if reason is not None:
        text.append(" " + shorten(sanitize_line(reason), max(width_chars - len(state) - 1, 8)))
    elif killed is not None:  # not stopped by the user: say so (it read as a plain "stopped")
        text.append(f" · {shorten(killed, max(width_chars - len(state) - 3, 8))}", style=note_style)
    elif entry.lifecycle_verb is not None and state != "starting":
        text.append(f" · {entry.lifecycle_verb}…", style=note_style)
    elif entry.sources_stale and state in {"ready", "busy"}:
        room = max(width_chars - len(state) - 3, 8)
        stale = shorten(sanitize_line(entry.stale_sources_text()), room)
        text.append(f" · {stale}", style=stale_style)
    if state == "invalid":
        errors = [p for p in entry.plugin.problems if p.is_error]
        for problem in errors[:3]:
            text.append("\n   " + shorten(sanitize_line(problem.message), 60), style=note_style)
        if len(errors) > 3:
            text.append(f"\n   … {len(errors) - 3} more", style=note_style)
    return text


class PluginList(OrderedOptionList):
    """Plugins found by discovery; Enter starts the highlighted one and goes to its actions.

    Stopping and restarting take shift (S, R): letters typed here by mistake (the editor
    was not focused) must never end a plugin, least of all one with a call in flight.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # Priority, as the moving keys are (see OrderedOptionList): S then Up typed at once
        # must stop the plugin highlighted when S was typed.
        Binding("s", "lifecycle('start_selected')", "Start", id="plugin.start", priority=True),
        Binding("S", "lifecycle('stop_selected')", "Stop", id="plugin.stop", priority=True),
        # The key of the one the footer does not offer says why it does nothing (s on a
        # running plugin: "… is already running"). System and no description: neither the
        # footer nor the help lists them; no id: a keymap moves Start and Stop, not these.
        Binding("s", "lifecycle('start_refused')", show=False, system=True, priority=True),
        Binding("S", "lifecycle('stop_refused')", show=False, system=True, priority=True),
        Binding(
            "R",
            "lifecycle('restart_plugin')",
            "Restart",
            id="plugin.restart",
            show=False,
            priority=True,
        ),
        *moving_bindings("plugins", "Start, go to actions"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries: list[PluginEntry] = []
        self.state_styles: dict[str, str] = {}
        """Glyph colours from the theme's ``$status-*`` variables."""
        self._cursor_name: str | None = None
        """The plugin whose row is drawn in the cursor's colours."""

    async def action_lifecycle(self, action: str) -> None:
        """Run the screen's ``action`` on the highlighted plugin."""
        await self.screen.run_action(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Ask this list's own screen whether Start or Stop applies (the footer offers one).

        Why not ``screen.`` actions: that names the active screen, and under the help screen
        the main screen's footer then asked the help screen, which offered both.
        """
        if action == "lifecycle" and parameters:
            return self.screen.check_action(str(parameters[0]), ())
        return super().check_action(action, parameters)

    def on_mount(self) -> None:
        self.use_theme()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.use_theme())

    def use_theme(self) -> None:
        """Take the glyph colours from the app's theme and redraw."""
        self.state_styles = themed_state_styles(self.app.theme_variables)
        for entry in self._entries:
            self.refresh_entry(entry)

    @property
    def name_width_chars(self) -> int:
        """Room for a name on one line (the list wraps rather than cuts)."""
        width = self.scrollable_content_region.width
        return max(width - 4, 12) if width else 30

    def on_resize(self) -> None:
        for entry in self._entries:
            self.refresh_entry(entry)

    def watch_highlighted(self, highlighted: int | None) -> None:
        """Redraw the row the cursor left in its status colours, the one it reached in its own."""
        super().watch_highlighted(highlighted)
        reached = self.highlighted_name
        left, self._cursor_name = self._cursor_name, reached
        for entry in self._entries:
            if entry.name in {left, reached}:
                self.refresh_entry(entry)

    def _prompt(self, entry: PluginEntry, width_chars: int) -> Text:
        on_cursor = entry.name == self._cursor_name
        return plugin_prompt(entry, width_chars, self.state_styles, on_cursor=on_cursor)

    def show_entries(self, entries: list[PluginEntry]) -> None:
        """Fill the list (keeping the highlight where it was)."""
        self._entries = list(entries)
        highlighted = self.highlighted
        self.clear_options()
        width = self.name_width_chars
        self.add_options([Option(self._prompt(e, width), id=e.name) for e in entries])
        if entries:
            self.highlighted = min(highlighted or 0, len(entries) - 1)

    def refresh_entry(self, entry: PluginEntry) -> None:
        """Redraw one plugin's row after its state changed."""
        try:
            self.replace_option_prompt(entry.name, self._prompt(entry, self.name_width_chars))
        except Exception:  # the option may be gone after a rescan
            return
