"""Building the dashboard against real plugin folders, and waiting on conditions."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from aro_tui.core.host.process import PluginProcess
from aro_tui.core.plugins.discovery import Discovery, discover
from aro_tui.ui.app import AroApp
from aro_tui.ui.config import AppConfig

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "plugins" / "plugin-python-text"
TEST_PLUGINS = REPO / "tests" / "plugins"


def discovery_of(*folders: Path) -> Discovery:
    """One discovery over several single-plugin folders, in the order given."""
    plugins = [plugin for folder in folders for plugin in discover(folder).plugins]
    return Discovery(folders[0].parent, plugins, [])


def make_app(
    tmp_path: Path,
    *folders: Path,
    timeout_s: float = 30.0,
    autostart: bool = True,
    max_table_rows: int = 500,
    reload: bool = False,
    source_poll_s: float = 1.0,
) -> AroApp:
    """The real app in deterministic mode, its input memory under ``tmp_path``."""
    config = AppConfig(
        plugins_path=folders[0],
        timeout_s=timeout_s,
        memory_path=tmp_path / "state" / "inputs.json",
        deterministic=True,
        autostart=autostart,
        max_table_rows=max_table_rows,
        reload=reload,
        source_poll_s=source_poll_s,
    )
    return AroApp(config, discovery_of(*folders))


async def wait_until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout_s: float = 20.0
) -> None:
    """Let the app process messages until ``condition`` holds (fail after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    await pilot.pause()


def plugin_state(app: AroApp, name: str) -> str:
    """The state word the plugin list shows for ``name``."""
    return app.registry[name].state_text


async def ready_process(pilot: Pilot[None], app: AroApp, name: str) -> tuple[PluginProcess, float]:
    """``name``'s process once it is ready, and when it started (to tell a restart)."""
    await wait_until(pilot, lambda: plugin_state(app, name) == "ready", f"{name} ready")
    process = app.registry[name].process
    assert process is not None and process.started_at is not None
    return process, process.started_at


def write_plugin_folder(folder: Path, name: str, source: str) -> Path:
    """A plugin folder named ``name`` (as plugin.yaml gives it) whose module is ``source``."""
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "plugin.py").write_text(source)
    (folder / "plugin.yaml").write_text(
        f'name: "{name}"\nversion: 1.0.0\nprovides:\n  - type: python-plugin\n    path: src/\n'
    )
    return folder


def plugin_app(tmp_path: Path, name: str, source: str) -> AroApp:
    """The app on one plugin named ``name`` whose module is ``source``, written under
    ``tmp_path/Plugins``."""
    return make_app(tmp_path, write_plugin_folder(tmp_path / "Plugins" / name, name, source))
