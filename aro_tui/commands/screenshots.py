"""``aro-tui screenshots``: SVG screenshots of the real dashboard driving the bundled plugins."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from aro_tui.ui.app import AroApp

TEXT_PLUGIN = "plugin-python-text"
THEMES = {"dashboard-light.svg": "aro-light", "dashboard-high-contrast.svg": "aro-high-contrast"}
Scene = Callable[["Pilot[Any]", "AroApp"], Awaitable[None]]


def register(subparsers: Any) -> None:
    """Add the ``screenshots`` subcommand."""
    parser = subparsers.add_parser(
        "screenshots", help="save SVG screenshots of the dashboard (bundled plugins)"
    )
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="output folder")
    parser.set_defaults(func=run)


async def _wait(pilot: Pilot[Any], condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dashboard did not reach the scene's state")
        await pilot.pause(0.02)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _run(pilot: Pilot[Any], app: AroApp, action: str, text: str) -> None:
    from aro_tui.ui.widgets.request.input_editor import InputEditor

    screen = app.main_screen
    screen.drafts[(TEXT_PLUGIN, action)] = (text, "draft")
    if screen.current_plugin == TEXT_PLUGIN and screen.current_action == action:
        screen.query_one(InputEditor).load(text, "draft")  # its draft loads only on a switch
    before = len(app.exchange_log)
    screen.run_plugin_action(TEXT_PLUGIN, action)
    await _wait(pilot, lambda: screen.shown_number == before + 1)


async def _idle(pilot: Pilot[Any], app: AroApp) -> None:
    app.main_screen.query_one("#actions").focus()


async def _response(pilot: Pilot[Any], app: AroApp) -> None:
    await _run(pilot, app, "hash", '{"text": "hello", "algorithm": "md5"}')
    await _run(pilot, app, "extract-emails", '{"text": "write to ada@example.org"}')
    sample = "ARO plugins run as subprocesses. The dashboard shows each call.\n\nTry it."
    await _run(pilot, app, "analyze", '{"text": "' + sample.replace("\n", "\\n") + '"}')
    app.main_screen.query_one("#log-table").focus()


async def _action_error(pilot: Pilot[Any], app: AroApp) -> None:
    await _run(pilot, app, "analyze", '{"text": ""}')


async def _help(pilot: Pilot[Any], app: AroApp) -> None:
    await pilot.press("f1")


async def _palette(pilot: Pilot[Any], app: AroApp) -> None:
    await pilot.press("ctrl+p")
    await pilot.press(*"run text")
    await pilot.pause(0.3)


async def _telemetry(pilot: Pilot[Any], app: AroApp) -> None:
    """f8 after a call, the panel fed as ``--demo-gpu`` would be (scripted, fixed axis)."""
    from aro_tui.core.host.exchange import Exchange, ExchangeStatus
    from aro_tui.core.telemetry import (
        ExchangeSpan,
        PluginTree,
        PluginUsage,
        ScriptedGpu,
        TelemetrySample,
    )
    from aro_tui.ui.widgets.telemetry import TelemetryPanel

    await _run(pilot, app, "analyze", '{"text": "memory"}')
    await pilot.press("f8")
    panel = app.main_screen.query_one(TelemetryPanel)
    gpu = ScriptedGpu.demo()
    panel.backend_description = gpu.description
    t0, mib = 1_700_000_000.0, 1024**2
    # The real call above is at today's time; spans more than an hour older than the newest
    # one are dropped, so it would take the scripted calls below with it.
    panel.spans.clear()

    def rss_at(offset_s: int) -> int:  # a 900 MiB "model" loads at 20-28 s
        return (300 + min(max(offset_s - 20, 0), 8) * 900 // 8) * mib

    for offset in range(91):
        tree = PluginTree(pids=(4242,), rss_bytes=rss_at(offset))
        reading = gpu.read(t0 + offset, {TEXT_PLUGIN: tree})
        gpu_bytes = reading.plugin_memory_bytes.get(TEXT_PLUGIN)
        usage = PluginUsage(rss_at(offset), 10.0, gpu_bytes, 1)
        panel.samples.append(TelemetrySample(t0 + offset, reading.devices, {TEXT_PLUGIN: usage}))
    for number, (start_s, seconds) in enumerate(((20, 8), (45, 2), (70, 3)), start=1):
        call = Exchange(number, TEXT_PLUGIN, "analyze", b"{}", started_at=t0 + start_s)
        call.sent_monotonic_s = call.head_monotonic_s = 0.0
        call.finished_monotonic_s = float(seconds)
        call.status = ExchangeStatus.OK
        call.rss_before_bytes, call.rss_after_bytes = rss_at(start_s), rss_at(start_s + seconds)
        panel.spans.record(ExchangeSpan.from_exchange(call))
        if number == 1:
            panel.tracker.update(TEXT_PLUGIN, {"loaded": []}, t=t0 + 5)
            answer = {"loaded": ["demo-model"], "details": [{"key": "demo-model",
                      "model": "demo/model", "device": "cuda:0", "dtype": "float16",
                      "parameters": 220_000_000, "memory_bytes": 900 * mib}]}  # fmt: skip
            panel.tracker.update(TEXT_PLUGIN, answer, call, panel.samples)
    panel.set_axis_end(t0 + 100)
    panel.refresh_view()


async def _diff(pilot: Pilot[Any], app: AroApp) -> None:
    """Run analyze, change the plugin (one word too many), restart it, rerun and compare."""
    from aro_tui.ui.screens.diff import DiffScreen
    from aro_tui.ui.widgets.request.input_editor import InputEditor

    screen = app.main_screen
    screen.select_action("analyze")
    screen.query_one(InputEditor).load('{"text": "one two. three four!"}', "draft")
    screen.action_run()
    await _wait(pilot, lambda: screen.shown_number == 1)
    entry = app.registry[TEXT_PLUGIN]
    assert entry.process is not None
    source = entry.plugin.root / "src" / "plugin.py"
    text = source.read_text()
    source.write_text(text.replace('"words": len(words),', '"words": len(words) + 1,'))
    shutil.rmtree(source.parent / "__pycache__", ignore_errors=True)
    await entry.process.stop()
    await _wait(pilot, lambda: entry.state_text == "stopped")
    screen.show_exchange(1)
    screen.action_compare()
    await _wait(pilot, lambda: isinstance(app.screen, DiffScreen))


def _ready(app: AroApp) -> Callable[[], bool]:
    entry = app.registry[TEXT_PLUGIN]
    return lambda: entry.state_text == "ready"


SCENES: list[tuple[str, tuple[int, int], Scene]] = [
    ("dashboard-light.svg", (140, 45), _response),
    ("dashboard-high-contrast.svg", (140, 45), _response),
    ("dashboard-diff.svg", (140, 45), _diff),
    ("dashboard-idle.svg", (140, 45), _idle),
    ("dashboard-response.svg", (140, 45), _response),
    ("dashboard-action-error.svg", (140, 45), _action_error),
    ("dashboard-help.svg", (140, 45), _help),
    ("dashboard-palette.svg", (140, 45), _palette),
    ("dashboard-80x24.svg", (80, 24), _response),
    ("dashboard-telemetry.svg", (140, 45), _telemetry),
    ("dashboard-telemetry-80x24.svg", (80, 24), _telemetry),
]


async def take(out: Path) -> list[Path]:
    """Drive the real app through each scene and save an SVG of it."""
    from aro_tui.core.plugins.discovery import default_plugins_path, discover
    from aro_tui.ui.app import AroApp
    from aro_tui.ui.config import AppConfig

    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    plugins_path = default_plugins_path()
    for filename, size, scene in SCENES:
        theme = THEMES.get(filename, "aro-dark")
        with tempfile.TemporaryDirectory(prefix="aro-tui-shots-") as scratch:
            scene_plugins = plugins_path
            if scene is _diff:  # it edits the plugin: a copy of it
                scene_plugins = Path(scratch) / "Plugins"
                shutil.copytree(plugins_path / TEXT_PLUGIN, scene_plugins / TEXT_PLUGIN)
            config = AppConfig(
                plugins_path=scene_plugins, deterministic=True, timeout_s=60, theme=theme
            )
            app = AroApp(config, discover(scene_plugins))
            await _shoot(app, size, scene, out / filename)
        saved.append(out / filename)
    return saved


async def _shoot(app: AroApp, size: tuple[int, int], scene: Scene, path: Path) -> None:
    async with app.run_test(size=size) as pilot:
        await _wait(pilot, _ready(app))
        await scene(pilot, app)
        await pilot.pause()
        app.save_screenshot(path.name, str(path.parent))
        await app.registry.stop_all()


def run(args: argparse.Namespace) -> int:
    """Save the screenshots into ``args.out``."""
    for path in asyncio.run(take(args.out)):
        print(path)
    return 0
