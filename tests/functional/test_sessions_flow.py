"""Themes, recording, reopening, replay + diff, export and copy, driven through the real app."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import BUNDLED, TEST_PLUGINS, discovery_of, make_app, plugin_state, wait_until
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.plugin_host import PluginHost
from aro_tui.core.host.process import PluginLaunch
from aro_tui.core.session.reader import read_session
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.telemetry.exchange_memory import plugin_gpu_bytes
from aro_tui.core.telemetry.model_cache import CacheEvent
from aro_tui.core.telemetry.samples import PluginUsage, TelemetrySample
from aro_tui.ui.app import AroApp
from aro_tui.ui.commands import DashboardCommands
from aro_tui.ui.comparison import exchange_from_log
from aro_tui.ui.screens import main_sessions
from aro_tui.ui.screens.diff import DiffScreen
from aro_tui.ui.screens.pager import PagerScreen
from aro_tui.ui.screens.save import SaveDialog
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable
from aro_tui.ui.widgets.request.input_editor import InputEditor
from aro_tui.ui.widgets.sidebar.action_list import ActionList

TEXT = "plugin-python-text"
ANALYZE_INPUT = '{"text": "one two. three four!"}'


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's config and data folders, under ``tmp_path``."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def user_app(tmp_path: Path, *folders: Path, record: bool = False) -> AroApp:
    """The app reading and writing the (temporary) user folders."""
    app = make_app(tmp_path, *folders)
    app.config = replace(app.config, user_files=True, record=record)
    return AroApp(app.config, app.registry.discovery)


def notifications(app: AroApp) -> list[str]:
    """Every notification's text so far."""
    return [n.message for n in app._notifications]


async def run_analyze(pilot: Pilot[None], app: AroApp, number: int = 1) -> None:
    """Wait for the text plugin, run ``analyze`` and wait for exchange ``number``."""
    await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
    screen = app.main_screen
    screen.select_plugin(TEXT)
    screen.select_action("analyze")
    screen.query_one(InputEditor).load(ANALYZE_INPUT, "draft")
    screen.action_run()
    await wait_until(pilot, lambda: app.main_screen.shown_number == number, "the response")


async def record_live_session(tmp_path: Path) -> Path:
    """Run ``analyze`` once in a recorded dashboard; the recording's path."""
    app = user_app(tmp_path, BUNDLED, record=True)
    async with app.run_test(size=(140, 45)) as pilot:
        await run_analyze(pilot, app)
        assert app.recorder is not None
        path = app.recorder.path
        await app.action_quit()
    return path


def sessions_in(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "data" / "aro-tui" / "sessions").glob("*.jsonl"))


async def test_theme_switch_from_palette_is_live_and_remembered(xdg: Path) -> None:
    app = user_app(xdg, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        assert app.theme == "aro-dark"
        dark_ok = app.theme_variables["status-ok"]
        await pilot.press("ctrl+p")
        await pilot.press(*"Switch theme: aro-light")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "aro-light", "the light theme")
        assert app.theme_variables["status-ok"] != dark_ok
        assert (
            app.main_screen.query_one(ExchangeTable)
            .status_styles["ok"]
            .endswith(app.theme_variables["status-ok"])
        )
    settings = json.loads((xdg / "config" / "aro-tui" / "settings.json").read_text())
    assert settings["theme"] == "aro-light"
    again = user_app(xdg, BUNDLED)
    async with again.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert again.theme == "aro-light"


