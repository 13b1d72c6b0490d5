"""``aro-tui call PLUGIN ACTION [INPUT_JSON | -]``: one call through the plugin host."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import dataclasses
import difflib
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import IO, TYPE_CHECKING, Any, TextIO

from aro_tui.commands import (
    UTF8_BOM,
    OutputError,
    is_terminal,
    json_input_problem,
    path_argument,
    seconds,
    stderr_failure,
)
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.protocol import QUALIFIER_PREFIX
from aro_tui.core.sanitize import as_overwritten, sanitize, sanitize_line

if TYPE_CHECKING:
    from aro_tui.core.host.plugin_host import PluginHost
    from aro_tui.core.host.process import PluginLaunch, PluginProcess

EXIT_OK = 0
EXIT_PLUGIN_ERROR = 1
EXIT_USAGE = 2
EXIT_CRASH = 3
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals that end a command with its plugin processes stopped (``kill``, the terminal
closing); the exit status is then 128 + the signal's number. SIGINT (ctrl+c) raises
KeyboardInterrupt, which kills them too."""

_EXIT_BY_STATUS = {
    ExchangeStatus.OK: EXIT_OK,
    ExchangeStatus.PLUGIN_ERROR: EXIT_PLUGIN_ERROR,
    ExchangeStatus.PROTOCOL_ERROR: EXIT_PLUGIN_ERROR,
    ExchangeStatus.TIMEOUT: EXIT_CRASH,
    ExchangeStatus.CRASHED: EXIT_CRASH,
    ExchangeStatus.CANCELLED: EXIT_CRASH,
}


NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
"""A negative number in any JSON form (``-1``, ``-1.5``, ``-1.5e3``, ``-2E-7``): argparse
takes only ``-1`` and ``-1.5`` for a positional, and read ``-1.5e3`` as an unknown option."""


EMPTY_ERROR_TEXT = "(the plugin's error text is empty)"
"""Shown for an ``{"error": ""}`` answer, where the message ended in a bare colon."""


class UsageError(Exception):
    """Bad arguments or an unknown plugin: exit status 2."""


def print_usage_error(command: str, error: UsageError) -> None:
    """``aro-tui COMMAND: error: ...`` on stderr, control characters (from a typed name, a
    manifest) made visible."""
    print(f"aro-tui {command}: error: {sanitize(str(error))}", file=sys.stderr)


def add_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that runs a plugin shares."""
    parser.add_argument("plugin", metavar="PLUGIN", help="a plugin name (discovered) or folder")
    parser.add_argument("action", metavar="ACTION", help="the action to call")
    parser.add_argument(
        "--plugins-dir",
        type=path_argument,
        metavar="DIR",
        help="where to look PLUGIN up; default: ./Plugins if present, else the bundled plugins",
    )
    parser.add_argument(
        "--python",
        type=path_argument,
        metavar="EXE",
        help="interpreter for plugins without their own .venv (default: this Python)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds,
        default=300.0,
        metavar="SECONDS",
        help="per-call timeout (default: 300, enough to load a model); the plugin's start "
        "(its import) gets the same, at least 30",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``call`` subcommand."""
    summary = "call one action of a plugin and print its JSON response"
    parser = subparsers.add_parser("call", help=summary, description=summary)
    add_plugin_arguments(parser)
    parser.add_argument(
        "input",
        nargs="?",
        default="{}",
        metavar="INPUT_JSON",
        help="the action's input as JSON text, or - to read it from stdin (default: {})",
    )
    parser.add_argument(
        "--stderr",
        action="store_true",
        help="show what the plugin writes to stderr (on a terminal with its control characters "
        "made visible; to a pipe or a file byte for byte)",
    )
    parser.add_argument(
        "--runtime",
        action="store_true",
        help="run the call the way the public ARO runtime does: a new `python3 -c` process, "
        "stdout read after exit, its answer classification (see docs/aro-runtime.md)",
    )
    parser.add_argument(
        "--runtime-timeout",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="with --runtime: the runtime's per-call limit (default: 30, as in ARO)",
    )
    parser.set_defaults(func=run_call)
    # Why a private attribute: argparse has no option for it, and "-1.5e3" is the input.
    parser._negative_number_matcher = NEGATIVE_NUMBER


def check_action(action: str) -> None:
    """``UsageError`` for an action name the host cannot send (empty, a line break, NUL)."""
    from aro_tui.core.host.protocol import check_action_name

    try:
        check_action_name(action)
    except ValueError:
        raise UsageError(
            f"ACTION {action!r} cannot be sent: an action name is not empty and has no line "
            "breaks or NUL characters"
        ) from None


