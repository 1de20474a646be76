"""Running entries, the results table, JSON output and the ``bench`` command line."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .. import __version__, _ext
from . import _devices
from ._registry import Entry, entries, flatten_outputs, select
from ._table import fmt_ms, fmt_rate, fmt_shape, format_table, shorten
from ._timing import Stats, interleaved

OURS = "ours"
_RANK_OF_FORMAT = {"channels_last": 4, "channels_last_3d": 5}


@dataclass
class Row:
    """The measurements of one entry."""

    entry: Entry
    shape: tuple
    backend: str
    ours: Stats | None = None
    torch: dict = field(default_factory=dict)        # column label -> Stats
    errors: dict = field(default_factory=dict)       # "ours" / column label / "row" -> message
    bytes_moved: int = 0
    flops: int = 0
    check: str = "-"                                  # "ok", "MISMATCH", "-" (nothing to compare)
    max_abs_err: float | None = None
    best_gemm_rate: float | None = None               # GFLOP/s: the machine's best measured GEMM
    core_trip_ns: tuple = ()                          # (before, after) the timed rounds: see _core_trip_ns

    @property
    def gemm_fraction(self) -> float | None:
        """Our GFLOP/s as a fraction of the best GEMM rate measured in the same run."""
        rate = self.rate(self.ours)
        if self.entry.metric != "GFLOP/s" or rate is None or not self.best_gemm_rate:
            return None
        return rate / self.best_gemm_rate

    @property
    def torch_best(self) -> tuple:
        """(label, Stats) of the fastest torch variant, or (None, None)."""
        if not self.torch:
            return None, None
        return min(self.torch.items(), key=lambda kv: kv[1].median)

    @property
    def ratio(self) -> float | None:
        """ours median / fastest torch median (< 1: ours is faster)."""
        _, best = self.torch_best
        return self.ours.median / best.median if self.ours and best else None

    def ratio_to(self, label: str) -> float | None:
        """ours median / the median of torch variant ``label`` ("NCHW", "CL")."""
        other = self.torch.get(label)
        return self.ours.median / other.median if self.ours and other else None

    def rate(self, stats: Stats | None) -> float | None:
        """GB/s or GFLOP/s (the entry's metric) at the median time of ``stats``."""
        work = self.flops if self.entry.metric == "GFLOP/s" else self.bytes_moved
        return work / stats.median / 1e9 if stats and work else None

    def as_dict(self) -> dict:
        label, best = self.torch_best
        return {
            "name": self.entry.name, "op": self.entry.op, "params": self.entry.params,
            "family": self.entry.family, "shape": list(self.shape), "backend": self.backend,
            "ours": self.ours.as_dict() if self.ours else None,
            "torch": {k: v.as_dict() for k, v in self.torch.items()},
            "torch_best": label, "ratio": self.ratio, "ratio_nchw": self.ratio_to("NCHW"),
            "ratio_cl": self.ratio_to("CL"), "gemm_fraction": self.gemm_fraction,
            "metric": self.entry.metric, "bytes": self.bytes_moved, "flops": self.flops,
            "ours_rate": self.rate(self.ours), "torch_rate": self.rate(best),
            "check": self.check, "max_abs_err": self.max_abs_err, "errors": self.errors,
            "core_trip_ns": list(self.core_trip_ns),
        }


# ---------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------
def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _compare(ours, theirs, entry: Entry) -> tuple:
    """(agree, max abs error) of two outputs (arrays or tuples of arrays)."""
    a, b = flatten_outputs(ours), flatten_outputs(theirs)
    if len(a) != len(b) or any(np.shape(x) != np.shape(y) for x, y in zip(a, b)):
        return False, float("inf")
    err, agree = 0.0, True
    for x, y in zip(a, b):
        x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x64.size:
            diff = np.abs(x64 - y64)
            err = max(err, float(np.nanmax(diff)) if not np.all(np.isnan(diff)) else 0.0)
        agree &= bool(np.allclose(x64, y64, rtol=entry.rtol, atol=entry.atol, equal_nan=True))
    return agree, err


def _core_trip_ns() -> float | None:
    """Nanoseconds per round trip of a cache line between two of our OpenMP threads (None: fewer
    than two, or no CPU extension). Where the OS put the threads: under ~150 ns their cores share
    an L3; on this kind of VM they are at times on cores that do not (~350-400 ns), and then every
    multi-threaded kernel that shares data between its threads, ours and torch's, runs slower."""
    try:
        value = _ext.module("cpu").cache_line_round_trip_ns()
    except Exception:  # no CPU extension: nothing to report
        return None
    return value if value > 0 else None


def _torch_input(device: _devices.Device, array, memory_format: str):
    # channels_last formats only apply to inputs of their rank (e.g. not to an index array)
    if _RANK_OF_FORMAT.get(memory_format, array.ndim) != array.ndim:
        memory_format = "contiguous_format"
    return device.torch_input(array, memory_format)


def run_entry(entry: Entry, device: _devices.Device, *, size: str = "full", repeat: int = 15,
              pause: float = 0.02, budget: float = 10.0) -> Row:
    """Measures one entry: checks ours against each torch variant once, then times them
    in interleaved rounds. Failures become messages in ``Row.errors``, never exceptions."""
    shape = entry.shape(size)
    row = Row(entry, shape, device.backend)
    inputs = entry.make_inputs(shape, np.random.default_rng(0))
    contenders, outputs = {}, {}

    ours_in = [device.ours_input(a) for a in inputs]
    try:
        outputs[OURS] = device.to_numpy(entry.ours(*ours_in, backend=device.backend))
        contenders[OURS] = lambda: entry.ours(*ours_in, backend=device.backend)
    except Exception as exc:  # a kernel that is missing or fails: an ERR row, not a crash
        row.errors[OURS] = _error(exc)

    if device.torch is not None and entry.torch is not None:
        for label, memory_format in entry.torch_layouts:
            try:
                tensors = [_torch_input(device, a, memory_format) for a in inputs]
                with device.torch.no_grad():
                    outputs[label] = device.to_numpy(entry.torch(*tensors))
                contenders[label] = (lambda t=tensors: entry.torch(*t))
            except Exception as exc:
                row.errors[label] = _error(exc)

    if not contenders:
        return row
    reference_output = outputs.get(OURS, next(iter(outputs.values())))
    row.bytes_moved, row.flops = entry.cost(inputs, reference_output) if entry.cost else (0, 0)
    if OURS in outputs and len(outputs) > 1:
        results = [_compare(outputs[OURS], out, entry) for label, out in outputs.items() if label != OURS]
        row.check = "ok" if all(ok for ok, _ in results) else "MISMATCH"
        row.max_abs_err = max(err for _, err in results)

    no_grad = device.torch.no_grad() if device.torch is not None else contextlib.nullcontext()
    trip_before = _core_trip_ns() if device.backend == "cpu" else None
    try:
        with no_grad:
            stats = interleaved(contenders, repeat, pause=pause, sync=device.sync, budget=budget)
    except Exception as exc:
        row.errors["row"] = _error(exc)
        return row
    if trip_before is not None:
        row.core_trip_ns = (trip_before, _core_trip_ns())
    row.ours = stats.pop(OURS, None)
    row.torch = stats
    return row


# ---------------------------------------------------------------------------------------
# machine description
# ---------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _copy_bandwidth() -> float:
    """Single-thread numpy copy bandwidth in GB/s (bytes read + written), best of 5 copies of 64 MiB."""
    src = np.ones(16 << 20, np.float32)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def _cpu_busy(interval: float = 0.3) -> float | None:
    """Fraction of all CPUs' time spent busy (by other processes: this one sleeps)
    over ``interval`` seconds, from /proc/stat; None where that is not available."""
    def snapshot():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    try:
        total0, idle0 = snapshot()
        time.sleep(interval)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else None


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters
_REUSED_BLOCK_BYTES = 32 << 20                    # the largest mmap threshold glibc accepts (64-bit)


def steady_allocator() -> str | None:
    """Makes glibc's malloc keep and reuse freed blocks of up to 32 MiB; returns what it set
    (None where the C library is not glibc or refused).

    By default glibc maps a fresh, zeroed region for each large allocation and returns it to
    the OS on free, and where that threshold lies depends on what the process freed before.
    A library that allocates its large outputs with plain 4 KiB pages (torch) then pays a page
    fault per 4 KiB on every call in some processes and not in others: torch's 7x7 stride-2
    convolution at batch 8 (two 25.7 MB buffers) took 27 ms or 10.5 ms depending on the rows
    run before it. Fixed thresholds make every run measure the kernels, not the allocator."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "mallopt") or platform.libc_ver()[0] != "glibc":
            return None
        if libc.mallopt(_M_MMAP_THRESHOLD, _REUSED_BLOCK_BYTES) != 1 or libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30) != 1:
            return None
    except (OSError, AttributeError):
        return None
    return "glibc malloc keeps freed blocks up to 32 MiB for reuse (mmap threshold 32 MiB, trim threshold 1 GiB)"


def machine_info(backend: str, torch=None) -> dict:
    """What the numbers depend on: CPU, cores, SIMD, threads, library versions."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {"pydeepkit": __version__, "backend": backend, "cpu_model": _cpu_model(),
            "logical_cpus": os.cpu_count(), "usable_cpus": cpus, "numpy": np.__version__,
            "python": platform.python_version(), "copy_gbps_1thread": _copy_bandwidth(),
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "cpu_busy_before": _cpu_busy(),
            "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
            "torch": getattr(torch, "__version__", None),
            "torch_threads": torch.get_num_threads() if torch is not None else None}
    try:
        cpu = _ext.module("cpu").info()
        info.update(simd=cpu.get("simd"), simd_supported=cpu.get("simd_supported"),
                    omp_threads=cpu.get("omp_threads"))
    except _ext.BackendUnavailable as exc:
        info["cpu_extension_error"] = str(exc)
    if backend == "cuda":
        info["cuda"] = _ext.module("cuda").info()
    return info


