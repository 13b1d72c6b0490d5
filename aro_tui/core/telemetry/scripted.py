"""A scripted GPU: deterministic figures for tests, screenshots and ``--demo-gpu``."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aro_tui.core.telemetry.gpu import GpuBackend, GpuReading, PluginTree
from aro_tui.core.telemetry.samples import DeviceSample

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True, slots=True)
class ScriptedDevice:
    """A device's fixed facts and the memory it uses before any step."""

    name: str
    memory_total_bytes: int | None
    base_used_bytes: int | None


@dataclass(frozen=True, slots=True)
class ScriptedStep:
    """From ``at_s`` seconds after the first read on: these figures (until the next step)."""

    at_s: float
    device_used_bytes: Sequence[int | None] = ()
    """Per device, in order; shorter than the device list leaves the rest at their base."""
    plugin_memory_bytes: Mapping[str, int | None] = field(default_factory=dict)
    utilization_percent: int | None = None


class ScriptedGpu(GpuBackend):
    """Figures from a timeline of steps, or mirroring host-memory growth (the demo).

    With ``mirror_host_rss`` each plugin's GPU memory is its tree's resident memory above
    what it was when first seen, added to device 0: a real call that loads a model on the
    CPU then shows as a GPU rise at the same moment, which is what the demo is for.
    """

    def __init__(
        self,
        devices: Sequence[ScriptedDevice],
        steps: Sequence[ScriptedStep] = (),
        *,
        start_t: float | None = None,
        mirror_host_rss: bool = False,
        description: str = "scripted GPU",
    ) -> None:
        """``start_t`` anchors step offsets (epoch s); default: the first read's ``t``."""
        self.devices = tuple(devices)
        self.steps = sorted(steps, key=lambda step: step.at_s)
        self.start_t = start_t
        self.mirror_host_rss = mirror_host_rss
        self.description = description
        self._rss_baseline_bytes: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def demo(cls) -> ScriptedGpu:
        """The ``--demo-gpu`` device: one 24 GiB card that mirrors plugins' memory growth."""
        return cls(
            [ScriptedDevice("Demo GPU (scripted)", 24 * GIB, 600 * MIB)],
            mirror_host_rss=True,
            description="demo GPU (scripted)",
        )

    def read(self, t: float, plugins: Mapping[str, PluginTree]) -> GpuReading:
        """The step in force at ``t`` (and mirrored growth), same inputs → same reading."""
        with self._lock:
            if self.start_t is None:
                self.start_t = t
            offset_s = t - self.start_t
        step = None
        for candidate in self.steps:
            if candidate.at_s <= offset_s:
                step = candidate
        used: list[int | None] = [device.base_used_bytes for device in self.devices]
        plugin_memory: dict[str, int | None] = dict.fromkeys(plugins, 0)
        utilization: int | None = 0
        if step is not None:
            for index, value in enumerate(step.device_used_bytes[: len(used)]):
                used[index] = value
            for name, value in step.plugin_memory_bytes.items():
                if name in plugins or not plugins:
                    plugin_memory[name] = value
            utilization = step.utilization_percent
        if self.mirror_host_rss and self.devices:
            grown_total = 0
            for name, tree in plugins.items():
                grown = self._growth(name, tree.rss_bytes)
                plugin_memory[name] = grown
                grown_total += grown or 0
            base = used[0] or 0
            used[0] = base + grown_total
            utilization = 0 if grown_total == 0 else 35
        devices = tuple(
            DeviceSample(index, device.name, used[index], device.memory_total_bytes, utilization)
            for index, device in enumerate(self.devices)
        )
        return GpuReading(devices, plugin_memory)

    def _growth(self, name: str, rss_bytes: int | None) -> int | None:
        if rss_bytes is None:
            return None
        with self._lock:
            baseline = self._rss_baseline_bytes.setdefault(name, rss_bytes)
            if rss_bytes < baseline:
                self._rss_baseline_bytes[name] = rss_bytes
                baseline = rss_bytes
        return rss_bytes - baseline
