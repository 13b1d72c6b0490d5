"""A plugin's model cache from its ``models`` action: load/unload events tied to calls.

After each user exchange the dashboard calls :func:`refresh_model_cache`, which asks the
plugin's ``models`` action (an *internal* exchange) and diffs the answer with the previous
one. Each new key becomes a ``load`` event tied to the exchange just finished and to the
memory that rose with it; each key gone becomes an ``unload`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginObserver, PluginProcess, PluginState
from aro_tui.core.telemetry.buffers import ExchangeSpan, SampleBuffer, TimeBuffer
from aro_tui.core.telemetry.exchange_memory import exchange_memory, plugin_gpu_bytes

MODELS_ACTION = "models"
MAX_INTERNAL_IDS = 4096


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One loaded model as the plugin reports it (fields it doesn't give are None)."""

    key: str
    task: str | None = None
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    parameters: int | None = None
    memory_bytes: int | None = None
    load_seconds: float | None = None

    @property
    def identity(self) -> str:
        """What makes two keys "the same model" (a load twice): the model name, else the key."""
        return self.model or self.key


def parse_models_answer(data: Any, problems: list[str] | None = None) -> dict[str, ModelEntry]:
    """The loaded models in a ``models`` answer, by key (raises ``ValueError`` if none can be
    read). Accepts the transformer plugin's ``{"loaded": [keys], "details": [{...}]}``, the
    spec's plain ``{"loaded": [keys]}``, ``loaded`` as a list of objects or a key → object
    map, ``models`` instead of ``loaded``, and a bare list. A figure that is no count (a
    string, negative, past 1 EiB) is left unknown, and said in ``problems``."""
    if isinstance(data, list):
        data = {"loaded": data}
    if not isinstance(data, dict):
        raise ValueError(f"a models answer must be a JSON object, not {_json_kind(data)}")
    raw_details = data.get("details") or ()
    if isinstance(raw_details, dict):  # key -> details, as "loaded" may be too
        raw_details = [
            {**value, "key": key} for key, value in raw_details.items() if isinstance(value, dict)
        ]
    if not isinstance(raw_details, list | tuple):
        raise ValueError(f"'details' must be a list or an object, not {_json_kind(raw_details)}")
    details: dict[str, dict[str, Any]] = {}
    for item in raw_details:
        if isinstance(item, dict) and item.get("key") is not None:
            details[str(item["key"])] = item
    loaded = data.get("loaded", data.get("models"))
    if loaded is None and not details:
        raise ValueError("the answer has no 'loaded' (or 'models') list")
    entries: dict[str, ModelEntry] = {}
    if isinstance(loaded, dict):
        loaded = [
            {**value, "key": key} if isinstance(value, dict) else str(key)
            for key, value in loaded.items()
        ]
    if loaded is None:
        loaded = list(details)
    if not isinstance(loaded, list):
        raise ValueError(f"'loaded' must be a list or an object, not {_json_kind(loaded)}")
    said: list[str] = [] if problems is None else problems
    for item in loaded:
        if isinstance(item, dict):
            key = item.get("key") or item.get("name") or item.get("model")
            if key is None:
                continue
            entry = _entry(str(key), {**details.get(str(key), {}), **item}, said)
        else:
            entry = _entry(str(item), details.get(str(item), {}), said)
        entries[entry.key] = entry
    return entries


MAX_PLAUSIBLE_COUNT = 2**60
"""More bytes (or parameters) than this (1 EiB) is no measurement."""


def _entry(key: str, fields: Mapping[str, Any], problems: list[str]) -> ModelEntry:
    return ModelEntry(
        key=key,
        task=_text(fields.get("task")),
        model=_text(fields.get("model", fields.get("name"))),
        device=_text(fields.get("device")),
        dtype=_text(fields.get("dtype")),
        parameters=_count(key, "parameters", fields.get("parameters"), problems),
        memory_bytes=_count(key, "memory_bytes", fields.get("memory_bytes"), problems),
        load_seconds=_float(fields.get("load_seconds")),
    )


def _count(key: str, name: str, value: Any, problems: list[str]) -> int | None:
    """``value`` as a count of bytes or parameters, or None (said in ``problems`` unless it
    was simply not given)."""
    if value is None:
        return None
    count = _int(value)
    if count is None or not 0 <= count <= MAX_PLAUSIBLE_COUNT:
        shown = str(value)[:40]
        problems.append(f"{key}: {name} {shown} is not a count of 0 to 2**60")
        return None
    return count


