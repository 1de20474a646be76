"""pydeepkit.nn: every layer against its torch.nn twin (same weights through load_state_dict), the
Module API (parameters, buffers, named_modules, state_dict, strict loading with precise errors,
to(device/dtype), train/eval, containers), fuse() and the weights files (npz, safetensors, pth)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import require_backend
import pydeepkit
from pydeepkit import nn, ops, weights

torch = pytest.importorskip("torch")
tnn = torch.nn

# (our layer, torch layer, input shape)
LAYERS = [
    (lambda: nn.Conv1d(4, 6, 3, stride=2, padding=1), lambda: tnn.Conv1d(4, 6, 3, stride=2, padding=1), (2, 4, 11)),
    (lambda: nn.Conv2d(4, 6, (3, 5), padding=(1, 2), groups=2, bias=False),
     lambda: tnn.Conv2d(4, 6, (3, 5), padding=(1, 2), groups=2, bias=False), (2, 4, 7, 9)),
    (lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
     lambda: tnn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (1, 3, 6, 5)),
    (lambda: nn.Conv3d(2, 3, 3, padding=1), lambda: tnn.Conv3d(2, 3, 3, padding=1), (1, 2, 4, 5, 6)),
    (lambda: nn.ConvTranspose1d(4, 3, 4, stride=2, padding=1), lambda: tnn.ConvTranspose1d(4, 3, 4, 2, 1), (2, 4, 5)),
    (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1),
     lambda: tnn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1), (1, 4, 5, 4)),
    (lambda: nn.ConvTranspose3d(2, 2, 2, stride=2), lambda: tnn.ConvTranspose3d(2, 2, 2, stride=2), (1, 2, 3, 3, 2)),
    (lambda: nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda: tnn.MaxPool2d(3, 2, 1, ceil_mode=True), (2, 3, 9, 8)),
    (lambda: nn.MaxPool1d(2), lambda: tnn.MaxPool1d(2), (2, 3, 9)),
    (lambda: nn.MaxPool3d(2), lambda: tnn.MaxPool3d(2), (1, 2, 4, 4, 5)),
    (lambda: nn.AvgPool2d(3, 2, 1, count_include_pad=False), lambda: tnn.AvgPool2d(3, 2, 1, count_include_pad=False),
     (2, 3, 9, 8)),
    (lambda: nn.AvgPool1d(3), lambda: tnn.AvgPool1d(3), (2, 3, 10)),
    (lambda: nn.AvgPool3d(2), lambda: tnn.AvgPool3d(2), (1, 2, 4, 4, 4)),
    (lambda: nn.LPPool2d(2, 2), lambda: tnn.LPPool2d(2, 2), (2, 3, 6, 6)),
    (lambda: nn.LPPool1d(3, 2), lambda: tnn.LPPool1d(3, 2), (2, 3, 6)),
    (lambda: nn.AdaptiveAvgPool2d((3, 2)), lambda: tnn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    (lambda: nn.AdaptiveMaxPool1d(4), lambda: tnn.AdaptiveMaxPool1d(4), (2, 3, 9)),
    (lambda: nn.AdaptiveAvgPool3d(2), lambda: tnn.AdaptiveAvgPool3d(2), (1, 2, 5, 4, 3)),
    (lambda: nn.AdaptiveMaxPool2d(2), lambda: tnn.AdaptiveMaxPool2d(2), (1, 2, 5, 4)),
    (lambda: nn.BatchNorm1d(3), lambda: tnn.BatchNorm1d(3), (4, 3)),
    (lambda: nn.BatchNorm1d(3), lambda: tnn.BatchNorm1d(3), (4, 3, 5)),
    (lambda: nn.BatchNorm2d(3, eps=1e-3), lambda: tnn.BatchNorm2d(3, eps=1e-3), (2, 3, 4, 5)),
    (lambda: nn.BatchNorm3d(2), lambda: tnn.BatchNorm3d(2), (1, 2, 3, 4, 2)),
    (lambda: nn.LayerNorm((4, 5)), lambda: tnn.LayerNorm((4, 5)), (2, 3, 4, 5)),
    (lambda: nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), lambda: tnn.LocalResponseNorm(5, 1e-4, 0.75, 2.0),
     (2, 8, 3, 3)),
    (lambda: nn.Linear(7, 3), lambda: tnn.Linear(7, 3), (2, 5, 7)),
    (lambda: nn.Linear(7, 3, bias=False), lambda: tnn.Linear(7, 3, bias=False), (4, 7)),
    (lambda: nn.ReLU(), lambda: tnn.ReLU(), (2, 9)), (lambda: nn.ReLU6(), lambda: tnn.ReLU6(), (2, 9)),
    (lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2), (2, 9)), (lambda: nn.Sigmoid(), lambda: tnn.Sigmoid(), (9,)),
    (lambda: nn.Tanh(), lambda: tnn.Tanh(), (3, 3)), (lambda: nn.GELU(), lambda: tnn.GELU(), (3, 3)),
    (lambda: nn.Softmax(dim=1), lambda: tnn.Softmax(dim=1), (3, 4, 2)),
    (lambda: nn.LogSoftmax(dim=-1), lambda: tnn.LogSoftmax(dim=-1), (3, 4)),
    (lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
     lambda: tnn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), (1, 2, 3, 4)),
    (lambda: nn.Upsample(size=(5, 7)), lambda: tnn.Upsample(size=(5, 7)), (1, 2, 3, 4)),
    (lambda: nn.Flatten(), lambda: tnn.Flatten(), (2, 3, 4)), (lambda: nn.Identity(), lambda: tnn.Identity(), (2, 3)),
    (lambda: nn.Dropout(0.3), lambda: tnn.Dropout(0.3), (2, 3)),
]


@pytest.mark.parametrize("i", range(len(LAYERS)))
def test_layer_matches_torch(i, host_backend):
    ours_f, torch_f, shape = LAYERS[i]
    torch.manual_seed(i)
    theirs = torch_f().eval()
    with torch.no_grad():
        for name, buf in theirs.named_buffers():
            if name.endswith("running_mean"):
                buf.uniform_(-1, 1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2)
        for p in theirs.parameters():
            p.add_(torch.rand_like(p) * 0.1)  # weights / affine params different from the init
    ours = ours_f()
    ours.load_state_dict(theirs.state_dict())
    ours.eval().to(host_backend)
    x = np.random.default_rng(i).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    got = ours(x)
    assert isinstance(got, np.ndarray) and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


def test_embedding_layer_and_maxout():
    emb = nn.Embedding(10, 3, padding_idx=1)
    assert not emb.weight[1].any() and emb.weight[2].any()
    idx = np.array([[1, 2], [9, 0]])
    np.testing.assert_array_equal(emb(idx), emb.weight[idx])
    x = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    np.testing.assert_array_equal(nn.Maxout(2)(x), x.reshape(1, 2, 2, 3).max(axis=2))


def test_max_unpool_spp_global_separable():
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    pooled, idx = nn.MaxPool2d(2, return_indices=True)(x)
    t = torch.nn.functional.max_unpool2d(torch.from_numpy(pooled), torch.from_numpy(idx), 2).numpy()
    np.testing.assert_array_equal(nn.MaxUnpool2d(2)(pooled, idx), t)
    assert nn.SpatialPyramidPool((1, 2))(x).shape == (1, 2 * 5)
    np.testing.assert_allclose(nn.GlobalAvgPool()(x), x.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(nn.GlobalMaxPool(keepdim=True)(x), x.max(axis=(2, 3), keepdims=True))
    sep = nn.SeparableConv2d(2, 5, 3, padding=1)
    assert sorted(sep.state_dict()) == ["depthwise.weight", "pointwise.bias", "pointwise.weight"]
    want = pydeepkit.ops.separable_conv2d(x, sep.depthwise.weight, sep.pointwise.weight, sep.pointwise.bias,
                                          padding=1)
    np.testing.assert_allclose(sep(x), want, rtol=1e-5, atol=1e-6)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 3)])
        self.extra = nn.ModuleDict({"act": nn.ReLU()})
        self.register_buffer("scale", np.ones(2, np.float32))

    def forward(self, x):
        return self.extra["act"](self.bn(self.conv(x)))


def test_module_api():
    m = Block()
    keys = list(m.state_dict())
    assert keys == ["scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                    "heads.0.weight", "heads.0.bias", "heads.1.weight", "heads.1.bias"]
    assert [n for n, _ in m.named_modules()] == ["", "conv", "bn", "heads", "heads.0", "heads.1", "extra", "extra.act"]
    assert len(list(m.parameters())) == 8 and len(list(m.buffers())) == 3
    assert m.training and not any(x.training for x in m.eval().modules())
    m.train()
    assert m.bn.training
    m.double()
    assert m.conv.weight.dtype == np.float64 and m.bn.running_var.dtype == np.float64
    m.float()
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        m.nope
    with pytest.raises(ValueError, match="device must be one of"):
        m.to("gpu")
    del m.extra
    assert "extra" not in dict(m.named_children())


def test_load_state_dict_reports_missing_unexpected_and_shapes():
    m = Block()
    state = {k: np.asarray(v).copy() for k, v in m.state_dict().items()}
    good = dict(state)
    good["conv.weight"] = good["conv.weight"] + 1
    m.load_state_dict(good)
    np.testing.assert_array_equal(m.conv.weight, good["conv.weight"])
    bad = dict(state)
    del bad["bn.bias"]
    bad["conv.wieght"] = bad.pop("conv.weight")
    bad["heads.1.weight"] = np.zeros((5, 4), np.float32)
    before = m.heads[0].weight.copy()
    bad["heads.0.weight"] = before + 3
    with pytest.raises(nn.StateDictError) as info:
        m.load_state_dict(bad)
    msg = str(info.value)
    assert "heads.1.weight: expected (3, 4), got (5, 4)" in msg
    assert "missing keys: conv.weight, bn.bias" in msg and "unexpected keys: conv.wieght" in msg
    assert info.value.missing == ["conv.weight", "bn.bias"] and info.value.unexpected == ["conv.wieght"]
    np.testing.assert_array_equal(m.heads[0].weight, before)  # nothing loaded after an error
    del bad["heads.1.weight"]
    missing, unexpected = m.load_state_dict(bad, strict=False)
    assert missing == ["conv.weight", "bn.bias", "heads.1.weight"] and unexpected == ["conv.wieght"]
    np.testing.assert_array_equal(m.heads[0].weight, before + 3)
    # torch tensors load too, and torch's num_batches_tracked is ignored
    tstate = {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}
    tstate["bn.num_batches_tracked"] = torch.tensor(0)
    m.load_state_dict(tstate)
    assert isinstance(m.conv.weight, np.ndarray)


def test_module_on_emulator():
    require_backend("emu")
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 5 * 5, 6)).eval()
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype(np.float32)
    want = net(x)
    net.to("emu")
    assert all(m.device == "emu" for m in net.modules())
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("act,torch_act", [(nn.ReLU, tnn.ReLU), (nn.ReLU6, tnn.ReLU6), (nn.Sigmoid, tnn.Sigmoid),
                                           (lambda: nn.LeakyReLU(0.3), lambda: tnn.LeakyReLU(0.3))])
def test_fuse_folds_bn_and_activation(act, torch_act):
    rng = np.random.default_rng(2)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), act(), nn.MaxPool2d(2),
                        nn.Conv1d(8, 8, 1) if False else nn.Identity(), nn.Flatten(), nn.Linear(8 * 3 * 3, 5),
                        act()).eval()
    net[1].running_mean = rng.uniform(-1, 1, 8).astype(np.float32)
    net[1].running_var = rng.uniform(0.5, 2, 8).astype(np.float32)
    net[1].weight = rng.uniform(0.5, 2, 8).astype(np.float32)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    want = net(x)
    nn.fuse(net)
    assert net[0].activation is not None and isinstance(net[1], nn.Identity) and isinstance(net[2], nn.Identity)
    assert net[6].activation is not None and isinstance(net[7], nn.Identity)
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-5)


def test_fuse_freezes_and_packs_conv_weights():
    """fuse leaves read-only conv weights packed once; replacing a weight afterwards drops the
    packed copy (the new weight is used), and so does making it writable again."""
    rng = np.random.default_rng(3)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                        nn.Conv2d(8, 4, 1)).eval()
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    want = net(x)
    nn.fuse(net)
    first, depthwise, last = net[0], net[2], net[3]
    assert not first.weight.flags.writeable and first._packed.weight is first.weight
    assert depthwise._packed is None and depthwise.weight.flags.writeable  # depthwise: nothing to pack
    np.testing.assert_allclose(net(x), want, rtol=1e-5, atol=1e-6)
    state = {k: np.array(v) for k, v in net.state_dict().items()}
    state["3.weight"] = rng.standard_normal(state["3.weight"].shape).astype(np.float32)
    net.load_state_dict(state)
    hidden = np.maximum(ops.conv2d(x, state["0.weight"], state["0.bias"], padding=1), 0)
    hidden = ops.conv2d(hidden, state["2.weight"], state["2.bias"], padding=1, groups=8)
    np.testing.assert_allclose(net(x), ops.conv2d(hidden, state["3.weight"], state["3.bias"]), rtol=1e-5, atol=1e-6)
    assert last._packed is None
    first.weight.flags.writeable = True
    first.weight[...] = 0
    np.testing.assert_allclose(net[0](x), np.broadcast_to(np.maximum(state["0.bias"], 0)[:, None, None], (2, 8, 6, 6)))


def test_fuse_packs_the_winograd_form_of_the_layer_stride():
    """A 3x3 stride-2 convolution frozen by fuse carries the stride-2 Winograd form (its calls read
    it), a stride-1 one the stride-1 form."""
    rng = np.random.default_rng(4)
    down, same = nn.Conv2d(16, 24, 3, stride=2, padding=1).eval(), nn.Conv2d(16, 24, 3, padding=1).eval()
    x = rng.standard_normal((2, 16, 56, 55)).astype(np.float32)  # 392 stride-2 tiles: auto takes Winograd
    want = down(x)
    down.freeze_weight()
    same.freeze_weight()
    assert down._packed.winograd[1] > same._packed.winograd[1]  # 25 products per tile against 16
    np.testing.assert_array_equal(down(x), want)
    down._packed.winograd[0][...] = 0
    np.testing.assert_array_equal(down(x), np.broadcast_to(down.bias[:, None, None], want.shape))


@pytest.mark.parametrize("ext", [".npz", ".safetensors"])
def test_weights_round_trip(tmp_path, ext):
    model = pydeepkit.models.resnet18(num_classes=4)
    path = tmp_path / f"w{ext}"
    weights.save(model, path)
    loaded = weights.load(path)
    assert list(loaded) == list(model.state_dict())
    for k, v in model.state_dict().items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        np.testing.assert_array_equal(loaded[k], v)
    again = pydeepkit.models.get_model("resnet18", num_classes=4, weights=str(path))
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model.eval()(x))


def test_safetensors_dtypes_and_torch_interop(tmp_path):
    state = {"f64": np.arange(3, dtype=np.float64), "i64": np.array([[1, -2]], np.int64),
             "u8": np.array([255], np.uint8), "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 3), np.float32)}
    path = tmp_path / "x.safetensors"
    weights.save_safetensors(state, path, metadata={"format": "np"})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert (8 + n) % 8 == 0 and b'"__metadata__":{"format":"np"}' in raw[8:8 + n]
    back = weights.load_safetensors(path)
    for k, v in state.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
    # a bfloat16 tensor written by hand is widened to float32
    bf = np.array([1.0, -2.5, 3.0], np.float32).view(np.uint32) >> 16
    header = b'{"b":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}'
    (tmp_path / "bf.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bf.astype("<u2").tobytes())
    np.testing.assert_array_equal(weights.load(tmp_path / "bf.safetensors")["b"], [1.0, -2.5, 3.0])
    # torch state_dict saved with torch.save loads through .pth
    tv = torch.nn.Linear(3, 2)
    torch.save(tv.state_dict(), tmp_path / "lin.pth")
    lin = nn.Linear(3, 2)
    lin.load_state_dict(weights.load(tmp_path / "lin.pth"))
    np.testing.assert_array_equal(lin.weight, tv.weight.detach().numpy())


def test_weights_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown weights file type '.bin'"):
        weights.load(tmp_path / "w.bin")
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        weights.load(tmp_path / "missing.npz")
    (tmp_path / "short.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(ValueError, match="too short"):
        weights.load(tmp_path / "short.safetensors")
    header = b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    (tmp_path / "trunc.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    with pytest.raises(ValueError, match=r"tensor 'a' bytes \[0, 16\) lie outside the data \(8 bytes\)"):
        weights.load(tmp_path / "trunc.safetensors")
    (tmp_path / "huge.safetensors").write_bytes((10 ** 9).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="header length 1000000000 exceeds the file"):
        weights.load(tmp_path / "huge.safetensors")
    with pytest.raises(ValueError, match="can write .safetensors or .npz"):
        weights.save({}, tmp_path / "w.pth")
    with pytest.raises(nn.StateDictError, match="missing keys: fc.weight, fc.bias"):
        state = {k: v for k, v in pydeepkit.models.resnet18().state_dict().items() if not k.startswith("fc.")}
        pydeepkit.models.get_model("resnet18", weights=state)
    with pytest.raises(ValueError, match="unknown model 'resnet19'"):
        pydeepkit.models.get_model("resnet19")


def test_summary_reproduces_the_course_alexnet_table():
    s = pydeepkit.summary(pydeepkit.models.alexnet_paper(), (3, 227, 227))
    layers = [r for r in s.rows if r.params]
    # the course: 35 K, 307 K, 884 K, 663 K, 442 K, 37 M, 16 M, 4 M parameters, 60 M in total
    assert [round(r.params / 1e3) for r in layers[:5]] == [35, 307, 885, 664, 443]
    assert [round(r.params / 1e6) for r in layers[5:]] == [38, 17, 4]
    assert round(s.total_params / 1e6) == 61 and s.total_params == 60_965_224
    # neurons: 27x27x256, 13x13x384 twice, 13x13x256, 4096, 4096, 1000 (the paper's 253,440 for
    # layer 1 is its known slip: 55x55x96 = 290,400)
    assert [r.neurons for r in layers] == [290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    tv = pydeepkit.summary(pydeepkit.models.alexnet(), (3, 224, 224))
    assert tv.total_params == 61_100_840 and round(tv.total_macs / 1e6) == 714
    text = str(s)
    assert "features.0" in text and "60,965,224" in text and "classifier.6" in text
