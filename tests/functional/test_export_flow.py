"""Exports from the dashboard carry what the live exchange had, under the log's numbers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from helpers import BUNDLED, TEST_PLUGINS, make_app, plugin_state, wait_until
from textual.pilot import Pilot
from textual.widgets import Input

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session.export import exchange_to_json
from aro_tui.ui.app import AroApp
from aro_tui.ui.screens.save import SaveDialog
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable

TEXT = "plugin-python-text"
FAULTY = TEST_PLUGINS / "faulty"
CHATTY_PRINTED_BYTES = len("python print c\n")  # what chatty prints; its import prints too


def live_record(exchange: Exchange, number: int) -> dict[str, Any]:
    """What the export should say about ``exchange``: all of it, numbered as the log is
    (no GPU figures or cache events here: no samples, no ``models`` action)."""
    record = exchange_to_json(exchange, (None, []))
    del record["schema"]
    return {**record, "number": number}


async def five_calls(pilot: Pilot[None], app: AroApp) -> list[Exchange]:
    """Two plugins, so their request ids repeat, and one call queued behind another."""
    app.main_screen.start_plugin(TEXT)  # the first plugin starts by itself
    for name in ("faulty", TEXT):
        await wait_until(pilot, lambda name=name: plugin_state(app, name) == "ready", name)
    faulty, text = app.registry["faulty"].process, app.registry[TEXT].process
    assert faulty is not None and text is not None
    calls = [await faulty.call("chatty", '{"tag": "c"}'), await text.call("hash", '{"text": "x"}')]
    calls += await asyncio.gather(
        faulty.call("slow-chatty", '{"tag": "s", "seconds": 0.2}'),
        faulty.call("echo", '{"n": 2}'),  # sent at once, started after slow-chatty answered
    )
    calls.append(await text.call("hash", '{"text": "y"}'))
    await wait_until(pilot, lambda: len(app.exchange_log) == 5, "five exchanges logged")
    assert all(call.status is ExchangeStatus.OK for call in calls)
    return calls


async def save_to(pilot: Pilot[None], app: AroApp, key: str, target: Path) -> dict[str, Any]:
    """Press ``key``, save to ``target`` in the dialog; the document written."""
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), "the save dialog")
    app.screen.query_one(Input).value = str(target)
    await pilot.press("enter")
    await wait_until(pilot, target.exists, "the export")
    await app.workers.wait_for_complete()
    document: dict[str, Any] = json.loads(target.read_text())
    return document


async def test_exported_log_matches_the_live_exchanges_and_the_log_numbers(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, FAULTY, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        calls = await five_calls(pilot, app)
        app.main_screen.query_one(ExchangeTable).focus()
        document = await save_to(pilot, app, "O", tmp_path / "log.json")
    exported = document["exchanges"]
    assert [(e["number"], e["id"]) for e in exported] == [(1, 1), (2, 1), (3, 2), (4, 3), (5, 2)]
    first, queued = exported[0], exported[3]
    assert first["printed_bytes"] == CHATTY_PRINTED_BYTES
    assert [note["code"] for note in first["runtime_notes"]] == ["printed-to-stdout"]
    assert "at import" in first["runtime_notes"][0]["text"]
    assert all(e["action_ms"] is not None for e in exported)
    assert queued["latency_ms"] - queued["duration_ms"] >= 150, "waited behind slow-chatty"
    assert exported == [live_record(call, n) for n, call in enumerate(calls, start=1)]


async def test_exported_exchange_is_the_selected_one_with_its_runtime_note(tmp_path: Path) -> None:
    app = make_app(tmp_path, FAULTY, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        calls = await five_calls(pilot, app)
        screen = app.main_screen
        screen.query_one(ExchangeTable).focus()
        await pilot.press("up", "up", "up", "up")
        await wait_until(pilot, lambda: screen.shown_number == 1, "exchange #1 selected")
        document = await save_to(pilot, app, "ctrl+o", tmp_path / "one.json")
    assert document["schema"] == "aro-tui/exchange/1"
    assert (document["number"], document["id"]) == (1, 1)
    assert document["printed_bytes"] == CHATTY_PRINTED_BYTES
    assert document["runtime_notes"][0]["text"].startswith("ARO runtime:")
    assert document == {"schema": "aro-tui/exchange/1", **live_record(calls[0], 1)}
