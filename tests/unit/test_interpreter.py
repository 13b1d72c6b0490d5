"""Interpreter resolution, the version probe and its caches, and python.min-version."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from aro_tui.core.plugins.discovery import load_plugin
from aro_tui.core.plugins.interpreter import (
    CACHE_SCHEMA,
    VersionProbe,
    cache_dir,
    parse_version,
    resolve_interpreter,
    venv_python,
)
from aro_tui.core.plugins.model import DiscoveredPlugin
from aro_tui.core.plugins.problem import Problem

THIS_VERSION = tuple(sys.version_info[:3])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def _fake_python(path: Path, body: str) -> Path:
    """An executable that answers the probe like an interpreter would (or fails to)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _plugin(root: Path, min_version: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "plugin.py").write_text("")
    (root / "plugin.yaml").write_text(
        f"name: {root.name}\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n"
        f'    path: src/\n    python:\n      min-version: "{min_version}"\n'
    )
    return root


@pytest.mark.parametrize(
    ("text", "version"),
    [("3.9", (3, 9, 0)), ("3.10.2", (3, 10, 2)), ("3", (3, 0, 0)), ("3.x", None), ("", None)],
)
def test_parse_version(text: str, version: tuple[int, int, int] | None) -> None:
    assert parse_version(text) == version


def test_the_probe_runs_once_then_answers_from_memory_and_disk(tmp_path: Path) -> None:
    probe = VersionProbe()
    executable = Path(sys.executable)
    assert probe.version_of(executable) == (THIS_VERSION, None)
    assert probe.version_of(executable) == (THIS_VERSION, None)
    assert probe.probes_run == 1
    assert probe.cache_path == tmp_path / "cache" / "aro-tui" / "interpreters.json"
    stored = json.loads(probe.cache_path.read_text())
    assert stored["schema"] == CACHE_SCHEMA
    assert list(stored["versions"].values()) == [list(THIS_VERSION)]

    next_run = VersionProbe()
    assert next_run.version_of(executable) == (THIS_VERSION, None)
    assert next_run.probes_run == 0


def test_a_changed_interpreter_is_probed_again(tmp_path: Path) -> None:
    fake = _fake_python(tmp_path / "bin" / "python", "echo 3.8.1")
    probe = VersionProbe()
    assert probe.version_of(fake) == ((3, 8, 1), None)
    _fake_python(fake, "echo 3.12.4")
    os.utime(fake, ns=(1, 1_000_000_000))
    assert probe.version_of(fake) == ((3, 12, 4), None)
    assert probe.probes_run == 2


def test_a_failing_interpreter_is_reported_once_per_process(tmp_path: Path) -> None:
    fake = _fake_python(tmp_path / "python", "echo 'boom: no stdlib' >&2; exit 3")
    probe = VersionProbe()
    version, error = probe.version_of(fake)
    assert version is None
    assert error == f"{fake} failed (exit 3): boom: no stdlib"
    assert probe.version_of(fake) == (None, error)
    assert probe.probes_run == 1
    next_run = VersionProbe()
    next_run.version_of(fake)
    assert next_run.probes_run == 1, "failures are not written to the disk cache"


def test_a_hanging_interpreter_times_out_and_leaves_nothing_running(tmp_path: Path) -> None:
    """A wrapper script's child (not exec'd) was left running under init after the timeout."""
    import psutil

    marker = f"aro-tui-probe-{os.getpid()}"
    child = f"{sys.executable} -c 'import time; time.sleep(30)' {marker}"
    fake = _fake_python(tmp_path / "python", f"{child} &\nwait")
    version, error = VersionProbe(timeout_s=0.3).version_of(fake)
    assert version is None
    assert error == f"{fake} did not answer within 0.3 s"
    time.sleep(0.2)
    left = [
        p
        for p in psutil.process_iter(["cmdline", "status"])
        if marker in " ".join(p.info["cmdline"] or []) and p.info["status"] != "zombie"
    ]
    assert left == []


def test_missing_and_non_executable_interpreters(tmp_path: Path) -> None:
    probe = VersionProbe()
    assert probe.version_of(tmp_path / "nope") == (
        None,
        f"{tmp_path / 'nope'} does not exist (or is a broken link)",
    )
    plain = tmp_path / "python"
    plain.write_text("")
    plain.chmod(0o644)
    assert probe.version_of(plain) == (None, f"{plain} is not an executable file")


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    probe = VersionProbe(cache_path=blocker / "sub" / "interpreters.json")
    assert probe.version_of(Path(sys.executable)) == (THIS_VERSION, None)


def test_cache_dir_follows_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_dir() == tmp_path / "cache" / "aro-tui"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "aro-tui"


def test_resolution_prefers_the_plugin_venv(tmp_path: Path) -> None:
    root = tmp_path / "plugin"
    own = venv_python(root)
    own.parent.mkdir(parents=True)
    own.symlink_to(sys.executable)
    interpreter = resolve_interpreter(root, configured=Path("/elsewhere/python"))
    assert (interpreter.origin, interpreter.path) == ("plugin-venv", own)
    assert (interpreter.version, interpreter.error) == (THIS_VERSION, None)