async def test_broken_user_theme_is_named_and_default_used(xdg: Path) -> None:
    themes = xdg / "config" / "aro-tui" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.yaml").write_text('name: mine\nprimary: "#4aa8ff"\nerror: blurple\n')
    (xdg / "config" / "aro-tui" / "settings.json").write_text('{"theme": "mine"}')
    app = user_app(xdg, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        assert app.theme == "aro-dark"
        shown = notifications(app)
        assert any("mine.yaml" in text and "blurple" in text for text in shown), shown
        assert any("'mine' is not available" in text for text in shown), shown


async def test_many_start_problems_are_summed_up_and_all_listed_from_the_palette(
    xdg: Path,
) -> None:
    """Fifteen broken theme files stacked their notes off the top of the screen."""
    themes = xdg / "config" / "aro-tui" / "themes"
    themes.mkdir(parents=True)
    for number in range(15):
        (themes / f"t{number:02}.yaml").write_text(f"name: t{number}\nerror: blurple\n")
    app = user_app(xdg, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.pause()
        shown = notifications(app)
        assert len(shown) == 4
        # Two problems a file (no primary colour, a bad error colour): three shown, 27 more.
        assert "…and 27 more problems at start" in shown[-1]
        app.action_show_start_problems()
        await wait_until(pilot, lambda: isinstance(app.screen, PagerScreen), "the list")
        text = app.screen.query_one("#pager-text", TextArea).text
        assert all(f"t{number:02}.yaml" in text for number in range(15))


async def test_live_session_is_recorded(xdg: Path) -> None:
    path = await record_live_session(xdg)
    assert sessions_in(xdg) == [path]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    kinds = [record["type"] for record in records]
    assert kinds[0] == "header" and kinds[-1] == "end"
    [exchange] = [r for r in records if r["type"] == "exchange" and r["action"] == "analyze"]
    assert exchange["plugin"] == TEXT and exchange["status"] == "ok"
    assert '"words": 4' in exchange["response"]["text"].replace('"words":4', '"words": 4')
    assert any(r["type"] == "plugin" and r["event"] == "started" for r in records)


async def test_no_record_and_test_mode_write_nothing(xdg: Path) -> None:
    app = user_app(xdg, BUNDLED, record=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await run_analyze(pilot, app)
        assert app.recorder is None
    assert sessions_in(xdg) == []


def add_samples(path: Path) -> float:
    """Put 40 one-second memory samples around the recorded call; the last sample's time."""
    lines = path.read_text().splitlines()
    [exchange] = [json.loads(line) for line in lines if '"type":"exchange"' in line]
    base = exchange["started_at"] - 30
    samples = []
    for second in range(40):
        usage = PluginUsage(rss_bytes=(100 + second) * 1024**2, process_count=1)
        sample = TelemetrySample(base + second, (), {TEXT: usage}, "no GPU here")
        record = {"type": "sample", "t": base + second, "sample": sample.to_json()}
        samples.append(json.dumps(record))
    path.write_text("\n".join([*lines[:-1], *samples, lines[-1]]) + "\n")
    return base + 39


async def test_open_shows_the_recording_read_only_with_its_chart(xdg: Path) -> None:
    path = await record_live_session(xdg)
    last_sample_t = add_samples(path)
    config = replace(make_app(xdg, BUNDLED).config, user_files=True, open_session=path)
    app = AroApp(config, discovery_of(BUNDLED))
    async with app.run_test(size=(140, 45)) as pilot:
        table = app.main_screen.query_one(ExchangeTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the recorded exchange")
        await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "its response")
        banner = str(app.main_screen.query_one("#banner").render())
        assert "READ-ONLY" in banner and path.stem in banner
        response = app.main_screen.query_one("#response-text")
        assert '"words": 4' in response.text  # type: ignore[attr-defined]
        footer = " ".join(str(key.render()) for key in app.main_screen.query("FooterKey"))
        assert "Run" not in footer and "Rerun" not in footer and "Help" in footer
        docs = str(app.main_screen.query_one("#action-doc-text").render())
        assert "a recording has none" in docs and "(Enter)" not in docs  # start is off here
        await pilot.press("ctrl+r", "r", "f9")
        await pilot.pause()
        assert len(app.exchange_log) == 1
        editor = app.main_screen.query_one(InputEditor)
        before = editor.text
        editor.text_area.focus()
        await pilot.press(*"abc")  # the editor took text that nothing could run
        assert editor.text == before
        # An action never run said "start the plugin (Enter on it)", which a recording does
        # not do.
        actions = app.main_screen.query_one(ActionList)
        ids = [actions.get_option_at_index(i).id for i in range(actions.option_count)]
        actions.highlighted = ids.index("hash")
        await pilot.pause()
        status = str(editor.query_one("#input-status").render())
        assert "a recording runs nothing" in status and "start the plugin" not in status
        titles = [title for title, _, _ in DashboardCommands(app.main_screen)._commands()]
        lifecycle = ("Run ", "Start ", "Stop ", "Restart ")
        offered = [t for t in titles if t.startswith(lifecycle) and t != "Stop the replay"]
        assert offered == [] and "Rerun the selected exchange" not in titles
        assert "Replay all exchanges and diff" in titles and "Cancel the running call" in titles
        assert plugin_state(app, TEXT) == "stopped"
        app.main_screen.run_plugin_action(TEXT, "analyze")  # the palette says why
        await pilot.pause()
        assert any("Read-only recording: running is off" in n for n in notifications(app))
        assert app.recorder is None
        await pilot.press("f8")
        panel = app.main_screen.telemetry
        assert len(panel.samples) == 40
        assert panel.chart.end_t is not None and panel.chart.end_t >= last_sample_t
        chart = str(panel.chart.render())
        assert "waiting" not in chart and "host" in chart
    assert len(sessions_in(xdg)) == 1  # opening recorded nothing


async def test_open_banner_is_whole_at_80_columns(xdg: Path) -> None:
    path = await record_live_session(xdg)
    config = replace(make_app(xdg, BUNDLED).config, user_files=True, open_session=path)
    app = AroApp(config, discovery_of(BUNDLED))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.main_screen.query_one(ExchangeTable)
        await wait_until(pilot, lambda: table.row_count == 1, "the recorded exchange")
        banner = app.main_screen.query_one("#banner")
        lines = banner.render_lines(banner.region.reset_offset)  # what is on screen
        shown = "".join(segment.text for line in lines for segment in line)
        assert "replay all" in shown and path.stem in shown


async def test_open_of_a_recording_still_being_written_says_so(xdg: Path) -> None:
    """It was called "cut off" while the running dashboard was still recording it."""
    import fcntl

    path = await record_live_session(xdg)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(line for line in lines if b'"type":"end"' not in line))
    config = replace(make_app(xdg, BUNDLED).config, user_files=True, open_session=path)
    for held, expected in ((True, "still being recorded"), (False, "cut off (no end record)")):
        with path.open("rb") as recorder_lock:
            if held:  # as the recorder holds it
                fcntl.flock(recorder_lock.fileno(), fcntl.LOCK_EX)
            app = AroApp(config, discovery_of(BUNDLED))
            async with app.run_test(size=(140, 45)) as pilot:
                rows = app.main_screen.query_one(ExchangeTable)
                await wait_until(pilot, lambda t=rows: t.row_count == 1, "the recorded exchange")
                banner = str(app.main_screen.query_one("#banner").render())
        assert expected in banner


async def test_open_reads_the_recording_a_chunk_at_a_time_and_shows_it_all(
    xdg: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = SessionRecorder(xdg / "big.jsonl", spill_bytes=1024)
    for number in range(1, 4):
        exchange = Exchange(number, TEXT, "echo", b"{}", started_at=1_700_000_000.0 + number)
        exchange.status = ExchangeStatus.OK
        exchange.response_bytes = b'{"n": "' + str(number).encode() * 5000 + b'"}'
        exchange.head_monotonic_s, exchange.finished_monotonic_s = 10.0, 10.25
        recorder.record_exchange(exchange)
    recorder.close()
    monkeypatch.setattr(main_sessions, "RECORDING_CHUNK_BYTES", 1)  # one exchange a chunk
    config = replace(make_app(xdg, BUNDLED).config, open_session=xdg / "big.jsonl")
    app = AroApp(config, discovery_of(BUNDLED))
    async with app.run_test(size=(140, 45)) as pilot:
        table = app.main_screen.query_one(ExchangeTable)
        await wait_until(pilot, lambda: app.main_screen.shown_number == 3, "the last exchange")
        assert table.row_count == 3 and len(app.exchange_log) == 3
        assert "· 3 exchanges ·" in str(app.main_screen.query_one("#banner").render())
        response = app.main_screen.query_one("#response-text")
        assert "3333" in response.text  # type: ignore[attr-defined]
        assert app.exchange_log.response_bytes(1) == b'{"n": "' + b"1" * 5000 + b'"}'


def modified_plugins(tmp_path: Path) -> Path:
    """A copy of the text plugin whose ``analyze`` counts one word too many."""
    plugins = tmp_path / "Plugins"
    shutil.copytree(BUNDLED, plugins / TEXT)
    source = plugins / TEXT / "src" / "plugin.py"
    text = source.read_text()
    assert '"words": len(words),' in text
    source.write_text(text.replace('"words": len(words),', '"words": len(words) + 1,'))
    return plugins


async def test_replay_of_a_recorded_exchange_shows_the_changed_path(xdg: Path) -> None:
    path = await record_live_session(xdg)
    plugins = modified_plugins(xdg)
    config = replace(
        make_app(xdg, BUNDLED).config,
        plugins_path=plugins,
        user_files=True,
        open_session=path,
        autostart=False,
    )
    app = AroApp(config, discovery_of(plugins / TEXT))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "the recording")
        app.main_screen.query_one(ExchangeTable).focus()
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")
        paths = app.screen.query_one("#diff-paths", DataTable)
        rows = [[str(cell) for cell in paths.get_row_at(i)] for i in range(paths.row_count)]
        assert ["~", "$.words", "4", "5"] in rows
        runs = app.screen.query_one("#diff-runs", DataTable)
        assert str(runs.get_row_at(0)[2]) == "different"
        assert app.focused is runs
        await pilot.press("tab")  # to the paths, which may be too many to see at once
        assert app.focused is paths
        await pilot.press("escape")
        assert app.main_screen.query_one(ExchangeTable).row_count == 1  # replay not logged


async def test_live_compare_with_previous_run_is_equal(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await run_analyze(pilot, app)
        app.main_screen.action_compare()
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")
        runs = app.screen.query_one("#diff-runs", DataTable)
        assert str(runs.get_row_at(0)[2]) == "equal"
        # The name whole while there is room ("plugin-python-text · extrac…" with 15 to spare)
        assert str(runs.get_row_at(0)[1]) == f"{TEXT} · analyze"


async def test_after_a_compare_the_log_is_back_on_the_row_compared(tmp_path: Path) -> None:
    """d on an older row reran it as the live card; once done the cursor sat on the rerun's
    new row, so back from the diff, x opened the rerun, not the exchange compared."""
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await run_analyze(pilot, app, 1)
        await run_analyze(pilot, app, 2)
        table = app.main_screen.query_one(ExchangeTable)
        table.focus()
        await pilot.press("up")
        await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "#1 chosen")
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")
        assert len(app.exchange_log) == 3  # the rerun is logged
        await pilot.press("escape")
        await pilot.pause()
        assert table.selected_number == 1
        assert app.main_screen.shown_number == 1


async def test_the_compare_view_shows_long_action_names_whole_when_they_fit(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "ready")
        app.main_screen.send(TEXT, "extract-emails", '{"text": "a@b.co"}')
        await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "the call")
        app.main_screen.action_compare()
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")
        runs = app.screen.query_one("#diff-runs", DataTable)
        assert str(runs.get_row_at(0)[1]) == f"{TEXT} · extract-emails"
        # At 100 columns a memory column gives way ("plugin-python-text · e…" beside it).
        await pilot.resize_terminal(100, 45)
        await pilot.pause()
        runs = app.screen.query_one("#diff-runs", DataTable)
        assert str(runs.get_row_at(0)[1]) == f"{TEXT} · extract-emails"


async def test_export_whole_log(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await run_analyze(pilot, app)
        app.main_screen.drafts[(TEXT, "hash")] = ('{"text": "x"}', "draft")
        app.main_screen.run_plugin_action(TEXT, "hash")
        await wait_until(pilot, lambda: app.main_screen.shown_number == 2, "second response")
        app.main_screen.query_one(ExchangeTable).focus()
        await pilot.press("O")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog), "the save dialog")
        box = app.screen.query_one(Input)
        assert box.value.endswith("exchanges.json")
        target = tmp_path / "out" / "log.json"
        box.value = str(target)
        await pilot.press("enter")
        await wait_until(pilot, target.exists, "the export")
        await app.workers.wait_for_complete()
    document = json.loads(target.read_text())
    assert document["schema"] == "aro-tui/exchange-log/1" and document["count"] == 2
    assert [e["action"] for e in document["exchanges"]] == ["analyze", "hash"]
    assert [path.name for path in target.parent.iterdir()] == ["log.json"], "no partial file"


