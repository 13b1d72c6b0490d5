"""A requirement the plugin's interpreter has not installed: `check` warns before anything
runs, and a failed import names the interpreter that ran it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aro_tui.cli import main
from aro_tui.core.plugins.discovery import load_plugin

REQUIREMENTS = """\
# what the plugin needs
-r more-requirements.txt
--index-url https://example.invalid/simple
PyYAML>=5
typing-extensions
definitely-not-installed-xyz==1.0
Also_Not.Installed[extra] >=2 ; python_version >= "3"
only-on-python2 ; python_version < "3"
https://example.invalid/a-wheel-1.0-py3-none-any.whl
./a/local/folder
"""
IMPORTS_A_MISSING_PACKAGE = (
    "import json\nimport definitely_not_installed_xyz\n\n"
    "def aro_action_go(input_json):\n    return json.dumps({})\n"
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "250")


def _plugin(root: Path, code: str = "", requirements: str | None = None) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "plugin.py").write_text(code)
    manifest = (
        f"name: {root.name}\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n"
        "    path: src/\n    actions: [go]\n"
    )
    if requirements is not None:
        manifest += "    python:\n      requirements: requirements.txt\n"
        (root / "src" / "requirements.txt").write_text(requirements)
    (root / "plugin.yaml").write_text(manifest)
    return root


def test_check_warns_of_each_requirement_the_interpreter_has_not_installed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`check` said valid with no problems; the plugin's start then failed on
    `No module named ...` of a package its requirements.txt lists."""
    root = _plugin(tmp_path / "Plugins" / "needs-more", requirements=REQUIREMENTS)
    requirements = root / "src" / "requirements.txt"
    assert main(["check", "--json", str(root)]) == 0  # warnings: it may still run
    (checked,) = json.loads(capfd.readouterr().out)["plugins"]
    missing = [p for p in checked["problems"] if p["code"] == "requirement-not-installed"]
    python = f"{sys.executable} (dashboard)"
    assert [(p["file"], p["line"], p["found"]) for p in missing] == [
        (str(requirements), 6, f"definitely-not-installed-xyz==1.0: not installed in {python}"),
        (
            str(requirements),
            7,
            f'Also_Not.Installed[extra] >=2 ; python_version >= "3": not installed in {python}',
        ),
    ]
    assert all(p["severity"] == "warning" and p["rules"] == ["host"] for p in missing)
    assert "-m pip install definitely-not-installed-xyz==1.0)" in missing[0]["message"]
    assert main(["check", str(root)]) == 0
    out = capfd.readouterr().out
    assert f"{requirements}:6:1" in out and f"{requirements}:7:1" in out


def test_the_requirements_probe_never_imports_the_plugin(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    code = f"open({str(marker)!r}, 'w').close()\nimport definitely_not_installed_xyz\n"
    root = _plugin(tmp_path / "side-effects", code, requirements="definitely-not-installed-xyz\n")
    plugin = load_plugin(root)
    assert [p.code for p in plugin.problems] == ["requirement-not-installed"]
    assert not marker.exists()


def test_installed_requirements_are_not_flagged(tmp_path: Path) -> None:
    root = _plugin(tmp_path / "has-all", requirements="pyyaml\nTyping_Extensions>=4\n")
    assert load_plugin(root).problems == ()


def test_a_failed_import_names_the_interpreter_that_ran_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`crashed: plugin X failed to import: ModuleNotFoundError: No module named ...` did
    not say which Python lacked the package."""
    root = _plugin(tmp_path / "no-venv", IMPORTS_A_MISSING_PACKAGE)
    assert main(["call", str(root), "go", "{}"]) == 3
    err = capfd.readouterr().err
    assert (
        "failed to import: ModuleNotFoundError: No module named 'definitely_not_installed_xyz' "
        f"under {sys.executable} (aro-tui's own Python, the plugin has no .venv)"
    ) in err
    assert main(["call", "--python", sys.executable, str(root), "go", "{}"]) == 3
    assert f"under {sys.executable} (--python)" in capfd.readouterr().err  # as given
    own = root / ".venv" / "bin" / "python"
    own.parent.mkdir(parents=True)
    own.symlink_to(sys.executable)
    assert main(["call", str(root), "go", "{}"]) == 3
    err = capfd.readouterr().err
    assert f"'definitely_not_installed_xyz' under {own} (its own .venv)" in err


def test_a_configured_interpreter_is_named_as_python_option(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "bin" / "python3"
    other.parent.mkdir()
    other.symlink_to(sys.executable)
    root = _plugin(tmp_path / "no-venv", IMPORTS_A_MISSING_PACKAGE)
    assert main(["call", "--python", str(other), str(root), "go", "{}"]) == 3
    assert f"under {other} (--python)" in capfd.readouterr().err
