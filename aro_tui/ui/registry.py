"""The plugins the dashboard knows: discovery results plus one host process for each."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.message import Message
from textual.message_pump import MessagePump

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.process import (
    PluginLaunch,
    PluginObserver,
    PluginProcess,
    PluginStartError,
    PluginState,
)
from aro_tui.core.host.types import start_timeout_for
from aro_tui.core.plugins.discovery import Discovery, load_plugin
from aro_tui.core.plugins.interpreter import ORIGIN_TEXT
from aro_tui.core.plugins.manifest import MANIFEST_NAME, read_manifest
from aro_tui.core.plugins.model import DiscoveredPlugin
from aro_tui.core.plugins.problem import BOTH, Problem, describe
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.ui.messages import (
    ExchangeFinished,
    ExchangeStarted,
    PluginStateChanged,
    StderrActivity,
)


class _Forwarder(PluginObserver):
    """Turns host callbacks (already on the event loop) into messages for ``target``."""

    def __init__(self, entries: Mapping[str, PluginEntry]) -> None:
        self._entries = entries
        """The registry's plugins, whose ``reported_info`` a start that succeeds sets."""
        self.target: MessagePump | None = None
        """Where messages go (the main screen, once mounted); None drops them."""
        self._stderr_notices: dict[tuple[str, int | None], StderrActivity] = {}
        """The last stderr notice posted for each (plugin, exchange id)."""
        self.on_started: Callable[[PluginProcess], None] | None = None
        """Called as a plugin becomes ready after a start, before any call waiting for that
        can be sent."""
        self._starts_told: dict[str, Exchange] = {}

    def _post(self, message: Message) -> None:
        if self.target is not None:
            self.target.post_message(message)

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        entry = self._entries.get(plugin.name)
        if state is PluginState.READY and plugin.info and entry is not None:
            entry.reported_info = plugin.info  # now, before a restart clears the process's
        self._post(PluginStateChanged(plugin.name, state))
        start = plugin.start_record
        if (
            state is PluginState.READY
            and start is not None
            and start is not self._starts_told.get(plugin.name)  # not READY after a call
            and self.on_started is not None
        ):
            self._starts_told[plugin.name] = start
            # Soon, not now: the host is still inside its state change. Still ahead of the
            # calls that waited for the start: they resume after the start returns.
            asyncio.get_running_loop().call_soon(self.on_started, plugin)

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self._post(ExchangeStarted(plugin.name, exchange))

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self._stderr_notices.pop((plugin.name, exchange.id), None)
        self._post(ExchangeFinished(plugin.name, exchange))

    def on_stderr_partial(
        self, plugin: PluginProcess, text: str, exchange: Exchange | None
    ) -> None:
        self.on_stderr_line(plugin, text, exchange)  # the same notice: the pane reads both

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        if self.target is None:
            return
        key = (plugin.name, None if exchange is None else exchange.id)
        waiting = self._stderr_notices.get(key)
        now = time.monotonic()
        # One notice at a time per call; one not seen after a second is taken as lost.
        if waiting is not None and not waiting.seen and now - waiting.posted_at < 1.0:
            return
        notice = self._stderr_notices[key] = StderrActivity(key[0], key[1], now)
        self._post(notice)


DUPLICATE_NAME = "duplicate-name"
"""The problem code of a plugin named as another one in the same folder (discovery's)."""

RUNTIME_WARNING_CODES = frozenset(
    {
        "venv-not-used-by-aro",
        "venv-without-python",
        "min-version-unmet",
        "module-shadows-stdlib",
        "shadows-stdlib",
    }
)
"""``check``'s warnings of where the ARO runtime would run a plugin otherwise than aro-tui
does (docs/aro-runtime.md): the docs panel shows these."""


