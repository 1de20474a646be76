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
__all__ = ["ops", "info", "BackendUnavailable", "__version__", *ops.__all__]

from . import nn  # noqa: E402

__all__ += ["nn"]
from . import models, weights  # noqa: E402

__all__ += ["models", "weights"]
from .summary import summary  # noqa: E402

__all__ += ["summary"]