def resolve_launch(args: argparse.Namespace) -> PluginLaunch:
    """The launch description for ``args.plugin`` (``UsageError`` if it cannot run)."""
    from aro_tui.core.host.process import PluginLaunch
    from aro_tui.core.host.types import start_timeout_for
    from aro_tui.core.plugins.discovery import PluginNotFound, find_plugin
    from aro_tui.core.plugins.interpreter import ORIGIN_TEXT

    try:
        plugin = find_plugin(args.plugin, args.plugins_dir, configured_interpreter=args.python)
    except PluginNotFound as error:
        raise UsageError(sanitize_line(str(error))) from None
    from aro_tui.commands.inventory import problem_text

    errors = [problem for problem in plugin.problems if problem.is_error]
    if not plugin.runnable or plugin.module_path is None:
        # As the dashboard refuses to start it: an error under the runtime's rules or
        # aro-tui's own (a plugin.yaml that does not parse, no name...), or no module.
        blocking = [p for p in errors if p.rules != ("strict",)]
        why = "cannot run" if blocking else "has no Python module to run"
        message = f"plugin {sanitize_line(plugin.name)} {why}"
        if blocking or plugin.problems:  # as `aro-tui check` shows them
            shown = blocking or plugin.problems
            message += ":\n" + "\n".join(problem_text(problem).plain for problem in shown)
        raise UsageError(message)
    if errors:  # only ARO's package manager objects (a name outside its pattern...): say so
        print(
            f"aro-tui {args.command}: note: running "
            f"{sanitize_line(str(plugin.root))} anyway; "
            "`aro-tui check` reports:\n"
            + "\n".join(problem_text(problem).plain for problem in errors),
            file=sys.stderr,
        )
    return PluginLaunch(
        name=plugin.name,
        module_path=plugin.module_path,
        interpreter=plugin.interpreter.path,
        interpreter_origin=ORIGIN_TEXT.get(plugin.interpreter.origin, ""),
        default_timeout_s=args.timeout,
        start_timeout_s=start_timeout_for(args.timeout),
    )


def run_with_host(main: Callable[[PluginHost], Awaitable[int]]) -> int:
    """Run ``main(host)`` (on uvloop when available); on any exit, including SIGTERM, no
    plugin process survives."""
    from aro_tui.core.host.loop import run as run_loop
    from aro_tui.core.host.plugin_host import PluginHost

    host = PluginHost()
    atexit.register(host.kill_all_now)

    async def guarded() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        received: list[int] = []

        def on_signal(number: int) -> None:
            received.append(number)
            task.cancel()

        for number in EXIT_SIGNALS:
            loop.add_signal_handler(number, on_signal, number)
        try:
            return await main(host)
        except asyncio.CancelledError:
            if received:
                return 128 + received[0]
            raise
        finally:
            for number in EXIT_SIGNALS:
                loop.remove_signal_handler(number)
            await host.stop_all()

    try:
        return run_loop(guarded())
    except KeyboardInterrupt:
        host.kill_all_now()
        return 128 + signal.SIGINT
    finally:
        atexit.unregister(host.kill_all_now)


def read_input(text: str) -> bytes:
    """The input JSON text (``-``: stdin), checked to be JSON (``UsageError`` if not)."""
    stdin: TextIO | None = sys.stdin  # None when the process was started without one
    if text != "-":
        data = text.encode("utf-8", "surrogateescape")
    elif stdin is None:
        raise UsageError("- reads INPUT_JSON from stdin, which is closed")
    else:
        data = stdin.buffer.read().removeprefix(UTF8_BOM)  # a file saved on Windows
    problem = json_input_problem(data)
    if problem is not None:
        raise UsageError(f"INPUT_JSON {problem}")
    return data.strip()


def text_for(stream: IO[Any], text: str) -> str:
    """``text`` as it is for a pipe or a file (scripts rely on what the plugin wrote); for a
    terminal, each line as the terminal would show it after its carriage returns, with the
    control characters a plugin could drive it with (OSC 52, a clear-screen) made visible."""
    return _as_shown(text) if is_terminal(stream) else text


def bytes_for(stream: IO[Any], data: bytes) -> bytes:
    """``data`` byte for byte for a pipe or a file; for a terminal, as :func:`text_for`."""
    if not is_terminal(stream):
        return data
    return _as_shown(data.decode("utf-8", "replace")).encode("utf-8")


