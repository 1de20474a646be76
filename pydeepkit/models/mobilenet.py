"""MobileNet-v1 (Howard et al. 2017: depthwise separable convolutions, width multiplier) and
MobileNet-v2 (Sandler et al. 2018: inverted residuals, linear bottlenecks) with torchvision's
arguments and keys for v2 (features.<i>.conv.<j>, classifier.1)."""
from __future__ import annotations

from .. import nn, ops
from ._common import builder
from ..nn.fuse import fold_batch_norm

__all__ = ["MobileNetV1", "MobileNetV2", "InvertedResidual", "mobilenet_v1", "mobilenet_v2"]


def _make_divisible(v, divisor=8, min_value=None):
    """Channels rounded to a multiple of ``divisor``, never more than 10% below ``v`` (torchvision's rule)."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn_act(cin, cout, kernel_size=3, stride=1, groups=1, activation=nn.ReLU6):
    """torchvision's Conv2dNormActivation: Sequential(conv (no bias), BatchNorm2d, activation)."""
    layers = [nn.Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class MobileNetV1(nn.Module):
    """MobileNetV1(num_classes=1000, width_mult=1.0, dropout=0.001): a 3x3 stride-2 stem, 13
    depthwise-separable blocks (depthwise 3x3 + BN + ReLU, pointwise 1x1 + BN + ReLU; keys
    features.<i>.0 .. .5), global average pooling, classifier.1 (Linear). Channels are
    scaled by width_mult (the paper's alpha) and rounded to multiples of 8."""

    # (output channels, stride) of the separable blocks
    CFG = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1))

    def __init__(self, num_classes=1000, width_mult=1.0, dropout=0.001):
        super().__init__()
        cin = _make_divisible(32 * width_mult)
        layers = [conv_bn_act(3, cin, 3, 2, activation=nn.ReLU)]
        for c, s in self.CFG:
            cout = _make_divisible(c * width_mult)
            layers.append(nn.Sequential(
                nn.Conv2d(cin, cin, 3, s, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(),
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(cin, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.reshape(x.shape[0], -1))


class InvertedResidual(nn.Module):
    """MobileNet-v2 block: 1x1 expansion (unless expand_ratio is 1), 3x3 depthwise, 1x1 linear
    projection; the input is added when stride is 1 and the channel counts match."""

    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride should be 1 or 2 instead of {stride}")
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_bn_act(inp, hidden, 1)] if expand_ratio != 1 else []
        layers += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        if not self.use_res_connect:
            return self.conv(x)
        last = self.conv[-2]
        if isinstance(self.conv[-1], nn.Identity):  # fused: the add runs in the projection's epilogue
            h = x
            for m in list(self.conv)[:-2]:
                h = m(h)
            return last(h, residual=x)
        return x + self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision.models.MobileNetV2(num_classes=1000, width_mult=1.0, inverted_residual_setting=None,
    round_nearest=8, dropout=0.2). Input [N, 3, H, W] -> [N, num_classes]."""

    def __init__(self, num_classes=1000, width_mult=1.0, inverted_residual_setting=None, round_nearest=8,
                 block=None, norm_layer=None, dropout=0.2):
        super().__init__()
        block = block or InvertedResidual
        setting = inverted_residual_setting or [
            [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
        if len(setting) == 0 or len(setting[0]) != 4:
            raise ValueError(f"inverted_residual_setting should be non-empty or a 4-element list, got {setting}")
        cin = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [conv_bn_act(3, cin, 3, 2)]
        for t, c, n, s in setting:
            cout = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(block(cin, cout, s if i == 0 else 1, expand_ratio=t))
                cin = cout
        features.append(conv_bn_act(cin, self.last_channel, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.last_channel, num_classes))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(ops.global_avg_pool(x, backend=self.backend))


@builder
def mobilenet_v1(**kwargs):
    """MobileNet-v1 (4.2 M parameters at width_mult=1.0); width_mult scales every layer's channels.

    Example:
        >>> pydeepkit.models.mobilenet_v1(width_mult=0.25, num_classes=5).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
        (1, 5)
    """
    return MobileNetV1(**kwargs)


@builder
def mobilenet_v2(**kwargs):
    """MobileNet-v2 (3.5 M parameters), torchvision.models.mobilenet_v2's arguments and keys.

    Example:
        >>> pydeepkit.models.mobilenet_v2(num_classes=7).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
        (1, 7)
    """
    return MobileNetV2(**kwargs)
