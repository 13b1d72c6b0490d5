"""A plugin's ``.venv`` without ``bin/python``, interpreters that hang or fail their probe,
and a ctrl+c while they are probed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from aro_tui.cli import main
from aro_tui.core.plugins.discovery import discover
from aro_tui.core.plugins.interpreter import VersionProbe

WHERE = (
    "import json, sys\n"
    "import only_in_the_venv\n\n"
    "def aro_action_where(input_json):\n"
    "    return json.dumps({'prefix': sys.prefix, 'found': only_in_the_venv.FOUND})\n"
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")


def _plugin(root: Path, code: str = "") -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "plugin.py").write_text(code)
    (root / "plugin.yaml").write_text(
        f"name: {root.name}\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n"
        "    path: src/\n    actions: [where]\n"
    )
    return root


def _venv_with_a_package(root: Path) -> Path:
    """A real venv in ``root/.venv`` holding a module only it has; its ``bin/``, where each
    python link leads to the base interpreter itself (as Debian's python3 makes them), so
    that removing one leaves the others working."""
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    Path(site.stdout.strip(), "only_in_the_venv.py").write_text("FOUND = 'in the venv'\n")
    base = os.path.realpath(python)
    for link in python.parent.glob("python*"):
        link.unlink()
        link.symlink_to(base)
    return venv / "bin"


@pytest.mark.parametrize(
    "removed",
    [["python"], ["python", "python3"]],
    ids=["python3 left", "only python3.X left"],
)
def test_a_venv_without_bin_python_still_runs_the_plugin(
    tmp_path: Path, removed: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    """`python3 -m venv .venv` then `rm .venv/bin/python`: the .venv was ignored without a
    word, `check` said valid, and `call` failed on a package installed in it."""
    root = _plugin(tmp_path / "Plugins" / "venv-no-python", WHERE)
    bin_dir = _venv_with_a_package(root)
    for name in removed:
        (bin_dir / name).unlink()
    assert main(["call", str(root), "where", "{}"]) == 0
    out, err = capfd.readouterr()
    answer = json.loads(out)
    assert answer["found"] == "in the venv", err
    assert Path(answer["prefix"]) == root / ".venv"
    assert main(["list", "--json", str(root)]) == 0
    (listed,) = json.loads(capfd.readouterr().out)["plugins"]
    assert listed["interpreter"]["origin"] == "plugin-venv"
    assert Path(listed["interpreter"]["path"]).parent == bin_dir


def test_an_empty_venv_is_named_in_check_and_list(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An empty `.venv/`: `check` said valid with no problems, `list` `3.11.7 dashboard`."""
    root = _plugin(tmp_path / "Plugins" / "venv-empty", WHERE)
    (root / ".venv").mkdir()
    assert main(["check", str(root)]) == 0  # a warning: aro-tui still runs it
    out = capfd.readouterr().out
    assert "venv-empty  warnings" in out
    assert f"warning [host] {root / '.venv'}" in out
    assert "the plugin's .venv is not used, as it holds no interpreter" in out
    assert f"aro-tui's own Python ({sys.executable})" in out
    assert main(["list", "--json", str(root)]) == 0
    (listed,) = json.loads(capfd.readouterr().out)["plugins"]
    assert (listed["status"], listed["interpreter"]["origin"]) == ("warnings", "dashboard")
    assert main(["check", "--json", str(root)]) == 0
    (checked,) = json.loads(capfd.readouterr().out)["plugins"]
    assert [p["code"] for p in checked["problems"]] == ["venv-without-python"]


def _marker(tmp_path: Path) -> str:
    return f"aro-tui-hang-{os.getpid()}-{tmp_path.name}"


def _hanging_plugins(tmp_path: Path, count: int) -> Path:
    """``count`` plugins whose ``.venv/bin/python`` starts a child and never answers."""
    plugins = tmp_path / "Plugins"
    child = f"{sys.executable} -c 'import time; time.sleep(60)' {_marker(tmp_path)}"
    for number in range(count):
        python = _plugin(plugins / f"hang-{number}") / ".venv" / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(f"#!/bin/sh\n{child} &\nwait\n")
        python.chmod(0o755)
    return plugins


def _left_running(tmp_path: Path) -> list[psutil.Process]:
    marker = _marker(tmp_path)
    return [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if marker in " ".join(p.info["cmdline"] or []) and p.info["status"] != "zombie"
    ]


def test_hanging_interpreters_are_probed_at_once_not_one_after_another(tmp_path: Path) -> None:
    """Three plugins whose interpreter hangs held `check`, `list` and the dashboard's start
    for a timeout each, one after another."""
    plugins = _hanging_plugins(tmp_path, 3)
    started_s = time.monotonic()
    found = discover(plugins, probe=VersionProbe(tmp_path / "probe.json", timeout_s=1.0))
    took_s = time.monotonic() - started_s
    errors = [p.interpreter.error for p in found.plugins]
    assert all(error is not None and "did not answer within 1 s" in error for error in errors)
    assert took_s < 2.5, f"{took_s:.1f} s: one timeout, not three"
    time.sleep(0.2)
    assert _left_running(tmp_path) == []


def test_ctrl_c_while_interpreters_are_probed_leaves_nothing_running(tmp_path: Path) -> None:
    """The probe runs in its own session, so a terminal's ctrl+c never reaches it: `check`
    ended and left the probe's child running under init."""
    plugins = _hanging_plugins(tmp_path, 2)
    check = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", "check", str(plugins)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline_s = time.monotonic() + 10
    while not _left_running(tmp_path) and time.monotonic() < deadline_s:
        time.sleep(0.05)
    assert _left_running(tmp_path), "a probe running"
    os.killpg(check.pid, signal.SIGINT)  # what ctrl+c in its terminal does
    _, stderr = check.communicate(timeout=5)
    assert check.returncode == 130 and b"Traceback" not in stderr  # interrupted, quietly
    time.sleep(0.2)
    assert _left_running(tmp_path) == []


def test_a_failing_shim_is_quoted_by_its_first_line_too(tmp_path: Path) -> None:
    """`--python python3.8`, a pyenv shim of a version not selected: the error quoted its
    last line, `Python versions to be found at the same time.`"""
    shim = tmp_path / "python3.8"
    shim.write_text(
        "#!/bin/sh\n"
        "echo 'pyenv: python3.8: command not found' >&2\necho >&2\n"
        'echo "The \\`python3.8\' command exists in these Python versions:" >&2\n'
        "echo '  3.8.18' >&2\necho >&2\n"
        "echo \"Note: See 'pyenv help global' for tips on allowing multiple\" >&2\n"
        "echo '      Python versions to be found at the same time.' >&2\nexit 127\n"
    )
    shim.chmod(0o755)
    version, error = VersionProbe().version_of(shim)
    assert version is None
    assert error == (
        f"{shim} failed (exit 127): pyenv: python3.8: command not found … "
        "Python versions to be found at the same time."
    )
