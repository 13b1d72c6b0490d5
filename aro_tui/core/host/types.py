"""The host's public value types: launch settings, lifecycle states, start errors, observer.

Why a module of their own: ``process``, ``inflight`` and ``channel`` all need them, and keeping
them apart from the process logic avoids import cycles. ``process`` re-exports them.
"""

from __future__ import annotations

import enum
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aro_tui.core.host.exchange import Exchange, ExchangeStatus

if TYPE_CHECKING:
    from aro_tui.core.host.process import PluginProcess

DEFAULT_TIMEOUT_S = 300.0
MIN_START_TIMEOUT_S = 30.0


def start_timeout_for(call_timeout_s: float) -> float:
    """The limit on a plugin's start (spawn to imported) that goes with a per-call limit: the
    same, but at least ``MIN_START_TIMEOUT_S``, so that a short per-call limit does not kill a
    plugin that loads its model as it is imported."""
    return max(call_timeout_s, MIN_START_TIMEOUT_S)


class PluginState(enum.StrEnum):
    """Lifecycle of one plugin process."""

    STOPPED = "stopped"
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    """At least one exchange is in flight."""
    CRASHED = "crashed"
    """The process died on its own (or failed to start); the next call starts it again."""


class PluginStartError(Exception):
    """The plugin process did not become ready (import failed, process died, timeout)."""

    def __init__(
        self,
        message: str,
        *,
        traceback: str | None = None,
        exit_code: int | None = None,
        signal_number: int | None = None,
        stderr_tail: list[str] | None = None,
        stopped: bool = False,
        timed_out: bool = False,
        aro_note: str | None = None,
    ) -> None:
        """Describe a failed start."""
        super().__init__(message)
        self.traceback = traceback
        self.exit_code = exit_code
        self.signal_number = signal_number
        self.stderr_tail = stderr_tail or []
        self.stopped = stopped
        """True when it was stopped on request while starting (not a fault of the plugin)."""
        self.timed_out = timed_out
        """True when it was not ready within its start timeout (and was killed)."""
        self.aro_note = aro_note
        """What the ARO runtime would have done instead, when it differs (the message ends
        with it, in parentheses)."""

    @property
    def reason(self) -> str:
        """The message without :attr:`aro_note`: why the start failed, on one line."""
        message = str(self)
        return message if self.aro_note is None else message.removesuffix(f" ({self.aro_note})")


class PluginObserver:
    """Receives a plugin's events on the event loop; override what you need (all no-ops)."""

    def on_state_changed(self, plugin: PluginProcess, state: PluginState) -> None:
        """The plugin's ``state`` changed."""

    def on_exchange_started(self, plugin: PluginProcess, exchange: Exchange) -> None:
        """A request was sent."""

    def on_exchange_finished(self, plugin: PluginProcess, exchange: Exchange) -> None:
        """An exchange got its final status."""

    def on_stderr_line(self, plugin: PluginProcess, line: str, exchange: Exchange | None) -> None:
        """The plugin wrote a line on stderr (or printed it); ``exchange`` is None between calls."""

    def on_stderr_partial(
        self, plugin: PluginProcess, text: str, exchange: Exchange | None
    ) -> None:
        """The plugin wrote text with no newline yet (a progress bar redrawn with ``\\r``):
        ``text`` is all of it so far (``plugin.stderr_partial`` too). It may come again,
        longer, and ends as an ``on_stderr_line``."""


@dataclass(frozen=True, slots=True)
class PluginLaunch:
    """Everything needed to start one plugin: explicit values, no discovery."""

    name: str
    module_path: Path
    interpreter: Path
    source_dir: Path | None = None
    """Put first on the plugin's sys.path; default: the module's folder."""
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    default_timeout_s: float = DEFAULT_TIMEOUT_S
    start_timeout_s: float = DEFAULT_TIMEOUT_S
    cancel_grace_s: float = 2.0
    """How long a cancelled call may take to stop before the process is killed."""
    stop_grace_s: float = 1.0
    sample_memory: bool = True
    """Read the tree's resident memory around each call (a few µs per call)."""
    validate_json: bool = True
    """Parse every result (orjson) to tell ok / plugin error / protocol error."""
    interpreter_origin: str = ""
    """Whose ``interpreter`` it is, in words (``its own .venv``), for a failed start's message."""


def exit_text(exit_code: int | None, signal_number: int | None) -> str:
    """How a process ended, for error messages."""
    if signal_number is not None:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = str(signal_number)
        return f"killed by signal {signal_number} ({name})"
    return f"exited with code {exit_code}"


def failed_start_exchange(
    exchange_id: int, plugin: str, action: str, body: bytes, error: PluginStartError
) -> Exchange:
    """The exchange a call returns when its plugin could not be started: ``timeout`` when the
    start took too long, else ``crashed``."""
    exchange = Exchange(exchange_id, plugin, action, body)
    exchange.sent_monotonic_s = exchange.head_monotonic_s = time.monotonic()
    exchange.finished_monotonic_s = exchange.sent_monotonic_s
    exchange.status = ExchangeStatus.TIMEOUT if error.timed_out else ExchangeStatus.CRASHED
    exchange.error = str(error)
    exchange.traceback = error.traceback
    exchange.exit_code = error.exit_code
    exchange.signal_number = error.signal_number
    for line in error.stderr_tail:
        exchange.keep_stderr_line(line)
    return exchange