def _as_shown(text: str) -> str:
    return sanitize("\n".join(map(as_overwritten, text.split("\n"))))


def error_text(error: str | None) -> str:
    """A plugin's error text for one line of aro-tui's, saying so when it is empty."""
    if error == "":
        return EMPTY_ERROR_TEXT
    return sanitize_line(str(error))


def action_functions(info: dict[str, Any]) -> list[str]:
    """The actions in a harness info document that have a function to run (qualifiers as
    ``qualifier:<name>``), sorted."""
    defined = [
        action
        for key in ("actions", "qualifiers")
        for action in info.get(key, [])
        if action.get("defined")
    ]
    return sorted({str(action["name"]) for action in [*defined, *info.get("undeclared", [])]})


def missing_action(plugin: PluginProcess, action: str) -> tuple[list[str], list[str]] | None:
    """``(its actions, the close ones)`` when the running ``plugin`` has no function for
    ``action``; None when it has one, or its actions are not known."""
    if plugin.info is None:
        return None
    names = action_functions(plugin.info)
    functions = {_function_name(name) for name in names}
    if action in names or _function_name(action) in functions:
        return None
    return names, difflib.get_close_matches(action, names, n=3)


def missing_action_hint(plugin: PluginProcess, action: str) -> str | None:
    """``its actions: …; did you mean …?`` when ``plugin`` has no function for ``action``."""
    missing = missing_action(plugin, action)
    return None if missing is None else actions_text(missing[0]) + did_you_mean(missing[1])


def _function_name(action: str) -> str:
    """The function the harness runs for ``action``."""
    return "aro_action_" + action.replace("-", "_")


MAX_NAMED_ACTIONS = 20
"""How many actions an unknown-action message lists (20,000 qualifiers made a 349 KB line)."""


def actions_text(names: list[str]) -> str:
    """``its actions: a, b`` (the first ``MAX_NAMED_ACTIONS``, and how many more)."""
    named = ", ".join(map(sanitize_line, names[:MAX_NAMED_ACTIONS])) or "none"
    more = len(names) - MAX_NAMED_ACTIONS
    return f"its actions: {named}" + (f" and {more:,} more" if more > 0 else "")


def did_you_mean(close: list[str]) -> str:
    """``; did you mean a or b?``, or nothing without a close name."""
    return f"; did you mean {' or '.join(map(sanitize_line, close))}?" if close else ""


def print_exchange_failure(
    exchange: Exchange, *, show_stderr_tail: bool, hint: str | None = None
) -> None:
    """Explain a failed exchange on stderr (status, error, traceback, last stderr lines)."""
    message = f"aro-tui call: {exchange.status}: {error_text(exchange.error)}"
    print(message if hint is None else f"{message}; {hint}", file=sys.stderr)
    if exchange.traceback:
        print(sanitize(exchange.traceback.rstrip()), file=sys.stderr)
    if show_stderr_tail and exchange.stderr_lines:
        print("--- last lines on the plugin's stderr ---", file=sys.stderr)
        for line in list(exchange.stderr_lines)[-20:]:
            print(sanitize_line(line), file=sys.stderr)


