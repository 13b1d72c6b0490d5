"""Samples, buffers, the sampler, the scripted and replayed GPU, per-call memory, baselines."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import orjson

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.telemetry import (
    BaselineWarning,
    BaselineWatch,
    DeviceSample,
    ExchangeMemory,
    ExchangeSpan,
    NoGpu,
    PluginTree,
    PluginUsage,
    ReplayGpu,
    SampleBuffer,
    Sampler,
    SampleWriter,
    ScriptedDevice,
    ScriptedGpu,
    ScriptedStep,
    SpanBuffer,
    TelemetrySample,
    exchange_memory,
    read_samples,
)

GIB = 1024**3
MIB = 1024**2
T0 = 1_700_000_000.0


def scripted() -> ScriptedGpu:
    """A 16 GiB card: 1 GiB used, then a model load at +3 s, a second one at +6 s."""
    return ScriptedGpu(
        [ScriptedDevice("Scripted A100", 16 * GIB, 1 * GIB)],
        [
            ScriptedStep(3.0, [5 * GIB], {"plug": 4 * GIB}, 80),
            ScriptedStep(6.0, [9 * GIB], {"plug": 8 * GIB}, 90),
        ],
        start_t=T0,
    )


def sample(t: float, gpu_bytes: int | None, rss_bytes: int | None = 100 * MIB) -> TelemetrySample:
    return TelemetrySample(
        t,
        (DeviceSample(0, "gpu", gpu_bytes, 16 * GIB, 0),),
        {"plug": PluginUsage(rss_bytes, 1.0, gpu_bytes, 1)},
    )


def finished_exchange(
    exchange_id: int, start_t: float, seconds: float, before: int, after: int, body: bytes = b"{}"
) -> Exchange:
    exchange = Exchange(exchange_id, "plug", "generate", body, started_at=start_t)
    exchange.sent_monotonic_s = exchange.head_monotonic_s = 50.0
    exchange.finished_monotonic_s = 50.0 + seconds
    exchange.status = ExchangeStatus.OK
    exchange.rss_before_bytes, exchange.rss_after_bytes = before, after
    return exchange


def test_sample_json_round_trip_keeps_unknown_as_null(tmp_path: Path) -> None:
    record = TelemetrySample(
        T0,
        (DeviceSample(0, "GH200", None, None, None),),
        {"plug": PluginUsage(123, 4.5, None, 2)},
        "partial",
    )
    data = record.to_json()
    assert data["devices"][0]["used_bytes"] is None
    assert data["processes"]["plug"]["gpu_bytes"] is None
    assert TelemetrySample.from_json(data) == record
    path = tmp_path / "session.jsonl"
    with SampleWriter(path) as writer:
        writer.write(record)
        writer.write(sample(T0 + 1, 2 * GIB))
    with path.open("ab") as handle:
        handle.write(b'{"t": 17000')  # the torn last line of a killed session
    assert [s.t for s in read_samples(path)] == [T0, T0 + 1]


def test_scripted_gpu_follows_its_steps_deterministically() -> None:
    trees = {"plug": PluginTree(pids=(1,))}
    used = [
        scripted().read(T0 + offset, trees).devices[0].memory_used_bytes for offset in (0, 3, 7)
    ]
    assert used == [1 * GIB, 5 * GIB, 9 * GIB]
    again = [
        scripted().read(T0 + offset, trees).devices[0].memory_used_bytes for offset in (0, 3, 7)
    ]
    assert again == used
    assert scripted().read(T0 + 4, trees).plugin_memory_bytes == {"plug": 4 * GIB}


def test_demo_gpu_rises_with_the_plugins_host_memory() -> None:
    demo = ScriptedGpu.demo()
    first = demo.read(T0, {"plug": PluginTree((1,), 100 * MIB)})
    later = demo.read(T0 + 1, {"plug": PluginTree((1,), 612 * MIB)})
    assert first.plugin_memory_bytes == {"plug": 0}
    assert later.plugin_memory_bytes == {"plug": 512 * MIB}
    assert first.devices[0].memory_used_bytes is not None
    assert later.devices[0].memory_used_bytes == first.devices[0].memory_used_bytes + 512 * MIB


def test_replay_plays_a_recording_from_the_first_read() -> None:
    recording = [sample(T0 + i, (i + 1) * GIB) for i in range(5)]
    replay = ReplayGpu(recording)
    trees: dict[str, PluginTree] = {}
    now = 5_000.0
    assert replay.read(now, trees).devices[0].memory_used_bytes == 1 * GIB
    assert replay.read(now + 2.5, trees).devices[0].memory_used_bytes == 3 * GIB
    assert replay.read(now + 100, trees).devices[0].memory_used_bytes == 5 * GIB
    assert replay.read(now + 2.5, trees).plugin_memory_bytes == {"plug": 3 * GIB}


def test_buffer_is_bounded_by_time_and_keeps_order() -> None:
    buffer = SampleBuffer(max_age_s=10)
    for i in range(30):
        buffer.append(sample(T0 + i, i))
    kept = [s.t - T0 for s in buffer.snapshot()]
    assert kept == [float(i) for i in range(19, 30)]
    buffer.append(sample(T0 + 25.5, 0))  # late arrival lands in order
    assert [s.t - T0 for s in buffer.snapshot()][-6:] == [25.0, 25.5, 26.0, 27.0, 28.0, 29.0]
    times = [s.t for s in buffer.snapshot()]
    assert times == sorted(times)
    assert buffer.at_or_before(T0 + 25.7) is not None
    assert buffer.at_or_before(T0 + 25.7).t == T0 + 25.5  # type: ignore[union-attr]
    assert buffer.at_or_after(T0 + 25.7).t == T0 + 26  # type: ignore[union-attr]


def test_lookups_by_time_agree_with_a_plain_scan() -> None:
    """between / at_or_before / at_or_after bisect the ordered buffer; they must pick exactly
    what a scan of every item picks, equal times and the ends included."""
    buffer = SampleBuffer()
    times = [T0 + t for t in (0, 1, 1, 2, 5, 5, 5, 8, 13)]
    for t in times:
        buffer.append(sample(t, 0))
    probes = [T0 + x / 2 for x in range(-2, 30)]
    for probe in probes:
        before = [s for s in buffer.snapshot() if s.t <= probe]
        after = [s for s in buffer.snapshot() if s.t >= probe]
        assert buffer.at_or_before(probe) is (before[-1] if before else None)
        assert buffer.at_or_after(probe) is (after[0] if after else None)
        for end in probes:
            expected = [s for s in buffer.snapshot() if probe <= s.t <= end]
            assert buffer.between(probe, end) == expected


def test_span_buffer_replaces_a_running_span_when_it_finishes() -> None:
    spans = SpanBuffer()
    exchange = Exchange(7, "plug", "generate", b"{}", started_at=T0)
    spans.record(ExchangeSpan.from_exchange(exchange))
    assert spans.snapshot()[0].end_t is None
    exchange.sent_monotonic_s = 10.0
    exchange.finished_monotonic_s = 12.5
    exchange.status = ExchangeStatus.OK
    spans.record(ExchangeSpan.from_exchange(exchange))
    assert [(s.exchange_id, s.end_t) for s in spans.snapshot()] == [(7, T0 + 2.5)]


def test_span_buffer_keeps_an_older_call_whose_exchange_id_comes_again() -> None:
    """A reloaded plugin numbers its exchanges from 1 again: its new call gets a span of its
    own, and the older call with the same id keeps its place on the chart."""
    spans = SpanBuffer()
    old = ExchangeSpan("plug", 1, "generate", T0, T0 + 1.0, "ok")
    second = ExchangeSpan("plug", 2, "generate", T0 + 2.0, T0 + 3.0, "ok")
    running = ExchangeSpan("plug", 1, "embed", T0 + 10.0, None, "pending")
    for span in (old, second, running):
        spans.record(span)
    assert spans.snapshot() == [old, second, running]
    done = ExchangeSpan("plug", 1, "embed", T0 + 10.0, T0 + 12.0, "ok")
    spans.record(done)
    assert [(s.action, s.start_t - T0, s.end_t) for s in spans.snapshot()] == [
        ("generate", 0.0, T0 + 1.0),
        ("generate", 2.0, T0 + 3.0),
        ("embed", 10.0, T0 + 12.0),
    ]


def test_the_spans_in_a_window_are_those_a_scan_of_all_finds() -> None:
    """The chart scanned every span kept (75,000) at each redraw; bisection finds the same:
    a call that began before the window and ran into it, one still running that began long
    before, and those inside; not those over before it began."""
    spans = SpanBuffer()
    for n in range(2000):  # short calls, every second
        spans.record(ExchangeSpan("plug", n, "ping", T0 + n, T0 + n + 0.01, "ok"))
    spans.record(ExchangeSpan("plug", 5000, "load", T0 + 100, T0 + 1950, "ok"))  # long
    spans.record(ExchangeSpan("other", 1, "hang", T0 + 50, None, "pending"))  # still running
    start_t, end_t = T0 + 1900, T0 + 1960

    def overlaps(span: ExchangeSpan) -> bool:
        return span.start_t <= end_t and (span.end_t is None or span.end_t >= start_t)

    expected = sorted(
        [span for span in spans.snapshot() if overlaps(span)], key=lambda s: s.start_t
    )
    found = sorted(spans.overlapping(start_t, end_t), key=lambda s: s.start_t)
    assert found == expected
    assert {"load", "hang"} <= {span.action for span in found}
    assert len(found) == 63  # 61 pings (1900-1960) + the long load + the running hang


def test_exchange_memory_before_peak_after() -> None:
    buffer = SampleBuffer()
    for offset, gpu, rss in [(0, 1, 100), (1, 6, 900), (2, 5, 700), (4, 5, 700)]:
        buffer.append(sample(T0 + offset, gpu * GIB, rss * MIB))
    exchange = finished_exchange(1, T0 + 0.5, 2.0, 100 * MIB, 650 * MIB)
    memory = exchange_memory(buffer, exchange)
    assert (memory.host_before_bytes, memory.host_peak_bytes, memory.host_after_bytes) == (
        100 * MIB,
        900 * MIB,
        650 * MIB,
    )
    assert (memory.gpu_before_bytes, memory.gpu_peak_bytes, memory.gpu_after_bytes) == (
        1 * GIB,
        6 * GIB,
        5 * GIB,
    )
    assert memory.gpu_delta_bytes == 4 * GIB


def test_a_queued_calls_before_is_read_when_the_plugin_began_on_it() -> None:
    """Sent at 0 s behind a 3 s call, it began at 3 s: its GPU "before" was the sample of 0 s,
    taken before the call ahead of it allocated, so that call's 4 GiB showed as its own."""
    buffer = SampleBuffer()
    for offset, gpu in [(0, 1), (1, 3), (2, 5), (3, 5), (4, 6), (6, 6)]:
        buffer.append(sample(T0 + offset, gpu * GIB))
    queued = finished_exchange(2, T0 + 0.0, 5.0, 100 * MIB, 100 * MIB)
    queued.head_monotonic_s = queued.sent_monotonic_s + 3.0  # it waited 3 s
    memory = exchange_memory(buffer, queued)
    assert (memory.gpu_before_bytes, memory.gpu_after_bytes) == (5 * GIB, 6 * GIB)
    assert memory.gpu_peak_bytes == 6 * GIB


