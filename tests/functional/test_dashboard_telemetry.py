"""The telemetry view in the dashboard: a real plugin's model cache, internal calls, f8."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from helpers import (
    BUNDLED,
    TEST_PLUGINS,
    make_app,
    plugin_app,
    plugin_state,
    wait_until,
)
from test_telemetry_chart import T0, _models_answer, _rss_at, _scripted_gpu
from textual.pilot import Pilot

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.telemetry import (
    DeviceSample,
    ExchangeSpan,
    PluginTree,
    PluginUsage,
    TelemetrySample,
)
from aro_tui.core.telemetry.gpu import NoGpu
from aro_tui.ui.widgets.log.exchange_table import ExchangeTable
from aro_tui.ui.widgets.request.input_editor import InputEditor
from aro_tui.ui.widgets.telemetry import TelemetryPanel

ALLOC = "telemetry-alloc"
FAULTY = "faulty"
TEXT = "plugin-python-text"
MIB = 1024**2
GIB = 1024**3


def _shown(widget: Any) -> bool:
    return bool(widget.display)


def _row_actions(table: ExchangeTable) -> list[str]:
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def test_a_loaded_model_is_tied_to_its_call_and_internal_queries_hide(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, ALLOC) == "ready", "plugin ready")
        panel = screen.query_one(TelemetryPanel)
        assert not _shown(panel)  # hidden until asked for
        await pilot.press("f8")
        assert _shown(panel) and panel.chart.region.height >= 8
        assert not _shown(screen.query_one("#exchange"))

        screen.select_action("load")
        screen.query_one(InputEditor).text_area.load_text('{"key": "weights", "mb": 96}')
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(panel.tracker.events) == 1, "cache event")
        await app.workers.wait_for_complete()
        await pilot.pause()

        event = panel.tracker.events.snapshot()[0]
        assert (event.kind, event.key, event.action) == ("load", "weights", "load")
        # The call that loaded it is the log's #2; aro-tui's models queries (at the start,
        # and after the call) are #1 and #3, hidden.
        assert [e.action for e in app.exchange_log.entries] == ["models", "load", "models"]
        table = screen.query_one(ExchangeTable)
        assert _row_actions(table) == ["load"]
        assert "2 internal hidden" in str(screen.query_one("#log").border_title)
        row = [cell.plain for cell in panel.cache_table.get_row_at(0)]
        assert row[0] == "weights" and row[5] == "#2 load"
        # Memory before / peak / after the call: the host figure rose with the load.
        memory = table.memory[2]
        assert memory.host_before_bytes is not None and memory.host_after_bytes is not None
        assert memory.host_after_bytes - memory.host_before_bytes > 80 * MIB
        assert memory.host_peak_bytes is not None
        assert memory.host_peak_bytes >= memory.host_after_bytes

        table.focus()
        await pilot.press("i")
        assert _row_actions(table) == ["models internal", "load", "models internal"]
        assert panel.chart.show_internal
        await pilot.press("i")
        assert _row_actions(table) == ["load"]


async def _telemetry_view(pilot: Pilot[Any]) -> None:
    """f8, then feed the panel a scripted GPU and a model load (no live sampler here)."""
    app: Any = pilot.app
    await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
    await app.workers.wait_for_complete()
    await pilot.press("f8")
    panel = app.main_screen.query_one(TelemetryPanel)
    gpu = _scripted_gpu()
    panel.backend_description = gpu.description
    trees = {"plug": PluginTree(pids=(4242,))}  # the scripted card's name for the plugin
    for offset in range(91):
        reading = gpu.read(T0 + offset, trees)
        usage = PluginUsage(_rss_at(offset), 12.5, reading.plugin_memory_bytes.get("plug"), 1)
        panel.samples.append(TelemetrySample(T0 + offset, reading.devices, {TEXT: usage}))
    panel.tracker.update(TEXT, {"loaded": []}, t=T0 + 5)
    load = Exchange(3, TEXT, "generate", b"{}", started_at=T0 + 20)
    load.sent_monotonic_s = load.head_monotonic_s = 1000.0
    load.finished_monotonic_s = 1008.0
    load.status = ExchangeStatus.OK
    load.rss_before_bytes, load.rss_after_bytes = 300 * MIB, 1200 * MIB
    panel.spans.record(ExchangeSpan.from_exchange(load))
    panel.tracker.update(TEXT, _models_answer(), load, panel.samples)
    panel.set_axis_end(T0 + 100)
    panel.refresh_view()

    # DataTable sizes its columns to new rows when it next goes idle, which a loaded machine
    # may not reach before the screenshot.
    def model_column_sized() -> bool:  # the table makes its columns anew on each redraw
        table = panel.cache_table
        shown = table.get_row_at(0)[0].plain if table.row_count else "?"
        return table.ordered_columns[0].content_width >= len(shown)

    await wait_until(pilot, model_column_sized, "columns sized")


def test_snapshot_telemetry_view(snap_compare: Callable[..., bool], tmp_path: Path) -> None:
    app = make_app(tmp_path, BUNDLED)
    assert snap_compare(app, terminal_size=(140, 45), run_before=_telemetry_view)


def test_snapshot_telemetry_view_small_terminal(
    snap_compare: Callable[..., bool], tmp_path: Path
) -> None:
    app = make_app(tmp_path, BUNDLED)
    assert snap_compare(app, terminal_size=(80, 24), run_before=_telemetry_view)


async def test_the_memory_axis_fits_the_lines_and_z_lets_it_reach_the_gpu_total(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await _telemetry_view(pilot)  # an 8 GiB card; a load takes it from 0.6 to 3.1 GiB
        panel = app.main_screen.query_one(TelemetryPanel)

        def chart_lines() -> list[str]:
            return panel.chart.render().plain.splitlines()

        def axis_top() -> str:
            return chart_lines()[1].split("┤")[0].strip()

        assert axis_top() == "3.5 GiB"  # fitted: the 2.5 GiB step spans most of the height
        assert "┄ total" not in chart_lines()[0]  # the total is beyond the axis
        assert "GPU0 3.1 GiB / 8.0 GiB" in chart_lines()[0]  # and still in the legend
        assert "z: axis to GPU total" in str(panel.query_one("#telemetry-status").render())
        await pilot.press("z")
        assert axis_top() == "8.2 GiB"
        assert "┄ total" in chart_lines()[0]
        assert "z: axis to fit" in str(panel.query_one("#telemetry-status").render())
        await pilot.press("z")
        assert axis_top() == "3.5 GiB"


async def test_z_without_a_gpu_says_there_is_no_total_and_keeps_the_fitted_axis(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, BUNDLED)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, TEXT) == "ready", "plugin ready")
        await pilot.press("f8")
        panel = app.main_screen.query_one(TelemetryPanel)

        def said_last() -> str:
            return str([n.message for n in app._notifications][-1])

        def chart_lines() -> list[str]:
            return panel.chart.render().plain.splitlines()

        await pilot.press("z")  # before the first sample
        assert said_last() == (
            "No GPU total to reach: no memory sample has arrived yet. The memory axis stays"
            " fitted to the lines."
        )
        # This machine as one without a GPU: the real sampler, measuring the real plugin.
        panel.start_sampling(lambda: NoGpu("NVML library not found"), interval_s=0.05)
        await wait_until(pilot, lambda: len(panel.samples) >= 2, "samples")
        panel.stop_sampling()  # the axis holds still while it is compared
        panel.refresh_view()
        assert "no GPU line" in chart_lines()[0]
        axis_top = chart_lines()[1].split("┤")[0]
        await pilot.press("z")
        assert said_last() == (
            "No GPU total to reach: NVML library not found. The memory axis stays fitted to"
            " the lines."
        )
        assert not panel.chart.axis_to_total
        assert chart_lines()[1].split("┤")[0] == axis_top
        assert "z: axis to" not in str(panel.query_one("#telemetry-status").render())


async def test_a_call_resent_after_a_restart_never_shows_the_cards_memory_as_the_plugins(
    tmp_path: Path,
) -> None:
    """The resent call's GPU cell read "600M 600M 8K": the new process was in no sample yet,
    and the card's whole use (600 MiB, other processes) stood in for the plugin's."""
    app = make_app(tmp_path, TEST_PLUGINS / FAULTY)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, FAULTY) == "ready", "plugin ready")
        screen.send(FAULTY, "echo", "{}")
        await wait_until(pilot, lambda: screen.shown_number == 1, "the first call")
        await app.workers.wait_for_complete()
        process = app.registry[FAULTY].process
        assert process is not None
        old_pid = process.pid

        # What the sampler sees across the restart (fed here: no sampler runs in tests).
        def card(t: float, plugin_gpu_bytes: int | None) -> TelemetrySample:
            plugins = {}
            if plugin_gpu_bytes is not None:
                plugins[FAULTY] = PluginUsage(13 * MIB, 0.0, plugin_gpu_bytes, 1)
            used_bytes = 600 * MIB + (plugin_gpu_bytes or 0)
            return TelemetrySample(t, (DeviceSample(0, "Demo", used_bytes, 24 * GIB, 0),), plugins)

        panel = screen.query_one(TelemetryPanel)
        now = time.time()
        panel.samples.append(card(now - 1, 4 * 1024))  # the old process
        panel.samples.append(card(now, None))  # stopped; the new one isn't watched yet
        panel.samples.append(card(now + 60, 8 * 1024))  # the new process, after the call
        screen.query_one(ExchangeTable).focus()
        await pilot.press("f6")  # restart and resend
        await wait_until(pilot, lambda: len(app.exchange_log) == 2, "the resent call")
        await app.workers.wait_for_complete()
        await pilot.pause()
        process = app.registry[FAULTY].process
        assert process is not None and process.pid != old_pid
        memory = screen.query_one(ExchangeTable).memory[2]
        assert (memory.gpu_before_bytes, memory.gpu_peak_bytes, memory.gpu_after_bytes) == (
            None,
            8 * 1024,
            8 * 1024,
        )


async def _cache_table_after_loads(
    pilot: Pilot[None], app: Any, model: str, keys: tuple[str, ...], mb: int
) -> Any:
    """The memory view's cache table once ``keys`` of ``model`` are loaded, ``mb`` MiB each."""
    screen = app.main_screen
    await wait_until(pilot, lambda: plugin_state(app, ALLOC) == "ready", "plugin ready")
    panel = screen.query_one(TelemetryPanel)
    await pilot.press("f8")
    for key in keys:
        screen.send(ALLOC, "load", f'{{"key": "{key}", "model": "{model}", "mb": {mb}}}')
    await wait_until(pilot, lambda: len(panel.tracker.events) == len(keys), "the loads")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return panel.cache_table


