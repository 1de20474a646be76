"""Benchmark entries and their discovery.

An :class:`Entry` is one row of the benchmark table: one op on one input
configuration, run by pydeepkit and by the framework (torch) variants. Each op
family has one module in ``pydeepkit/bench/`` (``pool.py``, ...) whose module-level
``ENTRIES`` list holds its entries; every public (non-underscore) module of the
package is collected, so a new family only adds a file.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np


@dataclass(frozen=True)
class Entry:
    """One benchmark row.

    op, params:   what is run ("max_pool2d", "3x3 s2 p1"); ``name`` joins them and is
                  what the command line's substrings select on.
    shapes:       input shapes by size class: "full" (the real benchmark) and "quick"
                  (small: ``--quick``, the emulator, tests).
    make_inputs:  (shape, rng) -> tuple of numpy arrays, the op's positional inputs.
    ours:         (*inputs, backend=...) -> output; pydeepkit's op.
    torch:        (*tensors) -> output; the framework op, or None if there is none.
    torch_layouts: the torch variants to time, as (column label, torch memory format
                  name) pairs, e.g. (("NCHW", "contiguous_format"), ("CL", "channels_last")).
    cost:         (inputs, output) -> (bytes moved, FLOPs); either may be 0.
    metric:       "GB/s" or "GFLOP/s": the rate shown in the table.
    rtol, atol:   tolerance of the ours-vs-torch output check.
    family:       the module the entry comes from (filled in by :func:`entries`).
    """

    op: str
    params: str
    shapes: dict
    make_inputs: Callable[[tuple, np.random.Generator], tuple]
    ours: Callable[..., Any]
    torch: Callable[..., Any] | None
    torch_layouts: tuple = (("NCHW", "contiguous_format"),)
    cost: Callable[[tuple, Any], tuple] = None
    metric: str = "GB/s"
    rtol: float = 1e-5
    atol: float = 1e-5
    family: str = ""

    @property
    def name(self) -> str:
        return f"{self.op} {self.params}".strip()

    def shape(self, size: str) -> tuple:
        """The input shape of size class ``size`` ("full" or "quick")."""
        return tuple(self.shapes[size])


# ---------------------------------------------------------------------------------------
# helpers shared by the family modules
# ---------------------------------------------------------------------------------------
def uniform_inputs(dtype=np.float32, low=-1.0, high=1.0):
    """make_inputs for ops with one dense input: uniform values in [low, high)."""
    def make(shape, rng):
        return (rng.uniform(low, high, size=shape).astype(dtype),)
    return make


def flatten_outputs(value) -> list:
    """The arrays in an output that may be a (nested) tuple of arrays."""
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in flatten_outputs(v)]
    return [value]


def memory_traffic(inputs, output) -> tuple:
    """cost for memory-bound ops: every input read once and every output written once."""
    moved = sum(int(a.nbytes) for a in flatten_outputs(inputs) + flatten_outputs(output) if hasattr(a, "nbytes"))
    return moved, 0


# ---------------------------------------------------------------------------------------
# discovery and selection
# ---------------------------------------------------------------------------------------
def family_modules() -> list[str]:
    """Names of the family modules of pydeepkit.bench (its modules not starting with '_')."""
    from . import __path__ as package_path
    return sorted(m.name for m in pkgutil.iter_modules(package_path) if not m.name.startswith("_"))


def entries() -> list[Entry]:
    """All registered entries, family by family, in each family's order."""
    found = []
    for family in family_modules():
        module = importlib.import_module(f"{__package__}.{family}")
        for entry in getattr(module, "ENTRIES", ()):
            found.append(entry if entry.family else replace(entry, family=family))
    return found


def select(all_entries: Sequence[Entry], patterns: Sequence[str]) -> list[Entry]:
    """Entries whose name contains any of ``patterns`` (case-insensitive) or whose family is one of
    them ("models", "pool": a family's module name selects all its entries); all if none given."""
    if not patterns:
        return list(all_entries)
    lowered = [p.lower() for p in patterns]
    return [e for e in all_entries if any(p in e.name.lower() or p == e.family for p in lowered)]