def test_a_queued_calls_before_is_the_sample_taken_as_the_call_ahead_ended() -> None:
    """A model load queued behind a generate read a GPU delta of -17 MiB: its "before" was a
    1 Hz sample taken during the generate's peak. The dashboard now has a sample taken as
    each call ends; that one is the queued call's "before". Without one, it is unknown."""
    queued = finished_exchange(2, T0, 1.0, 100 * MIB, 100 * MIB)
    queued.head_monotonic_s = queued.sent_monotonic_s + 0.5  # began at +0.5 s
    queued.finished_monotonic_s = queued.head_monotonic_s + 1.0
    buffer = SampleBuffer()
    buffer.append(sample(T0 + 0.2, 6 * GIB))  # the generate ahead of it, at its peak
    buffer.append(sample(T0 + 0.52, 3 * GIB))  # taken as the generate ended
    buffer.append(sample(T0 + 1.53, int(3.5 * GIB)))  # after the load
    memory = exchange_memory(buffer, queued)
    assert (memory.gpu_before_bytes, memory.gpu_after_bytes) == (3 * GIB, int(3.5 * GIB))
    assert memory.gpu_delta_bytes == GIB // 2

    without = SampleBuffer()
    without.append(sample(T0 + 0.2, 6 * GIB))
    without.append(sample(T0 + 1.53, int(3.5 * GIB)))
    memory = exchange_memory(without, queued)
    assert memory.gpu_before_bytes is None and memory.gpu_delta_bytes is None
    assert memory.gpu_peak_bytes == int(3.5 * GIB)