def format_header(machine: dict, settings: dict) -> str:
    """Lines describing the machine and the settings, printed above the table."""
    simd = machine.get("simd")
    simd_text = (f"SIMD {simd} (supported: {'/'.join(machine.get('simd_supported') or [])}), "
                 f"OpenMP threads {machine.get('omp_threads')}" if simd else
                 machine.get("cpu_extension_error", "CPU extension unavailable"))
    torch_text = (f"torch {machine['torch']} ({machine['torch_threads']} threads, no_grad)"
                  if machine.get("torch") else "torch not installed: no torch columns")
    lines = [
        f"pydeepkit {machine['pydeepkit']} bench  backend={settings['backend']}  float32  "
        f"shapes={settings['size']}  rounds={settings['repeat']}  pause={settings['pause_ms']:g} ms",
        f"machine: {machine['cpu_model']}; {machine['usable_cpus']} usable of {machine['logical_cpus']} "
        f"logical CPUs; {simd_text}",
        f"memory: numpy copy, 1 thread: {machine['copy_gbps_1thread']:.1f} GB/s (read + write); {torch_text}",
        "allocator: " + (machine.get("allocator")
                         or "as the C library sets it: large outputs may be remapped on every call"),
    ]
    if machine.get("openblas_thread_timeout") is None:
        lines.append("warning: OPENBLAS_THREAD_TIMEOUT is not set: numpy's BLAS threads spin after every numpy "
                     "call and slow the next timed call (the pydeepkit command sets it to 4; set it when "
                     "calling the bench from Python)")
    busy, load = machine.get("cpu_busy_before"), machine.get("load_average_1min")
    if busy is not None and busy > 0.1:
        lines.append(f"warning: the CPUs were {100 * busy:.0f}% busy just before the run (load average "
                     f"{load:.2f}): other processes compete with the benchmark, timings are noisy")
    elif busy is None and load is not None and load > 0.5:
        lines.append(f"warning: load average {load:.2f} before the run: other processes compete for the "
                     f"{machine['usable_cpus']} CPUs, timings are noisy")
    if "cuda" in machine:
        lines.append(f"cuda: {machine['cuda'].get('devices')}")
    if settings.get("note"):
        lines.append(settings["note"])
    lines.append("ratio = ours / torch NCHW (< 1: ours faster), vs CL = ours / torch channels_last; "
                 "spread = IQR / median, ours/torch best")
    lines.append("core trip = ns per cache-line round trip between our two threads before/after the row: under "
                 "~150 their cores share an L3; ~350-400 they do not, and multi-threaded rows run slower "
                 "(README, 'Machine phases')")
    if machine.get("best_gemm_gflops"):
        lines.append(f"of GEMM = our GFLOP/s / the best float32 GEMM measured now "
                     f"({machine['best_gemm_gflops']:.0f} GFLOP/s: {machine['best_gemm_source']})")
    return "\n".join(lines)


