"""Every public function has a docstring with shapes and an example, and the example runs."""
import doctest

import numpy as np
import pytest

import pydeepkit
import pydeepkit.ops as ops

PUBLIC = sorted(ops.__all__) + ["info"]


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_example_runs(name):
    fn = getattr(pydeepkit, name)
    assert fn.__doc__ and "Example" in fn.__doc__, f"{name} has no docstring example"
    tests = doctest.DocTestFinder().find(fn, name, globs={"np": np, "pydeepkit": pydeepkit})
    assert tests and tests[0].examples, f"{name}: no >>> lines in its example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{name}: its docstring example failed (see the output above)"
