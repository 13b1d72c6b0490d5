"""Cache events survive a recording: JSON round trip and replay into a tracker."""

from __future__ import annotations

import orjson
import pytest

from aro_tui.core.telemetry.cache_records import cache_event_from_json, cache_event_to_json
from aro_tui.core.telemetry.model_cache import CacheEvent, ModelCacheTracker, ModelEntry


def test_round_trip_and_replay_rebuild_the_cache() -> None:
    entry = ModelEntry("gen:tiny", model="tiny-gpt2", device="cpu", memory_bytes=5_000)
    load = CacheEvent("load", "p", entry, 10.0, 7, "generate", 4096, None, times_loaded=2)
    unload = CacheEvent("unload", "p", entry, 20.0, reason="the plugin process ended")
    data = orjson.loads(orjson.dumps(cache_event_to_json(load)))
    back = cache_event_from_json(data)
    assert back.key == "gen:tiny" and back.exchange_id == 7 and back.times_loaded == 2
    assert back.entry == entry and back.host_delta_bytes == 4096

    tracker = ModelCacheTracker()
    tracker.apply_recorded(back)
    assert list(tracker.models("p")) == ["gen:tiny"]
    tracker.apply_recorded(cache_event_from_json(cache_event_to_json(unload)))
    assert tracker.models("p") == {}
    assert [e.kind for e in tracker.events.snapshot()] == ["load", "unload"]


def test_malformed_record_is_refused() -> None:
    with pytest.raises((ValueError, KeyError)):
        cache_event_from_json({"kind": "explode", "entry": {}, "plugin": "p", "t": 1})


def test_a_gpu_delta_recorded_before_it_was_known_is_settled_on_reopening() -> None:
    """Reopened, the cache table's GPU delta read "—" where live it read +64 MiB: the event
    was recorded before the sample that settled it."""
    from aro_tui.core.telemetry.buffers import SampleBuffer
    from aro_tui.core.telemetry.samples import PluginUsage, TelemetrySample

    entry = ModelEntry("w", memory_bytes=64 << 20)
    load = CacheEvent("load", "p", entry, 10.0, 1, "load", 0, None, gpu_pending=True)
    load.gpu_before_bytes, load.trigger_end_t = 1 << 20, 10.0
    back = cache_event_from_json(orjson.loads(orjson.dumps(cache_event_to_json(load))))
    assert back.gpu_pending and back.gpu_before_bytes == 1 << 20 and back.trigger_end_t == 10.0
    tracker = ModelCacheTracker()
    tracker.apply_recorded(back)
    samples = SampleBuffer()
    samples.append(TelemetrySample(10.5, (), {"p": PluginUsage(gpu_memory_bytes=65 << 20)}))
    assert tracker.resolve_gpu(samples) == [back]
    assert back.gpu_delta_bytes == 64 << 20 and not back.gpu_pending
