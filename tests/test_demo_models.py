"""The model table of `pydeepkit demo` (pydeepkit.demo_models) and the models bench family's listing.
The model bench itself is not run here (minutes); `pydeepkit bench models --quick` is its check."""
from __future__ import annotations

import re

import numpy as np
import pytest

import pydeepkit
from pydeepkit import bench, demo_models
from pydeepkit.bench import _devices

from conftest import run_python

BENCH_MODELS = ("resnet50", "vgg16", "googlenet", "mobilenet_v2", "alexnet")


def table_rows(stdout):
    """model name -> the cells of its row in the model table."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


def test_demo_model_table_without_torch():
    proc = run_python("-m", "pydeepkit", "demo", "--model", "lenet5", "--model", "mobilenet_v1", "--no-torch")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checks on" not in proc.stdout, "--model alone runs only the model table"
    rows = table_rows(proc.stdout)
    assert sorted(rows) == ["lenet5", "mobilenet_v1"]
    # model, input, params, GMACs, output, backend, ours ms, torch ms, max abs diff, of max|torch|, result
    lenet = rows["lenet5"]
    assert lenet[1:6] == ["[1,1,32,32]", "0.06 M", "0.000", "[1,10]", "cpu"], lenet
    assert float(lenet[6]) > 0 and lenet[7:10] == ["-", "-", "-"]
    assert rows["mobilenet_v1"][1] == "[1,3,64,64]" and rows["mobilenet_v1"][4] == "[1,1000]"
    assert "2 models at small size on cpu: 2 passed, 0 failed; torch not installed" in proc.stdout


def test_demo_model_table_against_torchvision():
    pytest.importorskip("torchvision")
    proc = run_python("-m", "pydeepkit", "demo", "--model", "mobilenet_v2", "--model", "lenet5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout)
    mobilenet = rows["mobilenet_v2"]
    assert mobilenet[2] == "3.50 M" and mobilenet[-1] == "PASS", mobilenet
    assert float(mobilenet[6]) > 0 and float(mobilenet[7]) > 0 and float(mobilenet[8]) < 1e-3
    assert float(mobilenet[9]) <= 1e-4  # relative to max|torch output|
    assert rows["lenet5"][-1] == "ran (no torchvision twin)"
    assert "1 compared with torchvision" in proc.stdout


def test_op_names_alone_skip_the_model_table():
    proc = run_python("-m", "pydeepkit", "demo", "global_avg", "--backend", "cpu", "--no-torch")
    assert proc.returncode == 0, proc.stderr
    assert "checks on cpu" in proc.stdout and "models at" not in proc.stdout
    proc = run_python("-m", "pydeepkit", "demo", "--model", "no_such_net", "--no-torch")
    assert proc.returncode == 2 and "no model matches ['no_such_net']" in proc.stderr


def test_a_model_that_differs_from_torchvision_fails(monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from pydeepkit.bench import models as bench_models
    device = _devices.Device("cpu", torch)
    good = demo_models.run_model("mobilenet_v2", "small", device)
    assert good.passed and good.max_diff <= demo_models.RTOL * good.torch_scale and good.torch_scale > 0.1

    real_twin = bench_models.torchvision_twin

    def shifted_twin(name, state, **kwargs):  # the twin's classifier bias off by 0.01
        state = dict(state)
        state["classifier.1.bias"] = state["classifier.1.bias"] + np.float32(0.01)
        return real_twin(name, state, **kwargs)
    monkeypatch.setattr(bench_models, "torchvision_twin", shifted_twin)
    bad = demo_models.run_model("mobilenet_v2", "small", device)
    assert not bad.passed and abs(bad.max_diff - 0.01) < 1e-3
    assert "FAIL (> 0.0001 x max|torch|" in demo_models.format_model_results([bad])


def test_a_model_that_raises_is_a_failed_row(monkeypatch):
    from pydeepkit import models

    def broken(name, **kwargs):
        raise RuntimeError("no kernel for this")
    monkeypatch.setattr(models, "get_model", broken)
    row = demo_models.run_model("lenet5", "small", _devices.Device("cpu", None))
    assert not row.passed and row.error == "ERR RuntimeError: no kernel for this"
    assert "FAIL (ERR RuntimeError: no kernel for this)" in demo_models.format_model_results([row])


def test_model_selection():
    assert demo_models.select_models() == pydeepkit.models.list_models()
    assert demo_models.select_models(["vgg16"]) == ["vgg16"]  # an exact name: that model alone
    assert demo_models.select_models(["VGG16", "resnet1"]) == ["resnet101", "resnet152", "resnet18", "vgg16"]
    assert demo_models.select_models(["bn"]) == [f"vgg{d}_bn" for d in (11, 13, 16, 19)]
    assert demo_models.model_backend(["emu"]) in ("emu", None)
    assert demo_models.model_backend(["cpu", "emu"]) == "cpu"


def test_bench_models_family_is_listed_and_selected_by_its_name():
    family = [e for e in bench.entries() if e.family == "models"]
    expected = [f"{m} b{b}{f}" for m in BENCH_MODELS for b in (1, 8) for f in ("", " fused")]
    assert [e.name for e in family] == expected
    assert all(e.shape("full") == (int(e.params[1]), 3, 224, 224) for e in family)
    assert bench.select(bench.entries(), ["models"]) == family
    assert [e.name for e in bench.select(bench.entries(), ["resnet50 b8"])] == ["resnet50 b8", "resnet50 b8 fused"]
    proc = run_python("-m", "pydeepkit", "bench", "models", "--list")
    assert proc.returncode == 0, proc.stderr
    for name in expected:
        assert re.search(rf"^{re.escape(name)}\s+\[", proc.stdout, re.M), name


def test_listing_models_imports_neither_torch_nor_pillow():
    proc = run_python("-c", "import sys, pydeepkit.bench, pydeepkit.demo_models, pydeepkit.models\n"
                            "pydeepkit.bench.entries(); pydeepkit.demo_models.select_models()\n"
                            "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules\n"
                            "assert 'PIL' not in sys.modules\n")
    assert proc.returncode == 0, proc.stderr


def test_torchvision_twin_shares_our_arrays_and_rejects_other_keys():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchvision")
    from pydeepkit.bench.models import torchvision_twin
    state = pydeepkit.models.get_model("resnet18", num_classes=7).state_dict()
    twin = torchvision_twin("resnet18", state, num_classes=7)
    assert not twin.training and twin.fc.weight.data_ptr() == state["fc.weight"].ctypes.data  # no copy
    assert twin.bn1.num_batches_tracked.device.type == "cpu"  # the buffer we lack is materialised
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32), dtype=np.float32)
    ours = pydeepkit.models.get_model("resnet18", weights=state, num_classes=7)(x)
    with torch.inference_mode():
        np.testing.assert_allclose(twin(torch.from_numpy(x)).numpy(), ours, rtol=1e-4, atol=1e-4 * np.abs(ours).max())
    del state["fc.bias"]
    with pytest.raises(ValueError, match=r"resnet18: missing keys \['fc.bias'\]"):
        torchvision_twin("resnet18", state, num_classes=7)


def test_input_shapes():
    assert pydeepkit.models.input_shape("lenet5", "small") == (1, 32, 32)
    assert pydeepkit.models.input_shape("alexnet_paper", "small") == (3, 227, 227)
    assert pydeepkit.models.input_shape("inception_v3", "small") == (3, 80, 80)
    with pytest.raises(ValueError, match="unknown model 'resnet19'"):
        pydeepkit.models.input_shape("resnet19")
    with pytest.raises(ValueError, match="size must be 'full' or 'small'"):
        pydeepkit.models.input_shape("resnet18", "tiny")