def test_sample_soon_takes_a_sample_before_the_period_is_up() -> None:
    taken = threading.Event()
    received: list[TelemetrySample] = []

    def on_sample(sample: TelemetrySample) -> None:
        received.append(sample)
        taken.set()

    sampler = Sampler(on_sample, backend_factory=lambda: NoGpu("none"), interval_s=30.0)
    sampler.start()
    try:
        assert taken.wait(timeout=10)
        taken.clear()
        time.sleep(0.2)  # past the shortest gap between samples
        sampler.sample_soon()
        assert taken.wait(timeout=10), "no sample until the 30 s period was up"
        assert len(received) == 2
    finally:
        assert sampler.stop(timeout_s=5)


def test_gpu_figures_the_samples_lack_for_the_plugin_are_unknown_never_the_devices() -> None:
    """A call resent right after a restart read "600M 600M 8K": the card's whole use stood in
    for the new process, which no sample had measured yet."""
    card_bytes = 600 * MIB

    def card(t: float, plugins: dict[str, PluginUsage]) -> TelemetrySample:
        own = sum(usage.gpu_memory_bytes or 0 for usage in plugins.values())
        return TelemetrySample(t, (DeviceSample(0, "gpu", card_bytes + own, 24 * GIB, 0),), plugins)

    buffer = SampleBuffer()
    buffer.append(card(T0, {"plug": PluginUsage(100 * MIB, 1.0, 4 * 1024, 1)}))  # the old pid
    buffer.append(card(T0 + 1, {}))  # restarted: the new pid isn't watched yet
    buffer.append(card(T0 + 3, {"plug": PluginUsage(100 * MIB, 1.0, 8 * 1024, 1)}))
    resent = finished_exchange(2, T0 + 1.5, 0.5, 100 * MIB, 100 * MIB)
    memory = exchange_memory(buffer, resent)
    assert (memory.gpu_before_bytes, memory.gpu_peak_bytes, memory.gpu_after_bytes) == (
        None,
        8 * 1024,
        8 * 1024,
    )
    assert memory.gpu_delta_bytes is None

    # Listed, but the driver can't attribute its memory (MIG): unknown too.
    unattributed = SampleBuffer()
    for offset in (0, 3):
        unattributed.append(card(T0 + offset, {"plug": PluginUsage(100 * MIB, 1.0, None, 1)}))
    memory = exchange_memory(unattributed, resent)
    assert (memory.gpu_before_bytes, memory.gpu_peak_bytes, memory.gpu_after_bytes) == (
        None,
        None,
        None,
    )


