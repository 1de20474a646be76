"""pydeepkit.nn: layers and containers with torch.nn's names, arguments and state_dict keys (inference).

Example:
    >>> net = pydeepkit.nn.Sequential(pydeepkit.nn.Conv2d(3, 8, 3, padding=1), pydeepkit.nn.BatchNorm2d(8),
    ...                               pydeepkit.nn.ReLU()).eval()
    >>> net(np.zeros((1, 3, 16, 16), np.float32)).shape
    (1, 8, 16, 16)
"""
from . import init
from .init import manual_seed, skip_init
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers_all
from .recurrent import *  # noqa: F401,F403
from .recurrent import __all__ as _recurrent_all
from .attention import MultiheadAttention
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential, StateDictError, forward_hook
from .fuse import fuse

__all__ = ["Module", "Sequential", "ModuleList", "ModuleDict", "Parameter", "StateDictError", "forward_hook",
           "init", "manual_seed", "skip_init", "fuse", "MultiheadAttention", *_layers_all, *_recurrent_all]
