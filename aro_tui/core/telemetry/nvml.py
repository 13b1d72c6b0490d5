"""NVML adapter (``nvidia-ml-py``, imported as ``pynvml``) behind :class:`GpuBackend`.

The module is a parameter so tests can hand in an object that behaves like ``pynvml``
(same function names, ``NVMLError`` hierarchy and codes). Values NVML cannot give (unified
memory, MIG, per-process "N/A") become ``None`` (unknown), never zero and never a crash.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Any

import psutil

from aro_tui.core.telemetry.gpu import GpuBackend, GpuReading, NoGpu, PluginTree
from aro_tui.core.telemetry.samples import DeviceSample

# pid → GPU bytes on one device (None: NVML lists the process but says "N/A").
ProcessMemory = dict[int, int | None]

_PROCESS_LIST_FUNCTIONS = {
    "compute": (
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlDeviceGetComputeRunningProcesses_v2",
        "nvmlDeviceGetComputeRunningProcesses",
    ),
    "graphics": (
        "nvmlDeviceGetGraphicsRunningProcesses_v3",
        "nvmlDeviceGetGraphicsRunningProcesses_v2",
        "nvmlDeviceGetGraphicsRunningProcesses",
    ),
}
_NOT_AVAILABLE_ULONGLONG = 2**64 - 1
FOREIGN_PIDS_PROBLEM = (
    "plugin GPU unknown: NVML lists pids this pid namespace lacks (in a container?)"
)


class NvmlUnavailable(Exception):
    """NVML could not be used; ``reason`` says why in words a user understands."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_nvml(module: Any | None = None, **options: Any) -> GpuBackend:
    """An :class:`NvmlGpu` (``options`` are its keyword arguments), or :class:`NoGpu`
    carrying the reason NVML gave."""
    try:
        return NvmlGpu(module, **options)
    except NvmlUnavailable as error:
        return NoGpu(error.reason)


def describe_init_error(module: Any, error: BaseException) -> str:
    """The reason behind a failed ``nvmlInit`` (library, driver, permission, device)."""
    code = getattr(error, "value", None)
    reasons = {
        _code(module, "NVML_ERROR_LIBRARY_NOT_FOUND"): (
            "NVML library not found (libnvidia-ml.so.1): no NVIDIA driver installed"
        ),
        _code(module, "NVML_ERROR_DRIVER_NOT_LOADED"): "NVIDIA driver not loaded",
        _code(module, "NVML_ERROR_NO_PERMISSION"): "no permission to use NVML",
        _code(module, "NVML_ERROR_LIB_RM_VERSION_MISMATCH"): (
            "NVML library and kernel driver versions differ (reboot or reload the driver)"
        ),
        _code(module, "NVML_ERROR_GPU_NOT_FOUND"): "no NVIDIA GPU found",
    }
    if code is not None and code in reasons:
        return reasons[code]
    return f"NVML failed to start: {error}"


