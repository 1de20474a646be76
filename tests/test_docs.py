"""Every public function has a docstring with shapes and an example, and the example runs."""
import doctest
import importlib

import numpy as np
import pytest

import pydeepkit
import pydeepkit.ops as ops

PUBLIC = sorted(ops.__all__) + ["info"]
# the classification helpers of pydeepkit.models and the demo's model selection (module, name)
MODEL_API = [("pydeepkit.models", n) for n in ("list_models", "get_model", "input_shape", "preprocess_image",
                                               "imagenet_classes", "classify")]
MODEL_API += [("pydeepkit.models.imagenet", n) for n in ("resized_size", "center_crop", "evaluation_resize")]
MODEL_API += [("pydeepkit.demo_models", "select_models")]


def run_example(fn, name):
    assert fn.__doc__ and "Example" in fn.__doc__, f"{name} has no docstring example"
    tests = doctest.DocTestFinder().find(fn, name, globs={"np": np, "pydeepkit": pydeepkit})
    assert tests and tests[0].examples, f"{name}: no >>> lines in its example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}: its docstring example failed (see the output above)"


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_example_runs(name):
    run_example(getattr(pydeepkit, name), name)


@pytest.mark.parametrize("module,name", MODEL_API, ids=[f"{m}.{n}" for m, n in MODEL_API])
def test_model_api_docstring_example_runs(module, name):
    if name == "preprocess_image":
        pytest.importorskip("PIL")  # in the test extra
    run_example(getattr(importlib.import_module(module), name), f"{module}.{name}")
