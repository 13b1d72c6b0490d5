"""Model-cache events from `models` answers, tied to calls and memory; internal queries."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginLaunch, PluginObserver, PluginProcess
from aro_tui.core.telemetry import (
    DeviceSample,
    ModelCacheTracker,
    PluginUsage,
    SampleBuffer,
    TelemetrySample,
    parse_models_answer,
    refresh_model_cache,
)

TEST_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
MIB = 1024**2
GIB = 1024**3
T0 = 1_700_000_000.0

TRANSFORMER_ANSWER = {
    "loaded": ["generate:sshleifer/tiny-gpt2:cpu:float32"],
    "available": {"generate": "gpt2"},
    "details": [
        {
            "key": "generate:sshleifer/tiny-gpt2:cpu:float32",
            "task": "generate",
            "model": "sshleifer/tiny-gpt2",
            "source": "/models/tiny-gpt2",
            "device": "cpu",
            "dtype": "float32",
            "parameters": 102714,
            "memory_bytes": 410856,
            "load_seconds": 0.412,
            "loaded_at": 1700000000.5,
            "calls": 1,
        }
    ],
    "total_memory_bytes": 410856,
    "offline": True,
    "bundled_embedding_model": None,
}


def exchange(exchange_id: int, start_t: float, seconds: float, before: int, after: int) -> Exchange:
    record = Exchange(exchange_id, "plug", "generate", b"{}", started_at=start_t)
    record.sent_monotonic_s = record.head_monotonic_s = 10.0
    record.finished_monotonic_s = 10.0 + seconds
    record.status = ExchangeStatus.OK
    record.rss_before_bytes, record.rss_after_bytes = before, after
    return record


def gpu_sample(t: float, gpu_bytes: int) -> TelemetrySample:
    return TelemetrySample(
        t,
        (DeviceSample(0, "gpu", gpu_bytes, 16 * GIB, 0),),
        {"plug": PluginUsage(1 * GIB, 0.0, gpu_bytes, 1)},
    )


def test_parses_the_transformer_plugins_answer() -> None:
    entries = parse_models_answer(TRANSFORMER_ANSWER)
    entry = entries["generate:sshleifer/tiny-gpt2:cpu:float32"]
    assert (entry.task, entry.model, entry.device, entry.dtype) == (
        "generate",
        "sshleifer/tiny-gpt2",
        "cpu",
        "float32",
    )
    assert (entry.parameters, entry.memory_bytes, entry.load_seconds) == (102714, 410856, 0.412)


@pytest.mark.parametrize(
    "answer",
    [
        {"loaded": ["a", "b"]},
        {"models": ["a", "b"]},
        ["a", "b"],
        {"loaded": {"a": {"device": "cuda:0"}, "b": {}}},
        {"loaded": [{"key": "a"}, {"name": "b"}]},
    ],
)
def test_lenient_about_the_shape_of_loaded(answer: Any) -> None:
    assert sorted(parse_models_answer(answer)) == ["a", "b"]


@pytest.mark.parametrize("answer", ["text", 3, {"available": {}}, {"loaded": 5}])
def test_unreadable_answers_are_errors_not_events(answer: Any) -> None:
    with pytest.raises(ValueError):
        parse_models_answer(answer)
    tracker = ModelCacheTracker()
    assert tracker.update("plug", answer) == []
    assert "plug" in tracker.last_error


def test_a_load_is_tied_to_the_exchange_and_the_memory_that_rose() -> None:
    samples = SampleBuffer()
    samples.append(gpu_sample(T0, 1 * GIB))
    samples.append(gpu_sample(T0 + 2, 3 * GIB))
    tracker = ModelCacheTracker()
    assert tracker.update("plug", {"loaded": []}) == []
    call = exchange(4, T0 + 0.5, 1.0, 200 * MIB, 700 * MIB)
    events = tracker.update("plug", TRANSFORMER_ANSWER, call, samples)
    assert [(e.kind, e.key, e.exchange_id, e.action) for e in events] == [
        ("load", "generate:sshleifer/tiny-gpt2:cpu:float32", 4, "generate")
    ]
    assert events[0].host_delta_bytes == 500 * MIB
    assert events[0].gpu_delta_bytes == 2 * GIB
    assert events[0].t == T0 + 1.5
    assert list(tracker.models("plug")) == ["generate:sshleifer/tiny-gpt2:cpu:float32"]
    # The same answer again is no news.
    assert tracker.update("plug", TRANSFORMER_ANSWER, exchange(5, T0 + 3, 1, 0, 0)) == []


def test_the_first_load_of_a_process_says_its_host_delta_includes_imports() -> None:
    """A 166 KiB model showed "host Δ +340 MiB": torch and transformers, imported by the
    call that loaded it, counted as the model's cost."""
    from aro_tui.core.telemetry.cache_records import cache_event_from_json, cache_event_to_json

    tracker = ModelCacheTracker()
    (first,) = tracker.update("plug", {"loaded": ["a"]}, exchange(1, T0, 1, 0, 340 * MIB))
    (second,) = tracker.update("plug", {"loaded": ["a", "b"]}, exchange(2, T0 + 2, 1, 0, 0))
    assert (first.first_in_process, second.first_in_process) == (True, False)
    assert cache_event_from_json(cache_event_to_json(first)).first_in_process
    tracker.forget("plug", T0 + 5)  # the process ended: the next one imports again
    (again,) = tracker.update("plug", {"loaded": ["a"]}, exchange(3, T0 + 9, 1, 0, 300 * MIB))
    assert again.first_in_process


