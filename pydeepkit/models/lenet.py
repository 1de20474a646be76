"""LeNet-5 (LeCun et al. 1998) in its common modern form: 32x32 single-channel input, 5x5
convolutions with tanh, 2x2 average pooling, 120-84-10 fully connected layers."""
from __future__ import annotations

from .. import nn

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet5(num_classes=10, in_channels=1). Input [N, in_channels, 32, 32] -> [N, num_classes].
    Keys: features.0 (C1 6@5x5), features.3 (C3 16@5x5), classifier.0/2/4 (F5 120, F6 84, output)."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes))

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.reshape(x.shape[0], -1))


def lenet5(**kwargs):
    """LeNet-5 (61,706 parameters for 10 classes).

    Example:
        >>> pydeepkit.models.lenet5()(np.zeros((2, 1, 32, 32), np.float32)).shape
        (2, 10)
    """
    return LeNet5(**kwargs)
