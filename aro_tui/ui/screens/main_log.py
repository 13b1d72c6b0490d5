"""The main screen's exchange log: its filter, its window over the log, and its title."""

from __future__ import annotations

from textual import on
from textual.widgets import Input

from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.ui.screens.main_detail import ExchangeDetailPanes
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable, FilterInput


class LogWindow(ExchangeDetailPanes):
    """Which exchanges the log's table shows: the filter's matches, a window of at most
    ``max_rows`` of them paged older and newer, and the title that counts them."""

    def update_log_title(self) -> None:
        """The log's title: how many exchanges, how many the filter shows, internal ones."""
        table = self.query_one(ExchangeTable)
        internal = len(table.internal_numbers)
        total = len(self.aro.exchange_log) - (0 if table.show_internal else internal)
        shown = f" · showing {table.row_count}" if table.row_count < total else ""
        hidden = ""
        if internal:
            hidden = f" · {internal} internal {'shown' if table.show_internal else 'hidden'}"
        if shown and table.row_count:  # how many, and the span of numbers they come from
            entries = table.shown_entries
            first, last = entries[0].number, entries[-1].number
            span = f"#{first}" if first == last else f"#{first}–#{last}"
            shown = f" · showing {table.row_count} ({span})"
        count = f" {total}" if total or hidden else ""
        forgotten = self.aro.exchange_log.forgotten
        # Past the log's 50,000 summaries the oldest cannot be reached: say so, where paging
        # used to stop at #10001 of 60,000 with only a bell.
        gone = f" · oldest {forgotten:,} out of reach" if forgotten else ""
        self.query_one("#log").border_title = f"Exchanges{count}{shown}{hidden}{gone}"

    def _redraw_log(self) -> None:
        """Redraw the rows in the new theme's status colours."""
        self.query_one(ExchangeTable).use_theme()
        self._filter_changed()

    @on(Input.Changed, "#log-filter")
    def _filter_changed(self, event: Input.Changed | None = None) -> None:
        table = self.query_one(ExchangeTable)
        log_filter = self.query_one(FilterInput).current()
        table.show_entries(
            self.aro.exchange_log.matching(log_filter, table.max_rows), self.shown_number
        )
        if not table.row_count and (self.shown_number is not None or log_filter.active):
            reason = "No exchange in the log matches the filter."
            unknown = log_filter.unknown_status
            if unknown is not None:
                statuses = ", ".join(s for s in ExchangeStatus if s is not ExchangeStatus.PENDING)
                reason = f"No status is called {unknown}: the statuses are {statuses}."
            self.clear_exchange(reason)
        self.update_log_title()

    def on_exchange_table_page_requested(self, message: ExchangeTable.PageRequested) -> None:
        """Slide the log's window half a window older or newer, keeping the cursor's place."""
        table = self.query_one(ExchangeTable)
        log = self.aro.exchange_log
        log_filter = self.query_one(FilterInput).current()
        half = max(1, table.max_rows // 2)
        current = table.shown_entries
        if not current or (current[0] if message.older else current[-1]).number != message.anchor:
            # A second key past the edge, read before the first one slid the window: it asked
            # for the rows that slide just added, and adding them again crashed the dashboard
            # (DuplicateKey). The window has moved already: the key moves the cursor on.
            if current and message.older:
                table.action_cursor_up()
            elif current:
                table.action_cursor_down()
            return
        if message.older:
            matches = log.matching(log_filter, half, before=message.anchor)
            older = [entry for entry in matches if table.shows(entry)]
            if not older:
                self.app.bell()
                return
            kept = current[: table.max_rows - len(older)]
            at_newest = table.at_newest and len(kept) == len(current)
            table.show_entries(older + kept, older[-1].number, at_newest=at_newest)
        else:
            matches = log.matching_after(log_filter, half, message.anchor)
            newer = [entry for entry in matches if table.shows(entry)]
            at_newest = not newer or not log.matching_after(log_filter, 1, newer[-1].number)
            keep = newer[0].number if newer else message.anchor
            table.show_entries(current + newer, keep, at_newest=at_newest)  # keeps the newest
        self.update_log_title()

    def on_exchange_table_end_requested(self, message: ExchangeTable.EndRequested) -> None:
        """Show the first (or last) window of the log, its oldest (newest) row selected."""
        table = self.query_one(ExchangeTable)
        log = self.aro.exchange_log
        log_filter = self.query_one(FilterInput).current()
        if message.oldest:
            entries = [
                e for e in log.matching_after(log_filter, table.max_rows, 0) if table.shows(e)
            ]
            newest = not entries or not log.matching_after(log_filter, 1, entries[-1].number)
            keep = entries[0].number if entries else None
        else:
            entries = [e for e in log.matching(log_filter, table.max_rows) if table.shows(e)]
            newest, keep = True, entries[-1].number if entries else None
        table.show_entries(entries, keep, at_newest=newest)
        self.update_log_title()

    @on(Input.Submitted, "#log-filter")
    def _filter_submitted(self) -> None:
        self.query_one(ExchangeTable).focus()

    def action_clear_filter(self) -> None:
        """Empty the filter and go back to the table."""
        self.query_one(FilterInput).value = ""
        self.query_one(ExchangeTable).focus()

    def filter_log(self, query: str) -> None:
        """Put ``query`` in the log's filter."""
        self.query_one(FilterInput).value = query
        self.query_one(ExchangeTable).focus()
