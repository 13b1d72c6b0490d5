"""The NVML adapter against a stand-in for the driver that behaves like ``pynvml``."""

from __future__ import annotations

import string
import threading
import types
from collections.abc import Callable
from typing import Any

import pytest

from aro_tui.core.telemetry import (
    NoGpu,
    NvmlGpu,
    PluginTree,
    Sampler,
    TelemetrySample,
    open_nvml,
)
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


@pytest.fixture(autouse=True)
def _no_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def nvml(module: Any, **options: Any) -> NvmlGpu:
    """An adapter on ``module`` that takes every pid the fake lists for one of this
    namespace (the fake's pids are not this machine's processes)."""
    options.setdefault("pid_visible", lambda pid: True)
    return NvmlGpu(module, **options)


def test_devices_memory_utilisation_and_the_plugin_trees_gpu_memory() -> None:
    gpu = nvml(fake_pynvml())
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
    nvml(module).read(0.0, TREE)
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
    gpu = nvml(module)
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
    reading = nvml(module).read(0.0, TREE)
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
    reading = nvml(module).read(0.0, {**TREE, "other": PluginTree(pids=(555,))})
    assert reading.plugin_memory_bytes == {"plugin": None, "other": 0}


def test_process_lists_refused_under_mig_mean_unknown() -> None:
    module = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses_v3=raising("NVML_ERROR_NO_PERMISSION"),
        nvmlDeviceGetGraphicsRunningProcesses_v3=raising("NVML_ERROR_NOT_SUPPORTED"),
    )
    reading = nvml(module).read(0.0, TREE)
    assert reading.plugin_memory_bytes == {"plugin": None}
    assert [d.memory_used_bytes for d in reading.devices] == [3 * GIB, 4 * GIB]


def test_a_refused_compute_list_is_unknown_though_the_graphics_list_is_empty() -> None:
    """Under MIG (or without permission) the compute list is refused while the graphics list
    answers empty, as on a data-centre card: the plugin read 0 MiB, not unknown."""
    module = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses_v3=raising("NVML_ERROR_NOT_SUPPORTED"),
        nvmlDeviceGetGraphicsRunningProcesses_v3=lambda handle: [],
    )
    assert nvml(module).read(0.0, TREE).plugin_memory_bytes == {"plugin": None}


def test_in_a_container_the_plugins_gpu_memory_is_unknown_and_says_why() -> None:
    """NVML gives the host's pids: in a container no plugin pid matches, and every plugin
    read 0 MiB while the device grew."""
    host_pid = 100 + 300_000  # what NVML calls the plugin's pid 100

    def compute(handle: int) -> list[Proc]:
        return [Proc(host_pid, 1 * GIB)] if handle == 0 else []

    module = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses_v3=compute,
        nvmlDeviceGetGraphicsRunningProcesses_v3=lambda handle: [],
    )
    in_container = nvml(module, pid_visible=lambda pid: pid < 300_000)
    reading = in_container.read(0.0, TREE)
    assert reading.plugin_memory_bytes == {"plugin": None}
    assert reading.attribution_problem is not None
    assert "container" in reading.attribution_problem
    # On the host, the same lists attribute the memory and raise no problem.
    on_host = nvml(module).read(0.0, {"plugin": PluginTree(pids=(host_pid,))})
    assert on_host.plugin_memory_bytes == {"plugin": 1 * GIB}
    assert on_host.attribution_problem is None


def test_the_attribution_problem_reaches_the_sample_and_its_recording() -> None:
    module = fake_pynvml(nvmlDeviceGetGraphicsRunningProcesses_v3=lambda handle: [])
    backend = nvml(module, pid_visible=lambda pid: False)
    sampler = Sampler(lambda sample: None, backend_factory=lambda: backend)
    sample = sampler.sample_once()
    assert sample.gpu_attribution_problem is not None
    assert TelemetrySample.from_json(sample.to_json()) == sample


