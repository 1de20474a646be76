"""VGG-11/13/16/19 with and without BatchNorm (Simonyan & Zisserman 2014), torchvision's arguments and
keys (features.<i>, classifier.0/3/6)."""
from __future__ import annotations

from .. import nn
from ._common import builder

__all__ = ["VGG", "make_layers", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"]

CFGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(cfg, batch_norm=False):
    """The feature extractor of a VGG configuration: 3x3 convolutions (+BN) + ReLU, 'M' a 2x2 max pool."""
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(cin, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU())
        cin = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """torchvision.models.VGG(features, num_classes=1000, init_weights=True, dropout=0.5): features,
    adaptive average pooling to 7x7, then the 4096-4096 classifier. Input [N, 3, H, W] with H, W >= 32."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.reshape(x.shape[0], -1))


def _vgg(cfg, batch_norm, **kwargs):
    return VGG(make_layers(CFGS[cfg], batch_norm), **kwargs)


def _doc(fn, depth, bn):
    fn.__doc__ = (f"VGG-{depth}{' with BatchNorm' if bn else ''}: torchvision.models.{fn.__name__}'s arguments "
                  "(num_classes, dropout, init_weights) and state_dict keys.")
    return fn


@builder
def vgg11(**kw): return _vgg("A", False, **kw)  # noqa: E704
@builder
def vgg11_bn(**kw): return _vgg("A", True, **kw)  # noqa: E704
@builder
def vgg13(**kw): return _vgg("B", False, **kw)  # noqa: E704
@builder
def vgg13_bn(**kw): return _vgg("B", True, **kw)  # noqa: E704
@builder
def vgg16(**kw): return _vgg("D", False, **kw)  # noqa: E704
@builder
def vgg16_bn(**kw): return _vgg("D", True, **kw)  # noqa: E704
@builder
def vgg19(**kw): return _vgg("E", False, **kw)  # noqa: E704
@builder
def vgg19_bn(**kw): return _vgg("E", True, **kw)  # noqa: E704


for _fn, _d in ((vgg11, 11), (vgg13, 13), (vgg16, 16), (vgg19, 19)):
    _doc(_fn, _d, False)
for _fn, _d in ((vgg11_bn, 11), (vgg13_bn, 13), (vgg16_bn, 16), (vgg19_bn, 19)):
    _doc(_fn, _d, True)
