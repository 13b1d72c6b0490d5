"""Exports: the JSON documents, and the ``aro-tui call`` command line run through a real shell."""

from __future__ import annotations

import asyncio
import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from session_recording import BUNDLED, FAULTY, launch_for

from aro_tui.core.exchange_log import ExchangeLog
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.host.plugin_host import PluginHost
from aro_tui.core.runtime_notes import RuntimeNote
from aro_tui.core.session.export import (
    call_command_line,
    exchange_to_json,
    log_to_json,
    write_log_json,
)
from aro_tui.ui.comparison import exchange_from_log

PROGRAM = (sys.executable, "-m", "aro_tui")
TRICKY_INPUTS = [
    '{"text": "it\'s \\"quoted\\""}',
    '{"text": "line one\\nline two"}',
    '{\n  "text": "a real newline in the JSON text",\n  "x": 1\n}',
    '{"text": "caf\u00e9 \u65e5\u672c \U0001f600 $HOME `id` $(id) ; | & > *"}',
    '{"text": "\\\\ back\\\\slash \' \\" \\t"}',
    "-1",
    "[]",
]


def _exchange(request: bytes = b'{"a": 1}') -> Exchange:
    exchange = Exchange(7, "plugin-python-text", "hash", request, started_at=1_700_000_000.0)
    exchange.status = ExchangeStatus.OK
    exchange.response_bytes = b'{"hash": "x"}'
    exchange.head_monotonic_s, exchange.finished_monotonic_s = 1.0, 1.002
    exchange.stderr_lines.append("a line")
    exchange.stderr_line_count = 1
    return exchange


def test_exchange_document() -> None:
    document = exchange_to_json(_exchange())
    assert list(document)[:6] == ["schema", "number", "id", "plugin", "action", "status"]
    assert document["number"] is None, "not from the log: no log number"
    assert document["schema"] == "aro-tui/exchange/1"
    assert document["request"] == '{"a": 1}' and document["request_encoding"] == "utf-8"
    assert document["response"] == '{"hash": "x"}'
    assert document["duration_ms"] == pytest.approx(2.0)
    assert document["stderr_tail"] == ["a line"]
    assert document["printed_bytes"] == 0 and document["runtime_notes"] == []
    json.dumps(document)  # JSON-ready


def test_exchange_document_carries_runtime_notes() -> None:
    exchange = _exchange()
    exchange.printed_bytes = 12
    exchange.runtime_notes = (RuntimeNote("printed-to-stdout", "ARO runtime: ..."),)
    document = exchange_to_json(exchange)
    assert document["printed_bytes"] == 12
    assert document["runtime_notes"] == [{"code": "printed-to-stdout", "text": "ARO runtime: ..."}]


def _finished_live(request_id: int) -> Exchange:
    """An exchange as the host ends one that waited behind another and printed."""
    exchange = _exchange()
    exchange.id = request_id
    exchange.sent_monotonic_s, exchange.head_monotonic_s = 100.0, 102.2133
    exchange.finished_monotonic_s = 102.213367
    exchange.action_duration_s = 0.000083
    exchange.stderr_bytes, exchange.printed_bytes = 40, 26
    exchange.traceback = "Traceback ..."
    exchange.rss_before_bytes, exchange.rss_after_bytes = 1 << 20, 2 << 20
    exchange.runtime_notes = (RuntimeNote("printed-to-stdout", "ARO runtime: printed 26 B"),)
    return exchange


def test_an_exchange_read_back_from_the_log_exports_as_it_was_live(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path)
    live = [_finished_live(1), _finished_live(1), _finished_live(2)]  # two plugins' ids
    log.add_many(live)
    expected = [{**exchange_to_json(e), "number": n} for n, e in enumerate(live, start=1)]
    pending = [exchange_to_json(exchange_from_log(log, n)) for n in (1, 2, 3)]
    log.flush()
    on_disk = [exchange_to_json(exchange_from_log(log, n)) for n in (1, 2, 3)]
    log.close()
    assert pending == on_disk == expected
    first = on_disk[0]
    assert (first["number"], first["id"]) == (1, 1) and on_disk[2]["id"] == 2
    assert first["action_ms"] == 0.083
    assert (first["latency_ms"], first["duration_ms"]) == (2213.367, 0.067)
    assert first["printed_bytes"] == 26 and first["runtime_notes"][0]["code"] == "printed-to-stdout"