def test_a_device_nvml_refuses_is_left_out_and_the_others_are_read() -> None:
    """NVML counts every card of a node, also those a cgroup keeps from this job
    (NO_PERMISSION): the whole GPU view was dropped."""

    def handle_by_index(index: int) -> int:
        if index == 0:
            raise _NVMLError(NVML_ERROR_CODES["NVML_ERROR_NO_PERMISSION"])
        return index

    reading = nvml(fake_pynvml(nvmlDeviceGetHandleByIndex=handle_by_index)).read(0.0, TREE)
    assert [(d.index, d.name) for d in reading.devices] == [(1, "Fake GPU 1")]
    assert reading.plugin_memory_bytes == {"plugin": 2 * GIB}


def test_no_device_nvml_opens_is_a_reason_naming_them() -> None:
    module = fake_pynvml(nvmlDeviceGetHandleByIndex=raising("NVML_ERROR_NO_PERMISSION"))
    backend = open_nvml(module)
    assert isinstance(backend, NoGpu)
    assert backend.reason.startswith("NVML could not open any device (GPU0: NVML error 4")


def test_a_driver_without_the_versioned_process_lists_keeps_the_device_figures() -> None:
    """pynvml's unversioned function raises NVMLLibraryMismatchError, a plain Exception,
    where the driver lacks the function it wraps: it escaped, and every figure was lost."""

    class NVMLLibraryMismatchError(Exception):
        pass

    def mismatch(handle: int) -> list[Proc]:
        raise NVMLLibraryMismatchError("Unversioned function called")

    module = fake_pynvml(
        nvmlDeviceGetComputeRunningProcesses_v3=raising("NVML_ERROR_FUNCTION_NOT_FOUND"),
        nvmlDeviceGetComputeRunningProcesses_v2=raising("NVML_ERROR_FUNCTION_NOT_FOUND"),
        nvmlDeviceGetComputeRunningProcesses=mismatch,
    )
    module.NVMLLibraryMismatchError = NVMLLibraryMismatchError
    reading = nvml(module).read(0.0, TREE)
    assert [d.memory_used_bytes for d in reading.devices] == [3 * GIB, 4 * GIB]
    assert reading.plugin_memory_bytes == {"plugin": None}


@pytest.mark.parametrize(
    ("visible", "indices"),
    [("1", [1]), ("1,0", [1, 0]), ("GPU-bbb", [1]), ("GPU-a", [0]), ("0,bad,1", [0])],
)
def test_only_the_devices_cuda_visible_devices_names_are_read(
    visible: str, indices: list[int]
) -> None:
    """On a node of eight cards a plugin run with CUDA_VISIBLE_DEVICES=3 uses one: the chart
    showed all eight, labelled by NVML's index, and summed the plugin over all of them."""
    module = fake_pynvml(nvmlDeviceGetUUID=lambda handle: ("GPU-aaa", "GPU-bbb")[handle])
    gpu = nvml(module, visible_devices=visible)
    reading = gpu.read(0.0, TREE)
    assert [d.index for d in reading.devices] == indices
    assert f"CUDA_VISIBLE_DEVICES={visible}" in gpu.description
    expected = {0: 1 * GIB, 1: 2 * GIB}  # pid 100 on device 0, pid 101 on device 1
    assert reading.plugin_memory_bytes == {"plugin": sum(expected[i] for i in indices)}


def test_cuda_visible_devices_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert [d.index for d in nvml(fake_pynvml()).read(0.0, TREE).devices] == [1]


@pytest.mark.parametrize("visible", ["", "-1", "7"])
def test_cuda_visible_devices_that_names_no_device_is_a_reason(visible: str) -> None:
    backend = open_nvml(fake_pynvml(), visible_devices=visible)
    assert isinstance(backend, NoGpu)
    assert f"CUDA_VISIBLE_DEVICES={visible!r} names none of the 2 GPU(s)" in backend.reason


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
    gpu = nvml(module)
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
