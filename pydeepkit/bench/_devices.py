"""Where a benchmark or demo runs: backend availability, array placement, synchronisation.

Shared by ``pydeepkit bench`` and ``pydeepkit demo``. torch and cupy are imported
only here and only when asked for, so ``import pydeepkit`` never needs them.
"""
from __future__ import annotations

import importlib

import numpy as np

from .. import _ext

BACKENDS = ("cpu", "emu", "cuda")


def backend_status(backend: str) -> str | None:
    """None if ``backend`` can run here, else the reason it cannot."""
    try:
        module = _ext.module(backend)
    except _ext.BackendUnavailable as exc:
        return str(exc)
    if backend == "cuda":
        report = module.info()
        if not report.get("device_count"):
            return "no CUDA device (" + str(report.get("device_error", "device count is 0")) + ")"
        try:
            importlib.import_module("cupy")
        except ImportError:
            return "backend 'cuda' needs cupy (pip install 'pydeepkit[cuda]')"
    return None


def our_threads() -> int:
    """Number of OpenMP threads of the CPU kernels (1 if the CPU extension is missing)."""
    try:
        return int(_ext.module("cpu").info().get("omp_threads", 1))
    except _ext.BackendUnavailable:
        return 1


def load_torch(threads: int | None = None):
    """The torch module with ``threads`` intra-op threads, or None if torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    if threads:
        torch.set_num_threads(threads)
    return torch


class Device:
    """Placement of inputs for ours and for torch on one backend, and synchronisation.

    cpu and emu use numpy arrays (torch on the CPU); cuda uses cupy arrays (torch on
    the GPU when torch has CUDA, otherwise no torch comparison).
    """

    def __init__(self, backend: str, torch=None):
        self.backend = backend
        self.cupy = importlib.import_module("cupy") if backend == "cuda" else None
        self.torch = torch
        if torch is not None and backend == "cuda" and not torch.cuda.is_available():
            self.torch = None
        self.torch_device = "cuda" if backend == "cuda" else "cpu"

    def ours_input(self, array: np.ndarray):
        """``array`` as the array type our ops take on this backend."""
        return self.cupy.asarray(array) if self.cupy is not None else array

    def torch_input(self, array: np.ndarray, memory_format: str = "contiguous_format"):
        """``array`` as a torch tensor on this backend's device in the given memory format."""
        torch = self.torch
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.torch_device)
        return tensor.contiguous(memory_format=getattr(torch, memory_format))

    def sync(self) -> None:
        """Waits for queued GPU work of both libraries (no-op on the CPU)."""
        if self.cupy is not None:
            self.cupy.cuda.get_current_stream().synchronize()
            if self.torch is not None:
                self.torch.cuda.synchronize()

    def to_numpy(self, value):
        """numpy version of an output (arrays, tensors, or tuples of them)."""
        if isinstance(value, (tuple, list)):
            return type(value)(self.to_numpy(v) for v in value)
        if self.torch is not None and isinstance(value, self.torch.Tensor):
            return value.detach().cpu().contiguous().numpy()
        if self.cupy is not None and isinstance(value, self.cupy.ndarray):
            return self.cupy.asnumpy(value)
        return np.asarray(value)