async def test_a_model_named_by_a_long_path_leaves_the_memory_columns_in_sight(
    tmp_path: Path,
) -> None:
    """A model loaded from a deep folder took the table's whole width: host Δ and GPU Δ
    were cut mid-unit ("+340 M") and the note was only reachable by scrolling sideways."""
    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    async with app.run_test(size=(140, 45)) as pilot:
        deep = "/srv/models/" + "/".join(["nested"] * 8) + "/tiny-gpt2"
        keys = ("text-generation:" + deep + ":cpu:float32", "twin")
        table = await _cache_table_after_loads(pilot, app, deep, keys, mb=8)
        row = [cell.plain for cell in table.get_row_at(1)]
        assert row[0].startswith("…") and row[0].endswith("/nested/tiny-gpt2 (twin)")
        assert row[8].startswith("also loaded")
        widths = [column.get_render_width(table) for column in table.ordered_columns]
        assert sum(widths) <= table.size.width  # every column, the note included, in sight
        # A sample with nothing new for the table leaves it as it is (it was rebuilt, its
        # columns too, once a second: the cursor and the scroll went back to the start).
        drawn = table.ordered_columns[0]
        table.show(ALLOC)
        assert table.ordered_columns[0] is drawn


async def test_a_short_model_name_leaves_its_room_to_the_note(tmp_path: Path) -> None:
    """The model column kept 20 characters for a model named `dup`, and the note naming its
    twin was cut to `also loaded as d…` with 17 columns empty beside it."""
    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    async with app.run_test(size=(140, 45)) as pilot:
        keys = ("dup-first-key", "dup-second-key")
        table = await _cache_table_after_loads(pilot, app, "dup", keys, mb=4)
        notes = [table.get_row_at(i)[8].plain for i in range(2)]
    # Whole parts of the note ("incl. imports", "likeliest of 2 calls": the two loads ran
    # before one query), never one cut mid-word.
    assert notes[0].startswith("also loaded as dup-second-key")
    assert notes[1].startswith("also loaded as dup-first-key")
    for note in notes:
        whole = note.removesuffix("…").split("; ")
        assert all(part.startswith(("also loaded", "incl.", "likeliest")) for part in whole)