async def test_copy_as_command_line(tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await run_analyze(pilot, app)
        app.main_screen.query_one(ExchangeTable).focus()
        await pilot.press("y")
        await wait_until(pilot, lambda: "aro-tui call" in app.clipboard, "the clipboard")
    assert app.clipboard.endswith(f"-- {TEXT} analyze '{ANALYZE_INPUT}'")
    assert f"--plugins-dir {BUNDLED}" in app.clipboard


async def test_the_recording_marks_the_dashboards_own_cache_queries(xdg: Path) -> None:
    app = user_app(xdg, TEST_PLUGINS / "telemetry-alloc", record=True)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "telemetry-alloc") == "ready", "ready")
        app.main_screen.send("telemetry-alloc", "load", '{"key": "w", "mb": 1}')
        await wait_until(pilot, lambda: len(app.exchange_log) == 3, "the load and the query")
        assert app.recorder is not None
        path = app.recorder.path
        await app.action_quit()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    exchanges = [(r["action"], r["internal"]) for r in records if r["type"] == "exchange"]
    # The query as the plugin started (what its import loaded), then the one after the call.
    assert exchanges == [("models", True), ("load", False), ("models", True)]


async def test_open_shows_the_memory_each_call_showed_live(xdg: Path) -> None:
    """Live the load read "0K 64M 64M" in the gpu column; reopened, every row read "—"
    although the recording held the samples (the chart drew them)."""
    alloc = TEST_PLUGINS / "telemetry-alloc"
    live = user_app(xdg, alloc, record=True)
    # The live sampler, with --demo-gpu's scripted card (it mirrors the plugin's growth).
    live.config = replace(live.config, deterministic=False, demo_gpu=True, sample_interval_s=0.1)
    async with live.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(live, "telemetry-alloc") == "ready", "ready")
        panel = live.main_screen.telemetry

        def measured_before_the_call() -> bool:  # else the load has no GPU "before" figure
            return plugin_gpu_bytes(panel.samples.latest(), "telemetry-alloc") is not None

        await wait_until(pilot, measured_before_the_call, "a sample of the plugin")
        live.main_screen.send("telemetry-alloc", "load", '{"key": "w", "mb": 64}')
        table = live.main_screen.query_one(ExchangeTable)

        # #1 is aro-tui's models query as the plugin started; the load is #2.
        def measured_after_the_call() -> bool:
            memory = table.memory.get(2)
            return memory is not None and memory.gpu_after_bytes is not None

        await wait_until(pilot, measured_after_the_call, "the GPU figure after the load")
        await live.workers.wait_for_complete()
        # The log measures again once later samples are in; wait for that final figure.
        load = exchange_from_log(live.exchange_log, 2)
        await wait_until(
            pilot, lambda: table.memory[2] == panel.exchange_memory(load), "the final figure"
        )
        shown_live = table.memory[2]

        def load_event() -> CacheEvent | None:
            loads = [e for e in panel.tracker.events.snapshot() if e.kind == "load"]
            return loads[0] if loads and loads[0].gpu_delta_bytes is not None else None

        await wait_until(pilot, lambda: load_event() is not None, "the load's GPU delta")
        live_load = load_event()
        assert live.recorder is not None
        path = live.recorder.path
        await live.action_quit()
    assert shown_live.gpu_after_bytes is not None and shown_live.gpu_after_bytes >= 48 * 1024**2

    config = replace(make_app(xdg, alloc).config, user_files=True, open_session=path)
    app = AroApp(config, discovery_of(alloc))
    async with app.run_test(size=(140, 45)) as pilot:
        table = app.main_screen.query_one(ExchangeTable)
        await wait_until(pilot, lambda: app.main_screen.shown_number == 2, "the recording")
        assert table.memory.get(2) == shown_live
        assert 1 not in table.memory and 3 not in table.memory  # aro-tui's own models queries
        # The cache table's GPU delta too: it was recorded before the sample that settled it.
        events = app.main_screen.telemetry.tracker.events.snapshot()
        reopened = next(event for event in events if event.kind == "load")
        assert live_load is not None and reopened.gpu_delta_bytes == live_load.gpu_delta_bytes


