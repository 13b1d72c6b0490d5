"""The model-cache table: what each plugin has loaded, and what loading it cost."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import DataTable

from aro_tui.core.host.process import START_ACTION
from aro_tui.core.sanitize import sanitize_line, shorten, shorten_start
from aro_tui.core.telemetry.model_cache import CacheEvent, ModelCacheTracker
from aro_tui.ui.widgets.telemetry.chart import format_bytes

COLUMNS = ("model", "device", "dtype", "params", "size", "loaded by", "host Δ", "GPU Δ", "note")
MIN_MODEL_CHARS = 20
MIN_NOTE_CHARS = 14  # "incl. imports" whole


class ModelCacheTable(DataTable[Text]):
    """One row per loaded model of the shown plugin, from the tracker's last answer."""

    DEFAULT_CSS = """
    ModelCacheTable {
        height: auto;
        max-height: 8;
    }
    """

    def __init__(
        self,
        tracker: ModelCacheTracker,
        *,
        id: str | None = None,
    ) -> None:
        """Show ``tracker``'s models; call :meth:`show` to pick the plugin and redraw."""
        super().__init__(id=id, show_cursor=False, zebra_stripes=True)
        self.tracker = tracker
        self.plugin: str | None = None
        self._shown: tuple[object, ...] | None = None
        """The rows and widths drawn last (unchanged ones are not drawn again)."""
        self.number_for: Callable[[str, int], int | None] | None = None
        """The log's number for a plugin's host exchange id ("loaded by #N" shows it; the
        host's ids differ from the log's numbers as soon as two plugins run)."""

    def on_mount(self) -> None:
        """Add the columns."""
        self.add_columns(*COLUMNS)
        self.show(self.plugin)

    def show(self, plugin: str | None) -> None:
        """Redraw for ``plugin`` (None: empty)."""
        self.plugin = plugin
        if not self.columns:
            return
        if plugin is None:
            self.clear()
            self._shown = None
            return
        loads: dict[str, CacheEvent] = {}
        for cache_event in self.tracker.events.snapshot():
            if cache_event.plugin == plugin and cache_event.kind == "load":
                loads[cache_event.key] = cache_event
        rows: list[tuple[str, tuple[str, ...]]] = []
        for key, entry in self.tracker.models(plugin).items():
            event = loads.get(key)
            cells = (
                entry.model or key,
                entry.device or "—",
                entry.dtype or "—",
                _count(entry.parameters),
                format_bytes(entry.memory_bytes),
                self._loaded_by(event),
                _delta(None if event is None else event.host_delta_bytes),
                "…"
                if event is not None and event.gpu_pending
                else _delta(None if event is None else event.gpu_delta_bytes),
                _note(event),
            )
            rows.append((key, tuple(map(sanitize_line, cells))))
        model_room, note_room = self._rooms([row for _, row in rows])
        shown = (rows, model_room, note_room)
        if shown == self._shown:  # redrawn on every sample: keep the cursor and the scroll
            return
        self._shown = shown
        self.clear(columns=True)  # columns keep the width of the widest text they once had
        self.add_columns(*COLUMNS)
        for key, row in rows:
            model, *figures, note = row
            # Plugin text (model names, devices): a plain str cell would be read as markup.
            self.add_row(
                Text(shorten_start(model, model_room)),
                *map(Text, figures),
                Text(shorten(note, note_room)),
                key=key,
            )

    def _rooms(self, rows: list[tuple[str, ...]]) -> tuple[int, int]:
        """How wide the model and note columns may be for every column to fit: a model named
        by a long folder path (and a note naming its twin) pushed the memory figures out of
        sight. Paths keep their end (``…/models/tiny-gpt2``), notes their start."""
        padding = 2 * self.cell_padding

        def widest(index: int) -> int:
            return max([len(COLUMNS[index]), *(len(row[index]) for row in rows)])

        figures = sum(widest(index) + padding for index in range(1, len(COLUMNS) - 1))
        room = (self.size.width or 140) - figures - 2 * padding - 1
        longest_note = widest(len(COLUMNS) - 1)
        if room < MIN_MODEL_CHARS + MIN_NOTE_CHARS:  # too narrow for all: as many figures as fit
            return min(widest(0), MIN_MODEL_CHARS), MIN_NOTE_CHARS
        # The model first (it names the row), the note a third of the room when both are long.
        note = min(longest_note, max(MIN_NOTE_CHARS, room // 3))
        # No more than the longest name: a 3-letter model kept 20 columns and cut the note.
        model = min(widest(0), max(MIN_MODEL_CHARS, room - note))
        return model, max(MIN_NOTE_CHARS, room - model)

    def _loaded_by(self, event: CacheEvent | None) -> str:
        if event is None or event.exchange_id is None:
            return "—"
        if event.action == START_ACTION:
            return "start"
        lookup = self.number_for
        number = None if lookup is None else lookup(event.plugin, event.exchange_id)
        return f"#{event.exchange_id if number is None else number} {event.action}"


def _count(value: int | None) -> str:
    if value is None:
        return "—"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _delta(value: int | None) -> str:
    if value is None:
        return "—"
    return ("+" if value >= 0 else "-") + format_bytes(abs(value))


def _note(event: CacheEvent | None) -> str:
    if event is None:
        return ""
    notes = []
    if event.duplicate_of:
        notes.append("also loaded as " + ", ".join(event.duplicate_of))
    if event.action == START_ACTION and event.kind == "load":
        notes.append("whole start")  # the host Δ is all the process took as it started
    elif event.first_in_process and event.kind == "load":
        notes.append("incl. imports")  # the host Δ of the process's first load
    if event.among > 1 and event.kind == "load":
        notes.append(f"likeliest of {event.among} calls")  # queued together before the query
    if event.times_loaded > 1:
        notes.append(f"loaded {event.times_loaded}×")
    return "; ".join(notes)