@dataclass
class PluginEntry:
    """One discovered plugin and, once valid and launched, its process."""

    plugin: DiscoveredPlugin
    process: PluginProcess | None = None
    running_calls: dict[int, Exchange] = field(default_factory=dict)
    lifecycle_verb: str | None = None
    """The start/stop/restart in progress (one at a time; others are ignored meanwhile)."""
    failure: str | None = None
    """Why the last lifecycle operation or call failed inside aro-tui (an exception's text)."""
    start_failure: PluginStartError | None = None
    """Why the last start failed (import error, exit, timeout); None once one succeeds."""
    manifest_refusal: str | None = None
    """Why the last start or restart was refused after re-reading plugin.yaml (said once)."""
    changed_sources: tuple[str, ...] = ()
    """Files under the plugin's folder modified after its process started, newest first: the
    process still runs the code it imported before."""
    deleted_sources: tuple[str, ...] = ()
    """Files under the plugin's folder deleted after its process started (sorted): it may
    still run code imported from them."""
    reported_info: dict[str, Any] | None = None
    """The info document (actions, docstrings) a process of this plugin last reported as it
    started: while it restarts or after it crashed, its actions are still those of the code,
    where plugin.yaml's list may be stale (and choosing from it moved the user's action)."""

    @property
    def sources_stale(self) -> bool:
        """Whether files changed or went away after the process started."""
        return bool(self.changed_sources or self.deleted_sources)

    def stale_sources_text(self) -> str:
        """``changed plugin.py``, ``deleted helpers.py``, ``changed plugin.py +2``: the first
        file, by name, and how many more; the word first, so a narrow row cuts the name."""
        files = self.changed_sources or self.deleted_sources
        if not files:
            return ""
        more = len(self.changed_sources) + len(self.deleted_sources) - 1
        what = "changed" if self.changed_sources else "deleted"
        return f"{what} {Path(files[0]).name}{f' +{more}' if more else ''}"

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.plugin.name

    @property
    def state_text(self) -> str:
        """``invalid`` for a broken manifest, else the process state."""
        if self.process is None:  # not runnable (a strict-only error still runs)
            return "invalid"
        if self.failure is not None and not self.process.running:
            return "crashed"
        return str(self.process.state)

    def crash_reason(self) -> str | None:
        """Why the plugin is crashed, on one line (None unless it is)."""
        process = self.process
        if process is None or self.state_text != "crashed":
            return None
        if self.failure is not None:
            return self.failure
        parts: list[str] = []
        failed_start = self.start_failure
        if failed_start is not None and failed_start.traceback is not None:
            parts.append(failed_start.reason.removeprefix(f"plugin {self.name} "))
        if process.signal_number is not None:
            parts.append(f"killed by {_signal_name(process.signal_number)}")
        elif process.exit_code is not None:
            parts.append(f"exit code {process.exit_code}")
        stderr = [line for line in process.last_words if line.strip()]
        if stderr and len(parts) < 2:
            parts.append(stderr[-1].strip())
        return " · ".join(parts) or "the process ended unexpectedly"

    def stop_note(self) -> str | None:
        """For a plugin aro-tui killed (not one the user stopped): why, in a few words."""
        process = self.process
        reason = None if process is None or process.running else process.kill_reason
        if reason is None:
            return None
        # Only kills aro-tui decided on; a stop or restart the user asked for says nothing.
        return next((note for start, note in KILL_NOTES if reason.startswith(start)), None)

    def start_output(self) -> list[str]:
        """What the plugin printed lately, then the traceback of a failed import (which the
        harness reports in its start frame, not on stderr)."""
        lines = list(self.process.recent_stderr) if self.process is not None else []
        traceback = self.start_failure.traceback if self.start_failure is not None else None
        return lines + (traceback.rstrip("\n").splitlines() if traceback else [])

    def known_info(self) -> dict[str, Any] | None:
        """The running process's info document, else the last one a process of this plugin
        reported (None before any has started)."""
        info = self.process.info if self.process is not None else None
        return info or self.reported_info

    @property
    def info_error(self) -> str | None:
        """Why the started plugin's ``aro_plugin_info()`` gave no action list (it raised, is
        missing, or returned something else); its actions are then the module's
        ``aro_action_*`` functions. None when it listed them."""
        info = self.known_info()
        error = info.get("info_error") if info else None
        return str(error) if error else None

    def error_lines(self) -> list[str]:
        """Why an invalid plugin cannot run, one line per error (none for a runnable one)."""
        if self.process is not None:
            return []
        manifest = self.plugin.manifest_file
        errors = [
            (f"line {p.line}: " if p.line is not None else "")
            + ("" if p.file == manifest else f"{p.file}: ")
            + p.one_line()
            for p in self.plugin.problems
            if p.is_error
        ]
        return errors or ["plugin.yaml has no usable python-plugin entry: nothing to run"]

    def refused_lines(self) -> list[str]:
        """The errors of a plugin that runs but ARO's package manager would refuse to
        install (strict rules only), one line each."""
        if self.process is None:
            return []
        return [p.one_line() for p in self.plugin.problems if p.is_error]

    def warning_lines(self) -> list[str]:
        """Where ARO would run this plugin otherwise than aro-tui does (``aro-tui check``'s
        warnings of that kind), one line each, for the docs panel. Packaging warnings (a
        field ARO ignores, requirements.txt's place) stay with ``check``: the bundled
        plugins have one, and every action's docs began with it."""
        return [
            p.one_line()
            for p in self.plugin.problems
            if not p.is_error and p.code in RUNTIME_WARNING_CODES
        ]

    def runtime_unreached(self, action: str) -> str | None:
        """Why the ARO runtime would not hand a call of ``action`` to the function aro-tui
        runs (its naming rule, or an action ``aro_plugin_info()`` does not declare), or None."""
        if self.process is None:
            return None
        return self.process.unreachable_actions.get(action)

    def missing_functions(self) -> set[str]:
        """Actions ``aro_plugin_info()`` declares whose ``aro_action_*`` function the module
        does not define (a call of one answers "Unknown action")."""
        info = self.known_info()
        declared = info.get("actions", []) if info else []
        return {
            str(action.get("name"))
            for action in declared
            if isinstance(action, dict) and action.get("defined") is False
        }

    def actions(self) -> list[tuple[str, str | None]]:
        """(name, docstring) of each action, each name once (``aro_plugin_info()`` may list
        one twice): the harness's info (its qualifiers as ``qualifier:<name>``), the last
        one reported while the plugin restarts or is crashed, else the manifest's list."""
        info = self.known_info()
        if not info:
            return [(name, None) for name in dict.fromkeys(self.plugin.declared_actions)]
        found = [*info.get("actions", []), *info.get("undeclared", []), *info.get("qualifiers", [])]
        actions: dict[str, str | None] = {}
        for action in found:
            if isinstance(action, dict):
                actions.setdefault(str(action.get("name")), action.get("doc"))
        return list(actions.items())


