"""Real misbehaving plugins: crashes, hangs, cancellation, bad answers, stray processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from plugin_launch import TEST_PLUGINS, launch_test_plugin

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginLaunch, PluginProcess, PluginStartError, PluginState


def _launch(name: str = "faulty", **overrides: object) -> PluginLaunch:
    return launch_test_plugin(name, **{"cancel_grace_s": 5, **overrides})


def _wait_gone(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    """Pids still alive (zombies count as gone) after waiting up to ``timeout_s``."""
    deadline_s = time.monotonic() + timeout_s
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline_s:
            return alive
        time.sleep(0.02)


@pytest.fixture
async def faulty() -> AsyncIterator[PluginProcess]:
    plugin = PluginProcess(_launch())
    await plugin.start()
    yield plugin
    await plugin.stop()


async def test_import_error_is_reported_with_traceback_and_exit_code() -> None:
    plugin = PluginProcess(_launch("import-fails"))
    with pytest.raises(PluginStartError) as raised:
        await plugin.start()
    assert raised.value.exit_code == 3
    assert raised.value.traceback and "a_module_that_does_not_exist" in raised.value.traceback
    assert "loading import-fails" in raised.value.stderr_tail
    # ARO would not crash: it swallows the ImportError and loads the plugin with no actions.
    assert "load with no actions" in str(raised.value)
    assert plugin.state is PluginState.CRASHED
    exchange = await plugin.call("anything", "{}")
    assert exchange.status is ExchangeStatus.CRASHED
    assert exchange.traceback and "ModuleNotFoundError" in exchange.traceback


def _hanging_import(tmp_path: Path) -> PluginLaunch:
    module = tmp_path / "plugin.py"
    module.write_text(
        'import sys, time\nprint("loading a model", file=sys.stderr, flush=True)\ntime.sleep(600)\n'
    )
    return PluginLaunch("hangs", module, Path(sys.executable), start_timeout_s=0.5)


async def test_interpreters_that_exit_at_once_fail_their_starts() -> None:
    """uvloop can report the exit before ``subprocess_exec`` returns (reliably so with
    several starts at once); the host then failed an assertion in its exit callback and
    the start waited forever."""
    plugins = [PluginProcess(_launch("noop", interpreter=Path("/bin/true"))) for _ in range(10)]
    starts = [asyncio.wait_for(plugin.start(), 10) for plugin in plugins]
    results = await asyncio.gather(*starts, return_exceptions=True)
    assert all(isinstance(result, PluginStartError) for result in results), results
    assert {str(result) for result in results} == {
        "plugin noop exited during start (exited with code 0)"
    }
    assert {plugin.state for plugin in plugins} == {PluginState.CRASHED}


async def test_a_start_that_never_finishes_is_given_up_on_cleanly(tmp_path: Path) -> None:
    """An import that hangs: a clear error with the stderr so far, and no process left."""
    plugin = PluginProcess(_hanging_import(tmp_path))
    with pytest.raises(PluginStartError, match=r"was not ready within 0\.5 s") as raised:
        await plugin.start()
    assert "loading a model" in raised.value.stderr_tail
    assert "(still importing the module)" in str(raised.value) and raised.value.timed_out
    assert plugin.pid is not None and _wait_gone([plugin.pid]) == []
    exchange = await plugin.call("anything", "{}")  # a call that starts it: timed out too
    assert exchange.status is ExchangeStatus.TIMEOUT


async def test_a_start_hanging_in_aro_plugin_info_says_so(tmp_path: Path) -> None:
    """It was reported as a crash, with nothing to say the import had finished."""
    module = tmp_path / "plugin.py"
    module.write_text("import time\n\ndef aro_plugin_info():\n    time.sleep(600)\n    return {}\n")
    plugin = PluginProcess(
        PluginLaunch("slow-info", module, Path(sys.executable), start_timeout_s=1)
    )
    with pytest.raises(PluginStartError, match=r"still in aro_plugin_info\(\)") as raised:
        await plugin.start()
    assert raised.value.timed_out


async def test_stopping_a_plugin_that_is_still_importing_kills_it_at_once(
    tmp_path: Path,
) -> None:
    """Its start used to hold the stop until the import finished or timed out (minutes)."""
    plugin = PluginProcess(replace(_hanging_import(tmp_path), start_timeout_s=120))
    starting = asyncio.create_task(plugin.start())
    while "loading a model" not in plugin.recent_stderr:
        await asyncio.sleep(0.01)
    began_s = time.monotonic()
    await asyncio.wait_for(plugin.stop(), 10)
    assert time.monotonic() - began_s < 5
    with pytest.raises(PluginStartError, match="was stopped while starting") as raised:
        await starting
    assert raised.value.stopped and "loading a model" in raised.value.stderr_tail
    assert plugin.state is PluginState.STOPPED
    assert plugin.pid is not None and _wait_gone([plugin.pid]) == []


ABANDONED_START = """
import asyncio, sys
from pathlib import Path
from aro_tui.core.host.process import PluginLaunch, PluginProcess

