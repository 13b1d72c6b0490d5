"""``aro-tui open SESSION --summary``: a recording's header, one row per exchange and its
damage, printed as it is read (a recording of 60,000 exchanges is never held whole)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aro_tui.commands import table_console
from aro_tui.commands.sessions import EXIT_OK, EXIT_USAGE, safe_text, started_text
from aro_tui.core.plugins.problem import clean_text
from aro_tui.core.sizes import format_size

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rich.console import JustifyMethod
    from rich.segment import Segment

    from aro_tui.core.session.reader import SessionOutline
    from aro_tui.core.session.records import RecordedExchange


def print_summary(reference: str, folder: Path | None) -> int:
    """``open --summary``: read the session through once for the counts and the widths of
    the table, then again printing each exchange's row as it is read, so that a recording
    of 60,000 exchanges and multi-MB stderr tails is never held whole (it took 800 MB)."""
    from aro_tui.core.session.reader import SessionReadError, outline_session
    from aro_tui.core.session.store import resolve_session

    widest = _WidestCells()
    try:
        outline = outline_session(resolve_session(reference, folder), widest.add)
        _print_session_summary(outline, _SummaryTable(table_console(), widest))
    except (LookupError, SessionReadError) as error:
        print(f"aro-tui open: error: {error.args[0]}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _print_session_summary(outline: SessionOutline, table: _SummaryTable) -> None:
    """Header, one line per exchange, counts of everything else, and any damage."""
    from aro_tui.core.session.store import being_recorded

    console = table.console
    header = outline.header
    console.print(safe_text(f"Session {outline.session_id} ({outline.path})"), soft_wrap=True)
    ended = "cut off (aro-tui stopped while recording)"
    if being_recorded(outline.path):
        ended = "not yet (a running aro-tui is recording it)"
    if outline.ended_at is not None:
        ended = started_text(outline.ended_at)
    if outline.stopped is not None:  # the reason is with the warnings below
        ended += " (recording stopped early: see the warnings below)"
    lines = [
        f"  started   {started_text(header.started_at)}   ended {ended}",
        f"  recorded  by aro-tui {header.aro_tui_version} ({header.format})",
        f"  plugins   {', '.join(outline.plugins) or '-'}   from {header.plugins_dir or '-'}",
        f"  recorded  {outline.exchange_count} exchanges ({outline.error_count} not ok), "
        f"{outline.stderr_line_count} stderr lines, {outline.sample_count} telemetry samples, "
        f"{outline.cache_event_count} cache events, {outline.plugin_event_count} plugin events",
    ]
    for line in lines:
        console.print(safe_text(line), soft_wrap=True)
    if outline.exchange_count:
        table.print_head()
        for exchange in outline.read_exchanges():
            table.print_row(_summary_cells(exchange))
        table.print_end()
    for warning in _damage(outline):
        console.print(safe_text(f"warning: {warning}"), style="yellow", soft_wrap=True)


_SUMMARY_COLUMNS = ("#", "Plugin", "Action", "Status", "Time ms", "Request", "Response")
_SUMMARY_LEFT = frozenset({"Plugin", "Action", "Status"})


def _summary_cells(exchange: RecordedExchange) -> tuple[str, ...]:
    """An exchange's row of the summary table, as text."""
    duration = exchange.shown_duration_ms  # as the log shows it
    response = exchange.response
    return (
        str(exchange.number),
        clean_text(exchange.plugin),
        clean_text(exchange.action),
        str(exchange.status),
        "-" if duration is None else f"{duration:.1f}",
        format_size(exchange.request.size_bytes),
        "-" if response is None else format_size(response.size_bytes),
    )


def _summary_table(rows: Iterable[Sequence[str]]) -> Any:
    """The summary as a rich Table of ``rows``."""
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for column in _SUMMARY_COLUMNS:
        justify: JustifyMethod = "left" if column in _SUMMARY_LEFT else "right"
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _text_widths(text: str) -> tuple[int, int]:
    """``(longest word, longest line)`` in cells: what rich measures a Text cell by."""
    from rich.cells import cell_len

    if text.isascii() and text.isprintable():
        words = text.split()
        return max(map(len, words)) if words else len(text), len(text)
    lines = text.splitlines()
    widest_line = max(map(cell_len, lines)) if lines else 0
    words = text.split()
    return max(map(cell_len, words)) if words else widest_line, widest_line


class _WidestCells:
    """Per column of the summary, the cell with the longest word and the one with the
    longest line: rich sizes a table's columns by those two alone, so a table of them and
    the header is as wide, column by column, as the table of every row."""

    def __init__(self) -> None:
        self.by_word: list[tuple[int, str]] = [(-1, "")] * len(_SUMMARY_COLUMNS)
        self.by_line: list[tuple[int, str]] = [(-1, "")] * len(_SUMMARY_COLUMNS)

    def add(self, exchange: RecordedExchange) -> None:
        """Measure ``exchange``'s row."""
        for index, cell in enumerate(_summary_cells(exchange)):
            word, line = _text_widths(cell)
            if word > self.by_word[index][0]:
                self.by_word[index] = (word, cell)
            if line > self.by_line[index][0]:
                self.by_line[index] = (line, cell)

    def rows(self) -> list[tuple[str, ...]]:
        """The two rows that size the table like all of them."""
        return [tuple(cell for _, cell in self.by_word), tuple(cell for _, cell in self.by_line)]


