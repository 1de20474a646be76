"""ImageNet classification with the architectures: torchvision's evaluation preprocessing (Pillow),
the 1000 class names and a top-k helper, so that a photo is classified in three lines with
torchvision's pretrained weights saved on disk::

    model = pydeepkit.models.get_model("resnet50", weights="resnet50.pth")
    for name, p in pydeepkit.models.classify(model, "cat.jpg"):
        print(f"{p:.3f} {name}")

Pillow is needed only to read and resize images (``pip install 'pydeepkit[image]'``); it is imported
when an image is, never by ``import pydeepkit``.
"""
from __future__ import annotations

import functools
import os

import numpy as np

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "preprocess_image", "imagenet_classes", "classify",
           "resized_size", "center_crop", "evaluation_resize"]

# torchvision's ImageNet statistics (transforms.Normalize of every classification weight)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CLASSES_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data",
                             "imagenet_classes.txt")


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'pydeepkit[image]' (or pip install pillow)") \
            from None
    return Image


def _pair(size, what):
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, (int, np.integer)) for s in size):
        return int(size[0]), int(size[1])
    raise TypeError(f"preprocess_image: {what} must be an int or an (height, width) pair, got {size!r}")


def resized_size(width, height, resize):
    """(new width, new height) of transforms.Resize(resize) for a ``width`` x ``height`` image:
    an int scales the shorter side to ``resize`` and the longer one to int(resize * long / short)
    (truncated, as torchvision does); an (h, w) pair is the size itself.

    Example:
        >>> pydeepkit.models.imagenet.resized_size(500, 375, 256)
        (341, 256)
    """
    if not isinstance(resize, (int, np.integer)):
        h, w = _pair(resize, "resize")
        return w, h
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(resize), int(int(resize) * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def center_crop(pixels, size):
    """transforms.CenterCrop(size) of an [H, W, C] array: an image smaller than the crop is first
    zero-padded on both sides (the odd pixel going right/bottom), then the window starts at
    round((H - h) / 2), round((W - w) / 2) (Python's round, as torchvision).

    Example (a 5x5 image, crop 2: the offset (5 - 2) / 2 = 1.5 rounds to 2):
        >>> pydeepkit.models.imagenet.center_crop(np.arange(25).reshape(5, 5, 1), 2)[..., 0]
        array([[12, 13],
               [17, 18]])
    """
    th, tw = _pair(size, "size")
    h, w = pixels.shape[:2]
    if th > h or tw > w:
        pad_top, pad_left = max(th - h, 0) // 2, max(tw - w, 0) // 2
        pad = ((pad_top, max(th - h, 0) - pad_top), (pad_left, max(tw - w, 0) - pad_left))
        pixels = np.pad(pixels, pad + ((0, 0),) * (pixels.ndim - 2))
        h, w = pixels.shape[:2]
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    return pixels[top:top + th, left:left + tw]


def _open_rgb(image):
    Image = _pil_image()
    if isinstance(image, (str, os.PathLike)):
        if not os.path.isfile(image):
            raise FileNotFoundError(f"preprocess_image: no such image file: {image}")
        try:
            with Image.open(image) as f:
                return f.convert("RGB")  # convert() reads the pixels before the file closes
        except OSError as exc:  # PIL.UnidentifiedImageError and truncated files
            raise ValueError(f"preprocess_image: cannot read {image} as an image: {exc}") from None
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and (image.ndim == 2 or image.ndim == 3):
        return Image.fromarray(image).convert("RGB")
    raise TypeError(f"preprocess_image: image must be a file path, a PIL image or a uint8 [H, W(, C)] array, "
                    f"got {type(image).__name__}")


def preprocess_image(image, size=224, resize=256, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """torchvision's classification evaluation transform, returning a float32 [1, 3, size, size] batch.

    The same steps as ``transforms.Compose([Resize(resize), CenterCrop(size), ToTensor(),
    Normalize(mean, std)])`` on an RGB image: resize the shorter side to ``resize`` with Pillow's
    bilinear filter (what Resize uses on PIL images), take the centre ``size`` crop, scale the
    pixels to [0, 1] and normalise each channel with ImageNet's mean and std. The result equals
    torchvision's bit for bit.

    image: a file path, a PIL image (any mode; converted to RGB, as torchvision's ImageFolder
    loader does) or a uint8 [H, W] / [H, W, C] array. size, resize: int or (height, width) as
    torchvision's; resize=None skips resizing. Inception-v3's weights use size=299, resize=342.

    Example:
        >>> from PIL import Image
        >>> x = pydeepkit.models.preprocess_image(Image.new("RGB", (500, 375), (124, 116, 104)))
        >>> x.shape, x.dtype, float(abs(x).max()) < 0.01   # that colour is ImageNet's mean
        ((1, 3, 224, 224), dtype('float32'), True)
    """
    img = _open_rgb(image)
    if resize is not None:
        new = resized_size(img.width, img.height, resize)
        if new != img.size:
            img = img.resize(new, _pil_image().Resampling.BILINEAR)
    pixels = center_crop(np.asarray(img), size)
    x = pixels.astype(np.float32) / np.float32(255.0)  # ToTensor: float division by 255
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


@functools.lru_cache(maxsize=1)
def imagenet_classes():
    """The 1000 ImageNet class names in the order of the classifiers' outputs (index i is class i),
    as a tuple of str; read from the file shipped with the package.

    Example:
        >>> names = pydeepkit.models.imagenet_classes()
        >>> len(names), names[0], names[281]
        (1000, 'tench', 'tabby')
    """
    with open(_CLASSES_FILE, encoding="utf-8") as f:
        names = tuple(line.strip() for line in f if line.strip())
    if len(names) != 1000:
        raise RuntimeError(f"imagenet_classes: {_CLASSES_FILE} holds {len(names)} names, expected 1000")
    return names


def evaluation_resize(size):
    """The Resize side torchvision's evaluation transforms pair with a ``size`` crop: the crop is
    87.5% of the resized image (224 of 256, Inception-v3's 299 of 342).

    Example:
        >>> pydeepkit.models.imagenet.evaluation_resize(224), pydeepkit.models.imagenet.evaluation_resize(299)
        (256, 342)
    """
    return round(size / 0.875)


def _default_size(model):
    from .inception import Inception3
    return 299 if isinstance(model, Inception3) else 224  # the resolutions torchvision's weights are trained at


def classify(model, image, topk=5, *, classes=None, size=None, resize=None):
    """The ``topk`` most probable classes of one image: a list of (class name, probability),
    most probable first (softmax of the model's logits).

    model: a classifier (its output [1, K] logits), run in eval mode on its own device (its
    training mode is restored afterwards). image: a file path, a PIL image or a uint8 array
    (preprocessed with :func:`preprocess_image` at ``size``, by default 224 and 299 for
    Inception-v3, and ``resize``, by default :func:`evaluation_resize` of size: 256 for 224), or an
    already preprocessed float array [1, 3, H, W] or [3, H, W].
    classes: the K class names; by default ImageNet's when K == 1000, else 'class <i>'.

    Example:
        >>> model = pydeepkit.models.get_model("resnet18")
        >>> top = pydeepkit.models.classify(model, np.zeros((1, 3, 64, 64), np.float32), topk=3)
        >>> len(top), [type(v).__name__ for v in top[0]], top[0][1] >= top[1][1] >= top[2][1]
        (3, ['str', 'float'], True)
    """
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise ValueError(f"classify: topk must be a positive int, got {topk!r}")
    if isinstance(image, np.ndarray) and image.dtype.kind == "f":
        x = image[None] if image.ndim == 3 else image
        if x.ndim != 4 or x.shape[0] != 1:
            raise ValueError(f"classify: a preprocessed image must be [1, C, H, W] or [C, H, W], got shape "
                             f"{list(image.shape)}")
    else:
        size = size or _default_size(model)
        x = preprocess_image(image, size, resize or evaluation_resize(size))
    from ..nn.module import to_host
    if model.device == "cuda":
        from .._backend import _cupy
        x = _cupy().asarray(x)
    was_training = model.training
    model.eval()
    try:
        logits = to_host(model(x)).astype(np.float64)
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise ValueError(f"classify: the model returned shape {list(logits.shape)}, expected [1, classes]")
    k = logits.shape[1]
    if classes is None:
        classes = imagenet_classes() if k == 1000 else [f"class {i}" for i in range(k)]
    elif len(classes) != k:
        raise ValueError(f"classify: {len(classes)} class names for a model with {k} outputs")
    z = np.exp(logits[0] - logits[0].max())
    probs = z / z.sum()
    order = np.argsort(-probs, kind="stable")[:min(int(topk), k)]
    return [(classes[i], float(probs[i])) for i in order]
