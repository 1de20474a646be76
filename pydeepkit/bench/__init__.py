"""Benchmarks: pydeepkit's kernels vs torch, side by side in one process.

``pydeepkit bench`` (or ``python bench/run.py`` in a source tree) prints one row per
entry: ours, torch NCHW and torch channels_last times (medians of interleaved rounds),
the ratio ours / fastest torch, GB/s or GFLOP/s, the spread and an output check.

Entries live in one module per op family (``pydeepkit/bench/pool.py``, ...), each
exposing ``ENTRIES``, a list of :class:`Entry`; every public module of this package
is collected. torch is imported only when a benchmark runs.

Example:
    >>> from pydeepkit import bench
    >>> [e.name for e in bench.entries()][:1]
    ['max_pool2d 3x3 s2 p1']
    >>> bench.main(["max_pool2d", "--quick", "--repeat", "3"])   # prints the table
    0
"""
from ._registry import Entry, entries, memory_traffic, select, uniform_inputs
from ._runner import Row, add_arguments, format_rows, main, run_cli, run_entry

__all__ = ["Entry", "Row", "entries", "select", "run_entry", "format_rows", "add_arguments",
           "run_cli", "main", "memory_traffic", "uniform_inputs"]
