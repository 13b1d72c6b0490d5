"""``aro-tui call``: output, exit statuses, and no plugin process left after SIGTERM/SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import psutil
import pytest
from plugin_launch import plugin_children

from aro_tui.cli import main

REPO = Path(__file__).resolve().parents[2]
TEST_PLUGINS = REPO / "tests" / "plugins"
FAULTY = str(TEST_PLUGINS / "faulty")


def _gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def test_ok_response_goes_to_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", FAULTY, "chatty", '{"tag": "cli"}']) == 0
    out, err = capfd.readouterr()
    assert out == '{"tag": "cli"}\n'
    assert "python print cli" not in err
    # ...but the user learns it is there, and how to see it.
    # It printed to stdout too, which the harness sends to stderr: said as such.
    assert (
        "the plugin wrote 3 lines to stderr and stdout during the call (--stderr shows them)" in err
    )
    assert main(["call", FAULTY, "slow_chatty", '{"seconds": 0}']) == 0
    assert "the plugin wrote 2 lines to stderr during the call" in capfd.readouterr().err


def test_runtime_notes_go_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", FAULTY, "big", '{"bytes": 100000}']) == 0
    out, err = capfd.readouterr()
    assert len(out) > 100_000
    notes = [line for line in err.splitlines() if line.startswith("aro-tui call: note: ")]
    assert len(notes) == 2  # the faulty plugin prints at import; the answer fills the pipe
    assert "ARO runtime: this call would hang until the 30 s timeout" in notes[0]
    assert "printed 26 B at import" in notes[1]
    text = "plugin-python-text"
    assert main(["call", text, "analyze", '{"text": "a"}']) == 0
    assert "note:" not in capfd.readouterr().err


def test_call_runs_on_asyncio_too(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARO_TUI_LOOP", "asyncio")  # uvloop is the default when installed
    assert main(["call", FAULTY, "chatty", '{"tag": "std"}']) == 0
    assert capfd.readouterr().out == '{"tag": "std"}\n'


def test_stderr_option_shows_plugin_output(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", FAULTY, "chatty", '{"tag": "cli"}', "--stderr"]) == 0
    out, err = capfd.readouterr()
    assert out == '{"tag": "cli"}\n'
    assert "python print cli" in err and "fd1 write cli" in err
    assert "--stderr shows them" not in err


def test_plugin_error_exits_1_with_the_error_response(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "plugin-python-text", "analyze", "{}"]) == 1
    out, err = capfd.readouterr()
    assert out == '{"error": "Missing \'text\' field"}\n'
    assert "plugin_error" in err


def test_crash_and_timeout_exit_3(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", FAULTY, "os-exit"]) == 3
    _, err = capfd.readouterr()
    assert "exited with code 5" in err and "about to os._exit" in err
    assert main(["call", FAULTY, "hang", "--timeout", "0.3"]) == 3
    _, err = capfd.readouterr()
    assert "timeout" in err and "hanging" in err


def test_usage_errors_exit_2(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "no-such-plugin", "x"]) == 2
    assert main(["call", FAULTY, "echo", "{not json"]) == 2
    _, err = capfd.readouterr()
    assert "no-such-plugin" in err and "not valid JSON" in err


def test_input_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    class FakeStdin:
        buffer = __import__("io").BytesIO(b'{"from": "stdin"}\n')

    monkeypatch.setattr(sys, "stdin", FakeStdin)
    assert main(["call", FAULTY, "echo", "-"]) == 0
    assert capfd.readouterr().out == '{"from": "stdin"}\n'


def _start_hanging_call() -> tuple[subprocess.Popen[bytes], list[int]]:
    """A real ``python -m aro_tui call`` blocked in an action; the plugin's pids (harness first)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", "call", FAULTY, "spawn-and-hang", "--stderr"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith(b"spawned "):
            descendants = [int(pid) for pid in line.split()[1:]]
            break
    else:
        raise AssertionError("the call never started")
    (harness,) = plugin_children(process.pid)
    return process, [harness.pid, *descendants]


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_mid_call_leaves_no_plugin_process(number: int) -> None:
    process, plugin_pids = _start_hanging_call()
    process.send_signal(number)
    assert process.wait(timeout=10) == 128 + number
    assert all(_gone(pid) for pid in plugin_pids)


