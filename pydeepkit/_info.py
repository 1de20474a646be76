"""pydeepkit.info(): what this installation was built with and what it can run on."""
from __future__ import annotations

from . import _ext


def info() -> dict:
    """Backends and their state.

    Returns a dict with, per backend ('cpu', 'emu', 'cuda'), either the extension's own
    report (cpu: active SIMD kernels, the ones built and supported, OpenMP threads;
    cuda: runtime version and devices; emu: the emulator's settings) or
    ``{"available": False, "reason": ...}``.

    Example:
        >>> pydeepkit.info()["cpu"]["available"]
        True
        >>> pydeepkit.info()["cpu"]["simd"] in ("base", "avx2", "avx512")
        True
    """
    report = {}
    for backend in ("cpu", "emu", "cuda"):
        try:
            mod = _ext.module(backend)
        except _ext.BackendUnavailable as exc:
            report[backend] = {"available": False, "reason": str(exc)}
            continue
        entry = {"available": True, **mod.info()}
        if backend == "emu" and hasattr(mod, "emu_info"):
            entry.update(mod.emu_info())
        if backend == "cuda":
            entry["cupy"] = _cupy_version()
        report[backend] = entry
    return report


def _cupy_version():
    try:
        import cupy
        return cupy.__version__
    except ImportError:
        return None


def format_info(report: dict) -> str:
    lines = []
    for backend, entry in report.items():
        if not entry.get("available"):
            lines.append(f"{backend:5s} unavailable: {entry['reason']}")
            continue
        details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("available", "backend"))
        lines.append(f"{backend:5s} {details}")
    return "\n".join(lines)
