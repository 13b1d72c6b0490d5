"""The telemetry panel: snapshots of the chart's states, and a Pilot run with a real plugin."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginLaunch, PluginObserver, PluginProcess
from aro_tui.core.telemetry import (
    GpuBackend,
    ModelCacheTracker,
    NoGpu,
    PluginTree,
    PluginUsage,
    SampleBuffer,
    ScriptedDevice,
    ScriptedGpu,
    ScriptedStep,
    SpanBuffer,
    TelemetrySample,
)
from aro_tui.ui.widgets.telemetry import TelemetryPanel

GIB = 1024**3
MIB = 1024**2
T0 = 1_700_000_000.0
SIZE = (110, 30)
TEST_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
MODEL_KEY = "generate:sshleifer/tiny-gpt2:cuda:0:float16"


class TelemetryApp(App[None]):
    """Mounts only the telemetry panel."""

    def __init__(self, panel: TelemetryPanel) -> None:
        super().__init__()
        self.panel = panel

    def compose(self) -> ComposeResult:
        yield self.panel


def _exchange(
    exchange_id: int, action: str, start_offset_s: float, seconds: float, rss: tuple[int, int]
) -> Exchange:
    exchange = Exchange(exchange_id, "plug", action, b"{}", started_at=T0 + start_offset_s)
    exchange.sent_monotonic_s = exchange.head_monotonic_s = 1000.0
    exchange.finished_monotonic_s = 1000.0 + seconds
    exchange.status = ExchangeStatus.OK
    exchange.rss_before_bytes, exchange.rss_after_bytes = rss
    return exchange


def _rss_at(offset_s: float) -> int:
    """Host memory of the plugin: 300 MiB, +900 MiB while the model loads at 20-28 s."""
    if offset_s < 20:
        return 300 * MIB
    if offset_s < 28:
        return int((300 + (offset_s - 20) / 8 * 900) * MIB)
    return 1200 * MIB


def _scenario(backend: GpuBackend, *, with_calls: bool) -> TelemetryPanel:
    samples = SampleBuffer()
    spans = SpanBuffer()
    tracker = ModelCacheTracker()
    trees = {"plug": PluginTree(pids=(4242,))}
    for offset in range(0, 91, 1):
        t = T0 + offset
        reading = backend.read(t, trees)
        usage = PluginUsage(_rss_at(offset), 12.5, reading.plugin_memory_bytes.get("plug"), 2)
        samples.append(
            TelemetrySample(t, reading.devices, {"plug": usage}, reading.unavailable_reason)
        )
    if with_calls:
        tracker.update("plug", {"loaded": []}, t=T0 + 5)
        load = _exchange(3, "generate", 20, 8, (300 * MIB, 1200 * MIB))
        spans.record(_from(load))
        tracker.update("plug", _models_answer(), load, samples)
        query = _exchange(4, "models", 28.2, 0.1, (1200 * MIB, 1200 * MIB))
        tracker.mark_internal("plug", query.id)
        spans.record(_from(query, internal=True))
        for exchange_id, start in ((5, 45), (7, 70)):
            call = _exchange(exchange_id, "generate", start, 6, (1200 * MIB, 1200 * MIB))
            spans.record(_from(call))
        failed = _exchange(9, "summarize", 84, 3, (1200 * MIB, 1200 * MIB))
        failed.status = ExchangeStatus.PLUGIN_ERROR
        spans.record(_from(failed))
    panel = TelemetryPanel(samples=samples, spans=spans, tracker=tracker, plugin="plug")
    panel.backend_description = backend.description
    return panel


def _from(exchange: Exchange, internal: bool = False) -> Any:
    from aro_tui.core.telemetry import ExchangeSpan

    return ExchangeSpan.from_exchange(exchange, internal=internal)


def _models_answer() -> dict[str, Any]:
    return {
        "loaded": [MODEL_KEY],
        "details": [
            {
                "key": MODEL_KEY,
                "task": "generate",
                "model": "sshleifer/tiny-gpt2",
                "device": "cuda:0",
                "dtype": "float16",
                "parameters": 124_439_808,
                "memory_bytes": 249 * MIB,
                "load_seconds": 7.9,
            }
        ],
    }


def _scripted_gpu() -> ScriptedGpu:
    """An 8 GiB card: 0.6 GiB used; the model load at 20-28 s takes it to 3.1 GiB."""
    steps = [ScriptedStep(0, [600 * MIB], {"plug": 0}, 0)]
    for second in range(21, 29):
        grown = (second - 20) / 8 * 2.5 * GIB
        steps.append(ScriptedStep(second, [600 * MIB + int(grown)], {"plug": int(grown)}, 90))
    steps.append(ScriptedStep(29, [600 * MIB + int(2.5 * GIB)], {"plug": int(2.5 * GIB)}, 5))
    return ScriptedGpu(
        [ScriptedDevice("Scripted RTX 4060", 8 * GIB, 600 * MIB)],
        steps,
        start_t=T0,
        description="scripted GPU",
    )


def _snapshot_app(panel: TelemetryPanel) -> TelemetryApp:
    return TelemetryApp(panel)


async def _fix_axis(pilot: Any) -> None:
    panel = pilot.app.query_one(TelemetryPanel)
    panel.set_axis_end(T0 + 100)
    await pilot.pause()


async def _fix_axis_to_total(pilot: Any) -> None:
    pilot.app.query_one(TelemetryPanel).set_axis_to_total(True)
    await _fix_axis(pilot)


def test_snapshot_gpu_lines_and_limit(snap_compare: Callable[..., bool]) -> None:
    panel = _scenario(_scripted_gpu(), with_calls=False)
    assert snap_compare(_snapshot_app(panel), terminal_size=SIZE, run_before=_fix_axis_to_total)


def test_snapshot_model_load_with_calls(snap_compare: Callable[..., bool]) -> None:
    panel = _scenario(_scripted_gpu(), with_calls=True)
    assert snap_compare(_snapshot_app(panel), terminal_size=SIZE, run_before=_fix_axis)


def test_snapshot_no_gpu_shows_host_memory_and_why(snap_compare: Callable[..., bool]) -> None:
    reason = "NVML library not found (libnvidia-ml.so.1): no NVIDIA driver installed"
    panel = _scenario(NoGpu(reason), with_calls=True)
    assert snap_compare(_snapshot_app(panel), terminal_size=SIZE, run_before=_fix_axis)


class _ToPanel(PluginObserver):
    """What the dashboard's forwarder does for the panel: spans as calls start and end."""

    def __init__(self) -> None:
        self.panel: TelemetryPanel | None = None

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        if self.panel is not None:
            self.panel.mark_exchange(exchange)


