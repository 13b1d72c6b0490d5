"""What the host runs in the plugin's interpreter: loads ``harness.py`` as a module, runs it.

Why not run ``harness.py`` itself: Python compiles the script it is given on every start and
never caches it (about 5 ms for the harness here, a sixth of a plugin's cold start), while a
module loaded from a file reuses its bytecode from ``__pycache__`` once one could be written
there (an installed package ships it; a checkout gets it on the first start, unless
``PYTHONDONTWRITEBYTECODE`` is set). Standard library only, Python >= 3.9, like the harness.
"""

import importlib.util
import os
import sys
from types import ModuleType

MODULE_NAME = "aro_tui_harness"
"""The harness module's name in ``sys.modules`` (a name no plugin module will have)."""


def _load_harness() -> ModuleType:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(_load_harness().main(sys.argv[1:]))
