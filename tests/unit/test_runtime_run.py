"""``call --runtime``: real one-process-per-call runs, classified as the ARO runtime would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import psutil
import pytest

from aro_tui.cli import main
from aro_tui.core.runtime_run import driver_script, run_like_runtime

REPO = Path(__file__).resolve().parents[2]
FAULTY_MODULE = REPO / "tests" / "plugins" / "faulty" / "src" / "plugin.py"
TEXT_MODULE = REPO / "plugins" / "plugin-python-text" / "src" / "plugin.py"
PYTHON = sys.executable


def test_a_plain_call_gets_the_same_json_result() -> None:
    outcome = run_like_runtime(PYTHON, TEXT_MODULE, "analyze", b'{"text": "a b. c"}')
    assert outcome.kind == "result" and outcome.exit_code == 0
    assert b'"words": 3' in outcome.answer


def test_printing_turns_the_answer_into_plain_text() -> None:
    # Under aro-tui's host these prints are stderr lines; under the runtime they are stdout.
    outcome = run_like_runtime(PYTHON, FAULTY_MODULE, "chatty", b'{"tag": "z"}')
    assert outcome.kind == "text"
    assert outcome.answer.splitlines() == [
        b"faulty: printed at import",
        b"python print z",
        b"fd1 write z",
        b'{"tag": "z"}',
    ]


def test_an_exception_is_an_error_object_and_sys_exit_makes_stderr_the_error() -> None:
    text_error = run_like_runtime(PYTHON, TEXT_MODULE, "analyze", b"{}")
    assert text_error.kind == "error" and text_error.error == "Missing 'text' field"
    exited = run_like_runtime(PYTHON, FAULTY_MODULE, "exit", b"{}")
    assert exited.kind == "error" and exited.exit_code == 3
    assert exited.error == "about to sys.exit"


@pytest.mark.parametrize(
    ("action", "ended"),
    [
        ("os_exit", "the process exited with code 5"),
        ("sigkill", "the process was killed by SIGKILL"),
    ],
)
def test_a_crash_under_the_runtime_exits_3_and_names_the_exit(
    action: str, ended: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """The runtime reports a crash's stderr as its error; the exit status says crash, as a
    call without --runtime does (it said 1, a plugin error, and never named the exit)."""
    plugin = str(FAULTY_MODULE.parents[1])
    assert main(["call", plugin, action, "{}", "--runtime", "--python", PYTHON]) == 3
    verdict = capfd.readouterr().err
    assert "the ARO runtime would report an error" in verdict
    assert ended in verdict


def test_output_beyond_the_pipe_blocks_until_the_timeout_and_nothing_survives() -> None:
    started_s = time.monotonic()
    outcome = run_like_runtime(PYTHON, FAULTY_MODULE, "big", b'{"bytes": 100000}', timeout_s=1.0)
    assert outcome.kind == "timeout" and "no exit within 1 s" in (outcome.error or "")
    # Why it hung, not only that it did.
    assert "blocked writing: its stdout (64 KiB) pipe was full" in (outcome.error or "")
    assert 1.0 <= time.monotonic() - started_s < 5.0
    hung = run_like_runtime(PYTHON, FAULTY_MODULE, "hang", b'{"seconds": 30}', timeout_s=0.5)
    assert hung.kind == "timeout" and "blocked writing" not in (hung.error or "")
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if "aro_action_big" in " ".join(p.info["cmdline"] or [])
    ]


def test_an_input_over_the_argument_limit_cannot_start() -> None:
    outcome = run_like_runtime(PYTHON, FAULTY_MODULE, "size", b'{"d": "%s"}' % (b"x" * 100_000))
    assert outcome.kind == "not_started" and "over Linux's 128 KiB" in (outcome.error or "")
    fits = run_like_runtime(PYTHON, FAULTY_MODULE, "size", b'{"d": "%s"}' % (b"x" * 90_000))
    assert fits.kind == "text"  # it ran (the faulty plugin's import print makes it text)


def test_the_driver_uses_the_runtimes_naming_rule() -> None:
    script = driver_script(Path("/p/it's"), "plugin", "ExtractURLs", b"{}")
    assert "from plugin import aro_action_extract_u_r_ls" in script
    assert "sys.path.insert(0, '/p/it\\'s')" in script


def test_cli_flag(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["call", "--runtime", "plugin-python-text", "hash", '{"text": "x"}']) == 0
    out, err = capfd.readouterr()
    assert '"hash"' in out and "the ARO runtime would get this JSON result" in err
    faulty = str(FAULTY_MODULE.parents[1])
    assert (
        main(["call", "--runtime", "--runtime-timeout", "1", faulty, "big", '{"bytes": 100000}'])
        == 3
    )
    out, err = capfd.readouterr()
    assert out == "" and "the ARO runtime would time out" in err


def test_cli_names_the_interpreter_when_it_is_not_the_one_aro_tui_uses(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # The runtime takes python3 from PATH, never the plugin's .venv: say which ran.
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{path}"  # aro-tui's own bin folder
    try:
        assert main(["call", "--runtime", "plugin-python-text", "hash", '{"text": "x"}']) == 0
        assert "note:" not in capfd.readouterr().err  # the same interpreter: nothing to say
        other = Path(sys.base_prefix) / "bin" / "python3"
        assert main(["call", "--runtime", "--python", str(other), "plugin-python-text", "hash",
                     '{"text": "x"}']) == 0  # fmt: skip
        assert "note:" not in capfd.readouterr().err  # chosen explicitly
    finally:
        os.environ["PATH"] = path
    os.environ["PATH"] = f"{Path(sys.base_prefix) / 'bin'}{os.pathsep}{path}"
    try:
        assert main(["call", "--runtime", "plugin-python-text", "hash", '{"text": "x"}']) == 0
        err = capfd.readouterr().err
        assert "is the runtime's choice (python3 on PATH); aro-tui runs this plugin with" in err
    finally:
        os.environ["PATH"] = path


def _driver_processes(function: str) -> list[psutil.Process]:
    """Live processes whose command line names ``function`` (the runtime driver's import)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if function in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(process)
    return found


def test_children_holding_the_output_open_are_reported_and_killed() -> None:
    # The runtime reads stdout to end of file: a child still holding it would block it.
    outcome = run_like_runtime(PYTHON, FAULTY_MODULE, "spawn", b"{}")
    assert outcome.kind == "timeout" and "kept its output open" in (outcome.error or "")
    pids = orjson.loads(outcome.answer.splitlines()[-1])["pids"]
    deadline_s = time.monotonic() + 5
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids):
        assert time.monotonic() < deadline_s, "a spawned process survived (one called setsid)"
        time.sleep(0.05)