async def _recording_of_a_cancelled_hang(
    xdg: Path, *, echo_first: bool = False, timed_out: bool = False
) -> AroApp:
    """Record a session on the faulty plugin: (an echo, then) a hang cancelled with ctrl+g
    (or that timed out); the app that opens that recording, not yet run."""
    faulty = TEST_PLUGINS / "faulty"
    live = user_app(xdg, faulty, record=True)
    if timed_out:
        live.config = replace(live.config, timeout_s=0.5)
    async with live.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(live, "faulty") == "ready", "ready")
        if echo_first:
            live.main_screen.send("faulty", "echo", '{"a": 1}')
            await wait_until(pilot, lambda: len(live.exchange_log) == 1, "the echo")
        live.main_screen.send("faulty", "hang", '{"seconds": 30}')
        await wait_until(pilot, lambda: live.main_screen.live_exchange is not None, "the hang")
        if not timed_out:
            await pilot.press("ctrl+g")
        calls = 1 + echo_first
        await wait_until(pilot, lambda: len(live.exchange_log) == calls, "logged")
        assert live.recorder is not None
        path = live.recorder.path
        await live.action_quit()
    config = replace(make_app(xdg, faulty).config, user_files=True, open_session=path)
    return AroApp(config, discovery_of(faulty))


