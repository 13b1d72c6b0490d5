"""The main screen's panes for the selected exchange: request, response, stderr."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import work
from textual.binding import Binding

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.sanitize import sanitize, sanitize_line, shorten
from aro_tui.ui.formatting import (
    FULL_PRETTY_LIMIT_BYTES,
    PACKED_LINE_CHARS,
    Preview,
    error_excerpt,
    fit_to_rows,
    format_memory,
    format_timings,
    plain_title,
    preview_body,
    raised_where,
    stderr_title,
)
from aro_tui.ui.screens.main_sessions import SessionWiring
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable
from aro_tui.ui.widgets.response.exchange_view import (
    FAILED_STATUSES,
    BodyView,
    ResponsePane,
    StderrView,
    cut_subtitle,
    failure_card,
    truncation_note,
    with_runtime_notes,
)

FAILURE_STATUSES = {"timeout", "crashed", "protocol_error", "cancelled"}
SCROLLBAR_CHARS = 2
MIN_LINE_CHARS = 20
TITLE_FRAME_CHARS = 6
"""A border title's corners, padding and the spaces around it."""
MIN_TITLE_NAME_CHARS = 8
"""Below this (a pane not laid out yet) numbers are packed to ``PACKED_LINE_CHARS``."""


@dataclass(frozen=True)
class ExchangeDetail:
    """What the panes show for one exchange (prepared in a worker thread)."""

    number: int
    request: Preview
    response: Preview
    stderr_lines: list[str]
    lost: dict[str, str]
    """Bodies a reopened recording lost, with why (the panes show them empty)."""
    traceback: str | None
    """Of the exception the action raised (shown under its stderr lines)."""


