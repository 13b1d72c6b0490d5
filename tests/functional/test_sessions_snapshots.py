"""Snapshots: the main screen in each bundled theme, and the replay diff view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import BUNDLED, discovery_of, make_app, wait_until
from test_sessions_flow import modified_plugins, record_live_session
from test_snapshots import _ready, _run_hash
from textual.pilot import Pilot

from aro_tui.ui.app import AroApp
from aro_tui.ui.screens.diff import DiffScreen
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable

TEXT = "plugin-python-text"
SnapCompare = Callable[..., bool]


@pytest.mark.parametrize("theme", ["aro-dark", "aro-light", "aro-high-contrast"])
def test_main_screen_in_theme(snap_compare: SnapCompare, tmp_path: Path, theme: str) -> None:
    app = make_app(tmp_path, BUNDLED)
    app = AroApp(replace(app.config, theme=theme), app.registry.discovery)
    assert snap_compare(app, terminal_size=(140, 45), run_before=_ready(TEXT, _run_hash))


async def _diff(pilot: Pilot[Any]) -> None:
    app: Any = pilot.app
    await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "the recording")
    app.main_screen.query_one(ExchangeTable).focus()
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")


@pytest.mark.parametrize("size", [(140, 45), (80, 24)], ids=["140x45", "80x24"])
def test_diff_view(
    snap_compare: SnapCompare,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
) -> None:
    """At 80 columns too, every column of both tables is on screen."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = asyncio.run(record_live_session(tmp_path))
    plugins = modified_plugins(tmp_path)
    config = replace(
        make_app(tmp_path, BUNDLED).config,
        plugins_path=plugins,
        open_session=path,
        autostart=False,
    )
    app = AroApp(config, discovery_of(plugins / TEXT))

    async def run_before(pilot: Pilot[Any]) -> None:
        await _diff(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
