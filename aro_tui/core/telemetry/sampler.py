"""The telemetry sampler: a thread that reads the GPU and plugin trees at a steady rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from aro_tui.core.telemetry.gpu import GpuBackend, GpuReading, PluginTree, open_gpu_backend
from aro_tui.core.telemetry.host_metrics import HostMetrics
from aro_tui.core.telemetry.samples import PluginUsage, TelemetrySample

DEFAULT_INTERVAL_S = 1.0
MIN_INTERVAL_S = 0.1


class Sampler:
    """Samples every ``interval_s`` in its own thread and hands each sample to ``on_sample``.

    ``on_sample`` runs in the sampler's thread: in the dashboard it only posts a message
    (``App.call_from_thread`` is not needed for ``post_message``). The GPU backend is
    opened in the thread too, because ``nvmlInit`` can block for a second or more.
    """

    def __init__(
        self,
        on_sample: Callable[[TelemetrySample], None],
        *,
        backend_factory: Callable[[], GpuBackend] = open_gpu_backend,
        interval_s: float = DEFAULT_INTERVAL_S,
        clock: Callable[[], float] = time.time,
        host_metrics: HostMetrics | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """``interval_s`` is clamped to at least ``MIN_INTERVAL_S``; ``clock`` stamps samples."""
        self.on_sample = on_sample
        self.interval_s = max(MIN_INTERVAL_S, interval_s)
        self.backend_factory = backend_factory
        self.clock = clock
        self.on_error = on_error
        self.host = host_metrics or HostMetrics()
        self.backend: GpuBackend | None = None
        self.thread_cpu_s = 0.0
        """CPU seconds the sampling thread has used (``time.thread_time``), for the bench."""
        self.samples_taken = 0
        self._watch_lock = threading.Lock()
        self._watch_changes: list[tuple[str, int | None, set[int] | None]] = []
        self._root_pids: dict[str, int] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and by a new process to measure
        self._thread: threading.Thread | None = None
        self._last_sample_s = -MIN_INTERVAL_S  # time.monotonic() of the last sample

    # -- control (any thread) ---------------------------------------------------------------

    def watch(self, name: str, root_pid: int, extra_pids: set[int] | None = None) -> None:
        """Measure plugin ``name``'s tree from ``root_pid`` (and ``extra_pids``, e.g. the
        host's ``process_tree_pids()``, which include children that left the tree)."""
        with self._watch_lock:
            self._watch_changes.append((name, root_pid, extra_pids))
            new_process = self._root_pids.get(name) != root_pid
            self._root_pids[name] = root_pid
        if new_process:
            # Sample it now rather than up to interval_s later: a call sent right after the
            # start would otherwise have no "before" figure, and its model load no GPU delta.
            self._wake.set()

    def sample_soon(self) -> None:
        """Take a sample now rather than at the next period, unless one was taken less than
        ``MIN_INTERVAL_S`` ago (any thread). The dashboard asks as each call ends: that sample
        is the call's "after" and the "before" of the call queued behind it, which a 1 Hz
        sample taken while the first one ran could not be."""
        if time.monotonic() - self._last_sample_s >= MIN_INTERVAL_S:
            self._wake.set()

    def unwatch(self, name: str) -> None:
        """Stop measuring plugin ``name`` (it stopped or crashed)."""
        with self._watch_lock:
            self._watch_changes.append((name, None, None))
            self._root_pids.pop(name, None)

    def start(self) -> None:
        """Start the thread (daemon, so a forgotten stop never blocks interpreter exit)."""
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._thread = threading.Thread(target=self._run, name="aro-telemetry", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> bool:
        """Ask the thread to stop and wait for it (a read in progress finishes first)."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- sampling (the sampler's thread, or a caller that owns the sampler) ------------------

    def sample_once(self) -> TelemetrySample:
        """Take one sample now, in the calling thread."""
        self._apply_watch_changes()
        if self.backend is None:
            self.backend = self._open_backend()
        t = self.clock()
        usages = self.host.measure()
        trees = {
            name: PluginTree(tuple(self.host.pids(name)), usage.rss_bytes)
            for name, usage in usages.items()
        }
        try:
            reading = self.backend.read(t, trees)
        except Exception as error:  # a driver fault must not end sampling
            reading = GpuReading(unavailable_reason=f"GPU read failed: {error}")
            self._report(error)
        plugins = {
            name: PluginUsage(
                usage.rss_bytes,
                usage.cpu_percent,
                reading.plugin_memory_bytes.get(name),
                usage.process_count,
                usage.pid,
            )
            for name, usage in usages.items()
        }
        self.samples_taken += 1
        self._last_sample_s = time.monotonic()
        return TelemetrySample(
            t,
            reading.devices,
            plugins,
            reading.unavailable_reason,
            gpu_attribution_problem=reading.attribution_problem,
        )

    def _run(self) -> None:
        started_cpu_s = time.thread_time()
        next_due_s = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    sample = self.sample_once()
                    self.on_sample(sample)
                except Exception as error:
                    self._report(error)
                self.thread_cpu_s = time.thread_time() - started_cpu_s
                next_due_s += self.interval_s
                now_s = time.monotonic()
                if next_due_s < now_s:  # fell behind (suspended laptop): don't burst
                    next_due_s = now_s + self.interval_s
                if self._wake.wait(next_due_s - now_s):
                    self._wake.clear()
                    if self._stop.is_set():
                        break
                    next_due_s = time.monotonic()  # woken early: the interval starts again
        finally:
            if self.backend is not None:
                self.backend.close()
            self.thread_cpu_s = time.thread_time() - started_cpu_s

    def _open_backend(self) -> GpuBackend:
        try:
            return self.backend_factory()
        except Exception as error:
            from aro_tui.core.telemetry.gpu import NoGpu

            self._report(error)
            return NoGpu(f"GPU backend failed to open: {error}")

    def _apply_watch_changes(self) -> None:
        with self._watch_lock:
            changes, self._watch_changes = self._watch_changes, []
        for name, root_pid, extra_pids in changes:
            if root_pid is None:
                self.host.unwatch(name)
            else:
                self.host.watch(name, root_pid, extra_pids)

    def _report(self, error: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(error)