def test_a_streamed_log_export_numbers_the_exchanges_as_the_log_does(tmp_path: Path) -> None:
    log = ExchangeLog(tmp_path)
    log.add_many([_finished_live(1), _finished_live(1), _finished_live(2)])
    out = io.BytesIO()
    write_log_json((exchange_from_log(log, n) for n in (2, 3)), 2, out)
    log.close()
    exported = json.loads(out.getvalue())["exchanges"]
    assert [(e["number"], e["id"]) for e in exported] == [(2, 1), (3, 2)]


def test_bodies_that_are_not_utf8_are_base64() -> None:
    exchange = _exchange()
    exchange.response_bytes = b"\xff\x00"
    document = exchange_to_json(exchange)
    assert (document["response"], document["response_encoding"]) == ("/wA=", "base64")


def test_log_document_keeps_order() -> None:
    first, second = _exchange(b"[1]"), _exchange(b"[2]")
    document = log_to_json([first, second])
    assert document["schema"] == "aro-tui/exchange-log/1" and document["count"] == 2
    assert [entry["request"] for entry in document["exchanges"]] == ["[1]", "[2]"]
    assert "schema" not in document["exchanges"][0]


@pytest.mark.parametrize("count", [0, 1, 3])
def test_a_streamed_log_export_is_the_same_document_byte_for_byte(count: int) -> None:
    exchanges = [_exchange(json.dumps({"n": n, "text": "a\nb"}).encode()) for n in range(count)]
    if count:
        exchanges[-1].response_bytes = b"\xff\x00 not UTF-8"  # a base64 body
        exchanges[0].response_bytes = b'{\n  "pretty": [1, 2],\n  "s": "x\\ny"\n}'
    out = io.BytesIO()
    size = write_log_json(exchanges, count, out)
    expected = orjson.dumps(log_to_json(exchanges), option=orjson.OPT_INDENT_2)
    assert out.getvalue() == expected and size == len(expected)
    assert json.loads(out.getvalue())["count"] == count


def test_a_streamed_log_export_checks_the_count_it_announced() -> None:
    with pytest.raises(ValueError, match="1 exchanges written, 2 announced"):
        write_log_json([_exchange()], 2, io.BytesIO())


def test_command_line_refuses_what_no_shell_argument_can_carry() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        call_command_line(_exchange(b"\xff"), None)
    with pytest.raises(ValueError, match="NUL"):
        call_command_line(_exchange(b'"\x00"'), None)


def test_command_line_shape() -> None:
    line = call_command_line(_exchange(), Path("/my plugins"), python=Path("/py"))
    assert shlex.split(line) == [
        "aro-tui", "call", "--plugins-dir", "/my plugins", "--python", "/py",
        "--", "plugin-python-text", "hash", '{"a": 1}',
    ]  # fmt: skip


async def _record(inputs: list[str]) -> list[Exchange]:
    host = PluginHost()
    try:
        plugin = host.add(launch_for("faulty", FAULTY.parent))
        return [await plugin.call("echo", text) for text in inputs]
    finally:
        await host.stop_all()


def test_copied_command_line_reproduces_the_response_in_bash() -> None:
    exchanges = asyncio.run(_record(TRICKY_INPUTS))
    for exchange in exchanges:
        assert exchange.status is ExchangeStatus.OK
        line = call_command_line(exchange, FAULTY.parent, program=PROGRAM)
        result = subprocess.run(
            ["bash", "-c", line], capture_output=True, check=False, cwd=BUNDLED.parent
        )
        assert result.returncode == 0, (line, result.stderr)
        assert result.stdout.rstrip(b"\n") == exchange.response_bytes
        assert orjson.loads(result.stdout) == orjson.loads(exchange.request_bytes)


def test_a_rerun_that_did_not_answer_is_summed_up_by_its_own_status() -> None:
    """The compare view called a cancelled rerun "crashed"."""
    from aro_tui.core.exchange_log import ExchangeLog
    from aro_tui.ui.comparison import compare_logged

    log = ExchangeLog()
    logged = Exchange(1, "faulty", "hang", b"{}")
    logged.status, logged.response_bytes = ExchangeStatus.OK, b'{"slept": true}'
    (entry,) = log.add_many([logged])
    for status in (ExchangeStatus.CANCELLED, ExchangeStatus.TIMEOUT, ExchangeStatus.CRASHED):
        rerun = Exchange(2, "faulty", "hang", b"{}")
        rerun.status, rerun.error = status, "why"
        comparison = compare_logged(entry, logged.response_bytes, rerun)
        assert (comparison.outcome, comparison.problem) == (str(status), f"{status}: why")
    log.close()


