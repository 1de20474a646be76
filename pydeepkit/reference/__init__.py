"""Numpy reference implementations (oracles) of pydeepkit's ops, one module per family.

They are plain and obviously correct (loops over output positions, vectorised over
the batch/channel planes) and follow torch's documented semantics. The test suite
checks every kernel against them; ``pydeepkit demo`` uses them at run time.

Where an op is named like its family (gemm, rnn), the package attribute is the oracle
function and the family module is reached as ``pydeepkit.reference.<family>`` only
through ``sys.modules`` / ``_rnn_module``.
"""
from . import attention, boxes, conv, gemm, pool, roi
from . import rnn as _rnn_module
from .attention import *  # noqa: F401,F403
from .boxes import *  # noqa: F401,F403
from .conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,  # noqa: F401
                   conv_transpose3d, separable_conv2d)
from .gemm import gemm  # noqa: F401,F811
from .pool import *  # noqa: F401,F403
from .roi import *  # noqa: F401,F403
from .rnn import gru, gru_cell, lstm, lstm_cell, rnn, rnn_relu_cell, rnn_tanh_cell  # noqa: F401

__all__ = (["pool", "gemm", "conv", "boxes", "roi", "attention"]
           + list(pool.__all__) + list(boxes.__all__) + list(roi.__all__)
           + [n for n in conv.__all__ if n[-2:] == "2d" or n[-1] == "d"]
           + list(_rnn_module.__all__) + list(attention.__all__))
