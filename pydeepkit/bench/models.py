"""Benchmark entries of whole architectures: ours (as built, and after ``pydeepkit.nn.fuse``) vs
torchvision's model in eager mode under ``torch.inference_mode``, both holding the same weights.

Rows "<model> b<batch>" and "<model> b<batch> fused" for ResNet-50, VGG-16, GoogLeNet,
MobileNet-v2 and AlexNet at 224x224 (``--quick``: 64x64), batch 1 and 8, on normal(0, 1) inputs.
The weights are the fresh He-normal initialisation of ``get_model`` (seed 0); torchvision's twin is
built on the meta device and takes our arrays as its tensors (no copy, no second initialisation).
The rate is GFLOP/s (2 x the multiply-adds ``pydeepkit.summary`` counts).
Only one architecture is held at a time (VGG-16 is 0.5 GB per copy).

``pydeepkit bench models`` runs these rows (a family name selects its entries).
"""
from __future__ import annotations

import warnings

import numpy as np

from ._registry import Entry

MODELS = ("resnet50", "vgg16", "googlenet", "mobilenet_v2", "alexnet")
BATCHES = (1, 8)
FULL_SIDE, QUICK_SIDE = 224, 64

# Output check: |ours - torch| <= atol + rtol |torch| per logit. He-initialised ResNet-50 (no zero-init
# of the residual branches' last BatchNorm) grows its residual stream with depth: its logits reach ~2e3,
# where float32 sums in another order differ by ~1e-3; the other models' logits are O(1).
_RTOL = 1e-4
_ATOL = {"resnet50": 2e-2}
_DEFAULT_ATOL = 1e-4


def torchvision_twin(name, state, **kwargs):
    """torchvision's ``name`` model (constructor ``kwargs``) holding the arrays of ``state`` (a state_dict
    of numpy arrays, torchvision's key names) without copying them, in eval mode on the CPU.

    Built on the meta device, so torchvision's initialisation costs nothing; buffers ``state`` lacks
    (BatchNorm's num_batches_tracked, not used in eval) are zero-filled. Needs torch and torchvision.

    Example:
        >>> twin = torchvision_twin("alexnet", pydeepkit.models.alexnet().state_dict())  # doctest: +SKIP
    """
    import torch
    import torchvision
    from ..nn.module import to_host
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GoogLeNet / Inception warn about their future default init
        with torch.device("meta"):
            model = getattr(torchvision.models, name)(weights=None, **kwargs)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(to_host(v))) for k, v in state.items()}
    result = model.load_state_dict(tensors, strict=False, assign=True)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise ValueError(f"torchvision_twin: {name}: missing keys {missing}, unexpected keys "
                         f"{list(result.unexpected_keys)}")
    for module in model.modules():
        for key, buffer in module._buffers.items():
            if buffer is not None and buffer.is_meta:
                module._buffers[key] = torch.zeros(buffer.shape, dtype=buffer.dtype)
    return model.eval()


class _Held:
    """The models of the architecture being benchmarked: ours per (backend, fused), torch's per device."""

    name = None
    state = None
    ours: dict = {}
    twins: dict = {}
    macs: dict = {}

    @classmethod
    def select(cls, name):
        if cls.name == name:
            return
        from .. import models, nn
        cls.name, cls.state, cls.ours, cls.twins, cls.macs = None, None, {}, {}, {}  # free the previous one
        nn.manual_seed(0)
        model = models.get_model(name)
        cls.name, cls.state, cls.ours = name, model.state_dict(), {("cpu", False): model}

    @classmethod
    def model(cls, name, backend, fused):
        cls.select(name)
        key = (backend or "cpu", fused)
        if key not in cls.ours:
            from .. import models, nn
            model = models.get_model(name, weights=cls.state)
            cls.ours[key] = (nn.fuse(model) if fused else model).to(key[0])
        return cls.ours[key]

    @classmethod
    def twin(cls, name, device):
        cls.select(name)
        if device not in cls.twins:
            cls.twins[device] = torchvision_twin(name, cls.state).to(device)
        return cls.twins[device]

    @classmethod
    def multiply_adds(cls, name, input_chw):
        cls.select(name)
        if input_chw not in cls.macs:
            from ..summary import summary
            cls.macs[input_chw] = summary(cls.ours[("cpu", False)], input_chw).total_macs
        return cls.macs[input_chw]


def _inputs(shape, rng):
    return (rng.standard_normal(shape, dtype=np.float32),)


def _ours(name, fused):
    def run(x, backend=None):
        return _Held.model(name, backend, fused)(x)
    return run


def _torch(name):
    def run(x):
        import torch
        model = _Held.twin(name, x.device.type)
        with torch.inference_mode():
            return model(x)
    return run


def _flops(name):
    def cost(inputs, output):
        x = inputs[0]
        return 0, 2 * x.shape[0] * _Held.multiply_adds(name, tuple(x.shape[1:]))
    return cost


ENTRIES = [Entry(op=name, params=f"b{batch}" + (" fused" if fused else ""),
                 shapes={"full": (batch, 3, FULL_SIDE, FULL_SIDE), "quick": (batch, 3, QUICK_SIDE, QUICK_SIDE)},
                 make_inputs=_inputs, ours=_ours(name, fused), torch=_torch(name), cost=_flops(name),
                 metric="GFLOP/s", rtol=_RTOL, atol=_ATOL.get(name, _DEFAULT_ATOL))
           for name in MODELS for batch in BATCHES for fused in (False, True)]
