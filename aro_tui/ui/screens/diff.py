"""What changed when logged exchanges ran again: one row per exchange, its JSON diff below."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.core.session.json_diff import format_value, format_value_pair
from aro_tui.ui.comparison import Comparison
from aro_tui.ui.formatting import format_duration, format_memory, plain_title
from aro_tui.ui.widgets.telemetry.chart import format_bytes

OUTCOME_VARIABLES = {
    "equal": "status-ok",
    "different": "status-timeout",
    "crashed": "status-crashed",
    "timeout": "status-timeout",
    "cancelled": "status-timeout",
    "missing": "status-error",
    "skipped": "status-timeout",
}
KIND_MARKS = {"changed": "~", "added": "+", "removed": "-"}
WHAT_WIDTH = 28
RUN_COLUMNS = (
    ("number", "#", 5),
    ("what", "plugin · action", WHAT_WIDTH),
    ("outcome", "outcome", 10),
    ("time", "time then → now", 20),
    # Wide enough for "1023 MiB → 1023 MiB" and "-1023 MiB → +1023 MiB" (compact_memory):
    # "+26.0 MiB → +25.0 MiB" was cut to "… +25.0 Mi".
    ("rss", "rss after then → now", 20),
    ("growth", "growth then → now", 22),
    ("diffs", "diffs", 6),
)
"""(key, label, width) of the compared runs' columns, in order."""
DROPPED_FIRST = ("growth", "rss")
"""Left out, in this order, while ``plugin · action`` would not be whole (``WHOLE_WHAT``)."""
MIN_WHAT = 16
WHOLE_WHAT = 40
"""Memory columns go (growth, then rss) while ``plugin · action`` has less than its whole
text, up to this many characters: "plugin-python-text · e…" beside a roomy memory column."""
CHROME = 4
"""Columns the tables' borders and a vertical scrollbar take."""
CELL_PADDING = 2
"""Columns each table column adds around its cells (DataTable's cell_padding, both sides)."""
MAX_PATH = 30
MAX_VALUE = 60


def run_columns(screen_width: int, longest_what: int = WHAT_WIDTH) -> list[tuple[str, str, int]]:
    """The compared runs' columns that fit ``screen_width``: ``plugin · action`` takes what
    is left, up to its longest text (``longest_what``: "plugin-python-text · extrac…" was cut
    with 15 columns to spare), and the memory columns go first when it would be too narrow.
    """
    columns = list(RUN_COLUMNS)
    wanted = max(longest_what, len("plugin · action"))
    enough = min(wanted, WHOLE_WHAT)  # a name this long is worth a memory column
    for dropped in (None, *DROPPED_FIRST):
        columns = [column for column in columns if column[0] != dropped]
        used = sum(width + CELL_PADDING for key, _, width in columns if key != "what")
        what = min(screen_width - CHROME - used - CELL_PADDING, wanted)
        if what >= enough:
            break
    return [(k, label, max(what, MIN_WHAT) if k == "what" else w) for k, label, w in columns]


def _what(comparison: Comparison) -> str:
    return sanitize_line(f"{comparison.plugin} · {comparison.action}")