def run_call(args: argparse.Namespace) -> int:
    """Run ``aro-tui call``; 0 ok, 1 plugin error, 2 usage, 3 crash or timeout."""
    try:
        if args.runtime_timeout is not None and not args.runtime:
            # Else silently unused: the call ran under --timeout with no word.
            raise UsageError("--runtime-timeout applies with --runtime only (see --timeout)")
        check_action(args.action)
        if args.runtime and args.action.startswith(QUALIFIER_PREFIX):
            raise UsageError(
                f"--runtime runs actions only: {sanitize_line(args.action)} is a qualifier, "
                "which ARO applies otherwise (run it without --runtime)"
            )
        launch = resolve_launch(args)
        body = read_input(args.input)
    except UsageError as error:
        print_usage_error("call", error)
        return EXIT_USAGE
    if args.runtime:
        return _run_like_runtime(args, launch, body)

    async def main(host: PluginHost) -> int:
        from aro_tui.core.host.process import PluginObserver

        class StderrEcho(PluginObserver):
            def on_stderr_line(
                self, plugin: PluginProcess, line: str, exchange: Exchange | None
            ) -> None:
                print(text_for(sys.stderr, line), file=sys.stderr, flush=True)  # never raises

        host.observer = StderrEcho() if args.stderr else None
        plugin = host.add(launch)
        exchange = await plugin.call(args.action, body)
        if exchange.response_bytes is not None and exchange.status in (
            ExchangeStatus.OK,
            ExchangeStatus.PLUGIN_ERROR,
        ):
            sys.stdout.buffer.write(bytes_for(sys.stdout, exchange.response_bytes) + b"\n")
            sys.stdout.flush()
        if args.stderr and (failure := stderr_failure()) is not None:
            # The plugin's stderr, asked for, did not all get out: the output is incomplete.
            if isinstance(failure, BrokenPipeError):
                raise failure
            raise OutputError(failure.errno, failure.strerror, "stderr")
        crashed = exchange.status in (ExchangeStatus.CRASHED, ExchangeStatus.TIMEOUT)
        if exchange.status is not ExchangeStatus.OK:
            hint = None
            if exchange.status is ExchangeStatus.PLUGIN_ERROR:
                hint = missing_action_hint(plugin, args.action)
            print_exchange_failure(
                exchange, show_stderr_tail=crashed and not args.stderr, hint=hint
            )
        lines = exchange.stderr_line_count
        if lines and not args.stderr and not crashed:  # a crash printed its last lines above
            plural = "" if lines == 1 else "s"
            # Text printed to stdout reaches stderr too (the harness owns stdout).
            where = "stderr" if not exchange.printed_bytes else "stderr and stdout"
            print(
                f"aro-tui call: the plugin wrote {lines:,} line{plural} to {where} during the "
                "call (--stderr shows them)",
                file=sys.stderr,
            )
        for note in exchange.runtime_notes:
            print(f"aro-tui call: note: {sanitize_line(note.text)}", file=sys.stderr)
        info_error = (plugin.info or {}).get("info_error")
        if info_error:  # the runtime learns the actions from it
            from aro_tui.core.runtime_notes import NO_ACTIONS_UNDER_ARO

            print(
                f"aro-tui call: note: {sanitize_line(str(info_error))}; {NO_ACTIONS_UNDER_ARO}",
                file=sys.stderr,
            )
        return _EXIT_BY_STATUS[exchange.status]

    return run_with_host(main)


_RUNTIME_EXIT = {"result": EXIT_OK, "text": EXIT_OK, "error": EXIT_PLUGIN_ERROR}


def _run_like_runtime(args: argparse.Namespace, launch: PluginLaunch, body: bytes) -> int:
    """``call --runtime``: one call through :func:`~aro_tui.core.runtime_run.run_like_runtime`."""
    from aro_tui.core.runtime_run import (
        RUNTIME_TIMEOUT_S,
        other_interpreter_note,
        run_like_runtime,
        runtime_interpreter,
    )

    interpreter = str(args.python) if args.python is not None else runtime_interpreter()
    if interpreter is None:
        message = "no python3 on PATH (the runtime's interpreter); give one with --python"
        print(f"aro-tui call: error: {message}", file=sys.stderr)
        return EXIT_USAGE

    def exit_on_signal(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # run_like_runtime kills the call on the way out

    previous = {number: signal.signal(number, exit_on_signal) for number in EXIT_SIGNALS}
    try:
        outcome = run_like_runtime(
            interpreter,
            launch.module_path,
            args.action,
            body,
            timeout_s=RUNTIME_TIMEOUT_S if args.runtime_timeout is None else args.runtime_timeout,
        )
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if outcome.answer and outcome.got_answer:
        sys.stdout.buffer.write(bytes_for(sys.stdout, outcome.answer) + b"\n")
        sys.stdout.flush()
    if args.stderr and outcome.stderr:
        sys.stderr.buffer.write(bytes_for(sys.stderr, outcome.stderr))
        sys.stderr.flush()
    if outcome.kind == "error" and outcome.error == "":
        outcome = dataclasses.replace(outcome, error=EMPTY_ERROR_TEXT)
    print(f"aro-tui call --runtime: {sanitize_line(outcome.verdict())}", file=sys.stderr)
    note = (
        None if args.python is not None else other_interpreter_note(interpreter, launch.interpreter)
    )
    if note is not None:
        print(
            f"aro-tui call --runtime: note: {sanitize_line(note)} (--python picks one)",
            file=sys.stderr,
        )
    if outcome.exited_badly:  # sys.exit, os._exit, a signal: a crash, as without --runtime
        return EXIT_CRASH
    return _RUNTIME_EXIT.get(outcome.kind, EXIT_CRASH)
