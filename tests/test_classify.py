"""ImageNet classification: preprocess_image against torchvision's transforms and against the
numpy arithmetic, imagenet_classes from the installed package, classify, and `pydeepkit classify`."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

import pydeepkit
from pydeepkit import models, nn, weights
from pydeepkit.models import imagenet

Image = pytest.importorskip("PIL.Image")  # in the test extra: runs in CI

from conftest import run_python

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def photo(width, height, seed=0, mode="RGB"):
    """A synthetic photo: smooth colour gradients (so resizing filters matter) plus noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255.0 / width, yy * 255.0 / height, (xx + yy) * 127.0 / (width + height)], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert(mode)


# -- preprocessing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("width,height,size,resize", [
    (500, 375, 224, 256),    # landscape: the long side truncates (341.33 -> 341)
    (301, 640, 224, 256),    # portrait, odd width: crop offsets round half to even
    (299, 299, 299, 342),    # Inception-v3's transform, square
    (120, 90, (100, 80), None),  # no resize, crop larger than the image: zero padding
    (640, 480, 224, (240, 320)),  # Resize to a fixed (h, w)
])
def test_preprocess_matches_torchvision(width, height, size, resize):
    transforms = pytest.importorskip("torchvision.transforms")
    img = photo(width, height)
    steps = ([transforms.Resize(resize)] if resize is not None else []) + [
        transforms.CenterCrop(size), transforms.ToTensor(), transforms.Normalize(MEAN.tolist(), STD.tolist())]
    want = transforms.Compose(steps)(img).numpy()[None]
    got = models.preprocess_image(img, size=size, resize=resize)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # same Pillow resize, same float32 arithmetic


def test_preprocess_converts_modes_like_imagefolder(tmp_path):
    transforms = pytest.importorskip("torchvision.transforms")
    gray = photo(260, 300, mode="L")
    path = tmp_path / "gray.png"
    gray.save(path)
    # torchvision's ImageFolder loader converts every image to RGB before the transforms
    want = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                               transforms.Normalize(MEAN.tolist(), STD.tolist())])(gray.convert("RGB")).numpy()
    np.testing.assert_array_equal(models.preprocess_image(path)[0], want)
    np.testing.assert_array_equal(models.preprocess_image(str(path))[0], want)
    np.testing.assert_array_equal(models.preprocess_image(np.asarray(gray))[0], want)


def test_preprocess_arithmetic_without_torch():
    # shorter side already 256: no resampling, so the expected values are plain numpy arithmetic
    pixels = np.random.default_rng(3).integers(0, 256, (256, 301, 3), dtype=np.uint8)
    got = models.preprocess_image(Image.fromarray(pixels))
    top, left = 16, 38  # (256 - 224) / 2, round((301 - 224) / 2) = round(38.5) = 38 (half to even)
    crop = pixels[top:top + 224, left:left + 224].astype(np.float32) / np.float32(255)
    want = ((crop - MEAN) / STD).transpose(2, 0, 1)[None]
    np.testing.assert_array_equal(got, want)

    # one colour at any size: every pixel is (c / 255 - mean) / std after resizing
    flat = models.preprocess_image(Image.new("RGB", (410, 333), (200, 10, 255)))
    expected = (np.array([200, 10, 255], np.float32) / 255 - MEAN) / STD
    np.testing.assert_allclose(flat[0], np.broadcast_to(expected[:, None, None], (3, 224, 224)), rtol=1e-6)


def test_resize_and_crop_geometry():
    assert imagenet.resized_size(500, 375, 256) == (341, 256)
    assert imagenet.resized_size(375, 500, 256) == (256, 341)
    assert imagenet.resized_size(256, 256, 256) == (256, 256)
    assert imagenet.resized_size(500, 375, (100, 50)) == (50, 100)  # (h, w) -> (w, h) as PIL takes it
    grid = np.arange(5 * 4).reshape(5, 4, 1)
    # rows: round((5 - 2) / 2) = round(1.5) = 2; columns: round((4 - 3) / 2) = round(0.5) = 0
    np.testing.assert_array_equal(imagenet.center_crop(grid, (2, 3))[..., 0], [[8, 9, 10], [12, 13, 14]])
    padded = imagenet.center_crop(np.ones((2, 3, 1)), (5, 6))[..., 0]
    # torchvision pads (5 - 2) // 2 = 1 row on top and 2 below, 1 column left and 2 right
    np.testing.assert_array_equal(padded[1:3, 1:4], 1)
    assert padded.sum() == 6


def test_preprocess_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such image file"):
        models.preprocess_image(tmp_path / "missing.jpg")
    (tmp_path / "not_an_image.jpg").write_bytes(b"hello")
    with pytest.raises(ValueError, match="cannot read .*not_an_image.jpg as an image"):
        models.preprocess_image(tmp_path / "not_an_image.jpg")
    with pytest.raises(TypeError, match="image must be a file path, a PIL image or a uint8"):
        models.preprocess_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="size must be an int or an"):
        models.preprocess_image(photo(10, 10), size=2.5)


def test_imagenet_classes_ship_with_the_package():
    names = models.imagenet_classes()
    assert len(names) == 1000 and all(isinstance(n, str) and n for n in names)
    assert (names[0], names[281], names[999]) == ("tench", "tabby", "toilet tissue")
    # read from the installed package's data directory (CI tests an installed wheel)
    assert os.path.dirname(imagenet._CLASSES_FILE) == os.path.join(os.path.dirname(pydeepkit.__file__), "data")


