"""The NVML adapter against a stand-in for the driver that behaves like ``pynvml``."""

from __future__ import annotations

import string
import threading
import types
from collections.abc import Callable
from typing import Any

import pytest

from aro_tui.core.telemetry import NoGpu, NvmlGpu, PluginTree, Sampler, open_nvml
from aro_tui.core.telemetry.nvml import NvmlUnavailable

GIB = 1024**3
MIB = 1024**2

NVML_ERROR_CODES = {
    "NVML_ERROR_UNINITIALIZED": 1,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_NOT_FOUND": 6,
    "NVML_ERROR_INSUFFICIENT_SIZE": 7,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
    "NVML_ERROR_FUNCTION_NOT_FOUND": 13,
    "NVML_ERROR_GPU_IS_LOST": 15,
    "NVML_ERROR_ARGUMENT_VERSION_MISMATCH": 25,
    "NVML_ERROR_UNKNOWN": 999,
}
NOT_AVAILABLE = 2**64 - 1  # NVML_VALUE_NOT_AVAILABLE_ulonglong.value


class _NVMLError(Exception):
    """Like pynvml.NVMLError: ``NVMLError(code)`` builds the code's subclass."""

    _by_code: dict[int, type[_NVMLError]] = {}  # noqa: RUF012
    value: int

    def __new__(cls, value: int) -> _NVMLError:
        if cls is _NVMLError:
            cls = _NVMLError._by_code.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int) -> None:
        super().__init__(value)

    def __str__(self) -> str:
        return f"NVML error {self.value}"


class Proc:
    """Like pynvml's friendly process object."""

    def __init__(self, pid: int, used: int | None) -> None:
        self.pid = pid
        self.usedGpuMemory = used


class Mem:
    def __init__(self, used: int, total: int) -> None:
        self.used, self.total, self.free = used, total, total - used


def fake_pynvml(**overrides: Any) -> types.SimpleNamespace:
    """Two devices; overrides replace functions (or drop them with None)."""
    module = types.SimpleNamespace(**NVML_ERROR_CODES)
    module.NVMLError = _NVMLError
    for name, code in NVML_ERROR_CODES.items():
        class_name = "NVMLError_" + string.capwords(name.replace("NVML_ERROR_", ""), "_").replace(
            "_", ""
        )
        subclass = type(class_name, (_NVMLError,), {})
        _NVMLError._by_code[code] = subclass
        setattr(module, class_name, subclass)
    module.nvmlMemory_v2 = 0x02000028
    module.calls = []

    def call(name: str) -> None:
        module.calls.append(name)

    def init() -> None:
        call("init")

    def memory(handle: int, version: int | None = None) -> Mem:
        call(f"memory_v2:{handle}" if version else f"memory:{handle}")
        return Mem(used=(3 + handle) * GIB, total=16 * GIB)

    def compute_v3(handle: int) -> list[Proc]:
        call("compute_v3")
        return [Proc(100, 1 * GIB), Proc(999, 5 * GIB)] if handle == 0 else [Proc(101, 2 * GIB)]

    def graphics_v3(handle: int) -> list[Proc]:
        call("graphics_v3")
        return [Proc(100, 1 * GIB)] if handle == 0 else []

    functions: dict[str, Callable[..., Any] | None] = {
        "nvmlInit": init,
        "nvmlShutdown": lambda: call("shutdown"),
        "nvmlDeviceGetCount": lambda: 2,
        "nvmlDeviceGetHandleByIndex": lambda index: index,
        "nvmlDeviceGetName": lambda handle: f"Fake GPU {handle}",
        "nvmlSystemGetDriverVersion": lambda: "550.54",
        "nvmlDeviceGetMemoryInfo": memory,
        "nvmlDeviceGetUtilizationRates": lambda handle: types.SimpleNamespace(gpu=40, memory=10),
        "nvmlDeviceGetComputeRunningProcesses_v3": compute_v3,
        "nvmlDeviceGetComputeRunningProcesses_v2": compute_v3,
        "nvmlDeviceGetComputeRunningProcesses": compute_v3,
        "nvmlDeviceGetGraphicsRunningProcesses_v3": graphics_v3,
        "nvmlDeviceGetGraphicsRunningProcesses_v2": graphics_v3,
        "nvmlDeviceGetGraphicsRunningProcesses": graphics_v3,
    }
    functions.update(overrides)
    for name, function in functions.items():
        if function is not None:
            setattr(module, name, function)
    return module


def raising(code_name: str) -> Callable[..., Any]:
    def function(*args: Any, **kwargs: Any) -> Any:
        raise _NVMLError(NVML_ERROR_CODES[code_name])

    return function


TREE = {"plugin": PluginTree(pids=(100, 101, 102))}


def test_devices_memory_utilisation_and_the_plugin_trees_gpu_memory() -> None:
    gpu = NvmlGpu(fake_pynvml())
    reading = gpu.read(0.0, TREE)
    assert [d.name for d in reading.devices] == ["Fake GPU 0", "Fake GPU 1"]
    assert [d.memory_used_bytes for d in reading.devices] == [3 * GIB, 4 * GIB]
    assert [d.memory_total_bytes for d in reading.devices] == [16 * GIB, 16 * GIB]
    assert [d.utilization_percent for d in reading.devices] == [40, 40]
    # pid 100 is in both lists of device 0 (counted once), 101 on device 1; 999 isn't ours.
    assert reading.plugin_memory_bytes == {"plugin": 3 * GIB}
    assert gpu.description == "NVML 550.54"


def test_versioned_memory_call_is_used_where_offered() -> None:
    module = fake_pynvml()
    NvmlGpu(module).read(0.0, TREE)
    assert "memory_v2:0" in module.calls
    assert "memory:0" not in module.calls


