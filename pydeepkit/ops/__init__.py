"""Functional ops of pydeepkit (torch.nn.functional names and semantics), one module per op family."""
from .boxes import *  # noqa: F401,F403
from .boxes import __all__ as _boxes_all
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv_all
from .gemm import *  # noqa: F401,F403
from .gemm import __all__ as _gemm_all
from .pool import *  # noqa: F401,F403
from .pool import __all__ as _pool_all
from .roi import *  # noqa: F401,F403
from .roi import __all__ as _roi_all
from .rnn import *  # noqa: F401,F403
from .rnn import __all__ as _rnn_all
from .attention import *  # noqa: F401,F403
from .attention import __all__ as _attention_all

__all__ = [*_pool_all, *_gemm_all, *_conv_all, *_boxes_all, *_roi_all, *_rnn_all, *_attention_all]