KILL_NOTES = (
    ("killed after a ", "killed: timed out"),
    ("killed to cancel", "killed: ignored a cancel"),
    ("protocol error", "killed: bad output"),
    ("cancelled during an import", "import interrupted"),
)
"""How the host's kill reasons begin, and what the plugin row says of each."""


def _manifest_name(root: Path, manifest: Mapping[str, Any] | None) -> str:
    """The name a plugin's manifest gives it (the folder's, as discovery falls back to); the
    registry may list it under another: ``name (folder)`` for a duplicate."""
    name = manifest.get("name") if manifest is not None else None
    return name if isinstance(name, str) and name else root.name


def _same_name(other: PluginEntry, fresh: DiscoveredPlugin) -> bool:
    """Whether ``other`` was named as ``fresh`` is when it was last read."""
    return _manifest_name(other.plugin.root, other.plugin.manifest) == fresh.name


def _flagged_duplicate(plugin: DiscoveredPlugin) -> bool:
    """Whether ``plugin`` carries discovery's ``duplicate-name`` error already."""
    return any(problem.code == DUPLICATE_NAME for problem in plugin.problems)


def _with_duplicate_name(plugin: DiscoveredPlugin, others: list[Path]) -> DiscoveredPlugin:
    """``plugin`` with the ``duplicate-name`` error discovery and ``aro-tui check`` give a
    plugin whose name the plugins in ``others`` have too: it cannot run, and says why."""
    problem = Problem(
        DUPLICATE_NAME,
        plugin.manifest_file,
        "name",
        describe(plugin.name),
        "a name no other plugin in this folder uses",
        f"another plugin has the same name ({', '.join(map(str, others))}); only one will load",
        "error",
        BOTH,
        *plugin.name_position,
    )
    return dataclasses.replace(plugin, problems=(*plugin.problems, problem))


