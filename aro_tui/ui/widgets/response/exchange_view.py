"""The selected exchange: request and response side by side, stderr below."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Log, Static, TextArea

from aro_tui.core.sanitize import as_overwritten, sanitize_line, sanitize_tabbed_line
from aro_tui.ui.formatting import (
    LINES_CUT_NOTE,
    Preview,
    error_excerpt,
    format_size,
    themed_content,
)
from aro_tui.ui.themes import follow_app_theme
from aro_tui.ui.widgets.documents import load_document

CARD_STDERR_LINES = 8


class BodyView(TextArea):
    """A read-only, highlighted JSON body (plugin text shown literally)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "screen.copy_response", "Copy response", id="body.copy"),
        Binding("x", "screen.view_all", "View all", id="body.view_all"),
    ]

    def __init__(self, *, id: str) -> None:
        super().__init__("", language="json", read_only=True, id=id, soft_wrap=True)
        self.show_line_numbers = False

    def on_mount(self) -> None:
        follow_app_theme(self)

    def show_preview(self, preview: Preview) -> None:
        """Show a (possibly truncated) body."""
        load_document(self, preview.text, "json" if preview.is_json else None)


class RequestView(BodyView):
    """The request pane: its keys act on the request, not the response."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "screen.copy_request", "Copy request", id="request.copy"),
        Binding("x", "screen.view_request", "View all", id="request.view_all"),
    ]


class ResponsePane(Vertical):
    """The response, or a card saying why there is none (running, timeout, crash)."""

    def compose(self) -> ComposeResult:
        # Cards and notes taller than their share of the pane scroll (Tab reaches them), a
        # scrollbar saying there is more; a plain Static cut them off with no sign (a card's
        # last stderr line, the end of a long error).
        with VerticalScroll(id="response-card-box"):
            yield Static(id="response-card")
        with VerticalScroll(id="response-note-box"):
            yield Static(id="response-note")
        yield BodyView(id="response-text")

    def show_card(
        self, card: Text | None, *, fills: bool = False, layout: bool = True, failed: bool = False
    ) -> None:
        """Show ``card`` above the body (None hides it); ``fills``: there is no body (a
        timeout, a crash, a call still running), so the card may take the whole pane, where it
        stopped at 60% and hid its last stderr lines above empty rows. ``layout=False``: the
        same card with a figure changed (the running call's seconds), drawn without laying the
        screen out again (that took ~50 ms a time here). ``failed``: the call failed, and the
        card is drawn on the error colour (a running or cancelled call's is not).

        ``card``'s styles may name theme colours (:func:`themed_content`)."""
        self.set_class(card is not None and fills, "-card-fills")
        self.set_class(card is not None and failed, "-card-failed")
        self._show("#response-card", "-card", card, layout)

    def show_note(self, note: Text | None) -> None:
        """The truncation note (None hides it)."""
        self._show("#response-note", "-note", note)

    def _show(self, selector: str, css_class: str, text: Text | None, layout: bool = True) -> None:
        if text is None and not self.has_class(css_class):
            return  # hidden and staying hidden: an update would lay the screen out again
        self.set_class(text is not None, css_class)
        shown = "" if text is None else themed_content(text)
        self.query_one(selector, Static).update(shown, layout=layout)


def truncation_note(preview: Preview, limit_bytes: int) -> Text | None:
    """``showing 64 KiB of 50 MiB — x: view all · ctrl+s: save`` when cut; ``showing 1,310 of
    4,020 lines`` when the whole body was read and only its laid-out text is longer than the
    limit (its bytes may be fewer than the limit); and a line saying so when long lines were
    cut into rows (:func:`~aro_tui.ui.formatting.fit_to_rows`)."""
    if not preview.truncated and not preview.lines_cut and preview.as_sent is None:
        return None
    note = Text()
    if preview.truncated:
        if preview.lines_total:
            shown, total = f"{preview.lines_shown:,}", f"{preview.lines_total:,} lines"
        else:
            shown, total = format_size(limit_bytes), format_size(preview.total_bytes)
        note.append_text(
            Text.assemble(
                ("showing ", "dim"),
                (shown, "bold"),
                (" of ", "dim"),
                (total, "bold"),
                (" — x: view all · ctrl+s: save", "dim"),
            )
        )
    if preview.lines_cut:
        note.append(("\n" if note else "") + LINES_CUT_NOTE, style="dim")
    if preview.as_sent is not None:
        note.append(("\n" if note else "") + sanitize_line(preview.as_sent), style="dim")
    return note


def cut_subtitle(preview: Preview, limit_bytes: int) -> str:
    """``showing 64.0 KiB of 1.0 MiB`` (or ``showing 1,310 of 4,020 lines``) for a pane
    without a note line, such as the request's; empty when nothing was cut."""
    note = truncation_note(replace(preview, lines_cut=False, as_sent=None), limit_bytes)
    return "" if note is None else note.plain.split(" — ")[0]


def with_runtime_notes(note: Text | None, runtime_notes: Sequence[str]) -> Text | None:
    """``note`` followed by a line per runtime note (where the ARO runtime would differ)."""
    if not runtime_notes:
        return note
    text = Text()
    if note is not None:
        text.append_text(note)
        text.append("\n")
    for index, runtime_note in enumerate(runtime_notes):
        if index:
            text.append("\n")
        text.append("⚠ ", style="bold")
        text.append(runtime_note)
    return text


FAILED_STATUSES = frozenset({"timeout", "crashed", "protocol_error", "plugin_error"})
"""The calls whose card is drawn on the error colour, its title in the theme's error text
colour (``$text-error``, made to be read on ``$error-muted``); a cancelled call's is not."""
STREAM_ERRORS = ("unframed output", "malformed response header", "response for unexpected")
"""How a protocol error after which the host stopped the plugin begins (see ``protocol``)."""
RESTART_HELPS = frozenset({"timeout", "crashed"})
"""Failures after which the plugin may be gone or wedged: the card offers restart + resend
(after a cancel it is up, or restarts by itself on the next call; f9 reruns)."""


def failure_card(
    status: str,
    error: str | None,
    exit_code: int | None,
    signal_number: int | None,
    stderr_tail: list[str],
    restart_key: str | None,
) -> Text:
    """A timeout/crash/protocol-error card: what happened, exit status, last stderr lines."""
    titles = {
        "timeout": "⏱ Timed out",
        "crashed": "✖ Plugin crashed",
        "protocol_error": "✖ Protocol error",
        "cancelled": "■ Cancelled",
        "plugin_error": "⚠ The action reported an error",
    }
    card = Text()
    title_style = "bold $text-error" if status in FAILED_STATUSES else "bold"
    card.append(titles.get(status, status) + "\n", style=title_style)
    if error:
        card.append(sanitize_line(error_excerpt(error)) + "\n")
    exit_parts = []
    if exit_code is not None:
        exit_parts.append(f"exit code {exit_code}")
    if signal_number is not None:
        exit_parts.append(f"signal {signal_number}")
    if exit_parts:
        card.append("process: " + ", ".join(exit_parts) + "\n", style="bold")
    if stderr_tail:
        card.append(
            f"last stderr lines ({min(len(stderr_tail), CARD_STDERR_LINES)}):\n", style="dim"
        )
        for line in stderr_tail[-CARD_STDERR_LINES:]:
            card.append("  " + sanitize_line(as_overwritten(line)) + "\n", style="italic")
    if restart_key is None:  # a reopened recording: nothing is run from here
        return card
    if status in RESTART_HELPS:
        card.append(f"{restart_key}: restart the plugin and resend", style="bold reverse")
    elif status == "cancelled":
        card.append("f9 or r in the log runs it again", style="dim")
    elif error is not None and error.startswith(STREAM_ERRORS):
        # The stream could not be read any more: aro-tui stopped the plugin.
        card.append("aro-tui stopped the plugin; the next call starts it again", style="dim")
    else:  # the plugin is up and answered: a restart would change nothing
        card.append("the plugin is still running; fix the action, then run it again", style="dim")
    return card


TRACEBACK_RULE = "── the action raised: its traceback (the ARO runtime answers only the message) ──"


class StderrView(Log):
    """Stderr lines of the selected exchange (plain text, sanitized, tabs expanded to stops
    every 8 columns so tab-separated output keeps its columns)."""

    _shown: list[str] | None = None
    _following = True
    """Whether the newest line was in view at the last update: a resize keeps it so (a pane
    made shorter mid-call read as scrolled up, and stopped following the call's lines)."""

    def show_lines(self, lines: list[str], traceback: str | None = None) -> None:
        """Replace the lines shown; ``traceback``: of an exception the action raised, shown
        after them (the plugin printed none of it, but it is where a Python developer looks).

        The same lines again (most calls print nothing) are left alone: rewriting a Log
        resets its virtual size, and every change of that lays the whole screen out again.
        """
        shown = [sanitize_tabbed_line(as_overwritten(line)) for line in lines]
        shown = shown or ["(no stderr output)"]
        if traceback:
            shown.append(TRACEBACK_RULE)
            shown.extend(sanitize_tabbed_line(line) for line in traceback.rstrip("\n").splitlines())
        if shown == self._shown:
            return
        previous, self._shown = self._shown, shown
        # More lines of the same call: stay where the reader scrolled to, unless that was the
        # end. Other lines: start at the newest.
        growing = previous is not None and shown[: len(previous)] == previous
        follow = not growing or self.scroll_y >= self.max_scroll_y
        y = self.scroll_y
        self.clear()
        self.write_lines(shown, scroll_end=False)
        # Scrolled after the new lines are laid out: Log's own scroll to the end, right
        # after a clear, stayed where the previous lines had left it.
        if follow:
            self.scroll_end(animate=False, x_axis=False)
        else:
            self.scroll_to(y=y, animate=False)
        self._following = follow

    def on_resize(self) -> None:
        """Keep the newest line in view across a resize when it was."""
        if self._following:
            self.scroll_end(animate=False, x_axis=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """The reader scrolled up: stop following (a resize will not bring them back)."""
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and new_value < self.max_scroll_y:
            self._following = False
        elif new_value >= self.max_scroll_y:
            self._following = True


class ExchangeView(Horizontal):
    """Request on the left, response on the right."""

    def compose(self) -> ComposeResult:
        yield RequestView(id="request-text")
        yield ResponsePane(id="response-pane")