def test_samples_of_another_process_of_the_plugin_are_not_a_calls_memory() -> None:
    """A call cancelled by a restart read "545M 551M 15M" (its "after" was the new
    process's), and a fresh process's first call took its GPU "before" from the old one."""
    old, new = 1000, 2000

    def plug(t: float, pid: int | None, gpu: int, rss: int) -> TelemetrySample:
        return TelemetrySample(t, (), {"plug": PluginUsage(rss * MIB, 1.0, gpu * MIB, 1, pid)})

    buffer = SampleBuffer()
    buffer.append(plug(T0, old, 340, 545))  # the old process, a model loaded
    buffer.append(plug(T0 + 2, new, 0, 15))  # restarted
    buffer.append(plug(T0 + 4, new, 200, 300))
    cancelled = finished_exchange(1, T0 + 0.5, 1.0, None, None)
    cancelled.pid = old
    memory = exchange_memory(buffer, cancelled)
    assert (memory.host_before_bytes, memory.host_after_bytes) == (545 * MIB, None)
    assert (memory.gpu_before_bytes, memory.gpu_after_bytes) == (340 * MIB, None)
    first = finished_exchange(2, T0 + 2.5, 1.0, None, None)
    first.pid = new
    memory = exchange_memory(buffer, first)
    assert (memory.gpu_before_bytes, memory.gpu_after_bytes) == (0, 200 * MIB)
    first.pid = None  # a recording from before pids were kept: every sample counts
    assert exchange_memory(buffer, first).gpu_before_bytes == 0