async def test_a_models_answer_that_cannot_be_read_is_said_once(tmp_path: Path) -> None:
    """`{"loaded": 5}` was dropped without a word, and the table kept the models of the last
    answer it could read."""
    source = (
        'answers = iter([\'{"loaded": ["m"]}\'] + [\'{"loaded": 5}\'] * 10)\n'
        "def aro_plugin_info():\n    return {'actions': ['work', 'models']}\n"
        "def aro_action_work(input_json):\n    return '{}'\n"
        "def aro_action_models(input_json):\n    return next(answers)\n"
    )
    app = plugin_app(tmp_path, "bad-models", source)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, "bad-models") == "ready", "ready")
        screen.select_action("work")
        for _ in range(3):
            await pilot.press("ctrl+r")
            await app.workers.wait_for_complete()
            await pilot.pause()
        told = [n.message for n in app._notifications if "its models answer" in n.message]
    assert told == [
        "bad-models: its models answer: 'loaded' must be a list or an object, not a number"
    ]


_LOADS_AT_IMPORT = """
import json
WEIGHTS = bytearray(64 * 1024 * 1024)
for i in range(0, len(WEIGHTS), 4096):
    WEIGHTS[i] = 1

def aro_plugin_info():
    return {"name": "import-load", "actions": ["embed", "models"]}

def aro_action_embed(input_json):
    return json.dumps({"embedding": [0.5]})

def aro_action_models(input_json):
    return json.dumps({"loaded": ["weights"]})
"""