async def test_ctrl_g_stops_a_replay_call_that_hangs_in_a_recording(xdg: Path) -> None:
    """ "Replay all" (or d) in a recording runs calls that no log row shows: ctrl+g said
    "Nothing is running." and a hanging one held the replay for its whole timeout."""
    app = await _recording_of_a_cancelled_hang(xdg)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: app.main_screen.shown_number == 1, "the recording")
        app.main_screen.query_one(ExchangeTable).focus()
        await pilot.press("d")  # reruns the hang
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "the rerun")
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the compare view")
        assert not any("Nothing is running" in text for text in notifications(app))


async def test_replay_all_says_how_far_it_got(xdg: Path) -> None:
    """ "Replay all" said "Replaying 2 exchanges…" once and then nothing: a replayed model
    load or hang looked like a frozen replay. A line under the banner now counts the calls.
    (A hang that timed out, as "Replay all" leaves out a cancelled one.)"""
    app = await _recording_of_a_cancelled_hang(xdg, echo_first=True, timed_out=True)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: app.main_screen.shown_number == 2, "the recording")
        progress = app.main_screen.query_one("#progress", Static)
        assert not progress.display
        app.main_screen.action_replay_all()
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "the hang again")
        await wait_until(pilot, lambda: "2 of 2" in str(progress.render()), "the count")
        assert progress.display
        text = str(progress.render())
        assert "Replay of 2 exchanges: 2 of 2 · #2 faulty · hang" in text
        assert "ctrl+g cancels" in text
        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the compare view")
        assert not progress.display


