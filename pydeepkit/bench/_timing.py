"""Timing: interleaved rounds with pauses, medians and spreads.

Two libraries with their own OpenMP pools (ours and torch's) slow each other down
when one's workers are still spinning while the other runs. :func:`interleaved`
therefore runs the contenders in turn (rotating the order every round) and sleeps a
little before each sample so the previous library's workers go idle, then makes one
untimed call to wake its own before timing.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Stats:
    """Per-call times in seconds over the samples of one contender."""

    samples: tuple
    calls_per_sample: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def quantile(self, q: float) -> float:
        """Linear-interpolation quantile of the samples (q in [0, 1])."""
        s = sorted(self.samples)
        pos = q * (len(s) - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    @property
    def spread_pct(self) -> float:
        """Interquartile range as a percentage of the median."""
        return 100.0 * (self.quantile(0.75) - self.quantile(0.25)) / self.median if self.median > 0 else 0.0

    def as_dict(self) -> dict:
        """The statistics in milliseconds, for JSON output."""
        ms = 1e3
        return {"median_ms": self.median * ms, "q1_ms": self.quantile(0.25) * ms,
                "q3_ms": self.quantile(0.75) * ms, "min_ms": min(self.samples) * ms,
                "max_ms": max(self.samples) * ms, "spread_pct": self.spread_pct,
                "samples": len(self.samples), "calls_per_sample": self.calls_per_sample}


def _time_calls(fn: Callable[[], object], sync: Callable[[], None], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - start) / calls


def interleaved(contenders: dict, rounds: int, *, pause: float = 0.02, warmup: int = 3,
                min_sample: float = 0.005, budget: float | None = None,
                sync: Callable[[], None] = lambda: None) -> dict:
    """Times each contender over ``rounds`` interleaved rounds.

    contenders: label -> zero-argument callable. Each is first called ``warmup`` times;
    a contender faster than ``min_sample`` seconds is then called several times per
    sample so that a sample lasts about ``min_sample``. Every sample is preceded by a
    ``pause``-second sleep. ``sync`` waits for asynchronous work (CUDA) to finish.
    With a ``budget`` (seconds), the rounds are cut (to no fewer than 3) when the
    estimated time would exceed it, so a very slow contender (the emulator) cannot
    stall a run. Returns label -> :class:`Stats`.
    """
    calls, round_time = {}, 0.0
    for label, fn in contenders.items():
        for _ in range(max(warmup, 1)):
            fn()
        sync()
        once = _time_calls(fn, sync, 1)
        calls[label] = max(1, min(1000, math.ceil(min_sample / once))) if once > 0 else 1000
        round_time += pause + once * calls[label]
    if budget is not None and round_time * rounds > budget:
        rounds = min(rounds, max(3, int(budget / round_time)))
    samples = {label: [] for label in contenders}
    labels = list(contenders)
    for r in range(max(rounds, 1)):
        # Rotating the order gives no contender the seat right after another library's run.
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            fn = contenders[label]
            time.sleep(pause)
            # One untimed call after the pause: on a VM the first call after an idle gap pays
            # for waking the vCPUs and the thread pool (milliseconds), which is not the op's cost.
            fn()
            sync()
            samples[label].append(_time_calls(fn, sync, calls[label]))
    return {label: Stats(tuple(s), calls[label]) for label, s in samples.items()}


def quick_time(fn: Callable[[], object], *, budget: float = 0.05, max_calls: int = 5,
               sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds per call of ``fn`` over up to ``max_calls`` calls (fewer once
    ``budget`` seconds are spent), after one untimed warm-up call. For the demo's
    per-call timings, not for benchmarks."""
    fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < max_calls and (not times or time.perf_counter() - start < budget):
        times.append(_time_calls(fn, sync, 1))
    return statistics.median(times)
