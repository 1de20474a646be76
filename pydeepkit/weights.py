"""Weights on disk: torch ``.pth``/``.pt`` (torch needed only for these), ``.npz`` and ``.safetensors``
(our own reader/writer of the format: an 8-byte little-endian header length, a JSON header of
name -> dtype, shape and byte range, then the raw little-endian tensor bytes).

Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> pydeepkit.weights.save({"a": np.arange(3, dtype=np.float32)}, path)
    >>> pydeepkit.weights.load(path)["a"].tolist()
    [0.0, 1.0, 2.0]
"""
from __future__ import annotations

import json
import os
import struct
from collections import OrderedDict

import numpy as np

__all__ = ["load", "save", "load_weights", "load_safetensors", "save_safetensors", "load_npz", "save_npz",
           "load_pth"]

# safetensors dtype names <-> numpy (BF16 is read by widening to float32: numpy has no bfloat16)
_ST_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "I16": np.int16, "I8": np.int8, "U8": np.uint8, "U16": np.uint16, "U32": np.uint32, "U64": np.uint64,
              "BOOL": np.bool_}
_ST_NAMES = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


def _host(arr):
    from .nn.module import to_host
    a = to_host(arr)
    return a if a.flags.c_contiguous else a.copy(order="C")  # (ascontiguousarray makes 0-d arrays 1-d)


def save_safetensors(state, path, metadata=None):
    """Writes name -> array (numpy, cupy or torch) to ``path`` in the safetensors format.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "x.safetensors")
        >>> pydeepkit.weights.save_safetensors({"w": np.ones((2, 2), np.float32)}, p)
        >>> pydeepkit.weights.load_safetensors(p)["w"].shape
        (2, 2)
    """
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in state.items():
        a = _host(arr)
        if a.dtype not in _ST_NAMES:
            raise TypeError(f"save_safetensors: {name!r} has dtype {a.dtype}, which safetensors cannot hold")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _ST_NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the tensor bytes start 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def load_safetensors(path):
    """Reads a safetensors file into an OrderedDict of name -> numpy array (BF16 widened to float32).
    A truncated or malformed file is a ValueError naming the problem."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"load_safetensors: {path} is too short for a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(_MAX_HEADER, len(raw) - 8):
        raise ValueError(f"load_safetensors: {path}: header length {n} exceeds the file ({len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"load_safetensors: {path}: header is not JSON ({exc})") from None
    body = memoryview(raw)[8 + n:]
    out = OrderedDict()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (begin, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        if end > len(body) or begin > end:
            raise ValueError(f"load_safetensors: {path}: tensor {name!r} bytes [{begin}, {end}) lie outside "
                             f"the data ({len(body)} bytes)")
        if dtype == "BF16":
            bits = np.frombuffer(body[begin:end], "<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype in _ST_DTYPES:
            arr = np.frombuffer(body[begin:end], np.dtype(_ST_DTYPES[dtype]).newbyteorder("<"))
        else:
            raise ValueError(f"load_safetensors: {path}: tensor {name!r} has unsupported dtype {dtype}")
        if arr.size != int(np.prod(shape)):
            raise ValueError(f"load_safetensors: {path}: tensor {name!r} has {arr.size} elements, shape {shape} "
                             f"needs {int(np.prod(shape))}")
        out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False).reshape(shape).copy()
    return out


def save_npz(state, path):
    """Writes name -> array to an uncompressed numpy ``.npz`` (keys kept as they are)."""
    with open(path, "wb") as f:
        np.savez(f, **{k: _host(v) for k, v in state.items()})


def load_npz(path):
    """Reads an ``.npz`` into an OrderedDict of name -> numpy array."""
    with np.load(path, allow_pickle=False) as z:
        return OrderedDict((k, z[k]) for k in z.files)


def load_pth(path):
    """Reads a torch checkpoint (a state_dict, or a dict holding one under 'state_dict' / 'model') with
    torch.load(weights_only=True); torch is imported only here."""
    try:
        import torch
    except ImportError:
        raise ImportError(f"load_pth: reading {path} needs torch (pip install torch); .npz and .safetensors "
                          "files load without it") from None
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"load_pth: {path} holds a {type(obj).__name__}, not a state_dict")
    return OrderedDict((k, _host(v)) for k, v in obj.items() if hasattr(v, "shape"))


_LOADERS = {".safetensors": load_safetensors, ".npz": load_npz, ".pth": load_pth, ".pt": load_pth}
_SAVERS = {".safetensors": save_safetensors, ".npz": save_npz}


def load(path):
    """name -> numpy array from a ``.safetensors``, ``.npz``, ``.pth`` or ``.pt`` file (by extension)."""
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _LOADERS:
        raise ValueError(f"load: unknown weights file type {ext!r} of {path} (use .safetensors, .npz, .pth or .pt)")
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such weights file: {path}")
    return _LOADERS[ext](path)


def save(state, path):
    """Writes a state_dict (or a Module's state) to ``.safetensors`` or ``.npz`` (by extension)."""
    if hasattr(state, "state_dict"):
        state = state.state_dict()
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _SAVERS:
        raise ValueError(f"save: can write .safetensors or .npz, not {ext!r} ({path})")
    _SAVERS[ext](state, path)


def load_weights(source):
    """A state mapping from a file path or a mapping (returned as it is); torch Modules give their state_dict."""
    if hasattr(source, "state_dict") and callable(source.state_dict):
        return source.state_dict()
    if hasattr(source, "items"):
        return source
    return load(source)