async def test_a_model_loaded_at_import_is_charged_to_the_start_not_the_first_call(
    tmp_path: Path,
) -> None:
    """The first call's query found the model the import had loaded and credited that call:
    a 1 ms embed "loaded" 64 MiB, with an "incl. imports" note."""
    app = plugin_app(tmp_path, "import-load", _LOADS_AT_IMPORT)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        panel = screen.query_one(TelemetryPanel)
        await wait_until(pilot, lambda: len(panel.tracker.events) == 1, "the start's load")
        (event,) = panel.tracker.events.snapshot()
        assert (event.kind, event.key, event.action, event.exchange_id) == (
            "load",
            "weights",
            "<start>",
            0,
        )
        assert event.host_delta_bytes is not None and event.host_delta_bytes > 64 * MIB
        await pilot.press("f8")
        await pilot.pause()
        row = [cell.plain for cell in panel.cache_table.get_row_at(0)]
        assert row[0] == "weights" and row[5] == "start" and row[-1] == "whole start"
        screen.send("import-load", "embed", "{}")
        await wait_until(pilot, lambda: len(app.exchange_log) >= 3, "the call and its query")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(panel.tracker.events) == 1  # the call loaded nothing
        assert _row_actions(screen.query_one(ExchangeTable)) == ["embed"]
        # One query at the start and one after the call, no more.
        assert [e.action for e in app.exchange_log.entries] == ["models", "embed", "models"]


async def test_a_model_under_another_key_is_named_with_it_and_its_twins_are_current(
    tmp_path: Path,
) -> None:
    """Key c for model b showed as `b`, and after key b was unloaded its note still read
    `also loaded as b`: the table looked as if b were loaded."""
    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    async with app.run_test(size=(140, 45)) as pilot:
        table = await _cache_table_after_loads(pilot, app, "b", ("b", "c"), mb=2)
        rows = [[cell.plain for cell in table.get_row_at(i)] for i in range(2)]
        assert [row[0] for row in rows] == ["b", "b (c)"]
        assert rows[1][8].startswith("also loaded as b")
        panel = app.main_screen.query_one(TelemetryPanel)
        app.main_screen.send(ALLOC, "unload", '{"key": "b"}')
        await wait_until(pilot, lambda: len(panel.tracker.events) == 3, "the unload")
        await app.workers.wait_for_complete()
        await pilot.pause()
        (row,) = [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]
    assert row[0] == "b (c)" and "also loaded" not in row[8]


