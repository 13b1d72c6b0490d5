"""Resident memory and CPU of each watched plugin's process tree (psutil)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import psutil

from aro_tui.core.telemetry.samples import PluginUsage

DESCENDANT_SCAN_INTERVAL_S = 5.0
"""How often the (costly: it reads every process on the machine) child scan runs per tree."""


@dataclass(slots=True)
class _Tree:
    root_pid: int
    extra_pids: set[int] = field(default_factory=set)
    processes: dict[int, psutil.Process] = field(default_factory=dict)
    scanned_monotonic_s: float = -1e9


class HostMetrics:
    """Sums RSS and CPU over each tree; processes that vanish mid-scan are simply dropped.

    Not thread-safe by itself: the :class:`~aro_tui.core.telemetry.sampler.Sampler` calls
    it from its thread only, under its own lock for ``watch``/``unwatch``.
    """

    def __init__(self, descendant_scan_interval_s: float = DESCENDANT_SCAN_INTERVAL_S) -> None:
        """Rescan each tree's descendants at most every ``descendant_scan_interval_s``."""
        self.descendant_scan_interval_s = descendant_scan_interval_s
        self._trees: dict[str, _Tree] = {}

    def watch(self, name: str, root_pid: int, extra_pids: set[int] | None = None) -> None:
        """Measure the tree under ``root_pid`` as plugin ``name`` (a new root restarts it)."""
        tree = self._trees.get(name)
        if tree is None or tree.root_pid != root_pid:
            tree = self._trees[name] = _Tree(root_pid)
        if extra_pids:
            tree.extra_pids |= extra_pids
            tree.scanned_monotonic_s = -1e9

    def unwatch(self, name: str) -> None:
        """Stop measuring plugin ``name``."""
        self._trees.pop(name, None)

    def names(self) -> list[str]:
        """The plugins watched now."""
        return list(self._trees)

    def pids(self, name: str) -> list[int]:
        """The pids of the tree as last scanned."""
        tree = self._trees.get(name)
        return [] if tree is None else list(tree.processes)

    def measure(self) -> dict[str, PluginUsage]:
        """One reading per watched plugin (None figures once its processes are gone)."""
        now_s = time.monotonic()
        usages: dict[str, PluginUsage] = {}
        for name, tree in self._trees.items():
            if now_s - tree.scanned_monotonic_s >= self.descendant_scan_interval_s:
                self._scan(tree)
                tree.scanned_monotonic_s = now_s
            usages[name] = self._measure_tree(tree)
        return usages

    def _scan(self, tree: _Tree) -> None:
        wanted = {tree.root_pid, *tree.extra_pids}
        root = tree.processes.get(tree.root_pid) or _process(tree.root_pid)
        if root is not None:
            with contextlib.suppress(psutil.Error):
                wanted.update(child.pid for child in root.children(recursive=True))
        for pid in wanted:
            if pid not in tree.processes:
                process = _process(pid)
                if process is not None:
                    # The first cpu_percent() call only primes the counter (returns 0.0).
                    process.cpu_percent(None)
                    tree.processes[pid] = process

    def _measure_tree(self, tree: _Tree) -> PluginUsage:
        rss_total_bytes = 0
        cpu_total_percent = 0.0
        alive = 0
        for pid, process in list(tree.processes.items()):
            try:
                with process.oneshot():
                    rss_total_bytes += process.memory_info().rss
                    cpu_total_percent += process.cpu_percent(None)
                alive += 1
            except psutil.Error:
                del tree.processes[pid]
        if alive == 0:
            return PluginUsage(pid=tree.root_pid)
        return PluginUsage(rss_total_bytes, cpu_total_percent, None, alive, tree.root_pid)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None
