"""Which array library, backend and stream a call runs on, and zero-copy kernel views.

An op call resolves its arrays once (:func:`resolve`), then asks the resulting
:class:`Call` for contiguous kernel views of its inputs and for outputs allocated
by the caller's own array library. numpy arrays run on the ``cpu`` backend (or
``emu``), cupy arrays on ``cuda``; torch tensors are viewed through DLPack as numpy
(CPU) or cupy (CUDA) arrays and their outputs are allocated by torch, so the
caller gets torch tensors back and no data is copied.
"""
from __future__ import annotations

import sys

import numpy as np

from . import _ext

BACKENDS = ("cpu", "emu", "cuda")
_DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1, np.dtype(np.int64): 2}
_DTYPE_NAMES = {dt: dt.name for dt in _DTYPE_CODES}


def library_of(arr) -> str | None:
    """'numpy', 'torch' or 'cupy' for an array of that library, else None."""
    if isinstance(arr, np.ndarray):
        return "numpy"
    mod = type(arr).__module__.split(".")[0]
    if mod == "torch" and "torch" in sys.modules and isinstance(arr, sys.modules["torch"].Tensor):
        return "torch"
    if mod == "cupy" and "cupy" in sys.modules and isinstance(arr, sys.modules["cupy"].ndarray):
        return "cupy"
    return None


def describe(arr) -> str:
    """A short description of an argument for error messages ('torch tensor on cpu', ...)."""
    lib = library_of(arr)
    if lib == "torch":
        return f"torch tensor on {arr.device}"
    if lib == "cupy":
        return f"cupy array on cuda:{arr.device.id}"
    if lib == "numpy":
        return "numpy array"
    return "None" if arr is None else type(arr).__name__


class Call:
    """One op call's resolved context: library, backend, extension module, stream."""

    def __init__(self, op: str, library: str, backend: str, torch_device=None, cuda_device: int | None = None):
        self.op = op
        self.library = library
        self.backend = backend
        self.torch_device = torch_device
        self.cuda_device = cuda_device
        self.ext = _ext.module(backend)
        self.xp = _cupy() if backend == "cuda" else np

    # -- views -------------------------------------------------------------------------
    def view(self, arr, name: str, dtypes=("float32", "float64")):
        """numpy/cupy view of ``arr`` (no copy), dtype-checked; ``name`` is used in errors."""
        if self.library == "torch":
            got = str(arr.dtype).removeprefix("torch.")
            if got in dtypes:
                return self.xp.from_dlpack(arr.detach())
        else:
            got = _DTYPE_NAMES.get(arr.dtype) or str(arr.dtype)
            if got in dtypes:
                return arr
        raise TypeError(f"{self.op}: {name} must have dtype {' or '.join(dtypes)}, got {got}")

    def contiguous(self, view):
        """C-contiguous version of a view (a copy only when the view is strided)."""
        return self.xp.ascontiguousarray(view)

    # -- outputs -------------------------------------------------------------------------
    def empty(self, shape, dtype):
        """(native, view): an output allocated by the caller's library and its kernel view."""
        shape = tuple(int(s) for s in shape)
        if self.library == "torch":
            torch = sys.modules["torch"]
            native = torch.empty(shape, dtype=getattr(torch, np.dtype(dtype).name), device=self.torch_device)
            return native, self.xp.from_dlpack(native)
        native = self.xp.empty(shape, dtype=dtype)
        return native, native

    def result(self, value):
        """``value`` (computed by numpy/cupy on kernel views) as an array of the caller's library.

        Ops that finish with an array-library expression return through this, so torch
        callers get a torch tensor on their device (one copy, into torch's allocator).
        """
        if self.library != "torch":
            return value
        out, view = self.empty(value.shape, value.dtype)
        view[...] = value
        return out

    # -- kernel arguments -----------------------------------------------------------------
    def ptr(self, view) -> int:
        if view is None:
            return 0
        return int(view.data.ptr) if self.backend == "cuda" else self.ext.data_address(view)

    @staticmethod
    def dtype_code(view) -> int:
        return _DTYPE_CODES[np.dtype(view.dtype)]

    @property
    def stream(self) -> int:
        if self.backend != "cuda":
            return 0
        if self.library == "torch":
            return int(sys.modules["torch"].cuda.current_stream(self.torch_device).cuda_stream)
        return int(self.xp.cuda.get_current_stream().ptr)

    def launch(self, fn, *args):
        """Runs an extension entry point on the call's device."""
        if self.backend == "cuda":
            with self.xp.cuda.Device(self.cuda_device):
                return fn(*args)
        return fn(*args)


def _cupy():
    try:
        import cupy
    except ImportError:
        raise _ext.BackendUnavailable("backend 'cuda' needs cupy (pip install 'pydeepkit[cuda]')") from None
    return cupy


def resolve(op: str, backend: str | None, optional: tuple = (), **arrays) -> Call:
    """Checks that all named arrays come from one library and device and picks the backend.

    ``backend=None`` follows the arrays (numpy/torch CPU -> 'cpu', cupy/torch CUDA ->
    'cuda'); 'emu' takes CPU arrays and runs the CUDA kernels on the emulator.
    Arrays named in ``optional`` may be None.
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be None or one of {BACKENDS}, got {backend!r}")
    library = device = None
    first = None
    for name, arr in arrays.items():
        if arr is None and name in optional:
            continue
        lib = library_of(arr)
        if lib is None:
            raise TypeError(f"{op}: {name} must be a numpy array, cupy array or torch tensor, got {describe(arr)}")
        dev = device_of(arr, lib)
        if library is None:
            library, device, first = lib, dev, name
        elif (lib, dev) != (library, device):
            raise TypeError(f"{op}: {name} is a {describe(arr)} but {first} is a {describe(arrays[first])}; "
                            "pass arrays of one library and device")
    on_gpu = device != "cpu"
    if backend is None:
        backend = "cuda" if on_gpu else "cpu"
    elif on_gpu != (backend == "cuda"):
        hint = "use backend='cuda'" if on_gpu else "cuda needs cupy arrays or CUDA tensors"
        raise ValueError(f"{op}: backend {backend!r} cannot run on a {describe(arrays[first])} ({hint})")
    torch_device = arrays[first].device if library == "torch" else None
    cuda_device = None
    if on_gpu:
        cuda_device = torch_device.index if library == "torch" else arrays[first].device.id
    return Call(op, library, backend, torch_device, cuda_device)


def device_of(arr, lib: str) -> str:
    """'cpu' or 'cuda:<i>' for an array of library ``lib``."""
    if lib == "numpy":
        return "cpu"
    if lib == "cupy":
        return f"cuda:{arr.device.id}"
    return "cpu" if arr.device.type == "cpu" else f"{arr.device.type}:{arr.device.index}"
