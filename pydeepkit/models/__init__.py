"""pydeepkit.models: the classic classification architectures with torchvision's constructor arguments
and state_dict key names, so torchvision weights load as they are.

Example:
    >>> sorted(pydeepkit.models.list_models())[:3]
    ['alexnet', 'alexnet_paper', 'googlenet']
    >>> pydeepkit.models.get_model("resnet18", num_classes=10).eval()(np.zeros((1, 3, 64, 64), np.float32)).shape
    (1, 10)
"""
from __future__ import annotations

from .alexnet import AlexNet, alexnet, alexnet_paper
from .googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from .inception import Inception3, InceptionOutputs, inception_v3
from .lenet import LeNet5, lenet5
from .mobilenet import MobileNetV1, MobileNetV2, mobilenet_v1, mobilenet_v2
from .resnet import ResNet, resnet18, resnet34, resnet50, resnet101, resnet152
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

_BUILDERS = {f.__name__: f for f in (
    lenet5, alexnet, alexnet_paper, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn, googlenet,
    inception_v3, resnet18, resnet34, resnet50, resnet101, resnet152, mobilenet_v1, mobilenet_v2)}

# the models torchvision has too (same name, arguments and keys); the others are ours
TORCHVISION = tuple(n for n in _BUILDERS if n not in ("lenet5", "alexnet_paper", "mobilenet_v1"))

__all__ = ["list_models", "get_model", "TORCHVISION", *_BUILDERS,
           "AlexNet", "GoogLeNet", "GoogLeNetOutputs", "Inception3", "InceptionOutputs", "LeNet5", "MobileNetV1",
           "MobileNetV2", "ResNet", "VGG"]


def list_models():
    """The names get_model accepts (torchvision's names where torchvision has the model).

    Example:
        >>> "resnet50" in pydeepkit.models.list_models()
        True
    """
    return sorted(_BUILDERS)


def get_model(name, *, weights=None, device="cpu", **kwargs):
    """Builds model ``name`` with constructor ``kwargs`` (torchvision's), in eval mode.

    weights: None (fresh initialisation), a state_dict (name -> numpy array or torch tensor) or a
    file (.pth / .pt via torch, .npz, .safetensors), loaded strictly with torchvision's key
    names; the random initialisation is skipped then. device: 'cpu', 'emu' or 'cuda'.

    Example:
        >>> m = pydeepkit.models.get_model("mobilenet_v2", num_classes=3)
        >>> m.training, m.device
        (False, 'cpu')
    """
    if name not in _BUILDERS:
        raise ValueError(f"get_model: unknown model {name!r}; known: {', '.join(list_models())}")
    from .. import nn
    if weights is None:
        model = _BUILDERS[name](**kwargs)  # the builders initialise as torchvision (He-normal convolutions)
    else:
        from ..weights import load_weights
        state = load_weights(weights) if not hasattr(weights, "items") else weights
        with nn.skip_init():
            model = _BUILDERS[name](**kwargs)
        model.load_state_dict(state)
    model.eval()
    return model.to(device) if device != "cpu" else model
