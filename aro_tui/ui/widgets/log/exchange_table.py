"""The exchange log: one row per call, newest last, bounded, with a filter above it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input

from aro_tui.core.exchange_log import LogEntry, LogFilter
from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.ui.formatting import STATUS_STYLES, format_duration, format_size

# Plugin last: at 80 columns the number, action, status and timing stay in view.
# Fixed widths: no reflow as rows arrive (steady snapshots, cheap appends).
COLUMNS = (("#", "number", 5), ("action", "action", 16), ("status", "status", 14),
           ("time", "duration", 9), ("in", "request", 9), ("out", "response", 9),
           ("plugin", "plugin", 24))  # fmt: skip


def entry_cells(entry: LogEntry, deterministic: bool) -> tuple[Text, ...]:
    """The row for one exchange."""
    return (
        Text(str(entry.number), justify="right"),
        Text(shorten(sanitize_line(entry.action), 16)),
        Text(entry.status.replace("_", " "), style=STATUS_STYLES.get(entry.status, "")),
        Text(format_duration(entry.duration_ms, deterministic), justify="right"),
        Text(format_size(entry.request_size_bytes), justify="right"),
        Text(format_size(entry.response_size_bytes), justify="right"),
        Text(shorten(sanitize_line(entry.plugin), 24)),
    )


class ExchangeTable(DataTable[Text]):
    """The rows of the log; at most ``max_rows`` (older ones are reached by filtering)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "screen.rerun", "Rerun", id="log.rerun"),
        Binding("e", "screen.edit_request", "Edit input", id="log.edit"),
        Binding("c", "screen.copy_response", "Copy", id="log.copy"),
        Binding("x", "screen.view_all", "View all", id="log.view_all"),
        Binding("slash", "screen.focus_filter", "Filter", id="log.filter"),
    ]

    def __init__(self, *, max_rows: int, deterministic: bool, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.max_rows = max_rows
        self.deterministic = deterministic

    def on_mount(self) -> None:
        for label, key, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def append_entry(self, entry: LogEntry, follow: bool) -> None:
        """Add a row (dropping the oldest past ``max_rows``); move to it when ``follow``."""
        self.add_row(*entry_cells(entry, self.deterministic), key=str(entry.number))
        while self.row_count > self.max_rows:
            oldest = self.coordinate_to_cell_key(Coordinate(0, 0)).row_key
            self.remove_row(oldest)
        if follow:
            self.move_cursor(row=self.row_count - 1)

    def show_entries(self, entries: list[LogEntry], keep: int | None) -> None:
        """Replace every row (after a filter change), keeping ``keep`` selected if shown."""
        self.clear()
        for entry in entries[-self.max_rows :]:
            self.add_row(*entry_cells(entry, self.deterministic), key=str(entry.number))
        if self.row_count:
            row = self.row_count - 1
            if keep is not None and str(keep) in self.rows:
                row = self.get_row_index(str(keep))
            self.move_cursor(row=row)

    @property
    def selected_number(self) -> int | None:
        """The exchange number under the cursor."""
        if not self.row_count:
            return None
        row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return int(row_key.value) if row_key.value is not None else None


class FilterInput(Input):
    """``status:timeout plugin:text action:hash words`` narrows the log."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.clear_filter", "Clear filter", id="filter.clear"),
    ]

    def current(self) -> LogFilter:
        """The filter typed so far."""
        return LogFilter.parse(self.value)


class ExchangeLogPanel(Vertical):
    """The filter input and the table."""

    def __init__(self, *, max_rows: int, deterministic: bool, id: str | None = None) -> None:
        super().__init__(id=id)
        self._max_rows = max_rows
        self._deterministic = deterministic

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder="filter: text  status:timeout  plugin:text  action:hash", id="log-filter"
        )
        yield ExchangeTable(
            max_rows=self._max_rows, deterministic=self._deterministic, id="log-table"
        )