def _joined(reasons: list[str]) -> str:
    """Up to three reasons on one line, and how many more."""
    more = f" (and {len(reasons) - 3} more)" if len(reasons) > 3 else ""
    return "; ".join(reasons[:3]) + more


def _json_kind(value: Any) -> str:
    """``a number``, ``a string``, ``null``... for a message about a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


@dataclass(slots=True)
class CacheEvent:
    """A model that appeared in (``load``) or left (``unload``) a plugin's cache."""

    kind: str
    """``load`` or ``unload``."""
    plugin: str
    entry: ModelEntry
    t: float
    """When it happened as far as we can tell: the end of the exchange that did it (epoch s)."""
    exchange_id: int | None = None
    action: str | None = None
    host_delta_bytes: int | None = None
    """Host RSS of the plugin's tree after minus before that exchange."""
    gpu_delta_bytes: int | None = None
    """GPU memory around that exchange (filled in once a sample after it exists)."""
    gpu_pending: bool = False
    gpu_before_bytes: int | None = field(default=None, repr=False)
    duplicate_of: tuple[str, ...] = ()
    """Other keys loaded now for the same model: the model is in memory more than once."""
    times_loaded: int = 1
    """How often this key has been loaded in this session (2+: loaded, dropped, loaded)."""
    reason: str | None = None
    """Why an unload happened without the plugin saying so (the process exited)."""
    trigger_end_t: float | None = field(default=None, repr=False)
    first_in_process: bool = False
    """The plugin process's first load: its host Δ includes the libraries the call imported
    (torch and transformers took 340 MiB beside a 166 KiB model)."""
    among: int = 1
    """How many calls ran before the query that found it (queued together): the exchange
    named is the likeliest of them, the one whose memory grew most."""

    @property
    def key(self) -> str:
        """The cache key."""
        return self.entry.key