def test_a_sample_says_which_process_it_measured() -> None:
    sampler = Sampler(lambda s: None, backend_factory=lambda: NoGpu("none"))
    sampler.watch("plug", os.getpid())
    usage = sampler.sample_once().plugins["plug"]
    assert usage.pid == os.getpid()
    assert PluginUsage.from_json(usage.to_json()) == usage


def test_a_recorded_sample_keeps_its_exact_time() -> None:
    """Rounded to the millisecond, a sample taken just after a call ended could come back
    just before it, and the reopened recording showed other figures than the live log."""
    end_t = T0 + 0.123_4
    after = TelemetrySample(end_t + 0.000_3, (), {"plug": PluginUsage(1, None, 2, 1)})
    again = TelemetrySample.from_json(orjson.loads(orjson.dumps(after.to_json())))
    assert again == after
    assert again.t > end_t


def test_baseline_warning_after_three_identical_calls_that_keep_rising() -> None:
    watch = BaselineWatch(min_calls=3, threshold_bytes=50 * MIB)
    buffer = SampleBuffer()
    warnings = []
    for index, after_mib in enumerate([100, 140, 180]):
        exchange = finished_exchange(index + 1, T0 + index * 10, 1, 0, after_mib * MIB)
        warnings += watch.record(exchange, exchange_memory(buffer, exchange))
    assert len(warnings) == 1
    assert warnings[0].kind == "host"
    assert warnings[0].growth_bytes == 80 * MIB
    assert warnings[0].exchange_ids == (1, 2, 3)
    assert warnings[0].message().endswith("kept rising (+80.0 MiB)")
    gpu = dataclasses.replace(warnings[0], kind="gpu")
    assert "generate: GPU memory after" in gpu.message()  # as the chart writes it


def test_no_baseline_warning_for_different_inputs_flat_memory_or_small_growth() -> None:
    watch = BaselineWatch(min_calls=3, threshold_bytes=50 * MIB)
    buffer = SampleBuffer()
    cases = [
        [(b'{"a": 1}', 100), (b'{"a": 2}', 200), (b'{"a": 3}', 300)],  # different inputs
        [(b"{}", 100), (b"{}", 300), (b"{}", 300)],  # rose once, then flat
        [(b"[]", 100), (b"[]", 110), (b"[]", 120)],  # below the threshold
    ]
    for case in cases:
        for index, (body, after_mib) in enumerate(case):
            exchange = finished_exchange(index, T0 + index, 1, 0, after_mib * MIB, body)
            assert watch.record(exchange, exchange_memory(buffer, exchange)) == []


