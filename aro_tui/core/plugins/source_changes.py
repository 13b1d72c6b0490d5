"""Which of a plugin's files changed on disk after its process started.

A plugin process keeps the code it imported: after an edit, every call still runs the old
code until the plugin is restarted, which is the first thing a plugin author forgets. The
dashboard asks this module, about once a second and in a worker thread, for the files under
the plugin's folder modified since the process started.

Why modification times against the start time rather than a snapshot of the files: there is
nothing to race with (a snapshot taken when the process starts can miss an edit saved while it
imports). A timestamp is never later than the write that made it, so a file saved before the
start is never reported. A file's time is the later of its modification and its inode change
(``st_ctime``): ``mv`` of an old copy back into place, ``cp -p`` or ``tar x`` of a file
can leave a modification time from before the start, but the rename or ``utime`` that
put it there sets the change time to now. Deletions leave no timestamp on the file (only on its
folder, which Python also touches when it writes ``__pycache__``), so for them each scan also
lists the watched files it saw, and :func:`deleted_since` compares that with the first scan
after the process started: a file deleted before that first scan (within a poll period of the
start) is not noticed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

WATCHED_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".json", ".toml"})
"""Code, and the configuration a plugin reads at import (``plugin.yaml`` among them)."""
CODE_SUFFIXES = frozenset({".py"})
"""Files a plugin is not expected to write itself (see :func:`without_own_writes`)."""
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})
"""Besides hidden folders and virtual environments (a folder holding ``pyvenv.cfg``)."""
MAX_ENTRIES = 5000
"""How many folder entries one scan looks at, at most: a plugin folder that holds a dataset
must not make every scan slow; what lies past the cap is not watched."""


@dataclass(frozen=True)
class SourceChanges:
    """Files modified after ``since`` (epoch s), newest first, relative to the plugin folder."""

    paths: tuple[str, ...]
    complete: bool
    """False when the folder had more than ``MAX_ENTRIES`` entries (the rest was not looked at)."""
    present: frozenset[str] = frozenset()
    """Every watched file the scan saw, modified or not (for :func:`deleted_since`)."""
    modified: tuple[float, ...] = ()
    """When each of ``paths`` was modified (epoch s), in the same order."""


MTIME_SLACK_S = 0.05
"""How far outside a busy span a data file's modification time still counts as the plugin's:
the kernel stamps files from a clock that lags by up to a tick (4-10 ms), and a call's span is
its wall-clock start plus a latency measured on the monotonic clock, a little apart. A call
that wrote cache.json at once restarted the plugin now and then (seen in a loaded test run)."""


def without_own_writes(
    changes: SourceChanges, busy: Iterable[tuple[float, float | None]]
) -> SourceChanges:
    """``changes`` less the data files (not code: ``.json``, ``.yaml``...) modified while the
    plugin itself was busy: importing or running a call (``busy``: those spans in epoch s,
    an end of None for one still running).

    Why: such a file is the plugin's own write, a results cache, a state file written at
    import, and with ``--reload`` it restarted the plugin, which wrote it again as it
    imported: a restart every second, and a model loaded again each time. A file edited
    while a call runs is noticed once that call has ended and the file is modified again; a
    ``.py`` file always counts (a plugin does not write its own code).
    """
    spans = list(busy)
    if not changes.paths or not spans:
        return changes

    def own(path: str, modified: float) -> bool:
        return Path(path).suffix not in CODE_SUFFIXES and any(
            start - MTIME_SLACK_S <= modified and (end is None or modified <= end + MTIME_SLACK_S)
            for start, end in spans
        )

    kept = [(p, t) for p, t in zip(changes.paths, changes.modified, strict=True) if not own(p, t)]
    return replace(changes, paths=tuple(p for p, _ in kept), modified=tuple(t for _, t in kept))


def deleted_since(baseline: SourceChanges, now: SourceChanges) -> tuple[str, ...]:
    """Watched files ``baseline`` saw that ``now`` did not, sorted; none when either scan
    stopped at the entry cap (a file past it would look deleted)."""
    if not (baseline.complete and now.complete):
        return ()
    return tuple(sorted(baseline.present - now.present))


def changed_since(root: Path, since: float) -> SourceChanges:
    """The watched files under ``root`` modified (or put in place) after ``since``."""
    since_ns = int(since * 1e9)
    found: list[tuple[int, str]] = []
    present: list[str] = []
    budget = MAX_ENTRIES
    pending = [root]
    while pending and budget > 0:
        folder = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    budget -= 1
                    if budget < 0:
                        break
                    name = entry.name
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if not _skipped(name, entry.path):
                                pending.append(Path(entry.path))
                        elif Path(name).suffix in WATCHED_SUFFIXES:
                            stat = entry.stat()
                            modified_ns = max(stat.st_mtime_ns, stat.st_ctime_ns)
                            present.append(entry.path)
                            if modified_ns > since_ns:
                                found.append((modified_ns, entry.path))
                    except OSError:  # gone between the listing and the stat
                        continue
        except OSError:
            continue
    found.sort(reverse=True)
    paths = tuple(_relative(path, root) for _, path in found)
    seen = frozenset(_relative(path, root) for path in present)
    modified = tuple(ns / 1e9 for ns, _ in found)
    return SourceChanges(
        paths, complete=budget >= 0 and not pending, present=seen, modified=modified
    )


def _relative(path: str, root: Path) -> str:
    return str(Path(path).relative_to(root))


def _skipped(name: str, path: str) -> bool:
    if name.startswith(".") or name in SKIPPED_FOLDERS:
        return True
    return (Path(path) / "pyvenv.cfg").exists()
