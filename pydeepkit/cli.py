"""The ``pydeepkit`` command: ``info``, ``bench``, ``demo`` and ``classify``.

Installed as the ``pydeepkit`` script and runnable as ``python -m pydeepkit``.
Subcommand modules (and torch, which bench and demo use) are imported only when
their subcommand runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

_EPILOG = """\
examples:
  pydeepkit info                  backends, SIMD kernels, OpenMP threads, CUDA devices
  pydeepkit demo                  check every op on every backend against the numpy reference,
                                  then every architecture against torchvision
  pydeepkit bench max_pool        time ours vs torch for entries whose name contains max_pool
  pydeepkit bench --quick --json out.json
  pydeepkit classify cat.jpg --model resnet50 --weights resnet50.pth

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


def _classify(args: argparse.Namespace) -> int:
    from . import models
    from .nn import StateDictError

    def fail(message):
        print(f"classify: {message}", file=sys.stderr)
        return 1
    # inputs are checked before the model is built: building and loading ResNet-50 takes seconds
    if not os.path.isfile(args.image):
        return fail(f"no such image file: {args.image}")
    if args.model not in models.list_models():
        return fail(f"unknown model {args.model!r}; known: {', '.join(models.list_models())}")
    channels, side, _ = models.input_shape(args.model)
    if channels != 3:
        return fail(f"{args.model} takes {channels}-channel {side}x{side} images, not RGB photos")
    if not os.path.isfile(args.weights):
        return fail(f"no such weights file: {args.weights}")
    if args.topk < 1:
        return fail(f"--topk must be >= 1, got {args.topk}")
    from .bench._devices import backend_status
    reason = backend_status(args.backend)
    if reason:
        return fail(f"backend {args.backend!r} cannot run here: {reason}")
    size = args.size or side
    resize = args.resize or models.imagenet.evaluation_resize(size)
    try:
        x = models.preprocess_image(args.image, size, resize)
    except (ValueError, ImportError) as exc:
        return fail(str(exc))
    try:
        model = models.get_model(args.model, weights=args.weights, device=args.backend)
    except StateDictError as exc:
        return fail(f"the weights in {args.weights} do not fit {args.model}: {exc}")
    except (ValueError, ImportError, OSError) as exc:
        return fail(f"cannot load {args.weights}: {exc}")
    top = models.classify(model, x, args.topk)
    print(f"{args.model} on {args.image} ({size}x{size} centre crop of the image resized to {resize}, "
          f"backend {args.backend})")
    from .bench._table import format_table
    print(format_table(("rank", "class", "probability"),
                       [(i, name, f"{p:.4f}") for i, (name, p) in enumerate(top, 1)], right=("rank", "probability")))
    return 0


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

    demo = commands.add_parser("demo", help="check every op on every backend against the numpy reference, then run every model",
                               description=DEMO_DESCRIPTION, formatter_class=raw)
    demo_arguments(demo)
    demo.set_defaults(run=_demo)

    classify = commands.add_parser(
        "classify", help="the top-k ImageNet classes of a photo", formatter_class=raw,
        description="Classifies IMAGE with MODEL and its WEIGHTS (torchvision's state_dict names: a .pth "
                    "saved by torch.save(model.state_dict()), .npz or .safetensors) after torchvision's "
                    "evaluation preprocessing (resize, centre crop, ImageNet normalisation; needs Pillow) and "
                    "prints the most probable classes with their probabilities.",
        epilog="example:\n  pydeepkit classify cat.jpg --model resnet50 --weights resnet50-11ad3fa6.pth --topk 3")
    classify.add_argument("image", metavar="IMAGE", help="image file (any format Pillow reads)")
    classify.add_argument("--model", required=True, metavar="NAME", help="architecture (pydeepkit.models.list_models())")
    classify.add_argument("--weights", required=True, metavar="FILE", help="state_dict file: .pth, .pt, .npz, .safetensors")
    classify.add_argument("--topk", type=int, default=5, metavar="K", help="how many classes to print (default 5)")
    classify.add_argument("--backend", choices=("cpu", "emu", "cuda"), default="cpu",
                          help="where the model runs (default cpu; emu is slow)")
    classify.add_argument("--size", type=int, metavar="PIXELS",
                          help="centre crop side (default: the model's input, 224; Inception-v3 299)")
    classify.add_argument("--resize", type=int, metavar="PIXELS",
                          help="shorter side after resizing (default: size / 0.875, i.e. 256 for 224)")
    classify.set_defaults(run=_classify)
    return parser


# OpenBLAS (numpy's BLAS) keeps its worker threads spinning for ~0.1 s after every call. On a
# 2-core machine a spinning worker takes a core from the next call of ours: measured, our 512^3
# GEMM ran in 14 ms instead of 1.8 ms when it followed a numpy.matmul, so the bench's numpy rows
# (and every row after them) timed the contention, not the kernels. The timeout is read once,
# when OpenBLAS loads with numpy, hence a fresh process with it set; 4 (2^4 cycles, the minimum)
# makes the workers sleep at once, which costs numpy.matmul nothing measurable at these sizes.
_BLAS_TIMEOUT = "OPENBLAS_THREAD_TIMEOUT"


def _restart_with_quiet_blas() -> None:
    os.environ[_BLAS_TIMEOUT] = "4"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "pydeepkit", *sys.argv[1:]])


def main(argv=None) -> int:
    """Entry point of the ``pydeepkit`` script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "bench" and argv is None and _BLAS_TIMEOUT not in os.environ:
        _restart_with_quiet_blas()  # does not return
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
