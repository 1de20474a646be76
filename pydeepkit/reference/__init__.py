"""Numpy reference implementations (oracles) of pydeepkit's ops, one module per family.

They are plain and obviously correct (loops over output positions, vectorised over
the batch/channel planes) and follow torch's documented semantics. The test suite
checks every kernel against them; ``pydeepkit demo`` uses them at run time.
"""
from . import gemm, pool
# reference.gemm is the oracle function (it shadows its module's name, like every op name here)
from .gemm import gemm  # noqa: F401
from .pool import *  # noqa: F401,F403

__all__ = ["pool", "gemm"] + list(pool.__all__)
