"""Record real sessions for the session tests: real calls through the host, recorder attached."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.plugin_host import PluginHost
from aro_tui.core.host.process import PluginLaunch
from aro_tui.core.plugins.discovery import find_plugin
from aro_tui.core.session.recorder import SessionRecorder

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "plugins"
FAULTY = REPO / "tests" / "plugins" / "faulty"
TEXT = "plugin-python-text"

Call = tuple[str, str, str]
"""(plugin name or folder, action, input JSON text)."""


def launch_for(name: str, plugins_dir: Path | None) -> PluginLaunch:
    """The launch for a bundled/test plugin, found the way the CLI finds it."""
    plugin = find_plugin(name, plugins_dir)
    assert plugin.module_path is not None, plugin.problems
    return PluginLaunch(
        name=plugin.name,
        module_path=plugin.module_path,
        interpreter=plugin.interpreter.path,
        default_timeout_s=30.0,
        start_timeout_s=30.0,
    )


async def record_calls(
    recorder: SessionRecorder, calls: Sequence[Call], plugins_dir: Path | None = BUNDLED
) -> None:
    """Run ``calls`` in order through one host observed by ``recorder``; stop every plugin."""
    host = PluginHost(recorder.observer())
    try:
        for name, action, body in calls:
            plugin = host.add(launch_for(name, plugins_dir))
            await plugin.call(action, body)
    finally:
        await host.stop_all()


def record_session(
    sessions_dir: Path, calls: Sequence[Call], plugins_dir: Path | None = BUNDLED
) -> Path:
    """A closed session file holding ``calls``."""
    recorder = SessionRecorder.create(sessions_dir, plugins_dir=plugins_dir)
    try:
        asyncio.run(record_calls(recorder, calls, plugins_dir))
    finally:
        recorder.close()
    return recorder.path


def record_fake_exchanges(path: Path, count: int = 3, **recorder_options: Any) -> Path:
    """A closed recording at ``path`` of ``count`` ok ``fake · echo`` exchanges, numbered
    from 1, built without a plugin (``recorder_options``: ``spill_bytes=1`` puts every body
    in the side folder)."""
    recorder = SessionRecorder(path, **recorder_options)
    for number in range(1, count + 1):
        exchange = Exchange(number, "fake", "echo", b'{"text": "%d"}' % number)
        exchange.status = ExchangeStatus.OK
        exchange.response_bytes = b'{"n": %d}' % number
        recorder.record_exchange(exchange)
    recorder.close()
    return recorder.path
