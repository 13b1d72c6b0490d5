"""A plugin whose actions misbehave in every way aro-tui must survive."""

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any, Dict

print("faulty: printed at import")


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {
        "name": "faulty",
        "version": "1.0.0",
        "actions": [
            "echo",
            "size",
            "chatty",
            "exit",
            "os-exit",
            "sigkill",
            "hang",
            "stubborn",
            "returns-dict",
            "not-json",
            "bad-utf8",
            "error",
            "raises",
            "big",
            "flood",
            "spawn",
            "declared-missing",
            "garbage",
            "pid",
            "spawn-and-hang",
            "crash-if",
            "slow-chatty",
            "stderr-elsewhere",
            "partial-line",
            "pretty",
        ],
    }


def aro_action_echo(input_json: str) -> str:
    """Return the input unchanged."""
    return input_json


def aro_action_pretty(input_json: str) -> str:
    """Return the input indented, one member a line (json.dumps with indent=2)."""
    return json.dumps(json.loads(input_json), indent=2)


def aro_action_size(input_json: str) -> str:
    """Return the length of the input text."""
    return json.dumps({"length": len(input_json)})


def aro_action_chatty(input_json: str) -> str:
    """Print to stdout from Python and from C (fd 1), and to stderr."""
    params = json.loads(input_json)
    tag = params.get("tag", "x")
    print("python print " + tag)
    os.write(1, ("fd1 write " + tag + "\n").encode())
    sys.stderr.write("stderr " + tag + "\n")
    return json.dumps({"tag": tag})


def aro_action_slow_chatty(input_json: str) -> str:
    """Print a line, wait, print another, wait: the host reads the first while the call runs."""
    params = json.loads(input_json)
    tag = params.get("tag", "x")
    print(tag + " first", file=sys.stderr, flush=True)
    time.sleep(float(params.get("seconds", 0.1)))
    print(tag + " second", file=sys.stderr, flush=True)
    time.sleep(float(params.get("seconds", 0.1)))
    return json.dumps({"tag": tag})


def aro_action_partial_line(input_json: str) -> str:
    """Write a progress note without a newline, wait, and return (the host reads it first)."""
    params = json.loads(input_json)
    sys.stderr.write(params.get("tag", "x") + " progress 50%")
    sys.stderr.flush()
    time.sleep(float(params.get("seconds", 0.1)))
    return "{}"


def aro_action_stderr_elsewhere(input_json: str) -> str:
    """Point fd 2 at /dev/null, as a plugin silencing a noisy library might."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return "{}"


def aro_action_exit(input_json: str) -> str:
    """Call sys.exit(3) mid-call."""
    print("about to sys.exit", file=sys.stderr)
    sys.exit(3)


def aro_action_os_exit(input_json: str) -> str:
    """Call os._exit(5) mid-call."""
    sys.stderr.write("about to os._exit\n")
    sys.stderr.flush()
    os._exit(5)


def aro_action_sigkill(input_json: str) -> str:
    """Kill our own process with SIGKILL."""
    sys.stderr.write("about to SIGKILL myself\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    return "{}"


def aro_action_hang(input_json: str) -> str:
    """Sleep for a long time (interruptible)."""
    print("hanging", file=sys.stderr, flush=True)
    time.sleep(float(json.loads(input_json).get("seconds", 3600)))
    return json.dumps({"slept": True})


def aro_action_stubborn(input_json: str) -> str:
    """Sleep and swallow KeyboardInterrupt, like code blocked in C."""
    print("stubborn", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        try:
            time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return "{}"


def aro_action_returns_dict(input_json: str) -> str:
    """Return a dict instead of JSON text."""
    return {"not": "a string"}  # type: ignore[return-value]


def aro_action_not_json(input_json: str) -> str:
    """Return text that is not JSON."""
    return "this is not json"


def aro_action_bad_utf8(input_json: str) -> str:
    """Return a string with a lone surrogate (not encodable as UTF-8)."""
    return '{"text": "\udcff"}'


def aro_action_error(input_json: str) -> str:
    """Return an error object, as the chapter recommends."""
    return json.dumps({"error": "Missing 'text' field"})


def aro_action_raises(input_json: str) -> str:
    """Raise an exception."""
    raise ValueError("bad input value")


def aro_action_big(input_json: str) -> str:
    """Return a JSON string of `bytes` characters (plus quotes)."""
    size = int(json.loads(input_json)["bytes"])
    return json.dumps({"data": "x" * size})


def aro_action_flood(input_json: str) -> str:
    """Write `bytes` bytes of stderr lines during the call."""
    size = int(json.loads(input_json)["bytes"])
    line = "f" * 99 + "\n"
    count = size // len(line)
    chunk = line * 1000
    for _ in range(count // 1000):
        sys.stderr.write(chunk)
    sys.stderr.write("flood done\n")
    return json.dumps({"lines": count})


def aro_action_spawn(input_json: str) -> str:
    """Start a child and a grandchild that calls setsid; return their pids."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    grandchild_launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, subprocess, sys, time\n"
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'],"
            " start_new_session=True)\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(3600)\n",
        ],
        stdout=subprocess.PIPE,
    )
    grandchild_pid = int(grandchild_launcher.stdout.readline())
    return json.dumps({"pids": [child.pid, grandchild_launcher.pid, grandchild_pid]})


def aro_action_spawn_and_hang(input_json: str) -> str:
    """Start a child and a setsid grandchild, print their pids on stderr, then hang."""
    pids = json.loads(aro_action_spawn(input_json))["pids"]
    print("spawned " + " ".join(map(str, pids)), file=sys.stderr, flush=True)
    time.sleep(3600)
    return "{}"


def aro_action_crash_if(input_json: str) -> str:
    """Exit with code 5 when the input says {"crash": true}, else echo the input."""
    if json.loads(input_json).get("crash"):
        sys.stderr.write("crashing on request\n")
        sys.stderr.flush()
        os._exit(5)
    return input_json


def aro_action_garbage(input_json: str) -> str:
    """Write garbage onto the protocol stream itself (the harness's private fd)."""
    harness = sys.modules["aro_tui_harness"]
    os.write(harness._PROTO_FD, b"garbage that is not a frame\n" * 20)
    return "{}"


def aro_action_pid(input_json: str) -> str:
    """Return our pid."""
    return json.dumps({"pid": os.getpid()})


def aro_action_undeclared(input_json: str) -> str:
    """An action the info does not declare."""
    return "{}"


if __name__ == "__main__":
    print("never runs under the harness")