class _SummaryTable:
    """The summary's table, written a row at a time, exactly as rich draws the whole table.

    rich measures and lays out every row before it draws one, about 0.7 ms a row: 45 s for
    a recording of 60,000 exchanges. Here the column widths come from the widest cells
    alone (:class:`_WidestCells`), rich draws the head, and a row is put together from its
    cells, each drawn by rich once per distinct text unless it fits its column on one line.
    """

    def __init__(self, console: Any, widest: _WidestCells) -> None:
        self.console = console
        measured = _summary_table(widest.rows())
        # The widths rich's Table.__rich_console__ gives the table of every row, asked of it
        # as it asks (a private method: the tests compare the result with rich's own table).
        self.widths: list[int] = measured._calculate_column_widths(
            console, console.options.update_width(console.width - measured._extra_width)
        )
        self._box = measured.box.substitute(console.options, safe=console.safe_box)
        self._cropped = sum(self.widths) + len(self.widths) + 1 > console.width
        """Whether rich crops the lines: a console too narrow for even the columns' edges."""
        self._cells: dict[tuple[int, str], list[str]] = {}
        self._pending: list[list[str]] | None = None

    def print_head(self) -> None:
        """The top edge, the column titles and the line under them."""
        from rich.segment import Segment, SegmentLines

        console, box, widths = self.console, self._box, self.widths
        style = console.get_style("table.header")
        cells = [
            self._render_cell(index, title, style) for index, title in enumerate(_SUMMARY_COLUMNS)
        ]
        height = max(map(len, cells))
        shaped = [  # as rich: titles at the bottom, a line at least (of blanks not in bold)
            Segment.set_shape(Segment.align_bottom(cell, width, height, style), width, height or 1)
            for cell, width in zip(cells, widths, strict=True)
        ]
        lines = [[Segment(box.get_top(widths))]]
        for number in range(height or 1):
            line = [Segment(box.head_left)]
            for index, cell in enumerate(shaped):
                if index:
                    line.append(Segment(box.head_vertical))
                line.extend(cell[number])
            lines.append([*line, Segment(box.head_right)])
        lines.append([Segment(box.get_row(widths, "head"))])
        console.print(SegmentLines(lines, new_lines=True), end="")

    def print_row(self, cells: Sequence[str]) -> None:
        """One exchange's row (drawn once the next one, or the end, says which edge it has)."""
        self._flush(last=False)
        self._pending = [self._cell_lines(index, cell) for index, cell in enumerate(cells)]

    def print_end(self) -> None:
        """The last row and the bottom edge."""
        self._flush(last=True)
        self._write([self._box.get_bottom(self.widths)])

    def _flush(self, last: bool) -> None:
        if self._pending is None:
            return
        box = self._box
        left, divider, right = (
            (box.foot_left, box.foot_vertical, box.foot_right)
            if last
            else (box.mid_left, box.mid_vertical, box.mid_right)
        )
        cells, self._pending = self._pending, None
        height = max(1, *map(len, cells))  # as rich: a row is one line at least
        self._write(
            left
            + divider.join(
                lines[number] if number < len(lines) else " " * width
                for lines, width in zip(cells, self.widths, strict=True)
            )
            + right
            for number in range(height)
        )

    def _write(self, lines: Iterable[str]) -> None:
        from rich.cells import set_cell_size

        if self._cropped:
            lines = [set_cell_size(line, self.console.width) for line in lines]
        self.console.file.write("".join(line + "\n" for line in lines))

    def _cell_lines(self, index: int, text: str) -> list[str]:
        width = self.widths[index] - 2
        fits = 0 < len(text) <= width and text.isascii() and text.isprintable()
        if fits and text == text.strip():  # as rich draws it: one line, padded, justified
            justify = text.ljust if _SUMMARY_COLUMNS[index] in _SUMMARY_LEFT else text.rjust
            return [f" {justify(width)} "]
        lines = self._cells.get((index, text))
        if lines is None:
            rendered = self._render_cell(index, text)
            lines = ["".join(segment.text for segment in line) for line in rendered]
            if len(self._cells) >= 4096:  # names repeat; sizes and times mostly fit
                self._cells.clear()
            self._cells[index, text] = lines
        return lines

    def _render_cell(self, index: int, text: str, style: Any = None) -> list[list[Segment]]:
        """``text`` in column ``index`` as rich draws a cell: padded, folded, justified."""
        from rich.padding import Padding
        from rich.text import Text

        left = _SUMMARY_COLUMNS[index] in _SUMMARY_LEFT
        options = self.console.options.update(
            width=self.widths[index],
            justify="left" if left else "right",
            no_wrap=False,
            overflow="fold",
            height=None,
            highlight=False,
        )
        lines: list[list[Segment]] = self.console.render_lines(
            Padding(Text(text), (0, 1)), options, style=style
        )
        return lines


def _damage(session: SessionOutline) -> list[str]:
    """What the recording lost: damaged lines, exchanges missing from the numbering, and
    spilled bodies whose side files are gone or cut (which the rows above cannot show)."""
    from aro_tui.core.session.reader import format_ranges, spilled_body_problems

    damage = list(session.warnings)
    if session.lost_exchanges:
        numbers = format_ranges(session.missing_exchange_numbers, "#")
        lost = session.lost_exchanges
        damage.append(f"{lost} exchange(s) missing from the recording: {numbers}")
    return damage + spilled_body_problems(session)