class ModelCacheTracker:
    """Current models per plugin, the events between answers, and which calls were internal."""

    def __init__(self, max_age_s: float = 3600.0) -> None:
        """Keep events for ``max_age_s`` (the chart's axis)."""
        self.events: TimeBuffer[CacheEvent] = TimeBuffer(lambda event: event.t, max_age_s)
        self._models: dict[str, dict[str, ModelEntry]] = {}
        self._load_counts: dict[tuple[str, str], int] = {}
        self._loaded_in_process: set[str] = set()
        """Plugins whose current process has loaded a model (forget ends it)."""
        self._internal_ids: set[tuple[str, int]] = set()
        self._internal_order: deque[tuple[str, int]] = deque()
        self._told: dict[str, set[str]] = {}
        self._reasons: dict[str, list[str]] = {}
        self.revision = 0
        """Counts the changes to what the cache shows (models, events, GPU deltas): a view
        builds its rows again only when it moved."""

    @property
    def last_error(self) -> dict[str, str]:
        """Per plugin, why its last ``models`` answer could not be read (the cache then shows
        the answer before), or which of its figures could not."""
        return {plugin: _joined(reasons) for plugin, reasons in self._reasons.items()}

    def untold_error(self, plugin: str) -> str | None:
        """The reasons in ``last_error`` of ``plugin`` not told yet (then told), or None: a
        plugin answering badly on every call is told of once, and a new bad figure is not
        hidden behind the ones told before."""
        told = self._told.setdefault(plugin, set())
        new = [reason for reason in self._reasons.get(plugin, []) if reason not in told]
        told.update(new)
        return _joined(new) if new else None

    def failed(self, plugin: str, reason: str) -> None:
        """``plugin``'s ``models`` query got no answer that could be read, for ``reason``."""
        self._set_reasons(plugin, [reason])

    def _set_reasons(self, plugin: str, reasons: list[str]) -> None:
        """Why ``plugin``'s last answer (or some of its figures) could not be read; none
        forgets what was told, so a reason that comes back is told again."""
        if reasons:
            self._reasons[plugin] = reasons
        else:
            self._reasons.pop(plugin, None)
            self._told.pop(plugin, None)

    def models(self, plugin: str) -> dict[str, ModelEntry]:
        """What ``plugin`` has loaded, as of its last answer."""
        return dict(self._models.get(plugin, {}))

    def update(
        self,
        plugin: str,
        answer: Any,
        trigger: Exchange | None = None,
        samples: SampleBuffer | None = None,
        t: float | None = None,
        among: int = 1,
        grew: Sequence[Exchange] = (),
        ran: Sequence[Exchange] = (),
    ) -> list[CacheEvent]:
        """Diff ``answer`` (a parsed ``models`` result) with the last one; the new events.

        ``trigger`` is the exchange that ran just before (the loads are ascribed to it), the
        likeliest of ``among`` that ran before the query; ``t`` is used only without one.
        ``ran``: those calls, in the order they ran, and ``grew`` the ones whose memory grew.
        When there are as many of either as new models, each model goes to one of them, in
        the answer's order (two loads queued together were both charged to one; three, one
        of them a model of 0 bytes, all to the first). A key whose model changed (another
        model, dtype, device, size or load time) was loaded again: unloaded and loaded.
        """
        problems: list[str] = []
        try:
            current = parse_models_answer(answer, problems)
        except ValueError as error:
            self._set_reasons(plugin, [str(error)])
            return []
        self._set_reasons(plugin, problems)
        previous = self._models.get(plugin, {})
        self._models[plugin] = current
        self.revision += 1
        replaced = [
            key for key in current if key in previous and _reloaded(previous[key], current[key])
        ]
        loaded = [key for key in current if key not in previous or key in replaced]
        one_each: Sequence[Exchange] = ()
        if len(loaded) > 1:
            one_each = grew if len(grew) == len(loaded) else ran if len(ran) == len(loaded) else ()
        loaders = list(one_each) if one_each else [trigger] * len(loaded)
        among = 1 if one_each else among  # each of those calls has its own model

        def new_event(
            kind: str, entry: ModelEntry, loader: Exchange | None, **extra: Any
        ) -> CacheEvent:
            event_t, end_t = self._event_time(loader, t)
            return CacheEvent(
                kind,
                plugin,
                entry,
                event_t,
                None if loader is None else loader.id,
                None if loader is None else loader.action,
                *_memory_of(loader, samples),
                trigger_end_t=end_t,
                among=among,
                **extra,
            )

        events = [
            new_event(
                "unload",
                previous[key],
                loader,
                times_loaded=self._load_counts.get((plugin, key), 1),
            )
            for key, loader in zip(loaded, loaders, strict=True)
            if key in replaced
        ]
        for key, loader in zip(loaded, loaders, strict=True):
            entry = current[key]
            count = self._load_counts.get((plugin, key), 0) + 1
            self._load_counts[(plugin, key)] = count
            twins = tuple(
                other.key
                for other in current.values()
                if other.key != key and other.identity == entry.identity
            )
            first = plugin not in self._loaded_in_process and loader is not None
            self._loaded_in_process.add(plugin)
            events.append(
                new_event(
                    "load",
                    entry,
                    loader,
                    duplicate_of=twins,
                    times_loaded=count,
                    first_in_process=first,
                )
            )
        for key, entry in previous.items():
            if key not in current:
                times_loaded = self._load_counts.get((plugin, key), 1)
                events.append(new_event("unload", entry, trigger, times_loaded=times_loaded))
        for event in events:
            self.events.append(event)
        return events

    def forget(
        self, plugin: str, t: float, reason: str = "the plugin process ended"
    ) -> list[CacheEvent]:
        """The plugin's process is gone, and its cache with it: unload events for all."""
        previous = self._models.pop(plugin, {})
        self._loaded_in_process.discard(plugin)
        self.revision += 1
        events = [
            CacheEvent("unload", plugin, entry, t, reason=reason) for entry in previous.values()
        ]
        for event in events:
            self.events.append(event)
        return events

    def apply_recorded(self, event: CacheEvent) -> None:
        """Replay an event from a recording: the models it leaves, and the event itself."""
        models = self._models.setdefault(event.plugin, {})
        self.revision += 1
        if event.kind == "load":
            models[event.key] = event.entry
            self._load_counts[(event.plugin, event.key)] = event.times_loaded
        else:
            models.pop(event.key, None)
        self.events.append(event)

    def resolve_gpu(self, samples: SampleBuffer) -> list[CacheEvent]:
        """Fill in GPU deltas that waited for a sample after their exchange; those updated."""
        resolved = []
        for event in self.events.snapshot():
            if not event.gpu_pending or event.trigger_end_t is None:
                continue
            after_bytes = plugin_gpu_bytes(samples.at_or_after(event.trigger_end_t), event.plugin)
            if after_bytes is None:
                continue
            event.gpu_pending = False
            if event.gpu_before_bytes is not None:
                event.gpu_delta_bytes = after_bytes - event.gpu_before_bytes
            resolved.append(event)
        self.revision += bool(resolved)
        return resolved

    # -- internal exchanges -------------------------------------------------------------------

    def mark_internal(self, plugin: str, exchange_id: int) -> None:
        """Remember that exchange ``exchange_id`` of ``plugin`` was issued by aro-tui."""
        key = (plugin, exchange_id)
        if key in self._internal_ids:
            return
        self._internal_ids.add(key)
        self._internal_order.append(key)
        while len(self._internal_order) > MAX_INTERNAL_IDS:
            self._internal_ids.discard(self._internal_order.popleft())

    def is_internal(self, plugin: str, exchange_id: int) -> bool:
        """Whether that exchange was an internal ``models`` query (hide it on request)."""
        return (plugin, exchange_id) in self._internal_ids

    @staticmethod
    def _event_time(trigger: Exchange | None, t: float | None) -> tuple[float, float | None]:
        if trigger is None:
            import time

            return (time.time() if t is None else t), None
        span = ExchangeSpan.from_exchange(trigger)
        end_t = span.end_t if span.end_t is not None else span.start_t
        return end_t, end_t