def test_resolution_falls_back_to_configured_then_dashboard(tmp_path: Path) -> None:
    configured = _fake_python(tmp_path / "py" / "python3", "echo 3.10.0")
    chosen = resolve_interpreter(tmp_path, configured=configured)
    assert (chosen.origin, chosen.path, chosen.version) == ("configured", configured, (3, 10, 0))
    dashboard = resolve_interpreter(tmp_path)
    assert (dashboard.origin, dashboard.path) == ("dashboard", Path(sys.executable))


def _without_venv_warning(plugin: DiscoveredPlugin) -> list[Problem]:
    """The plugin's problems but the warning every plugin with its own .venv gets."""
    return [p for p in plugin.problems if p.code != "venv-not-used-by-aro"]


def test_min_version_above_the_interpreter_is_a_warning_aro_does_not_check(
    tmp_path: Path,
) -> None:
    root = _plugin(tmp_path / "needs-new", "3.9")
    fake = _fake_python(venv_python(root), "echo 3.8.10")
    plugin = load_plugin(root)
    (problem,) = _without_venv_warning(plugin)
    assert problem.code == "min-version-unmet"
    assert (problem.field, problem.line, problem.column) == (
        "provides[0].python.min-version",
        7,
        20,
    )
    assert problem.found == f"Python 3.8.10 ({fake}, plugin-venv)"
    assert problem.expected == "Python >= 3.9"
    assert problem.rules == ("host",)
    assert problem.severity == "warning" and "ARO does not check this" in problem.message
    # ARO runs it all the same, so the dashboard and the commands do too.
    assert plugin.valid and plugin.runnable


def test_an_interpreter_the_harness_cannot_run_under_is_an_error(tmp_path: Path) -> None:
    root = _plugin(tmp_path / "old-venv", "3.0")
    fake = _fake_python(venv_python(root), "echo 3.6.15")
    plugin = load_plugin(root)
    (problem,) = _without_venv_warning(plugin)
    assert (problem.code, problem.file, problem.rules) == ("interpreter-too-old", fake, ("host",))
    assert problem.found == f"Python 3.6.15 ({fake}, plugin-venv)"
    assert problem.expected == "Python >= 3.7"
    assert not plugin.valid
    _fake_python(venv_python(root), "echo 3.7.0")
    fresh = load_plugin(root, probe=VersionProbe(tmp_path / "fresh-cache.json"))
    assert _without_venv_warning(fresh) == []


def test_a_plugin_venv_is_flagged_as_one_aro_never_runs(tmp_path: Path) -> None:
    root = _plugin(tmp_path / "own-venv", "3.0")
    fake = _fake_python(venv_python(root), "echo 3.11.2")
    (problem,) = load_plugin(root).problems
    assert (problem.code, problem.severity, problem.file) == (
        "venv-not-used-by-aro",
        "warning",
        fake,
    )
    assert "python3 from PATH" in problem.message and "call --runtime" in problem.message
    # Without a .venv, aro-tui runs the plugin with another interpreter and says nothing.
    assert load_plugin(_plugin(tmp_path / "no-venv", "3.0")).problems == ()


def test_min_version_met_by_the_running_python(tmp_path: Path) -> None:
    plugin = load_plugin(_plugin(tmp_path / "ok", f"{sys.version_info[0]}.{sys.version_info[1]}"))
    assert plugin.problems == ()
    assert plugin.interpreter.origin == "dashboard"
    too_new = load_plugin(_plugin(tmp_path / "future", "99.0"))
    assert [p.code for p in too_new.problems] == ["min-version-unmet"]


def test_a_broken_plugin_venv_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    root = _plugin(tmp_path / "broken-venv", "3.9")
    own = venv_python(root)
    own.parent.mkdir(parents=True)
    own.symlink_to(tmp_path / "deleted-python")
    plugin = load_plugin(root)
    (problem,) = plugin.problems
    assert (problem.code, problem.file, problem.rules) == ("interpreter-unusable", own, ("host",))
    assert problem.found == f"{own} does not exist (or is a broken link)"
    assert "ARO would not use it either" in problem.message
    assert plugin.interpreter.version is None and not plugin.valid


def test_a_bare_interpreter_name_is_looked_up_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--python python3 was taken as ./python3 in the current folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "my-python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    found = resolve_interpreter(plugin, configured=Path("my-python"))
    assert found.path == bin_dir / "my-python" and found.error is None
    nowhere = resolve_interpreter(plugin, configured=Path("not-on-path"))
    assert nowhere.error == "not-on-path is not on PATH, nor in the current folder"


def test_a_min_version_in_other_digits_is_not_a_version_and_not_a_crash() -> None:
    """ "3.⁹" passed str.isdigit() and crashed int(), ending check for the whole folder."""
    from aro_tui.core.plugins.interpreter import parse_version

    assert parse_version("3.⁹") is None and parse_version("①.9") is None
    assert parse_version("3.10.2") == (3, 10, 2)
