"""Runtime notes: where the public ARO runtime would have handled a call differently.

The facts (printed bytes, sizes, stderr volume) come from real plugin processes; the timing
rules are checked on exchange records built by hand, since no test should wait 30 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from plugin_launch import launch_test_plugin

from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.process import PluginProcess
from aro_tui.core.runtime_notes import RuntimeContext, runtime_notes

IMPORT_PRINT = "faulty: printed at import\n"


@pytest.fixture
async def faulty() -> AsyncIterator[PluginProcess]:
    plugin = PluginProcess(launch_test_plugin("faulty"))
    await plugin.start()
    yield plugin
    await plugin.stop()


def _codes(exchange: Exchange) -> list[str]:
    return [note.code for note in exchange.runtime_notes]  # filled by the host


async def test_print_to_stdout_is_counted_per_call_and_at_import(faulty: PluginProcess) -> None:
    assert faulty.import_printed_bytes == len(IMPORT_PRINT)
    chatty = await faulty.call("chatty", '{"tag": "é"}')
    # print() goes through sys.stdout and is counted (UTF-8 bytes); os.write(1) and
    # sys.stderr are not: they would not have corrupted the chapter's answer the same way.
    assert chatty.printed_bytes == len("python print é\n".encode())
    assert chatty.stderr_line_count == 3
    quiet = await faulty.call("echo", "{}")
    assert quiet.printed_bytes == 0
    [note] = chatty.runtime_notes
    assert note.code == "printed-to-stdout"
    assert f"{len(IMPORT_PRINT)} B at import and 16 B during the call" in note.text
    # The import prints alone still reach every runtime answer (one process per call).
    [note] = quiet.runtime_notes
    assert "26 B at import (which runs for every call) to stdout" in note.text


async def test_output_past_the_pipe_buffer_would_hang_the_runtime() -> None:
    plugin = PluginProcess(launch_test_plugin("noop"))
    await plugin.start()
    try:
        small = await plugin.call("echo", '{"data": "%s"}' % ("x" * 60_000))
        large = await plugin.call("echo", '{"data": "%s"}' % ("x" * 70_000))
    finally:
        await plugin.stop()
    assert _codes(small) == []
    assert _codes(large) == ["stdout-fills-pipe"]
    [note] = large.runtime_notes
    assert "68.4 KiB on stdout" in note.text and "30 s timeout" in note.text


async def test_stderr_past_the_pipe_buffer_would_hang_the_runtime(faulty: PluginProcess) -> None:
    flood = await faulty.call("flood", '{"bytes": 200000}')
    assert flood.status is ExchangeStatus.OK
    codes = _codes(flood)
    assert "stderr-fills-pipe" in codes and "stdout-fills-pipe" not in codes


async def test_an_input_too_large_for_one_argument_is_flagged(faulty: PluginProcess) -> None:
    fits = await faulty.call("size", '{"data": "%s"}' % ("x" * 90_000))
    too_large = await faulty.call("size", '{"data": "%s"}' % ("x" * 100_000))
    assert "input-too-large" not in _codes(fits)
    assert "input-too-large" in _codes(too_large)
    # The input reached the plugin here: the note is about the runtime only.
    assert too_large.status is ExchangeStatus.OK


def _answered(action_s: float) -> Exchange:
    exchange = Exchange(1, "p", "a", b"{}", status=ExchangeStatus.OK, response_bytes=b"{}")
    exchange.action_duration_s = action_s
    return exchange


@pytest.mark.parametrize(
    ("cold_start_s", "action_s", "flagged"),
    [
        (None, 29.0, False),
        (None, 31.0, True),  # the action alone is over the runtime's limit
        (12.0, 25.0, True),  # each runtime call imports the plugin again first
        (2.0, 25.0, False),
    ],
)
def test_calls_over_the_runtime_timeout_are_flagged(
    cold_start_s: float | None, action_s: float, flagged: bool
) -> None:
    notes = runtime_notes(_answered(action_s), RuntimeContext(cold_start_s=cold_start_s))
    assert [note.code for note in notes] == (["over-runtime-timeout"] if flagged else [])


def test_unanswered_calls_get_only_the_input_note() -> None:
    crashed = Exchange(1, "p", "a", b"x" * 200_000, status=ExchangeStatus.CRASHED)
    crashed.action_duration_s = 40.0
    crashed.stderr_bytes = 1_000_000
    notes = runtime_notes(crashed, RuntimeContext(import_printed_bytes=10))
    assert [note.code for note in notes] == ["input-too-large"]


def test_the_quick_check_for_common_calls_never_hides_a_note() -> None:
    """Calls the host finishes skip the note arithmetic when they are far from every limit;
    at and around each limit the full computation must still run."""
    from itertools import product

    from aro_tui.core.runtime_notes import _all_notes, _unremarkable

    long_dir = "/p" * 2048  # a PATH_MAX-long source folder
    checked = skipped = 0
    for request, response, stderr, printed, at_import, action_s, cold_s in product(
        (0, 60 * 1024, 64 * 1024 - 1, 96 * 1024),
        (None, 0, 32 * 1024 - 1, 64 * 1024),
        (0, 32 * 1024 - 1, 64 * 1024 + 1),
        (0, 1),
        (0, 1),
        (None, 0.001, 29.9, 30.0, 31.0),
        (None, 0.1, 29.95),
    ):
        exchange = Exchange(1, "p", "a", b"x" * request, status=ExchangeStatus.OK)
        exchange.response_bytes = None if response is None else b"r" * response
        exchange.stderr_bytes = stderr
        exchange.printed_bytes = printed
        exchange.action_duration_s = action_s
        context = RuntimeContext(long_dir, cold_s, at_import)
        checked += 1
        if _unremarkable(exchange, context):
            skipped += 1
            assert _all_notes(exchange, context) == (), (request, response, stderr, action_s)
        assert runtime_notes(exchange, context) == _all_notes(exchange, context)
    assert 0 < skipped < checked


NAMES_PLUGIN = """\
import json
def aro_plugin_info():
    return {"name": "names", "version": "1.0.0",
            "actions": ["toHtml", "ExtractURLs", "to-text", "info", "camelOnly", "ghostX"]}
