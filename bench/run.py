"""Benchmark runner shim: ``python bench/run.py [names] [--quick] [--json FILE] ...``.

Runs ``pydeepkit bench`` on the pydeepkit package of this source tree (the same as
``pydeepkit bench`` of an installed package). Point PYDEEPKIT_EXTENSION_DIR at a build
directory to use its extensions, e.g.

    PYDEEPKIT_EXTENSION_DIR=build/dev python bench/run.py max_pool
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pydeepkit.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
