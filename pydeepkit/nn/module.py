"""Module: named parameters, buffers and submodules stored as arrays of the module's device, plus the
containers (Sequential, ModuleList, ModuleDict) and the state_dict machinery with torch's key names.

A module's device is 'cpu' (numpy arrays, CPU kernels), 'emu' (numpy arrays, the CUDA kernels on
the emulator) or 'cuda' (cupy arrays). Layers pass it to every op as ``backend=``, so a model on
'emu' runs every kernel through the emulator.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import _backend

__all__ = ["Module", "Sequential", "ModuleList", "ModuleDict", "Parameter", "StateDictError"]

_DEVICES = ("cpu", "emu", "cuda")


class Parameter:
    """Marks an array as a learnable parameter when assigned to a module attribute (as torch's):
    ``self.weight = Parameter(array)`` stores ``array`` itself (a numpy or cupy array); the
    marker is only read at assignment time."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


class StateDictError(KeyError):
    """load_state_dict found missing, unexpected or wrongly shaped keys (named in the message and in
    the missing / unexpected / mismatched attributes)."""

    def __init__(self, message, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.message, self.missing, self.unexpected, self.mismatched = message, list(missing), list(unexpected), \
            list(mismatched)

    def __str__(self):
        return self.message


def _xp(device):
    if device == "cuda":
        return _backend._cupy()
    return np


def to_host(arr):
    """A numpy array of a numpy / cupy array or torch tensor (a view when possible)."""
    lib = _backend.library_of(arr)
    if lib == "torch":
        t = arr.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.numpy()
    if lib == "cupy":
        return arr.get()
    return np.asarray(arr)


def _to_device(arr, device, dtype=None):
    if device == "cuda":
        cp = _backend._cupy()
        out = cp.asarray(arr if _backend.library_of(arr) != "torch" else to_host(arr))
    else:
        out = to_host(arr)
    if dtype is not None and out.dtype.kind == "f" and out.dtype != dtype:
        out = out.astype(dtype)
    return out


class Module:
    """Base class of every layer and model (torch.nn.Module's API, inference only).

    Attributes holding arrays wrapped in :class:`Parameter` become parameters, arrays set with
    :meth:`register_buffer` buffers, Module attributes submodules; all three appear in
    :meth:`state_dict` under dotted names (torchvision's key names in pydeepkit.models).

    Example:
        >>> m = pydeepkit.nn.Sequential(pydeepkit.nn.Linear(3, 2), pydeepkit.nn.ReLU())
        >>> sorted(m.state_dict())
        ['0.bias', '0.weight']
        >>> m(np.ones((4, 3), np.float32)).shape
        (4, 2)
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "device", "cpu")

    # -- attributes ----------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before assigning {name!r}")
        if isinstance(value, Parameter):
            self._drop(name)
            self._parameters[name] = value.data
        elif isinstance(value, Module):
            self._drop(name)
            self._modules[name] = value
        elif name in self._parameters:
            self._parameters[name] = value
        elif name in self._buffers:
            self._buffers[name] = value
        elif name in self._modules and value is None:
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            store.pop(name, None)
        self.__dict__.pop(name, None)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        self._drop(name)

    def register_buffer(self, name, value):
        """Stores ``value`` (an array or None) as a buffer: in state_dict, not a parameter."""
        self._drop(name)
        self._buffers[name] = value

    def register_parameter(self, name, value):
        """Stores ``value`` (an array or None) as a parameter."""
        self._drop(name)
        self._parameters[name] = value

    def add_module(self, name, module):
        self._drop(name)
        self._modules[str(name)] = module

    # -- calling ----------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args, **kwargs):
        if _DEPTH[0] == 0 and any(_backend.library_of(a) == "torch" for a in args):
            return _torch_call(self, args, kwargs)
        _DEPTH[0] += 1
        try:
            out = self.forward(*args, **kwargs)
        finally:
            _DEPTH[0] -= 1
        if _HOOKS:
            for hook in _HOOKS:
                hook(self, args, out)
        return out

    @property
    def backend(self):
        """The ``backend=`` the layer passes to the ops (its device)."""
        return self.device

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"({name}): {repr(m).replace(chr(10), chr(10) + '  ')}" for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    # -- traversal --------------------------------------------------------------------------
    def children(self):
        return (m for m in self._modules.values() if m is not None)

    def named_children(self):
        return ((n, m) for n, m in self._modules.items() if m is not None)

    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every submodule, depth first (the root is '')."""
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_parameters(self, prefix=""):
        for mname, m in self.named_modules(prefix):
            for name, p in m._parameters.items():
                if p is not None:
                    yield (f"{mname}.{name}" if mname else name), p

    def parameters(self):
        """Every parameter array (each once)."""
        return (p for _, p in self.named_parameters())

    def named_buffers(self, prefix=""):
        for mname, m in self.named_modules(prefix):
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mname}.{name}" if mname else name), b

    def buffers(self):
        return (b for _, b in self.named_buffers())

    def apply(self, fn):
        for m in self.modules():
            fn(m)
        return self

    # -- modes and devices ------------------------------------------------------------------
    def train(self, mode: bool = True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Inference mode: Dropout is the identity, BatchNorm uses its running statistics,
        GoogLeNet/Inception-v3 drop their auxiliary heads."""
        return self.train(False)

    def to(self, device=None, dtype=None):
        """Moves every parameter and buffer to ``device`` ('cpu', 'emu' or 'cuda') and/or casts the
        floating ones to ``dtype`` (np.float32 / np.float64); returns self."""
        if device is not None and device not in _DEVICES:
            raise ValueError(f"to: device must be one of {_DEVICES}, got {device!r}")
        dtype = None if dtype is None else np.dtype(dtype)
        for m in self.modules():
            dev = device or m.device
            for store in (m._parameters, m._buffers):
                for name, arr in store.items():
                    if arr is not None:
                        store[name] = _to_device(arr, dev, dtype)
            object.__setattr__(m, "device", dev)
        return self

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self):
        """OrderedDict of dotted name -> array (parameters and buffers, torch's key names)."""
        out = OrderedDict()
        for mname, m in self.named_modules():
            for store in (m._parameters, m._buffers):
                for name, arr in store.items():
                    if arr is not None:
                        out[f"{mname}.{name}" if mname else name] = arr
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copies arrays from ``state_dict`` (name -> numpy/cupy array or torch tensor, e.g. a
        torchvision model's ``state_dict()``) into this module's parameters and buffers.

        Every key must exist here with the same shape; with strict=True every key here must be
        given too. Problems raise :class:`StateDictError` naming each missing, unexpected and
        wrongly shaped key; nothing is changed then. Returns (missing, unexpected) key lists.
        torch's ``num_batches_tracked`` counters (unused in inference) are accepted and ignored.
        """
        own = self.state_dict()
        given = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
        missing = [k for k in own if k not in given]
        unexpected = [k for k in given if k not in own]
        mismatched = []
        for k, v in given.items():
            if k in own and tuple(v.shape) != tuple(own[k].shape):
                mismatched.append(f"{k}: expected {tuple(own[k].shape)}, got {tuple(v.shape)}")
        problems = []
        if mismatched:
            problems.append("wrong shape: " + "; ".join(mismatched))
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if problems:
            raise StateDictError(f"load_state_dict into {type(self).__name__}: " + ". ".join(problems),
                                 missing, unexpected, mismatched)
        modules = dict(self.named_modules())
        for k, v in given.items():
            if k not in own:
                continue
            mname, _, name = k.rpartition(".")
            m = modules[mname]
            store = m._parameters if name in m._parameters else m._buffers
            store[name] = _to_device(v, m.device, own[k].dtype)
        return missing, unexpected


_HOOKS: list = []
_DEPTH = [0]  # module calls in progress: only the outermost converts torch tensors


def _torch_call(module, args, kwargs):
    """Runs ``module`` on torch tensors: zero-copy numpy (CPU) / cupy (CUDA) views in, the outputs
    handed back to torch through DLPack (no copy either way)."""
    import torch

    def arrays_in(a):
        if _backend.library_of(a) != "torch":
            return a
        t = a.detach()
        if t.device.type == "cpu":
            return np.from_dlpack(t) if t.is_contiguous() else np.from_dlpack(t.contiguous())
        return _backend._cupy().from_dlpack(t)

    def tensors_out(v):
        if isinstance(v, tuple):
            items = [tensors_out(i) for i in v]
            return type(v)(*items) if hasattr(v, "_fields") else tuple(items)
        if v is None or _backend.library_of(v) not in ("numpy", "cupy"):
            return v
        return torch.from_dlpack(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)

    return tensors_out(module(*[arrays_in(a) for a in args], **kwargs))


class forward_hook:
    """Context manager: ``fn(module, inputs, output)`` runs after every module call inside it
    (pydeepkit.summary records layers with it)."""

    def __init__(self, fn):
        self.fn = fn

    def __enter__(self):
        _HOOKS.append(self.fn)
        return self

    def __exit__(self, *exc):
        _HOOKS.remove(self.fn)


class Sequential(Module):
    """Modules called in order; keys '0', '1', ... (or the names of an OrderedDict).

    Example:
        >>> seq = pydeepkit.nn.Sequential(pydeepkit.nn.ReLU(), pydeepkit.nn.Flatten())
        >>> seq(-np.ones((2, 3, 4), np.float32)).shape
        (2, 12)
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]

    def __setitem__(self, i, module):
        key = list(self._modules)[i]
        self._modules[key] = module

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of modules (keys '0', '1', ...); no forward of its own.

    Example:
        >>> len(pydeepkit.nn.ModuleList([pydeepkit.nn.ReLU(), pydeepkit.nn.Tanh()]))
        2
    """

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, i):
        return list(self._modules.values())[i]


class ModuleDict(Module):
    """A dict of named modules; no forward of its own.

    Example:
        >>> d = pydeepkit.nn.ModuleDict({"act": pydeepkit.nn.ReLU()})
        >>> list(d.keys())
        ['act']
    """

    def __init__(self, modules=None):
        super().__init__()
        for name, m in (modules or {}).items():
            self.add_module(name, m)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
