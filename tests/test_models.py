"""Models against torchvision (same weights through load_state_dict, eval outputs on random inputs,
batch 1 and 2, 224 and non-224 sizes, fused and unfused), LeNet-5 and MobileNet-v1 against a
layer-by-layer numpy reference, every model on the emulator equal to the CPU backend.

Tolerance: outputs are compared relative to their largest magnitude, max|ours - torch| <=
RTOL * max|torch| with RTOL = 2e-5 (float32; the two libraries sum convolutions in different
orders, and the error grows with depth). The torchvision weights are re-drawn with He scaling and
the BatchNorm statistics randomised first, so that no layer's output vanishes (torchvision's
GoogLeNet init would make the logits ~0 and any comparison trivially pass).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from conftest import require_backend
import pydeepkit
from pydeepkit import models, nn
from pydeepkit import reference as ref

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

RTOL = 2e-5
# one torch thread: our OpenMP threads stay spinning for a while after each kernel and would fight
# torch's for the 2 cores
torch.set_num_threads(1)

# name, input size used for the parity check, a non-224 size (None: the first one is non-224 already)
PARITY = [
    ("alexnet", 224, 67), ("vgg11", 32, 45), ("vgg11_bn", 32, None), ("vgg13", 32, None), ("vgg13_bn", 32, None),
    ("vgg16", 32, None), ("vgg16_bn", 32, None), ("vgg19", 32, None), ("vgg19_bn", 32, None),
    ("googlenet", 64, 71), ("inception_v3", 80, 99), ("resnet18", 224, 57), ("resnet34", 64, None),
    ("resnet50", 64, 49), ("resnet101", 40, None), ("resnet152", 32, None), ("mobilenet_v2", 96, 45),
]


def torchvision_model(name, seed=0, **kwargs):
    """A torchvision model (weights=None) with He-scaled weights and random BatchNorm statistics."""
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(torchvision.models, name)(weights=None, **kwargs)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, math.sqrt(2.0 / fan_in), generator=g)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1, generator=g)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
    return model.eval()


def ours_from(tv_model, name, **kwargs):
    with nn.skip_init():
        model = getattr(models, name)(**kwargs)
    model.load_state_dict(tv_model.state_dict())
    return model.eval()


def assert_rel_close(got, want, rtol=RTOL, what=""):
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    scale = float(np.abs(want).max())
    assert scale > 1e-3, f"{what}: reference output is degenerate (max {scale})"
    err = float(np.abs(got - want).max())
    assert err <= rtol * scale, f"{what}: max abs error {err:.3g} > {rtol} * {scale:.3g}"


@pytest.mark.parametrize("name,size,other", PARITY, ids=[p[0] for p in PARITY])
def test_torchvision_parity(name, size, other):
    tv = torchvision_model(name)
    ours = ours_from(tv, name)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        want = tv(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert_rel_close(got, want, what=f"{name} batch 2 at {size}")
    assert_rel_close(ours(x[1:]), want[1:], what=f"{name} batch 1 at {size}")
    if other:
        x2 = rng.standard_normal((1, 3, other, other)).astype(np.float32)
        with torch.no_grad():
            want2 = tv(torch.from_numpy(x2)).numpy()
        assert_rel_close(ours(x2), want2, what=f"{name} batch 1 at {other}")
    nn.fuse(ours)
    assert_rel_close(ours(x), want, what=f"{name} fused")
    # torch tensors go in as well (converted at the model's boundary) and torch tensors come out
    got_t = ours(torch.from_numpy(x))
    assert isinstance(got_t, torch.Tensor)
    assert_rel_close(got_t.numpy(), want, what=f"{name} torch input")


@pytest.mark.parametrize("name,size", [("googlenet", 64), ("inception_v3", 299)])
def test_auxiliary_heads_in_training_mode(name, size):
    tv = torchvision_model(name)
    ours = ours_from(tv, name)
    tv.train()
    ours.train()
    for m in tv.modules():  # BatchNorm in eval (running statistics), dropout off: only the aux heads differ
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    for m in ours.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    x = np.random.default_rng(2).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        want = tv(torch.from_numpy(x))
    got = ours(x)
    assert type(got).__name__ == type(want).__name__ and len(got) == len(want)
    for g, w in zip(got, want):
        assert_rel_close(g, w.numpy(), what=f"{name} train-mode output")
    assert not isinstance(ours.eval()(x), tuple)


def test_constructor_arguments_follow_torchvision():
    for name, kw in [("resnet50", dict(num_classes=10, width_per_group=128)), ("resnet18", dict(num_classes=3)),
                     ("mobilenet_v2", dict(width_mult=0.5, num_classes=7)), ("googlenet", dict(aux_logits=False)),
                     ("inception_v3", dict(aux_logits=False, num_classes=5)), ("vgg11", dict(num_classes=2)),
                     ("resnet50", dict(groups=32, width_per_group=4))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tv = getattr(torchvision.models, name)(weights=None, **kw)
        ours = getattr(models, name)(**kw)
        want = {k: tuple(v.shape) for k, v in tv.state_dict().items() if not k.endswith("num_batches_tracked")}
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == want, (name, kw)


# -- numpy layer-by-layer references ------------------------------------------------------------
def _np_conv(x, w, b=None, stride=1, padding=0, groups=1):
    return ref.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)


def test_lenet5_against_numpy_reference():
    nn.manual_seed(3)
    model = models.lenet5().eval()
    s = {k: np.asarray(v) for k, v in model.state_dict().items()}
    x = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)
    h = np.tanh(_np_conv(x, s["features.0.weight"], s["features.0.bias"]))
    h = ref.avg_pool2d(h, 2)
    h = np.tanh(_np_conv(h, s["features.3.weight"], s["features.3.bias"]))
    h = ref.avg_pool2d(h, 2).reshape(3, -1)
    h = np.tanh(h @ s["classifier.0.weight"].T + s["classifier.0.bias"])
    h = np.tanh(h @ s["classifier.2.weight"].T + s["classifier.2.bias"])
    want = h @ s["classifier.4.weight"].T + s["classifier.4.bias"]
    assert_rel_close(model(x), want, rtol=1e-5, what="lenet5")
    assert sum(p.size for p in model.parameters()) == 61706


def _np_bn(x, s, key, eps=1e-5):
    return ref.batch_norm(x, s[key + ".running_mean"], s[key + ".running_var"], s[key + ".weight"],
                          s[key + ".bias"], eps=eps)


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_mobilenet_v1_against_numpy_reference(width):
    nn.manual_seed(4)
    model = models.mobilenet_v1(width_mult=width, num_classes=10).eval()
    rng = np.random.default_rng(5)
    for m in model.modules():  # random BatchNorm statistics so that the BN arithmetic matters
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = rng.uniform(-0.2, 0.2, m.num_features).astype(np.float32)
            m.running_var = rng.uniform(0.5, 2, m.num_features).astype(np.float32)
    s = {k: np.asarray(v) for k, v in model.state_dict().items()}
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    h = relu(_np_bn(_np_conv(x, s["features.0.0.weight"], stride=2, padding=1), s, "features.0.1"))
    for i, (c, stride) in enumerate(models.MobileNetV1.CFG, start=1):
        cin = h.shape[1]
        h = relu(_np_bn(_np_conv(h, s[f"features.{i}.0.weight"], stride=stride, padding=1, groups=cin), s,
                        f"features.{i}.1"))
        h = relu(_np_bn(_np_conv(h, s[f"features.{i}.3.weight"]), s, f"features.{i}.4"))
    h = h.mean(axis=(2, 3))
    want = h @ s["classifier.1.weight"].T + s["classifier.1.bias"]
    assert_rel_close(model(x), want, rtol=1e-5, what=f"mobilenet_v1 x{width}")
    assert h.shape[1] == int(1024 * width)


# -- emulator -----------------------------------------------------------------------------------
# Every model on the emulator at a small input; the emulated kernels must give the CPU's outputs.
# The full-size architectures run as they are (a few 10^7 multiply-adds each at these sizes);
# VGG and the deep ResNets are covered by their shallowest member (same layers, fewer of them).
EMU = [("lenet5", 32, {}), ("alexnet", 63, {}), ("alexnet_paper", 227, dict(num_classes=10)),
       ("vgg11_bn", 32, {}), ("googlenet", 32, {}), ("inception_v3", 75, dict(aux_logits=False)),
       ("resnet18", 32, {}), ("resnet50", 32, {}), ("mobilenet_v1", 32, {}), ("mobilenet_v2", 32, {})]


@pytest.mark.parametrize("name,size,kwargs", EMU, ids=[e[0] for e in EMU])
def test_model_on_emulator_equals_cpu(name, size, kwargs):
    require_backend("emu")
    nn.manual_seed(6)
    model = models.get_model(name, **kwargs)
    rng = np.random.default_rng(8)
    for m in model.modules():  # random BatchNorm statistics: the BN arithmetic must matter
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = rng.uniform(-0.2, 0.2, m.num_features).astype(np.float32)
            m.running_var = rng.uniform(0.5, 2, m.num_features).astype(np.float32)
    x = np.random.default_rng(7).standard_normal((1, 1 if name == "lenet5" else 3, size, size)).astype(np.float32)
    want = model(x)
    got = model.to("emu")(x)
    assert model.device == "emu" and all(isinstance(p, np.ndarray) for p in model.parameters())
    assert_rel_close(got, want, rtol=1e-5, what=f"{name} emu vs cpu")