def test_the_compare_view_counts_a_known_failure_as_equal_and_skips_a_cancelled_call() -> None:
    """As `aro-tui replay` does: a logged crash that happens again the same way is no new
    regression, and a call logged as cancelled has no answer to compare (not rerun)."""
    from aro_tui.ui.comparison import compare_logged, skipped

    log = ExchangeLog()
    crashed = Exchange(1, "faulty", "os-exit", b"{}")
    crashed.status, crashed.exit_code = ExchangeStatus.CRASHED, 5
    cancelled = Exchange(2, "faulty", "hang", b"{}")
    cancelled.status = ExchangeStatus.CANCELLED
    crashed_entry, cancelled_entry = log.add_many([crashed, cancelled])
    for exit_code, outcome in ((5, "equal"), (3, "crashed")):
        rerun = Exchange(3, "faulty", "os-exit", b"{}")
        rerun.status, rerun.exit_code, rerun.error = ExchangeStatus.CRASHED, exit_code, "exit"
        comparison = compare_logged(crashed_entry, None, rerun)
        assert comparison.outcome == outcome, exit_code
    assert compare_logged(crashed_entry, None, rerun).problem == "crashed: exit"
    assert skipped(crashed_entry) is None
    not_rerun = skipped(cancelled_entry)
    assert not_rerun is not None and not_rerun.outcome == "skipped"
    assert not_rerun.problem == "recorded as cancelled: no answer to compare"
    log.close()


def test_a_compared_rerun_reports_the_time_the_log_shows() -> None:
    """The log's time column is the action's own time; the compare view showed round trips."""
    from aro_tui.core.exchange_log import ExchangeLog
    from aro_tui.ui.comparison import compare_logged

    log = ExchangeLog()
    logged = Exchange(1, "faulty", "echo", b"{}")
    logged.status, logged.response_bytes = ExchangeStatus.OK, b"{}"
    logged.sent_monotonic_s = logged.head_monotonic_s = 10.0
    logged.finished_monotonic_s, logged.action_duration_s = 10.5, 0.2
    (entry,) = log.add_many([logged])
    rerun = Exchange(2, "faulty", "echo", b"{}")
    rerun.status, rerun.response_bytes = ExchangeStatus.OK, b"{}"
    rerun.sent_monotonic_s = rerun.head_monotonic_s = 20.0
    rerun.finished_monotonic_s, rerun.action_duration_s = 20.9, 0.3
    comparison = compare_logged(entry, logged.response_bytes, rerun)
    assert entry.shown_duration_ms == pytest.approx(200)
    assert comparison.old_duration_ms == pytest.approx(200)
    assert comparison.new_duration_ms == pytest.approx(300)
    log.close()


def test_a_request_too_long_for_one_argument_is_copied_as_a_here_document() -> None:
    """A 131 KB request was copied as one argument, and bash answered "Argument list too
    long" (Linux takes 128 KiB per argument)."""
    pretty = '{\n"blob": "%s",\n"q": "it\'s $HOME `id`"\n}' % ("z" * 131_100)
    stop_line = '{"blob": "%s",\n"k":\n1}\nARO_INPUT_0' % ("y" * 140_000)  # delimiter taken
    exchanges = asyncio.run(_record([pretty, stop_line.removesuffix("\nARO_INPUT_0")]))
    for exchange in exchanges:
        line = call_command_line(exchange, FAULTY.parent, program=PROGRAM)
        assert " - <<'ARO_INPUT_" in line.splitlines()[0]
        result = subprocess.run(["bash"], input=line.encode(), capture_output=True, check=False)
        assert result.returncode == 0, result.stderr[-500:]
        assert orjson.loads(result.stdout) == orjson.loads(exchange.request_bytes)
    taken = _exchange(stop_line.encode())
    assert call_command_line(taken, None).endswith("\nARO_INPUT_0\nARO_INPUT_1")


def test_the_command_line_names_folders_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dashboard started with `aro-tui ../plugins` copied `--plugins-dir ../plugins`, which
    failed when pasted in another folder."""
    monkeypatch.chdir(tmp_path)
    line = call_command_line(_exchange(), Path("../plugins"), python=Path("venv/bin/python"))
    assert f"--plugins-dir {tmp_path / '..' / 'plugins'} " in line
    assert f"--python {tmp_path / 'venv' / 'bin' / 'python'}" in line
    assert "--python python3 " in call_command_line(_exchange(), None, python=Path("python3"))