async def main():
    plugin = PluginProcess(PluginLaunch("hangs", Path(sys.argv[1]), Path(sys.executable)))
    starting = asyncio.create_task(plugin.start())
    while plugin.pid is None:
        await asyncio.sleep(0.01)
    starting.cancel()  # what SIGTERM does to `aro-tui call` while the plugin imports
    try:
        await starting
    except asyncio.CancelledError:
        pass
    await plugin.stop()

asyncio.run(main())
"""


def test_a_start_abandoned_by_its_caller_prints_nothing_on_the_way_out(tmp_path: Path) -> None:
    """It once printed "Future exception was never retrieved ... PluginStartError('exited')"
    as the command exited."""
    launch = _hanging_import(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", ABANDONED_START, str(launch.module_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("action", "exit_code", "signal_number", "last_line"),
    [
        ("exit", 3, None, "about to sys.exit"),
        ("os-exit", 5, None, "about to os._exit"),
        ("sigkill", None, signal.SIGKILL, "about to SIGKILL myself"),
    ],
)
async def test_death_mid_call_fails_in_flight_calls_then_restarts(
    faulty: PluginProcess,
    action: str,
    exit_code: int | None,
    signal_number: int | None,
    last_line: str,
) -> None:
    old_pid = faulty.pid
    dying = faulty.submit(action, "{}")
    queued = faulty.submit("echo", "{}")
    exchange, behind = await asyncio.gather(dying, queued)
    for failed in (exchange, behind):
        assert failed.status is ExchangeStatus.CRASHED
        assert failed.exit_code == exit_code
        assert failed.signal_number == signal_number
    assert list(exchange.stderr_lines)[-1] == last_line
    assert exchange.error is not None and (
        str(exit_code) in exchange.error or "SIGKILL" in exchange.error
    )
    assert exchange.error.endswith("during the call")
    # The call queued behind it never ran, and says so (it once read "during the call").
    # Named by its action: the host's request id ("during exchange 4") is numbered nowhere a
    # user looks, and pointed at another row of the dashboard's log.
    assert behind.error == f"not run: {exchange.error[: -len('the call')]}the {action} call " + (
        "it was queued behind"
    )
    assert behind.duration_s == 0 and behind.never_ran and not exchange.never_ran
    # It printed nothing: the crash's last lines are the call's that crashed, not its own.
    assert not behind.stderr_lines and exchange.stderr_lines
    assert faulty.state is PluginState.CRASHED
    again = await faulty.call("echo", '{"back": true}')
    assert again.status is ExchangeStatus.OK and faulty.pid != old_pid


async def test_hung_call_times_out_kills_the_tree_and_restarts_on_next_call(
    faulty: PluginProcess,
) -> None:
    old_pid = faulty.pid
    assert old_pid is not None
    hung = faulty.submit("hang", "{}", timeout_s=0.3)
    behind = faulty.submit("echo", "{}")
    exchange = await hung
    assert exchange.status is ExchangeStatus.TIMEOUT
    assert exchange.error is not None and "0.3 s" in exchange.error
    assert list(exchange.stderr_lines) == ["hanging"]
    queued = await behind
    # aro-tui ended it, the plugin did not crash: it read "crashed" under status:crash.
    assert queued.status is ExchangeStatus.CANCELLED
    assert queued.error is not None
    assert queued.error.startswith(f"not run: killed after a {exchange.action} call timed out (")
    assert queued.never_ran and not exchange.never_ran
    # It never ran: no service time (not "since the machine booted"), but it waited.
    assert queued.duration_s == 0 and queued.latency_s is not None and queued.latency_s > 0.25
    assert _wait_gone([old_pid]) == []
    again = await faulty.call("echo", "{}")
    assert again.status is ExchangeStatus.OK and faulty.pid != old_pid


async def test_cancel_interrupts_the_action_and_keeps_the_process(faulty: PluginProcess) -> None:
    old_pid = faulty.pid
    pending = faulty.submit("hang", "{}")
    exchange_id = faulty.history[-1].id + 1 if faulty.history else 1
    while not any("hanging" in line for line in faulty.recent_stderr):
        await asyncio.sleep(0.01)  # the action has started
    assert faulty.cancel(exchange_id)
    exchange = await pending
    assert exchange.status is ExchangeStatus.CANCELLED
    assert faulty.pid == old_pid
    assert faulty.cancel(exchange_id) is False
    after = await faulty.call("echo", '{"same": "process"}')
    assert after.status is ExchangeStatus.OK and faulty.pid == old_pid


async def test_cancel_of_a_queued_call_skips_it(faulty: PluginProcess) -> None:
    running = faulty.submit("hang", '{"seconds": 0.5}')
    queued = faulty.submit("chatty", '{"tag": "should-not-run"}')
    queued_id = faulty.in_flight and max(faulty._pending)
    assert faulty.cancel(queued_id)
    first, second = await asyncio.gather(running, queued)
    assert first.status is ExchangeStatus.OK
    assert second.status is ExchangeStatus.CANCELLED
    assert not any("should-not-run" in line for line in faulty.recent_stderr)


async def test_cancelling_a_queued_call_never_kills_the_call_running_before_it() -> None:
    """Once a cancelled call's grace ran out the plugin was killed, even when that call was
    only queued behind a longer one, which died with it."""
    plugin = PluginProcess(_launch(cancel_grace_s=0.3))
    await plugin.start()
    try:
        old_pid = plugin.pid
        running = plugin.submit("hang", '{"seconds": 1.5}')
        queued = plugin.submit("echo", '{"tag": "should-not-run"}')
        executing = plugin.executing
        assert executing is not None and executing.action == "hang"
        queued_id = max(plugin._pending)
        assert plugin.cancel(queued_id)
        first, second = await asyncio.gather(running, queued)
        assert first.status is ExchangeStatus.OK and plugin.pid == old_pid
        assert second.status is ExchangeStatus.CANCELLED
        assert second.duration_s is not None and second.duration_s < 0.2  # skipped, not run
    finally:
        await plugin.stop()


async def test_stray_sigint_between_calls_does_not_hit_the_next_call(
    faulty: PluginProcess,
) -> None:
    assert faulty.pid is not None
    first = await faulty.call("echo", "{}")
    os.kill(faulty.pid, signal.SIGINT)
    await faulty.call("echo", "{}")  # the signal has been handled by now
    second = await faulty.call("hang", '{"seconds": 0.2}')
    assert first.status is ExchangeStatus.OK and second.status is ExchangeStatus.OK


async def test_cancel_escalates_to_a_kill_when_the_action_ignores_it() -> None:
    plugin = PluginProcess(_launch(cancel_grace_s=0.3))
    try:
        await plugin.start()
        old_pid = plugin.pid
        assert old_pid is not None
        pending = plugin.submit("stubborn", "{}")
        while not any("stubborn" in line for line in plugin.recent_stderr):
            await asyncio.sleep(0.01)
        assert plugin.cancel(max(plugin._pending))
        exchange = await pending
        assert exchange.status is ExchangeStatus.CANCELLED
        assert exchange.error is not None and "killed" in exchange.error
        assert _wait_gone([old_pid]) == []
        after = await plugin.call("echo", "{}")
        assert after.status is ExchangeStatus.OK and plugin.pid != old_pid
    finally:
        await plugin.stop()


@pytest.mark.parametrize(
    ("action", "status", "error_part"),
    [
        ("returns-dict", ExchangeStatus.PROTOCOL_ERROR, "returned dict, expected str"),
        ("not-json", ExchangeStatus.PROTOCOL_ERROR, "not JSON"),
        ("bad-utf8", ExchangeStatus.PROTOCOL_ERROR, "not valid UTF-8"),
        ("error", ExchangeStatus.PLUGIN_ERROR, "Missing 'text' field"),
        ("raises", ExchangeStatus.PLUGIN_ERROR, "Exception: bad input value"),
        ("declared-missing", ExchangeStatus.PLUGIN_ERROR, "declared by aro_plugin_info()"),
        ("no-such-action", ExchangeStatus.PLUGIN_ERROR, "Unknown action: no-such-action"),
    ],
)
async def test_bad_answers_are_clear_errors_and_the_plugin_survives(
    faulty: PluginProcess, action: str, status: ExchangeStatus, error_part: str
) -> None:
    pid = faulty.pid
    exchange = await faulty.call(action, "{}")
    assert exchange.status is status
    assert exchange.error is not None and error_part in exchange.error
    after = await faulty.call("echo", "{}")
    assert after.status is ExchangeStatus.OK and faulty.pid == pid


async def test_raised_exception_keeps_the_spec_response_and_the_traceback(
    faulty: PluginProcess,
) -> None:
    exchange = await faulty.call("raises", "{}")
    assert exchange.response_json() == {"error": "Exception: bad input value"}
    assert exchange.traceback is not None and "ValueError: bad input value" in exchange.traceback


async def test_garbage_on_the_protocol_stream_is_a_protocol_error(faulty: PluginProcess) -> None:
    old_pid = faulty.pid
    exchange = await faulty.call("garbage", "{}")
    assert exchange.status is ExchangeStatus.PROTOCOL_ERROR
    assert exchange.error is not None and "garbage" in exchange.error
    after = await faulty.call("echo", "{}")
    assert after.status is ExchangeStatus.OK and faulty.pid != old_pid


async def test_stop_leaves_no_child_or_setsid_grandchild_behind(faulty: PluginProcess) -> None:
    exchange = await faulty.call("spawn", "{}")
    assert exchange.status is ExchangeStatus.OK, exchange.error
    pids: list[int] = exchange.response_json()["pids"]
    assert faulty.pid is not None
    pids.append(faulty.pid)
    assert _wait_gone(pids, timeout_s=0) == pids
    await faulty.stop()
    assert _wait_gone(pids) == []


async def test_crash_after_spawning_children_leaves_nothing_behind(
    faulty: PluginProcess,
) -> None:
    exchange = await faulty.call("spawn", "{}")
    pids: list[int] = exchange.response_json()["pids"]
    faulty.rss_bytes()
    crashed = await faulty.call("sigkill", "{}")
    assert crashed.status is ExchangeStatus.CRASHED
    assert _wait_gone(pids) == []


async def test_a_quick_restart_survives_the_previous_process_late_exit_timer(
    faulty: PluginProcess,
) -> None:
    crashed = await faulty.call("sigkill", "{}")
    assert crashed.status is ExchangeStatus.CRASHED
    again = await faulty.call("echo", "{}")  # restarts at once, within the pipe-close grace
    assert again.status is ExchangeStatus.OK
    await asyncio.sleep(0.8)  # past the old process's PIPE_CLOSE_GRACE_S timer
    assert faulty.state is PluginState.READY
    assert (await faulty.call("echo", "{}")).status is ExchangeStatus.OK


async def _stop_with_calls_queued(
    launch: PluginLaunch, count: int, body: str = "{}"
) -> tuple[PluginProcess, list[Exchange]]:
    """Start ``launch``, send ``count`` ``sleep`` calls, stop it once the first has begun;
    the plugin and the calls as they ended."""
    plugin = PluginProcess(launch)
    await plugin.start()
    calls = [plugin.submit("sleep", body) for _ in range(count)]
    while "sleeping" not in plugin.recent_stderr:
        await asyncio.sleep(0.01)
    await plugin.stop()
    return plugin, [await call for call in calls]


async def test_stopping_mid_queue_starts_none_of_the_calls_queued(tmp_path: Path) -> None:
    """S with three calls queued let the one running finish, then started the next (it printed,
    and was killed 0.6 s in) before the exit queued behind them all was read."""
    launch = launch_test_plugin("reckless")
    plugin, (first, second, third) = await _stop_with_calls_queued(launch, 3, '{"seconds": 0.5}')
    assert first.status is ExchangeStatus.OK and list(first.stderr_lines) == ["sleeping"]
    for queued in (second, third):
        assert queued.status is ExchangeStatus.CANCELLED
        assert queued.error == "plugin stopped before it ran"
        assert not queued.stderr_lines and queued.action_duration_s is None
    assert list(plugin.recent_stderr).count("sleeping") == 1


KILLED_HOST = """
import asyncio, sys, time
from pathlib import Path
from aro_tui.core.host.process import PluginLaunch, PluginProcess

