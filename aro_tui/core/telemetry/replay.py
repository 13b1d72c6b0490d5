"""Recorded telemetry: a JSONL writer and reader, and a GPU backend that replays a recording."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import orjson

from aro_tui.core.telemetry.gpu import GpuBackend, GpuReading, PluginTree
from aro_tui.core.telemetry.samples import TelemetrySample


class SampleWriter:
    """Appends one :class:`TelemetrySample` per line to a ``.jsonl`` file (flushed per line)."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` for appending (parent folders are created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[bytes] = path.open("ab")

    def write(self, sample: TelemetrySample) -> None:
        """Append ``sample`` as one line."""
        self._file.write(orjson.dumps(sample.to_json()) + b"\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> SampleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def read_samples(path: Path, *, strict: bool = False) -> Iterator[TelemetrySample]:
    """The samples in a ``.jsonl`` recording, in file order.

    A line that isn't a sample (a torn last line of a session that was killed, or a record
    of another kind in a combined session file) is skipped unless ``strict``.
    """
    with path.open("rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
                if not isinstance(data, dict) or "t" not in data:
                    raise ValueError("no 't' field")
                yield TelemetrySample.from_json(data)
            except ValueError as error:
                if strict:
                    raise ValueError(f"{path}:{line_number}: {error}") from error


class ReplayGpu(GpuBackend):
    """Plays back the GPU figures of a recording, time-shifted to start at the first read.

    Each read returns the recorded sample in force at the same offset from the recording's
    start (the last one at or before it); past the end the last sample holds.
    """

    def __init__(self, samples: Sequence[TelemetrySample], *, description: str = "replay") -> None:
        """``samples`` sorted by ``t`` (a recording is)."""
        self.samples = sorted(samples, key=lambda sample: sample.t)
        self._times = [sample.t for sample in self.samples]
        self.description = description
        self._start_t: float | None = None

    def read(self, t: float, plugins: Mapping[str, PluginTree]) -> GpuReading:
        """The recorded devices and per-plugin GPU memory at the same offset."""
        if not self.samples:
            return GpuReading(unavailable_reason="the recording holds no samples")
        if self._start_t is None:
            self._start_t = t
        recorded_t = self._times[0] + (t - self._start_t)
        index = max(0, bisect.bisect_right(self._times, recorded_t) - 1)
        sample = self.samples[index]
        plugin_memory = {name: usage.gpu_memory_bytes for name, usage in sample.plugins.items()}
        return GpuReading(
            sample.devices,
            plugin_memory,
            sample.gpu_unavailable_reason,
            attribution_problem=sample.gpu_attribution_problem,
        )
