"""pydeepkit: hand-written C++/CUDA kernels for CNN and RNN building blocks.

Ops take numpy arrays (CPU kernels), cupy arrays (CUDA kernels) or torch tensors
(either, zero copy) and return the caller's array type; ``backend="emu"`` runs the
CUDA kernels on the CPU emulator. See ``pydeepkit.ops`` and ``pydeepkit.info()``.
"""
from . import ops
from ._ext import BackendUnavailable
from ._info import info
from .ops import *  # noqa: F401,F403

__version__ = "0.1.0"
__all__ = ["ops", "nn", "models", "weights", "summary", "info", "BackendUnavailable", "__version__", *ops.__all__]

from . import models, nn, weights  # noqa: E402  (nn and models build on ops)
from .summary import summary  # noqa: E402