async def main():
    plugin = PluginProcess(PluginLaunch("faulty", Path(sys.argv[1]), Path(sys.executable)))
    spawned = await plugin.call("spawn", "{}")
    print(plugin.pid, *spawned.response_json()["pids"], flush=True)
    hang = plugin.submit("hang", '{"seconds": 3600}')
    time.sleep(3600)  # until the test kills this process with SIGKILL

asyncio.run(main())
"""


def test_a_host_killed_with_sigkill_leaves_no_plugin_process_behind() -> None:
    """kill -9 of aro-tui: the harness died (it asks Linux to), but the processes its plugin
    started, a setsid grandchild too, ran on for good."""
    module = TEST_PLUGINS / "faulty" / "src" / "plugin.py"
    host = subprocess.Popen(
        [sys.executable, "-c", KILLED_HOST, str(module)], stdout=subprocess.PIPE, text=True
    )
    assert host.stdout is not None
    pids = [int(pid) for pid in host.stdout.readline().split()]
    assert len(pids) == 4 and _wait_gone(pids, timeout_s=0) == pids
    host.kill()
    host.wait()
    assert _wait_gone(pids) == []


SIGINT_OWNER = """
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as servers and some ML frameworks do
def aro_action_sleep(input_json):
    sys.stderr.write("sleeping\\n")
    sys.stderr.flush()
    time.sleep(0.4)
    return "{}"