class ExchangeDetailPanes(SessionWiring):
    """Shows the exchange selected in the log; its bodies are prepared off the event loop."""

    def row_highlighted(self, number: int) -> None:
        """The log's cursor is on exchange ``number`` (called by the table as it moves, so a
        key typed next acts on this one): show it. A running call's card gives way when the
        reader moves the cursor (the log has focus): it stayed, and ``e`` loaded a row the
        panes did not show. Choosing the busy plugin shows the card again."""
        if number == self.shown_number:
            return
        if self.live_exchange is not None and self.query_one(ExchangeTable).has_focus:
            self.live_exchange = None  # the call runs on; its end does not take the panes
            self.query_one("#input").border_subtitle = ""
        if self.live_exchange is None:
            self.show_exchange(number)
        else:
            self.shown_number = number

    _detail_queued = False

    def show_exchange(self, number: int) -> None:
        """Show exchange ``number`` in the request/response/stderr panes.

        Its bodies are read in a worker started once the messages already queued are handled:
        a burst of finished calls loads only the last one shown, where it used to start a
        thread per call, each cancelling every one before it.
        """
        self.shown_number = number
        if not self._detail_queued:
            self._detail_queued = True
            self.call_later(self._start_detail_load)

    def clear_exchange(self, reason: str) -> None:
        """Show no exchange, saying ``reason`` in the response pane: the log's filter matches
        none, and a key such as ``r`` must not act on one the log no longer shows."""
        self.shown_number = None
        if self.live_exchange is not None:
            return  # the running call keeps the panes
        empty = preview_body(None, 0, self.aro.config.response_preview_bytes)
        request_view = self.query_one("#request-text", BodyView)
        request_view.show_preview(empty)
        request_view.border_title, request_view.border_subtitle = "Request", ""
        self.query_one("#response-text", BodyView).show_preview(empty)
        pane = self.query_one(ResponsePane)
        pane.border_title, pane.border_subtitle = "Response", ""
        pane.show_card(None)
        pane.show_note(Text(reason))
        stderr = self.query_one(StderrView)
        stderr.show_lines([])
        stderr.border_title = "stderr"

    def _start_detail_load(self) -> None:
        self._detail_queued = False
        number = self.shown_number
        if number is not None:
            request_chars = self._line_chars("#request-text")
            self._load_detail(number, request_chars, self._line_chars("#response-text"))

    def show_live(self, exchange: Exchange) -> None:
        """Show a call that is running: its request, and an empty response under the running
        card (the panes kept showing the exchange before, titles and all). Copy, save and
        rerun still act on the exchange selected in the log."""
        request = exchange.request_bytes
        limit = self.aro.config.response_preview_bytes
        head = request if len(request) <= limit else request[:limit]  # no big parse here
        chars = self._line_chars("#request-text")
        preview = fit_to_rows(preview_body(head, len(request), limit, chars), chars)
        request_view = self.query_one("#request-text", BodyView)
        request_view.show_preview(preview)
        request_view.border_title = plain_title(f"Request · {exchange.plugin}")
        request_view.border_subtitle = cut_subtitle(preview, limit)
        pane = self.query_one(ResponsePane)
        pane.border_title = plain_title(f"Response · {exchange.action} · running")
        pane.border_subtitle = ""
        self.query_one("#response-text", BodyView).show_preview(preview_body(None, 0, limit))
        self.show_live_stderr(exchange)

    def show_live_stderr(self, exchange: Exchange) -> None:
        """The running call's stderr lines so far, and how many it printed; then what it is
        writing with no newline yet (a progress bar's state)."""
        lines = list(exchange.stderr_lines)
        process = self.aro.registry.process_of(exchange.plugin)
        partial = None if process is None else process.stderr_partial
        if partial is not None and partial[1] is exchange:
            lines.append(partial[0])
        stderr = self.query_one(StderrView)
        stderr.show_lines(lines)
        stderr.border_title = stderr_title("· running", len(lines), exchange.stderr_line_count)

    def show_plugin_stderr(self, plugin: str, lines: list[str], when: str) -> None:
        """Lines ``plugin`` printed outside the selected exchange: ``when`` is ``at start``
        (while it imports: a model loading shows its progress, a failed start its last words)
        or ``recent`` (its last lines, in calls and between them)."""
        stderr = self.query_one(StderrView)
        stderr.show_lines(lines)
        stderr.border_title = plain_title(stderr_title(f"· {plugin} {when}", len(lines), 0))

    def _line_chars(self, selector: str) -> int:
        """How wide a line of ``selector``'s pane may be, leaving room for a scrollbar."""
        width = self.query_one(selector, BodyView).wrap_width - SCROLLBAR_CHARS
        return width if width > MIN_LINE_CHARS else PACKED_LINE_CHARS

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, number: int, request_chars: int, response_chars: int) -> None:
        log = self.aro.exchange_log
        limit = self.aro.config.response_preview_bytes
        entry = log.get(number)
        total = entry.response_size_bytes if entry else 0
        head = log.response_head(
            number, FULL_PRETTY_LIMIT_BYTES if total <= FULL_PRETTY_LIMIT_BYTES else limit
        )
        request = log.request_bytes(number)
        details = log.details(number)
        lost = dict(details.get("lost_bodies") or {}) if self.aro.read_only else {}
        detail = ExchangeDetail(
            number,
            fit_to_rows(preview_body(request, len(request), limit, request_chars), request_chars),
            fit_to_rows(preview_body(head, total, limit, response_chars), response_chars),
            log.stderr_lines(number),
            lost,
            details.get("traceback"),
        )
        self.app.call_from_thread(self._apply_detail, detail)

    def _apply_detail(self, detail: ExchangeDetail) -> None:
        if detail.number != self.shown_number or self.live_exchange is not None:
            return  # another exchange was chosen meanwhile, or a call started
        entry = self.aro.exchange_log.get(detail.number)
        config = self.aro.config
        request_view = self.query_one("#request-text", BodyView)
        request_view.show_preview(detail.request)
        request_view.border_subtitle = cut_subtitle(detail.request, config.response_preview_bytes)
        pane = self.query_one(ResponsePane)
        self.query_one("#response-text", BodyView).show_preview(detail.response)
        lost = [f"the recording lost its {name} ({why})" for name, why in detail.lost.items()]
        pane.show_note(
            with_runtime_notes(
                truncation_note(detail.response, config.response_preview_bytes),
                [*lost, *(entry.runtime_notes if entry is not None else ())],
            )
        )
        card = None
        if entry is not None and (
            entry.status in FAILURE_STATUSES or entry.response_size_bytes == 0
        ):
            card = failure_card(
                entry.status,
                entry.error,
                entry.exit_code,
                entry.signal_number,
                detail.stderr_lines,
                None if self.aro.read_only else self.app.get_key_display(Binding("f6", "")),
            )
        elif entry is not None and entry.status == "plugin_error" and entry.error:
            error = sanitize(error_excerpt(entry.error))
            card = Text.assemble(("⚠ action error: ", "bold $text-error"), error)
            where = raised_where(detail.traceback) if detail.traceback else None
            if where is not None:
                card.append(f"\nraised {sanitize(where)} · the traceback is under stderr", "dim")
        pane.show_card(
            card,
            fills=entry is not None and entry.response_size_bytes == 0,
            failed=entry is not None and entry.status in FAILED_STATUSES,
        )
        if entry is not None:
            memory = ""
            if entry.rss_after_bytes is not None:
                memory = f" · rss {format_memory(entry.rss_after_bytes, config.deterministic)}"
            timings = format_timings(
                entry.action_duration_ms, entry.duration_ms, config.deterministic
            )
            timings = f" · {timings}" if timings else ""
            # The name gives way, not the figures: a long (or CJK) action name cut them off.
            head = f"Response #{entry.number} · "
            room = pane.size.width - TITLE_FRAME_CHARS - cell_len(head + timings)
            action = shorten(sanitize_line(entry.action), max(room, MIN_TITLE_NAME_CHARS))
            pane.border_title = plain_title(f"{head}{action}{timings}")
            pane.border_subtitle = memory.removeprefix(" · ")
            request_view.border_title = plain_title(f"Request #{entry.number} · {entry.plugin}")
        stderr = self.query_one(StderrView)
        stderr.show_lines(detail.stderr_lines, detail.traceback)
        printed = entry.stderr_line_count if entry is not None else 0
        kept = len(detail.stderr_lines)
        traceback = " · traceback" if detail.traceback else ""
        stderr.border_title = stderr_title(f"#{detail.number}", kept, printed) + traceback
