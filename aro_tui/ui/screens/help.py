"""Every key binding, generated from the bindings themselves."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


def binding_rows(
    app: App[object], groups: list[tuple[str, list[BindingType]]]
) -> list[tuple[str, str, str, str]]:
    """(region, keys, description, id) for every binding in ``groups``, keys of one
    binding joined (``^r / f5``), as the app's keymap sets them (the settings' ``keymap``)."""
    keymap: dict[str, str] = getattr(app, "_keymap", {})  # App.set_keymap keeps it there
    rows: dict[tuple[str, str, str], list[str]] = {}
    for region, bindings in groups:
        for binding in Binding.make_bindings(_remapped(bindings, keymap)):
            if binding.system and not binding.description:
                continue
            description = binding.description or binding.tooltip or binding.action
            keys = rows.setdefault((region, description, binding.id or ""), [])
            display = app.get_key_display(binding)
            if display not in keys:
                keys.append(display)
    return [
        (region, " / ".join(keys), description, binding_id)
        for (region, description, binding_id), keys in rows.items()
    ]


def _remapped(bindings: list[BindingType], keymap: dict[str, str]) -> list[BindingType]:
    """``bindings`` with the keys ``keymap`` gives their ids."""
    if not keymap:
        return bindings
    return [
        dataclasses.replace(b, key=keymap[b.id]) if isinstance(b, Binding) and b.id in keymap else b
        for b in bindings
    ]


FIRST_CALL_FLOW = "F4 plugins → Enter → action → Enter → edit → {run}"
"""The keyboard path from nothing to a response, as the help screen's header says it (``run``:
the run key, ctrl+r unless a keymap gave it another)."""


class HelpScreen(ModalScreen[None]):
    """A table of every binding, grouped by where it applies."""

    CSS_PATH = "help.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close help", id="help.close"),
    ]

    def __init__(self, groups: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with Vertical(id="help-panel"):
            yield Static(
                Text("Keys — escape closes · ctrl+p opens the command palette", style="bold")
            )
            keymap: dict[str, str] = getattr(self.app, "_keymap", {})
            run = keymap.get("run", "ctrl+r").split(",")[0]
            flow = FIRST_CALL_FLOW.format(run=run)
            yield Static(Text(f"First call: {flow}", style="italic"), id="help-flow")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#help-table", DataTable)
        table.add_columns("where", "keys", "does", "id")
        for region, keys, description, binding_id in binding_rows(self.app, self.groups):
            table.add_row(
                region, Text(keys, style="bold"), description, Text(binding_id, style="dim")
            )
        table.focus()