def _names_now(roots: list[Path]) -> list[str]:
    """The name each plugin folder's plugin.yaml gives now (blocking: reads them)."""
    return [_manifest_name(root, read_manifest(root / MANIFEST_NAME).data) for root in roots]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class PluginRegistry:
    """Discovered plugins by name, each with a :class:`PluginProcess` when runnable."""

    def __init__(
        self,
        discovery: Discovery,
        timeout_s: float,
        recorder: SessionRecorder | None = None,
        configured_interpreter: Path | None = None,
    ) -> None:
        """``recorder``, when given, sees every host event before the dashboard does;
        ``configured_interpreter`` is ``--python`` (for :meth:`reread`)."""
        self.discovery = discovery
        self.entries: dict[str, PluginEntry] = {}
        self._timeout_s = timeout_s
        self._configured_interpreter = configured_interpreter
        self._forwarder = forwarder = _Forwarder(self.entries)
        self._observer: PluginObserver = (
            forwarder if recorder is None else recorder.observer(forward_to=forwarder)
        )
        for plugin in discovery.plugins:
            self.add(plugin)

    def add(self, plugin: DiscoveredPlugin) -> PluginEntry:
        """List ``plugin`` (found at start, or later in the watched folder), with a process
        when it can run; a name taken already gets its folder's name beside it."""
        alike = [entry.plugin.root for entry in self.entries.values() if _same_name(entry, plugin)]
        if alike and not _flagged_duplicate(plugin):  # copied in later: discovery never saw both
            plugin = _with_duplicate_name(plugin, alike)
        if plugin.name in self.entries:  # both are invalid (duplicate-name): list both
            plugin = dataclasses.replace(plugin, name=self._unused_name(plugin))
        entry = PluginEntry(plugin)
        launch = self._launch_for(plugin)
        if launch is not None:
            entry.process = PluginProcess(launch, self._observer)
        self.entries[plugin.name] = entry
        return entry

    def roots(self) -> set[Path]:
        """The folders of the plugins listed."""
        return {entry.plugin.root for entry in self.entries.values()}

    def _unused_name(self, plugin: DiscoveredPlugin) -> str:
        """``name (folder)`` for a plugin whose name another one here has."""
        name = f"{plugin.name} ({plugin.root.name})"
        number = 2
        while name in self.entries:
            name, number = f"{plugin.name} ({plugin.root.name} {number})", number + 1
        return name

    def _launch_for(self, plugin: DiscoveredPlugin) -> PluginLaunch | None:
        """How to start ``plugin``; None when it cannot run (``DiscoveredPlugin.runnable``)."""
        if not plugin.runnable or plugin.module_path is None:
            return None
        return PluginLaunch(
            name=plugin.name,
            # As found, not resolved: a symlinked plugin folder is loaded through the link, as
            # ARO and `call` load it (its __file__ and sys.path[0] differed here).
            module_path=plugin.module_path,
            interpreter=plugin.interpreter.path,
            interpreter_origin=ORIGIN_TEXT.get(plugin.interpreter.origin, ""),
            # No cwd: the plugin works where aro-tui was started, as `call`, `batch`, "Run
            # like the ARO runtime" and the runtime itself do, so a relative path in an input
            # means the same everywhere (it meant the plugin's folder here only).
            default_timeout_s=self._timeout_s,
            start_timeout_s=start_timeout_for(self._timeout_s),
        )

    async def reread(self, entry: PluginEntry) -> str | None:
        """Read ``entry``'s folder again before a start (plugin.yaml, layout, interpreter)
        and use what it says now; the reason, when it must not start.

        A plugin.yaml edited while the dashboard runs is otherwise never seen: a restart
        would run the module and interpreter it named at discovery, and a manifest fixed
        after discovery would stay invalid. The plugin keeps its name here (the registry,
        the log and the recording know it by that name); a renamed plugin runs under it.
        A running plugin whose manifest turned invalid keeps running what it started with.
        """
        fresh = await asyncio.to_thread(
            load_plugin, entry.plugin.root, configured_interpreter=self._configured_interpreter
        )
        # Those named alike when they were read: read their plugin.yaml again to be sure
        # (one renamed since then would refuse this start until itself restarted).
        alike = [o for o in self.entries.values() if o is not entry and _same_name(o, fresh)]
        now = await asyncio.to_thread(_names_now, [other.plugin.root for other in alike])
        process = entry.process
        for other, name in zip(alike, now, strict=True):
            if name == fresh.name:
                if process is None or not process.running:  # its row says why, as check does
                    flagged = _with_duplicate_name(fresh, [other.plugin.root])
                    entry.plugin = dataclasses.replace(flagged, name=entry.name)
                    entry.process = None
                return f"another plugin here is named {fresh.name} too ({other.plugin.root})"
        if fresh.name != entry.name:
            fresh = dataclasses.replace(fresh, name=entry.name)
        launch = self._launch_for(fresh)
        if launch is None:
            if process is None or not process.running:
                entry.plugin, entry.process = fresh, None
            errors = [p for p in fresh.problems if p.is_error and p.rules != ("strict",)]
            if not errors:  # nothing for aro-tui to run
                return "plugin.yaml lists no usable python-plugin entry"
            return f"{_count(len(errors), 'error')} ({errors[0].one_line()})"
        entry.plugin = fresh
        if process is None:
            entry.process = PluginProcess(launch, self._observer)
        else:
            process.launch = launch
        return None

    def attach(
        self,
        target: MessagePump | None,
        on_started: Callable[[PluginProcess], None] | None = None,
    ) -> None:
        """Send host events to ``target`` from now on, and call ``on_started`` with each
        plugin that has started (before any call can be sent to it)."""
        self._forwarder.target = target
        self._forwarder.on_started = on_started

    def __getitem__(self, name: str) -> PluginEntry:
        return self.entries[name]

    def get(self, name: str | None) -> PluginEntry | None:
        """The entry called ``name``, if any."""
        return None if name is None else self.entries.get(name)

    def process_of(self, name: str) -> PluginProcess | None:
        """``name``'s process now (None for an unknown or invalid plugin)."""
        entry = self.entries.get(name)
        return None if entry is None else entry.process

    def processes(self) -> list[PluginProcess]:
        """Every launchable plugin's process."""
        return [e.process for e in self.entries.values() if e.process is not None]

    async def stop_all(self) -> None:
        """Stop every plugin process (in parallel)."""
        running = [p for p in self.processes() if p.state is not PluginState.STOPPED]
        await asyncio.gather(*(p.stop() for p in running), return_exceptions=True)

    def kill_all_now(self) -> None:
        """SIGKILL every plugin tree synchronously (last resort on exit)."""
        for process in self.processes():
            process.kill_now()
