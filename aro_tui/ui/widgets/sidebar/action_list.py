"""The selected plugin's actions and the highlighted one's docstring."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import ClassVar, cast

from rich.cells import cell_len, chop_cells, get_character_cell_size
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.css.styles import RulesMap
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets.option_list import Option

from aro_tui.core.runtime_notes import NO_ACTIONS_UNDER_ARO
from aro_tui.core.sanitize import sanitize, sanitize_line
from aro_tui.ui.formatting import themed_content
from aro_tui.ui.widgets.sidebar.ordered_list import OrderedOptionList, moving_bindings


class ActionList(OrderedOptionList):
    """Action names; the docstrings live in :class:`ActionDoc`. Enter moves to the input."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i,e", "screen.focus_input", "Edit input", id="actions.edit", priority=True),
        # Shown: below 36 rows the docs panel is hidden, and this is how to read it.
        Binding("question_mark", "screen.show_docs", "Docs", id="actions.docs"),
        *moving_bindings("actions", "Choose: edit its input"),
    ]

    _shown: tuple[str | None, tuple[str, ...]] = (None, ())
    """Whose actions the list shows, and their names."""

    def show_actions(
        self,
        actions: list[tuple[str, str | None]],
        keep: str | None,
        owner: str | None = None,
        *,
        first_when_missing: bool = True,
    ) -> None:
        """Fill the list with ``owner``'s actions, keeping ``keep`` highlighted when it is
        still there; else the first one, or (``first_when_missing`` False) none.

        The same plugin's same names, with ``keep`` already highlighted, change nothing: its
        every busy/ready flip asks again, and refilling the list redrew the sidebar twice a
        call. Another plugin's are always filled in: the highlight that follows is what
        chooses its action and shows its docs (two plugins with the same action names kept
        the first one's docs, and no action chosen). Highlighting none leaves the action the
        screen has chosen as it is: the first one's highlight would choose it instead.
        """
        names = tuple(name for name, _ in actions)
        if keep in names:
            index: int | None = names.index(keep)
        else:
            index = 0 if names and first_when_missing else None
        shown = (owner, names)
        if shown == self._shown and self.option_count == len(names) and self.highlighted == index:
            return
        self._shown = shown
        self.clear_options()
        self.add_options([Option(Text(sanitize_line(name)), id=name) for name in names])
        if index is not None:
            self.highlighted = index


_BULLET = re.compile(r"(?:[-*•]|\d+[.)]|[\w.-]+:)\s+")
"""What starts a docstring item whose wrapped lines hang under its text: ``- text: ...``,
``1. ...``, or ``name: ...`` (Google style)."""


class _DocWrapper(textwrap.TextWrapper):
    """Words that do not fit move to the next line whole; only a word wider than a whole line
    is broken, from the start of its own line, after a ``/`` or ``-`` when that takes no more
    lines than cutting it at the edge. Widths are terminal columns, and a line may break
    between two wide (CJK) characters, as those scripts break.

    Why: textwrap fills the rest of the current line with the start of a long word, so a model
    name in a narrow panel read ``(default: "s`` / ``entence-transformers/a`` / ``ll-Mini…``;
    and it counts characters, so a line of CJK was twice the panel's width and the terminal
    wrapped it again, to column 0 (the item's hanging indent lost).
    """

    def _split(self, text: str) -> list[str]:
        chunks = super()._split(text)
        if text.isascii():
            return chunks
        return [piece for chunk in chunks for piece in _wide_apart(chunk)]

    def _wrap_chunks(self, chunks: list[str]) -> list[str]:
        """textwrap's loop (without ``max_lines``, unused here) measuring in columns."""
        lines: list[str] = []
        chunks.reverse()
        while chunks:
            indent = self.subsequent_indent if lines else self.initial_indent
            width = self.width - cell_len(indent)
            if self.drop_whitespace and not chunks[-1].strip() and lines:
                del chunks[-1]
            line: list[str] = []
            used = 0
            while chunks and used + cell_len(chunks[-1]) <= width:
                used += cell_len(chunks[-1])
                line.append(chunks.pop())
            if chunks and cell_len(chunks[-1]) > width:
                self._handle_long_word(chunks, line, used, width)
            if self.drop_whitespace and line and not line[-1].strip():
                del line[-1]
            if line:
                lines.append(indent + "".join(line))
        return lines

    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        if any(chunk.strip() for chunk in cur_line):
            return  # the line ends here; the word comes back on an empty one
        space = max(width - cur_len, 1)
        word = reversed_chunks[-1]
        rest_fits_in = (cell_len(word) - 1) // space * space  # what the fewest further lines hold
        fits = len(chop_cells(word, space)[0]) or 1
        cut = max(word.rfind("/", 0, fits), word.rfind("-", 0, fits)) + 1
        end = cut if cut > 0 and cell_len(word[cut:]) <= rest_fits_in else fits
        cur_line.append(word[:end])
        reversed_chunks[-1] = word[end:]


