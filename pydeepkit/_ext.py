"""Loading of the compiled extensions: ``_C`` (cpu), ``_C_emu`` (emu) and ``_C_cuda`` (cuda).

``PYDEEPKIT_EXTENSION_DIR`` points the loader at another build directory (the
sanitizer builds and the contributor loop use it); otherwise the modules installed
beside this file are used.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import threading

_MODULE_NAMES = {"cpu": "_C", "emu": "_C_emu", "cuda": "_C_cuda"}
_HOW_TO_BUILD = {
    "cpu": "reinstall pydeepkit (pip install .)",
    "emu": "build it with PYDEEPKIT_EMU=ON (pip install . or the contributor loop in README.md)",
    "cuda": "build on a machine with a CUDA toolkit (nvcc), or set PYDEEPKIT_CUDA=ON to require it",
}
_cache: dict[str, object] = {}
_errors: dict[str, str] = {}
_lock = threading.Lock()


class BackendUnavailable(RuntimeError):
    """The extension a backend needs was not built or cannot be loaded."""


def _load_from_dir(name: str, directory: str):
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(directory, name + suffix)
        if os.path.exists(path):
            full = "pydeepkit." + name
            spec = importlib.util.spec_from_file_location(full, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            sys.modules[full] = mod
            return mod
    raise ImportError(f"no {name} extension in {directory}")


def _source_tree_hint() -> str:
    """Explains the common case of importing the unbuilt source tree instead of the installed package."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.exists(os.path.join(os.path.dirname(here), "CMakeLists.txt")) and not os.environ.get(
            "PYDEEPKIT_EXTENSION_DIR"):
        return (f". Note: pydeepkit was imported from the source tree {here}, which holds no built "
                "extensions: run from another directory (or `pytest`, not `python -m pytest`), or set "
                "PYDEEPKIT_EXTENSION_DIR to a build directory")
    return ""


def module(backend: str):
    """The extension module of ``backend`` ('cpu', 'emu' or 'cuda'); raises BackendUnavailable."""
    mod = _cache.get(backend)
    if mod is not None:
        return mod
    if backend not in _MODULE_NAMES:
        raise ValueError(f"backend: expected one of {sorted(_MODULE_NAMES)}, got {backend!r}")
    with _lock:
        if backend in _cache:
            return _cache[backend]
        if backend in _errors:
            raise BackendUnavailable(_errors[backend])
        name = _MODULE_NAMES[backend]
        try:
            directory = os.environ.get("PYDEEPKIT_EXTENSION_DIR")
            mod = _load_from_dir(name, directory) if directory else importlib.import_module("pydeepkit." + name)
        except ImportError as exc:
            _errors[backend] = (f"backend {backend!r} is not available: pydeepkit.{name} could not be "
                                f"loaded ({exc}); {_HOW_TO_BUILD[backend]}{_source_tree_hint()}")
            raise BackendUnavailable(_errors[backend]) from None
        _cache[backend] = mod
        return mod


def available(backend: str) -> bool:
    """Whether the extension of ``backend`` loads (for cuda: whether it was built, not whether a GPU exists)."""
    try:
        module(backend)
        return True
    except BackendUnavailable:
        return False
