"""``aro-tui replay``: real sessions rerun against real plugins, as a CI regression check."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from session_recording import (
    BUNDLED,
    FAULTY,
    TEXT,
    launch_for,
    record_fake_exchanges,
    record_session,
)

from aro_tui.cli import main
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.session.reader import read_session
from aro_tui.core.session.recorder import SessionRecorder

TEST_PLUGINS = FAULTY.parent

CALLS = [
    (TEXT, "analyze", '{"text": "one two. three four!"}'),
    (TEXT, "hash", '{"text": "caf\\u00e9", "algorithm": "sha1"}'),
    (TEXT, "analyze", "{}"),
]


@pytest.fixture(scope="module")
def session_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_session(tmp_path_factory.mktemp("sessions"), CALLS)


def _modified_plugin(tmp_path: Path) -> Path:
    """A copy of the text plugin whose ``analyze`` counts one word too many."""
    plugins = tmp_path / "Plugins"
    shutil.copytree(BUNDLED / TEXT, plugins / TEXT)
    source = plugins / TEXT / "src" / "plugin.py"
    text = source.read_text()
    assert '"words": len(words),' in text
    source.write_text(text.replace('"words": len(words),', '"words": len(words) + 1,'))
    return plugins


def test_replay_against_the_same_plugin_is_equal(
    session_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(session_path)]) == 0
    out = capsys.readouterr().out
    assert "#1 plugin-python-text analyze: equal" in out
    assert "#3 plugin-python-text analyze: equal" in out
    assert "time " in out and "memory after" in out
    assert "Summary: 3 equal, 0 different, 0 crashed, 0 missing; exit status 0" in out


def test_replay_against_a_changed_plugin_names_the_changed_path(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = _modified_plugin(tmp_path)
    assert main(["replay", str(session_path), "--plugins-dir", str(plugins)]) == 1
    out = capsys.readouterr().out
    assert "#1 plugin-python-text analyze: different" in out
    assert "~ $.words: 4 → 5" in out
    assert "#2 plugin-python-text hash: equal" in out


def test_json_output_and_one_exchange(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = _modified_plugin(tmp_path)
    args = ["replay", str(session_path), "--plugins-dir", str(plugins), "--exchange", "1"]
    assert main([*args, "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "aro-tui/replay/1"
    assert document["exit_code"] == 1
    assert document["summary"] == {
        "equal": 0, "different": 1, "crashed": 0, "missing": 0, "skipped": 0
    }  # fmt: skip
    [result] = document["results"]
    assert result["number"] == 1 and result["outcome"] == "different"
    assert result["diff"] == [{"path": "$.words", "kind": "changed", "old": 4, "new": 5}]
    assert result["old_status"] == result["new_status"] == "ok"
    assert isinstance(result["new_duration_ms"], float)
    assert isinstance(result["new_rss_after_bytes"], int)


def test_ignored_paths_make_a_changed_field_pass(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugins = _modified_plugin(tmp_path)
    args = ["replay", str(session_path), "--plugins-dir", str(plugins)]
    assert main([*args, "--ignore", "$..words"]) == 0
    assert "exit status 0" in capsys.readouterr().out


def test_a_missing_plugin_exits_3(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["replay", str(session_path), "--plugins-dir", str(tmp_path / "empty")]) == 3
    out = capsys.readouterr().out
    assert out.count(": missing") == 3
    assert "Summary: 0 equal, 0 different, 0 crashed, 3 missing; exit status 3" in out


def test_a_plugin_that_crashes_now_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = [("faulty", "crash-if", '{"crash": false}')]
    session = record_session(tmp_path / "s", calls, plugins_dir=FAULTY.parent)
    assert main(["replay", str(session)]) == 0
    capsys.readouterr()
    plugins = tmp_path / "Plugins"
    shutil.copytree(FAULTY, plugins / "faulty")
    source = plugins / "faulty" / "src" / "plugin.py"
    source.write_text(source.read_text() + "\n\ndef aro_action_crash_if(input_json):\n"
                      "    import os\n    os._exit(7)\n")  # fmt: skip
    assert main(["replay", str(session), "--plugins-dir", str(plugins)]) == 3
    assert "crash-if: crashed" in capsys.readouterr().out


def test_a_crash_now_says_crashed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It read "#1 faulty crash-if: crashed: crashed: plugin exited with code 5 during the
    call" (a timeout reads "crashed: timeout: …", which says something)."""
    calls = [("faulty", "crash-if", '{"crash": false}')]
    session = record_session(tmp_path / "s", calls, plugins_dir=FAULTY.parent)
    plugins = tmp_path / "Plugins"
    shutil.copytree(FAULTY, plugins / "faulty")
    source = plugins / "faulty" / "src" / "plugin.py"
    source.write_text(source.read_text().replace('.get("crash")', ".get") + "\n")
    assert main(["replay", str(session), "--plugins-dir", str(plugins)]) == 3
    out = capsys.readouterr().out
    assert (
        "#1 faulty crash-if: crashed (status ok → crashed): plugin exited with code 5 during "
        "the call\n"
    ) in out
    assert main(["replay", str(session), "--plugins-dir", str(plugins), "--json"]) == 3
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert (result["outcome"], result["new_status"]) == ("crashed", "crashed")
    assert result["problem"] == "plugin exited with code 5 during the call"


