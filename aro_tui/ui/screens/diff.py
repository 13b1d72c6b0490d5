"""What changed when logged exchanges ran again: one row per exchange, its JSON diff below."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from aro_tui.core.sanitize import sanitize_line, shorten
from aro_tui.core.session.json_diff import format_value
from aro_tui.ui.comparison import Comparison
from aro_tui.ui.formatting import format_duration, format_memory

OUTCOME_VARIABLES = {
    "equal": "status-ok",
    "different": "status-timeout",
    "crashed": "status-crashed",
    "timeout": "status-timeout",
    "cancelled": "status-timeout",
    "missing": "status-error",
}
KIND_MARKS = {"changed": "~", "added": "+", "removed": "-"}
VALUE_CHARS = 60


def then_now(old: str, new: str) -> str:
    """``old → new`` (just ``old`` when both read the same)."""
    return old if old == new else f"{old} → {new}"


def signed_memory(value: int | None, deterministic: bool) -> str:
    """A memory change with its sign (``—`` unknown)."""
    if value is None:
        return "—"
    sign = "+" if value >= 0 else "-"
    return sign + format_memory(abs(value), deterministic)


class DiffScreen(Screen[None]):
    """Replayed exchanges: outcome, latency then → now, memory then → now, and the paths."""

    CSS_PATH = "diff.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="diff.close"),
        Binding("tab", "focus_next", "Runs/paths", show=False),
    ]

    def __init__(self, title: str, comparisons: list[Comparison], deterministic: bool) -> None:
        super().__init__()
        self.title_text = title
        self.comparisons = {c.number: c for c in comparisons}
        self.deterministic = deterministic

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
        runs.add_column("#", key="number", width=5)
        runs.add_column("plugin · action", key="what", width=28)
        runs.add_column("outcome", key="outcome", width=10)
        runs.add_column("time then → now", key="time", width=20)
        runs.add_column("rss after then → now", key="rss", width=22)
        runs.add_column("growth then → now", key="growth", width=20)
        runs.add_column("diffs", key="diffs", width=6)
        for comparison in self.comparisons.values():
            runs.add_row(*self._run_cells(comparison), key=str(comparison.number))
        paths = self.query_one("#diff-paths", DataTable)
        paths.add_column("", key="kind", width=1)
        paths.add_column("path", key="path", width=30)
        paths.add_column("then", key="old", width=VALUE_CHARS // 2 + 4)
        paths.add_column("now", key="new", width=VALUE_CHARS // 2 + 4)
        first = next(iter(self.comparisons.values()), None)
        if first is not None:
            self.show_paths(first)
        runs.focus()

    def _run_cells(self, comparison: Comparison) -> tuple[Text, ...]:
        det = self.deterministic
        variable = OUTCOME_VARIABLES.get(comparison.outcome, "status-error")
        colour = self.app.theme_variables.get(variable, "")
        diffs = "—" if comparison.diff is None else str(comparison.diff.total)
        what = f"{comparison.plugin} · {comparison.action}"
        return (
            Text(str(comparison.number), justify="right"),
            Text(shorten(sanitize_line(what), 28)),
            Text(comparison.outcome, style=f"bold {colour}".strip()),
            Text(
                then_now(
                    format_duration(comparison.old_duration_ms, det),
                    format_duration(comparison.new_duration_ms, det),
                )
            ),
            Text(
                then_now(
                    format_memory(comparison.old_rss_after_bytes, det),
                    format_memory(comparison.new_rss_after_bytes, det),
                )
            ),
            Text(
                then_now(
                    signed_memory(comparison.old_rss_growth_bytes, det),
                    signed_memory(comparison.new_rss_growth_bytes, det),
                )
            ),
            Text(diffs, justify="right"),
        )

    @on(DataTable.RowHighlighted, "#diff-runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.show_paths(self.comparisons[int(event.row_key.value)])

    def show_paths(self, comparison: Comparison) -> None:
        """List ``comparison``'s changed, added and removed paths (plain text, cut)."""
        paths = self.query_one("#diff-paths", DataTable)
        paths.clear()
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
        paths.border_title = shorten(sanitize_line(title), 120)
        for index, entry in enumerate(comparison.entries):
            old = "" if entry.kind == "added" else format_value(entry.old, VALUE_CHARS)
            new = "" if entry.kind == "removed" else format_value(entry.new, VALUE_CHARS)
            paths.add_row(
                Text(KIND_MARKS.get(entry.kind, "?")),
                Text(sanitize_line(entry.path)),
                Text(sanitize_line(old)),
                Text(sanitize_line(new)),
                key=str(index),
            )

    def action_close(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)
