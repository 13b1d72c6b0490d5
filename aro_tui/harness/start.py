"""What the host runs in the plugin's interpreter: loads ``harness.py`` as a module, runs it.

Why not run ``harness.py`` itself: Python compiles the script it is given on every start and
never caches it (about 5 ms for the harness here, a sixth of a plugin's cold start), while a
module loaded from a file reuses its bytecode from ``__pycache__`` once one could be written
there (an installed package ships it; a checkout gets it on the first start, unless
``PYTHONDONTWRITEBYTECODE`` is set). Standard library only, like the harness.

This file, unlike the harness, parses on any Python (type comments, no f-strings, imports
inside functions), so that a plugin whose interpreter is too old for the harness gets one
line that says so instead of a ``SyntaxError`` from inside ``harness.py``.
"""

import sys
from types import ModuleType  # noqa: F401 (used in a type comment)

MODULE_NAME = "aro_tui_harness"
"""The harness module's name in ``sys.modules`` (a name no plugin module will have)."""

MIN_PYTHON = (3, 7)
"""The oldest Python the harness runs under (aro-tui supports 3.9 on; 3.7 and 3.8 run it too)."""

EXIT_TOO_OLD = 3
"""Exit status when the interpreter is older than ``MIN_PYTHON``."""


def too_old_message(version, executable):
    # type: (tuple[int, ...], str) -> str
    """What the harness says when ``version`` is older than ``MIN_PYTHON``."""
    return (
        "aro-tui: this plugin runs under Python %s (%s); "
        "aro-tui's harness needs Python %s or newer\n"
        % (
            ".".join(str(part) for part in version[:3]),
            executable,
            ".".join(str(part) for part in MIN_PYTHON),
        )
    )


def _load_harness():
    # type: () -> ModuleType
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    if tuple(sys.version_info[:2]) < MIN_PYTHON:
        sys.stderr.write(too_old_message(tuple(sys.version_info[:3]), sys.executable))
        sys.exit(EXIT_TOO_OLD)
    sys.exit(_load_harness().main(sys.argv[1:]))
