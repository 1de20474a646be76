"""AlexNet: torchvision's single-tower variant (keys features.<i>, classifier.<i>; 61,100,840
parameters) and the two-tower model of Krizhevsky et al. 2012 as the course tables it
(96-256-384-384-256 filters, grouped conv2/4/5, LocalResponseNorm, 227x227 input; 60,965,224
parameters)."""
from __future__ import annotations

from .. import nn
from ._common import builder

__all__ = ["AlexNet", "alexnet", "alexnet_paper"]


class AlexNet(nn.Module):
    """torchvision.models.AlexNet(num_classes=1000, dropout=0.5). Input [N, 3, H, W] (H, W >= 63)."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.reshape(x.shape[0], -1))


class AlexNetPaper(nn.Module):
    """The 2012 paper's AlexNet: two GPU towers expressed as groups=2 in conv2, conv4 and conv5,
    local response normalisation (size 5, alpha 1e-4, beta 0.75, k 2) after conv1 and conv2,
    overlapping 3x3/2 max pooling. Input [N, 3, 227, 227] -> [N, num_classes]."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, 4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.reshape(x.shape[0], -1))


@builder
def alexnet(**kwargs):
    """AlexNet as torchvision.models.alexnet (num_classes, dropout; same keys).

    Example:
        >>> sum(p.size for p in pydeepkit.models.alexnet().parameters())
        61100840
    """
    return AlexNet(**kwargs)


@builder
def alexnet_paper(**kwargs):
    """AlexNet as in Krizhevsky et al. 2012 (the course's table: 60 M parameters, 227x227 input).

    Example:
        >>> pydeepkit.models.alexnet_paper(num_classes=10).eval()(np.zeros((1, 3, 227, 227), np.float32)).shape
        (1, 10)
    """
    return AlexNetPaper(**kwargs)
