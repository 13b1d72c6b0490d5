"""The core never imports Textual, and the harness runs on a bare Python 3.9."""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import aro_tui.core
from aro_tui.cli import COMMAND_MODULES

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


def test_each_command_is_registered_by_the_module_the_cli_maps_it_to() -> None:
    for command, module_name in COMMAND_MODULES.items():
        parser = argparse.ArgumentParser()
        subparsers = parser.add_subparsers()
        importlib.import_module(module_name).register(subparsers)
        assert command in subparsers.choices, f"{module_name} does not register {command!r}"
        others = set(subparsers.choices) - {
            c for c, m in COMMAND_MODULES.items() if m == module_name
        }
        assert not others, f"{module_name} registers {others}, which the cli does not map"


def test_a_headless_command_imports_neither_the_dashboard_nor_the_other_commands() -> None:
    script = (
        "import sys\n"
        "from aro_tui.cli import main\n"
        "try:\n"
        "    main(['list', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aro_tui.commands', 'textual'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == "['aro_tui.commands', 'aro_tui.commands.inventory']"
