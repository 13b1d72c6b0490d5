"""A plugin whose "models" are byte buffers: load one and host memory really rises.

`load` keeps a filled bytearray of `mb` MiB in a module-level cache (as an ML plugin keeps
a model), `unload` drops it, `models` lists the cache in the transformer plugin's format,
`work` does nothing much (a call that loads nothing), `spike` holds memory briefly.
"""

import gc
import json
import time
from typing import Any, Dict

_cache = {}  # type: Dict[str, bytearray]
_loaded_at = {}  # type: Dict[str, float]

MIB = 1024 * 1024


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {
        "name": "telemetry-alloc",
        "version": "1.0.0",
        "actions": ["load", "unload", "models", "work", "spike"],
    }


def aro_action_load(input_json: str) -> str:
    """
    Keep a buffer of `mb` MiB under `key` (a second key for the same `model` is a duplicate).

    Input:
        - key: cache key (default: "buffer")
        - model: what the buffer stands for (default: the key)
        - mb: size in MiB (default: 64)
    """
    params = json.loads(input_json or "{}")
    key = str(params.get("key", "buffer"))
    size = int(params.get("mb", 64)) * MIB
    if key not in _cache:
        started = time.perf_counter()
        _cache[key] = bytearray(b"\x01") * size  # written, so every page is resident
        _loaded_at[key] = time.perf_counter() - started
        _models[key] = str(params.get("model", key))
    return json.dumps({"key": key, "bytes": len(_cache[key])})


_models = {}  # type: Dict[str, str]


def aro_action_unload(input_json: str) -> str:
    """Drop the buffer under `key` (all of them without one)."""
    params = json.loads(input_json or "{}")
    keys = [params["key"]] if params.get("key") else list(_cache)
    for key in keys:
        _cache.pop(key, None)
        _models.pop(key, None)
    gc.collect()
    return json.dumps({"unloaded": keys})


def aro_action_models(input_json: str) -> str:
    """List the cache as the transformer plugin does: loaded keys and details."""
    details = [
        {
            "key": key,
            "task": "buffer",
            "model": _models.get(key, key),
            "device": "cpu",
            "dtype": "uint8",
            "parameters": len(buffer),
            "memory_bytes": len(buffer),
            "load_seconds": round(_loaded_at.get(key, 0.0), 3),
        }
        for key, buffer in _cache.items()
    ]
    return json.dumps({"loaded": list(_cache), "details": details})


def aro_action_spike(input_json: str) -> str:
    """Fill `mb` MiB, hold them `seconds`, and let them go: a peak a 1 Hz sample misses."""
    params = json.loads(input_json or "{}")
    buffer = bytearray(int(params.get("mb", 64)) * MIB)
    for offset in range(0, len(buffer), 4096):
        buffer[offset] = 1
    time.sleep(float(params.get("seconds", 0.05)))
    del buffer
    return "{}"


def aro_action_work(input_json: str) -> str:
    """Do a little work and allocate nothing that stays."""
    return json.dumps({"sum": sum(range(1000))})