"""


async def test_stopping_mid_queue_skips_the_queued_calls_of_a_plugin_that_owns_sigint(
    tmp_path: Path,
) -> None:
    """The harness learned which calls were cancelled only in its SIGINT handler: a plugin
    that installed its own ran the queued calls after the stop, and the next was killed
    part way."""
    (tmp_path / "plugin.py").write_text(SIGINT_OWNER)
    launch = launch_test_plugin("owner", module_path=tmp_path / "plugin.py")
    plugin, (first, *queued) = await _stop_with_calls_queued(launch, 4)
    assert first.status is ExchangeStatus.OK
    assert [(e.status, e.error) for e in queued] == [
        (ExchangeStatus.CANCELLED, "plugin stopped before it ran")
    ] * 3
    assert list(plugin.recent_stderr).count("sleeping") == 1


async def test_calls_queued_behind_one_a_stop_kills_say_they_never_ran(tmp_path: Path) -> None:
    """They read "plugin stopped", as the call that was killed part way did."""
    (tmp_path / "plugin.py").write_text(SIGINT_OWNER.replace("time.sleep(0.4)", "time.sleep(30)"))
    launch = launch_test_plugin("owner", module_path=tmp_path / "plugin.py", stop_grace_s=0.3)
    _, (running, *queued) = await _stop_with_calls_queued(launch, 3)
    assert (running.status, running.error) == (ExchangeStatus.CANCELLED, "plugin stopped")
    assert {e.error for e in queued} == {"plugin stopped before it ran"}


async def test_an_import_failing_otherwise_is_not_said_to_load_under_aro(tmp_path: Path) -> None:
    module = tmp_path / "plugin.py"
    module.write_text('raise RuntimeError("no config")\n')
    plugin = PluginProcess(PluginLaunch("fails", module, Path(sys.executable)))
    with pytest.raises(PluginStartError) as raised:
        await plugin.start()
    assert "RuntimeError: no config" in str(raised.value)
    assert "no actions" not in str(raised.value)


async def test_a_raised_exception_s_traceback_starts_in_the_plugin(faulty: PluginProcess) -> None:
    """The harness's own frame (``_call``) headed every traceback an action raised."""
    exchange = await faulty.call("raises", "{}")
    assert exchange.status is ExchangeStatus.PLUGIN_ERROR and exchange.traceback
    frames = [line for line in exchange.traceback.splitlines() if line.startswith("  File ")]
    assert frames and all("harness" not in frame for frame in frames)
    assert "plugin.py" in frames[0]


