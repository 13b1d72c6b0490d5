"""How much CPU the telemetry sampler costs: run it against a real plugin process tree.

``python -m aro_tui.bench.sampler_bench [--seconds 20] [--interval 1.0] [--gpu auto|none|demo]``
starts the ``telemetry-alloc`` test plugin (it holds 64 MiB, so there is a real tree to
measure), samples it, and prints the sampler thread's CPU time (``time.thread_time()``
inside the thread) per wall second, as a percentage of one core. The bar is under 1 %.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aro_tui.core.host.process import PluginLaunch, PluginProcess
from aro_tui.core.telemetry.gpu import GpuBackend, NoGpu, open_gpu_backend
from aro_tui.core.telemetry.sampler import Sampler
from aro_tui.core.telemetry.samples import TelemetrySample

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests" / "plugins" / "telemetry-alloc" / "src" / "plugin.py"


@dataclass(frozen=True, slots=True)
class BenchResult:
    """What one run measured."""

    backend: str
    wall_s: float
    samples: int
    thread_cpu_s: float
    plugin_rss_bytes: int | None

    @property
    def cpu_percent(self) -> float:
        """Sampler-thread CPU seconds per wall second, in % of one core."""
        return 100.0 * self.thread_cpu_s / self.wall_s

    @property
    def per_sample_ms(self) -> float:
        """CPU per sample."""
        return 1000.0 * self.thread_cpu_s / max(1, self.samples)


def _backend_factory(kind: str) -> Callable[[], GpuBackend]:
    if kind == "none":
        return lambda: NoGpu("disabled for the benchmark")
    if kind == "demo":
        return lambda: open_gpu_backend(demo=True)
    return open_gpu_backend


async def run(seconds: float, interval_s: float, gpu: str) -> BenchResult:
    """Sample a running plugin for ``seconds``; CPU figures of the sampler thread."""
    plugin = PluginProcess(
        PluginLaunch("telemetry-alloc", PLUGIN, Path(sys.executable), start_timeout_s=30)
    )
    await plugin.start()
    try:
        await plugin.call("load", '{"key": "bench", "mb": 64}')
        samples: list[TelemetrySample] = []
        done = threading.Event()
        sampler = Sampler(
            samples.append,
            backend_factory=_backend_factory(gpu),
            interval_s=interval_s,
        )
        assert plugin.pid is not None
        sampler.watch(plugin.name, plugin.pid, set(plugin.process_tree_pids()))
        wall_started_s = time.monotonic()
        sampler.start()
        # Keep the loop alive (as the dashboard's would be) while the thread samples.
        await asyncio.get_running_loop().run_in_executor(None, done.wait, seconds)
        sampler.stop()
        wall_s = time.monotonic() - wall_started_s
    finally:
        await plugin.stop()
    last = samples[-1].plugins.get(plugin.name) if samples else None
    return BenchResult(
        sampler.backend.description if sampler.backend else "?",
        wall_s,
        len(samples),
        sampler.thread_cpu_s,
        None if last is None else last.rss_bytes,
    )


def main(argv: list[str] | None = None) -> int:
    """Print the sampler's CPU cost; exit 1 when it is 1 % of a core or more."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--gpu", choices=("auto", "none", "demo"), default="auto")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.seconds, args.interval, args.gpu))
    rss_mib = (result.plugin_rss_bytes or 0) / 1024**2
    print(f"backend:          {result.backend}")
    print(f"interval:         {args.interval} s")
    print(f"wall:             {result.wall_s:.1f} s, {result.samples} samples")
    print(f"plugin tree RSS:  {rss_mib:.0f} MiB")
    print(f"sampler CPU:      {result.thread_cpu_s * 1000:.1f} ms")
    print(f"per sample:       {result.per_sample_ms:.2f} ms")
    print(f"CPU per wall s:   {result.cpu_percent:.3f} % of one core (bar: < 1 %)")
    return 0 if result.cpu_percent < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
