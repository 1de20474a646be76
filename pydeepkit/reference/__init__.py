"""Numpy reference implementations (oracles) of pydeepkit's ops, one module per family.

They are plain and obviously correct (loops over output positions, vectorised over
the batch/channel planes) and follow torch's documented semantics. The test suite
checks every kernel against them; ``pydeepkit demo`` uses them at run time.

Where an op is named like its family (gemm, rnn, linear, upsample, embedding), the package
attribute is the oracle function (the module stays in ``sys.modules``; rnn's as ``_rnn_module``).
"""
from . import activation, attention, boxes, conv, embedding, gemm, linear, norm, pool, roi, upsample
from . import rnn as _rnn_module
from .activation import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .boxes import *  # noqa: F401,F403
from .conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,  # noqa: F401
                   conv_transpose3d, separable_conv2d)
from .embedding import embedding  # noqa: F401,F811
from .gemm import gemm  # noqa: F401,F811
from .linear import linear  # noqa: F401,F811
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .roi import *  # noqa: F401,F403
from .rnn import gru, gru_cell, lstm, lstm_cell, rnn, rnn_relu_cell, rnn_tanh_cell  # noqa: F401
from .upsample import interpolate, upsample  # noqa: F401,F811

__all__ = (["pool", "gemm", "conv", "boxes", "roi", "attention", "activation", "norm", "linear", "upsample",
            "embedding", "interpolate"]
           + list(pool.__all__) + list(boxes.__all__) + list(roi.__all__)
           + [n for n in conv.__all__ if n[-2:] == "2d" or n[-1] == "d"]
           + list(_rnn_module.__all__) + list(attention.__all__) + list(activation.__all__) + list(norm.__all__))
