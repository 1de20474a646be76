"""Functional ops of pydeepkit (torch.nn.functional names and semantics), one module per op family."""
from .. import _ext
from .activation import *  # noqa: F401,F403
from .activation import __all__ as _activation_all
from .attention import *  # noqa: F401,F403
from .attention import __all__ as _attention_all
from .boxes import *  # noqa: F401,F403
from .boxes import __all__ as _boxes_all
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv_all
from .embedding import *  # noqa: F401,F403
from .embedding import __all__ as _embedding_all
from .gemm import *  # noqa: F401,F403
from .gemm import __all__ as _gemm_all
from .linear import *  # noqa: F401,F403
from .linear import __all__ as _linear_all
from .norm import *  # noqa: F401,F403
from .norm import __all__ as _norm_all
from .pool import *  # noqa: F401,F403
from .pool import __all__ as _pool_all
from .rnn import *  # noqa: F401,F403
from .rnn import __all__ as _rnn_all
from .roi import *  # noqa: F401,F403
from .roi import __all__ as _roi_all
from .upsample import *  # noqa: F401,F403
from .upsample import __all__ as _upsample_all

__all__ = [*_pool_all, *_gemm_all, *_conv_all, *_boxes_all, *_roi_all, *_rnn_all, *_attention_all,
           *_activation_all, *_norm_all, *_linear_all, *_upsample_all, *_embedding_all]


# Not an op: frees the scratch blocks the CPU kernels keep.
def release_workspaces():
    """Frees the large scratch blocks (at most 64 MB) the CPU kernels keep for the calling
    thread's next call: packed and transformed weights, the recurrent kernels' pre-activations
    (T x B x gates x hidden per direction) and other workspaces, e.g. after a long sequence or a
    large convolution whose buffers are no longer needed.

    Example:
        >>> pydeepkit.ops.release_workspaces()
    """
    _ext.module("cpu").release_scratch()
