"""An option list whose moving keys and Enter act in the order they are typed."""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.widgets import OptionList


def moving_bindings(region: str, chosen: str) -> list[Binding]:
    """Up/Down/Home/End/PgUp/PgDn and Enter as priority bindings, ids ``REGION.move`` and
    ``REGION.choose`` (``chosen``: what Enter does, for the help)."""
    keys = (
        ("up", "cursor_up"),
        ("down", "cursor_down"),
        ("home", "first"),
        ("end", "last"),
        ("pageup", "page_up"),
        ("pagedown", "page_down"),
    )
    # system: the help leaves out the keys every list moves with, as before.
    moves = [
        Binding(key, action, id=f"{region}.move", show=False, priority=True, system=True)
        for key, action in keys
    ]
    choose = Binding("enter", "select", chosen, id=f"{region}.choose", show=False, priority=True)
    return [*moves, choose]


class OrderedOptionList(OptionList):
    """Keys typed after Enter go where Enter sent the focus, in order.

    Textual runs an ordinary binding only once the key has come back from the widget, after
    the app has already sent it the keys typed next; a priority binding runs as the app reads
    its key. So the moving keys and Enter are priority bindings (:func:`moving_bindings`,
    which a subclass puts in its ``BINDINGS``), and the screen learns of a highlight or a
    choice through ``on_highlight`` and ``on_choose``, not through the messages ``OptionList``
    posts (handled later still). Enter on an action, ctrl+a and new text typed at once: the
    ctrl+a went to the list and the text into the old input, or the chosen action's input,
    loaded late, replaced it. A subclass's own keys must be priority bindings too, or the
    moving keys typed after them overtake them (S then Up stopped the plugin above).
    """

    on_highlight: Callable[[str], None] | None = None
    """Called with an option's id as soon as it is highlighted."""
    on_choose: Callable[[], None] | None = None
    """Called when Enter chooses the highlighted option."""

    @property
    def highlighted_name(self) -> str | None:
        """The highlighted option's id."""
        if self.highlighted is None:
            return None
        return self.get_option_at_index(self.highlighted).id

    def watch_highlighted(self, highlighted: int | None) -> None:
        """Scroll to it and post the message as ``OptionList`` does; tell the screen now."""
        super().watch_highlighted(highlighted)
        name = self.highlighted_name
        if name is not None and self.on_highlight is not None:
            self.on_highlight(name)

    def action_select(self) -> None:
        """Choose the highlighted option; the screen acts before the next key is read."""
        super().action_select()
        if self.highlighted is not None and self.on_choose is not None:
            self.on_choose()