def test_gpu_delta_waits_for_a_sample_after_the_exchange() -> None:
    samples = SampleBuffer()
    samples.append(gpu_sample(T0, 1 * GIB))
    tracker = ModelCacheTracker()
    (event,) = tracker.update("plug", {"loaded": ["m"]}, exchange(1, T0 + 0.2, 0.5, 0, 0), samples)
    assert event.gpu_delta_bytes is None and event.gpu_pending
    samples.append(gpu_sample(T0 + 1, 5 * GIB))
    assert tracker.resolve_gpu(samples) == [event]
    assert event.gpu_delta_bytes == 4 * GIB and not event.gpu_pending


def test_no_gpu_delta_from_the_cards_use_when_the_plugin_was_not_measured_before() -> None:
    """The GPU Δ was the plugin's memory after minus the whole card's before (restarted
    plugin, not in a sample yet): a large negative "delta"."""
    samples = SampleBuffer()
    samples.append(TelemetrySample(T0, (DeviceSample(0, "gpu", 600 * MIB, 16 * GIB, 0),), {}))
    tracker = ModelCacheTracker()
    (event,) = tracker.update("plug", {"loaded": ["m"]}, exchange(1, T0 + 0.2, 0.5, 0, 0), samples)
    samples.append(gpu_sample(T0 + 1, 8 * MIB))
    assert tracker.resolve_gpu(samples) == []
    assert event.gpu_delta_bytes is None and not event.gpu_pending


def test_unload_reload_and_a_model_loaded_twice_are_visible() -> None:
    tracker = ModelCacheTracker()
    tracker.update("plug", {"loaded": [{"key": "gen:gpt2:cpu", "model": "gpt2"}]})
    (twin,) = tracker.update(
        "plug",
        {
            "loaded": [
                {"key": "gen:gpt2:cpu", "model": "gpt2"},
                {"key": "gen:gpt2:cuda", "model": "gpt2"},
            ]
        },
    )
    assert twin.key == "gen:gpt2:cuda" and twin.duplicate_of == ("gen:gpt2:cpu",)
    (unload,) = tracker.update("plug", {"loaded": [{"key": "gen:gpt2:cuda", "model": "gpt2"}]})
    assert (unload.kind, unload.key) == ("unload", "gen:gpt2:cpu")
    (reload,) = tracker.update(
        "plug",
        {"loaded": [{"key": "gen:gpt2:cuda", "model": "gpt2"}, {"key": "gen:gpt2:cpu"}]},
    )
    assert reload.times_loaded == 2
    gone = tracker.forget("plug", T0)
    assert sorted(e.key for e in gone) == ["gen:gpt2:cpu", "gen:gpt2:cuda"]
    assert all(e.kind == "unload" and e.reason for e in gone)
    assert tracker.models("plug") == {}


