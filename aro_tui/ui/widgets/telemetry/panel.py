"""The telemetry panel: a status line, the memory chart and the model-cache table.

Mount ``TelemetryPanel()`` anywhere, call :meth:`TelemetryPanel.start_sampling` once, and
forward the host's events (see ``docs/telemetry.md``, "Mounting the panel").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widgets import Static

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.process import PluginProcess
from aro_tui.core.sanitize import shorten
from aro_tui.core.telemetry.buffers import ExchangeSpan, SampleBuffer, SpanBuffer
from aro_tui.core.telemetry.exchange_memory import (
    BaselineWarning,
    BaselineWatch,
    ExchangeMemory,
    exchange_memory,
)
from aro_tui.core.telemetry.gpu import GpuBackend, open_gpu_backend
from aro_tui.core.telemetry.model_cache import (
    CacheEvent,
    ModelCacheTracker,
    models_at_start,
    refresh_model_cache,
)
from aro_tui.core.telemetry.sampler import DEFAULT_INTERVAL_S, Sampler
from aro_tui.core.telemetry.samples import DeviceSample, TelemetrySample
from aro_tui.ui.formatting import plain_title
from aro_tui.ui.widgets.telemetry.cache_table import ModelCacheTable
from aro_tui.ui.widgets.telemetry.chart import MemoryChart, format_window

TITLE_NAME_CHARS = 40
CHART_WINDOWS_S = (120.0, 600.0, 1800.0, 3600.0)
"""The time windows ``w`` steps through: the samples and spans are kept for an hour."""


class TelemetryPanel(Vertical):
    """Live (or recorded) GPU and host memory of one plugin, its calls and its model cache."""

    DEFAULT_CSS = """
    TelemetryPanel {
        height: 1fr;
        & > #telemetry-status { height: 1; color: $foreground-muted; }
        & > #telemetry-status.-no-gpu { color: $warning; }
    }
    """

    class Sampled(Message):
        """A sample arrived (already in the buffer); coalesces, the panel just redraws."""

        def __init__(self, sample: TelemetrySample) -> None:
            super().__init__()
            self.sample = sample

        def can_replace(self, message: Message) -> bool:
            """A newer sample supersedes a pending one: redrawing once is enough."""
            return isinstance(message, TelemetryPanel.Sampled)

    class BaselineWarned(Message):
        """Identical calls kept raising the memory baseline (show it as a notification)."""

        def __init__(self, warning: BaselineWarning) -> None:
            super().__init__()
            self.warning = warning

    def __init__(
        self,
        *,
        samples: SampleBuffer | None = None,
        spans: SpanBuffer | None = None,
        tracker: ModelCacheTracker | None = None,
        plugin: str | None = None,
        window_s: float = 120.0,
        id: str | None = None,
    ) -> None:
        """Buffers may be shared (e.g. filled from a recording); by default they're new."""
        super().__init__(id=id)
        self.samples = samples if samples is not None else SampleBuffer()
        self.spans = spans if spans is not None else SpanBuffer()
        self.tracker = tracker if tracker is not None else ModelCacheTracker()
        self.baselines = BaselineWatch()
        self.sampler: Sampler | None = None
        self.sample_listener: Callable[[TelemetrySample], None] | None = None
        """Called with every sample, on the sampler's thread (e.g. a session recorder's
        thread-safe ``record_sample``); the redraw message coalesces, this never does."""
        self.backend_description = ""
        self._plugin = plugin
        self._window_s = window_s

    def compose(self) -> ComposeResult:
        """Status line, chart, cache table."""
        yield Static("", id="telemetry-status", markup=False)
        chart = MemoryChart(self.samples, self.spans, self.tracker.events, id="telemetry-chart")
        chart.plugin = self._plugin
        chart.window_s = self._window_s
        yield chart
        table = ModelCacheTable(self.tracker, id="telemetry-cache")
        table.plugin = self._plugin
        yield table

    def on_mount(self) -> None:
        """Draw what the buffers already hold."""
        self._show_title()
        self.refresh_view()

    def on_unmount(self) -> None:
        """Stop the sampler thread with the panel."""
        self.stop_sampling()

    @property
    def chart(self) -> MemoryChart:
        """The chart widget."""
        return self.query_one(MemoryChart)

    @property
    def cache_table(self) -> ModelCacheTable:
        """The cache table widget."""
        return self.query_one(ModelCacheTable)

    # -- feeding --------------------------------------------------------------------------------

    def start_sampling(
        self,
        backend_factory: Callable[[], GpuBackend] = open_gpu_backend,
        interval_s: float = DEFAULT_INTERVAL_S,
    ) -> Sampler:
        """Start the sampler thread; samples go into the buffer and a coalescing message."""

        def on_sample(sample: TelemetrySample) -> None:  # the sampler's thread
            self.samples.append(sample)
            if self.sample_listener is not None:
                self.sample_listener(sample)
            self.post_message(self.Sampled(sample))

        self.stop_sampling()
        self.sampler = Sampler(on_sample, backend_factory=backend_factory, interval_s=interval_s)
        self.sampler.start()
        return self.sampler

    def stop_sampling(self) -> None:
        """Stop the sampler thread (returns once it ended, or after 2 s)."""
        if self.sampler is not None:
            self.sampler.stop()
            self.sampler = None

    def watch_plugin(self, plugin: PluginProcess) -> None:
        """Measure ``plugin``'s process tree (call when it becomes ready, and after calls)."""
        if self.sampler is not None and plugin.pid is not None:
            self.sampler.watch(plugin.name, plugin.pid, set(plugin.process_tree_pids()))

    def plugin_stopped(self, name: str) -> list[CacheEvent]:
        """``name``'s process ended: stop measuring it; its cache is gone (unload events)."""
        if self.sampler is not None:
            self.sampler.unwatch(name)
        events = self.tracker.forget(name, time.time())
        self.refresh_view()
        return events

    def add_sample(self, sample: TelemetrySample) -> None:
        """Add a sample from elsewhere (a recording, a test) and redraw."""
        self.samples.append(sample)
        self.refresh_view()

    def mark_exchange(self, exchange: Exchange, internal: bool | None = None) -> None:
        """Draw ``exchange`` as a span (call on start and again on finish)."""
        if internal is None:
            internal = self.tracker.is_internal(exchange.plugin, exchange.id)
        self.spans.record(ExchangeSpan.from_exchange(exchange, internal=internal))
        self.chart.refresh()

    async def after_exchange(self, plugin: PluginProcess, exchange: Exchange) -> list[CacheEvent]:
        """After a finished exchange: its span, the model-cache query, a baseline check.

        Awaits the internal ``models`` call, so run it in a worker (``run_worker``), not in a
        message handler the log waits on.
        """
        internal = self.tracker.is_internal(plugin.name, exchange.id)
        self.mark_exchange(exchange, internal)
        if internal:
            return []
        self.watch_plugin(plugin)
        memory = self.exchange_memory(exchange)
        for warning in self.baselines.record(exchange, memory):
            self.post_message(self.BaselineWarned(warning))
        events = await refresh_model_cache(plugin, self.tracker, exchange, self.samples)
        self.mark_cache_events(events)
        return events

    async def models_at_start(
        self, plugin: PluginProcess, query: asyncio.Future[Exchange]
    ) -> list[CacheEvent]:
        """The answer to the ``models`` query sent as ``plugin`` became ready: what it loaded
        while it started. Awaits it (run in a worker)."""
        events = await models_at_start(plugin, self.tracker, query, self.samples)
        self.mark_cache_events(events)
        return events

    def exchange_memory(self, exchange: Exchange) -> ExchangeMemory:
        """Before / peak / after memory of ``exchange`` from the buffers."""
        return exchange_memory(self.samples, exchange)

    def measured_again(self, exchange: Exchange, memory: ExchangeMemory) -> None:
        """``exchange``'s memory measured again, later samples in: its GPU "after", unknown
        when the call ended, goes into the baseline check now."""
        if self.tracker.is_internal(exchange.plugin, exchange.id):
            return
        for warning in self.baselines.record(exchange, memory):
            self.post_message(self.BaselineWarned(warning))

    def mark_cache_events(self, events: list[CacheEvent]) -> None:
        """Redraw after cache events (they're already in ``tracker.events``)."""
        self.refresh_view()

    # -- showing --------------------------------------------------------------------------------

    def show_plugin(self, name: str | None) -> None:
        """Plot ``name``'s tree and list its models."""
        self._plugin = name
        self.chart.plugin = name
        self.cache_table.show(name)
        self._show_title()

    def set_window(self, window_s: float) -> None:
        """Show the last ``window_s`` seconds (up to the axis end)."""
        self.chart.window_s = window_s
        self._show_title()

    def wider_window(self) -> float:
        """The next of ``CHART_WINDOWS_S`` wider than the window shown (from the widest, the
        narrowest), shown now; returned."""
        wider = [window for window in CHART_WINDOWS_S if window > self.chart.window_s + 0.5]
        window = wider[0] if wider else CHART_WINDOWS_S[0]
        self.set_window(window)
        return window

    def _show_title(self) -> None:
        """Whose memory the lines are, and over how long: with two plugins running, a
        legend of "plugin GPU" and "host RSS" did not say which one's."""
        # A name of 320 characters pushed the window (what w changes) out of the title.
        whose = "" if self._plugin is None else f" of {shorten(self._plugin, TITLE_NAME_CHARS)}"
        window = format_window(self.chart.window_s)
        self.border_title = plain_title(f"Memory{whose} · last {window} (w) · calls · model cache")

    def set_show_internal(self, show: bool) -> None:
        """Draw aro-tui's own ``models`` queries as (dim) spans, or hide them."""
        self.chart.show_internal = show

    def set_axis_to_total(self, to_total: bool) -> None:
        """Let the memory axis reach the GPU total, or fit it to the lines drawn."""
        self.chart.axis_to_total = to_total
        self.refresh_view()

    def set_axis_end(self, end_t: float | None) -> None:
        """Fix the axis end (epoch s) or follow the newest sample (None)."""
        self.chart.end_t = end_t

    def on_telemetry_panel_sampled(self, message: Sampled) -> None:
        """Redraw for a new sample; fill in GPU deltas that waited for it."""
        message.stop()
        if self.tracker.resolve_gpu(self.samples):
            self.cache_table.show(self._plugin)
        self.refresh_view(message.sample)

    def refresh_view(self, latest: TelemetrySample | None = None) -> None:
        """Redraw the status line, the chart and the table."""
        try:
            status = self.query_one("#telemetry-status", Static)
        except NoMatches:  # not composed yet
            return
        latest = latest or self.samples.latest()
        status.update(self._status_text(latest))
        status.set_class(latest is not None and not latest.devices, "-no-gpu")
        self.chart.refresh()
        self.cache_table.show(self._plugin)

    def _status_text(self, latest: TelemetrySample | None) -> str:
        description = self.backend_description or (
            self.sampler.backend.description
            if self.sampler is not None and self.sampler.backend is not None
            else ""
        )
        if latest is None:
            return f"{description} · waiting for the first sample".strip(" ·")
        if not latest.devices:
            return f"no GPU: {latest.gpu_unavailable_reason or 'no device reported'}"
        parts = [description] if description else []
        parts += device_summaries(latest.devices)
        if latest.gpu_attribution_problem is not None:
            parts.append(latest.gpu_attribution_problem)
        parts.append("z: axis to fit" if self.chart.axis_to_total else "z: axis to GPU total")
        return " · ".join(parts)


def device_summaries(devices: Sequence[DeviceSample]) -> list[str]:
    """``GPU0 NVIDIA H100 80GB HBM3 util 40%`` per device; devices of one model together
    (``GPU0–7 NVIDIA H100 80GB HBM3 util 0–3%``): eight cards of a node, one by one, ran the
    status line past its width and cut the rest of it."""
    by_name: dict[str, list[DeviceSample]] = {}
    for device in devices:
        by_name.setdefault(device.name, []).append(device)
    summaries = []
    for name, group in by_name.items():
        indices = [device.index for device in group]
        contiguous = indices == list(range(indices[0], indices[0] + len(indices)))
        if len(indices) == 1:
            which = f"GPU{indices[0]}"
        elif contiguous:
            which = f"GPU{indices[0]}–{indices[-1]}"
        else:
            which = "GPU" + ",".join(str(index) for index in indices)
        known = sorted(d.utilization_percent for d in group if d.utilization_percent is not None)
        if not known:
            util = "—"
        elif known[0] == known[-1]:
            util = f"{known[0]}%"
        else:
            util = f"{known[0]}–{known[-1]}%"
        summaries.append(f"{which} {name} util {util}")
    return summaries
