"""Registers, shared memory and spills of every CUDA kernel, per architecture (nvcc -Xptxas -v).

    python bench/kernel_resources.py                 # table for sm_80 and sm_90
    python bench/kernel_resources.py --check         # exit 1 if any kernel spills (CI runs this)
    python bench/kernel_resources.py --archs 80 --files csrc/pool/pool_cuda.cu
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cuda_sources():
    """The PDK_CUDA_SOURCES list of cmake/sources.cmake."""
    text = open(os.path.join(ROOT, "cmake", "sources.cmake")).read()
    block = re.search(r"set\(PDK_CUDA_SOURCES(.*?)\)", text, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def demangle(names):
    if not names or not shutil.which("c++filt"):
        return dict(zip(names, names))
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.split("\n")
    return {n: re.sub(r"\(anonymous namespace\)::|pdk::", "", d) for n, d in zip(names, out)}


def kernel_rows(nvcc, source, arch):
    """One dict per kernel: name, registers, shared bytes, spill store/load bytes, stack."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [nvcc, "-std=c++20", f"-arch=sm_{arch}", "-Xptxas", "-v", "--expt-relaxed-constexpr",
               "-I", os.path.join(ROOT, "csrc"), "-c", os.path.join(ROOT, source), "-o", os.path.join(tmp, "k.o")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"nvcc failed on {source}:\n{proc.stderr}")
    rows, current, properties_of = [], None, None
    for line in proc.stderr.splitlines():
        m = re.search(r"Function properties for (\S+)", line)
        if m:
            properties_of = m.group(1)
            continue
        m = re.search(r"Compiling entry function '([^']+)'", line)
        if m:
            current = {"kernel": m.group(1), "file": source, "arch": arch, "registers": 0, "shared": 0,
                       "spill_stores": 0, "spill_loads": 0, "stack": 0}
            rows.append(current)
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m and properties_of == current["kernel"]:
            current["stack"], current["spill_stores"], current["spill_loads"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current["registers"] = int(m.group(1))
            s = re.search(r"(\d+) bytes smem", line)
            current["shared"] = int(s.group(1)) if s else 0
            current = None
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="80,90", help="comma list of SM versions (default 80,90)")
    parser.add_argument("--files", nargs="*", help="CUDA sources (default: PDK_CUDA_SOURCES)")
    parser.add_argument("--check", action="store_true", help="exit 1 if any kernel spills registers")
    args = parser.parse_args(argv)
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(nvcc) and not shutil.which(nvcc):
        raise SystemExit("nvcc not found")
    rows = []
    for source in args.files or cuda_sources():
        for arch in args.archs.split(","):
            rows.extend(kernel_rows(nvcc, source, arch.strip()))
    names = demangle(sorted({r["kernel"] for r in rows}))
    print(f"{'arch':5s} {'regs':>4s} {'smem':>6s} {'stack':>5s} {'spill st/ld':>11s}  kernel")
    for r in rows:
        print(f"sm_{r['arch']:3s} {r['registers']:4d} {r['shared']:6d} {r['stack']:5d} "
              f"{r['spill_stores']:5d}/{r['spill_loads']:<5d}  {names[r['kernel']]}")
    spilling = [r for r in rows if r["spill_stores"] or r["spill_loads"]]
    print(f"{len(rows)} kernels, {len(spilling)} spilling")
    if args.check and spilling:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