RELOAD_MEMORY_CHANGE = 0.01
"""How much a key's ``memory_bytes`` may move between answers (a cache that grows) before it
counts as another model loaded under the same key."""


def _reloaded(before: ModelEntry, after: ModelEntry) -> bool:
    """Whether the model under one key changed between two answers: loaded again."""
    if (before.model, before.device, before.dtype, before.parameters) != (
        after.model,
        after.device,
        after.dtype,
        after.parameters,
    ):
        return True
    if before.load_seconds != after.load_seconds:
        return True  # a figure of the load itself: a new load
    old, new = before.memory_bytes, after.memory_bytes
    if old is None or new is None:
        return old != new
    return abs(new - old) > max(1024 * 1024, RELOAD_MEMORY_CHANGE * old)


def _memory_of(
    loader: Exchange | None, samples: SampleBuffer | None
) -> tuple[int | None, int | None, bool, int | None]:
    """``(host Δ, GPU Δ, GPU pending, GPU before)`` of the exchange a cache event is tied to:
    its own rss readings for the host, the samples around it for the GPU."""
    host_delta = gpu_delta = gpu_before = None
    gpu_pending = False
    if loader is not None:
        if loader.rss_before_bytes is not None and loader.rss_after_bytes is not None:
            host_delta = loader.rss_after_bytes - loader.rss_before_bytes
        if samples is not None:
            memory = exchange_memory(samples, loader)
            host_delta = host_delta if host_delta is not None else memory.host_delta_bytes
            gpu_delta = memory.gpu_delta_bytes
            gpu_before = memory.gpu_before_bytes
            gpu_pending = gpu_delta is None and gpu_before is not None
    return host_delta, gpu_delta, gpu_pending, gpu_before


def offers_models(plugin: PluginProcess) -> bool:
    """Whether the plugin has a ``models`` action."""
    return MODELS_ACTION in plugin.action_names()


async def refresh_model_cache(
    plugin: PluginProcess,
    tracker: ModelCacheTracker,
    trigger: Exchange,
    samples: SampleBuffer | None = None,
    *,
    timeout_s: float = 30.0,
) -> list[CacheEvent]:
    """Ask ``plugin`` for its models after the user exchange ``trigger``; the cache events.

    Does nothing (returns ``[]``) when the plugin has no ``models`` action, isn't running
    (a crashed plugin isn't restarted just to list its cache), or ``trigger`` was itself
    internal. The query's exchange id is marked internal *before* any observer hears of it.
    """
    if tracker.is_internal(plugin.name, trigger.id) or trigger.action == MODELS_ACTION:
        if trigger.action == MODELS_ACTION and trigger.status is ExchangeStatus.OK:
            # The user asked for models themselves: the answer is as good as ours.
            with contextlib.suppress(ValueError):
                return tracker.update(plugin.name, trigger.response_json(), None, samples)
        return []
    if not plugin.running or not offers_models(plugin):
        return []
    with _claiming_observer(plugin, tracker):
        future = plugin.submit(MODELS_ACTION, "{}", timeout_s=timeout_s)
    return await _read_models_answer(plugin, tracker, future, trigger, samples)


