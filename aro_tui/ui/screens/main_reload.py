"""The main screen's watch on plugin files: an edit or a deletion after a plugin started is
flagged, and with ``--reload`` the plugin is restarted once it is idle."""

from __future__ import annotations

from pathlib import Path

from textual import work

from aro_tui.core.host.process import PluginProcess, PluginState
from aro_tui.core.plugins.discovery import load_plugin, new_plugin_folders
from aro_tui.core.plugins.model import DiscoveredPlugin
from aro_tui.core.plugins.source_changes import (
    MAX_ENTRIES,
    SourceChanges,
    changed_since,
    deleted_since,
    without_own_writes,
)
from aro_tui.core.sanitize import sanitize_line
from aro_tui.ui.registry import PluginEntry
from aro_tui.ui.screens.main_output import ExchangeOutput

_Scan = tuple[str, Path, float]
"""(plugin name, plugin folder, when its process started)."""


class SourceReload(ExchangeOutput):
    """Looks for plugin files modified after their process started (in a worker thread,
    every ``AppConfig.source_poll_s``); the layout lives in ``main.py``."""

    partially_watched: set[str]
    """Plugins whose folder holds more entries than one scan looks at (told once)."""
    source_baselines: dict[str, tuple[float, SourceChanges]]
    """Per plugin, the first scan after its process started (what deletions are measured
    against) and that start time."""

    def watch_sources(self) -> None:
        """Start looking (not for a recording: nothing of it runs)."""
        self.set_interval(self.aro.config.source_poll_s, self._check_sources)

    def plugin_changed(self, entry: PluginEntry) -> None:
        """Redraw ``entry`` (defined by the layout)."""
        raise NotImplementedError

    def sources_state_changed(self, entry: PluginEntry, state: PluginState) -> None:
        """A new process runs the files as they are now: nothing of it is stale yet."""
        if state is PluginState.STARTING:
            entry.changed_sources = entry.deleted_sources = ()

    def _check_sources(self) -> None:
        watched = self.aro.config.watch_plugins_dir
        if watched is not None:
            self._scan_for_new_plugins(watched, self.aro.registry.roots())
        reload = self.aro.config.reload
        scans: list[_Scan] = []
        for entry in self.aro.registry.entries.values():
            process = entry.process
            if process is None or process.started_at is None:
                continue
            # With --reload a plugin that crashed (an edit that does not import) is watched
            # too: the next save that fixes it starts it again.
            if process.running or (reload and entry.state_text == "crashed"):
                scans.append((entry.name, entry.plugin.root, process.started_at))
        if scans:
            self._scan_sources(scans)

    @work(thread=True, exclusive=True, group="new-plugins")
    def _scan_for_new_plugins(self, plugins_dir: Path, known: set[Path]) -> None:
        """Plugin folders copied into the watched folder since it was read: listed, where the
        dashboard had to be reopened to see them."""
        folders = new_plugin_folders(plugins_dir, known)
        if folders:
            interpreter = self.aro.config.interpreter
            found = [load_plugin(folder, configured_interpreter=interpreter) for folder in folders]
            self.app.call_from_thread(self._plugins_found, found)

    def _plugins_found(self, plugins: list[DiscoveredPlugin]) -> None:
        registry = self.aro.registry
        for plugin in plugins:
            if plugin.root in registry.roots():
                continue  # found by a scan before this one was handled
            taken = plugin.name in registry.entries
            entry = registry.add(plugin)
            where = sanitize_line(str(plugin.root))
            also = (
                f" (a plugin named {sanitize_line(plugin.name)} is listed already)" if taken else ""
            )
            self.say(f"New plugin {sanitize_line(entry.name)} in {where}{also}.")
        self.plugins_added()

    def plugins_added(self) -> None:
        """Show the plugins listed now (defined by the layout)."""
        raise NotImplementedError

    @work(thread=True, exclusive=True, group="sources")
    def _scan_sources(self, scans: list[_Scan]) -> None:
        found = [(name, since, changed_since(root, since)) for name, root, since in scans]
        self.app.call_from_thread(self._sources_scanned, found)

    def _sources_scanned(self, found: list[tuple[str, float, SourceChanges]]) -> None:
        for name, since, changes in found:
            entry = self.aro.registry.get(name)
            process = None if entry is None else entry.process
            if entry is None or process is None or process.started_at != since:
                continue  # restarted or gone meanwhile: the next scan looks again
            changes = without_own_writes(changes, _busy_spans(process, entry))
            if not changes.complete and name not in self.partially_watched:
                self.partially_watched.add(name)
                self.say(
                    f"{name}: its folder holds more than {MAX_ENTRIES:,} files and folders; "
                    "edits past those are not noticed.",
                    "warning",
                )
            baseline = self.source_baselines.get(name)
            if baseline is None or baseline[0] != since:
                baseline = self.source_baselines[name] = (since, changes)
            deleted = deleted_since(baseline[1], changes)
            news = [
                f"{path} changed" for path in changes.paths if path not in entry.changed_sources
            ]
            news += [f"{path} was deleted" for path in deleted if path not in entry.deleted_sources]
            if (changes.paths, deleted) != (entry.changed_sources, entry.deleted_sources):
                entry.changed_sources, entry.deleted_sources = changes.paths, deleted
                self.plugin_changed(entry)
            if not entry.sources_stale:
                continue
            if self.aro.config.reload:
                self._reload_when_idle(entry)
            elif news:
                self.say(
                    f"{name}: {news[0]} after the plugin started; it still runs the code it "
                    "imported. Shift+R restarts it (aro-tui --reload does it by itself).",
                    "warning",
                )

    def _reload_when_idle(self, entry: PluginEntry) -> None:
        """Restart now if nothing runs (start, if it crashed); else the next scan tries
        again."""
        process = entry.process
        if process is None or entry.lifecycle_verb is not None:
            return
        if entry.state_text == "crashed":
            verb = "start"
        elif process.state is PluginState.READY and not process.in_flight:
            verb = "restart"
        else:
            return
        if entry.manifest_refusal is None:  # else refused once already: tried again quietly
            self.say(f"{entry.name}: {verb}ing, {entry.stale_sources_text()}.")
        self.lifecycle_command(entry.name, verb, quiet=True, automatic=True)


def _busy_spans(process: PluginProcess, entry: PluginEntry) -> list[tuple[float, float | None]]:
    """When ``process`` was busy (epoch s): its import, the calls it keeps in its history,
    and the calls running now (no end yet)."""
    spans: list[tuple[float, float | None]] = []
    if process.started_at is not None:
        cold_start_s = process.cold_start_s
        spans.append(
            (
                process.started_at,
                None if cold_start_s is None else process.started_at + cold_start_s,
            )
        )
    for exchange in process.history:
        latency_s = exchange.latency_s
        if latency_s is not None:
            spans.append((exchange.started_at, exchange.started_at + latency_s))
    spans += [(exchange.started_at, None) for exchange in entry.running_calls.values()]
    return spans
