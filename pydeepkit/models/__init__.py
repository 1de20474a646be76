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
from .imagenet import IMAGENET_MEAN, IMAGENET_STD, classify, imagenet_classes, preprocess_image
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

__all__ = ["list_models", "get_model", "input_shape", "TORCHVISION", "preprocess_image", "imagenet_classes", "classify",
           "IMAGENET_MEAN", "IMAGENET_STD", *_BUILDERS,
           "AlexNet", "GoogLeNet", "GoogLeNetOutputs", "Inception3", "InceptionOutputs", "LeNet5", "MobileNetV1",
           "MobileNetV2", "ResNet", "VGG"]

# [C, H, W] each architecture is built for (the others: [3, 224, 224]), and the sides of a fast
# input it still accepts ("small"): Inception-v3's stem needs >= 75 pixels, the paper's AlexNet has
# no adaptive pooling before its classifier (227 only), LeNet-5 takes 32x32 digits
_NATIVE_INPUT = {"lenet5": (1, 32, 32), "alexnet_paper": (3, 227, 227), "inception_v3": (3, 299, 299)}
_SMALL_SIDE = {"lenet5": 32, "alexnet_paper": 227, "inception_v3": 80}
SMALL_SIDE = 64


def input_shape(name, size="full"):
    """The [C, H, W] input of model ``name``: size="full" is the resolution it is built and trained
    for (224x224, Inception-v3 299x299, the paper's AlexNet 227x227, LeNet-5 1x32x32); "small" a fast
    input it still accepts (64x64 for most; Inception-v3 80, the paper's AlexNet 227, LeNet-5 32).

    Example:
        >>> pydeepkit.models.input_shape("inception_v3"), pydeepkit.models.input_shape("resnet50", "small")
        ((3, 299, 299), (3, 64, 64))
    """
    if name not in _BUILDERS:
        raise ValueError(f"input_shape: unknown model {name!r}; known: {', '.join(list_models())}")
    if size not in ("full", "small"):
        raise ValueError(f"input_shape: size must be 'full' or 'small', got {size!r}")
    channels, height, width = _NATIVE_INPUT.get(name, (3, 224, 224))
    if size == "full":
        return channels, height, width
    side = _SMALL_SIDE.get(name, SMALL_SIDE)
    return channels, side, side


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