def _zoo(key: str, mib: int, **fields: Any) -> dict[str, Any]:
    entry = {"key": key, "model": key, "dtype": "uint8", "parameters": mib * MIB}
    return {"loaded": [{**entry, "memory_bytes": mib * MIB, **fields}]}


def test_a_key_loaded_again_with_another_model_is_a_reload_by_that_call() -> None:
    """`load t1 800 MiB` then `load t1 400 MiB`: the table kept #31's cost beside the new
    size, #33 (which freed 400 MiB) got no event, and the recording still said 800 MiB."""
    tracker = ModelCacheTracker()
    first = exchange(31, T0, 1.0, 100 * MIB, 900 * MIB)
    (load,) = tracker.update("plug", _zoo("t1", 800), first)
    again = exchange(33, T0 + 5, 1.0, 900 * MIB, 500 * MIB)
    unload, reload = tracker.update("plug", _zoo("t1", 400), again)
    assert (unload.kind, unload.exchange_id, unload.entry.memory_bytes) == ("unload", 33, 800 * MIB)
    assert (reload.kind, reload.exchange_id, reload.entry.memory_bytes) == ("load", 33, 400 * MIB)
    assert reload.host_delta_bytes == -400 * MIB and reload.times_loaded == 2
    # A recording replays to the same cache the live view shows.
    replayed = ModelCacheTracker()
    for event in (load, unload, reload):
        replayed.apply_recorded(event)
    assert replayed.models("plug") == tracker.models("plug")
    # A cache that grows a little (a buffer, an index) is the same model.
    nudged = _zoo("t1", 400)
    nudged["loaded"][0]["memory_bytes"] += 2 * MIB
    assert tracker.update("plug", nudged, exchange(34, T0 + 9, 1.0, 0, 0)) == []


class Started(PluginObserver):
    """Records, for each exchange as it starts, whether the tracker already calls it internal."""

    def __init__(self, tracker: ModelCacheTracker) -> None:
        self.tracker = tracker
        self.started: list[tuple[str, bool]] = []
        self.finished: list[tuple[str, bool]] = []

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.started.append((exchange.action, self.tracker.is_internal(plugin.name, exchange.id)))

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.finished.append((exchange.action, self.tracker.is_internal(plugin.name, exchange.id)))


@pytest.fixture
async def alloc_plugin() -> AsyncIterator[tuple[PluginProcess, Started, ModelCacheTracker]]:
    tracker = ModelCacheTracker()
    observer = Started(tracker)
    launch = PluginLaunch(
        name="telemetry-alloc",
        module_path=TEST_PLUGINS / "telemetry-alloc" / "src" / "plugin.py",
        interpreter=Path(sys.executable),
        default_timeout_s=20,
        start_timeout_s=10,
    )
    plugin = PluginProcess(launch, observer)
    await plugin.start()
    yield plugin, observer, tracker
    await plugin.stop()


async def test_real_plugin_load_shows_as_an_event_with_the_host_memory_it_took(
    alloc_plugin: tuple[PluginProcess, Started, ModelCacheTracker],
) -> None:
    plugin, observer, tracker = alloc_plugin
    work = await plugin.call("work", "{}")
    assert await refresh_model_cache(plugin, tracker, work) == []  # first answer: nothing loaded
    load = await plugin.call("load", '{"key": "big", "mb": 96}')
    events = await refresh_model_cache(plugin, tracker, load)
    assert [(e.kind, e.key, e.exchange_id) for e in events] == [("load", "big", load.id)]
    assert events[0].entry.memory_bytes == 96 * MIB
    assert events[0].host_delta_bytes is not None
    assert events[0].host_delta_bytes > 80 * MIB
    unload = await plugin.call("unload", '{"key": "big"}')
    (gone,) = await refresh_model_cache(plugin, tracker, unload)
    assert (gone.kind, gone.key, gone.exchange_id) == ("unload", "big", unload.id)
    # Every models query was internal from its very first event; user calls never were.
    assert observer.started == [
        ("work", False),
        ("models", True),
        ("load", False),
        ("models", True),
        ("unload", False),
        ("models", True),
    ]
    assert observer.finished == observer.started
    assert plugin.observer is observer


