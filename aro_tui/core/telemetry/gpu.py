"""The GPU backend interface, the "no GPU" backend, and the factory that picks one."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aro_tui.core.telemetry.samples import DeviceSample


@dataclass(frozen=True, slots=True)
class PluginTree:
    """What the sampler knows about one plugin's process tree when it asks the GPU."""

    pids: Sequence[int]
    rss_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One read of every device, plus GPU memory per plugin (None: unknown, not zero)."""

    devices: tuple[DeviceSample, ...] = ()
    plugin_memory_bytes: Mapping[str, int | None] = field(default_factory=dict)
    unavailable_reason: str | None = None
    attribution_problem: str | None = None
    """Why the plugins' GPU memory is unknown although the devices read (a container's pids)."""


class GpuBackend(abc.ABC):
    """A source of GPU figures; ``read`` is called from the sampler's thread and may block."""

    description: str = "GPU"
    """Shown in the panel's title (e.g. ``NVML 550.54``, ``scripted``, ``replay of x.jsonl``)."""

    @abc.abstractmethod
    def read(self, t: float, plugins: Mapping[str, PluginTree]) -> GpuReading:
        """Sample every device at epoch time ``t`` and attribute memory to ``plugins``."""

    def close(self) -> None:  # noqa: B027 - most backends hold nothing
        """Release the driver (NVML shutdown); reading afterwards is an error."""


class NoGpu(GpuBackend):
    """No GPU figures, only the reason (shown in the panel and the chart)."""

    def __init__(self, reason: str) -> None:
        """``reason``: what NVML said, in words (e.g. "NVML library not found")."""
        self.reason = reason
        self.description = f"no GPU: {reason}"

    def read(self, t: float, plugins: Mapping[str, PluginTree]) -> GpuReading:
        """Always the reason, never a device."""
        return GpuReading(unavailable_reason=self.reason)


def open_gpu_backend(demo: bool = False, replay_path: Path | None = None) -> GpuBackend:
    """NVML when it initialises, else :class:`NoGpu` with its reason; or the demo/replay ones.

    ``demo`` gives the scripted device that mirrors each plugin's host-memory growth
    (``--demo-gpu``), ``replay_path`` replays the GPU figures of a recorded JSONL session.
    """
    if replay_path is not None:
        from aro_tui.core.telemetry.replay import ReplayGpu, read_samples

        return ReplayGpu(list(read_samples(replay_path)), description=f"replay {replay_path.name}")
    if demo:
        from aro_tui.core.telemetry.scripted import ScriptedGpu

        return ScriptedGpu.demo()
    from aro_tui.core.telemetry.nvml import open_nvml

    return open_nvml()
