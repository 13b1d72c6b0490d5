"""The main screen's telemetry: the memory panel, per-call memory in the log, internal calls."""

from __future__ import annotations

import asyncio
from functools import partial

from textual import on
from textual.widget import Widget

from aro_tui.core.exchange_log import LogEntry
from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.process import PluginProcess, PluginState
from aro_tui.core.sanitize import sanitize_line
from aro_tui.core.telemetry import open_gpu_backend
from aro_tui.core.telemetry.buffers import ExchangeSpan
from aro_tui.core.telemetry.exchange_memory import ExchangeMemory
from aro_tui.core.telemetry.model_cache import CacheEvent, ask_models_at_start
from aro_tui.ui.registry import PluginEntry
from aro_tui.ui.screens.main_reload import SourceReload
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable, FilterInput
from aro_tui.ui.widgets.telemetry import TelemetryPanel
from aro_tui.ui.widgets.telemetry.chart import format_window

MEASURE_TRIES = 10
"""How many sample periods (and a half) a call's GPU "after" figure waits for a sample."""


class TelemetryWiring(SourceReload):
    """Feeds the :class:`TelemetryPanel` from host events; the layout lives in ``main.py``."""

    def start_telemetry(self) -> None:
        """Start the sampler (not in deterministic mode: no live redraws in snapshots)."""
        config = self.aro.config
        if config.deterministic:
            return
        panel = self.query_one(TelemetryPanel)
        panel.start_sampling(
            partial(open_gpu_backend, demo=config.demo_gpu), interval_s=config.sample_interval_s
        )

    @property
    def telemetry(self) -> TelemetryPanel:
        """The telemetry panel."""
        return self.query_one(TelemetryPanel)

    def telemetry_state_changed(self, entry: PluginEntry, state: PluginState) -> None:
        """Measure a plugin while it runs; its models are gone once it stops."""
        process = entry.process
        if process is None:
            return
        if state is PluginState.READY:
            self.telemetry.watch_plugin(process)
        elif state in (PluginState.STOPPED, PluginState.CRASHED):
            self.record_cache_events(self.telemetry.plugin_stopped(entry.name))

    def telemetry_plugin_started(self, process: PluginProcess) -> None:
        """Ask a plugin that has just started for its models, before any call: what its
        import loaded is charged to its start."""
        query = ask_models_at_start(process, self.telemetry.tracker)
        if query is not None:
            self.run_worker(self._models_at_start(process, query), group="telemetry")

    async def _models_at_start(
        self, process: PluginProcess, query: asyncio.Future[Exchange]
    ) -> None:
        try:
            events = await self.telemetry.models_at_start(process, query)
        except Exception as error:
            self.say(f"{process.name}: model cache query failed: {error}", "warning")
            return
        self.record_cache_events(events)
        self._say_cache_trouble(process.name)

    def record_cache_events(self, events: list[CacheEvent]) -> None:
        """Put cache events in the recording (defined by the sessions part)."""
        raise NotImplementedError

    def is_internal(self, exchange: Exchange) -> bool:
        """Whether aro-tui sent ``exchange`` itself (a ``models`` query)."""
        return self.telemetry.tracker.is_internal(exchange.plugin, exchange.id)

    def telemetry_exchange_started(self, exchange: Exchange) -> None:
        """Draw the call as a running span."""
        self.telemetry.mark_exchange(exchange)

    def telemetry_exchange_finished(
        self, entry: PluginEntry, exchange: Exchange, log_entry: LogEntry
    ) -> None:
        """Close the span; for a user's call, ask the model cache and measure it (a worker).
        A sample is taken now: this call's "after", and the "before" of one queued behind it."""
        sampler = self.telemetry.sampler
        if sampler is not None:
            sampler.sample_soon()
        process = entry.process
        if process is None:
            return
        if self.is_internal(exchange):
            self.telemetry.mark_exchange(exchange, internal=True)
            return
        self.run_worker(
            self._after_exchange(entry, process, exchange, log_entry), group="telemetry"
        )

    async def _after_exchange(
        self, entry: PluginEntry, process: PluginProcess, exchange: Exchange, log_entry: LogEntry
    ) -> None:
        panel = self.telemetry
        try:
            self.record_cache_events(await panel.after_exchange(process, exchange))
        except Exception as error:
            self.say(f"{entry.name}: model cache query failed: {error}", "warning")
        self._say_cache_trouble(entry.name)
        self.update_exchange_memory(exchange, log_entry)
        if not self.aro.config.deterministic:
            self._measure_once_sampled(exchange, log_entry, MEASURE_TRIES)

    def _say_cache_trouble(self, plugin: str) -> None:
        """Say why ``plugin``'s ``models`` answer could not be read (the table then kept
        showing models it no longer reported) or which figures in it could not, once each."""
        trouble = self.telemetry.tracker.untold_error(plugin)
        if trouble is not None:
            self.say(f"{plugin}: its models answer: {sanitize_line(trouble)}", "warning")

    def _measure_once_sampled(self, exchange: Exchange, log_entry: LogEntry, tries: int) -> None:
        """The GPU "after" figure needs a sample taken after the call: measure again once one
        is in. Not once, a sample period and a half later: on a busy machine the sampler can
        be later than that, and the figure stayed unknown."""
        interval_s = self.aro.config.sample_interval_s * 1.5

        def again() -> None:
            memory = self.update_exchange_memory(exchange, log_entry)
            self.telemetry.measured_again(exchange, memory)
            end = ExchangeSpan.from_exchange(exchange).end_t
            sampled = end is None or self.telemetry.samples.at_or_after(end) is not None
            if not sampled and tries > 1:
                self._measure_once_sampled(exchange, log_entry, tries - 1)

        self.set_timer(interval_s, again)

    def update_exchange_memory(self, exchange: Exchange, log_entry: LogEntry) -> ExchangeMemory:
        """Put before / peak / after memory of ``exchange`` in its log row; that memory."""
        memory = self.telemetry.exchange_memory(exchange)
        self.query_one(ExchangeTable).set_memory(log_entry, memory)
        return memory

    @on(TelemetryPanel.BaselineWarned)
    def _baseline_warned(self, message: TelemetryPanel.BaselineWarned) -> None:
        self.say(message.warning.message(), "warning")

    # -- showing ------------------------------------------------------------------------------

    def action_toggle_telemetry(self) -> None:
        """Show the memory chart and model cache in place of the request/response panes;
        focus in a pane the chart hides moves to the chart's model cache, and back to the
        log when the chart goes."""
        showing = not self.has_class("-telemetry")
        self.set_class(showing, "-telemetry")
        focused = self.focused
        if showing and focused is not None and self.hidden_by_telemetry(focused):
            self.set_focus(self.telemetry.cache_table)
        elif not showing and focused is not None and self.telemetry in focused.ancestors:
            self.set_focus(self.query_one(ExchangeTable))

    def hidden_by_telemetry(self, widget: Widget) -> bool:
        """Whether the memory view hides ``widget``'s region (defined by the layout)."""
        raise NotImplementedError

    def action_toggle_chart_axis(self) -> None:
        """Let the memory axis reach the GPU total, or fit it to the lines drawn again."""
        if not self.has_class("-telemetry"):
            self.say("The memory chart is hidden: f8 shows it.", "warning")
            return
        to_total = not self.telemetry.chart.axis_to_total
        missing = self._why_no_gpu_total() if to_total else None
        if missing is not None:
            self.say(
                f"No GPU total to reach: {missing}. The memory axis stays fitted to the lines.",
                "warning",
            )
            return
        self.telemetry.set_axis_to_total(to_total)
        reach = "reaches the GPU total" if to_total else "fits the memory lines"
        self.say(f"The memory axis {reach}.")

    def action_chart_window(self) -> None:
        """Widen the memory chart's time window a step, from an hour back to 2 minutes."""
        if not self.has_class("-telemetry"):
            self.say("The memory chart is hidden: f8 shows it.", "warning")
            return
        window = self.telemetry.wider_window()
        self.say(f"The memory chart shows the last {format_window(window)}.")

    def _why_no_gpu_total(self) -> str | None:
        """Why the newest sample has no GPU total to draw (None when it has one)."""
        latest = self.telemetry.samples.latest()
        if latest is None:
            return "no memory sample has arrived yet"
        if any(device.memory_total_bytes for device in latest.devices):
            return None
        return latest.gpu_unavailable_reason or "no GPU reported"

    def action_toggle_internal(self) -> None:
        """Show or hide aro-tui's own ``models`` queries in the log and the chart."""
        table = self.query_one(ExchangeTable)
        table.show_internal = not table.show_internal
        self.telemetry.set_show_internal(table.show_internal)
        log_filter = self.query_one(FilterInput).current()
        table.show_entries(
            self.aro.exchange_log.matching(log_filter, table.max_rows), self.shown_number
        )
        self.update_log_title()
        shown = "shown" if table.show_internal else "hidden"
        self.say(f"Internal calls (model cache queries) {shown}.")

    def update_log_title(self) -> None:
        """The log's title: how many exchanges, how many shown (defined by the layout)."""
        raise NotImplementedError

    def log_entry_internal(self, log_entry: LogEntry, exchange: Exchange) -> bool:
        """Note in the table that ``log_entry`` is internal; True if it is."""
        if self.is_internal(exchange):
            self.query_one(ExchangeTable).internal_numbers.add(log_entry.number)
            return True
        return False
