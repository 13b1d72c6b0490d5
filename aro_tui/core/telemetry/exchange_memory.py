"""What one call cost in memory, and a warning when identical calls keep raising the baseline."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections import deque
from dataclasses import dataclass

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.sizes import format_size
from aro_tui.core.telemetry.buffers import ExchangeSpan, SampleBuffer
from aro_tui.core.telemetry.samples import PluginUsage, TelemetrySample

MIB = 1024**2
QUEUED_S = 0.001
"""A call that waited this long or more behind another began when that one ended."""
BOUNDARY_S = 0.1
"""How soon after a queued call began a sample still counts as its "before": the dashboard
has the sampler take one as each call ends (``Sampler.sample_soon``), a few ms late."""


@dataclass(frozen=True, slots=True)
class ExchangeMemory:
    """Memory of the plugin's tree before, at its peak during, and after one exchange.

    Host figures come from the exchange's own RSS readings plus samples taken while it ran;
    GPU figures from the plugin's own figures in the samples around it (None when unknown,
    when the sample has none for the plugin, or when no sample is late enough).
    """

    host_before_bytes: int | None
    host_peak_bytes: int | None
    host_after_bytes: int | None
    gpu_before_bytes: int | None
    gpu_peak_bytes: int | None
    gpu_after_bytes: int | None

    @property
    def host_delta_bytes(self) -> int | None:
        """After minus before (host)."""
        return _delta(self.host_before_bytes, self.host_after_bytes)

    @property
    def gpu_delta_bytes(self) -> int | None:
        """After minus before (GPU)."""
        return _delta(self.gpu_before_bytes, self.gpu_after_bytes)


def exchange_memory(samples: SampleBuffer, exchange: Exchange) -> ExchangeMemory:
    """Before / peak / after memory of ``exchange`` from its RSS fields and ``samples``."""
    span = ExchangeSpan.from_exchange(exchange)
    end_t = span.end_t if span.end_t is not None else span.start_t
    # From when the plugin began on it: a call queued behind others took its "before" from
    # a sample of when it was sent, seconds before the calls ahead of it allocated.
    queued_s = max(0.0, exchange.head_monotonic_s - exchange.sent_monotonic_s)
    began_t = min(span.start_t + queued_s, end_t)
    before = _sample_before(samples, began_t, queued=queued_s >= QUEUED_S)
    during = samples.between(began_t, end_t)
    after = samples.at_or_after(end_t)
    plugin, pid = exchange.plugin, exchange.pid

    # The plugin's own peak (VmHWM) sees what a 1 Hz sample misses: a buffer held 0.1 s.
    host_values = [exchange.rss_before_bytes, exchange.rss_after_bytes, exchange.rss_peak_bytes]
    host_values += [plugin_host_bytes(sample, plugin, pid) for sample in during]
    gpu_before = plugin_gpu_bytes(before, plugin, pid)
    gpu_after = plugin_gpu_bytes(after, plugin, pid)
    gpu_during = (plugin_gpu_bytes(sample, plugin, pid) for sample in during)
    gpu_values = [gpu_before, gpu_after, *gpu_during]
    return ExchangeMemory(
        host_before_bytes=exchange.rss_before_bytes
        if exchange.rss_before_bytes is not None
        else plugin_host_bytes(before, plugin, pid),
        host_peak_bytes=_max(host_values),
        host_after_bytes=exchange.rss_after_bytes
        if exchange.rss_after_bytes is not None
        else plugin_host_bytes(after, plugin, pid),
        gpu_before_bytes=gpu_before,
        gpu_peak_bytes=_max(gpu_values),
        gpu_after_bytes=gpu_after,
    )


def _sample_before(
    samples: SampleBuffer, began_t: float, *, queued: bool
) -> TelemetrySample | None:
    """The sample that stands for the memory when a call began.

    For a call sent to an idle plugin, the newest sample before it began. A queued call
    began the moment the call ahead of it ended, so every sample before it was taken while
    that call ran (at its peak, perhaps: a model load then read -17 MiB of GPU). Its
    "before" is the sample taken as that call ended, just after the boundary; without one,
    unknown rather than wrong.
    """
    if not queued:
        return samples.at_or_before(began_t)
    boundary = samples.at_or_after(began_t)
    return boundary if boundary is not None and boundary.t - began_t <= BOUNDARY_S else None


def plugin_host_bytes(
    sample: TelemetrySample | None, plugin: str, pid: int | None = None
) -> int | None:
    """The plugin's resident memory in ``sample``; None where the sample has no figure for
    it, or (with ``pid``) has one of another process of it (before or after a restart)."""
    usage = _usage(sample, plugin, pid)
    return None if usage is None else usage.rss_bytes


def plugin_gpu_bytes(
    sample: TelemetrySample | None, plugin: str, pid: int | None = None
) -> int | None:
    """The plugin's own GPU memory in ``sample``; None where the sample has no figure for it.

    Never the devices' used memory: that counts every process on the card, so a plugin not
    measured yet (just restarted, a new pid) or not attributable (MIG) would read as the
    whole card's use.
    """
    usage = _usage(sample, plugin, pid)
    return None if usage is None else usage.gpu_memory_bytes


def _usage(sample: TelemetrySample | None, plugin: str, pid: int | None) -> PluginUsage | None:
    """``plugin``'s usage in ``sample``, unless it was measured in another process than
    ``pid`` (a cancelled call's "after" was the restarted process's, and a new process's
    first "before" the old one's). Unknown pids (older recordings) match."""
    usage = None if sample is None else sample.plugins.get(plugin)
    if usage is not None and pid is not None and usage.pid is not None and usage.pid != pid:
        return None
    return usage


def _max(values: list[int | None]) -> int | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _delta(before: int | None, after: int | None) -> int | None:
    return None if before is None or after is None else after - before


@dataclass(frozen=True, slots=True)
class BaselineWarning:
    """Identical calls whose after-memory kept rising: a likely leak or repeated load."""

    plugin: str
    action: str
    kind: str
    """``host`` or ``gpu``."""
    calls: int
    growth_bytes: int
    exchange_ids: tuple[int, ...]
    steady: bool = True
    """Every call rose (else only at least every other one did, and none went down)."""

    def message(self) -> str:
        """One line for the log or a notification."""
        growth = format_size(self.growth_bytes)
        kind = "GPU" if self.kind == "gpu" else self.kind  # as the chart and the log say it
        if self.steady:
            return (
                f"{self.plugin}.{self.action}: {kind} memory after each of the last "
                f"{self.calls} identical calls kept rising (+{growth})"
            )
        # The slow rule: it rose on at least every other call and never went down.
        return (
            f"{self.plugin}.{self.action}: {kind} memory after the last {self.calls} "
            f"identical calls never went down and rose {growth} in all"
        )


class BaselineWatch:
    """Remembers after-memory of identical calls (plugin, action, input) and warns on growth.

    Warns when the last ``min_calls`` identical calls each ended higher than the previous
    and the rise over them exceeds ``threshold_bytes`` (a fast leak), or when over the last
    ``slow_calls`` the after-memory never went down, rose at least every other call and rose
    by more than ``threshold_bytes`` in all (a slow one: 5 MiB a call never rose 16 MiB over
    three calls, and went on for gigabytes unreported); then waits for ``min_calls`` more.
    """

    def __init__(
        self,
        min_calls: int = 3,
        threshold_bytes: int = 16 * MIB,
        max_keys: int = 256,
        slow_calls: int = 20,
    ) -> None:
        """A rise below ``threshold_bytes`` is allocator noise, not a warning."""
        self.min_calls = max(2, min_calls)
        self.slow_calls = max(self.min_calls, slow_calls)
        self.threshold_bytes = threshold_bytes
        self.max_keys = max_keys
        self._history: dict[tuple[str, str, str, str], deque[tuple[int, int]]] = {}
        self._last: dict[tuple[str, str, str, str], tuple[float, int]] = {}
        """Per history: (when it started, its id) of the exchange recorded last in it."""

    def record(self, exchange: Exchange, memory: ExchangeMemory) -> list[BaselineWarning]:
        """Add one finished exchange's after-memory; the warnings it triggers.

        Call it again once more of its figures are known (the GPU "after" needs a sample taken
        after the call, which comes later; before, it was called once, at the call's end, so
        the GPU check never ran). A kind takes each exchange once and in the order they
        started: measured again later, an older call's figure came after a newer one's, and
        the history read as memory going down, which hid a slow leak."""
        digest = hashlib.blake2b(exchange.request_bytes, digest_size=12).hexdigest()
        warnings = []
        for kind, after in (("host", memory.host_after_bytes), ("gpu", memory.gpu_after_bytes)):
            if after is None:
                continue
            key = (exchange.plugin, exchange.action, digest, kind)
            order = (exchange.started_at, exchange.id)
            if order <= self._last.get(key, (-math.inf, 0)):
                continue  # this one, or one that came after it, is in already
            history = self._history.get(key)
            if history is None:
                if len(self._history) >= self.max_keys:
                    oldest = next(iter(self._history))
                    self._history.pop(oldest)
                    self._last.pop(oldest, None)
                history = self._history[key] = deque(maxlen=self.slow_calls)
            history.append((exchange.id, after))
            self._last[key] = order
            rising = self._rising(list(history))
            if rising is not None:
                growth_bytes = rising[-1][1] - rising[0][1]
                ids = tuple(exchange_id for exchange_id, _ in rising)
                values = [value for _, value in rising]
                steady = all(later > earlier for earlier, later in itertools.pairwise(values))
                warnings.append(
                    BaselineWarning(
                        exchange.plugin,
                        exchange.action,
                        kind,
                        len(rising),
                        growth_bytes,
                        ids,
                        steady,
                    )
                )
                history.clear()
        return warnings

    def _rising(self, history: list[tuple[int, int]]) -> list[tuple[int, int]] | None:
        """The calls that show a leak (see the class), or None."""
        fast = history[-self.min_calls :]
        values = [value for _, value in fast]
        steps = list(itertools.pairwise(values))
        if (
            len(fast) == self.min_calls
            and all(later > earlier for earlier, later in steps)
            and values[-1] - values[0] > self.threshold_bytes
        ):
            return fast
        if len(history) < self.slow_calls:
            return None
        values = [value for _, value in history]
        steps = list(itertools.pairwise(values))
        rises = sum(later > earlier for earlier, later in steps)
        never_down = all(later >= earlier for earlier, later in steps)
        if never_down and 2 * rises >= len(steps) and values[-1] - values[0] > self.threshold_bytes:
            return history
        return None
