"""The selected plugin's actions and the highlighted one's docstring."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aro_tui.core.sanitize import sanitize, sanitize_line


class ActionList(OptionList):
    """Action names; the docstrings live in :class:`ActionDoc`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i,e", "screen.focus_input", "Edit input", id="actions.edit"),
    ]

    def show_actions(self, actions: list[tuple[str, str | None]], keep: str | None) -> None:
        """Fill the list, keeping ``keep`` highlighted when it is still there."""
        self.clear_options()
        self.add_options([Option(Text(sanitize_line(name)), id=name) for name, _ in actions])
        names = [name for name, _ in actions]
        if names:
            self.highlighted = names.index(keep) if keep in names else 0

    @property
    def highlighted_name(self) -> str | None:
        """The highlighted action's name."""
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id


class ActionDoc(VerticalScroll):
    """The highlighted action's docstring (plain text, never markup)."""

    def compose(self) -> ComposeResult:
        yield Static(id="action-doc-text")

    def show_doc(self, doc: str | None, started: bool, crash_reason: str | None = None) -> None:
        """Show ``doc`` (or say why there is none), after why the plugin crashed if it did."""
        content = Text()
        if crash_reason is not None:
            content.append("✖ crashed: ", style="bold red")
            content.append(sanitize(crash_reason))
            content.append("\n(s: start again · R: restart)\n\n", style="dim")
        if doc:
            content.append(sanitize(doc))
        elif started:
            content.append("This action has no docstring.", style="dim italic")
        else:
            content.append("Docs appear once the plugin is started (Enter).", style="dim italic")
        self.query_one("#action-doc-text", Static).update(content)


class Sidebar(Vertical):
    """Plugins above, actions and docs below."""
