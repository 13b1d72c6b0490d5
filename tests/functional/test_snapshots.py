"""Snapshots of the main screen in its main states (deterministic mode, real plugins)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from helpers import BUNDLED, TEST_PLUGINS, make_app, plugin_state, wait_until
from textual.pilot import Pilot

TEXT = "plugin-python-text"
SnapCompare = Callable[..., bool]


def _ready(name: str, then: Callable[[Pilot[Any]], Awaitable[None]] | None = None) -> Any:
    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_until(pilot, lambda: plugin_state(app, name) == "ready", "plugin ready")  # type: ignore[attr-defined]
        if then is not None:
            await then(pilot)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


async def _run_hash(pilot: Pilot[Any]) -> None:
    app: Any = pilot.app
    app.main_screen.drafts[(TEXT, "hash")] = ('{"text": "hello [bold]world[/]"}', "draft")
    app.main_screen.run_plugin_action(TEXT, "hash")
    await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "response")


async def _crash(pilot: Pilot[Any]) -> None:
    app: Any = pilot.app
    app.main_screen.run_plugin_action("faulty", "os-exit")
    await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "crash")


async def _help(pilot: Pilot[Any]) -> None:
    await pilot.press("f1")


def test_idle(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED, TEST_PLUGINS / "ui-hostile")
    assert snap_compare(app, terminal_size=(140, 45), run_before=_ready(TEXT))


def test_idle_small_terminal(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED, TEST_PLUGINS / "ui-hostile")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_ready(TEXT))


def test_response_shown(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    assert snap_compare(app, terminal_size=(140, 45), run_before=_ready(TEXT, _run_hash))


def test_response_small_terminal(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_ready(TEXT, _run_hash))


def test_crash_card(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    assert snap_compare(app, terminal_size=(140, 45), run_before=_ready("faulty", _crash))


def test_help_screen(snap_compare: SnapCompare, tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    assert snap_compare(app, terminal_size=(140, 45), run_before=_ready(TEXT, _help))
