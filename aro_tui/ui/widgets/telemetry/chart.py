"""The memory chart: GPU and host memory, exchanges and model-cache events on one time axis.

Drawn natively with Braille dots (2×4 per cell) rather than through ``textual-plotext``:
plotext can draw lines, but not spans under the axis, markers tied to events, a dashed limit
line and theme colours together without fighting it; it also rebuilds its whole canvas as an
ANSI string and parses it back on every redraw. Drawing here is a few hundred lines of plain
arithmetic over the visible samples: deterministic for snapshots (nothing reads a clock: the
axis ends at the newest sample, or at ``end_t`` when set), cheap at 1 Hz, no dependency, and
styled by component classes that use theme variables.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from aro_tui.core.telemetry.buffers import ExchangeSpan, SampleBuffer, SpanBuffer, TimeBuffer
from aro_tui.core.telemetry.model_cache import CacheEvent
from aro_tui.core.telemetry.samples import TelemetrySample

GUTTER = 10
"""Columns left of the plot for the y-axis labels (``12.0 GiB ┤``)."""
_BRAILLE_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


def format_bytes(value: float | None) -> str:
    """``1.5 GiB``, ``141 GiB``, ``312 MiB``, ``166 KiB`` (a tiny model read "0 MiB"), ``—`` for
    unknown: at most 8 characters."""
    if value is None:
        return "—"
    if abs(value) >= 1024**3:
        scaled = value / 1024**3
        for unit in ("GiB", "TiB", "PiB", "EiB"):  # a claimed 1e50 bytes read as 41 digits
            if abs(scaled) < 99.95:
                return f"{scaled:.1f} {unit}"
            if abs(scaled) < 1023.5 or (unit == "EiB" and abs(scaled) < 9999.5):
                return f"{scaled:.0f} {unit}"
            scaled /= 1024
        return "> 1 ZiB" if value > 0 else "< -1 ZiB"
    if 0 < abs(value) < 1024**2 - 512:
        return f"{value / 1024:.0f} KiB"
    return f"{value / 1024**2:.0f} MiB"


def format_offset(seconds: float, *, in_minutes: bool = False) -> str:
    """An axis label relative to the axis end: ``-90s``, ``-5m``, ``-1h``; ``in_minutes``
    (an axis of several minutes) ``-7m30s`` and ``-2m30s`` too, where ``-536s`` and ``-150s``
    read as riddles beside ``-10m``."""
    seconds = round(seconds)
    if seconds == 0:
        return "now"
    if seconds % 3600 == 0:
        return f"-{seconds // 3600}h"
    if in_minutes or (seconds >= 300 and seconds % 60 == 0):
        minutes, rest = divmod(seconds, 60)
        return f"-{minutes}m{rest:02d}s" if rest else f"-{minutes}m"
    return f"-{seconds}s"


def format_window(seconds: float) -> str:
    """A chart's time window in words: ``2 min``, ``30 min``, ``1 h``, ``1 h 30 min``."""
    minutes = max(1, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


@dataclass(slots=True)
class _Series:
    label: str
    component: str
    points: list[tuple[float, float | None]]
    dashed: bool = False


class _Canvas:
    """Braille dots with one style per cell (the last series drawn into a cell wins)."""

    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self.bits = [[0] * columns for _ in range(rows)]
        self.styles: list[list[str | None]] = [[None] * columns for _ in range(rows)]

    def dot(self, x: int, y: int, component: str) -> None:
        if 0 <= x < self.columns * 2 and 0 <= y < self.rows * 4:
            column, row = x // 2, y // 4
            self.bits[row][column] |= _BRAILLE_BITS[x % 2][y % 4]
            self.styles[row][column] = component

    def line(self, x0: int, y0: int, x1: int, y1: int, component: str) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        step_x, step_y = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        error = dx + dy
        while True:
            self.dot(x0, y0, component)
            if x0 == x1 and y0 == y1:
                return
            doubled = 2 * error
            if doubled >= dy:
                error += dy
                x0 += step_x
            if doubled <= dx:
                error += dx
                y0 += step_y


class MemoryChart(Widget):
    """GPU used per device (its total as a dashed limit), the plugin's GPU and host memory."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "memory-chart--axis",
        "memory-chart--gpu-used",
        "memory-chart--gpu-limit",
        "memory-chart--plugin-gpu",
        "memory-chart--host-rss",
        "memory-chart--span",
        "memory-chart--span-error",
        "memory-chart--span-internal",
        "memory-chart--load",
        "memory-chart--unload",
        "memory-chart--warning",
        "memory-chart--guide",
    }
    DEFAULT_CSS = """
    MemoryChart {
        height: 1fr;
        min-height: 8;
        & > .memory-chart--axis { color: $foreground-muted; }
        & > .memory-chart--gpu-used { color: $primary; }
        & > .memory-chart--gpu-limit { color: $error 70%; }
        & > .memory-chart--plugin-gpu { color: $accent; }
        & > .memory-chart--host-rss { color: $success; }
        & > .memory-chart--span { color: $text-secondary; }
        & > .memory-chart--span-error { color: $text-error; }
        & > .memory-chart--span-internal { color: $foreground-muted; }
        & > .memory-chart--load { color: $text-warning; text-style: bold; }
        & > .memory-chart--unload { color: $foreground-muted; text-style: bold; }
        & > .memory-chart--warning { color: $text-warning; }
        & > .memory-chart--guide { color: $foreground-muted 40%; }
    }
    """

    window_s: reactive[float] = reactive(120.0)
    """How many seconds the axis spans, ending at ``end_t`` (or the newest sample)."""
    plugin: reactive[str | None] = reactive(None)
    """Whose process tree the plugin lines show (None: no plugin lines)."""
    show_internal: reactive[bool] = reactive(False)
    """Whether aro-tui's own ``models`` queries are drawn as spans."""
    axis_to_total: reactive[bool] = reactive(False)
    """Whether the memory axis reaches the GPU's total; by default it fits the lines drawn, so
    a model of a few hundred MiB is a visible step on a card of 80 GiB (the total stays in
    the legend, and is drawn when it is within the axis)."""
    end_t: reactive[float | None] = reactive(None)
    """Epoch time the axis ends at; None follows the newest sample (tests fix it)."""

    def __init__(
        self,
        samples: SampleBuffer,
        spans: SpanBuffer,
        cache_events: TimeBuffer[CacheEvent],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """Draw what the buffers hold; call :meth:`refresh` after they change."""
        super().__init__(name=name, id=id, classes=classes)
        self.samples = samples
        self.spans = spans
        self.cache_events = cache_events

    def render(self) -> Text:
        """The whole chart as styled text (recomputed on refresh; a few ms at 120×30)."""
        width, height = self.size.width, self.size.height
        if width < GUTTER + 10 or height < 6:
            return Text("(too small for the chart)", style=self._style("memory-chart--axis"))
        if self.end_t is not None:
            end_t = marks_until = self.end_t
        else:
            newest = self.samples.latest()
            end_t = newest.t if newest is not None else 0.0
            # Live, the axis ends at the newest sample (up to a sampling interval ago): a call
            # or model load since then is drawn in the last column now, not a second later.
            marks_until = math.inf
        window_s = self.window_s  # reactives are read once: x_of runs for every point and span
        start_t = end_t - window_s
        visible = self.samples.between(start_t - 5, end_t)
        plot_columns = width - GUTTER
        plot_rows = height - 4
        series = self._series(visible)
        y_max = _y_limit(series, to_total=self.axis_to_total)
        canvas = _Canvas(plot_columns, plot_rows)

        def x_of(t: float) -> int:
            return round((t - start_t) / window_s * (plot_columns * 2 - 1))

        def y_of(value: float) -> int:
            return round((1 - value / y_max) * (plot_rows * 4 - 1))

        for line in series:
            previous: tuple[int, int] | None = None
            for t, value in line.points:
                if value is None:
                    previous = None
                    continue
                point = (x_of(t), y_of(value))
                if line.dashed:
                    if previous is not None:
                        for x in range(previous[0], point[0] + 1):
                            if x % 4 < 2:
                                canvas.dot(x, point[1], line.component)
                elif previous is not None:
                    canvas.line(*previous, *point, line.component)
                else:
                    canvas.dot(*point, line.component)
                previous = point

        def column_of(t: float) -> int:
            return plot_columns - 1 if t > end_t else max(0, x_of(t) // 2)

        events = [e for e in self.cache_events.snapshot() if start_t <= e.t <= marks_until]
        if self.plugin is not None:
            events = [e for e in events if e.plugin == self.plugin]
        event_columns = {column_of(e.t) for e in events}

        text = Text(no_wrap=True, overflow="crop", end="")
        text.append_text(self._legend(visible, width, y_max))
        for row in range(plot_rows):
            text.append("\n")
            text.append(self._y_label(row, plot_rows, y_max), self._style("memory-chart--axis"))
            for column in range(plot_columns):
                bits = canvas.bits[row][column]
                if bits:
                    text.append(chr(0x2800 + bits), self._style(canvas.styles[row][column]))
                elif column in event_columns:
                    text.append("┊", self._style("memory-chart--guide"))
                else:
                    text.append(" ")
        text.append("\n")
        text.append_text(self._marker_row(events, column_of, plot_columns))
        text.append("\n")
        text.append_text(self._span_row(start_t, marks_until, column_of, plot_columns))
        text.append("\n")
        text.append_text(self._time_axis(plot_columns))
        return text

    # -- pieces -------------------------------------------------------------------------------

    def _series(self, visible: list[TelemetrySample]) -> list[_Series]:
        series: list[_Series] = []
        device_indexes = sorted({d.index for s in visible for d in s.devices})
        for index in device_indexes:
            used: list[tuple[float, float | None]] = []
            total: list[tuple[float, float | None]] = []
            for sample in visible:
                device = next((d for d in sample.devices if d.index == index), None)
                used.append((sample.t, None if device is None else device.memory_used_bytes))
                total.append((sample.t, None if device is None else device.memory_total_bytes))
            series.append(_Series(f"GPU{index} total", "memory-chart--gpu-limit", total, True))
            series.append(_Series(f"GPU{index} used", "memory-chart--gpu-used", used))
        if self.plugin is not None:
            plugin = self.plugin
            host = [(s.t, _usage(s, plugin, "rss")) for s in visible]
            gpu = [(s.t, _usage(s, plugin, "gpu")) for s in visible]
            series.append(_Series("host RSS", "memory-chart--host-rss", host))
            if device_indexes:
                series.append(_Series("plugin GPU", "memory-chart--plugin-gpu", gpu))
        return series

    def _legend(self, visible: list[TelemetrySample], width: int, y_max: float) -> Text:
        """The lines' names and latest figures; in short words where the long ones do not
        fit (at 80 columns the host figure was cut to "host…")."""
        latest = visible[-1] if visible else None
        if latest is None:
            legend = Text(no_wrap=True, overflow="ellipsis", end="")
            legend.append("waiting for the first sample…", self._style("memory-chart--axis"))
            return legend
        legend = self._legend_of(latest, y_max, short=False)
        if legend.cell_len > width:
            legend = self._legend_of(latest, y_max, short=True)
        legend.truncate(width, overflow="ellipsis")
        return legend

    def _legend_of(self, latest: TelemetrySample, y_max: float, *, short: bool) -> Text:
        """The devices, then the plugin's lines; with several devices the plugin's first,
        so that the legend's cut (eight cards of a node) takes device figures, not them."""
        devices = self._device_legend(latest, y_max, short=short)
        plugin = self._plugin_legend(latest, short=short)
        legend = Text(no_wrap=True, overflow="ellipsis", end="")
        legend.append_text(plugin if len(latest.devices) > 1 else devices)
        legend.append_text(devices if len(latest.devices) > 1 else plugin)
        if not latest.devices:  # the panel's status line above says why
            legend.append("no GPU line", self._style("memory-chart--warning"))
        return legend

    def _device_legend(self, latest: TelemetrySample, y_max: float, *, short: bool) -> Text:
        legend = Text(end="")
        gap = " " if short else "  "
        for device in latest.devices:
            legend.append("━ ", self._style("memory-chart--gpu-used"))
            used, total = device.memory_used_bytes, device.memory_total_bytes
            of = "/" if short else " / "
            legend.append(f"GPU{device.index} {format_bytes(used)}{of}{format_bytes(total)}{gap}")
            if total is not None and total <= y_max:  # else the axis fits the lines below it
                legend.append("┄ ", self._style("memory-chart--gpu-limit"))
                legend.append(f"total{gap}")
        return legend

    def _plugin_legend(self, latest: TelemetrySample, *, short: bool) -> Text:
        legend = Text(end="")
        if self.plugin is None:
            return legend
        gap = " " if short else "  "
        if latest.devices:
            legend.append("━ ", self._style("memory-chart--plugin-gpu"))
            name = "plugin" if short else "plugin GPU"
            legend.append(f"{name} {format_bytes(_usage(latest, self.plugin, 'gpu'))}{gap}")
        legend.append("━ ", self._style("memory-chart--host-rss"))
        name = "host" if short else "host RSS"
        legend.append(f"{name} {format_bytes(_usage(latest, self.plugin, 'rss'))}{gap}")
        return legend

    def _y_label(self, row: int, rows: int, y_max: float) -> str:
        if row in (0, rows // 2):
            value = y_max * (1 - (row * 4) / (rows * 4 - 1))
            return f"{format_bytes(value):>8} ┤"
        if row == rows - 1:
            return f"{'0':>8} ┤"
        return f"{'':>8} │"

    def _marker_row(
        self, events: list[CacheEvent], column_of: Callable[[float], int], columns: int
    ) -> Text:
        cells: list[tuple[str, str]] = [(" ", "memory-chart--axis")] * columns
        for event in events:
            column = column_of(event.t)
            if event.kind == "load":
                flagged = event.duplicate_of or event.times_loaded > 1
                cell = ("◆" if flagged else "▲", "memory-chart--load")
            else:
                cell = ("▼", "memory-chart--unload")
            if cells[column][0] not in {" ", cell[0]}:
                # Loads and unloads in one column: the last one drawn hid the others (an
                # unload with no load before it, after a load and a restart within a second).
                cell = ("⇕", "memory-chart--load")
            cells[column] = cell
        row = Text(f"{'models':>8}  ", style=self._style("memory-chart--axis"), end="")
        for glyph, component in cells:
            row.append(glyph, self._style(component))
        return row

    def _span_row(
        self, start_t: float, until_t: float, column_of: Callable[[float], int], columns: int
    ) -> Text:
        cells: list[tuple[str, str]] = [(" ", "memory-chart--axis")] * columns
        plugin, show_internal = self.plugin, self.show_internal
        for span in self.spans.overlapping(start_t, until_t):
            if plugin is not None and span.plugin != plugin:
                continue
            if span.internal and not show_internal:
                continue
            first = column_of(span.start_t)
            last = columns - 1 if span.end_t is None else column_of(span.end_t)  # or running
            component = _span_component(span)
            glyph = "┄" if span.internal else "━"
            if first == last and cells[first] == (glyph, component):
                continue  # thousands of short calls a column (an hour's window): drawn once
            for column in range(first, last + 1):
                cells[column] = (glyph, component)
            label = f" {span.action} "
            if not span.internal and last - first + 1 >= len(label) + 2:
                for offset, char in enumerate(label):
                    cells[first + 1 + offset] = (char, component)
        row = Text(f"{'calls':>8}  ", style=self._style("memory-chart--axis"), end="")
        for glyph, component in cells:
            row.append(glyph, self._style(component))
        return row

    def _time_axis(self, columns: int) -> Text:
        """Labels at 4 equal steps, or fewer where they would run together (at 60 columns
        ``-120s`` and ``-90s`` did)."""
        for ticks in (4, 3, 2, 1):
            axis = [" "] * columns
            end = -1  # where the previous label ended
            for tick in range(ticks + 1):
                column = round(tick / ticks * (columns - 1))
                label = format_offset(
                    self.window_s * (1 - tick / ticks), in_minutes=self.window_s >= 180
                )
                begin = min(max(0, column - len(label) // 2), columns - len(label))
                if begin <= end:
                    break
                axis[begin : begin + len(label)] = label
                end = begin + len(label)
            else:
                break
        text = " " * GUTTER + "".join(axis)
        return Text(text, style=self._style("memory-chart--axis"), end="")

    def _style(self, component: str | None) -> Style:
        if component is None:
            return Style()
        return self.get_component_rich_style(component, partial=False)


def _usage(sample: TelemetrySample, plugin: str, kind: str) -> float | None:
    usage = sample.plugins.get(plugin)
    if usage is None:
        return None
    return usage.rss_bytes if kind == "rss" else usage.gpu_memory_bytes


def _y_limit(series: list[_Series], *, to_total: bool) -> float:
    """The top of the axis: the largest memory line plus a margin, or (``to_total``) the GPU
    total when that is larger."""
    top = max(
        (value for line in series if not line.dashed for _, value in line.points if value),
        default=0.0,
    )
    limits = [v for line in series if line.dashed for _, v in line.points if v is not None]
    if to_total and limits and top <= max(limits):
        return max(limits) * 1.02
    return max(top * 1.15, 64 * 1024**2)


def _span_component(span: ExchangeSpan) -> str:
    if span.internal:
        return "memory-chart--span-internal"
    return "memory-chart--span" if span.ok else "memory-chart--span-error"
