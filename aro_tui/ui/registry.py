"""The plugins the dashboard knows: discovery results plus one host process for each."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from pathlib import Path

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
from aro_tui.core.plugins.discovery import Discovery
from aro_tui.core.plugins.model import DiscoveredPlugin
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.ui.messages import (
    ExchangeFinished,
    ExchangeStarted,
    PluginStateChanged,
    StderrActivity,
)


class _Forwarder(PluginObserver):
    """Turns host callbacks (already on the event loop) into messages for ``target``."""

    def __init__(self) -> None:
        self.target: MessagePump | None = None
        """Where messages go (the main screen, once mounted); None drops them."""

    def _post(self, message: Message) -> None:
        if self.target is not None:
            self.target.post_message(message)

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        self._post(PluginStateChanged(plugin.name, state))

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self._post(ExchangeStarted(plugin.name, exchange))

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        self._post(ExchangeFinished(plugin.name, exchange))

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        exchange_id = None if exchange is None else exchange.id
        self._post(StderrActivity(plugin.name, exchange_id))


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
    changed_sources: tuple[str, ...] = ()
    """Files under the plugin's folder modified after its process started, newest first: the
    process still runs the code it imported before."""
    deleted_sources: tuple[str, ...] = ()
    """Files under the plugin's folder deleted after its process started (sorted): it may
    still run code imported from them."""

    @property
    def sources_stale(self) -> bool:
        """Whether files changed or went away after the process started."""
        return bool(self.changed_sources or self.deleted_sources)

    def stale_sources_text(self) -> str:
        """``plugin.py changed``, ``helpers.py deleted``, ``plugin.py +2 changed``: the first
        file, by name, and how many more."""
        files = self.changed_sources or self.deleted_sources
        if not files:
            return ""
        more = len(self.changed_sources) + len(self.deleted_sources) - 1
        what = "changed" if self.changed_sources else "deleted"
        return f"{Path(files[0]).name}{f' +{more}' if more else ''} {what}"

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.plugin.name

    @property
    def state_text(self) -> str:
        """``invalid`` for a broken manifest, else the process state."""
        if not self.plugin.valid or self.process is None:
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
            parts.append(str(failed_start).removeprefix(f"plugin {self.name} "))
        if process.signal_number is not None:
            parts.append(f"killed by {_signal_name(process.signal_number)}")
        elif process.exit_code is not None:
            parts.append(f"exit code {process.exit_code}")
        stderr = [line for line in process.recent_stderr if line.strip()]
        if stderr and len(parts) < 2:
            parts.append(stderr[-1].strip())
        return " · ".join(parts) or "the process ended unexpectedly"

    def start_output(self) -> list[str]:
        """What the plugin printed lately, then the traceback of a failed import (which the
        harness reports in its start frame, not on stderr)."""
        lines = list(self.process.recent_stderr) if self.process is not None else []
        traceback = self.start_failure.traceback if self.start_failure is not None else None
        return lines + (traceback.rstrip("\n").splitlines() if traceback else [])

    def actions(self) -> list[tuple[str, str | None]]:
        """(name, docstring) of each action: the harness's info, else the manifest's list."""
        info = self.process.info if self.process is not None else None
        if info:
            found = [*info.get("actions", []), *info.get("undeclared", [])]
            return [(str(a.get("name")), a.get("doc")) for a in found if isinstance(a, dict)]
        return [(name, None) for name in self.plugin.declared_actions]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class PluginRegistry:
    """Discovered plugins by name, each with a :class:`PluginProcess` when runnable."""

    def __init__(
        self, discovery: Discovery, timeout_s: float, recorder: SessionRecorder | None = None
    ) -> None:
        """``recorder``, when given, sees every host event before the dashboard does."""
        self.discovery = discovery
        self.entries: dict[str, PluginEntry] = {}
        self._observer = forwarder = _Forwarder()
        observer: PluginObserver = (
            forwarder if recorder is None else recorder.observer(forward_to=forwarder)
        )
        for plugin in discovery.plugins:
            entry = PluginEntry(plugin)
            if plugin.valid and plugin.module_path is not None:
                launch = PluginLaunch(
                    name=plugin.name,
                    module_path=plugin.module_path.resolve(),
                    interpreter=plugin.interpreter.path,
                    cwd=plugin.root.resolve(),
                    default_timeout_s=timeout_s,
                    start_timeout_s=start_timeout_for(timeout_s),
                )
                entry.process = PluginProcess(launch, observer)
            self.entries.setdefault(plugin.name, entry)

    def attach(self, target: MessagePump | None) -> None:
        """Send host events to ``target`` from now on."""
        self._observer.target = target

    def __getitem__(self, name: str) -> PluginEntry:
        return self.entries[name]

    def get(self, name: str | None) -> PluginEntry | None:
        """The entry called ``name``, if any."""
        return None if name is None else self.entries.get(name)

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
