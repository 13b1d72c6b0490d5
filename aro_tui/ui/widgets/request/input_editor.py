"""The JSON input editor with a status line (where the input came from, or what is wrong)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import ClassVar, NamedTuple

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static, TextArea
from textual.widgets.text_area import DocumentBase

from aro_tui.core.json_values import JsonProblem, check_json
from aro_tui.core.sanitize import sanitize_line
from aro_tui.ui.themes import follow_app_theme
from aro_tui.ui.widgets.documents import load_document, release_document

HIGHLIGHT_LIMIT_CHARS = 128 * 1024
"""The editor colours JSON up to this size; larger input is plain text (see the editor)."""
NO_ACTION = "no action"
"""The editor's source when the plugin shown has no action chosen (none known yet, say)."""
LAST_USED_THIS_RUN = "last used, this run"
"""The editor's source for an input run that was too large to save across runs."""
NOT_SAVED_THIS_RUN = "last used, not saved"
"""The editor's source for an input run whose save failed (an unwritable state folder)."""


def language_for(size_chars: int) -> str | None:
    """JSON colours up to ``HIGHLIGHT_LIMIT_CHARS``, plain text beyond (see
    ``JsonTextArea.use_language_for``)."""
    return "json" if size_chars <= HIGHLIGHT_LIMIT_CHARS else None


def document_chars(document: DocumentBase) -> int:
    """How many characters the document holds, newlines included, without joining it."""
    return sum(map(len, document.lines)) + max(document.line_count - 1, 0)


TYPED_UNPRINTABLE = frozenset({"Cf", "Zs"})
"""Unicode categories typed into the editor though ``str.isprintable()`` says no: format
characters (U+200D, U+200F) and spaces (U+3000, U+00A0)."""


class JsonTextArea(TextArea):
    """TextArea with ctrl+a selecting everything (the dashboard takes f7 for copy)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+a", "select_all", "Select all", id="input.select-all", show=False),
        Binding("home", "cursor_line_start", "Line start", show=False),
        # TextArea's own Escape moved to the next widget: the log's filter, a text field.
        # Shown: Tab indents here, so the footer must say how to get out.
        Binding("escape", "screen.leave_editor", "Leave editor", id="input.leave"),
    ]

    def on_mount(self) -> None:
        follow_app_theme(self, "monokai")

    def undo(self) -> None:
        """Undo the last batch of edits (see :meth:`redo`)."""
        if self.history.undo_stack:
            self.move_cursor((0, 0))
        super().undo()

    def redo(self) -> None:
        """Redo the last undone batch of edits, the cursor parked at the start first.

        Why: Textual (8.2) resizes the view after applying the edits but before moving the
        cursor, and places the old cursor in the new text: redoing the replacement of an input
        taller than the editor (or undoing a multi-line paste) put it past the end of the
        shorter text, and the ValueError ended the dashboard. The start exists in every text,
        and the edits set the cursor where it belongs once the view is resized.
        """
        if self.history.redo_stack:
            self.move_cursor((0, 0))
        super().redo()

    def action_clear(self) -> None:
        """Delete all the text (one undo step brings it back)."""
        self.clear()

    def use_language_for(self, size_chars: int) -> None:
        """JSON colours for text up to ``HIGHLIGHT_LIMIT_CHARS``, plain text beyond: TextArea
        highlights the whole document again after every edit (a 2 MB input took 1.7 s a key,
        0.17 s plain). Chosen before a big text arrives, so it is never highlighted once."""
        language = language_for(size_chars)
        if self.language != language:  # setting it, even unchanged, parses everything again
            selection = self.selection  # setting it drops the selection a paste replaces
            replaced = self.document
            self.language = language
            release_document(replaced)
            self.selection = selection

    async def _on_paste(self, event: events.Paste) -> None:
        """Before TextArea's own handler inserts the text (Textual runs both, this first)."""
        self.use_language_for(document_chars(self.document) + len(event.text))

    async def _on_key(self, event: events.Key) -> None:
        """Run this editor's own bindings here, in order with the characters typed around
        them. Textual runs a (non-priority) binding only once the key has come back to the
        app from the widget, by which time the widget may have inserted the characters typed
        after it: ctrl+a then new text, typed at once, put the text before the old input and
        selected everything after; backspace could land after the next character.

        Format characters and spaces are typed here too (a zero-width joiner in 👨‍👩‍👧, a
        directional mark, the ideographic space a CJK input method types, a no-break space):
        TextArea inserts a key only when ``str.isprintable()``, which they are not, so they
        were dropped (pasting kept them). Line and paragraph separators stay out: the editor
        would break the line there."""
        if self.read_only:
            return
        character = event.character
        if (
            character is not None
            and len(character) == 1
            and unicodedata.category(character) in TYPED_UNPRINTABLE
        ):
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self.replace(character, start, end, maintain_selection_offset=False)
            return
        bindings = self._bindings.key_to_bindings.get(event.key)
        if not bindings:
            return  # TextArea's handler (inserting text) runs next
        event.stop()
        event.prevent_default()
        self._restart_blink()
        await self.run_action(bindings[0].action)


