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

__all__ = [*_pool_all, *_gemm_all, *_conv_all, *_boxes_all, *_roi_all]
from .activation import *  # noqa: F401,F403,E402
from .activation import __all__ as _activation_all  # noqa: E402
from .norm import *  # noqa: F401,F403,E402
from .norm import __all__ as _norm_all  # noqa: E402
from .linear import *  # noqa: F401,F403,E402
from .linear import __all__ as _linear_all  # noqa: E402
from .upsample import *  # noqa: F401,F403,E402
from .upsample import __all__ as _upsample_all  # noqa: E402
from .embedding import *  # noqa: F401,F403,E402
from .embedding import __all__ as _embedding_all  # noqa: E402

__all__ += [*_activation_all, *_norm_all, *_linear_all, *_upsample_all, *_embedding_all]
