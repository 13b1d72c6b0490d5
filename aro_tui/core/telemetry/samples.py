"""Telemetry sample records and their JSON form (the one place the JSONL format is defined)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SAMPLE_FORMAT = "aro-tui/telemetry-sample/1"


@dataclass(frozen=True, slots=True)
class DeviceSample:
    """One GPU at one moment; ``None`` means the driver could not say (not zero)."""

    index: int
    name: str
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    utilization_percent: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return {
            "index": self.index,
            "name": self.name,
            "used_bytes": self.memory_used_bytes,
            "total_bytes": self.memory_total_bytes,
            "util_percent": self.utilization_percent,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceSample:
        """Read a record written by :meth:`to_json`."""
        return cls(
            index=int(data["index"]),
            name=str(data.get("name", "")),
            memory_used_bytes=_optional_int(data.get("used_bytes")),
            memory_total_bytes=_optional_int(data.get("total_bytes")),
            utilization_percent=_optional_int(data.get("util_percent")),
        )


@dataclass(frozen=True, slots=True)
class PluginUsage:
    """What one plugin's whole process tree used at one moment."""

    rss_bytes: int | None = None
    cpu_percent: float | None = None
    """Summed over the tree, so a busy multi-process plugin can exceed 100."""
    gpu_memory_bytes: int | None = None
    """GPU memory of the tree over all devices; None when the driver can't attribute it."""
    process_count: int = 0
    pid: int | None = None
    """The tree's root (the plugin process): a restart gives figures of another process."""

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return {
            "rss_bytes": self.rss_bytes,
            "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 2),
            "gpu_bytes": self.gpu_memory_bytes,
            "processes": self.process_count,
            "pid": self.pid,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PluginUsage:
        """Read a record written by :meth:`to_json`."""
        cpu = data.get("cpu_percent")
        return cls(
            rss_bytes=_optional_int(data.get("rss_bytes")),
            cpu_percent=None if cpu is None else float(cpu),
            gpu_memory_bytes=_optional_int(data.get("gpu_bytes")),
            process_count=int(data.get("processes", 0) or 0),
            pid=_optional_int(data.get("pid")),
        )


@dataclass(frozen=True, slots=True)
class TelemetrySample:
    """Everything sampled at one instant ``t`` (epoch seconds).

    JSON form (one line per sample in a ``.jsonl`` file)::

        {"t": 1700000000.0, "devices": [{"index", "name", "used_bytes", "total_bytes",
         "util_percent"}], "processes": {"<plugin>": {"rss_bytes", "cpu_percent",
         "gpu_bytes", "processes", "pid"}}, "gpu_unavailable": "<reason>"?,
         "gpu_attribution": "<why gpu_bytes are unknown>"?}
    """

    t: float
    devices: tuple[DeviceSample, ...] = ()
    plugins: Mapping[str, PluginUsage] = field(default_factory=dict)
    gpu_unavailable_reason: str | None = None
    """Why there are no GPU figures (no library, no driver, no device), when there are none."""
    gpu_attribution_problem: str | None = None
    """Why each plugin's GPU memory is unknown although the devices read (a container)."""

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON-ready dict (see the class docstring)."""
        record: dict[str, Any] = {
            # Exact: a call's start and end are recorded exactly, and a sample rounded across
            # one of them would give the reopened recording other per-call figures than live.
            "t": self.t,
            "devices": [device.to_json() for device in self.devices],
            "processes": {name: usage.to_json() for name, usage in self.plugins.items()},
        }
        if self.gpu_unavailable_reason is not None:
            record["gpu_unavailable"] = self.gpu_unavailable_reason
        if self.gpu_attribution_problem is not None:
            record["gpu_attribution"] = self.gpu_attribution_problem
        return record

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TelemetrySample:
        """Read a record written by :meth:`to_json` (raises ``ValueError`` when malformed)."""
        try:
            devices = tuple(DeviceSample.from_json(d) for d in data.get("devices") or ())
            processes = data.get("processes") or {}
            plugins = {str(name): PluginUsage.from_json(u) for name, u in processes.items()}
            reason, problem = data.get("gpu_unavailable"), data.get("gpu_attribution")
            return cls(
                t=float(data["t"]),
                devices=devices,
                plugins=plugins,
                gpu_unavailable_reason=None if reason is None else str(reason),
                gpu_attribution_problem=None if problem is None else str(problem),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a telemetry sample: {error}") from error


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
