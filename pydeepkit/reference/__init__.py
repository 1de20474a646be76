"""Numpy reference implementations (oracles) of pydeepkit's ops, one module per family.

They are plain and obviously correct (loops over output positions, vectorised over
the batch/channel planes) and follow torch's documented semantics. The test suite
checks every kernel against them; ``pydeepkit demo`` uses them at run time.
"""
from . import boxes, conv, gemm, pool, roi
from .boxes import *  # noqa: F401,F403
# reference.gemm is the oracle function (it shadows its module's name, like every op name here)
from .gemm import gemm  # noqa: F401
from .pool import *  # noqa: F401,F403
from .roi import *  # noqa: F401,F403
from .conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,  # noqa: F401
                   conv_transpose3d, separable_conv2d)

__all__ = ["pool", "gemm", "conv", "boxes", "roi"] + list(pool.__all__) + list(boxes.__all__) + list(roi.__all__) + [n for n in conv.__all__ if n[-2:] == "2d" or n[-1] == "d"]
from . import activation, norm, linear, upsample, embedding  # noqa: E402
from .activation import *  # noqa: F401,F403,E402
from .norm import *  # noqa: F401,F403,E402
from .linear import linear  # noqa: F401,E402
from .upsample import interpolate, upsample  # noqa: F401,E402
from .embedding import embedding  # noqa: F401,E402

__all__ += ["activation", "norm", "linear", "upsample", "embedding", *activation.__all__, *norm.__all__,
            "interpolate"]