def best_gemm_rate(torch=None, n: int = 2048, repeat: int = 5) -> tuple:
    """(GFLOP/s, which) of the fastest float32 n^3 matrix product here: ours, numpy's, torch's."""
    from .. import ops
    rng = np.random.default_rng(0)
    a, b = (rng.uniform(-1, 1, size=(n, n)).astype(np.float32) for _ in range(2))
    candidates = {"pydeepkit gemm": lambda: ops.gemm(a, b), "numpy.matmul": lambda: np.matmul(a, b)}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        candidates["torch.matmul"] = lambda: torch.matmul(ta, tb)
    best, source = 0.0, ""
    for name, fn in candidates.items():
        fn()
        seconds = min(_timed(fn) for _ in range(repeat))
        if 2 * n ** 3 / seconds / 1e9 > best:
            best, source = 2 * n ** 3 / seconds / 1e9, name
    return best, source


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------
HEADERS = ("op", "shape", "ours ms", "torch NCHW ms", "torch CL ms", "ratio", "vs CL", "ours rate",
           "torch rate", "of GEMM", "spread", "core trip", "check")
_RIGHT = ("ours ms", "torch NCHW ms", "torch CL ms", "ratio", "vs CL", "ours rate", "torch rate", "of GEMM",
          "spread", "core trip")