async def _until(pilot: Any, condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    """Wait (with a deadline) for the app to reach ``condition``."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        await pilot.pause()
        await asyncio.sleep(0.02)
    return condition()


async def test_real_plugin_load_rises_in_the_chart_and_appears_in_the_cache_table() -> None:
    observer = _ToPanel()
    plugin = PluginProcess(
        PluginLaunch(
            name="telemetry-alloc",
            module_path=TEST_PLUGINS / "telemetry-alloc" / "src" / "plugin.py",
            interpreter=Path(sys.executable),
            default_timeout_s=20,
            start_timeout_s=10,
        ),
        observer,
    )
    panel = TelemetryPanel(plugin="telemetry-alloc", window_s=60)
    observer.panel = panel
    app = TelemetryApp(panel)
    await plugin.start()
    try:
        async with app.run_test(size=SIZE) as pilot:
            panel.start_sampling(ScriptedGpu.demo, interval_s=0.1)
            panel.watch_plugin(plugin)

            def rss() -> int | None:
                latest = panel.samples.latest()
                usage = None if latest is None else latest.plugins.get("telemetry-alloc")
                return None if usage is None else usage.rss_bytes

            assert await _until(pilot, lambda: rss() is not None)
            baseline_bytes = rss()
            assert baseline_bytes is not None
            load = await plugin.call("load", '{"key": "weights", "mb": 128}')
            assert load.status is ExchangeStatus.OK
            events = await panel.after_exchange(plugin, load)
            assert [(e.kind, e.key, e.exchange_id) for e in events] == [
                ("load", "weights", load.id)
            ]
            assert await _until(pilot, lambda: (rss() or 0) > baseline_bytes + 100 * MIB)
            # The demo GPU mirrors the growth, so the plugin's GPU line rose too.
            latest = panel.samples.latest()
            assert latest is not None
            gpu_bytes = latest.plugins["telemetry-alloc"].gpu_memory_bytes
            assert gpu_bytes is not None and gpu_bytes > 100 * MIB
            table = panel.cache_table
            assert table.row_count == 1
            row = [cell.plain for cell in table.get_row_at(0)]
            assert row[0] == "weights" and row[4] == "128 MiB"
            assert row[5] == f"#{load.id} load"
            chart_text = panel.chart.render().plain
            assert "▲" in chart_text
            spans = panel.spans.snapshot()
            assert [(s.action, s.internal) for s in spans] == [("load", False), ("models", True)]
            assert "┄" not in chart_text.splitlines()[-2]  # internal query hidden by default
            panel.set_show_internal(True)
            await pilot.pause()
            assert "┄" in panel.chart.render().plain.splitlines()[-2]
            # A model name is plugin text: shown as it is, not read as markup (MarkupError).
            hostile = await plugin.call("load", '{"key": "[/]", "mb": 1}')
            await panel.after_exchange(plugin, hostile)
            await pilot.pause()
            names = [table.get_row_at(i)[0].plain for i in range(table.row_count)]
            assert "[/]" in names
            sampler = panel.sampler
            assert sampler is not None
        assert not sampler.running  # unmounting the panel stopped the thread
    finally:
        await plugin.stop()


def test_memory_under_a_mebibyte_is_not_shown_as_zero() -> None:
    """The cache table showed a 170 KB model as "0 MiB"."""
    from aro_tui.ui.widgets.telemetry.chart import format_bytes

    assert format_bytes(170_000) == "166 KiB"
    assert format_bytes(0) == "0 MiB"
    assert format_bytes(312 * 1024**2) == "312 MiB"
    assert format_bytes(1.5 * 1024**3) == "1.5 GiB"


def test_huge_memory_figures_keep_their_width() -> None:
    """A plugin claiming 1e50 bytes filled the cache table with a 41-digit GiB figure, and
    the log cut 10.3 GiB to "10." (its cells hold four characters)."""
    from aro_tui.ui.widgets.log.exchange_table import format_compact
    from aro_tui.ui.widgets.telemetry.chart import format_bytes

    sizes = [10.3 * 1024**3, 150 * 1024**3, 1100 * 1024**3, 5 * 1024**5, 1e50]
    assert [format_compact(int(size)) for size in sizes] == ["10G", "150G", "1.1T", "5.0P", "huge"]
    assert [format_bytes(size) for size in sizes] == [
        "10.3 GiB",
        "150 GiB",
        "1.1 TiB",
        "5.0 PiB",
        "> 1 ZiB",
    ]
    assert all(len(format_compact(int(2**n))) <= 4 for n in range(10, 80))
    assert all(len(format_bytes(2.0**n)) <= 8 for n in range(10, 200))


async def test_a_load_and_an_unload_in_one_column_are_both_marked() -> None:
    """The last one drawn won: a load then a restart within a second read as an unload with
    no load before it."""
    panel = _scenario(NoGpu("no GPU here"), with_calls=True)  # the model loads at 28 s
    unload = _exchange(6, "restart", 28.1, 0.1, (1200 * MIB, 300 * MIB))
    panel.tracker.update("plug", {"loaded": []}, unload, panel.samples)
    app = TelemetryApp(panel)
    async with app.run_test(size=SIZE) as pilot:
        await _fix_axis(pilot)
        chart = str(panel.chart.render())
        models = next(line for line in chart.splitlines() if line.lstrip().startswith("models"))
        assert "⇕" in models and "▼" not in models


async def test_time_labels_never_run_together() -> None:
    """At 60 columns the axis read ``-120-90s  -60s   -30s  now``."""
    panel = _scenario(NoGpu("no GPU here"), with_calls=True)
    async with TelemetryApp(panel).run_test(size=SIZE):
        chart = panel.chart
        for columns in (20, 32, 40, 60, 100):
            labels = chart._time_axis(columns).plain.split()
            assert labels[0] == "-120s" and labels[-1] == "now", (columns, labels)
            assert all(label == "now" or label[-1] == "s" for label in labels), (columns, labels)
        assert chart._time_axis(100).plain.split() == ["-120s", "-90s", "-60s", "-30s", "now"]


def _eight_cards() -> ScriptedGpu:
    """A node of eight H100s; the plugin's model is on the second."""
    name = "NVIDIA H100 80GB HBM3"
    devices = [ScriptedDevice(name, 80 * GIB, (index + 1) * GIB) for index in range(8)]
    steps = [ScriptedStep(0, [], {"plug": 300 * MIB}, 3)]
    return ScriptedGpu(devices, steps, start_t=T0)


async def test_a_node_of_eight_cards_keeps_the_plugins_figures_and_the_status_line() -> None:
    """Eight cards ran the status line past its width (its `z` hint cut) and pushed the
    plugin's GPU and host figures out of the legend."""
    panel = _scenario(_eight_cards(), with_calls=False)
    async with TelemetryApp(panel).run_test(size=SIZE) as pilot:
        await _fix_axis(pilot)
        legend = str(panel.chart.render()).splitlines()[0]
        assert legend.startswith("━ plugin 300 MiB ━ host 1.2 GiB ━ GPU0 1.0 GiB/80.0 GiB")
        status = panel._status_text(panel.samples.latest())
        assert status == (
            "scripted GPU · GPU0–7 NVIDIA H100 80GB HBM3 util 3% · z: axis to GPU total"
        )


def test_devices_of_several_models_are_summed_up_by_model() -> None:
    from aro_tui.core.telemetry import DeviceSample
    from aro_tui.ui.widgets.telemetry.panel import device_summaries

    devices = [
        DeviceSample(0, "A100", 1, 2, 10),
        DeviceSample(1, "T4", 1, 2, None),
        DeviceSample(2, "A100", 1, 2, 55),
        DeviceSample(3, "A100", 1, 2, None),
    ]
    assert device_summaries(devices) == ["GPU0,2,3 A100 util 10–55%", "GPU1 T4 util —"]
    assert device_summaries(devices[:1]) == ["GPU0 A100 util 10%"]
