"""The discovered plugins with their live status."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.ui.registry import PluginEntry

STATE_GLYPHS = {
    "stopped": ("○", "dim"),
    "starting": ("◌", "cyan"),
    "ready": ("●", "green"),
    "busy": ("◉", "yellow"),
    "crashed": ("✖", "bold red"),
    "invalid": ("⚠", "bold red"),
}


def plugin_prompt(entry: PluginEntry, width_chars: int = 30) -> Text:
    """One plugin's row: status glyph, name, state word (problems for an invalid one)."""
    state = entry.state_text
    glyph, style = STATE_GLYPHS.get(state, ("?", ""))
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{glyph} ", style=style)
    text.append(shorten(sanitize_line(entry.name), width_chars))
    text.append(f"\n  {state}", style=style)
    reason = entry.crash_reason()
    if reason is not None:
        text.append(" " + shorten(sanitize_line(reason), max(width_chars - len(state) - 1, 8)))
    elif entry.lifecycle_verb is not None and state != "starting":
        text.append(f" · {entry.lifecycle_verb}…", style="dim")
    if state == "invalid":
        errors = [p for p in entry.plugin.problems if p.is_error]
        for problem in errors[:3]:
            text.append("\n   " + shorten(sanitize_line(problem.message), 60), style="dim")
        if len(errors) > 3:
            text.append(f"\n   … {len(errors) - 3} more", style="dim")
    return text


class PluginList(OptionList):
    """Plugins found by discovery; Enter starts the highlighted one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "screen.toggle_plugin", "Start/stop", id="plugin.toggle"),
        Binding("r", "screen.restart_plugin", "Restart", id="plugin.restart", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._entries: list[PluginEntry] = []

    @property
    def name_width_chars(self) -> int:
        """Room for a name on one line (the list wraps rather than cuts)."""
        width = self.scrollable_content_region.width
        return max(width - 4, 12) if width else 30

    def on_resize(self) -> None:
        for entry in self._entries:
            self.refresh_entry(entry)

    def show_entries(self, entries: list[PluginEntry]) -> None:
        """Fill the list (keeping the highlight where it was)."""
        self._entries = list(entries)
        highlighted = self.highlighted
        self.clear_options()
        width = self.name_width_chars
        self.add_options([Option(plugin_prompt(e, width), id=e.name) for e in entries])
        if entries:
            self.highlighted = min(highlighted or 0, len(entries) - 1)

    def refresh_entry(self, entry: PluginEntry) -> None:
        """Redraw one plugin's row after its state changed."""
        try:
            self.replace_option_prompt(entry.name, plugin_prompt(entry, self.name_width_chars))
        except Exception:  # the option may be gone after a rescan
            return

    @property
    def highlighted_name(self) -> str | None:
        """The name of the highlighted plugin."""
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id
