"""Launch settings for the test plugins under ``tests/plugins/`` (shared by the host tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil

from aro_tui.core.host.process import PluginLaunch

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
    """The plugin processes aro-tui process ``pid`` started: its children but the guard that
    cleans up after a ``kill -9`` of it (``orphan_guard.py``, which outlives it on purpose)."""
    children = []
    for child in psutil.Process(pid).children():
        try:
            if not any("orphan_guard" in part for part in child.cmdline()):
                children.append(child)
        except psutil.NoSuchProcess:
            continue
    return children