def test_sigterm_to_the_command_leaves_no_process() -> None:
    command = [sys.executable, "-m", "aro_tui", "call", "--runtime"]
    faulty = str(FAULTY_MODULE.parents[1])
    cli = subprocess.Popen([*command, faulty, "hang", '{"seconds": 60}'], cwd=REPO)
    deadline_s = time.monotonic() + 10
    while not _driver_processes("aro_action_hang"):
        assert time.monotonic() < deadline_s, "the runtime-mode process never started"
        time.sleep(0.05)
    cli.send_signal(signal.SIGTERM)
    assert cli.wait(timeout=10) == 128 + signal.SIGTERM
    assert _driver_processes("aro_action_hang") == []


def test_a_cancelled_call_ends_at_once_and_leaves_no_process() -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started_s = time.monotonic()
    outcome = run_like_runtime(
        PYTHON, FAULTY_MODULE, "hang", b'{"seconds": 60}', timeout_s=30.0, cancel=cancel
    )
    assert outcome.kind == "cancelled" and not outcome.got_answer
    assert time.monotonic() - started_s < 5.0
    assert outcome.verdict().startswith("cancelled after ")
    assert _driver_processes("aro_action_hang") == []


def test_a_call_that_ends_is_not_cancelled_by_an_unset_event() -> None:
    outcome = run_like_runtime(
        PYTHON, TEXT_MODULE, "analyze", b'{"text": "a b"}', cancel=threading.Event()
    )
    assert outcome.kind == "result" and b'"words": 2' in outcome.answer