async def test_no_query_for_internal_triggers_or_plugins_without_models(
    alloc_plugin: tuple[PluginProcess, Started, ModelCacheTracker],
) -> None:
    plugin, observer, tracker = alloc_plugin
    work = await plugin.call("work", "{}")
    await refresh_model_cache(plugin, tracker, work)
    internal_models = [a for a in observer.started if a == ("models", True)]
    assert len(internal_models) == 1
    internal = next(e for e in plugin.history if e.action == "models")
    assert tracker.is_internal(plugin.name, internal.id)
    assert await refresh_model_cache(plugin, tracker, internal) == []
    assert len([a for a in observer.started if a == ("models", True)]) == 1

    noop = PluginProcess(
        PluginLaunch(
            name="noop",
            module_path=TEST_PLUGINS / "noop" / "src" / "plugin.py",
            interpreter=Path(sys.executable),
        )
    )
    await noop.start()
    try:
        echo = await noop.call("noop", "{}")
        assert await refresh_model_cache(noop, tracker, echo) == []
        assert noop.history[-1].action == "noop"
    finally:
        await noop.stop()


async def test_a_load_queued_behind_the_triggering_call_is_charged_to_itself(
    alloc_plugin: tuple[PluginProcess, Started, ModelCacheTracker],
) -> None:
    """The query after `work` waited behind a `load` queued meanwhile, and the model that load
    brought was charged to `work` (`#720 work +6 MiB` for a 100 MiB model)."""
    plugin, _, tracker = alloc_plugin
    assert await refresh_model_cache(plugin, tracker, await plugin.call("work", "{}")) == []
    work = plugin.submit("work", "{}")
    load = plugin.submit("load", '{"key": "queued", "mb": 32}')
    events = await refresh_model_cache(plugin, tracker, await work)
    loaded = await load
    assert [(e.kind, e.key, e.exchange_id, e.action) for e in events] == [
        ("load", "queued", loaded.id, "load")
    ]
    assert events[0].host_delta_bytes is not None and events[0].host_delta_bytes > 24 * MIB


async def test_a_load_with_a_call_queued_behind_it_keeps_the_credit(
    alloc_plugin: tuple[PluginProcess, Started, ModelCacheTracker],
) -> None:
    """ctrl+r twice: the query after the load waited behind the second call, which found the
    model cached, and that call got the credit (+0 MiB host) instead of the load."""
    plugin, _, tracker = alloc_plugin
    assert await refresh_model_cache(plugin, tracker, await plugin.call("work", "{}")) == []
    load = plugin.submit("load", '{"key": "first", "mb": 32}')
    work = plugin.submit("work", "{}")
    events = await refresh_model_cache(plugin, tracker, await load)
    await work
    assert [(e.kind, e.key, e.exchange_id, e.action, e.among) for e in events] == [
        ("load", "first", (await load).id, "load", 2)
    ]
    assert events[0].host_delta_bytes is not None and events[0].host_delta_bytes > 24 * MIB


async def test_two_loads_queued_together_are_each_charged_to_their_own_call(
    alloc_plugin: tuple[PluginProcess, Started, ModelCacheTracker],
) -> None:
    """One query found both models and charged both to one of the two calls."""
    plugin, _, tracker = alloc_plugin
    assert await refresh_model_cache(plugin, tracker, await plugin.call("work", "{}")) == []
    first = plugin.submit("load", '{"key": "first", "mb": 16}')
    second = plugin.submit("load", '{"key": "second", "mb": 32}')
    events = await refresh_model_cache(plugin, tracker, await first)
    assert [(e.key, e.exchange_id, e.among) for e in events] == [
        ("first", (await first).id, 1),
        ("second", (await second).id, 1),
    ]
    first_delta, second_delta = (e.host_delta_bytes for e in events)
    assert first_delta is not None and 12 * MIB < first_delta < 24 * MIB
    assert second_delta is not None and 28 * MIB < second_delta < 40 * MIB