def test_a_recorded_crash_that_happens_again_is_equal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A golden recording of a crash (exit code 5) failed CI every time with exit 3."""
    calls = [("faulty", "os-exit", "{}")]
    session = record_session(tmp_path / "s", calls, plugins_dir=FAULTY.parent)
    assert main(["replay", str(session)]) == 0
    out = capsys.readouterr().out
    assert "#1 faulty os-exit: equal: crashed again, as recorded (exit code 5)\n" in out
    assert "Summary: 1 equal, 0 different, 0 crashed, 0 missing; exit status 0" in out
    assert main(["replay", str(session), "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert (result["outcome"], result["old_status"], result["new_status"]) == (
        "equal", "crashed", "crashed"
    )  # fmt: skip
    assert (result["note"], result["problem"]) == ("crashed again, as recorded (exit code 5)", None)


def test_a_recorded_crash_with_another_exit_code_now_stays_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = [("faulty", "os-exit", "{}")]
    session = record_session(tmp_path / "s", calls, plugins_dir=FAULTY.parent)
    plugins = tmp_path / "Plugins"
    shutil.copytree(FAULTY, plugins / "faulty")
    source = plugins / "faulty" / "src" / "plugin.py"
    source.write_text(source.read_text().replace("os._exit(5)", "os._exit(6)"))
    assert main(["replay", str(session), "--plugins-dir", str(plugins)]) == 3
    out = capsys.readouterr().out
    assert "#1 faulty os-exit: crashed: plugin exited with code 6 during the call; " in out
    assert "recorded: plugin exited with code 5 during the call" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--exchange", "9"], "no exchange 9 (known: 1–3)"),
        (["--ignore", "words"], "must start with $"),
        (["--ignore", "$"], "'$' is the whole response, which would hide every difference"),
        (["--rel-tol", "-1"], "--rel-tol"),
    ],
)
def test_usage_errors_exit_2(
    session_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(session_path), *extra]) == 2
    assert message in capsys.readouterr().err


def test_unknown_session_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "nope", "--sessions-dir", str(tmp_path)]) == 2
    assert "no session 'nope'" in capsys.readouterr().err


async def _record_with_a_cache_query(recorder: SessionRecorder) -> None:
    """A user call, then the model-cache query the dashboard makes after it."""
    from aro_tui.core.host.plugin_host import PluginHost
    from aro_tui.core.telemetry.cache_records import cache_event_to_json
    from aro_tui.core.telemetry.model_cache import ModelCacheTracker, refresh_model_cache

    tracker = ModelCacheTracker()
    recorder.is_internal = lambda e: tracker.is_internal(e.plugin, e.id)  # as the dashboard does
    host = PluginHost(recorder.observer())
    try:
        plugin = host.add(launch_for("telemetry-alloc", TEST_PLUGINS))
        load = await plugin.call("load", '{"key": "weights", "mb": 1}')
        events = await refresh_model_cache(plugin, tracker, load)
        assert [event.kind for event in events] == ["load"]
        recorder.record_cache_event(cache_event_to_json(events[0]))
    finally:
        await host.stop_all()


def _session_with_a_cache_query(sessions_dir: Path) -> Path:
    recorder = SessionRecorder.create(sessions_dir, plugins_dir=TEST_PLUGINS)
    try:
        asyncio.run(_record_with_a_cache_query(recorder))
    finally:
        recorder.close()
    return recorder.path


def test_aro_tuis_own_cache_queries_are_left_out_unless_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _session_with_a_cache_query(tmp_path)
    session = read_session(path)
    assert [(e.action, session.is_internal(e)) for e in session.exchanges] == [
        ("load", False),
        ("models", True),
    ]
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Replaying 1 exchange(s)" in out
    assert "Left out 1 model-cache query aro-tui made itself" in out
    assert "#2" not in out
    main(["replay", str(path), "--include-internal"])
    assert "#2 telemetry-alloc models:" in capsys.readouterr().out


def test_older_sessions_count_a_models_call_with_cache_events_as_internal(
    tmp_path: Path,
) -> None:
    path = _session_with_a_cache_query(tmp_path)
    old = [json.loads(line) for line in path.read_text().splitlines()]
    for record in old:
        record.pop("internal", None)  # as written before the field existed
    path.write_text("".join(json.dumps(record) + "\n" for record in old))
    session = read_session(path)
    assert [session.is_internal(e) for e in session.exchanges] == [False, True]
    session.cache_events.clear()
    assert [session.is_internal(e) for e in session.exchanges] == [False, False]


def test_the_sessions_list_counts_calls_without_aro_tuis_own_queries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _session_with_a_cache_query(tmp_path)
    assert main(["sessions", "--sessions-dir", str(tmp_path), "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["sessions"]
    assert (listed["exchanges"], listed["internal"], listed["errors"]) == (2, 1, 0)
    assert main(["sessions", "--sessions-dir", str(tmp_path)]) == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if path.stem in line]
    assert row.split()[4:6] == ["1", "0"]  # Calls, Errors


def test_a_recorded_action_name_no_request_can_carry_is_reported_not_raised(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "edited.jsonl"
    lines = session_path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "exchange")
    record = json.loads(lines[first])
    record["action"] = "ana\nlyze"
    lines[first] = json.dumps(record)
    edited.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(edited)]) == 3
    out = capsys.readouterr().out
    assert "invalid action name: 'ana\\nlyze'" in out
    assert "Summary: 2 equal, 0 different, 0 crashed, 1 missing; exit status 3" in out


def test_a_damaged_line_in_the_recording_is_named_not_passed_over(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "damaged.jsonl"
    lines = session_path.read_text().splitlines()
    lines.insert(2, "{not json")
    damaged.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(damaged)]) == 0
    captured = capsys.readouterr()
    assert f"aro-tui replay: warning: {damaged}: line 3: not JSON" in captured.err
    assert "Summary: 3 equal" in captured.out
    assert main(["replay", str(damaged), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["warnings"]) == 1 and document["warnings"][0].startswith("line 3: ")


def test_an_exchange_lost_from_the_recording_fails_the_replay(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exchange's line damaged: replay passed (exit 0) on the rest, though the end record
    counted it. A regression check must not pass over what it could not check."""
    damaged = tmp_path / "lost.jsonl"
    lines = session_path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if '"type":"exchange"' in line)
    lines[first] = "{not json"
    damaged.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(damaged)]) == 3
    captured = capsys.readouterr()
    assert "1 recorded exchange(s) could not be read back (#1: their lines" in captured.err
    assert "1 lost in the recording; exit status 3" in captured.out
    assert main(["replay", str(damaged), "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["lost"] == 1


def test_a_plugins_dir_that_is_not_there_is_a_usage_error(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in --plugins-dir made every exchange "missing", exit 3: a regression, to CI."""
    assert main(["replay", str(session_path), "--plugins-dir", str(tmp_path / "typo")]) == 2
    assert f"--plugins-dir {tmp_path / 'typo'} does not exist" in capsys.readouterr().err


def test_a_plugins_dir_too_long_to_look_at_is_a_usage_error(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 300-character --plugins-dir ended replay with an OSError traceback."""
    assert main(["replay", str(session_path), "--plugins-dir", str(tmp_path / ("a" * 300))]) == 2
    assert "cannot read it: File name too long" in capsys.readouterr().err


def test_a_recorded_body_file_name_with_a_nul_is_a_lost_body_not_a_crash(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "nul.jsonl"
    lines = session_path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"type":"exchange"' in line)
    record = json.loads(lines[index])
    record["response"] = {"size_bytes": 3, "file": "a\u0000b"}
    lines[index] = json.dumps(record)
    damaged.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(damaged)]) == 3  # that exchange: missing (its body is lost)
    assert "Traceback" not in capsys.readouterr().err


def _without_line_of(session_path: Path, number: int, damage: str | None) -> list[str]:
    """The recording's lines with exchange ``number``'s line replaced by ``damage``
    (deleted when None)."""
    lines = session_path.read_text().splitlines()
    index = next(
        i for i, line in enumerate(lines)
        if json.loads(line)["type"] == "exchange" and json.loads(line)["number"] == number
    )  # fmt: skip
    if damage is None:
        del lines[index]
    else:
        lines[index] = damage
    return lines


def test_an_exchange_deleted_cleanly_is_named_by_number_without_pointing_at_warnings(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line deleted whole leaves no warning, yet replay said "(see the warnings)", and
    did not say which exchange was lost."""
    deleted = tmp_path / "deleted.jsonl"
    deleted.write_text("\n".join(_without_line_of(session_path, 2, None)) + "\n")
    assert main(["replay", str(deleted)]) == 3
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    assert captured.err == (
        "1 recorded exchange(s) could not be read back (#2: their lines are damaged or gone): "
        "not replayed, reported as lost\n"
    )
    assert "Summary: 2 equal, 0 different, 0 crashed, 0 missing, 1 lost" in captured.out


def test_an_unknown_exchange_names_the_numbers_the_recording_holds(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With #2's line damaged it said "known: 1 to 2", though #3 was there and #2 was not."""
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(_without_line_of(session_path, 2, "{not json")) + "\n")
    assert main(["replay", str(damaged), "--exchange", "9"]) == 2
    assert "no exchange 9 (known: 1, 3)" in capsys.readouterr().err
    assert main(["replay", str(damaged), "--exchange", "3"]) == 0
    assert "#3 plugin-python-text analyze: equal" in capsys.readouterr().out


def test_a_copied_exchange_line_is_replayed_once_with_a_warning(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copied line ran its exchange twice, without a word."""
    copied = tmp_path / "copied.jsonl"
    lines = session_path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if json.loads(line).get("number") == 2)
    lines.insert(index + 1, lines[index])
    copied.write_text("\n".join(lines) + "\n")
    assert main(["replay", str(copied)]) == 0
    captured = capsys.readouterr()
    assert (
        f"warning: {copied}: line {index + 2}: exchange #2 again (first on line {index + 1}); "
        "skipped"
    ) in captured.err
    assert captured.out.count("#2 plugin-python-text hash:") == 1
    assert "Summary: 3 equal, 0 different, 0 crashed, 0 missing; exit status 0" in captured.out


def test_a_recorded_plugins_folder_that_is_gone_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replay fell back to the usual search without saying why the recorded folder was not
    used."""
    plugins = tmp_path / "Plugins"
    shutil.copytree(BUNDLED / TEXT, plugins / TEXT)
    path = record_session(tmp_path / "sessions", CALLS[:1], plugins)
    shutil.rmtree(plugins)
    main(["replay", str(path)])
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith(f"against the usual search path (the recorded {plugins} is gone)")


def test_an_exchange_the_recording_was_cut_off_in_fails_the_replay(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`head -c N SESSION.jsonl`: the warning said bytes were ignored, yet replay reported
    `lost: 0` and exit 0, though they began `{"type":"exchange",…,"number":3,…`."""
    data = session_path.read_bytes()
    cut = tmp_path / "trunc.jsonl"
    cut.write_bytes(data[: data.rindex(b'"number":3,') + 100])
    assert main(["replay", str(cut), "--json"]) == 3
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert (document["lost"], document["exit_code"]) == (1, 3)
    assert document["summary"] == {
        "equal": 2, "different": 0, "crashed": 0, "missing": 0, "skipped": 0
    }  # fmt: skip
    assert document["lost_numbers"] == [[3, 3]]
    [warning] = document["warnings"]
    assert ": exchange #3 was cut off; the last " in warning
    assert main(["replay", str(cut)]) == 3
    captured = capsys.readouterr()
    assert "1 recorded exchange(s) could not be read back (#3: " in captured.err
    assert "Summary: 2 equal, 0 different, 0 crashed, 0 missing, 1 lost" in captured.out


def _record_faulty(
    path: Path, calls: list[tuple[str, bytes, ExchangeStatus, bytes | None]]
) -> Path:
    """A closed recording at ``path`` of ``faulty`` exchanges (action, request, status,
    response) built without running the plugin: a cancelled call can be recorded as such."""
    recorder = SessionRecorder(path, plugins_dir=TEST_PLUGINS)
    for number, (action, request, status, response) in enumerate(calls, start=1):
        exchange = Exchange(number, "faulty", action, request)
        exchange.status, exchange.response_bytes = status, response
        exchange.finished_monotonic_s = 0.001
        if status is ExchangeStatus.CANCELLED:
            exchange.error = "cancelled by the user"
        recorder.record_exchange(exchange)
    recorder.close()
    return recorder.path


def test_a_recorded_cancelled_call_is_skipped_not_rerun(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cancelled hang was rerun (waiting out the timeout) and counted as a regression."""
    path = _record_faulty(
        tmp_path / "cancelled.jsonl",
        [
            ("echo", b'{"a": 1}', ExchangeStatus.OK, b'{"a": 1}'),
            ("hang", b"{}", ExchangeStatus.CANCELLED, None),
        ],
    )
    assert main(["replay", str(path), "--timeout", "3"]) == 0
    out = capsys.readouterr().out
    assert "#2 faulty hang: skipped: recorded as cancelled: no answer to compare\n" in out
    assert (
        "Summary: 1 equal, 0 different, 0 crashed, 0 missing, 1 skipped (nothing to compare); "
        "exit status 0"
    ) in out
    assert main(["replay", str(path), "--timeout", "3", "--json", "--exchange", "2"]) == 0
    document = json.loads(capsys.readouterr().out)
    [result] = document["results"]
    assert (result["outcome"], result["new_status"], result["diff"]) == ("skipped", None, None)
    assert result["note"] == "recorded as cancelled: no answer to compare"
    assert document["summary"]["skipped"] == 1


def _without_exchange_lines(path: Path, numbers: set[int] | None = None) -> Path:
    """``path`` rewritten without the lines of exchanges ``numbers`` (all when None)."""
    lines = [
        line
        for line in path.read_text().splitlines()
        if json.loads(line)["type"] != "exchange"
        or (numbers is not None and json.loads(line)["number"] not in numbers)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_recording_whose_exchanges_are_all_lost_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "has no exchanges to replay", exit 2, though the end record counted 22."""
    path = _without_exchange_lines(record_fake_exchanges(tmp_path / "gone.jsonl", 22))
    assert main(["replay", str(path)]) == 3
    captured = capsys.readouterr()
    assert "22 recorded exchange(s) could not be read back (#1–22: " in captured.err
    assert "0 missing, 22 lost in the recording; exit status 3" in captured.out
    assert main(["replay", str(path), "--json"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert (document["lost"], document["lost_numbers"]) == (22, [[1, 22]])


def test_a_recording_without_exchanges_or_lost_ones_stays_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = record_fake_exchanges(tmp_path / "empty.jsonl", 0)
    assert main(["replay", str(empty)]) == 2
    assert "has no exchanges to replay" in capsys.readouterr().err


def test_json_names_the_lost_exchanges_and_a_lost_one_asked_for_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--json said only "lost": 2; --exchange 2 said "no exchange 2 (known: …)", exit 2."""
    path = record_fake_exchanges(tmp_path / "gaps.jsonl", 6)
    _without_exchange_lines(path, {2, 4, 5})
    assert main(["replay", str(path), "--exchange", "2"]) == 3
    captured = capsys.readouterr()
    assert "1 recorded exchange(s) could not be read back (#2: " in captured.err
    assert "Summary: 0 equal, 0 different, 0 crashed, 0 missing, 1 lost" in captured.out
    assert main(["replay", str(path), "--exchange", "4", "--exchange", "5", "--json"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert (document["results"], document["lost_numbers"]) == ([], [[4, 5]])
    assert main(["replay", str(path), "--json"]) == 3  # "fake" is no plugin: missing
    assert json.loads(capsys.readouterr().out)["lost_numbers"] == [[2, 2], [4, 5]]
    assert main(["replay", str(path), "--exchange", "9"]) == 2
    assert "no exchange 9 (known: 1, 3, 6)" in capsys.readouterr().err


def test_exchanges_asked_for_run_once_each_in_the_recordings_order(
    session_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--exchange 3 --exchange 1 --exchange 1 ran #3, then #1 twice."""
    args = ["--exchange", "3", "--exchange", "1", "--exchange", "1"]
    assert main(["replay", str(session_path), *args]) == 0
    out = capsys.readouterr().out
    heads = [line.split(":")[0] for line in out.splitlines() if line.startswith("#")]
    assert heads == ["#1 plugin-python-text analyze", "#3 plugin-python-text analyze"]
    assert "Replaying 2 exchange(s)" in out


def test_times_compare_like_with_like_and_say_which(
    session_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded round trip was compared with... whichever the rerun had: replay printed
    "time 5.1 → 0.0 ms" where the dashboard compared action times."""
    assert main(["replay", str(session_path), "--exchange", "1", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    recorded = read_session(session_path).exchange(1).record
    assert result["time_measure"] == "action"
    assert result["old_duration_ms"] == recorded["action_ms"]
    older = tmp_path / "older.jsonl"  # recorded before plugins measured their action
    lines = session_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        record.pop("action_ms", None)
        record.pop("action_duration_s", None)
    older.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert main(["replay", str(older), "--exchange", "1", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)["results"]
    assert result["time_measure"] == "round_trip"
    assert result["old_duration_ms"] == recorded["duration_ms"]
    assert main(["replay", str(older), "--exchange", "1"]) == 0
    assert "    round-trip time " in capsys.readouterr().out


def test_the_dashboards_compare_uses_the_same_time_rule() -> None:
    from aro_tui.core.exchange_log import LogEntry
    from aro_tui.ui.comparison import compare_logged

    entry = LogEntry(1, "faulty", "echo", "ok", 5.0, 2, 2, 0, None, None, None, None, None)
    rerun = Exchange(1, "faulty", "echo", b"{}", finished_monotonic_s=0.002)
    rerun.status, rerun.response_bytes, rerun.action_duration_s = ExchangeStatus.OK, b"{}", 0.001
    comparison = compare_logged(entry, b"{}", rerun)
    assert comparison.outcome == "equal"
    assert (comparison.old_duration_ms, comparison.new_duration_ms) == (5.0, 2.0)
    assert comparison.time_measure == "round_trip"
