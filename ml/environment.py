"""What a training run ran on: library, CUDA, cuDNN and driver versions, GPUs, and live GPU telemetry.

Recorded on every MLflow training run and in every release bundle, so that a model can be traced to the exact
software and hardware, and ``ct reproduce`` can say what differs. GPU utilisation comes from NVML through
``torch.cuda.utilization`` (package ``nvidia-ml-py``); without NVML it is left out and the log says so once,
while memory figures come from PyTorch's allocator and need nothing extra.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess

logger = logging.getLogger(__name__)

_nvml_missing_reported = False


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def driver_version() -> str:
    """The NVIDIA driver version, from NVML when installed, else ``nvidia-smi``; ``none`` without a driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
            return version.decode() if isinstance(version, bytes) else str(version)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - NVML absent or no driver: fall through to nvidia-smi
        pass
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return result.stdout.splitlines()[0].strip() or "unknown"
    except (OSError, subprocess.SubprocessError, IndexError):
        return "none"


def torch_environment(device: str) -> dict[str, str]:
    """torch, CUDA, cuDNN and driver versions, GPU name and count (strings, ready for MLflow tags)."""
    import torch

    info = {
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "machine": platform.machine(),
        "cpu_count": str(cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
    }
    if device == "cuda" and torch.cuda.is_available():
        info.update(
            {
                "cudnn": str(torch.backends.cudnn.version()),
                "driver": driver_version(),
                "gpu_count": str(torch.cuda.device_count()),
                "gpu_name": torch.cuda.get_device_name(0),
                "gpu_capability": ".".join(map(str, torch.cuda.get_device_capability(0))),
            }
        )
    else:
        info.update({"cudnn": "none", "driver": "none", "gpu_count": "0", "gpu_name": "none"})
    return info


def gpu_telemetry(device: str) -> dict[str, float]:
    """GPU utilisation (%) and memory (MiB) now; empty on the CPU. Peak memory is reset after each read."""
    global _nvml_missing_reported
    if device != "cuda":
        return {}
    import torch

    figures = {
        "gpu_memory_peak_mib": torch.cuda.max_memory_allocated() / 2**20,
        "gpu_memory_reserved_mib": torch.cuda.memory_reserved() / 2**20,
    }
    torch.cuda.reset_peak_memory_stats()
    try:
        figures["gpu_utilisation_pct"] = float(torch.cuda.utilization())
    except Exception as error:  # noqa: BLE001 - NVML missing or refused: telemetry is optional
        if not _nvml_missing_reported:
            logger.info("GPU utilisation not logged (%s); install nvidia-ml-py on the GPU worker for it", error)
            _nvml_missing_reported = True
    return figures
