"""Live GPU and host telemetry for plugin process trees, and the model-cache tracker.

``gpu`` (interface, no-GPU, factory), ``nvml`` (NVML adapter), ``scripted`` and ``replay``
(backends), ``host_metrics`` (psutil), ``sampler`` (the thread), ``buffers`` (time-bounded
rings), ``exchange_memory`` (per-call cost, baseline warnings), ``model_cache`` (load and
unload events from a plugin's ``models`` action), ``samples`` (records and their JSON form).
"""

from aro_tui.core.telemetry.buffers import ExchangeSpan, SampleBuffer, SpanBuffer, TimeBuffer
from aro_tui.core.telemetry.exchange_memory import (
    BaselineWarning,
    BaselineWatch,
    ExchangeMemory,
    exchange_memory,
)
from aro_tui.core.telemetry.gpu import GpuBackend, GpuReading, NoGpu, PluginTree, open_gpu_backend
from aro_tui.core.telemetry.model_cache import (
    CacheEvent,
    ModelCacheTracker,
    ModelEntry,
    parse_models_answer,
    refresh_model_cache,
)
from aro_tui.core.telemetry.nvml import NvmlGpu, open_nvml
from aro_tui.core.telemetry.replay import ReplayGpu, SampleWriter, read_samples
from aro_tui.core.telemetry.sampler import Sampler
from aro_tui.core.telemetry.samples import DeviceSample, PluginUsage, TelemetrySample
from aro_tui.core.telemetry.scripted import ScriptedDevice, ScriptedGpu, ScriptedStep

__all__ = [
    "BaselineWarning",
    "BaselineWatch",
    "CacheEvent",
    "DeviceSample",
    "ExchangeMemory",
    "ExchangeSpan",
    "GpuBackend",
    "GpuReading",
    "ModelCacheTracker",
    "ModelEntry",
    "NoGpu",
    "NvmlGpu",
    "PluginTree",
    "PluginUsage",
    "ReplayGpu",
    "SampleBuffer",
    "SampleWriter",
    "Sampler",
    "ScriptedDevice",
    "ScriptedGpu",
    "ScriptedStep",
    "SpanBuffer",
    "TelemetrySample",
    "TimeBuffer",
    "exchange_memory",
    "open_gpu_backend",
    "open_nvml",
    "parse_models_answer",
    "read_samples",
    "refresh_model_cache",
]