def _cells(row: Row) -> list:
    def timing(label):
        if label in row.errors:
            return "ERR"
        stats = row.ours if label == OURS else row.torch.get(label)
        return fmt_ms(stats.median) if stats else "-"

    def rate(stats):
        value = row.rate(stats)
        return f"{fmt_rate(value)} {row.entry.metric}" if value is not None else "-"

    _, best = row.torch_best
    spreads = [f"{s.spread_pct:.0f}%" if s else "-" for s in (row.ours, best)]
    if row.errors:
        check = "; ".join(f"ERR {k}: {shorten(v, 70)}" for k, v in row.errors.items())
    elif row.check == "MISMATCH":
        check = f"MISMATCH max|d|={row.max_abs_err:.2g}"
    else:
        check = row.check
    def ratio(value):
        return f"{value:.2f}x" if value is not None else "-"

    fraction = row.gemm_fraction
    return [row.entry.name, fmt_shape(row.shape), timing(OURS), timing("NCHW"), timing("CL"),
            ratio(row.ratio_to("NCHW") if "NCHW" in row.torch else row.ratio), ratio(row.ratio_to("CL")),
            rate(row.ours), rate(best), f"{100 * fraction:.0f}%" if fraction is not None else "-",
            "/".join(spreads), "/".join(f"{v:.0f}" if v else "-" for v in row.core_trip_ns) or "-", check]


