"""Shared fixtures and helpers of the pydeepkit test suite.

Backends
--------
The ``backend`` fixture runs a test on every backend:

* ``cpu-<isa>``: the CPU kernels (``_C``) under each instruction set the machine
  supports (``module("cpu").info()["simd_supported"]``); the default ISA is restored
  after the test;
* ``emu``: the CUDA kernels on the CPU emulator (``_C_emu``), numpy arrays;
* ``cuda``: the CUDA kernels on a GPU with cupy arrays (only with cupy and a device).

A backend that is not available is skipped, unless ``PYDEEPKIT_REQUIRE_BACKENDS``
(a comma list such as ``cpu,emu``, set by CI) names it: then the test FAILS, so CI
can never pass by silently skipping the emulator.

Helpers (import them with ``from conftest import ...``)
-------------------------------------------------------
* :class:`Backend` (what the fixture yields): ``bk.asarray(np_array)`` gives the
  array type the backend takes, ``bk.kw`` the ``backend=`` keyword, ``bk.name``;
* :func:`to_numpy`: numpy copy of a numpy / torch / cupy result;
* :func:`assert_close`: compares a result with a reference (shape, dtype, NaN
  positions; tolerances per dtype and per kind of op);
* :func:`assert_sum_close`: compares a result of sums (GEMM, convolution) with its
  float64 reference within the rounding of that many terms of that magnitude;
* :func:`run_python`: runs code (or ``-m module args``) in a fresh interpreter that
  imports the same pydeepkit package as this process.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pydeepkit
from pydeepkit import _ext

PACKAGE_PARENT = str(Path(pydeepkit.__file__).resolve().parents[1])

ALL_BACKENDS = ("cpu", "emu", "cuda")


def required_backends() -> set:
    """Backends named by PYDEEPKIT_REQUIRE_BACKENDS: missing ones fail instead of skipping."""
    value = os.environ.get("PYDEEPKIT_REQUIRE_BACKENDS", "")
    return {v.strip() for v in value.split(",") if v.strip()}


def _cuda_unavailable_reason():
    if not _ext.available("cuda"):
        try:
            _ext.module("cuda")
        except _ext.BackendUnavailable as exc:
            return str(exc)
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "backend 'cuda' needs cupy, which is not installed"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver / no device
        return f"backend 'cuda': no usable GPU ({exc})"
    if count < 1:
        return "backend 'cuda': no GPU"
    return None


def backend_unavailable_reason(name: str):
    """None if ``name`` can run here, else why not."""
    if name == "cuda":
        return _cuda_unavailable_reason()
    try:
        _ext.module(name)
    except _ext.BackendUnavailable as exc:
        return str(exc)
    return None


def require_backend(name: str) -> None:
    """Skip (or fail, when PYDEEPKIT_REQUIRE_BACKENDS names it) if ``name`` is unavailable."""
    reason = backend_unavailable_reason(name)
    if reason is None:
        return
    if name in required_backends():
        pytest.fail(f"backend {name!r} is required (PYDEEPKIT_REQUIRE_BACKENDS="
                    f"{os.environ.get('PYDEEPKIT_REQUIRE_BACKENDS')!r}) but unavailable: {reason}",
                    pytrace=False)
    pytest.skip(reason)


def cpu_isas() -> list:
    """The instruction sets the CPU backend can run here (empty if _C does not load)."""
    try:
        return list(_ext.module("cpu").info()["simd_supported"])
    except _ext.BackendUnavailable:
        return []


def default_isa():
    return _ext.module("cpu").info()["simd"]


def _backend_params():
    isas = cpu_isas()
    params = [f"cpu-{isa}" for isa in isas] or ["cpu"]  # "cpu" alone: skipped/failed at setup
    return params + ["emu", "cuda"]


BACKEND_PARAMS = _backend_params()


class Backend:
    """One backend (and, for cpu, one ISA) a test runs on."""

    def __init__(self, param: str):
        self.param = param
        self.name, _, self.isa = param.partition("-")
        self.kw = {"backend": self.name}

    def asarray(self, a):
        """The array type this backend takes, holding the values of numpy array ``a``.

        Keeps non-contiguous numpy views as they are on cpu/emu (tests pass views on purpose).
        """
        if self.name == "cuda":
            import cupy
            return cupy.asarray(a)
        return a

    def __repr__(self):
        return f"Backend({self.param})"


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request):
    """A :class:`Backend` for every backend/ISA; cpu ISAs are restored after the test."""
    bk = Backend(request.param)
    require_backend(bk.name)
    if bk.name == "cpu" and bk.isa:
        cpu = _ext.module("cpu")
        previous = cpu.info()["simd"]
        cpu.set_simd(bk.isa)
        assert cpu.info()["simd"] == bk.isa, f"set_simd({bk.isa!r}) did not take effect"
        try:
            yield bk
        finally:
            cpu.set_simd(previous)
    else:
        yield bk


@pytest.fixture(params=["cpu", "emu"])
def host_backend(request):
    """cpu (default ISA) or emu: the backends that take numpy and torch CPU arrays."""
    require_backend(request.param)
    return request.param


@pytest.fixture
def rng(request):
    """A numpy Generator seeded from the test's node id (reproducible, different per test)."""
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(request.node.nodeid)) % (2 ** 32)
    return np.random.default_rng(seed)