async def test_w_widens_the_charts_window_and_the_title_says_whose_and_how_long(
    tmp_path: Path,
) -> None:
    """The chart showed the last 120 s only, with no way to see further back though an hour
    is kept; and with two plugins, nothing said whose lines it drew."""
    from aro_tui.ui.widgets.telemetry.chart import format_offset

    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, ALLOC) == "ready", "plugin ready")
        panel = app.main_screen.query_one(TelemetryPanel)
        await pilot.press("w")  # hidden: says so, changes nothing
        assert panel.chart.window_s == 120
        await pilot.press("f8")
        title = str(panel.border_title)
        assert title == f"Memory of {ALLOC} · last 2 min (w) · calls · model cache"
        windows = []
        for _ in range(4):
            await pilot.press("w")
            windows.append((panel.chart.window_s, str(panel.border_title).split(" · ")[1]))
        # A plugin name far too long for the title leaves the window in sight.
        panel.show_plugin("x" * 320)
        assert str(panel.border_title).endswith("… · last 2 min (w) · calls · model cache")
        assert len(str(panel.border_title)) < 100
    assert windows == [
        (600, "last 10 min (w)"),
        (1800, "last 30 min (w)"),
        (3600, "last 1 h (w)"),
        (120, "last 2 min (w)"),
    ]
    # The labels of a window of minutes are in minutes.
    assert [format_offset(s, in_minutes=True) for s in (600, 450, 150, 0)] == [
        "-10m",
        "-7m30s",
        "-2m30s",
        "now",
    ]
    assert [format_offset(s) for s in (120, 90)] == ["-120s", "-90s"]


async def test_an_export_holds_the_gpu_figures_and_the_cache_events_of_its_call(
    tmp_path: Path,
) -> None:
    """ctrl+o wrote the host figures only: no GPU before/peak/after though the log showed
    them, and nothing of the model the call loaded."""
    import orjson

    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    app.config = replace(app.config, deterministic=False, demo_gpu=True, sample_interval_s=0.1)
    async with app.run_test(size=(140, 45)) as pilot:
        await _cache_table_after_loads(pilot, app, "weights", ("weights",), mb=8)
        (number,) = [e.number for e in app.exchange_log.entries if e.action == "load"]
        samples = app.main_screen.query_one(TelemetryPanel).samples
        loaded_t = time.time()

        def sampled_since() -> bool:
            latest = samples.latest()
            return latest is not None and latest.t > loaded_t

        await wait_until(pilot, sampled_since, "a sample after the load")
        document = orjson.loads(app.main_screen.export_document(number))
        others = [e.number for e in app.exchange_log.entries if e.action != "load"]
        other = orjson.loads(app.main_screen.export_document(others[0]))
    assert [(e["kind"], e["entry"]["key"]) for e in document["cache_events"]] == [
        ("load", "weights")
    ]
    assert document["gpu_after_bytes"] is not None and document["gpu_before_bytes"] is not None
    assert other["cache_events"] == []


async def test_thousands_of_models_are_counted_past_a_cap_and_built_once(tmp_path: Path) -> None:
    """A plugin listing 5,000 models froze the dashboard: the table compared every model with
    every other on each sample (1.9 s a second), and keys went unread for minutes."""
    app = make_app(tmp_path, TEST_PLUGINS / ALLOC)
    async with app.run_test(size=(140, 45)) as pilot:
        await wait_until(pilot, lambda: plugin_state(app, ALLOC) == "ready", "plugin ready")
        panel = app.main_screen.query_one(TelemetryPanel)
        await pilot.press("f8")
        details = [
            {"key": f"k{i}", "model": f"org/model-{i % 2500}", "memory_bytes": i}
            for i in range(5000)
        ]
        panel.tracker.update(ALLOC, {"loaded": [d["key"] for d in details], "details": details})
        table = panel.cache_table
        table.show(ALLOC)
        await pilot.pause()
        assert table.row_count == 501
        assert table.get_row_at(500)[0].plain == "… and 4,500 more models"
        first = [cell.plain for cell in table.get_row_at(0)]
        assert first[0] == "org/model-0 (k0)" and first[8].startswith("also loaded as k2500")
        built = table._built
        table.show(ALLOC)  # a sample, nothing new: not built again
        assert table._built is built
