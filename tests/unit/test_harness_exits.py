"""Plugins that end their process without an ordinary exception: ``sys.exit()`` at import, a
``SyntaxError`` in the module, a segfault or an abort. Each start or call says where."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from plugin_launch import TEST_PLUGINS, launch_test_plugin

from aro_tui.cli import main
from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.core.host.process import PluginProcess, PluginStartError

EXITS_ODDLY = TEST_PLUGINS / "odd-exits"
IMPORT_FAULT_ENV = "EXITS_ODDLY_AT_IMPORT"


def _line_of(code: str, path: Path = EXITS_ODDLY / "src" / "plugin.py") -> int:
    """The number of the line of ``path`` that is ``code`` (indented or not)."""
    lines = path.read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if line.strip() == code)


async def _failed_start(monkeypatch: pytest.MonkeyPatch, at_import: str) -> PluginStartError:
    monkeypatch.setenv(IMPORT_FAULT_ENV, at_import)
    plugin = PluginProcess(launch_test_plugin("odd-exits"))
    with pytest.raises(PluginStartError) as raised:
        await plugin.start()
    return raised.value


@pytest.mark.parametrize(
    ("at_import", "statement", "said", "exit_code"),
    [
        ("exit-3", "sys.exit(3)", "SystemExit: 3", 3),
        ("exit-0", "sys.exit(0)", "SystemExit: 0", 0),
        ("raise", "raise SystemExit", "SystemExit", 0),
    ],
)
async def test_sys_exit_at_import_says_where_with_the_plugins_traceback(
    monkeypatch: pytest.MonkeyPatch, at_import: str, statement: str, said: str, exit_code: int
) -> None:
    """It once said only "exited during start (exited with code 0)"."""
    error = await _failed_start(monkeypatch, at_import)
    line = _line_of(statement)
    assert f"failed to import: {said} (sys.exit() at import, src/plugin.py line {line})" in str(
        error
    )
    assert error.exit_code == exit_code
    assert error.traceback == (
        "Traceback (most recent call last):\n"
        f'  File "{EXITS_ODDLY / "src" / "plugin.py"}", line {line}, in <module>\n'
        f"    {statement}\n"
        f"{said}\n"
    )


async def test_sys_exit_in_a_module_the_plugin_calls_names_that_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    error = await _failed_start(monkeypatch, "helper")
    line = _line_of("sys.exit(code)", EXITS_ODDLY / "src" / "helpers.py")
    assert f"SystemExit: 2 (sys.exit() at import, src/helpers.py line {line})" in str(error)
    assert error.exit_code == 2
    assert error.traceback is not None
    assert "helpers.give_up(2)" in error.traceback and "harness.py" not in error.traceback


def test_call_prints_where_the_import_exited(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(IMPORT_FAULT_ENV, "exit-3")
    assert main(["call", str(EXITS_ODDLY), "echo", "{}"]) == 3
    err = capfd.readouterr().err
    line = _line_of("sys.exit(3)")
    assert (
        "aro-tui call: crashed: plugin odd-exits failed to import: SystemExit: 3 "
        f"(sys.exit() at import, src/plugin.py line {line})"
    ) in err
    assert "    sys.exit(3)\nSystemExit: 3\n" in err


async def test_syntax_error_in_the_module_shows_only_the_plugins_file(tmp_path: Path) -> None:
    """Its traceback once began in harness.py and importlib's frozen frames."""
    plugin_dir = tmp_path / "syntax-error"
    shutil.copytree(EXITS_ODDLY, plugin_dir)
    module = plugin_dir / "src" / "plugin.py"
    module.write_text("import json\ndef oops(:\n    pass\n")
    plugin = PluginProcess(launch_test_plugin("syntax-error", module_path=module))
    with pytest.raises(PluginStartError) as raised:
        await plugin.start()
    assert "failed to import: SyntaxError: invalid syntax (plugin.py, line 2)" in str(raised.value)
    assert raised.value.traceback == (
        f'  File "{module}", line 2\n    def oops(:\n             ^\nSyntaxError: invalid syntax\n'
    )


async def test_segfault_at_import_shows_the_python_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    error = await _failed_start(monkeypatch, "segfault")
    assert error.signal_number == 11
    line = _line_of("ctypes.string_at(0)")
    assert "Fatal Python error: Segmentation fault" in error.stderr_tail
    assert f'  File "{EXITS_ODDLY / "src" / "plugin.py"}", line {line} in <module>' in (
        error.stderr_tail
    )


@pytest.mark.parametrize(
    ("action", "fatal_error", "signal_number", "innermost"),
    [
        ("segfault", "Segmentation fault", 11, "_read_address_zero"),
        ("abort", "Aborted", 6, "aro_action_abort"),
        ("own-faulthandler", "Segmentation fault", 11, "_read_address_zero"),
    ],
)
async def test_a_crash_in_c_shows_every_threads_python_stack(
    action: str, fatal_error: str, signal_number: int, innermost: str
) -> None:
    """It once said only "killed by signal 11 (SIGSEGV)". A plugin that enables faulthandler
    itself (own-faulthandler) still gets its stack."""
    plugin = PluginProcess(launch_test_plugin("odd-exits"))
    try:
        await plugin.start()
        ok = await plugin.call("echo", '{"n": 1}')
        assert ok.status is ExchangeStatus.OK and not ok.stderr_lines  # calls are as before
        crashed = await plugin.call(action, "{}")
    finally:
        await plugin.stop()
    assert crashed.status is ExchangeStatus.CRASHED
    assert crashed.signal_number == signal_number
    lines = list(crashed.stderr_lines)
    assert f"Fatal Python error: {fatal_error}" in lines
    stack = [line for line in lines if line.startswith('  File "') and "odd-exits" in line]
    assert stack[0].endswith(f" in {innermost}")
    assert stack[-1].endswith(f" in aro_action_{action.replace('-', '_')}")


async def test_the_stack_of_a_segfault_shows_the_other_threads_too() -> None:
    plugin = PluginProcess(launch_test_plugin("odd-exits"))
    try:
        crashed = await plugin.call("segfault", "{}")
    finally:
        await plugin.stop()
    lines = list(crashed.stderr_lines)
    assert any(line.startswith("Current thread 0x") for line in lines)
    other = [line for line in lines if line.startswith("Thread 0x")]
    assert other, lines  # the bystander thread waiting in threading.py
