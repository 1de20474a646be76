"""``python -m pydeepkit``: the ``pydeepkit`` command (info, bench, demo)."""
import sys

from .cli import main

sys.exit(main())
