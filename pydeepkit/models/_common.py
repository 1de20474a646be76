"""Pieces shared by the architectures: torchvision's conv-BN-ReLU unit and weight initialisation."""
from __future__ import annotations

import numpy as np

from .. import nn, ops
from .._backend import _cupy
from ..nn.fuse import fold_batch_norm


class BasicConv2d(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + ReLU, torchvision's GoogLeNet/Inception unit (keys conv.*, bn.*)."""

    def __init__(self, in_channels, out_channels, eps=1e-3, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)

    def forward(self, x):
        y = self.bn(self.conv(x))
        # after fuse() the ReLU already ran in the convolution's epilogue
        return y if self.conv.activation else ops.relu(y, backend=self.backend)

    def _fuse(self):
        if isinstance(self.bn, nn.BatchNorm2d):
            fold_batch_norm(self.conv, self.bn)
            self.bn = nn.Identity()
            self.conv.activation = "relu"


def cat(arrays, backend):
    """Concatenation along channels with the arrays' library."""
    xp = _cupy() if backend == "cuda" else np
    return xp.concatenate(arrays, axis=1)


def builder(fn):
    """Marks a model constructor: layers built inside get He-normal convolutions (nn.init.he_init),
    the initialisation torchvision's CNNs use, so a fresh model's activations keep their scale."""
    import functools

    @functools.wraps(fn)
    def build(**kwargs):
        with nn.init.he_init():
            return fn(**kwargs)
    return build