def ask_models_at_start(
    plugin: PluginProcess, tracker: ModelCacheTracker, *, timeout_s: float = 30.0
) -> asyncio.Future[Exchange] | None:
    """Send ``plugin``'s ``models`` query as it becomes ready (None when it has no such
    action): a model its import loaded is then charged to its start, where the first call's
    query charged it to that call (a 67 ms ``embed`` credited with a 430 MiB load).

    Call it before anything else can be sent (on the ready state), so no call is queued
    ahead of it; finish with :func:`models_at_start`.
    """
    if not plugin.running or plugin.start_record is None or not offers_models(plugin):
        return None
    with _claiming_observer(plugin, tracker):
        return plugin.submit(MODELS_ACTION, "{}", timeout_s=timeout_s)


async def models_at_start(
    plugin: PluginProcess,
    tracker: ModelCacheTracker,
    query: asyncio.Future[Exchange],
    samples: SampleBuffer | None = None,
) -> list[CacheEvent]:
    """The cache events of the query :func:`ask_models_at_start` sent: the models loaded
    while the plugin started, charged to its ``start_record``."""
    start = plugin.start_record
    if start is None:
        query.cancel()
        return []
    return await _read_models_answer(plugin, tracker, query, start, samples)


async def _read_models_answer(
    plugin: PluginProcess,
    tracker: ModelCacheTracker,
    future: asyncio.Future[Exchange],
    trigger: Exchange,
    samples: SampleBuffer | None,
) -> list[CacheEvent]:
    exchange = await asyncio.shield(future)
    if exchange.status is not ExchangeStatus.OK:
        tracker.failed(plugin.name, exchange.error or str(exchange.status))
        return []
    try:
        answer = exchange.response_json()
    except ValueError as error:
        tracker.failed(plugin.name, f"models answer is not JSON: {error}")
        return []
    candidates = _ran_before(plugin, tracker, exchange, trigger)
    grew = [call for call in candidates if _growth(call) >= GREW_BYTES]
    return tracker.update(
        plugin.name,
        answer,
        _likely_loader(candidates),
        samples,
        among=len(candidates),
        grew=grew,
        ran=candidates,
    )


def _ran_before(
    plugin: PluginProcess, tracker: ModelCacheTracker, query: Exchange, trigger: Exchange
) -> list[Exchange]:
    """The user exchanges the plugin finished from ``trigger`` until it ran ``query``:
    ``trigger`` alone, unless calls queued behind it ran first (the query waits behind
    them), and whatever a model appeared in the answer may have come from any of them."""
    ran: list[Exchange] = []
    for exchange in reversed(plugin.history):
        if exchange is trigger:
            break
        finished_s = exchange.finished_monotonic_s
        if (
            finished_s is not None
            and finished_s <= query.head_monotonic_s
            and exchange.pid == query.pid
            and exchange.action != MODELS_ACTION
            and not tracker.is_internal(plugin.name, exchange.id)
        ):
            ran.append(exchange)
    return [trigger, *reversed(ran)]


def _likely_loader(candidates: list[Exchange]) -> Exchange:
    """Of calls that ran before one ``models`` query, the one that most likely loaded what
    it lists: the one whose tree grew most (a load takes memory; a call that finds the model
    cached takes none), the later one on a tie. Before, the last one got it: ctrl+r pressed
    twice charged a 3 s, +445 MiB load to the 0.16 s call that found it cached, with +0 MiB."""

    return max(reversed(candidates), key=_growth)


GREW_BYTES = 1024 * 1024
"""A call whose tree grew this much may have loaded a model (one that found it cached grows
by a few pages at most)."""


def _growth(exchange: Exchange) -> int:
    """How much ``exchange``'s tree grew (a very negative number when it was not read)."""
    before, after = exchange.rss_before_bytes, exchange.rss_after_bytes
    return -(2**62) if before is None or after is None else after - before


@contextlib.contextmanager
def _claiming_observer(plugin: PluginProcess, tracker: ModelCacheTracker) -> Iterator[None]:
    """While ``submit`` runs (synchronously), record the new exchange's id as internal
    before passing ``on_exchange_started`` on, so the log can hide it from its first event."""
    original = plugin.observer
    plugin.observer = _InternalClaim(original, tracker)
    try:
        yield
    finally:
        plugin.observer = original


class _InternalClaim(PluginObserver):
    """Passes events on, recording the exchange that starts as internal first."""

    def __init__(self, inner: PluginObserver | None, tracker: ModelCacheTracker) -> None:
        self.inner = inner
        self.tracker = tracker

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self.tracker.mark_internal(plugin.name, exchange.id)
        if self.inner is not None:
            self.inner.on_exchange_started(plugin, exchange)

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        if self.inner is not None:
            self.inner.on_state_changed(plugin, state)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
