"""A plugin whose actions start threads and child processes and return while they run.

Under the ARO runtime (one ``python3 -c`` per call) such a call lasts until they end, as
Python waits for non-daemon threads and multiprocessing children at exit.
"""

import json
import multiprocessing
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

_release = threading.Event()
"""Set by the ``release`` action: every waiting thread ends."""
_children = []
_executor = ThreadPoolExecutor(max_workers=2)
"""Kept for the module's life, as a plugin keeps one for background work; its worker
threads start at the first submit and stay, idle, after it."""


def _wait(tag: str, seconds: float) -> None:
    _release.wait(seconds)
    print("worker %s done" % tag)


def _sleep(tag: str, seconds: float) -> None:
    time.sleep(seconds)
    print("worker %s done" % tag, file=sys.stderr)


if multiprocessing.current_process().name == "MainProcess":  # not again in a spawned child
    threading.Thread(target=_wait, args=("import", 30.0), name="started-at-import").start()


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {
        "name": "leaves-workers",
        "version": "1.0.0",
        "actions": [
            "echo",
            "thread",
            "daemon-thread",
            "joined-thread",
            "process",
            "daemon-process",
            "pool",
            "executor",
            "executor-busy",
            "release",
        ],
    }


def aro_action_echo(input_json: str) -> str:
    """Return the input unchanged."""
    return input_json


def aro_action_thread(input_json: str) -> str:
    """Start a non-daemon thread that waits for `release` (or `seconds`), then prints."""
    params = json.loads(input_json)
    thread = threading.Thread(
        target=_wait, args=("thread", params.get("seconds", 30.0)), name=params.get("name")
    )
    thread.start()
    return json.dumps({"started": thread.name})


def aro_action_daemon_thread(input_json: str) -> str:
    """Start a daemon thread (Python does not wait for it at exit)."""
    thread = threading.Thread(target=_wait, args=("daemon", 30.0), daemon=True)
    thread.start()
    return json.dumps({"started": thread.name})


def aro_action_joined_thread(input_json: str) -> str:
    """Start a thread and wait for it before returning."""
    thread = threading.Thread(target=_sleep, args=("joined", 0.05))
    thread.start()
    thread.join()
    return json.dumps({"joined": thread.name})


def _start_process(input_json: str, daemon: bool) -> str:
    params = json.loads(input_json)
    context = multiprocessing.get_context(params.get("method", "fork"))
    child = context.Process(
        target=_sleep, args=("process", params.get("seconds", 1.0)), daemon=daemon
    )
    child.start()
    _children.append(child)
    return json.dumps({"started": child.name, "pid": child.pid})


def aro_action_process(input_json: str) -> str:
    """Start a multiprocessing child (`method`: fork or spawn) that sleeps `seconds`."""
    return _start_process(input_json, daemon=False)


def aro_action_daemon_process(input_json: str) -> str:
    """Start a daemonic multiprocessing child (terminated, not waited for, at exit)."""
    return _start_process(input_json, daemon=True)


def aro_action_pool(input_json: str) -> str:
    """Map over a process pool that is closed before the action returns."""
    with multiprocessing.get_context("fork").Pool(2) as pool:
        squares = pool.map(abs, [-1, -2, -3])
    return json.dumps({"pool": squares})


def aro_action_executor(input_json: str) -> str:
    """Run work on the module's thread pool and wait for it: its workers stay, idle."""
    return json.dumps({"squares": list(_executor.map(abs, [-1, -2, -3]))})


def aro_action_executor_busy(input_json: str) -> str:
    """Hand the module's thread pool work that waits for `release`, and return at once."""
    _executor.submit(_wait, "executor", 30.0)
    return json.dumps({"submitted": True})


def aro_action_release(input_json: str) -> str:
    """End every waiting thread and wait for the children."""
    _release.set()
    for child in _children:
        child.join()
    return json.dumps({"released": True})