def path_widths(screen_width: int) -> tuple[int, int]:
    """(path, each value) column widths of the paths table at ``screen_width``: the path a
    third of the room, up to ``MAX_PATH``; the two values share the rest equally."""
    room = screen_width - CHROME - 1 - 4 * CELL_PADDING  # the kind mark is 1 wide
    path = max(8, min(MAX_PATH, room // 3))
    value = max(8, min(MAX_VALUE, (room - path) // 2))
    return path, value


def then_now(old: str, new: str) -> str:
    """``old → new`` (just ``old`` when both read the same)."""
    return old if old == new else f"{old} → {new}"


def signed_memory(value: int | None, deterministic: bool) -> str:
    """A memory change with its sign (``—`` unknown)."""
    if value is None:
        return "—"
    sign = "+" if value >= 0 else "-"
    return sign + compact_memory(abs(value), deterministic)


def compact_memory(value: int | None, deterministic: bool) -> str:
    """``26 MiB``, ``1.5 GiB``, ``166 KiB`` (the chart's units: at most 8 characters), or a
    placeholder in deterministic mode."""
    if deterministic and value is not None:
        return format_memory(value, deterministic)
    return format_bytes(value)


class DiffScreen(Screen[None]):
    """Replayed exchanges: outcome, latency then → now, memory then → now, and the paths."""

    CSS_PATH = "diff.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="diff.close"),
        Binding("tab", "app.focus_next", "Runs/paths", show=False),
    ]

    def __init__(self, title: str, comparisons: list[Comparison], deterministic: bool) -> None:
        super().__init__()
        self.title_text = title
        self.comparisons = {c.number: c for c in comparisons}
        self.deterministic = deterministic
        self._laid_out_width = 0

    def compose(self) -> ComposeResult:
        yield Static(id="diff-summary", markup=False)
        yield DataTable(id="diff-runs", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="diff-paths", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        counts: dict[str, int] = {}
        for comparison in self.comparisons.values():
            counts[comparison.outcome] = counts.get(comparison.outcome, 0) + 1
        tally = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
        summary = self.query_one("#diff-summary", Static)
        summary.update(Text(sanitize_line(f"{self.title_text} · {tally}"), style="bold"))
        runs = self.query_one("#diff-runs", DataTable)
        runs.border_title = "Then (logged) → now (the plugin as it is now)"
        self._lay_out(self.app.size.width)
        runs.focus()

    def on_resize(self, event: events.Resize) -> None:
        """Fit both tables' columns to the new width (the selected run stays selected)."""
        self._lay_out(event.size.width)

    def _lay_out(self, width: int) -> None:
        if width == self._laid_out_width:
            return
        self._laid_out_width = width
        runs = self.query_one("#diff-runs", DataTable)
        selected = runs.cursor_row
        runs.clear(columns=True)
        widths: dict[str, int] = {}
        # In columns: a CJK name measured by characters got half its width, and lost its action.
        longest = max((cell_len(_what(c)) for c in self.comparisons.values()), default=0)
        for key, label, column_width in run_columns(width, longest):
            runs.add_column(label, key=key, width=column_width)
            widths[key] = column_width
        for comparison in self.comparisons.values():
            cells = self._run_cells(comparison, widths["what"])
            runs.add_row(*(cells[key] for key in widths), key=str(comparison.number))
        if self.comparisons:
            runs.move_cursor(row=min(selected, len(self.comparisons) - 1))
            number = int(runs.coordinate_to_cell_key(runs.cursor_coordinate).row_key.value or 0)
            self.show_paths(self.comparisons[number])

    def _run_cells(self, comparison: Comparison, what_width: int) -> dict[str, Text]:
        det = self.deterministic
        variable = OUTCOME_VARIABLES.get(comparison.outcome, "status-error")
        colour = self.app.theme_variables.get(variable, "")
        diffs = "—" if comparison.diff is None else str(comparison.diff.total)
        what = _what(comparison)
        return {
            "number": Text(str(comparison.number), justify="right"),
            "what": Text(shorten(what, what_width)),
            "outcome": Text(comparison.outcome, style=f"bold {colour}".strip()),
            "time": Text(
                then_now(
                    format_duration(comparison.old_duration_ms, det),
                    format_duration(comparison.new_duration_ms, det),
                )
            ),
            "rss": Text(
                then_now(
                    compact_memory(comparison.old_rss_after_bytes, det),
                    compact_memory(comparison.new_rss_after_bytes, det),
                )
            ),
            "growth": Text(
                then_now(
                    signed_memory(comparison.old_rss_growth_bytes, det),
                    signed_memory(comparison.new_rss_growth_bytes, det),
                )
            ),
            "diffs": Text(diffs, justify="right"),
        }

    @on(DataTable.RowHighlighted, "#diff-runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.show_paths(self.comparisons[int(event.row_key.value)])

    def show_paths(self, comparison: Comparison) -> None:
        """List ``comparison``'s changed, added and removed paths (plain text, cut)."""
        paths = self.query_one("#diff-paths", DataTable)
        paths.clear(columns=True)
        path_width, value_width = path_widths(self._laid_out_width)
        paths.add_column("", key="kind", width=1)
        paths.add_column("path", key="path", width=path_width)
        paths.add_column("then", key="old", width=value_width)
        paths.add_column("now", key="new", width=value_width)
        title = f"#{comparison.number} {comparison.plugin} · {comparison.action}: "
        if comparison.problem is not None:
            title += comparison.problem
        elif comparison.diff is None or comparison.diff.equal:
            title += "same response"
        else:
            total = comparison.diff.total
            title += f"{total} difference{'' if total == 1 else 's'}"
            if comparison.diff.omitted:
                title += f" ({comparison.diff.omitted} not listed)"
        if comparison.new_status is not None and comparison.new_status != comparison.old_status:
            title += f" · status {comparison.old_status} → {comparison.new_status}"
        paths.border_title = plain_title(shorten(title, 120))
        for index, entry in enumerate(comparison.entries):
            if entry.kind == "changed":  # both cut where they differ, not alike from the start
                old, new = format_value_pair(entry.old, entry.new, value_width)
            else:
                old = "" if entry.kind == "added" else format_value(entry.old, value_width)
                new = "" if entry.kind == "removed" else format_value(entry.new, value_width)
            paths.add_row(
                Text(KIND_MARKS.get(entry.kind, "?")),
                Text(shorten(sanitize_line(entry.path), path_width)),
                Text(sanitize_line(old)),
                Text(sanitize_line(new)),
                key=str(index),
            )

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
