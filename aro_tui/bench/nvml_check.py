"""Check NVML figures against nvidia-smi and torch on a GPU machine (not run without a GPU).

``python -m aro_tui.bench.nvml_check [--mib 1024]`` allocates ``--mib`` MiB with torch on
each CUDA device (when torch is installed), then prints, per device, used/total memory from
the NVML adapter, from ``nvidia-smi --query-gpu``, and this process's GPU memory from the
adapter, from ``nvidia-smi --query-compute-apps`` and ``torch.cuda.memory_reserved()``.
The per-process figures should agree within the CUDA context's overhead (a few hundred MiB
above ``memory_reserved``); device used should match nvidia-smi within a few MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from typing import Any

from aro_tui.core.telemetry.gpu import NoGpu, PluginTree
from aro_tui.core.telemetry.nvml import open_nvml

MIB = 1024**2


def _smi(query: str, kind: str = "--query-gpu") -> list[list[str]]:
    if shutil.which("nvidia-smi") is None:
        return []
    result = subprocess.run(
        ["nvidia-smi", f"{kind}={query}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return [[cell.strip() for cell in line.split(",")] for line in result.stdout.splitlines()]


def _torch_allocate(mib: int) -> tuple[Any, list[Any]]:
    try:
        import torch
    except ImportError:
        return None, []
    if not torch.cuda.is_available():
        return torch, []
    held = [
        torch.empty(mib * MIB, dtype=torch.uint8, device=f"cuda:{index}")
        for index in range(torch.cuda.device_count())
    ]
    torch.cuda.synchronize()
    return torch, held


def main(argv: list[str] | None = None) -> int:
    """Print the three sources side by side; exit 2 when there is no GPU to check."""
    parser = argparse.ArgumentParser(description="NVML vs nvidia-smi vs torch")
    parser.add_argument("--mib", type=int, default=1024, help="MiB to allocate per device")
    args = parser.parse_args(argv)
    backend = open_nvml()
    if isinstance(backend, NoGpu):
        print(f"no GPU: {backend.reason}")
        return 2
    torch, held = _torch_allocate(args.mib)
    time.sleep(1.0)  # let the driver's per-process accounting catch up
    pid = os.getpid()
    reading = backend.read(time.time(), {"self": PluginTree(pids=(pid,))})
    smi_devices = _smi("index,name,memory.used,memory.total")
    smi_apps = _smi("pid,gpu_uuid,used_memory", "--query-compute-apps")
    print(f"backend: {backend.description}; torch: {'yes' if torch else 'not installed'}")
    print(f"{'device':<28}{'NVML used/total MiB':>24}{'nvidia-smi used/total':>26}")
    for device in reading.devices:
        smi = next((row for row in smi_devices if row and row[0] == str(device.index)), None)
        nvml_text = f"{_mib(device.memory_used_bytes)}/{_mib(device.memory_total_bytes)}"
        smi_text = "—" if smi is None else f"{smi[2]}/{smi[3]}"
        print(f"{device.index}: {device.name:<25}{nvml_text:>24}{smi_text:>26}")
    own_smi = sum(
        int(row[2]) for row in smi_apps if row and row[0] == str(pid) and row[2].isdigit()
    )
    reserved = (
        sum(torch.cuda.memory_reserved(i) for i in range(torch.cuda.device_count()))
        if torch is not None and held
        else None
    )
    print(f"this process (pid {pid}):")
    print(f"  NVML adapter:                 {_mib(reading.plugin_memory_bytes.get('self'))} MiB")
    if reading.attribution_problem is not None:
        print(f"    ({reading.attribution_problem})")
    print(f"  nvidia-smi compute-apps:      {own_smi if smi_apps else '—'} MiB")
    print(f"  torch.cuda.memory_reserved(): {_mib(reserved)} MiB (allocated {args.mib} MiB each)")
    backend.close()
    return 0


def _mib(value: int | None) -> str:
    return "—" if value is None else str(round(value / MIB))


if __name__ == "__main__":
    raise SystemExit(main())
