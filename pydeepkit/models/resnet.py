"""ResNet-18/34/50/101/152 (He et al. 2015) with torchvision's constructor arguments and key names
(conv1, bn1, layer1..layer4 of BasicBlock/Bottleneck with downsample.0/1, fc); ResNeXt and
wide variants through groups / width_per_group as in torchvision."""
from __future__ import annotations

from .. import nn, ops
from ._common import builder
from ..nn.fuse import fold_batch_norm

__all__ = ["ResNet", "BasicBlock", "Bottleneck", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def conv3x3(cin, cout, stride=1, groups=1, dilation=1):
    return nn.Conv2d(cin, cout, 3, stride, dilation, groups=groups, bias=False, dilation=dilation)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


class _Block(nn.Module):
    """The shared forward: a chain of (conv, bn) pairs with ReLUs between and the shortcut added
    before the last ReLU; after fuse() the BNs are folded and add + ReLU run in the last
    convolution's epilogue."""

    _pairs = ()

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = x
        last = len(self._pairs) - 1
        for i, (c, b) in enumerate(self._pairs):
            conv, bn = getattr(self, c), getattr(self, b)
            if i == last:
                if conv.activation:  # fused: residual add and ReLU in the epilogue
                    return conv(out, residual=identity)
                out = bn(conv(out))
                out += identity
                return ops.relu(out, backend=self.backend)
            out = conv(out)
            out = out if conv.activation else ops.relu(bn(out), backend=self.backend)

    def _fuse(self):
        for c, b in self._pairs:
            conv, bn = getattr(self, c), getattr(self, b)
            if isinstance(bn, nn.BatchNorm2d):
                fold_batch_norm(conv, bn)
                setattr(self, b, nn.Identity())
            conv.activation = "relu"


class BasicBlock(_Block):
    expansion = 1
    _pairs = (("conv1", "bn1"), ("conv2", "bn2"))

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64 (as torchvision)")
        if dilation > 1:
            raise ValueError("Dilation > 1 not supported in BasicBlock (as torchvision)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        if downsample is None:
            self._modules["downsample"] = None


class Bottleneck(_Block):
    expansion = 4
    _pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample
        if downsample is None:
            self._modules["downsample"] = None


class ResNet(nn.Module):
    """torchvision.models.ResNet(block, layers, num_classes=1000, zero_init_residual=False, groups=1,
    width_per_group=64, replace_stride_with_dilation=None). Input [N, 3, H, W] (any H, W >= 32
    works; 224 is the ImageNet size); output [N, num_classes] logits."""

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1, width_per_group=64,
                 replace_stride_with_dilation=None, norm_layer=None):
        super().__init__()
        if norm_layer is not None and norm_layer is not nn.BatchNorm2d:
            raise ValueError("ResNet: only norm_layer=BatchNorm2d is supported")
        self.inplanes, self.dilation = 64, 1
        replace_stride_with_dilation = replace_stride_with_dilation or [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None or a 3-element tuple, got "
                             f"{replace_stride_with_dilation}")
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2, replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], 2, replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], 2, replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        if zero_init_residual:
            import numpy as np
            for m in self.modules():
                if isinstance(m, _Block):
                    bn = getattr(m, m._pairs[-1][1])
                    bn.weight = nn.Parameter(np.zeros_like(bn.weight))

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        downsample, previous_dilation = None, self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(x.reshape(x.shape[0], -1))

    def _fuse(self):
        if isinstance(self.bn1, nn.BatchNorm2d):
            fold_batch_norm(self.conv1, self.bn1)
            self.bn1, self.relu = nn.Identity(), nn.Identity()
            self.conv1.activation = "relu"


def _resnet(block, layers, **kwargs):
    return ResNet(block, layers, **kwargs)


@builder
def resnet18(**kwargs):
    """ResNet-18 (11.7 M parameters): torchvision.models.resnet18's arguments and keys.

    Example:
        >>> pydeepkit.models.resnet18(num_classes=10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape
        (1, 10)
    """
    return _resnet(BasicBlock, [2, 2, 2, 2], **kwargs)


@builder
def resnet34(**kwargs):
    """ResNet-34 (21.8 M parameters), torchvision's arguments and keys."""
    return _resnet(BasicBlock, [3, 4, 6, 3], **kwargs)


@builder
def resnet50(**kwargs):
    """ResNet-50 (25.6 M parameters, bottleneck blocks), torchvision's arguments and keys."""
    return _resnet(Bottleneck, [3, 4, 6, 3], **kwargs)


@builder
def resnet101(**kwargs):
    """ResNet-101 (44.5 M parameters), torchvision's arguments and keys."""
    return _resnet(Bottleneck, [3, 4, 23, 3], **kwargs)


@builder
def resnet152(**kwargs):
    """ResNet-152 (60.2 M parameters), torchvision's arguments and keys."""
    return _resnet(Bottleneck, [3, 8, 36, 3], **kwargs)
