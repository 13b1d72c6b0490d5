"""A plugin that breaks what the harness relies on: the standard streams, str(), exceptions."""

import json
import os
import sys
import threading
import time
from typing import Any, Dict

LOADED_AT = time.time()
"""Stands for a model loaded at import: it changes only if the process is started again."""

_calls = 0


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {
        "name": "reckless",
        "version": "1.0.0",
        "actions": [
            "loaded",
            "print",
            "stdout-none",
            "stderr-none",
            "stdout-closed",
            "stderr-closed",
            "fd1-closed-pending",
            "fd1-closed",
            "raises-bad-str",
            "answer-bad-str",
            "raises-generator-exit",
            "raises-own-base",
            "returns-bad-repr",
            "background-print",
            "huge-error",
            "import-slowly",
            "sleep",
            "cwd",
        ],
    }


def aro_action_loaded(input_json: str) -> str:
    """Return the pid, when the module was imported, and how many calls it has answered."""
    global _calls
    _calls += 1
    return json.dumps({"pid": os.getpid(), "loaded_at": LOADED_AT, "calls": _calls})


def aro_action_print(input_json: str) -> str:
    """Print the input's tag on stdout."""
    tag = json.loads(input_json).get("tag", "x")
    print("printed " + tag)
    return json.dumps({"tag": tag})


def aro_action_stdout_none(input_json: str) -> str:
    """Set sys.stdout to None, as some code silencing output does."""
    sys.stdout = None  # type: ignore[assignment]
    return '{"ok": 1}'


def aro_action_stderr_none(input_json: str) -> str:
    """Set sys.stderr to None."""
    sys.stderr = None  # type: ignore[assignment]
    return '{"ok": 1}'


def aro_action_stdout_closed(input_json: str) -> str:
    """Close sys.stdout."""
    sys.stdout.close()
    return '{"ok": 1}'


def aro_action_stderr_closed(input_json: str) -> str:
    """Close sys.stderr."""
    sys.stderr.close()
    return '{"ok": 1}'


def aro_action_fd1_closed_pending(input_json: str) -> str:
    """Print without a newline, then close fd 1 under the unflushed text."""
    print("pending", end="")
    os.close(1)
    return '{"ok": 1}'


def aro_action_fd1_closed(input_json: str) -> str:
    """Close fd 1 with nothing waiting to be written."""
    sys.stdout.flush()
    os.close(1)
    return '{"ok": 1}'


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class StrThatFails(str):
    def __str__(self) -> str:
        raise RuntimeError("no str")


class OwnBase(BaseException):
    pass


class ReprThatFails:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def aro_action_raises_bad_str(input_json: str) -> str:
    """Raise an exception whose str() raises."""
    raise BadStr("hidden")


def aro_action_answer_bad_str(input_json: str) -> str:
    """Return a str subclass whose str() raises."""
    return StrThatFails('{"a": 1}')


def aro_action_raises_generator_exit(input_json: str) -> str:
    """Raise GeneratorExit (a BaseException, not an Exception)."""
    raise GeneratorExit("bye")


def aro_action_raises_own_base(input_json: str) -> str:
    """Raise the plugin's own BaseException subclass."""
    raise OwnBase("own base")


def aro_action_returns_bad_repr(input_json: str) -> str:
    """Return a non-string whose repr() raises."""
    return ReprThatFails()  # type: ignore[return-value]


def aro_action_background_print(input_json: str) -> str:
    """Start a thread that prints `bytes` bytes on stdout after `seconds`, then a last line."""
    params = json.loads(input_json)
    size = int(params.get("bytes", 2100))
    delay_s = float(params.get("seconds", 0.2))

    def chatter() -> None:
        time.sleep(delay_s)
        line = "b" * 99 + "\n"
        for _ in range(size // len(line)):
            print(line, end="")
        print("background done", flush=True)

    threading.Thread(target=chatter, daemon=True).start()
    return "{}"


def aro_action_huge_error(input_json: str) -> str:
    """Raise an exception whose message is `lines` lines of 100 characters."""
    lines = int(json.loads(input_json).get("lines", 50000))
    raise ValueError(("E" * 99 + "\n") * lines)


def aro_action_import_slowly(input_json: str) -> str:
    """Import a module that sleeps 30 s at import (a first call importing torch)."""
    import slow_import  # noqa: F401

    return "{}"


def aro_action_sleep(input_json: str) -> str:
    """Sleep `seconds` (after printing that it started)."""
    sys.stderr.write("sleeping\n")
    sys.stderr.flush()
    time.sleep(float(json.loads(input_json).get("seconds", 30)))
    return "{}"


def aro_action_cwd(input_json: str) -> str:
    """The process's working directory."""
    return json.dumps({"cwd": os.getcwd()})
