"""Functional ops of pydeepkit (torch.nn.functional names and semantics), one module per op family."""
from .pool import *  # noqa: F401,F403
from .pool import __all__ as _pool_all

__all__ = list(_pool_all)
