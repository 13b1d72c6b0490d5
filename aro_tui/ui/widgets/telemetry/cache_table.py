"""The model-cache table: what each plugin has loaded, and what loading it cost."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import DataTable

from aro_tui.core.host.process import START_ACTION
from aro_tui.core.sanitize import sanitize_line, shorten, shorten_start
from aro_tui.core.telemetry.model_cache import CacheEvent, ModelCacheTracker, ModelEntry
from aro_tui.ui.widgets.telemetry.chart import format_bytes

COLUMNS = ("model", "device", "dtype", "params", "size", "loaded by", "host Δ", "GPU Δ", "note")
MIN_MODEL_CHARS = 20
NARROW_MODEL_CHARS = 12
"""How far a model's name may be cut once columns are being left out (it still names the row)."""
MIN_NOTE_CHARS = 14  # "incl. imports" whole
LEFT_OUT_FIRST = ("device", "dtype", "params", "size", "note")
"""Which columns go, in this order, when the table is too narrow for all of them: what a load
cost (loaded by, host Δ, GPU Δ) stays; at 80 columns it was off-screen behind dtype."""
_NOTE = len(COLUMNS) - 1


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
        self._built: tuple[object, ...] | None = None
        """The plugin, the cache's revision and the width the rows were last built for."""
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
            self._shown = self._built = None
            return
        # Built again only when the cache or the width changed, not on every sample: 5,000
        # models took 1.9 s a second to compare, and the dashboard stopped reading keys.
        built = (plugin, self.tracker.revision, self.size.width)
        if built == self._built:
            return
        self._built = built
        loads: dict[str, CacheEvent] = {}
        for cache_event in self.tracker.events.snapshot():
            if cache_event.plugin == plugin and cache_event.kind == "load":
                loads[cache_event.key] = cache_event
        rows: list[tuple[str, tuple[str, ...]]] = []
        models = self.tracker.models(plugin)
        keys_of: dict[str, list[str]] = {}
        for key, entry in models.items():
            keys_of.setdefault(entry.identity, []).append(key)
        for key, entry in list(models.items())[:MAX_SHOWN_MODELS]:
            event = loads.get(key)
            twins = [other for other in keys_of[entry.identity] if other != key]
            cells = (
                _name(entry),
                entry.device or "—",
                entry.dtype or "—",
                _count(entry.parameters),
                format_bytes(entry.memory_bytes),
                self._loaded_by(event),
                _delta(None if event is None else event.host_delta_bytes),
                "…"
                if event is not None and event.gpu_pending
                else _delta(None if event is None else event.gpu_delta_bytes),
                _note(event, twins),
            )
            rows.append((key, tuple(map(sanitize_line, cells))))
        if len(models) > MAX_SHOWN_MODELS:
            more = f"… and {len(models) - MAX_SHOWN_MODELS:,} more models"
            rows.append((MORE_ROW_KEY, (more, *[""] * (len(COLUMNS) - 1))))
        columns, model_room, note_room = self._layout([row for _, row in rows])
        shown = (rows, columns, model_room, note_room)
        if shown == self._shown:  # redrawn on every sample: keep the cursor and the scroll
            return
        self._shown = shown
        self.clear(columns=True)  # columns keep the width of the widest text they once had
        self.add_columns(*(COLUMNS[index] for index in columns))
        for key, row in rows:
            fitted = {
                0: shorten_start(row[0], model_room),
                _NOTE: _fit_note(row[_NOTE], note_room),
            }
            # Plugin text (model names, devices): a plain str cell would be read as markup.
            self.add_row(*(Text(fitted.get(index, row[index])) for index in columns), key=key)

    def _layout(self, rows: list[tuple[str, ...]]) -> tuple[list[int], int, int]:
        """Which columns to show, and how wide the model and note may be, for all of them to
        fit: a model named by a long folder path (and a note naming its twin) pushed the
        memory figures out of sight. Paths keep their end (``…/models/tiny-gpt2``), notes
        their first parts; when even that does not fit, ``LEFT_OUT_FIRST`` go in turn."""
        padding = 2 * self.cell_padding
        width = (self.size.width or 140) - 1

        def widest(index: int) -> int:
            return max([len(COLUMNS[index]), *(len(row[index]) for row in rows)])

        columns = list(range(len(COLUMNS)))
        for leaving in (None, *LEFT_OUT_FIRST):
            if leaving is not None:
                columns.remove(COLUMNS.index(leaving))
            noted = _NOTE in columns
            figures = sum(widest(i) + padding for i in columns if i not in (0, _NOTE))
            room = width - figures - padding * (2 if noted else 1)
            least_model = min(widest(0), MIN_MODEL_CHARS if leaving is None else NARROW_MODEL_CHARS)
            least_note = min(widest(_NOTE), MIN_NOTE_CHARS) if noted else 0
            if room < least_model + least_note:
                continue
            if not noted:
                return columns, min(widest(0), room), 0
            # The model first (it names the row), the note a third of the room when both are
            # long; no more than the longest name (a 3-letter model kept 20 columns).
            note = min(widest(_NOTE), max(MIN_NOTE_CHARS, room // 3))
            model = min(widest(0), max(least_model, room - note))
            return columns, model, max(least_note, room - model)
        return columns, NARROW_MODEL_CHARS, 0  # narrower still: it scrolls sideways

    def _loaded_by(self, event: CacheEvent | None) -> str:
        if event is None or event.exchange_id is None:
            return "—"
        if event.action == START_ACTION:
            return "start"
        lookup = self.number_for
        number = None if lookup is None else lookup(event.plugin, event.exchange_id)
        return f"#{event.exchange_id if number is None else number} {event.action}"


MAX_SHOWN_MODELS = 500
"""Rows of models at most; the rest are counted in one more row."""
MORE_ROW_KEY = "\x00more"


def _fit_note(note: str, room: int) -> str:
    """``note``'s parts (``; ``-separated) that fit ``room`` whole, with ``…`` when some are
    left out; cut inside a part only when not even the first fits."""
    if len(note) <= room:
        return note
    parts = note.split("; ")
    kept = ""
    for part in parts:
        longer = f"{kept}; {part}" if kept else part
        if len(longer) + 1 > room:
            break
        kept = longer
    return kept + "…" if kept else shorten(note, room)


def _count(value: int | None) -> str:
    if value is None:
        return "—"
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _delta(value: int | None) -> str:
    if value is None:
        return "—"
    return ("+" if value >= 0 else "-") + format_bytes(abs(value))


def _name(entry: ModelEntry) -> str:
    """The model's name, and its key when the key does not hold it (``b (c)``: a key ``c``
    for model ``b`` showed as ``b`` alone, and read as key ``b`` still loaded)."""
    model = entry.model
    if not model or model == entry.key:
        return entry.key
    return model if model in entry.key else f"{model} ({entry.key})"


def _note(event: CacheEvent | None, twins: list[str]) -> str:
    """What is odd about a loaded model: the other keys it is loaded under now (not at its
    load: a twin unloaded since was still named), how its figures were charged, reloads."""
    notes = []
    if twins:
        notes.append("also loaded as " + ", ".join(twins))
    if event is None:
        return "; ".join(notes)
    if event.action == START_ACTION and event.kind == "load":
        notes.append("whole start")  # the host Δ is all the process took as it started
    elif event.first_in_process and event.kind == "load":
        notes.append("incl. imports")  # the host Δ of the process's first load
    if event.among > 1 and event.kind == "load":
        notes.append(f"likeliest of {event.among} calls")  # queued together before the query
    if event.times_loaded > 1:
        notes.append(f"loaded {event.times_loaded}×")
    return "; ".join(notes)
