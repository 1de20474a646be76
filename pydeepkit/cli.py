"""The ``pydeepkit`` command: ``info``, ``bench`` and ``demo``.

Installed as the ``pydeepkit`` script and runnable as ``python -m pydeepkit``.
Subcommand modules (and torch, which bench and demo use) are imported only when
their subcommand runs.
"""
from __future__ import annotations

import argparse
import json
import sys

_EPILOG = """\
examples:
  pydeepkit info                  backends, SIMD kernels, OpenMP threads, CUDA devices
  pydeepkit demo                  check every op on every backend against the numpy reference
  pydeepkit bench max_pool        time ours vs torch for entries whose name contains max_pool
  pydeepkit bench --quick --json out.json

PYDEEPKIT_EXTENSION_DIR=<build dir> loads the compiled extensions from a build tree.
"""


def _info(args: argparse.Namespace) -> int:
    from . import __version__, info
    from ._info import format_info
    report = info()
    if args.json:
        print(json.dumps({"pydeepkit": __version__, **report}, indent=2, default=str))
    else:
        print(f"pydeepkit {__version__}")
        print(format_info(report))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import run_cli
    return run_cli(args)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_cli
    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pydeepkit`` command."""
    from .bench._runner import DESCRIPTION as BENCH_DESCRIPTION, add_arguments as bench_arguments
    from .demo import DESCRIPTION as DEMO_DESCRIPTION, add_arguments as demo_arguments

    parser = argparse.ArgumentParser(
        prog="pydeepkit", description="pydeepkit: hand-written C++/CUDA kernels for CNN and RNN building blocks.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    raw = argparse.RawDescriptionHelpFormatter

    info = commands.add_parser("info", help="what this installation was built with and can run on",
                               description="Prints pydeepkit.info(): per backend (cpu, emu, cuda) its state, "
                                           "SIMD kernels, OpenMP threads, CUDA runtime and devices.")
    info.add_argument("--json", action="store_true", help="print the report as JSON")
    info.set_defaults(run=_info)

    bench = commands.add_parser("bench", help="time ours vs torch, side by side",
                                description=BENCH_DESCRIPTION, formatter_class=raw)
    bench_arguments(bench)
    bench.set_defaults(run=_bench)

    demo = commands.add_parser("demo", help="check every op on every backend against the numpy reference",
                               description=DEMO_DESCRIPTION, formatter_class=raw)
    demo_arguments(demo)
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``pydeepkit`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