def format_rows(rows) -> str:
    """The results table."""
    return format_table(HEADERS, [_cells(r) for r in rows], right=_RIGHT)


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the bench options to ``parser`` (used by ``pydeepkit bench`` and bench/run.py)."""
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="run only entries whose name contains one of these substrings "
                             "(e.g. max_pool, 'avg_pool2d 2x2') or of this family (pool, conv, models, ...); "
                             "default: all")
    parser.add_argument("--backend", choices=_devices.BACKENDS, default="cpu",
                        help="our kernels to run: cpu (default), emu (CUDA kernels on the CPU emulator; "
                             "slow, so quick shapes are used), cuda (needs a GPU and cupy)")
    parser.add_argument("--repeat", type=int, default=15, metavar="N",
                        help="timed rounds per entry (default 15); the median is reported")
    parser.add_argument("--quick", action="store_true", help="small shapes (seconds in total; for smoke tests)")
    parser.add_argument("--json", metavar="FILE", help="also write machine info and all rows to FILE as JSON")
    parser.add_argument("--pause", type=float, default=20.0, metavar="MS",
                        help="sleep before each timed sample so the other library's threads go idle (default 20)")
    parser.add_argument("--simd", metavar="ISA", help="force our CPU kernels' instruction set (base, avx2, avx512)")
    parser.add_argument("--no-torch", action="store_true", help="time ours only")
    parser.add_argument("--list", action="store_true", help="list the entries and exit")


def run_cli(args: argparse.Namespace) -> int:
    """Runs ``pydeepkit bench`` with parsed arguments; returns the exit code."""
    chosen = select(entries(), args.names)
    if args.list or not chosen:
        if not chosen:
            print(f"bench: no entry matches {args.names}; the entries are:", file=sys.stderr)
        for e in entries():
            print(f"{e.name:32s} {fmt_shape(e.shape('full')):20s} quick {fmt_shape(e.shape('quick'))}",
                  file=sys.stdout if chosen else sys.stderr)
        return 0 if chosen else 2
    if args.repeat < 1:
        print("bench: --repeat must be >= 1", file=sys.stderr)
        return 2
    reason = _devices.backend_status(args.backend)
    if reason:
        print(f"bench: backend {args.backend!r} cannot run here: {reason}", file=sys.stderr)
        return 2
    if args.simd:
        try:
            _ext.module("cpu").set_simd(args.simd)
        except Exception as exc:
            print(f"bench: --simd {args.simd}: {exc}", file=sys.stderr)
            return 2

    allocator = steady_allocator()
    torch = None if args.no_torch else _devices.load_torch(_devices.our_threads())
    device = _devices.Device(args.backend, torch)
    size = "quick" if args.quick or args.backend == "emu" else "full"
    settings = {"backend": args.backend, "size": size, "repeat": args.repeat, "pause_ms": args.pause,
                "note": "emu: the emulator is for correctness, not speed; quick shapes are used"
                        if args.backend == "emu" else ""}
    machine = machine_info(args.backend, device.torch)
    machine["allocator"] = allocator
    print(format_header(machine, settings), flush=True)
    print(flush=True)

    if any(e.metric == "GFLOP/s" for e in chosen) and size == "full" and args.backend == "cpu":
        machine["best_gemm_gflops"], machine["best_gemm_source"] = best_gemm_rate(device.torch)
        print(f"best GEMM now: {machine['best_gemm_gflops']:.0f} GFLOP/s ({machine['best_gemm_source']})", flush=True)
    rows = []
    for i, entry in enumerate(chosen, 1):
        if sys.stderr.isatty():
            print(f"\r[{i}/{len(chosen)}] {entry.name}\x1b[K", end="", file=sys.stderr, flush=True)
        rows.append(run_entry(entry, device, size=size, repeat=args.repeat, pause=args.pause / 1e3))
        rows[-1].best_gemm_rate = machine.get("best_gemm_gflops")
    if sys.stderr.isatty():
        print("\r\x1b[K", end="", file=sys.stderr, flush=True)
    print(format_rows(rows))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "settings": settings, "rows": [r.as_dict() for r in rows]}, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


def main(argv=None) -> int:
    """Entry point of ``python bench/run.py`` (``pydeepkit bench`` uses :func:`run_cli`)."""
    parser = argparse.ArgumentParser(prog="pydeepkit bench", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_cli(parser.parse_args(argv))


DESCRIPTION = """\
Times pydeepkit's kernels against torch in one process and prints a table:
ours, torch NCHW and torch channels_last (median of interleaved rounds after
warm-up, with a short pause between samples), the ratio ours / fastest torch,
the achieved GB/s or GFLOP/s, the spread, and an ours-vs-torch output check.
Entries whose kernel is missing or fails show ERR instead of stopping the run.

examples:
  pydeepkit bench                      all entries, full shapes, CPU
  pydeepkit bench max_pool --repeat 30
  pydeepkit bench models --quick       whole architectures, ours (plain and fused) vs torchvision
  pydeepkit bench --quick --json out.json
"""