async def test_a_silent_crash_is_not_explained_with_earlier_calls_lines(tmp_path: Path) -> None:
    """A call that crashed printing nothing was given the lines of the calls answered before
    it, and the plugin's crash reason their last line: the pane read "stderr #29 (3 lines)"
    with another call's "loaded t1"."""
    module = tmp_path / "plugin.py"
    module.write_text(
        "import os, sys\n\n"
        "def aro_action_load(input_json):\n"
        "    print('loaded t1', file=sys.stderr)\n"
        "    return '{}'\n\n"
        "def aro_action_die(input_json):\n"
        "    os._exit(3)\n\n"
        "def aro_action_say_and_die(input_json):\n"
        "    print('out of memory', file=sys.stderr, flush=True)\n"
        "    os._exit(3)\n"
    )
    plugin = PluginProcess(PluginLaunch("talky", module, Path(sys.executable)))
    loaded = await plugin.call("load", "{}")
    assert list(loaded.stderr_lines) == ["loaded t1"]
    died = await plugin.call("die", "{}")
    assert died.status is ExchangeStatus.CRASHED
    assert list(died.stderr_lines) == [] and list(plugin.last_words) == []
    # A crash with words of its own keeps them.
    await plugin.call("load", "{}")
    said = await plugin.call("say_and_die", "{}")
    assert list(said.stderr_lines) == ["out of memory"]
    assert list(plugin.last_words) == ["out of memory"]