def _wide_apart(chunk: str) -> list[str]:
    """``chunk`` with each wide character a chunk of its own (a line may break around it),
    zero-width marks kept with the character before them."""
    pieces: list[str] = []
    joins = False  # whether a narrow character joins the piece before it
    for character in chunk:
        size = get_character_cell_size(character)
        if pieces and (size == 0 or (size == 1 and joins)):
            pieces[-1] += character
        else:
            pieces.append(character)
        if size:
            joins = size == 1
    return pieces


def wrap_docstring(doc: str, width: int) -> str:
    """``doc`` wrapped to ``width`` columns, each line's wrapped part hanging under its text;
    a word is split only when it is wider than the line.

    Why not let the terminal wrap: the Input/Output items of a docstring are indented, and
    wrapped to column 0 they ran together (``- model: Hub name or`` / ``local folder path``).
    """
    lines: list[str] = []
    for line in doc.expandtabs(4).splitlines():
        text = line.lstrip()
        indent = len(line) - len(text)
        bullet = _BULLET.match(text)
        bullet_width = cell_len(bullet.group()) if bullet else 0
        hang = indent + (bullet_width if bullet_width <= width // 2 else 0)
        if hang >= width // 2:
            hang = min(indent, width // 4)
        wrapper = _DocWrapper(width, subsequent_indent=" " * hang, break_on_hyphens=False)
        lines.extend(wrapper.wrap(line) or [""])
    return "\n".join(lines)


MIN_WRAP_WIDTH = 8
"""Narrower than this (not laid out yet), the doc is left for the terminal to wrap."""


class DocText(Widget):
    """A note (why the plugin crashed) and a docstring wrapped to the widget's width."""

    DEFAULT_CSS = "DocText { height: auto; }"

    def __init__(self, *, id: str | None = None) -> None:
        """Start empty."""
        super().__init__(id=id)
        self._head = Text()
        self._doc = ""
        self._doc_style = ""
        self._wrapped: tuple[int, Content] | None = None
        """The content at the last width asked for (layout asks, then render)."""

    def show(self, head: Text, doc: str, style: str = "") -> None:
        """Show ``head`` as it is, then ``doc`` (plugin text, never markup) wrapped; the
        same again changes nothing (it is asked again at every busy/ready flip)."""
        if (head, doc, style) == (self._head, self._doc, self._doc_style):
            return
        self._head, self._doc, self._doc_style = head, doc, style
        self._wrapped = None
        self.refresh(layout=True)

    def plain_text(self, doc: str | None = None) -> str:
        """What the panel shows, as plain text (unwrapped): the notes, then the docstring, or
        ``doc`` in its place (the whole of one the panel cuts at ``MAX_DOC_CHARS``)."""
        return self._head.plain + (self._doc if doc is None else sanitize(doc))

    def render(self) -> Content:
        """The head and the doc, wrapped to the current width."""
        return self._content(self.size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """As many lines as the doc takes at ``width``."""
        rules = cast(RulesMap, self.styles)  # as Widget passes them (a RulesMap in all but name)
        return self._content(width).get_height(rules, max(width, 1))

    def _content(self, width: int) -> Content:
        if self._wrapped is not None and self._wrapped[0] == width:
            return self._wrapped[1]
        text = self._head.copy()
        doc = wrap_docstring(self._doc, width) if width > MIN_WRAP_WIDTH else self._doc
        text.append(doc, style=self._doc_style)
        content = themed_content(text)
        self._wrapped = (width, content)
        return content


WARNING_STYLE, ERROR_STYLE = "bold $status-timeout", "bold $status-error"
"""The docs' warnings and errors in the theme's status colours, which read on its surface
(themes/README.md); fixed ANSI yellow measured 2.5:1 on aro-light."""

MAX_DOC_CHARS = 16 * 1024
"""The most of a docstring the panel shows: Textual renders the whole text into lines on every
redraw, and an 840 KB docstring froze the dashboard for 4-6 s each time its action was
highlighted."""


MAX_DOC_WARNINGS = 5
"""How many of a plugin's warnings its docs show (``aro-tui check`` lists them all)."""


class ActionDoc(VerticalScroll):
    """The highlighted action's docstring (plain text, never markup)."""

    def compose(self) -> ComposeResult:
        yield DocText(id="action-doc-text")

    def show_doc(
        self,
        doc: str | None,
        started: bool,
        crash_reason: str | None = None,
        *,
        read_only: bool = False,
        invalid: Sequence[str] = (),
        info_error: str | None = None,
        refused: Sequence[str] = (),
        runtime_unreached: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        """Show ``doc`` (or say why there is none), after why the plugin crashed if it did;
        ``read_only``: a reopened recording, where plugins are not started; ``invalid``: the
        errors of a plugin that cannot run, one line each; ``info_error``: why its
        ``aro_plugin_info()`` listed no actions; ``refused``: the errors of a plugin that runs
        but ARO's package manager would not install; ``runtime_unreached``: why the ARO runtime
        would not call this action's function; ``warnings``: what ``aro-tui check`` warns of
        (where ARO would run the plugin otherwise, fields it ignores), the first
        ``MAX_DOC_WARNINGS``."""
        head = Text()
        if refused:
            head.append("⚠ runs, but aro add would refuse it:\n", style=WARNING_STYLE)
            for line in refused:
                head.append(f"• {sanitize(line)}\n")
            head.append("\n")
        if info_error is not None:
            head.append("⚠ ", style=WARNING_STYLE)
            head.append(sanitize(info_error))
            head.append(
                f"\n({NO_ACTIONS_UNDER_ARO}; the ones listed here are the module's "
                "aro_action_ functions)\n\n",
                style="dim",
            )
        if runtime_unreached is not None:
            head.append("⚠ ARO runtime: ", style=WARNING_STYLE)
            head.append(sanitize(runtime_unreached) + "\n\n")
        if warnings:
            head.append("⚠ aro-tui check warns:\n", style=WARNING_STYLE)
            for line in warnings[:MAX_DOC_WARNINGS]:
                head.append(f"• {sanitize(line)}\n")
            if len(warnings) > MAX_DOC_WARNINGS:
                more = len(warnings) - MAX_DOC_WARNINGS
                head.append(f"… and {more} more (aro-tui check lists them)\n", style="dim")
            head.append("\n")
        if invalid:
            count = len(invalid)
            errors = f"{count} error{'s' if count > 1 else ''}"
            head.append(f"⚠ cannot run, {errors}:\n", style=ERROR_STYLE)
            for line in invalid:
                head.append(f"• {sanitize(line)}\n")
            if not read_only:
                head.append("(once fixed, Enter checks again)\n\n", style="dim")
        if crash_reason is not None:
            head.append("✖ crashed: ", style=ERROR_STYLE)
            head.append(sanitize(crash_reason))
            head.append("\n(s: start again · R: restart)\n\n", style="dim")
        text = self.query_one("#action-doc-text", DocText)
        if doc and len(doc) > MAX_DOC_CHARS:
            cut = doc.rfind("\n", 0, MAX_DOC_CHARS)
            shown = doc[: cut if cut > 0 else MAX_DOC_CHARS]
            note = f"\n… and {len(doc) - len(shown):,} more characters of this docstring"
            text.show(head, sanitize(shown) + note)
        elif doc:
            text.show(head, sanitize(doc))
        elif started:
            text.show(head, "This action has no docstring.", "dim italic")
        elif read_only:
            text.show(head, "Docs come from a running plugin; a recording has none.", "dim italic")
        elif invalid:  # it cannot run: "come from the running plugin" read as a wait
            text.show(head, "Its docs come from it running, once those are fixed.", "dim italic")
        elif crash_reason is not None:
            text.show(head, "Docs come from the running plugin.", "dim italic")
        else:
            text.show(
                head, "Docs appear once the plugin has started (Enter starts it).", "dim italic"
            )


class Sidebar(Vertical):
    """Plugins above, actions and docs below."""