async def _record_spilled_bodies(sessions: Path) -> Path:
    """A recording of two faulty calls whose bodies went to side files: #1's response and
    #2's request (and response)."""
    recorder = SessionRecorder.create(sessions, plugins_dir=TEST_PLUGINS)
    host = PluginHost(recorder.observer())
    folder = TEST_PLUGINS / "faulty"
    try:
        plugin = host.add(
            PluginLaunch("faulty", folder / "src" / "plugin.py", Path(sys.executable))
        )
        assert (await plugin.call("big", '{"bytes": 300000}')).status is ExchangeStatus.OK
        echoed = await plugin.call("echo", json.dumps({"blob": "z" * 300_000}))
        assert echoed.status is ExchangeStatus.OK
    finally:
        await host.stop_all()
        recorder.close()
    return recorder.path


async def test_a_lost_or_emptied_side_file_costs_only_that_body(xdg: Path) -> None:
    """One deleted side file dropped the exchange's request, timings and memory too, `d` then
    reran it with an empty request (a false "different"), and `y` copied '' as its input; an
    emptied one was read as the recorded body."""
    path = await _record_spilled_bodies(xdg / "sessions")
    bodies = path.with_suffix(".bodies")
    (bodies / "1.response").unlink()
    (bodies / "2.request").write_bytes(b"")
    config = replace(
        make_app(xdg, TEST_PLUGINS).config, user_files=True, open_session=path, autostart=False
    )
    app = AroApp(config, discovery_of(TEST_PLUGINS / "faulty"))
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: screen.shown_number == 2, "the recording")
        first = exchange_from_log(app.exchange_log, 1)
        assert first.request_bytes == b'{"bytes": 300000}' and first.response_bytes is None
        assert first.action_duration_s is not None and first.rss_after_bytes is not None
        assert first.lost_bodies["response"] == f"{bodies / '1.response'} is missing"
        second = exchange_from_log(app.exchange_log, 2)
        assert second.response_bytes is not None and len(second.response_bytes) > 300_000
        assert "holds 0 bytes where 300,012 were recorded" in second.lost_bodies["request"]
        said = notifications(app)
        # One note for the lot: one per lost body covered the screen for seconds.
        assert (
            said.count(
                "2 exchanges lost a recorded body: #1, #2 (each response pane says which and why)"
            )
            == 1
        )
        note = str(screen.query_one("#response-note").render())
        assert "the recording lost its request" in " ".join(note.split())
        screen.query_one(ExchangeTable).focus()
        await pilot.press("up", "c")  # #1, whose response is lost: not "it ended ok"
        lost = f"#1 has no response to copy: the recording lost it ({bodies / '1.response'} is"
        await wait_until(pilot, lambda: any(lost in n for n in notifications(app)), "why")
        await pilot.press("down", "y")
        refused = lambda: any("Cannot copy #2" in n for n in notifications(app))  # noqa: E731
        await wait_until(pilot, refused, "the refusal")
        assert any("its recorded request is lost" in n for n in notifications(app))
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")
        runs = app.screen.query_one("#diff-runs", DataTable)
        assert str(runs.get_row_at(0)[2]) == "missing"


