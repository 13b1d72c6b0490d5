"""Messages the plugin registry posts to the app (from host callbacks on the event loop)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from aro_tui.core.host.exchange import Exchange
from aro_tui.core.host.process import PluginState


@dataclass
class PluginStateChanged(Message):
    """A plugin process changed state."""

    plugin: str
    state: PluginState


@dataclass
class ExchangeStarted(Message):
    """A request was sent to a plugin."""

    plugin: str
    exchange: Exchange


@dataclass
class ExchangeFinished(Message):
    """An exchange got its final status."""

    plugin: str
    exchange: Exchange


@dataclass
class StderrActivity(Message):
    """A plugin wrote to stderr; coalesces, the lines are read from the exchange. While one
    is waiting (not ``seen``), no other is posted for the same call: a plugin writing a
    million lines a second posted a million messages, and the dashboard froze under them."""

    plugin: str
    exchange_id: int | None
    posted_at: float = 0.0
    """``time.monotonic()`` when posted."""
    seen: bool = False
    """Set by the handler before it reads the lines: later lines need a new notice."""

    def can_replace(self, message: Message) -> bool:
        """A backlog of stderr notices for the same call collapses to one."""
        return (
            isinstance(message, StderrActivity)
            and message.plugin == self.plugin
            and message.exchange_id == self.exchange_id
        )