def test_answers_and_figures_that_cannot_be_read_are_named_once() -> None:
    """`{"loaded": 5}`, `"details": 5` or a negative size were dropped without a word (or
    with Python's "'int' object is not iterable"), and the table kept old models."""
    tracker = ModelCacheTracker()
    tracker.update("p", {"loaded": ["a"]})
    for answer, error in (
        ({"loaded": 5}, "'loaded' must be a list or an object, not a number"),
        ({"loaded": ["a"], "details": 5}, "'details' must be a list or an object, not a number"),
        ("text", "a models answer must be a JSON object, not a string"),
    ):
        assert tracker.update("p", answer) == []
        assert tracker.last_error["p"] == error
        assert tracker.untold_error("p") == error
        assert tracker.untold_error("p") is None  # told once
    details = [
        {"key": "a", "memory_bytes": -4_700_000_000, "parameters": "lots"},
        {"key": "b", "memory_bytes": 1e50},
    ]
    tracker.update("p", {"loaded": ["a", "b"], "details": details})
    models = tracker.models("p")
    assert models["a"].memory_bytes is None and models["a"].parameters is None
    assert models["b"].memory_bytes is None
    assert tracker.untold_error("p") == (
        "a: parameters lots is not a count of 0 to 2**60; "
        "a: memory_bytes -4700000000 is not a count of 0 to 2**60; "
        "b: memory_bytes 1e+50 is not a count of 0 to 2**60"
    )
    tracker.update("p", {"loaded": ["a"]})
    assert tracker.untold_error("p") is None and "p" not in tracker.last_error


def test_a_new_bad_figure_is_told_alone_not_behind_those_told_before() -> None:
    """Each warning repeated every earlier reason, and the new one was the hidden "(and 1
    more)"."""
    tracker = ModelCacheTracker()
    answer: dict[str, object] = {"loaded": [], "details": []}
    told = []
    for key, size in (("neg", -5), ("str", "abc"), ("huge", 1e50), ("neg2", -7)):
        answer["loaded"].append(key)  # type: ignore[attr-defined]
        answer["details"].append({"key": key, "memory_bytes": size})  # type: ignore[attr-defined]
        tracker.update("p", answer)
        told.append(tracker.untold_error("p"))
    assert told == [
        "neg: memory_bytes -5 is not a count of 0 to 2**60",
        "str: memory_bytes abc is not a count of 0 to 2**60",
        "huge: memory_bytes 1e+50 is not a count of 0 to 2**60",
        "neg2: memory_bytes -7 is not a count of 0 to 2**60",
    ]
    tracker.update("p", answer)
    assert tracker.untold_error("p") is None  # nothing new


async def test_three_loads_queued_together_one_of_nothing_go_one_to_each_call(
    alloc_plugin: tuple[PluginProcess, Started, ModelCacheTracker],
) -> None:
    """A model of 0 bytes grows no call, and all three went to the first, +600 MiB ×3."""
    plugin, _, tracker = alloc_plugin
    assert await refresh_model_cache(plugin, tracker, await plugin.call("work", "{}")) == []
    calls = [
        plugin.submit("load", f'{{"key": "{key}", "mb": {mib}}}')
        for key, mib in (("q1", 32), ("q0", 0), ("q2", 16))
    ]
    events = await refresh_model_cache(plugin, tracker, await calls[0])
    ids = [(await call).id for call in calls]
    assert [(e.key, e.exchange_id, e.among) for e in events] == [
        ("q1", ids[0], 1),
        ("q0", ids[1], 1),
        ("q2", ids[2], 1),
    ]