def to_numpy(a):
    """numpy copy of a numpy array, torch tensor or cupy array (None stays None)."""
    if a is None:
        return None
    if isinstance(a, np.ndarray):
        return a.copy()
    mod = type(a).__module__.split(".")[0]
    if mod == "torch":
        return a.detach().cpu().numpy().copy()
    if mod == "cupy":
        return a.get()
    raise TypeError(f"to_numpy: unexpected result type {type(a)!r}")


# (rtol, atol) per result dtype and kind of op
TOLERANCES = {
    "default": {np.float32: (1e-5, 1e-6), np.float64: (1e-12, 1e-13)},
    "lp": {np.float32: (2e-5, 1e-5), np.float64: (1e-10, 1e-12)},
}


def assert_close(actual, expected, *, kind="default", exact=False, err_msg=""):
    """Checks a result (any array type) against a numpy reference.

    Shape and dtype must match exactly; NaN must appear exactly where the reference
    has NaN and infinities must match; ``exact=True`` (max values, indices) requires
    bit-equal values (except the sign of zero), otherwise the ``kind`` tolerances apply.
    """
    a = to_numpy(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"{err_msg}: shape {a.shape}, expected {e.shape}"
    assert a.dtype == e.dtype, f"{err_msg}: dtype {a.dtype}, expected {e.dtype}"
    if exact or a.dtype.kind not in "fc":
        same = a == e
        if a.dtype.kind in "fc":
            same |= np.isnan(a) & np.isnan(e)
        if not same.all():
            bad = np.argwhere(~same)
            first = tuple(int(i) for i in bad[0]) if len(bad) else ()
            raise AssertionError(f"{err_msg}: {len(bad)} of {a.size} elements differ; first at {first}: "
                                 f"got {a[first]!r}, expected {e[first]!r}\nactual:\n{a}\nexpected:\n{e}")
        return
    rtol, atol = TOLERANCES[kind][e.dtype.type]
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=err_msg)


def assert_sum_close(actual, expected, magnitude, terms: int, dtype):
    """``actual`` (any array type) against the float64 ``expected``, where each element is a sum
    of ``terms`` products whose absolute values sum to ``magnitude`` (same shape): the bound of
    float rounding in any summation order, plus a few ulps for the epilogue (bias, residual, and
    activations whose slope is at most 1.13)."""
    got = to_numpy(actual)
    assert got.dtype == np.dtype(dtype), f"dtype {got.dtype}, expected {np.dtype(dtype)}"
    assert got.shape == expected.shape, f"shape {got.shape}, expected {expected.shape}"
    eps = np.finfo(dtype).eps
    tol = 1.2 * eps * (terms + 2) * magnitude + 4 * eps * np.abs(expected) + 4 * eps
    err = np.abs(got.astype(np.float64) - expected)
    bad = ~(err <= tol)
    if bad.any():
        i = tuple(int(v) for v in np.argwhere(bad)[0])
        raise AssertionError(f"{int(bad.sum())} of {got.size} elements off; first at {i}: got {got[i]!r}, "
                             f"expected {expected[i]!r} (tol {tol[i]:.3g})")


def run_python(*args, code=None, env=None, timeout=120):
    """Runs ``python -c code`` (or ``python *args``) in a fresh interpreter with this process's
    environment plus ``env`` (extension dir and sanitizer preload carry over) and the same
    pydeepkit package this process imported, whether installed or a source tree.

    The working directory is that package's parent: ``-c`` and ``-m`` put the working directory
    first on sys.path, and a checkout's root would shadow the installed package with the unbuilt
    source tree.
    """
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, full_env.get("PYTHONPATH")]))
    full_env.update(env or {})
    argv = [sys.executable, *(("-c", code) if code is not None else args)]
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=PACKAGE_PARENT,
                          timeout=timeout)