def test_falls_back_when_the_driver_lacks_versioned_functions() -> None:
    module = fake_pynvml()
    plain_memory = module.nvmlDeviceGetMemoryInfo

    def memory(handle: int, version: int | None = None) -> Mem:
        if version:
            raise _NVMLError(NVML_ERROR_CODES["NVML_ERROR_FUNCTION_NOT_FOUND"])
        return plain_memory(handle)  # type: ignore[no-any-return]

    module.nvmlDeviceGetMemoryInfo = memory
    del module.nvmlDeviceGetComputeRunningProcesses_v3  # an older nvidia-ml-py
    module.nvmlDeviceGetComputeRunningProcesses_v2 = raising("NVML_ERROR_FUNCTION_NOT_FOUND")
    module.nvmlDeviceGetGraphicsRunningProcesses_v3 = raising("NVML_ERROR_FUNCTION_NOT_FOUND")
    module.nvmlDeviceGetGraphicsRunningProcesses_v2 = raising("NVML_ERROR_FUNCTION_NOT_FOUND")
    gpu = NvmlGpu(module)
    first = gpu.read(0.0, TREE)
    second = gpu.read(1.0, TREE)
    assert [d.memory_used_bytes for d in first.devices] == [3 * GIB, 4 * GIB]
    assert first.plugin_memory_bytes == second.plugin_memory_bytes == {"plugin": 3 * GIB}
    assert "memory:1" in module.calls


def test_unified_memory_gpu_reports_unknown_not_zero_and_does_not_crash() -> None:
    module = fake_pynvml(
        nvmlDeviceGetMemoryInfo=raising("NVML_ERROR_NOT_SUPPORTED"),
        nvmlDeviceGetUtilizationRates=raising("NVML_ERROR_NOT_SUPPORTED"),
    )
    reading = NvmlGpu(module).read(0.0, TREE)
    assert [d.memory_used_bytes for d in reading.devices] == [None, None]
    assert [d.memory_total_bytes for d in reading.devices] == [None, None]
    assert [d.utilization_percent for d in reading.devices] == [None, None]
    assert reading.plugin_memory_bytes == {"plugin": 3 * GIB}


@pytest.mark.parametrize("not_available", [None, NOT_AVAILABLE])
def test_per_process_not_available_makes_the_trees_memory_unknown(
    not_available: int | None,
) -> None:
    def compute(handle: int) -> list[Proc]:
        return [Proc(100, not_available)] if handle == 0 else []

    module = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses_v3=compute,
        nvmlDeviceGetGraphicsRunningProcesses_v3=lambda handle: [],
    )
    reading = NvmlGpu(module).read(0.0, {**TREE, "other": PluginTree(pids=(555,))})
    assert reading.plugin_memory_bytes == {"plugin": None, "other": 0}


def test_process_lists_refused_under_mig_mean_unknown() -> None:
    module = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses_v3=raising("NVML_ERROR_NO_PERMISSION"),
        nvmlDeviceGetGraphicsRunningProcesses_v3=raising("NVML_ERROR_NOT_SUPPORTED"),
    )
    reading = NvmlGpu(module).read(0.0, TREE)
    assert reading.plugin_memory_bytes == {"plugin": None}
    assert [d.memory_used_bytes for d in reading.devices] == [3 * GIB, 4 * GIB]


@pytest.mark.parametrize(
    ("code_name", "words"),
    [
        ("NVML_ERROR_LIBRARY_NOT_FOUND", "library not found"),
        ("NVML_ERROR_DRIVER_NOT_LOADED", "driver not loaded"),
        ("NVML_ERROR_NO_PERMISSION", "no permission"),
    ],
)
def test_init_failure_becomes_no_gpu_with_the_reason(code_name: str, words: str) -> None:
    backend = open_nvml(fake_pynvml(nvmlInit=raising(code_name)))
    assert isinstance(backend, NoGpu)
    assert words in backend.reason.lower()
    assert backend.read(0.0, TREE).unavailable_reason == backend.reason


def test_no_device_is_a_reason_and_nvml_is_shut_down() -> None:
    module = fake_pynvml(nvmlDeviceGetCount=lambda: 0)
    backend = open_nvml(module)
    assert isinstance(backend, NoGpu)
    assert backend.reason == "no NVIDIA GPU found"
    assert module.calls[-1] == "shutdown"


def test_a_lost_gpu_mid_session_reads_unknown() -> None:
    module = fake_pynvml()
    gpu = NvmlGpu(module)
    module.nvmlDeviceGetMemoryInfo = raising("NVML_ERROR_GPU_IS_LOST")
    reading = gpu.read(0.0, TREE)
    assert [d.memory_used_bytes for d in reading.devices] == [None, None]


def test_sampler_closes_nvml_when_stopped() -> None:
    module = fake_pynvml()
    sampled = threading.Event()
    sampler = Sampler(lambda sample: sampled.set(), backend_factory=lambda: NvmlGpu(module))
    sampler.start()
    assert sampled.wait(timeout=5)
    assert sampler.stop(timeout_s=5)
    assert module.calls.count("shutdown") == 1


def test_real_pynvml_on_a_machine_without_a_gpu_gives_a_clear_reason() -> None:
    try:
        gpu = NvmlGpu()
    except NvmlUnavailable as error:
        assert error.reason  # e.g. "NVML library not found (libnvidia-ml.so.1): ..."
        assert "NVML" in error.reason or "NVIDIA" in error.reason
        backend = open_nvml()
        assert isinstance(backend, NoGpu)
        assert backend.reason == error.reason
        return
    gpu.close()
    pytest.skip("this machine has a working NVML; the no-GPU path can't be exercised here")