class NvmlGpu(GpuBackend):
    """Reads the NVIDIA devices the plugins can see through NVML; construct it where blocking
    is fine.

    ``visible_devices`` is ``CUDA_VISIBLE_DEVICES`` (by default aro-tui's own, which the
    plugins inherit): only the devices it names are read, so the chart shows the card a plugin
    runs on rather than every card of the node. ``pid_visible`` says whether a pid NVML lists
    exists in this pid namespace (by default, ``/proc/<pid>``): NVML always gives the host's
    pids, so in a container no plugin pid would ever match, and every plugin would read 0.
    """

    def __init__(
        self,
        module: Any | None = None,
        *,
        visible_devices: str | None = None,
        pid_visible: Callable[[int], bool] | None = None,
    ) -> None:
        """Initialise NVML (raises :class:`NvmlUnavailable` with the reason when it can't)."""
        if module is None:
            try:
                import pynvml
            except ImportError as error:
                raise NvmlUnavailable(f"nvidia-ml-py is not installed ({error})") from error
            module = pynvml
        if visible_devices is None:
            visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self._nvml = module
        self._error: type[BaseException] = module.NVMLError
        # pynvml's unversioned process-list functions raise this plain Exception where the
        # driver lacks the versioned function they wrap: a missing function, not a failed read.
        self._mismatch: tuple[type[BaseException], ...] = tuple(
            error
            for error in (getattr(module, "NVMLLibraryMismatchError", None),)
            if isinstance(error, type) and issubclass(error, BaseException)
        )
        self._pid_visible = pid_visible or _pid_visible
        try:
            module.nvmlInit()
        except self._error as error:
            raise NvmlUnavailable(describe_init_error(module, error)) from error
        try:
            count = int(module.nvmlDeviceGetCount())
        except self._error as error:
            self.close()
            raise NvmlUnavailable(f"NVML could not count devices: {error}") from error
        self._open_devices(count, visible_devices)
        self._memory_v2 = hasattr(module, "nvmlMemory_v2")
        self._process_function: dict[str, Callable[[Any], Any] | None] = {}
        driver = ""
        with contextlib.suppress(self._error, AttributeError):
            driver = " " + _text(module.nvmlSystemGetDriverVersion())
        shown = ""
        if visible_devices is not None:
            indices = ", ".join(f"GPU{index}" for index in self._indices)
            shown = f" · CUDA_VISIBLE_DEVICES={visible_devices}: {indices}"
        self.description = f"NVML{driver}{shown}"
        self._closed = False

    def _open_devices(self, count: int, visible_devices: str | None) -> None:
        """The handles, NVML indices and names of the devices to read. A device NVML refuses
        (``NO_PERMISSION`` for a card a cgroup or scheduler keeps from this job: NVML counts
        every card) is left out rather than taking the others with it."""
        module = self._nvml
        self._handles: list[Any] = []
        self._indices: list[int] = []
        self._names: list[str] = []
        refused: list[str] = []
        opened: list[tuple[int, Any, str]] = []
        for index in range(count):
            try:
                handle = module.nvmlDeviceGetHandleByIndex(index)
                opened.append((index, handle, _text(module.nvmlDeviceGetName(handle))))
            except self._error as error:
                refused.append(f"GPU{index}: {error}")
        chosen = opened if visible_devices is None else self._visible(opened, visible_devices)
        for index, handle, name in chosen:
            self._indices.append(index)
            self._handles.append(handle)
            self._names.append(name)
        if self._handles:
            return
        self.close()
        if refused:
            raise NvmlUnavailable(f"NVML could not open any device ({'; '.join(refused)})")
        if visible_devices is not None and opened:
            raise NvmlUnavailable(
                f"CUDA_VISIBLE_DEVICES={visible_devices!r} names none of the "
                f"{len(opened)} GPU(s) NVML sees, so the plugins see no GPU"
            )
        raise NvmlUnavailable("no NVIDIA GPU found")

    def _visible(
        self, opened: list[tuple[int, Any, str]], visible_devices: str
    ) -> list[tuple[int, Any, str]]:
        """The devices ``CUDA_VISIBLE_DEVICES`` names, in its order, as CUDA reads it: indices
        or (prefixes of) UUIDs, comma-separated, up to the first entry that names none. An
        index is taken as NVML's, which is CUDA's with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` and
        on a node of one GPU model."""
        by_index = {device[0]: device for device in opened}
        chosen: list[tuple[int, Any, str]] = []
        for entry in (part.strip() for part in visible_devices.split(",")):
            found = by_index.get(int(entry)) if entry.isdigit() else self._by_uuid(opened, entry)
            if found is None:
                break  # CUDA ignores this entry and every one after it
            if found not in chosen:
                chosen.append(found)
        return chosen

    def _by_uuid(
        self, opened: list[tuple[int, Any, str]], prefix: str
    ) -> tuple[int, Any, str] | None:
        if not prefix.startswith("GPU-"):
            return None  # MIG-… instances are not read (see docs/telemetry.md)
        for device in opened:
            with contextlib.suppress(self._error, AttributeError):
                if _text(self._nvml.nvmlDeviceGetUUID(device[1])).startswith(prefix):
                    return device
        return None

    def read(self, t: float, plugins: Mapping[str, PluginTree]) -> GpuReading:
        """Memory and utilisation per device, and GPU memory per plugin process tree."""
        devices: list[DeviceSample] = []
        per_device_processes: list[ProcessMemory | None] = []
        for index, handle, name in zip(self._indices, self._handles, self._names, strict=True):
            used_bytes, total_bytes = self._memory(handle)
            devices.append(DeviceSample(index, name, used_bytes, total_bytes, self._util(handle)))
            per_device_processes.append(self.device_processes(handle))
        listed = {pid for processes in per_device_processes if processes for pid in processes}
        foreign = any(not self._pid_visible(pid) for pid in listed)
        plugin_memory = {
            name: (
                None
                if foreign and listed.isdisjoint(tree.pids)
                else attribute_memory(tree.pids, per_device_processes)
            )
            for name, tree in plugins.items()
        }
        return GpuReading(
            tuple(devices),
            plugin_memory,
            attribution_problem=FOREIGN_PIDS_PROBLEM if foreign else None,
        )

    def close(self) -> None:
        """Shut NVML down (once)."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        with contextlib.suppress(self._error):
            self._nvml.nvmlShutdown()

    # -- per device ---------------------------------------------------------------------------

    def _memory(self, handle: Any) -> tuple[int | None, int | None]:
        """(used, total) bytes: the v2 struct where offered (its ``used`` excludes memory the
        driver reserves, matching nvidia-smi), else v1; (None, None) when not supported."""
        nvml = self._nvml
        if self._memory_v2:
            try:
                info = nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
                return _known(info.used), _known(info.total)
            except TypeError:
                self._memory_v2 = False
            except self._error as error:
                if not self._is_missing_function(error):
                    return None, None
                self._memory_v2 = False
        try:
            info = nvml.nvmlDeviceGetMemoryInfo(handle)
        except self._error:
            return None, None
        return _known(info.used), _known(info.total)

    def _util(self, handle: Any) -> int | None:
        try:
            return _known(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except self._error:
            return None

    def device_processes(self, handle: Any) -> ProcessMemory | None:
        """Compute and graphics processes on a device, by pid; None when the compute list
        cannot be read (refused under MIG or for permission): CUDA processes are listed
        there, so the graphics list alone, empty on a data-centre card, would read as 0."""
        merged: ProcessMemory = {}
        for kind in _PROCESS_LIST_FUNCTIONS:
            listed = self._process_list(kind, handle)
            if listed is None:
                if kind == "compute":
                    return None
                continue
            for process in listed:
                pid = int(process.pid)
                used = _known(getattr(process, "usedGpuMemory", None))
                if pid in merged:
                    # A "C+G" process is in both lists with the same figure; keep a known one.
                    previous = merged[pid]
                    used = previous if used is None else max(used, previous or 0)
                merged[pid] = used
        return merged

    def _process_list(self, kind: str, handle: Any) -> list[Any] | None:
        """The newest versioned function the library and driver both offer, remembered."""
        if kind in self._process_function:
            chosen = self._process_function[kind]
            if chosen is None:
                return None
            try:
                return list(chosen(handle))
            except self._error:
                return None
        for name in _PROCESS_LIST_FUNCTIONS[kind]:
            function = getattr(self._nvml, name, None)
            if function is None:
                continue
            try:
                listed = list(function(handle))
            except self._mismatch:
                continue
            except self._error as error:
                if self._is_missing_function(error):
                    continue
                # Supported in principle but refused now (MIG, permission): try again later.
                return None
            self._process_function[kind] = function
            return listed
        self._process_function[kind] = None
        return None

    def _is_missing_function(self, error: BaseException) -> bool:
        code = getattr(error, "value", None)
        return code in (
            _code(self._nvml, "NVML_ERROR_FUNCTION_NOT_FOUND"),
            _code(self._nvml, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH"),
        )


def attribute_memory(pids: Any, per_device_processes: list[ProcessMemory | None]) -> int | None:
    """GPU bytes of a process tree over all devices; None when any part is unknown.

    A pid absent from a device's lists uses no memory there (a known zero); a listed pid
    whose figure is "N/A", or a device whose lists can't be read, makes the total unknown:
    a partial sum would look like a measurement and understate.
    """
    total_bytes = 0
    for processes in per_device_processes:
        if processes is None:
            return None
        for pid in pids:
            if pid not in processes:
                continue
            used = processes[pid]
            if used is None:
                return None
            total_bytes += used
    return total_bytes


def _pid_visible(pid: int) -> bool:
    """Whether ``pid`` is a process of this pid namespace."""
    return bool(psutil.pid_exists(pid))


def _known(value: Any) -> int | None:
    if value is None:
        return None
    number = int(value)
    if number < 0 or number == _NOT_AVAILABLE_ULONGLONG or number == 2**32 - 1:
        return None
    return number


def _code(module: Any, name: str) -> int | None:
    value = getattr(module, name, None)
    return value if isinstance(value, int) else None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
