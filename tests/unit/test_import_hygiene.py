"""The core never imports Textual, and the harness runs on a bare Python 3.9."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import aro_tui.core

HARNESS_DIR = Path(__file__).resolve().parents[2] / "aro_tui" / "harness"


def _core_module_names() -> list[str]:
    return [
        f"aro_tui.core.{info.name}"
        for info in pkgutil.walk_packages(aro_tui.core.__path__)
        if not info.name.startswith("_")
    ]


def test_core_and_cli_do_not_import_textual() -> None:
    modules = ["aro_tui.core", "aro_tui.cli", *_core_module_names()]
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", f"Textual imported by the core: {result.stdout}"


def test_harness_uses_only_the_standard_library_and_python_39_syntax() -> None:
    sources = sorted(HARNESS_DIR.glob("*.py"))
    assert sources, "the harness package is missing"
    stdlib = set(sys.stdlib_module_names)
    for source in sources:
        tree = ast.parse(source.read_text(), filename=str(source), feature_version=(3, 9))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = [node.module.split(".")[0]]
            else:
                continue
            foreign = [root for root in roots if root not in stdlib and root != "__future__"]
            assert not foreign, f"{source.name}:{node.lineno} imports {foreign}"
