"""The exchange log: one row per call, newest last, bounded, with a filter above it."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input

from aro_tui.core.exchange_log import LogEntry, LogFilter
from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.core.telemetry.exchange_memory import ExchangeMemory
from aro_tui.ui.formatting import (
    STATUS_STYLES,
    format_duration,
    format_size,
    themed_status_styles,
)

# In order of importance: columns that don't fit whole are left out (never shown cut), so at
# 80 columns the number, action, status and timing stay; wider terminals add the rest.
# Fixed widths: no reflow as rows arrive (steady snapshots, cheap appends).
COLUMNS = (("#", "number", 5), ("action", "action", 15), ("status", "status", 14),
           ("time", "duration", 8), ("host b/pk/a", "host", 14), ("gpu b/pk/a", "gpu", 14),
           ("plugin", "plugin", 18), ("in", "request", 8), ("out", "response", 8))  # fmt: skip
MAX_MEMORY_ROWS = 20_000
CELL_PADDING = 1


_ACTION, _PLUGIN = 1, 6
MAX_ACTION_EXTRA_CHARS = 45
MAX_PLUGIN_EXTRA_CHARS = 30


def fitting_columns(width_chars: int) -> int:
    """How many of ``COLUMNS`` (from the first) fit whole in ``width_chars`` (at least 4)."""
    used = 0
    for count, (_label, _key, width) in enumerate(COLUMNS):
        used += width + 2 * CELL_PADDING
        if used > width_chars:
            return max(count, 4)
    return len(COLUMNS)


def column_widths(width_chars: int) -> tuple[int, ...]:
    """The widths of the columns shown in ``width_chars``: those that fit whole, the room
    left over going to the action (two thirds) and the plugin, whose names are cut. At 200
    columns a long action name was cut at 15 characters beside 50 empty ones. Widths follow
    the table's width only, never its rows: nothing reflows as calls arrive."""
    count = fitting_columns(width_chars)
    widths = [width for _label, _key, width in COLUMNS[:count]]
    spare = width_chars - sum(width + 2 * CELL_PADDING for width in widths)
    if spare > 0:
        more = min(spare * 2 // 3 if count > _PLUGIN else spare, MAX_ACTION_EXTRA_CHARS)
        widths[_ACTION] += more
        if count > _PLUGIN:
            widths[_PLUGIN] += min(spare - more, MAX_PLUGIN_EXTRA_CHARS)
    return tuple(widths)


def format_compact(size_bytes: int | None) -> str:
    """``312M``, ``1.3G``, ``48K``: a memory figure in at most 4 characters; ``?`` unknown."""
    if size_bytes is None:
        return "?"
    mib = size_bytes / 1024**2
    if mib < 1:
        return f"{size_bytes / 1024:.0f}K"
    if mib < 1000:
        return f"{mib:.0f}M"
    value = mib / 1024
    for unit in "GTPE":  # 10.3G was cut to "10." in the column
        if value < 9.95:
            return f"{value:.1f}{unit}"
        if value < 999.5:
            return f"{value:.0f}{unit}"
        value /= 1024
    return "huge"


def memory_cell(before: int | None, peak: int | None, after: int | None, det: bool) -> Text:
    """Before, peak during and after one call, compact; a dash when nothing is known."""
    if before is None and peak is None and after is None:
        return Text("—", style="dim", justify="right")
    if det:
        return Text("·· ·· ··", justify="right")
    cells = f"{format_compact(before)} {format_compact(peak)} {format_compact(after)}"
    return Text(cells, justify="right")


def memory_cells(
    entry: LogEntry, memory: ExchangeMemory | None, deterministic: bool
) -> tuple[Text, Text]:
    """Host (always: the call's own RSS readings at least) and GPU (where known) memory."""
    if memory is None:
        known = [v for v in (entry.rss_before_bytes, entry.rss_after_bytes) if v is not None]
        host = memory_cell(
            entry.rss_before_bytes, max(known) if known else None, entry.rss_after_bytes,
            deterministic,
        )  # fmt: skip
        return host, memory_cell(None, None, None, deterministic)
    return (
        memory_cell(
            memory.host_before_bytes, memory.host_peak_bytes, memory.host_after_bytes, deterministic
        ),
        memory_cell(
            memory.gpu_before_bytes, memory.gpu_peak_bytes, memory.gpu_after_bytes, deterministic
        ),
    )


_WIDTHS = tuple(width for _label, _key, width in COLUMNS)


def entry_cells(
    entry: LogEntry,
    deterministic: bool,
    memory: ExchangeMemory | None = None,
    internal: bool = False,
    status_styles: dict[str, str] = STATUS_STYLES,
    widths: tuple[int, ...] = _WIDTHS,
) -> tuple[Text, ...]:
    """The row for one exchange (aro-tui's own calls tagged "internal", dim); names cut to
    ``widths`` (the columns' widths, see :func:`column_widths`)."""
    action = Text(shorten(sanitize_line(entry.action), widths[_ACTION] - 9 * internal))
    if internal:
        action.stylize("dim")
        action.append(" internal", style="dim italic")
    host, gpu = memory_cells(entry, memory, deterministic)
    return (
        Text(str(entry.number), justify="right"),
        action,
        Text(entry.status.replace("_", " "), style=status_styles.get(entry.status, "")),
        Text(format_duration(entry.shown_duration_ms, deterministic), justify="right"),
        host,
        gpu,
        Text(shorten(sanitize_line(entry.plugin), widths[_PLUGIN] if len(widths) > 6 else 18)),
        Text(format_size(entry.request_size_bytes), justify="right"),
        Text(format_size(entry.response_size_bytes), justify="right"),
    )


class ExchangeTable(DataTable[Text]):
    """The rows of the log: a window of at most ``max_rows`` consecutive matching exchanges.

    Moving up from the top row (or down from the bottom one, when the window is not the
    newest) asks the screen for the next older (newer) half window (:class:`PageRequested`),
    so every exchange in the log can be reached by scrolling.
    """

    class PageRequested(Message):
        """The cursor tried to move past the window's edge."""

        def __init__(self, older: bool, anchor: int) -> None:
            """``anchor``: the exchange number at that edge."""
            super().__init__()
            self.older = older
            self.anchor = anchor

    class EndRequested(Message):
        """ctrl+home / ctrl+end: show the window at the log's oldest (newest) end."""

        def __init__(self, oldest: bool) -> None:
            super().__init__()
            self.oldest = oldest

    # Every key here is a priority binding, run as the app reads it: an ordinary one runs only
    # once the key has come back from the table, after the keys typed next (Up then r reran
    # the exchange below; e then new text sent the text to the table as keys).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "screen.rerun", "Rerun", id="log.rerun", priority=True),
        Binding("e", "screen.edit_request", "Edit input", id="log.edit", show=False, priority=True),
        Binding("c", "screen.copy_response", "Copy", id="log.copy", show=False, priority=True),
        Binding(
            "d",
            "screen.compare",
            "Diff",
            tooltip="Rerun and compare",
            id="log.compare",
            priority=True,
        ),
        Binding(
            "y", "screen.copy_command", "Copy cmd", id="log.copy_command", show=False, priority=True
        ),
        Binding(
            "O", "screen.export_log", "Export log", id="log.export_log", show=False, priority=True
        ),
        Binding("x", "screen.view_all", "View all", id="log.view_all", show=False, priority=True),
        Binding(
            "slash", "screen.focus_filter", "Filter", id="log.filter", show=False, priority=True
        ),
        Binding(
            "i",
            "screen.toggle_internal",
            "Internal calls",
            id="log.internal",
            show=False,
            priority=True,
        ),
        *(
            Binding(key, action, id="log.move", show=False, priority=True, system=True)
            for key, action in (
                ("up", "cursor_up"),
                ("down", "cursor_down"),
                ("pageup", "page_up"),
                ("pagedown", "page_down"),
                ("home", "scroll_home"),
                ("end", "scroll_end"),
            )
        ),
        # Listed in F1 (the moves above are not): past 500 rows they leave this window.
        Binding(
            "ctrl+home", "scroll_top", "Oldest exchange", id="log.oldest", show=False, priority=True
        ),
        Binding(
            "ctrl+end",
            "scroll_bottom",
            "Newest exchange",
            id="log.newest",
            show=False,
            priority=True,
        ),
    ]

    on_row: Callable[[int], None] | None = None
    """Called with the exchange number under the cursor as soon as the cursor moves (the
    ``RowHighlighted`` message came after the keys typed next)."""

    def __init__(self, *, max_rows: int, deterministic: bool, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING)
        self.max_rows = max_rows
        self.deterministic = deterministic
        self.memory: OrderedDict[int, ExchangeMemory] = OrderedDict()
        """Per-call memory by exchange number, once telemetry measured it (bounded)."""
        self.internal_numbers: set[int] = set()
        """Exchanges aro-tui sent itself (``models`` queries)."""
        self.show_internal = False
        """Whether rows for internal exchanges are shown."""
        self.status_styles = dict(STATUS_STYLES)
        """Status colours, from the theme's ``$status-*`` variables."""
        self.column_count = 0
        """How many of ``COLUMNS`` are shown (those that fit whole in the width)."""
        self.widths: tuple[int, ...] = ()
        """Their widths (:func:`column_widths`)."""
        self._rows: dict[str, LogEntry] = {}
        """The entries with a row, by row key, in row order (to redraw when the columns change)."""
        self.at_newest = True
        """Whether the window ends at the newest matching exchange (new rows are appended)."""

    def shows(self, entry: LogEntry) -> bool:
        """Whether ``entry`` gets a row (internal calls only when asked for)."""
        return self.show_internal or entry.number not in self.internal_numbers

    def _cells(self, entry: LogEntry) -> tuple[Text, ...]:
        return entry_cells(
            entry,
            self.deterministic,
            self.memory.get(entry.number),
            entry.number in self.internal_numbers,
            self.status_styles,
            self.widths or _WIDTHS,
        )[: self.column_count]

    def _add(self, entry: LogEntry) -> None:
        key = str(entry.number)
        self.add_row(*self._cells(entry), key=key)
        self._rows[key] = entry

    def set_memory(self, entry: LogEntry, memory: ExchangeMemory) -> None:
        """Record ``entry``'s measured memory and redraw its row if shown."""
        self.memory[entry.number] = memory
        while len(self.memory) > MAX_MEMORY_ROWS:
            self.memory.popitem(last=False)
        key = str(entry.number)
        if key in self.rows:
            host, gpu = memory_cells(entry, memory, self.deterministic)
            for column, cell in (("host", host), ("gpu", gpu)):
                if column in self.columns:
                    self.update_cell(key, column, cell)

    def on_mount(self) -> None:
        self.use_theme()
        self._fit_columns()

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Show the columns that fit whole; redraw the rows when that changed."""
        # As if the vertical scrollbar were always there: its coming and going with the
        # window's rows changed the spare room, and a redraw of the rows moved the window.
        width = max(self.size.width - self.styles.scrollbar_size_vertical, 0)
        widths = column_widths(width) if width else _WIDTHS
        if widths == self.widths:
            return
        selected = self.selected_number
        entries = list(self._rows.values())
        self.column_count = len(widths)
        self.widths = widths
        self.clear(columns=True)
        self._rows.clear()
        for (label, key, _width), width_chars in zip(COLUMNS, widths, strict=False):
            self.add_column(label, key=key, width=width_chars)
        for entry in entries:
            self._add(entry)
        if selected is not None and str(selected) in self.rows:
            self.move_cursor(row=self.get_row_index(str(selected)))

    def use_theme(self) -> None:
        """Take the status colours from the app's theme (rows added later use them)."""
        self.status_styles = themed_status_styles(self.app.theme_variables)

    @property
    def shown_entries(self) -> list[LogEntry]:
        """The entries with a row, top to bottom."""
        return list(self._rows.values())

    def append_entry(self, entry: LogEntry, follow: bool) -> None:
        """Add a row (dropping the oldest past ``max_rows``); move to it when ``follow``.

        Nothing happens while the window shows older exchanges (the screen decides whether
        to jump back to the newest).
        """
        if not self.shows(entry) or not self.at_newest:
            return
        self._add(entry)
        while self.row_count > self.max_rows:
            oldest = self.coordinate_to_cell_key(Coordinate(0, 0)).row_key
            self.remove_row(oldest)
            self._rows.pop(str(oldest.value), None)
        if follow:
            self.move_cursor(row=self.row_count - 1)

    def show_entries(
        self, entries: list[LogEntry], keep: int | None, *, at_newest: bool = True
    ) -> None:
        """Replace every row with ``entries`` (the newest ``max_rows`` of them), keeping
        ``keep`` selected if shown; ``at_newest``: they end at the newest matching exchange."""
        self.clear()
        self._rows.clear()
        self.at_newest = at_newest
        shown = [entry for entry in entries if self.shows(entry)]
        for entry in shown[-self.max_rows :]:
            self._add(entry)
        if self.row_count:
            row = self.row_count - 1
            if keep is not None and str(keep) in self.rows:
                row = self.get_row_index(str(keep))
            self.move_cursor(row=row)

    def _at_edge(self, older: bool) -> bool:
        """Post a page request when the cursor cannot move further that way in this window."""
        if not self.row_count:
            return False
        if older and self.cursor_row == 0:
            anchor = self.shown_entries[0].number
        elif not older and self.cursor_row == self.row_count - 1 and not self.at_newest:
            anchor = self.shown_entries[-1].number
        else:
            return False
        self.post_message(self.PageRequested(older, anchor))
        return True

    def _highlight_row(self, row_index: int) -> None:
        super()._highlight_row(row_index)
        number = self.selected_number
        if number is not None and self.on_row is not None:
            self.on_row(number)

    def action_cursor_up(self) -> None:
        """Up, or the previous half window from the top row."""
        if not self._at_edge(older=True):
            super().action_cursor_up()

    def action_cursor_down(self) -> None:
        """Down, or the next half window from the bottom row."""
        if not self._at_edge(older=False):
            super().action_cursor_down()

    def action_page_up(self) -> None:
        """Page up, or the previous half window from the top row."""
        if not self._at_edge(older=True):
            super().action_page_up()

    def action_page_down(self) -> None:
        """Page down, or the next half window from the bottom row."""
        if not self._at_edge(older=False):
            super().action_page_down()

    def action_scroll_top(self) -> None:
        """ctrl+home: the oldest exchange in the log, not the top of this window (#101 of
        600 read as the first)."""
        self.post_message(self.EndRequested(oldest=True))

    def action_scroll_bottom(self) -> None:
        """ctrl+end: the newest exchange in the log."""
        self.post_message(self.EndRequested(oldest=False))

    @property
    def selected_number(self) -> int | None:
        """The exchange number under the cursor."""
        if not self.row_count:
            return None
        row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return int(row_key.value) if row_key.value is not None else None


FILTER_HINT = (
    "filter: words in #, action, status, plugin or error  status:timeout  plugin:text  action:hash"
)
"""The empty filter's hint, saying where free text is looked for."""
SHORT_FILTER_HINT = "filter: text  status:timeout  plugin:text  action:hash"
"""The hint where ``FILTER_HINT`` does not fit whole (80 columns)."""


class FilterInput(Input):
    """``status:timeout plugin:text action:hash words`` narrows the log."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.clear_filter", "Clear filter", id="filter.clear"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder=SHORT_FILTER_HINT, id=id)

    def on_resize(self) -> None:
        """The whole hint where it fits, else the short one (never a hint cut off)."""
        fits = cell_len(FILTER_HINT) <= self.content_size.width
        self.placeholder = FILTER_HINT if fits else SHORT_FILTER_HINT

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
        yield FilterInput(id="log-filter")
        yield ExchangeTable(
            max_rows=self._max_rows, deterministic=self._deterministic, id="log-table"
        )