# -- classify --------------------------------------------------------------------------------------
def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_classify_returns_the_top_classes_of_the_softmax():
    nn.manual_seed(1)
    model = models.get_model("resnet18", num_classes=10)
    x = models.preprocess_image(photo(320, 240), size=64, resize=72)
    probs = softmax(model(x)[0].astype(np.float64))
    classes = [f"digit {i}" for i in range(10)]
    model.train()
    top = models.classify(model, photo(320, 240), topk=4, classes=classes, size=64, resize=72)
    # without resize: the evaluation ratio, round(64 / 0.875) = 73
    x73 = models.preprocess_image(photo(320, 240), size=64, resize=73)
    assert [n for n, _ in models.classify(model, photo(320, 240), topk=50, size=64)] == \
        [f"class {i}" for i in np.argsort(-softmax(model(x73)[0].astype(np.float64)))]
    assert model.training, "classify must restore the training mode"
    order = np.argsort(-probs)[:4]
    assert [name for name, _ in top] == [classes[i] for i in order]
    np.testing.assert_allclose([p for _, p in top], probs[order], rtol=1e-6)
    assert all(top[i][1] >= top[i + 1][1] for i in range(3))
    # an already preprocessed array ([1, C, H, W] or [C, H, W]) is used as it is
    assert models.classify(model, x[0], topk=4, classes=classes) == top
    # 10 outputs and no names: numbered classes; topk beyond the classes: all of them
    assert [n for n, _ in models.classify(model, x, topk=50)] == [f"class {i}" for i in np.argsort(-probs)]


def test_classify_errors():
    model = models.get_model("resnet18", num_classes=3)
    x = np.zeros((1, 3, 32, 32), np.float32)
    with pytest.raises(ValueError, match="topk must be a positive int"):
        models.classify(model, x, topk=0)
    with pytest.raises(ValueError, match="2 class names for a model with 3 outputs"):
        models.classify(model, x, classes=["a", "b"])
    with pytest.raises(ValueError, match=re.escape("must be [1, C, H, W] or [C, H, W], got shape [2, 3, 32, 32]")):
        models.classify(model, np.zeros((2, 3, 32, 32), np.float32))


# -- the command -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resnet18_files(tmp_path_factory):
    """A photo, resnet18 weights (random, with a sharpened classifier so that the top-5
    probabilities differ clearly) as .npz, and those weights with a key missing."""
    root = tmp_path_factory.mktemp("classify")
    photo(300, 260, seed=5).save(root / "photo.png")
    nn.manual_seed(2)
    state = models.get_model("resnet18").state_dict()
    state["fc.weight"] = state["fc.weight"] * 3
    weights.save(state, root / "resnet18.npz")
    broken = {k: v for k, v in state.items() if k != "layer1.0.conv1.weight"}
    weights.save(broken, root / "broken.npz")
    return root


def test_classify_command_prints_the_top_classes(resnet18_files):
    image, w = resnet18_files / "photo.png", resnet18_files / "resnet18.npz"
    proc = run_python("-m", "pydeepkit", "classify", str(image), "--model", "resnet18", "--weights", str(w))
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r"^\s*(\d)\s+(.+?)\s+(\d\.\d{4})$", proc.stdout, re.M)
    model = models.get_model("resnet18", weights=str(w))
    want = models.classify(model, str(image), topk=5)
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4, 5], proc.stdout
    assert [r[1] for r in rows] == [name for name, _ in want], proc.stdout
    np.testing.assert_allclose([float(r[2]) for r in rows], [p for _, p in want], atol=5.1e-5)
    assert want[0][1] - want[4][1] > 1e-3, "the check is weak: the top-5 probabilities are all alike"

    proc = run_python("-m", "pydeepkit", "classify", str(image), "--model", "resnet18", "--weights", str(w),
                      "--topk", "2")
    assert proc.returncode == 0, proc.stderr
    assert len(re.findall(r"^\s*\d\s+.+\s+\d\.\d{4}$", proc.stdout, re.M)) == 2, proc.stdout


@pytest.mark.parametrize("case", ["missing image", "unknown model", "wrong keys", "not an image"])
def test_classify_command_errors(resnet18_files, case):
    image, model, w = str(resnet18_files / "photo.png"), "resnet18", str(resnet18_files / "resnet18.npz")
    expected = {"missing image": "no such image file: .*nothing.png",
                "unknown model": "unknown model 'resnet19'; known: alexnet, ",
                "wrong keys": "weights in .*broken.npz do not fit resnet18: .*missing keys: layer1.0.conv1.weight",
                "not an image": "cannot read .*resnet18.npz as an image"}[case]
    if case == "missing image":
        image = str(resnet18_files / "nothing.png")
    elif case == "unknown model":
        model = "resnet19"
    elif case == "wrong keys":
        w = str(resnet18_files / "broken.npz")
    else:
        image = w
    proc = run_python("-m", "pydeepkit", "classify", image, "--model", model, "--weights", w)
    assert proc.returncode != 0
    assert re.search(expected, proc.stderr), proc.stderr
    assert "Traceback" not in proc.stderr


def test_classify_command_help_and_required_options():
    proc = run_python("-m", "pydeepkit", "classify", "--help")
    assert proc.returncode == 0 and "--weights FILE" in proc.stdout and "--topk K" in proc.stdout
    proc = run_python("-m", "pydeepkit", "classify", "photo.jpg", "--model", "resnet18")
    assert proc.returncode == 2 and "the following arguments are required: --weights" in proc.stderr