def editor_bindings(shadowed: Iterable[str] = ()) -> list[BindingType]:
    """The editor's bindings as the help lists them: ours, then TextArea's, less those whose
    key ``shadowed`` names (the dashboard's priority keys: f5-f7) or ours rebind (ctrl+a selects
    all, not "line start"; home was listed twice)."""
    ours = Binding.make_bindings(JsonTextArea.BINDINGS)
    taken = {key for binding in ours for key in binding.key.split(",")} | set(shadowed)
    inherited: list[BindingType] = []
    for binding in Binding.make_bindings(TextArea.BINDINGS):
        if binding.key not in taken:
            inherited.append(binding)
    return [*JsonTextArea.BINDINGS, *inherited]


class _EditorState(NamedTuple):
    text: str
    loaded_text: str
    source: str


class InputEditor(Vertical):
    """A JSON editor for the selected action's input."""

    source: reactive[str] = reactive("", init=False)
    """Where the current text came from: "template", "last used", "draft", "request #N"."""

    def __init__(self, *, blink: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self._blink = blink
        self._loaded_text = ""
        self._around_load: tuple[_EditorState, _EditorState] | None = None
        """Before and after the last undoable load: the text, what it was loaded as and from
        where, so that ctrl+z (and ctrl+y) bring back what the status line said as well."""
        self.problem: JsonProblem | None = None

    def compose(self) -> ComposeResult:
        editor = JsonTextArea.code_editor("{}", language="json", id="input-text", soft_wrap=True)
        editor.cursor_blink = self._blink
        yield editor
        yield Static(id="input-status")

    @property
    def text_area(self) -> JsonTextArea:
        """The editing widget."""
        return self.query_one("#input-text", JsonTextArea)

    @property
    def text(self) -> str:
        """The text being edited."""
        return self.text_area.text

    @property
    def modified(self) -> bool:
        """Whether the user changed the text since it was loaded."""
        return self.text != self._loaded_text

    def load(self, text: str, source: str, *, undoable: bool = False) -> None:
        """Replace the text (e.g. on choosing an action) and say where it came from;
        ``undoable`` (ctrl+t, ``e``): as one edit ctrl+z takes back, so the text it replaced,
        an unsent draft perhaps, is not lost."""
        before = _EditorState(self.text, self._loaded_text, self.source) if undoable else None
        self._loaded_text = text
        area = self.text_area
        if before is not None:
            self._around_load = (before, _EditorState(text, text, source))
            area.use_language_for(len(text))
            area.replace(text, (0, 0), area.document.end, maintain_selection_offset=False)
            area.move_cursor((0, 0))
        else:  # one parse of the new text, not one of the old for its language first
            self._around_load = None
            load_document(area, text, language_for(len(text)))
        self.problem = None
        self.source = source
        self._show_status()

    def mark_sent(self, saved: bool = True, *, save_failed: bool = False) -> None:
        """The text was just sent, and remembered (``saved``: across runs too; not when too
        large, or ``save_failed``): no longer an edit "not run yet"."""
        self._loaded_text = self.text
        self.source = (
            NOT_SAVED_THIS_RUN if save_failed else "last used" if saved else LAST_USED_THIS_RUN
        )
        self._show_status()

    def validate(self) -> JsonProblem | None:
        """Check the text; show the problem inline (and move the cursor there)."""
        self.problem = check_json(self.text)
        if self.problem is not None:
            self.text_area.cursor_location = (
                max(self.problem.line - 1, 0),
                max(self.problem.column - 1, 0),
            )
        self._show_status()
        return self.problem

    def watch_source(self) -> None:
        self._show_status()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        area = self.text_area
        area.use_language_for(document_chars(area.document))
        if self.problem is not None:
            self.problem = check_json(self.text)
        self._restore_state_around_load()
        self._show_status()

    def _restore_state_around_load(self) -> None:
        """After ctrl+z of a ctrl+t, the text is the draft again while the status line still
        said "template … · edited"; a text that is again one side of the last undoable load
        takes back that side's origin."""
        if self._around_load is None:
            return
        text = self.text
        for state in self._around_load:
            if text == state.text:
                self._loaded_text = state.loaded_text
                self.source = state.source
                return

    def _show_status(self) -> None:
        status = self.query_one("#input-status", Static)
        self.set_class(self.problem is not None, "-invalid")
        if self.problem is not None:
            problem = "✖ " + sanitize_line(self.problem.describe())
            status.update(Content.styled(problem, "bold $status-error"))  # reads on $surface
            return
        origin = {
            "template": "template from the action's docstring (Input: section)",
            "empty": "{} — start the plugin (Enter on it) for a docstring template",
            "recording": "{} — a recording runs nothing (d on a logged exchange reruns it)",
            "no docstring": "{} — the action has no docstring to make a template from",
            "no input section": "{} — its docstring has no Input: section to make one from",
            "unusable input section": (
                "{} — its Input: section is neither a JSON object nor a list of fields "
                '("- name: description" lines)'
            ),
            "last used": "the last input you ran (remembered)",
            LAST_USED_THIS_RUN: "the last input you ran (over 64 KiB: kept until aro-tui exits)",
            NOT_SAVED_THIS_RUN: "the last input you ran (could not be saved: kept until exit)",
            "draft": "your edit (not run yet)",
            NO_ACTION: "no action chosen: pick one in Actions (alt+2)",
        }.get(self.source, self.source)
        note = " · edited" if self.modified else ""
        status.update(Text(f"input: {origin}{note}", style="dim"))
