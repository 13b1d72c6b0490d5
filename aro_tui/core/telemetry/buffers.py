"""Ring buffers bounded by time: samples, exchange spans and marker events on one axis."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.telemetry.samples import TelemetrySample

DEFAULT_MAX_AGE_S = 3600.0
DEFAULT_MAX_ITEMS = 100_000
"""A hard cap as well, so a misconfigured rate (0.001 s) can't grow without bound."""

T = TypeVar("T")


class TimeBuffer(Generic[T]):
    """Items in time order, dropped once older than ``max_age_s`` behind the newest.

    Appends and reads may come from different threads (the sampler's and the event loop),
    hence the lock; each operation is short: lookups by time bisect the ordered items
    (an hour of samples at 10 Hz is 36,000 of them, which a scan took ~1 ms to walk).
    """

    def __init__(
        self,
        time_of: Callable[[T], float],
        max_age_s: float = DEFAULT_MAX_AGE_S,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> None:
        """``time_of`` gives an item's epoch time."""
        self._time_of = time_of
        self.max_age_s = max_age_s
        self._items: deque[T] = deque(maxlen=max_items)
        self._lock = threading.Lock()

    def append(self, item: T) -> None:
        """Add ``item`` (expected newest; an older one is inserted in order) and trim."""
        with self._lock:
            item_t = self._time_of(item)
            if self._items and item_t < self._time_of(self._items[-1]):
                at = bisect.bisect_right(self._items, item_t, key=self._time_of)
                self._items.insert(at, item)
            else:
                self._items.append(item)
            newest_t = self._time_of(self._items[-1])
            while self._items and self._time_of(self._items[0]) < newest_t - self.max_age_s:
                self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.snapshot())

    def snapshot(self) -> list[T]:
        """A copy of every item, oldest first."""
        with self._lock:
            return list(self._items)

    def latest(self) -> T | None:
        """The newest item."""
        with self._lock:
            return self._items[-1] if self._items else None

    def between(self, start_t: float, end_t: float) -> list[T]:
        """Items with ``start_t <= t <= end_t``."""
        with self._lock:
            first = bisect.bisect_left(self._items, start_t, key=self._time_of)
            last = bisect.bisect_right(self._items, end_t, key=self._time_of)
            return list(itertools.islice(self._items, first, last))

    def at_or_before(self, t: float) -> T | None:
        """The newest item at or before ``t``."""
        with self._lock:
            at = bisect.bisect_right(self._items, t, key=self._time_of)
            return self._items[at - 1] if at else None

    def at_or_after(self, t: float) -> T | None:
        """The oldest item at or after ``t``."""
        with self._lock:
            at = bisect.bisect_left(self._items, t, key=self._time_of)
            return self._items[at] if at < len(self._items) else None

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._items.clear()


class SampleBuffer(TimeBuffer[TelemetrySample]):
    """Telemetry samples, an hour by default."""

    def __init__(
        self, max_age_s: float = DEFAULT_MAX_AGE_S, max_items: int = DEFAULT_MAX_ITEMS
    ) -> None:
        """Keep samples up to ``max_age_s`` behind the newest."""
        super().__init__(_sample_time, max_age_s, max_items)


def _sample_time(sample: TelemetrySample) -> float:
    return sample.t


@dataclass(frozen=True, slots=True)
class ExchangeSpan:
    """One exchange on the time axis (epoch seconds); ``end_t`` None while it runs."""

    plugin: str
    exchange_id: int
    action: str
    start_t: float
    end_t: float | None
    status: str
    internal: bool = False
    """Issued by aro-tui itself (the model-cache query), not by the user."""

    @classmethod
    def from_exchange(cls, exchange: Exchange, *, internal: bool = False) -> ExchangeSpan:
        """The span of ``exchange`` (its end from the monotonic latency, on the wall axis)."""
        latency_s = exchange.latency_s
        end_t = None if latency_s is None else exchange.started_at + latency_s
        return cls(
            exchange.plugin,
            exchange.id,
            exchange.action,
            exchange.started_at,
            end_t,
            str(exchange.status),
            internal,
        )

    @property
    def ok(self) -> bool:
        """Whether it ended well (or is still running)."""
        return self.status in (ExchangeStatus.OK, ExchangeStatus.PENDING)


class SpanBuffer(TimeBuffer[ExchangeSpan]):
    """Exchange spans by start time; a finished span replaces its running version.

    Why running spans are indexed: a span is recorded when its call starts and again when it
    ends, and finding the running version by scanning made every new span cost a pass over
    the whole buffer (20,000 spans took 17 s to record, as opening such a recording does). A
    span with no running version is added, so an exchange id that a reloaded plugin uses
    again never overwrites an older call's span.
    """

    def __init__(
        self, max_age_s: float = DEFAULT_MAX_AGE_S, max_items: int = DEFAULT_MAX_ITEMS
    ) -> None:
        """Keep spans up to ``max_age_s`` behind the newest start."""
        super().__init__(_span_time, max_age_s, max_items)
        self._running: dict[tuple[str, int], ExchangeSpan] = {}
        self._longest_s = 0.0
        """The longest finished span recorded: how far before a window one may start."""

    def record(self, span: ExchangeSpan) -> None:
        """Add ``span``, or put it in place of the running span of the same exchange."""
        key = (span.plugin, span.exchange_id)
        with self._lock:
            running = self._running.pop(key, None)
            if span.end_t is None:
                self._running[key] = span
            else:
                self._longest_s = max(self._longest_s, span.end_t - span.start_t)
            if running is not None and self._replace(running, span):
                return
        self.append(span)

    def overlapping(self, start_t: float, end_t: float) -> list[ExchangeSpan]:
        """The spans that run at some time between ``start_t`` and ``end_t``, oldest first.

        Why not a scan of :meth:`snapshot`: the memory chart draws its calls row from this at
        every redraw, and with 75,000 calls kept a scan of them all took a key press to
        ~350 ms with the chart open. Those that start in the window are found by bisection;
        one that started before it can have lasted no longer than the longest finished span,
        or is still running.
        """
        with self._lock:
            lookback_s, running = self._longest_s, list(self._running.values())
        candidates = self.between(start_t - lookback_s, end_t)
        early = [s for s in running if s.start_t < start_t - lookback_s]
        return [
            span
            for span in early + candidates
            if span.start_t <= end_t and (span.end_t is None or span.end_t >= start_t)
        ]

    def clear(self) -> None:
        """Drop everything."""
        with self._lock:
            self._running.clear()
            self._longest_s = 0.0
        super().clear()

    def _replace(self, old: ExchangeSpan, new: ExchangeSpan) -> bool:
        """Put ``new`` where ``old`` is, searching from the newest; False if ``old`` is gone."""
        items = self._items
        for index in range(len(items) - 1, -1, -1):
            if items[index] is old:
                items[index] = new
                return True
        return False


def _span_time(span: ExchangeSpan) -> float:
    return span.start_t
