"""Several plugins busy at once: which call the panes show, and which one ctrl+g cancels."""

from __future__ import annotations

from pathlib import Path

from helpers import make_app, plugin_state, wait_until, write_plugin_folder
from textual.pilot import Pilot

from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.ui.app import AroApp
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable

SLOW = '''
import json, sys, time


def aro_plugin_info():
    return {"actions": ["slow", "quick"]}


def aro_action_slow(input_json):
    """Sleep (interruptible).

    Input:
        - seconds: how long (default: 30)
    """
    print("sleeping", file=sys.stderr, flush=True)
    time.sleep(json.loads(input_json).get("seconds", 30))
    return "{}"


def aro_action_quick(input_json):
    """Answer at once."""
    return input_json
'''


def _app(tmp_path: Path) -> AroApp:
    plugins = tmp_path / "Plugins"
    folders = [write_plugin_folder(plugins / name, name, SLOW) for name in ("alpha", "bravo")]
    return make_app(tmp_path, *folders)


async def _both_ready(pilot: Pilot[None], app: AroApp) -> None:
    app.main_screen.start_plugin("bravo")  # the first starts by itself
    for name in ("alpha", "bravo"):
        await wait_until(pilot, lambda name=name: plugin_state(app, name) == "ready", name)


def _card(app: AroApp) -> str:
    return str(app.main_screen.query_one("#response-card").render())


async def test_ctrl_g_cancels_the_chosen_plugins_call_and_choosing_it_shows_its_card(
    tmp_path: Path,
) -> None:
    """With bravo chosen, ctrl+g cancelled alpha's call, the one the panes showed; and once a
    third call had ended, nothing showed bravo's running call again."""
    app = _app(tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await _both_ready(pilot, app)
        screen = app.main_screen
        screen.send("bravo", "slow", '{"seconds": 30}')
        await wait_until(pilot, lambda: "bravo · slow" in _card(app), "bravo's card")
        screen.send("alpha", "slow", '{"seconds": 30}')
        await wait_until(pilot, lambda: "alpha · slow" in _card(app), "alpha's card")
        screen.select_plugin("bravo")
        await pilot.pause()
        assert "running bravo · slow" in _card(app)  # its own call, again
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 1, "the cancelled call")
        (ended,) = app.exchange_log.entries
        assert (ended.plugin, ended.status) == ("bravo", ExchangeStatus.CANCELLED)
        assert app.registry["alpha"].running_calls  # alpha's call runs on
        screen.select_plugin("alpha")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "alpha's call")


async def test_a_reader_on_an_older_row_stays_there_as_other_calls_end(tmp_path: Path) -> None:
    """The panes jumped to each call that ended, also from a row the reader had chosen, and
    from a running call's card to another plugin's result."""
    app = _app(tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await _both_ready(pilot, app)
        screen = app.main_screen
        for text in ("one", "two"):
            screen.send("alpha", "quick", f'{{"n": "{text}"}}')
            await wait_until(pilot, lambda text=text: screen.shown_number is not None, text)
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "two calls")
        await wait_until(pilot, lambda: screen.shown_number == 2, "the newest shown")
        table = screen.query_one(ExchangeTable)
        table.focus()
        await pilot.press("up")
        assert screen.shown_number == 1
        screen.send("bravo", "quick", "{}")  # its card shows, then it ends
        await wait_until(pilot, lambda: len(app.exchange_log) == 3, "the third call")
        await pilot.pause()
        assert screen.shown_number == 3  # the call the reader started is shown
        # A call still running as the reader goes back to #1: its card gives way, and its
        # end does not take the panes back.
        screen.send("bravo", "slow", '{"seconds": 0.5}')
        await wait_until(pilot, lambda: "bravo · slow" in _card(app), "its card")
        await pilot.press("up", "up")
        assert screen.shown_number == 1 and screen.live_exchange is None
        await wait_until(pilot, lambda: len(app.exchange_log) == 4, "the fourth call")
        await pilot.pause()
        assert screen.shown_number == 1


async def test_the_running_card_counts_the_calls_queued_and_the_editor_its_own_call(
    tmp_path: Path,
) -> None:
    """A queue of three showed as one waiting call; and the editor of bravo's `quick` read
    "running 3.7 s", alpha's call."""
    app = _app(tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await _both_ready(pilot, app)
        screen = app.main_screen
        for _ in range(3):
            screen.send("alpha", "slow", '{"seconds": 30}')
        await wait_until(pilot, lambda: len(app.registry["alpha"].running_calls) == 3, "queued")
        screen.select_plugin("alpha")
        await pilot.pause()
        assert "running alpha · slow" in _card(app) and "2 more queued" in _card(app)
        screen.select_plugin("bravo")
        screen.select_action("quick")
        await pilot.pause()
        screen._tick()  # the ticker's next beat (the app runs without one, deterministic)
        assert screen.query_one("#input").border_subtitle == ""
        screen.select_plugin("alpha")
        screen.select_action("slow")
        await pilot.pause()
        screen._tick()
        assert str(screen.query_one("#input").border_subtitle).startswith("running")
        # The newest call on its waiting card: one other waits, not two; the editor says
        # "waiting", not "running".
        screen.send("alpha", "slow", '{"seconds": 30}')
        await wait_until(pilot, lambda: "▶ waiting" in _card(app), "the waiting card")
        screen._tick()
        card = _card(app)
        assert "behind the running slow" in card and "2 more queued" in card, card
        assert str(screen.query_one("#input").border_subtitle).startswith("waiting")
        process = app.registry["alpha"].process
        assert process is not None
        await process.stop()


async def test_the_calls_queued_for_a_plugin_can_be_dropped_and_the_running_one_goes_on(
    tmp_path: Path,
) -> None:
    """ctrl+g reached only the running call: to drop the third of three, the two before it
    had to be cancelled first."""
    app = _app(tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await _both_ready(pilot, app)
        screen = app.main_screen
        screen.send("alpha", "slow", '{"seconds": 1}')
        for _ in range(2):
            screen.send("alpha", "quick", "{}")
        await wait_until(pilot, lambda: len(app.registry["alpha"].running_calls) == 3, "queued")
        screen.drop_queued_calls("alpha")
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]
        assert (  # nothing changes on screen until then: the note says when
            "Dropped 2 calls queued for alpha: they end, cancelled, once the running slow ends "
            "(ctrl+g stops it)."
        ) in said
        await wait_until(pilot, lambda: len(app.exchange_log) == 3, "all three ended", 10)
        ended = sorted((e.action, str(e.status)) for e in app.exchange_log.entries)
        assert ended == [("quick", "cancelled"), ("quick", "cancelled"), ("slow", "ok")]
        screen.drop_queued_calls("bravo")
        await pilot.pause()
        assert "bravo has no call waiting." in [n.message for n in app._notifications]
