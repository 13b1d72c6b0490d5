"""Model-cache events as JSON objects, for session recordings (and back)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from aro_tui.core.telemetry.model_cache import CacheEvent, ModelEntry

__all__ = ["cache_event_from_json", "cache_event_to_json"]


def cache_event_to_json(event: CacheEvent) -> dict[str, Any]:
    """``event`` as a JSON-ready object (what ``SessionRecorder.record_cache_event`` takes)."""
    return {
        "kind": event.kind,
        "plugin": event.plugin,
        "entry": asdict(event.entry),
        "t": event.t,
        "exchange_id": event.exchange_id,
        "action": event.action,
        "host_delta_bytes": event.host_delta_bytes,
        "gpu_delta_bytes": event.gpu_delta_bytes,
        "duplicate_of": list(event.duplicate_of),
        "times_loaded": event.times_loaded,
        "reason": event.reason,
        # Recorded before the sample that settles its GPU delta came: what reopening needs
        # to settle it from the recorded samples.
        "gpu_pending": event.gpu_pending,
        "gpu_before_bytes": event.gpu_before_bytes,
        "trigger_end_t": event.trigger_end_t,
        "first_in_process": event.first_in_process,
        "among": event.among,
    }


def cache_event_from_json(data: Mapping[str, Any]) -> CacheEvent:
    """The event ``cache_event_to_json`` wrote (``ValueError`` / ``KeyError`` if malformed)."""
    entry_data = data["entry"]
    if not isinstance(entry_data, Mapping) or data["kind"] not in ("load", "unload"):
        raise ValueError("not a cache event")
    fields = set(ModelEntry.__dataclass_fields__)
    entry = ModelEntry(**{k: v for k, v in entry_data.items() if k in fields})
    return CacheEvent(
        str(data["kind"]),
        str(data["plugin"]),
        entry,
        float(data["t"]),
        data.get("exchange_id"),
        data.get("action"),
        data.get("host_delta_bytes"),
        data.get("gpu_delta_bytes"),
        duplicate_of=tuple(data.get("duplicate_of") or ()),
        times_loaded=int(data.get("times_loaded") or 1),
        reason=data.get("reason"),
        gpu_pending=bool(data.get("gpu_pending")),
        gpu_before_bytes=data.get("gpu_before_bytes"),
        trigger_end_t=data.get("trigger_end_t"),
        first_in_process=bool(data.get("first_in_process")),
        among=int(data.get("among") or 1),
    )