SURROGATE_INFO = """
def aro_plugin_info():
    return {"name": "odd\\udcff", "actions": ["echo"]}
def aro_action_echo(input_json):
    '''Echo, from a folder named \\udce9.'''
    return input_json
"""


async def test_an_info_document_with_a_lone_surrogate_starts_the_plugin(tmp_path: Path) -> None:
    """A non-UTF-8 byte in the plugin's folder name (Python decodes it to a lone surrogate),
    or a name built so: orjson refused the harness's info frame in the host's callback, and
    the start waited 300 s, then blamed aro_plugin_info()."""
    folder = tmp_path / os.fsdecode(b"n\xe9op")
    folder.mkdir()
    (folder / "plugin.py").write_text(SURROGATE_INFO)
    plugin = PluginProcess(launch_test_plugin("odd", module_path=folder / "plugin.py"))
    try:
        await asyncio.wait_for(plugin.start(), 20)
        assert plugin.state is PluginState.READY
        assert plugin.info is not None and plugin.info["plugin_info"]["name"] == "odd\ufffd"
        assert plugin.info["module_file"].endswith("n\ufffdop/plugin.py")
        exchange = await plugin.call("echo", '{"b": 2}')
        assert exchange.status is ExchangeStatus.OK and exchange.response_json() == {"b": 2}
    finally:
        await plugin.stop()
