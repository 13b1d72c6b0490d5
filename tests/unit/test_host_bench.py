"""Smoke test: ``aro-tui bench --quick`` runs end to end (timings are not asserted)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from aro_tui.cli import main
from aro_tui.commands.bench import Side, _report


def test_bench_quick_prints_every_bar(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "--quick"])
    out = capsys.readouterr().out
    assert status in (0, 1)  # 1 = a bar was not met on this machine; still a full report
    assert "== same core ==" in out
    assert "host event loop: " in out
    for row in ("50 B", "8 KB", "1 MB", "calls/s pipelined", "cold start to ready"):
        assert row in out
    assert out.count(": met") + out.count(": NOT met") >= 4


def test_bench_on_asyncio_with_the_passthrough_action(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "--quick", "--loop", "asyncio", "--action", "passthrough"]
    assert main(args) in (0, 1)  # a failing call would raise: both sides answered every call
    out = capsys.readouterr().out
    assert "host event loop: asyncio;" in out and "action: passthrough" in out


def _side(p50_s: dict[str, float], pipelined: float) -> Side:
    """One round of a side whose every sample is its payload's p50."""
    side = Side(sequential=[1000.0], pipelined=[pipelined], cold_start_s=[0.03])
    for name, seconds in p50_s.items():
        side.add(name, [seconds])
    return side


def test_a_ratio_just_past_its_bar_is_not_rounded_onto_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A median ratio of 1.004 read "Not met: 8 KB same core (1.00× > 1.0×)"."""
    spec = _side({"50 B": 0.0001, "8 KB": 0.0002, "1 MB": 0.01}, pipelined=10_000.0)
    host = _side({"50 B": 0.0001, "8 KB": 0.0002008, "1 MB": 0.009}, pipelined=4_996.0)
    unmet: list[str] = []
    assert _report("same core", spec, host, unmet) is False
    assert unmet == ["8 KB same core (1.004× > 1.0×)", "pipelined same core (0.4996× < 0.5×)"]
    out = capsys.readouterr().out
    assert " 1.004×" in out and "≤1.0×: NOT met (1.004-1.004)" in out
    assert " 1.00×" in out and "ratio 0.4996×  ≥0.5×: NOT met" in out  # 50 B: met, exactly


def test_the_help_says_an_unmet_bar_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "1 when any is not" in " ".join(capsys.readouterr().out.split())


def _script(path: Path, text: str, mode: int = 0o755) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("python", "why"),
    [
        (lambda tmp: tmp / "no" / "python", "does not exist"),
        (lambda tmp: _script(tmp / "python", "#!/bin/sh\n", 0o644), "is not an executable file"),
        (lambda tmp: tmp, "is not an executable file"),
        (
            lambda tmp: _script(tmp / "python", "#!/bin/sh\necho not python\n"),
            "is not a Python aro-tui can run: ",
        ),
        (
            lambda tmp: _script(tmp / "python", "#!/bin/sh\necho 2.7.18\n"),
            "is Python 2.7.18; the harness needs 3.7 or newer",
        ),
    ],
    ids=["missing", "not executable", "a folder", "not a Python", "too old"],
)
def test_a_python_that_cannot_run_the_plugins_is_a_usage_error(
    python: Callable[[Path], Path],
    why: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing --python ended in a FileNotFoundError traceback and exit 1 ("a bar was not
    met"); one line naming the interpreter and exit 2 now, before anything is measured."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    executable = python(tmp_path)
    assert main(["bench", "--quick", "--python", str(executable)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(f"aro-tui bench: error: --python {executable}")
    assert why in line


def test_a_bare_python_name_is_looked_up_on_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _script(tmp_path / "fakepython", "#!/bin/sh\nexit 1\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert main(["bench", "--quick", "--python", "fakepython"]) == 2
    err = capsys.readouterr().err
    assert f"--python {tmp_path / 'fakepython'} is not a Python aro-tui can run" in err