def test_sigkilled_host_takes_the_plugin_harness_with_it() -> None:
    process, plugin_pids = _start_hanging_call()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert _gone(plugin_pids[0])  # PR_SET_PDEATHSIG; the plugin's own children may outlive it
    for pid in plugin_pids[1:]:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


@pytest.mark.parametrize("action", ["", "ec\nho", "ec\rho", "ec\x00ho"])
def test_an_action_name_no_request_can_carry_is_a_usage_error(
    action: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n")
    assert main(["call", FAULTY, action, "{}"]) == 2
    assert main(["batch", FAULTY, action, str(inputs)]) == 2
    _, err = capfd.readouterr()
    assert err.count(f"ACTION {action!r} cannot be sent") == 2
    assert "Traceback" not in err


@pytest.mark.parametrize(("timeout_s", "start_timeout_s"), [(2.0, 30.0), (500.0, 500.0)])
def test_the_per_call_timeout_bounds_the_plugins_start_too(
    timeout_s: float, start_timeout_s: float
) -> None:
    import argparse

    from aro_tui.commands.call import resolve_launch

    args = argparse.Namespace(plugin=FAULTY, plugins_dir=None, python=None, timeout=timeout_s)
    launch = resolve_launch(args)
    assert (launch.default_timeout_s, launch.start_timeout_s) == (timeout_s, start_timeout_s)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon"])
@pytest.mark.parametrize("command", ["call", "replay", "dashboard"])
def test_a_time_limit_must_be_a_positive_number_of_seconds(
    value: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--timeout nan` reached the event loop's timer and died there with a traceback."""
    arguments = {
        "call": ["call", FAULTY, "echo", "{}", "--timeout", value],
        "replay": ["replay", "last", "--timeout", value],
        "dashboard": [FAULTY, "--timeout", value],
    }[command]
    with pytest.raises(SystemExit) as raised:
        main(arguments)
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "argument --timeout: " in err and repr(value) in err


NOOP = str(REPO / "tests" / "plugins" / "noop")
HOSTILE_ERROR = '{"error":"\\u001b]0;pwned\\u0007\\u001b[31mRED\\r\\nfake line"}'


@pytest.mark.parametrize("runtime", [[], ["--runtime"]])
def test_a_plugins_error_text_cannot_drive_the_terminal(
    runtime: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    """The error a plugin returns sets no window title and fakes no line in aro-tui's own
    message; the response on stdout stays the plugin's JSON, as returned."""
    assert main(["call", NOOP, "passthrough", HOSTILE_ERROR, *runtime]) == 1
    out, err = capfd.readouterr()
    assert out == HOSTILE_ERROR + "\n"
    assert not {"\x1b", "\x07", "\r"} & set(err)
    assert "␛]0;pwned␇␛[31mRED␍␊fake line" in err
    assert not any(line.startswith("fake line") for line in err.splitlines())


def test_a_typed_action_name_cannot_drive_the_terminal(capfd: pytest.CaptureFixture[str]) -> None:
    """The plugin echoes an unknown action's name in its error; aro-tui shows it defused."""
    assert main(["call", NOOP, "\x1b[31mred\t"]) == 1
    err = capfd.readouterr().err
    assert "\x1b" not in err
    assert "aro-tui call: plugin_error: Unknown action: ␛[31mred␉" in err


def _plugin_escaping_its_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the text plugin whose ``provides.path`` leaves the plugin folder."""
    plugins = tmp_path / "Plugins"
    shutil.copytree(REPO / "plugins" / "plugin-python-text", plugins / "p07-escape")
    manifest = plugins / "p07-escape" / "plugin.yaml"
    text = manifest.read_text()
    assert "name: plugin-python-text\n" in text and "    path: src/\n" in text
    text = text.replace("name: plugin-python-text", "name: p07-escape")
    manifest.write_text(text.replace("path: src/", "path: ../../etc/"))
    return plugins, manifest


@pytest.mark.parametrize("command", ["call", "batch"])
def test_a_plugin_with_nothing_to_run_shows_its_problems_as_check_does(
    command: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    plugins, manifest = _plugin_escaping_its_folder(tmp_path)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n")
    last = "{}" if command == "call" else str(inputs)
    assert main([command, "--plugins-dir", str(plugins), "p07-escape", "analyze", last]) == 2
    err = capfd.readouterr().err
    assert "Problem(" not in err and "PosixPath" not in err
    assert err.startswith(
        f"aro-tui {command}: error: plugin p07-escape cannot run:\n"
        f"  error [strict, runtime] {manifest}:10:11 provides[0].path\n"
        "      provides.path must stay inside the plugin folder\n"
        "      found:    \"../../etc/\" (a path that leaves the plugin folder through '..')\n"
        "      expected: a folder inside the plugin folder\n"
    )


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda text: text.replace("name: plugin-python-text\n", ""), "name is required"),
        (lambda text: text.replace("version: 1.0.0", "version: [0.1.0"), "YAML syntax error"),
    ],
)
def test_call_refuses_a_plugin_the_dashboard_refuses_to_start(
    edit: Callable[[str], str], said: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With no name, call ran it ("running … anyway", exit 0) while the dashboard refused to
    start it; with a plugin.yaml that does not parse it said "has no Python module to run"."""
    plugin = tmp_path / "p"
    shutil.copytree(REPO / "plugins" / "plugin-python-text", plugin)
    manifest = plugin / "plugin.yaml"
    manifest.write_text(edit(manifest.read_text()))
    assert main(["call", str(plugin), "hash", '{"text": "a"}']) == 2
    out, err = capfd.readouterr()
    assert out == ""
    assert err.startswith("aro-tui call: error: plugin p cannot run:\n")
    assert said in err and "no Python module" not in err


def _run_cli(
    arguments: list[str], *, stdout: int | IO[bytes] = subprocess.PIPE, closing: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -m aro_tui ARGUMENTS`` in a real process, with ``closing`` (``>&-``...)
    closing some of its standard streams as a shell would."""
    command = ["sh", "-c", f'exec "$@" {closing}', "sh", sys.executable, "-m", "aro_tui"]
    return subprocess.run(
        [*command, *arguments], cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_stderr_echo_that_cannot_be_written_ends_with_74_and_the_answer_on_stdout() -> None:
    """`call --stderr 2>/dev/full` hung for good (SIGTERM too): the failed print stopped the
    host reading the plugin's stderr, and the plugin blocked on its full pipe."""
    arguments = ["call", FAULTY, "flood", '{"bytes": 2000000}', "--stderr", "--timeout", "20"]
    command = ["sh", "-c", 'exec "$@" 2>/dev/full', "sh", sys.executable, "-m", "aro_tui"]
    result = subprocess.run(
        [*command, *arguments], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 74
    assert result.stdout == '{"lines": 20000}\n'  # the answer still reached stdout


def test_stderr_echo_into_a_reader_that_went_away_ends_with_141() -> None:
    """`call --stderr 2>&1 | head -1` hung until killed."""
    aro_tui = f"{sys.executable} -m aro_tui"
    script = f"{aro_tui} call {FAULTY} flood '{{\"bytes\": 2000000}}' --stderr 2>&1 | head -1"
    script += "; echo status=${PIPESTATUS[0]}"
    result = subprocess.run(
        ["bash", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "status=141"


OUTPUT_COMMANDS = {
    "list": ["list", "tests/plugins"],
    "list --json": ["list", "tests/plugins", "--json"],
    "check --json": ["check", "tests/plugins", "--json"],
    "sessions --json": ["sessions", "--sessions-dir", "{sessions}", "--json"],
    "replay --json": ["replay", "{session}", "--sessions-dir", "{sessions}", "--json"],
    "call": ["call", NOOP, "echo", '{"n": 1}'],
    "call --runtime": ["call", NOOP, "echo", '{"n": 1}', "--runtime"],
}


@pytest.fixture(scope="module")
def recorded_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from session_recording import TEXT, record_session

    return record_session(tmp_path_factory.mktemp("sessions"), [(TEXT, "analyze", '{"text": "a"}')])


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("name", list(OUTPUT_COMMANDS))
def test_output_that_cannot_be_written_is_one_line_and_exit_74(
    name: str, recorded_session: Path
) -> None:
    """`aro-tui COMMAND > /dev/full` (a full disk): a one-line error, not a traceback. The
    handling is aro-tui's (cli.py), for every headless command."""
    arguments = [
        argument.replace("{session}", str(recorded_session)).replace(
            "{sessions}", str(recorded_session.parent)
        )
        for argument in OUTPUT_COMMANDS[name]
    ]
    with Path("/dev/full").open("wb") as full:
        result = _run_cli(arguments, stdout=full)
    assert (result.returncode, result.stderr) == (
        74,
        f"aro-tui {arguments[0]}: error: cannot write output: No space left on device\n",
    )


@pytest.mark.parametrize("arguments", [["list", "tests/plugins", "--json"], ["call", NOOP, "echo"]])
def test_a_closed_stdout_is_one_line_and_exit_74(arguments: list[str]) -> None:
    result = _run_cli(arguments, closing=">&-")
    assert (result.returncode, result.stderr) == (
        74,
        f"aro-tui {arguments[0]}: error: cannot write output: stdout is closed\n",
    )


@pytest.mark.parametrize("closing", ["<&-", "2>&-"])
def test_a_call_runs_with_stdin_or_stderr_closed(closing: str) -> None:
    """A closed stream's number went to a pipe to the plugin, and libuv aborted (SIGABRT)."""
    result = _run_cli(["call", NOOP, "echo", '{"n": 1}'], closing=closing)
    assert (result.returncode, result.stdout) == (0, '{"n": 1}\n')


@pytest.mark.parametrize(
    ("arguments", "status", "response"),
    [
        (["call", FAULTY, "error"], 1, '{"error": "Missing \'text\' field"}\n'),
        (["call", FAULTY, "echo", '{"n": 1}'], 0, '{"n": 1}\n'),
        (["call", FAULTY, "hang", '{"seconds": 30}', "--timeout", "1"], 3, ""),
        (["call", FAULTY, ""], 2, ""),
        (["call", "--no-such-option"], 2, ""),
    ],
    ids=["plugin error", "ok with a note", "timeout", "usage error", "argparse error"],
)
def test_with_stderr_closed_stdout_holds_only_the_response(
    arguments: list[str], status: int, response: str
) -> None:
    """`aro-tui call ... 2>&-`: Python's sys.stderr is then None, and every diagnostic
    printed "to stderr" (the error, the runtime note, a usage error) came out on stdout after
    the response."""
    result = _run_cli(arguments, closing="2>&-")
    assert (result.returncode, result.stdout) == (status, response)


def test_input_from_a_closed_stdin_is_a_usage_error() -> None:
    result = _run_cli(["call", NOOP, "echo", "-"], closing="<&-")
    assert (result.returncode, result.stderr) == (
        2,
        "aro-tui call: error: - reads INPUT_JSON from stdin, which is closed\n",
    )


def test_a_name_two_plugins_share_is_refused_and_each_runs_by_its_folder(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Of two plugins with one name, call ran the first without a word (later with a note,
    though the dashboard refuses both): by that name it is refused, by its folder it runs."""
    plugins = tmp_path / "Plugins"
    shutil.copytree(TEST_PLUGINS / "noop", plugins / "a-noop")
    shutil.copytree(TEST_PLUGINS / "faulty", plugins / "b-faulty")
    manifest = plugins / "b-faulty" / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("name: faulty", "name: noop"))
    assert main(["call", "--plugins-dir", str(plugins), "noop", "echo", '{"x": 1}']) == 2
    out, err = capfd.readouterr()
    assert out == "" and "2 plugins in " in err and "give the folder of the one to run" in err
    assert main(["call", str(plugins / "a-noop"), "echo", '{"x": 1}']) == 0
    assert capfd.readouterr().out == '{"x": 1}\n'


def test_a_plugins_folder_that_does_not_exist_is_named(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["call", "--plugins-dir", str(missing), "faulty", "echo", "{}"]) == 2
    assert f"no plugin 'faulty': {missing} does not exist" in capfd.readouterr().err


def test_input_that_is_not_utf8_names_the_byte_and_a_bom_is_taken(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """orjson said only "str is not valid UTF-8: surrogates not allowed"; a file saved on
    Windows (a UTF-8 BOM first) was refused."""
    for data, status, expected in (
        (b'{"a": "\xff"}', 2, "INPUT_JSON is not UTF-8: byte 0xff at offset 7"),
        (b'\xef\xbb\xbf{"a": 1}\r\n', 0, ""),
    ):
        process = subprocess.run(
            [sys.executable, "-m", "aro_tui", "call", FAULTY, "echo", "-"],
            input=data,
            capture_output=True,
            cwd=REPO,
            timeout=60,
        )
        assert process.returncode == status, process.stderr
        assert expected.encode() in process.stderr
    assert process.stdout == b'{"a": 1}\n'


def _plugin_folder(parent: Path, name: str, module: str) -> Path:
    """A plugin folder ``parent/name`` whose ``src/plugin.py`` is ``module``."""
    folder = parent / name
    (folder / "src").mkdir(parents=True)
    (folder / "plugin.yaml").write_text(
        f"name: {name}\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n    path: src/\n"
    )
    (folder / "src" / "plugin.py").write_text(module)
    return folder


def test_a_raising_aro_plugin_info_is_said_and_an_unlisted_action_is_named_so(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """aro_plugin_info() raising was never mentioned; the runtime reads the actions from it."""
    folder = _plugin_folder(
        tmp_path,
        "info-raises",
        "def aro_plugin_info():\n    raise RuntimeError('no info today')\n\n"
        "def aro_action_echo(input_json):\n    return input_json\n",
    )
    assert main(["call", str(folder), "echo", '{"a": 1}']) == 0
    out, err = capfd.readouterr()
    assert out == '{"a": 1}\n'
    assert (
        "aro-tui call: note: aro_plugin_info() raised RuntimeError: no info today; the ARO "
        "runtime reads the plugin's actions from aro_plugin_info() and would register none, so "
        "every call would fail there"
    ) in err
    assert main(["call", str(folder), "other", "{}"]) == 1
    out, err = capfd.readouterr()
    assert out == '{"error":"Unknown action: other"}\n'
    detail = "aro_plugin_info() does not list it, and the module defines no aro_action_other()"
    assert f"({detail})" in err


def test_runtime_timeout_without_runtime_is_a_usage_error(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """It was accepted and unused: the call ran under --timeout with no word."""
    assert main(["call", FAULTY, "echo", "{}", "--runtime-timeout", "2"]) == 2
    assert "--runtime-timeout applies with --runtime only" in capfd.readouterr().err


HOSTILE_PLUGIN = str(TEST_PLUGINS / "ui-hostile")
RAW_ESCAPES = ("\x1b]52;c;cHduZWQ=\x07", "\x1b[2J")
"""What ui-hostile writes: an OSC 52 clipboard write and a clear-screen."""
SHOWN_ESCAPES = ("␛]52;c;cHduZWQ=␇", "␛[2J")


def _run_on_a_terminal(arguments: list[str]) -> tuple[int, str]:
    """``python -m aro_tui ARGUMENTS`` with stdout and stderr on a pseudo-terminal: its
    status and everything the terminal received."""
    import pty

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", *arguments],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    received = bytearray()
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every end of the follower is closed
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(leader)
    return process.wait(timeout=30), received.decode("utf-8", "replace")


def _runtime_text_plugin(tmp_path: Path) -> Path:
    """A plugin whose action prints hostile text to stdout (the runtime then takes stdout as
    a plain-text result) and to stderr."""
    from tests.functional.helpers import write_plugin_folder

    source = (
        "import sys\n"
        "HOSTILE = 'text \\x1b]52;c;cHduZWQ=\\x07 \\x1b[2J'\n"
        "def aro_plugin_info():\n"
        "    return {'name': 'prints', 'actions': ['shout']}\n"
        "def aro_action_shout(input_json):\n"
        "    print(HOSTILE)\n"
        "    sys.stderr.write('err ' + HOSTILE + '\\n')\n"
        "    return '{}'\n"
    )
    return write_plugin_folder(tmp_path / "prints", "prints", source)


@pytest.mark.parametrize("runtime", [False, True], ids=["host", "runtime"])
def test_plugin_text_reaches_a_terminal_with_its_escapes_made_visible(
    runtime: bool, tmp_path: Path
) -> None:
    """`call --stderr` copied a plugin's stderr to the terminal raw (an OSC 52 clipboard
    write, a clear-screen), and `call --runtime` its plain-text result too."""
    if runtime:
        plugin = str(_runtime_text_plugin(tmp_path))
        arguments = ["call", plugin, "shout", "--stderr", "--runtime", "--python", sys.executable]
    else:
        arguments = ["call", HOSTILE_PLUGIN, "markup", "--stderr"]
    status, shown = _run_on_a_terminal(arguments)
    assert status == 0, shown
    assert not any(raw in shown for raw in RAW_ESCAPES)
    assert all(escape in shown for escape in SHOWN_ESCAPES)
    if runtime:  # the result on stdout and the copy of stderr, both
        assert "text ␛]52" in shown and "err text ␛]52" in shown
        assert "plain-text result" in shown


@pytest.mark.parametrize("runtime", [False, True], ids=["host", "runtime"])
def test_plugin_text_reaches_a_pipe_byte_for_byte(runtime: bool, tmp_path: Path) -> None:
    """Scripts read what the plugin wrote, exactly."""
    if runtime:
        plugin = str(_runtime_text_plugin(tmp_path))
        arguments = ["call", plugin, "shout", "--stderr", "--runtime", "--python", sys.executable]
    else:
        arguments = ["call", HOSTILE_PLUGIN, "markup", "--stderr"]
    result = _run_cli(arguments)
    assert result.returncode == 0, result.stderr
    stderr_copy = "err text " if runtime else "stderr says [bold red]not bold[/] "
    assert stderr_copy + RAW_ESCAPES[0] + " " + RAW_ESCAPES[1] in result.stderr
    if runtime:
        assert result.stdout == "text " + RAW_ESCAPES[0] + " " + RAW_ESCAPES[1] + "\n{}\n"


def test_the_help_says_stderr_is_shown_defused_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["call", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "on a terminal with its control characters made visible" in help_text
    assert "to a pipe or a file byte for byte" in help_text


@pytest.mark.parametrize("number", ["-1", "-1.5", "-1.5e3", "-2E-7", "-0.5e+2", "-0"])
def test_a_negative_number_is_the_input_not_an_option(
    number: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """`call noop echo -1.5e3` read the input as an unknown option: the top-level usage, rc 2."""
    assert main(["call", NOOP, "echo", number]) == 0
    out, err = capfd.readouterr()
    assert json.loads(out) == json.loads(number)
    assert "unrecognized arguments" not in err


@pytest.mark.parametrize("text", ['{"a": 1e999}', '"\\ud800"', "-1e400"])
def test_json_that_orjson_refuses_but_a_plugin_reads_is_sent(
    text: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The editor sent these (Python's json reads 1e999 as inf); `call` refused them. The
    answer is judged apart: a lone surrogate is no UTF-8 text, so echoed back it is a
    protocol error, not a usage error."""
    surrogate = "ud800" in text
    assert main(["call", NOOP, "passthrough", text]) == (1 if surrogate else 0)
    out, err = capfd.readouterr()
    assert "INPUT_JSON" not in err
    assert out == ("" if surrogate else text + "\n")


def test_a_negative_number_after_double_dash_and_an_unknown_option_still_work(
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert main(["call", NOOP, "echo", "--", "-1.5e3"]) == 0
    assert json.loads(capfd.readouterr().out) == -1500.0
    with pytest.raises(SystemExit) as exit_info:
        main(["call", NOOP, "echo", "-x"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: -x" in capfd.readouterr().err


@pytest.mark.parametrize("command", [["call", NOOP, "echo"], ["list"], ["replay", "last"]])
def test_an_unknown_option_shows_the_commands_usage(
    command: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    """It showed the top-level `usage: aro-tui [-h] COMMAND ...`, not the command's options."""
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--bogus"])
    assert exit_info.value.code == 2
    err = capfd.readouterr().err
    assert f"usage: aro-tui {command[0]} [-h]" in err
    assert f"aro-tui {command[0]}: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("runtime", [[], ["--runtime", "--python", sys.executable]])
def test_an_empty_error_text_is_said_so(
    runtime: list[str], capfd: pytest.CaptureFixture[str]
) -> None:
    """`{"error": ""}` printed "aro-tui call: plugin_error: " with nothing after it."""
    assert main(["call", NOOP, "passthrough", '{"error": ""}', *runtime]) == 1
    out, err = capfd.readouterr()
    assert out == '{"error": ""}\n'
    assert "(the plugin's error text is empty)" in err
    assert not any(line.rstrip().endswith(":") for line in err.splitlines())


def test_an_action_the_plugin_lacks_lists_its_actions_and_the_close_one(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """It is still run (what a plugin does with an unknown action is worth seeing)."""
    assert main(["call", "plugin-python-text", "hsh", '{"text": "hi"}']) == 1
    out, err = capfd.readouterr()
    assert out == '{"error":"Unknown action: hsh"}\n'
    assert err.rstrip().endswith(
        "; its actions: analyze, diff, extract-emails, extract-urls, hash; did you mean hash?"
    )
    assert main(["call", NOOP, "nosuchaction"]) == 1
    assert capfd.readouterr().err.rstrip().endswith("; its actions: echo, noop, passthrough")
    # An action that exists says nothing of the kind, even when it answers an error.
    assert main(["call", NOOP, "passthrough", '{"error": "no"}']) == 1
    assert "its actions" not in capfd.readouterr().err


def test_a_qualifier_is_called_by_name_and_not_with_runtime(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = _plugin_folder(
        tmp_path,
        "quals",
        "import json\n\n"
        "def aro_plugin_info():\n"
        "    return {'actions': [], 'qualifiers': ['reverse']}\n\n"
        "def aro_plugin_qualifier(name, input_json):\n"
        "    value = json.loads(input_json)['value']\n"
        "    if name == 'reverse':\n"
        "        return json.dumps({'result': value[::-1]})\n"
        "    return json.dumps({'error': 'no qualifier ' + name})\n",
    )
    assert main(["call", str(folder), "qualifier:reverse", '{"value": "abc"}']) == 0
    assert capfd.readouterr().out == '{"result": "cba"}\n'
    # A qualifier's own error is not taken for a missing action.
    folder_hint = "its actions: qualifier:reverse"
    assert main(["call", str(folder), "qualifier:reverse", '{"value": 1}']) == 1
    assert folder_hint not in capfd.readouterr().err
    assert main(["call", str(folder), "qualifier:revers", '{"value": "abc"}']) == 1
    assert "did you mean qualifier:reverse?" in capfd.readouterr().err
    assert main(["call", "--runtime", str(folder), "qualifier:reverse", "{}"]) == 2
    assert "--runtime runs actions only" in capfd.readouterr().err


def test_an_unknown_actions_hint_names_twenty_actions_and_counts_the_rest() -> None:
    """A plugin listing 20,000 qualifiers made the unknown-action hint one 349 KB line."""
    from aro_tui.commands.call import actions_text

    names = [f"qualifier:q{i}" for i in range(20_000)]
    text = actions_text(names)
    assert text.startswith("its actions: qualifier:q0, qualifier:q1,")
    assert text.endswith("qualifier:q19 and 19,980 more")


@pytest.mark.parametrize(
    "arguments",
    [["call", FAULTY, "hang", "{}", "--runtime"], ["bench", "--quick"]],
    ids=["call --runtime", "bench"],
)
def test_ctrl_c_ends_a_command_quietly_with_130(arguments: list[str]) -> None:
    """ctrl+c in `call --runtime` and in `bench` printed a whole Python traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", *arguments],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(3)  # well into the call, or the benchmark's first round
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert "Traceback" not in err
