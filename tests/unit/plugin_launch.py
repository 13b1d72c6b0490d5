"""Launch settings for the test plugins under ``tests/plugins/`` (shared by the host tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from aro_tui.core.host.process import PluginLaunch
from aro_tui.harness import HARNESS_START_PATH

TEST_PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def launch_test_plugin(name: str = "faulty", **overrides: object) -> PluginLaunch:
    """A launch of ``tests/plugins/<name>`` under this Python, with short test timeouts."""
    values: dict[str, object] = {
        "name": name,
        "module_path": TEST_PLUGINS / name / "src" / "plugin.py",
        "interpreter": Path(sys.executable),
        "default_timeout_s": 20,
        "start_timeout_s": 10,
    }
    values.update(overrides)
    return PluginLaunch(**values)  # type: ignore[arg-type]


def plugin_children(pid: int) -> list[psutil.Process]:
    """The plugin harnesses aro-tui process ``pid`` started, known by their command line: not
    the guard that cleans up after a ``kill -9`` of it (``orphan_guard.py``, which outlives it
    on purpose, and which for a moment after its fork still has aro-tui's command line)."""
    harnesses = []
    for child in psutil.Process(pid).children():
        try:
            if str(HARNESS_START_PATH) in child.cmdline():
                harnesses.append(child)
        except psutil.NoSuchProcess:
            continue
    return harnesses