def aro_action_toHtml(input_json): return json.dumps({"html": "<p/>"})
def aro_action_ExtractURLs(input_json): return json.dumps({"by": "the chapter's rule"})
def aro_action_extract_u_r_ls(input_json): return json.dumps({"by": "the runtime's rule"})
def aro_action_to_text(input_json): return "{}"
def aro_action_info(input_json): return "{}"
def aro_action_hidden(input_json): return "{}"
def aro_action_camel_only(input_json): return "{}"
def aro_action_hidden_x(input_json): return "{}"
"""


async def test_actions_the_runtime_names_otherwise_or_does_not_know_are_flagged(
    tmp_path: Path,
) -> None:
    """An author saw `toHtml` answer here and fail under the runtime (it calls
    aro_action_to_html), and an undeclared action work here that the runtime does not know."""
    (tmp_path / "plugin.py").write_text(NAMES_PLUGIN)
    plugin = PluginProcess(
        launch_test_plugin("names", module_path=tmp_path / "plugin.py", source_dir=tmp_path)
    )
    await plugin.start()
    try:
        answers = {a: await plugin.call(a, "{}") for a in ("toHtml", "ExtractURLs", "hidden")}
        for action in ("to-text", "info", "extract_u_r_ls", "camelOnly", "ghostX", "hidden-x"):
            answers[action] = await plugin.call(action, "{}")
    finally:
        await plugin.stop()
    failing = {"camelOnly", "ghostX"}  # no aro_action_camelOnly / aro_action_ghostX here
    assert all(e.status is ExchangeStatus.OK for a, e in answers.items() if a not in failing)
    assert answers["ExtractURLs"].response_bytes == b'{"by": "the chapter\'s rule"}'
    assert {a: _codes(e) for a, e in answers.items()} == {
        "toHtml": ["action-not-reached"],
        "ExtractURLs": ["action-not-reached"],
        "hidden": ["action-not-reached"],
        "to-text": [],  # both rules: aro_action_to_text
        "info": [],
        "extract_u_r_ls": ["action-not-reached"],  # undeclared, though the runtime's function
        "camelOnly": ["action-not-reached"],  # Unknown action here, aro_action_camel_only there
        "ghostX": [],  # no function under either rule: Unknown action both ways
        "hidden-x": ["action-not-reached"],  # undeclared under any spelling (ran hidden_x)
    }
    (to_html,) = answers["toHtml"].runtime_notes
    assert "looks for aro_action_to_html(), which the module does not define" in to_html.text
    (extract,) = answers["ExtractURLs"].runtime_notes
    assert "calls aro_action_extract_u_r_ls(), not aro_action_ExtractURLs()" in extract.text
    (hidden,) = answers["hidden"].runtime_notes
    assert "aro_plugin_info() does not declare it" in hidden.text
    # A function that does not exist here never "runs here" (it said so once).
    (camel,) = answers["camelOnly"].runtime_notes
    assert "would run aro_action_camel_only()" in camel.text
    assert "it answers Unknown action (the module defines no aro_action_camelOnly())" in camel.text
    (dashed,) = answers["hidden-x"].runtime_notes
    assert dashed.text.endswith("(aro_action_hidden_x() runs here)")


async def test_a_plugin_whose_info_lists_nothing_gets_no_note_per_action(tmp_path: Path) -> None:
    """The runtime then knows no action at all; the plugin-wide info note says so once."""
    (tmp_path / "plugin.py").write_text(
        "def aro_plugin_info():\n    raise RuntimeError('no')\n"
        "def aro_action_toHtml(input_json):\n    return '{}'\n"
    )
    plugin = PluginProcess(
        launch_test_plugin("names", module_path=tmp_path / "plugin.py", source_dir=tmp_path)
    )
    await plugin.start()
    try:
        exchange = await plugin.call("toHtml", "{}")
    finally:
        await plugin.stop()
    assert exchange.status is ExchangeStatus.OK and _codes(exchange) == []


async def test_answers_that_are_not_json_text_would_be_plain_text_results(
    faulty: PluginProcess,
) -> None:
    """A dict returned, or text that is not JSON, is a protocol error here; the runtime's
    driver print()s it and takes the text as the result, which the author must be told."""
    for action in ("returns_dict", "not_json"):
        exchange = await faulty.call(action, "{}")
        assert exchange.status is ExchangeStatus.PROTOCOL_ERROR
        assert "plain-text-result" in _codes(exchange), action
    for action in ("error", "bad_utf8"):  # a real error there too; bytes ARO cannot read
        assert "plain-text-result" not in _codes(await faulty.call(action, "{}")), action


def test_a_qualifier_gets_no_note_about_the_action_driver() -> None:
    """ARO applies a qualifier otherwise than it runs an action: "print()s whatever the
    action returns" was a prediction with no ground for a qualifier."""
    exchange = Exchange(1, "q", "qualifier:reverse", b"{}")
    exchange.status = ExchangeStatus.PROTOCOL_ERROR
    exchange.error = "action returned dict, expected str (JSON text): {}"
    context = RuntimeContext("/p", None, 0)
    assert "plain-text-result" not in [n.code for n in runtime_notes(exchange, context)]
    exchange.action = "reverse"
    assert "plain-text-result" in [n.code for n in runtime_notes(exchange, context)]
