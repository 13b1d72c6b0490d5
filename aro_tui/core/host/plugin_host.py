"""Many plugin processes by name, for the dashboard and the commands."""

from __future__ import annotations

import asyncio

from aro_tui.core.host.process import PluginProcess
from aro_tui.core.host.types import PluginLaunch, PluginObserver


class PluginHost:
    """Many plugin processes by name, sharing one observer; ``stop_all()`` on the way out."""

    def __init__(self, observer: PluginObserver | None = None) -> None:
        """Start with no plugins."""
        self.observer = observer
        self.plugins: dict[str, PluginProcess] = {}

    def add(self, launch: PluginLaunch) -> PluginProcess:
        """Register (not start) a plugin; an existing one with that name is returned."""
        plugin = self.plugins.get(launch.name)
        if plugin is None:
            plugin = PluginProcess(launch, self.observer)
            self.plugins[launch.name] = plugin
        return plugin

    def get(self, name: str) -> PluginProcess:
        """The plugin registered under ``name`` (``KeyError`` if none)."""
        return self.plugins[name]

    async def remove(self, name: str) -> None:
        """Stop and forget a plugin."""
        plugin = self.plugins.pop(name, None)
        if plugin is not None:
            await plugin.stop()

    async def stop_all(self) -> None:
        """Stop every plugin concurrently."""
        await asyncio.gather(*(plugin.stop() for plugin in self.plugins.values()))

    def kill_all_now(self) -> None:
        """SIGKILL every plugin's tree synchronously (atexit / signal paths)."""
        for plugin in self.plugins.values():
            plugin.kill_now()