async def test_the_compare_view_shows_where_two_long_strings_differ(tmp_path: Path) -> None:
    """Both sides were cut from the start, so a change past the cut read the same text on
    either side: `"line one of a long answer…` → `"line one of a long answer…`."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    stem = "line one of a long answer that goes on and on, and then says "
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        logged = Exchange(1, "faulty", "echo", json.dumps({"q": stem + "中国"}).encode(), 0.0)
        logged.status = ExchangeStatus.OK
        logged.response_bytes = json.dumps({"q": stem + "日本"}).encode()
        (entry,) = app.exchange_log.add_many([logged])
        app.main_screen.show_exchange(entry.number)
        await wait_until(pilot, lambda: app.main_screen.shown_number == entry.number, "shown")
        app.main_screen.action_compare()  # echo answers 中国: "日本" was the answer then
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff view")
        paths = app.screen.query_one("#diff-paths", DataTable)
        _, path, then, now = [str(cell) for cell in paths.get_row_at(0)]
    assert path == "$.q" and then != now
    assert "日本" in then and "中国" in now


async def test_open_keeps_the_recordings_numbers_after_a_damaged_line(xdg: Path) -> None:
    """The log numbered what it read 1..N, so past a damaged line `#N` here was `#N+1` for
    `open --summary` and `replay --exchange`."""
    path = await _record_spilled_bodies(xdg / "sessions")
    lines = path.read_bytes().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if b'"type":"exchange"' in line)
    lines[first] = b'{"type": "exchange", "number": \n'  # #1 damaged
    path.write_bytes(b"".join(lines))
    config = replace(
        make_app(xdg, TEST_PLUGINS).config, user_files=True, open_session=path, autostart=False
    )
    app = AroApp(config, discovery_of(TEST_PLUGINS / "faulty"))
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: app.main_screen.shown_number == 2, "the recording")
        log = app.exchange_log
        assert len(log) == 1 and log.get(1) is None
        entry = log.get(2)
        assert entry is not None and entry.action == "echo"
        table = app.main_screen.query_one(ExchangeTable)
        assert str(table.get_row_at(0)[0]).strip() == "2"


async def test_a_replay_can_be_stopped_and_d_does_not_throw_it_away(tmp_path: Path) -> None:
    """ "Replay all" could not be stopped (50,000 calls: 40 minutes), and d meanwhile
    replaced it, throwing away every comparison it had made, without a word."""
    app = make_app(tmp_path, TEST_PLUGINS / "faulty")
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "ready", "ready")
        for _ in range(4):
            screen.send("faulty", "hang", '{"seconds": 0.4}')
        await wait_until(pilot, lambda: len(app.exchange_log) == 4, "the log")
        await app.workers.wait_for_complete()
        screen.action_replay_all()
        await wait_until(pilot, lambda: screen.replay_state is not None, "replaying")
        screen.query_one(ExchangeTable).focus()
        await pilot.press("d")  # refused: it would replace the replay
        assert any("A replay is running" in text for text in notifications(app))
        assert screen.replay_state is not None
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "a replayed call")
        # Its calls are logged but not shown as they run: the panes stay on the selected row
        # (each call laid the screen out twice, and a replay managed 15 calls a second).
        assert screen.live_exchange is None and screen.shown_number == 4
        await wait_until(pilot, lambda: screen.replay_state == (1, 4), "one call compared")
        assert screen.shown_number == 4  # nor when it ends
        await wait_until(pilot, lambda: plugin_state(app, "faulty") == "busy", "the second")
        await pilot.press("ctrl+g", "ctrl+g")
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff so far")
        diff = app.screen
        assert isinstance(diff, DiffScreen)
        assert ", stopped after " in diff.title_text and len(diff.comparisons) < 4
        assert screen.replay_state is None


async def test_replay_all_leaves_out_a_call_logged_as_cancelled(xdg: Path) -> None:
    """It reran it, a hang waiting out its timeout, where `aro-tui replay` skips it; `d` on
    that row still reruns it (see above)."""
    app = await _recording_of_a_cancelled_hang(xdg, echo_first=True)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: app.main_screen.shown_number == 2, "the recording")
        app.main_screen.action_replay_all()
        await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the compare view")
        assert isinstance(app.screen, DiffScreen)
        outcomes = [c.outcome for c in app.screen.comparisons.values()]
    assert outcomes == ["equal", "skipped"]


async def test_replay_all_reruns_the_calls_made_not_an_earlier_replays_reruns(xdg: Path) -> None:
    """A second Replay all reran the first one's reruns too (620 calls for 310), and the
    recording counted them as calls, so `aro-tui replay` of it would rerun them again."""
    app = user_app(xdg, BUNDLED, record=True)
    async with app.run_test(size=(140, 45)) as pilot:
        for number in (1, 2):
            await run_analyze(pilot, app, number)
        for _ in range(2):
            app.main_screen.action_replay_all()
            await wait_until(pilot, lambda: isinstance(app.screen, DiffScreen), "the diff")
            assert isinstance(app.screen, DiffScreen)
            assert app.screen.title_text == "Replay of 2 exchanges"
            await pilot.press("escape")
            await pilot.pause()
        assert len(app.exchange_log) == 6  # the reruns are logged
        assert app.recorder is not None
        path = app.recorder.path
        await app.action_quit()
    session = read_session(path)
    internal = [e.number for e in session.exchanges if session.is_internal(e)]
    assert internal == [3, 4, 5, 6]  # aro-tui's own calls: `replay` leaves them out
    config = replace(make_app(xdg, BUNDLED).config, user_files=True, open_session=path)
    reopened = AroApp(config, discovery_of(BUNDLED))
    async with reopened.run_test(size=(140, 45)) as pilot:
        screen = reopened.main_screen
        await wait_until(pilot, lambda: screen.has_class("-read-only"), "the recording")
        banner = str(screen.query_one("#banner", Static).render())
        assert "· 2 exchanges (+4 internal) ·" in banner  # it said "6 exchanges"