def test_a_slow_leak_is_reported_where_three_calls_never_rise_enough() -> None:
    """5 MiB kept per identical call never rose 16 MiB over the last three: 100 calls took
    the plugin to 515 MiB, and 830 smaller ones to 2.6 GB, without a warning."""
    buffer = SampleBuffer()

    def run(watch: BaselineWatch, afters_mib: list[float]) -> list[BaselineWarning]:
        warnings = []
        for index, after_mib in enumerate(afters_mib):
            exchange = finished_exchange(index + 1, T0 + index, 1, 0, int(after_mib * MIB))
            warnings += watch.record(exchange, exchange_memory(buffer, exchange))
        return warnings

    leak = run(BaselineWatch(), [100 + 5 * n for n in range(30)])
    assert len(leak) == 1 and leak[0].calls == 20 and leak[0].growth_bytes == 95 * MIB
    # Rising every other call (an allocator that grows in steps) is a leak too.
    steps = run(BaselineWatch(), [100 + 2 * (n // 2) for n in range(40)])
    assert len(steps) == 1
    # Flat with noise, or down once in a while: nothing.
    assert run(BaselineWatch(), [100 + (n % 3) for n in range(60)]) == []
    assert run(BaselineWatch(), [100 + n - (10 if n % 7 == 6 else 0) for n in range(60)]) == []


def test_sampler_delivers_samples_of_a_real_process_tree_and_stops_promptly() -> None:
    received: list[TelemetrySample] = []
    three = threading.Event()

    def on_sample(item: TelemetrySample) -> None:
        received.append(item)
        if len(received) >= 3:
            three.set()

    sampler = Sampler(on_sample, backend_factory=scripted, interval_s=0.1)
    sampler.watch("plug", os.getpid())
    sampler.start()
    assert three.wait(timeout=10)
    started = time.monotonic()
    assert sampler.stop(timeout_s=5)
    assert time.monotonic() - started < 1.0
    usage = received[-1].plugins["plug"]
    assert usage.rss_bytes is not None and usage.rss_bytes > 10 * MIB
    assert usage.process_count >= 1
    assert received[-1].devices[0].name == "Scripted A100"
    assert [s.t for s in received] == sorted(s.t for s in received)


def test_a_new_plugin_process_is_sampled_at_once_not_a_whole_interval_later() -> None:
    """With the default 1 s interval, a load sent right after a plugin started had no
    sample of the plugin before it: no GPU "before" figure, so the cache table's load never
    got its GPU delta. A new process to watch now wakes the sampler."""
    received: list[TelemetrySample] = []
    first, measured = threading.Event(), threading.Event()

    def on_sample(sample: TelemetrySample) -> None:
        received.append(sample)
        first.set()
        if "plug" in sample.plugins:
            measured.set()

    sampler = Sampler(on_sample, backend_factory=lambda: NoGpu("none"), interval_s=30.0)
    sampler.start()
    try:
        assert first.wait(timeout=10)
        sampler.watch("plug", os.getpid())
        assert measured.wait(timeout=5), "no sample of the new process before the interval"
        count = len(received)
        sampler.watch("plug", os.getpid())  # the same process again: no extra sample
        time.sleep(0.3)
        assert len(received) == count
    finally:
        assert sampler.stop(timeout_s=5)


def test_interval_is_clamped_and_unwatch_drops_the_plugin() -> None:
    sampler = Sampler(lambda s: None, backend_factory=lambda: NoGpu("none"), interval_s=0.001)
    assert sampler.interval_s == 0.1
    sampler.watch("plug", os.getpid())
    assert "plug" in sampler.sample_once().plugins
    sampler.unwatch("plug")
    taken = sampler.sample_once()
    assert taken.plugins == {}
    assert taken.gpu_unavailable_reason == "none"


def test_a_vanished_process_reads_as_empty_not_an_error() -> None:
    sampler = Sampler(lambda s: None, backend_factory=lambda: NoGpu("none"))
    sampler.watch("gone", 2**22 + 12345)  # no such pid
    assert sampler.sample_once().plugins["gone"] == PluginUsage(pid=2**22 + 12345)


def test_a_failing_backend_does_not_stop_sampling() -> None:
    class Broken(NoGpu):
        def read(self, t: float, plugins: dict[str, PluginTree]) -> object:  # type: ignore[override]
            raise RuntimeError("driver hiccup")

    errors: list[BaseException] = []
    sampler = Sampler(lambda s: None, backend_factory=lambda: Broken("x"), on_error=errors.append)
    taken = sampler.sample_once()
    assert taken.gpu_unavailable_reason == "GPU read failed: driver hiccup"
    assert len(errors) == 1


def test_telemetry_core_and_benches_do_not_import_textual() -> None:
    import pkgutil
    import subprocess
    import sys

    import aro_tui.core.telemetry

    modules = [
        f"aro_tui.core.telemetry.{info.name}"
        for info in pkgutil.iter_modules(aro_tui.core.telemetry.__path__)
    ]
    modules += ["aro_tui.bench.sampler_bench", "aro_tui.bench.nvml_check"]
    assert "aro_tui.core.telemetry.sampler" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_gpu_check_runs_once_the_gpu_after_figure_is_known() -> None:
    """The watch was given each call once, at its end, when the GPU "after" (which needs a
    later sample) was still unknown: a GPU leak was never warned about."""
    watch = BaselineWatch(min_calls=3, threshold_bytes=50 * MIB)
    warnings: list[BaselineWarning] = []
    for index, gpu_after_mib in enumerate([100, 140, 180]):
        exchange = finished_exchange(index + 1, T0 + index * 10, 1, 0, 200 * MIB)
        at_end = ExchangeMemory(200 * MIB, 200 * MIB, 200 * MIB, None, None, None)
        later = ExchangeMemory(200 * MIB, 200 * MIB, 200 * MIB, 90 * MIB, None, gpu_after_mib * MIB)
        warnings += watch.record(exchange, at_end)
        warnings += watch.record(exchange, later)  # measured again, a sample later
        warnings += watch.record(exchange, later)  # and again: counted once
    assert [(w.kind, w.calls, w.growth_bytes) for w in warnings] == [("gpu", 3, 80 * MIB)]


def test_a_slow_leak_is_told_as_one_not_as_a_rise_every_call() -> None:
    """It said "after each of the last 20 identical calls kept rising" of memory that rose on
    every other call."""
    watch = BaselineWatch()
    warnings: list[BaselineWarning] = []
    for index in range(40):
        after = (100 + 2 * (index // 2)) * MIB
        exchange = finished_exchange(index + 1, T0 + index, 1, 0, after)
        warnings += watch.record(exchange, exchange_memory(SampleBuffer(), exchange))
    (slow,) = warnings
    assert not slow.steady
    assert slow.message() == (
        f"{slow.plugin}.{slow.action}: host memory after the last 20 identical calls never "
        f"went down and rose {slow.growth_bytes / MIB:.1f} MiB in all"
    )


def test_a_call_measured_again_late_does_not_hide_a_slow_leak() -> None:
    """Each call was recorded at its end and again ~1.5 s later; with calls 0.6 s apart the
    older call's figure came in after newer ones (30, 28, 32, 30, 32 MiB...), the memory
    seemed to go down, and the slow host leak was never warned about."""
    watch = BaselineWatch()
    calls = [
        finished_exchange(n + 1, T0 + n * 0.6, 0.01, 0, (100 + 2 * (n // 2)) * MIB)
        for n in range(30)
    ]
    warnings: list[BaselineWarning] = []
    for index, exchange in enumerate(calls):
        warnings += watch.record(exchange, exchange_memory(SampleBuffer(), exchange))
        if index >= 2:  # measured again: the call from two before
            late = calls[index - 2]
            warnings += watch.record(late, exchange_memory(SampleBuffer(), late))
    assert [(w.kind, w.steady) for w in warnings] == [("host", False)]
