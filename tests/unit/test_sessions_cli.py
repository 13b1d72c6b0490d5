"""``aro-tui sessions`` and ``aro-tui open`` on real recordings."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from cli_runs import run_piped
from rich.console import Console
from rich.table import Table
from rich.text import Text
from session_recording import TEXT, record_fake_exchanges, record_session

from aro_tui.cli import main
from aro_tui.core.host.exchange import Exchange, ExchangeStatus
from aro_tui.core.plugins.problem import clean_text
from aro_tui.core.session.reader import read_session
from aro_tui.core.session.recorder import SessionRecorder
from aro_tui.core.session.store import prune_sessions
from aro_tui.core.sizes import format_size


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    folder = tmp_path / "aro-tui" / "sessions"
    record_session(folder, [(TEXT, "hash", '{"text": "a"}'), (TEXT, "analyze", "{}")])
    return folder


def test_sessions_table(sessions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions"]) == 0
    out = capsys.readouterr().out
    [path] = sessions.glob("*.jsonl")
    assert path.stem in out
    for column in ("Id", "Started", "Plugins", "Calls", "Errors", "Size"):
        assert column in out
    row = next(line for line in out.splitlines() if path.stem in line)
    assert re.search(r"plugin-pyt\S*\s+2\s+1\s+\d+\.\d KiB", row), row


def test_sessions_json(sessions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "aro-tui/sessions/1"
    assert document["sessions_dir"] == str(sessions)
    [entry] = document["sessions"]
    assert entry["plugins"] == [TEXT]
    assert (entry["exchanges"], entry["errors"], entry["complete"]) == (2, 1, True)
    assert entry["size_bytes"] == Path(entry["path"]).stat().st_size


def test_no_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--sessions-dir", str(tmp_path)]) == 0
    assert "No sessions in" in capsys.readouterr().out


def test_open_summarises_a_session_and_its_damage(
    sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [path] = sessions.glob("*.jsonl")
    data = path.read_bytes()
    last_exchange = data.rindex(b'{"type":"exchange"')
    path.write_bytes(data[: last_exchange + 40])  # aro-tui killed while writing it
    assert main(["open", "last", "--summary"]) == 0
    out = capsys.readouterr().out
    assert f"Session {path.stem}" in out
    assert "cut off" in out
    assert "1 exchanges (0 not ok)" in out
    assert "hash" in out
    assert "warning: line" in out and "ends mid-record" in out


def test_open_unknown_session_exits_2(sessions: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["open", "nope"]) == 2
    assert "no session 'nope'" in capsys.readouterr().err


def test_open_help_names_read_only_dashboard_and_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["open", "--help"])
    out = capsys.readouterr().out
    assert "read-only" in out and "--summary" in out


def test_a_session_being_recorded_is_not_called_cut_off_nor_pruned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A running dashboard's session was listed as cut off (``*``), and a second dashboard's
    pruning could delete it."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    folder = tmp_path / "aro-tui" / "sessions"
    script = (
        "import sys; from pathlib import Path\n"
        "from aro_tui.core.session.recorder import SessionRecorder\n"
        "recorder = SessionRecorder(Path(sys.argv[1]) / 'live.jsonl')\n"
        "print('recording', flush=True); sys.stdin.read()\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"recording\n"
        assert main(["sessions", "--json"]) == 0
        [entry] = json.loads(capsys.readouterr().out)["sessions"]
        assert (entry["complete"], entry["recording"]) == (False, True)
        assert main(["sessions"]) == 0
        out = capsys.readouterr().out
        assert "+ still being recorded by a running aro-tui" in out and "cut off" not in out
        assert prune_sessions(folder, 0, None) == [] and (folder / "live.jsonl").exists()
    finally:
        writer.kill()
        writer.wait()
    assert main(["sessions"]) == 0
    out = capsys.readouterr().out
    assert "* cut off: aro-tui ended without closing it" in out and "+ still" not in out
    assert prune_sessions(folder, 0, None) == [folder / "live.jsonl"]


def test_a_copied_session_is_listed_by_the_id_that_opens_it(
    sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy kept its header's id in the listing, which ``open`` then could not find."""
    [original] = sessions.glob("*.jsonl")
    shutil.copy(original, sessions / "golden.jsonl")
    assert main(["sessions", "--json"]) == 0
    ids = sorted(entry["id"] for entry in json.loads(capsys.readouterr().out)["sessions"])
    assert ids == sorted([original.stem, "golden"])
    assert main(["open", "golden", "--summary"]) == 0
    assert "Session golden (" in capsys.readouterr().out


def test_a_missing_file_or_a_file_for_a_folder_is_named_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each once said there was no session of that name in the sessions folder (or listed
    "No sessions in" a plain file, with status 0)."""
    missing = tmp_path / "nowhere" / "s.jsonl"
    assert main(["replay", str(missing), "--sessions-dir", str(tmp_path)]) == 2
    assert f"no such file: {missing}" in capsys.readouterr().err
    assert main(["open", "golden.jsonl", "--summary", "--sessions-dir", str(tmp_path)]) == 2
    assert "no such file: golden.jsonl" in capsys.readouterr().err
    assert main(["open", str(tmp_path), "--summary"]) == 2
    assert f"{tmp_path} is not a session file" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.write_text("")
    assert main(["sessions", "--sessions-dir", str(plain)]) == 2
    assert f"{plain} is not a folder" in capsys.readouterr().err


def test_a_session_path_that_cannot_be_read_is_a_usage_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    too_long = str(tmp_path / ("z" * 300))
    for argv in (
        ["replay", too_long],
        ["open", "--summary", too_long],
        ["sessions", "--sessions-dir", too_long],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "error: cannot read" in err and "File name too long" in err, err


def test_a_named_sessions_folder_that_is_not_there_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It listed "No sessions", exit 0: a typo in --sessions-dir went unnoticed."""
    assert main(["sessions", "--sessions-dir", str(tmp_path / "typo")]) == 2
    assert f"{tmp_path / 'typo'} does not exist" in capsys.readouterr().err


def _spilled(folder: Path, count: int = 3) -> Path:
    """A closed recording whose every body went to the side folder."""
    return record_fake_exchanges(folder / "spilled.jsonl", count, spill_bytes=1)


def test_the_summary_names_lost_and_damaged_side_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deleted side file, or the whole folder, passed unmentioned (exit 0, no warning)."""
    path = _spilled(tmp_path)
    assert main(["open", str(path), "--summary"]) == 0
    assert "warning" not in capsys.readouterr().out
    (tmp_path / "spilled.bodies" / "2.response").unlink()
    (tmp_path / "spilled.bodies" / "3.request").write_bytes(b"{")
    assert main(["open", str(path), "--summary"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert warnings == [
        "warning: exchange #2: its recorded response is lost (spilled.bodies/2.response is "
        "missing)",
        "warning: exchange #3: its recorded request is damaged (spilled.bodies/3.request "
        "holds 1 bytes, recorded 13)",
    ]
    shutil.rmtree(tmp_path / "spilled.bodies")
    assert main(["open", str(path), "--summary"]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert warnings == [
        "warning: the side folder spilled.bodies is missing: the 6 spilled bodies of "
        "exchange(s) #1–3 are lost"
    ]


def test_the_summary_counts_a_copied_line_once_and_names_a_deleted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copied line was listed twice ("recorded 4 exchanges" where the end record said 3);
    a deleted one was not mentioned."""
    path = _spilled(tmp_path)
    lines = path.read_text().splitlines()
    exchange_lines = [i for i, line in enumerate(lines) if '"type":"exchange"' in line]
    lines[exchange_lines[0]] = lines[exchange_lines[2]]  # #3 where #1 was, then #2, #3
    path.write_text("\n".join(lines) + "\n")
    assert main(["open", str(path), "--summary"]) == 0
    out = capsys.readouterr().out
    assert "recorded  2 exchanges (0 not ok)" in out
    assert [line for line in out.splitlines() if "warning" in line] == [
        "warning: line 3: exchange #2 after #3 (line 2), out of order; read in its place",
        "warning: line 4: exchange #3 again (first on line 2); skipped",
        "warning: 1 exchange(s) missing from the recording: #1",
    ]


def _fake_exchange(number: int, plugin: str, body_bytes: int = 2) -> Exchange:
    exchange = Exchange(number, plugin, "echo", b'{"t": "%s"}' % (b"x" * body_bytes))
    exchange.status = ExchangeStatus.OK
    exchange.response_bytes = b"{}"
    return exchange


@pytest.mark.parametrize("columns", [60, 80, 140])
def test_the_sessions_table_never_cuts_a_size_or_its_mark_and_gives_plugins_the_room(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    columns: int,
) -> None:
    """At 80 columns a session being recorded showed ``601.0 Ki…``, its ``+`` cut off; the
    plugin names were cut at 12 characters at any width (``aa-small, p…``)."""
    monkeypatch.setenv("COLUMNS", str(columns))
    folder = tmp_path / "sessions"
    closed = SessionRecorder(folder / "20260101-000000-aaaaaa.jsonl")
    plugins = ["aa-small", "plugin-python-text", "plugin-python-vision"]
    for number, plugin in enumerate(plugins, 1):
        closed.record_exchange(_fake_exchange(number, plugin))
    closed.close()
    live = SessionRecorder(folder / "20260101-000001-bbbbbb.jsonl")  # holds its lock open
    try:
        for number in range(1, 401):
            live.record_exchange(_fake_exchange(number, "aa-small", body_bytes=900))
        deadline = time.monotonic() + 30
        while live.path.stat().st_size < 400 * 900 and time.monotonic() < deadline:
            time.sleep(0.01)  # the writer thread is still writing the queued records
        assert main(["sessions", "--sessions-dir", str(folder)]) == 0
    finally:
        live.close()
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= columns
    header = next(line for line in lines if line.startswith("Id "))
    assert header.split()[-1] == "Size"  # left out before any figure is cut
    live_row = next(line for line in lines if line.startswith("20260101-000001-bbbbbb"))
    assert re.search(r"\s\d+\.\d KiB\+$", live_row), live_row
    assert any(line.strip() == "+ still being recorded by a running aro-tui" for line in lines)
    closed_row = next(line for line in lines if line.startswith("20260101-000000-aaaaaa"))
    if columns >= 140:
        assert ", ".join(plugins) in closed_row
    elif "Plugins" in header:
        assert "aa-small, " in closed_row and "…" in closed_row


def test_the_summary_keeps_one_exchange_in_memory_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A recording of 62,482 exchanges (260 MB) took 800 MB and half a minute before the
    summary printed a line: every exchange was held, stderr tail and all, and then laid out
    as one table."""
    path = tmp_path / "tails.jsonl"
    recorder = SessionRecorder(path)
    for number in range(1, 129):
        exchange = _fake_exchange(number, "plugin-python-text")
        for _ in range(32):  # a 256 KiB tail, as much as an exchange keeps
            exchange.keep_stderr_line(f"{number} " + "x" * 8_000)
        recorder.record_exchange(exchange)
    recorder.close()
    assert path.stat().st_size > 32_000_000
    tracemalloc.start()
    try:
        assert main(["open", str(path), "--summary"]) == 0
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = capsys.readouterr().out
    assert "recorded  128 exchanges (0 not ok)" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("│")] == [
        str(number) for number in range(1, 129)
    ]
    # One line at a time (orjson takes ~12 times a line's size to parse it), not all 32 MB.
    assert peak_bytes < 12_000_000


@pytest.mark.parametrize("columns", [30, 80, 200])
def test_the_summary_table_is_drawn_as_rich_draws_the_whole_table(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    columns: int,
) -> None:
    """Rows are drawn one by one as they are read; the table is the one rich would draw of
    all of them at once, names that wrap, wide characters and a column folded included."""
    monkeypatch.setenv("COLUMNS", str(columns))
    path = tmp_path / "names.jsonl"
    recorder = SessionRecorder(path)
    names = ["plugin-python-text", "日本語のプラグイン", "two words", "x" * 50, "\x1b[31mred"]
    for number, plugin in enumerate(names, 1):
        exchange = _fake_exchange(number, plugin, body_bytes=number * 3000)
        exchange.status = ExchangeStatus.OK if number % 2 else ExchangeStatus.PLUGIN_ERROR
        exchange.sent_monotonic_s, exchange.finished_monotonic_s = 1.0, 1.0 + number * 1.5
        recorder.record_exchange(exchange)
    recorder.close()
    expected = Table()
    for column in ("#", "Plugin", "Action", "Status", "Time ms", "Request", "Response"):
        justify = "left" if column in {"Plugin", "Action", "Status"} else "right"
        expected.add_column(column, justify=justify, overflow="fold")
    for exchange in read_session(path).exchanges:
        assert exchange.duration_ms is not None and exchange.response is not None
        expected.add_row(
            str(exchange.number),
            Text(clean_text(exchange.plugin)),
            exchange.action,
            exchange.status,
            f"{exchange.duration_ms:.1f}",
            format_size(exchange.request.size_bytes),
            format_size(exchange.response.size_bytes),
        )
    drawn_by_rich = io.StringIO()
    Console(file=drawn_by_rich, width=columns).print(expected)
    assert main(["open", str(path), "--summary"]) == 0
    assert drawn_by_rich.getvalue() in capsys.readouterr().out


LONG_NAMES = ["faulty", "plugin-python-" + "-".join(["transformer"] * 12), "plugin-python-text"]


def _long_named_recording(folder: Path) -> Path:
    recorder = SessionRecorder(folder / "20260101-000000-aaaaaa.jsonl")
    for number, plugin in enumerate(LONG_NAMES, 1):
        recorder.record_exchange(_fake_exchange(number, plugin))
    recorder.close()
    return recorder.path


def test_sessions_to_a_pipe_keep_each_row_whole_on_one_line(tmp_path: Path) -> None:
    """`aro-tui sessions | cat` showed `faulty, plugi…`: fitted to 80 columns, the names were
    cut where grep and awk needed them whole."""
    path = _long_named_recording(tmp_path / "sessions")
    result = run_piped(["sessions", "--sessions-dir", str(path.parent)])
    assert result.returncode == 0, result.stderr
    [row] = [line for line in result.stdout.splitlines() if line.startswith(path.stem)]
    assert ", ".join(LONG_NAMES) in row and "…" not in result.stdout
    assert row.split()[-4:-2] == ["3", "0"]  # Calls, Errors (then the size): none left out


def test_a_summary_to_a_pipe_keeps_each_exchange_on_one_line(tmp_path: Path) -> None:
    """`aro-tui open last --summary | cat` split names over two lines, as `list` did."""
    path = _long_named_recording(tmp_path / "sessions")
    result = run_piped(["open", str(path), "--summary"])
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split()[1:4] for row in rows] == [
        [str(number), "│", name] for number, name in enumerate(LONG_NAMES, 1)
    ]


def test_a_summary_counts_the_exchange_the_recording_was_cut_off_in(
    sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    [path] = sessions.glob("*.jsonl")
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b'"number":2,') + 60])  # aro-tui killed writing #2
    assert main(["open", "last", "--summary"]) == 0
    out = capsys.readouterr().out
    assert "exchange #2 was cut off; the last " in out
    assert "warning: 1 exchange(s) missing from the recording: #2" in out


def test_the_summary_gives_the_time_the_log_shows(
    sessions: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its Time column was the service time (1.3 ms) where the log shows the action's own
    (119 µs): two figures for one call."""
    import orjson

    [path] = sessions.glob("*.jsonl")
    lines = path.read_bytes().splitlines()
    for index, line in enumerate(lines):
        record = orjson.loads(line)
        if record.get("type") == "exchange" and record.get("action") == "hash":
            record.update(action_ms=0.25, duration_ms=7.5)
            lines[index] = orjson.dumps(record)
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["open", "last", "--summary"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if " hash " in line]
    assert " 0.2 " in row and "7.5" not in row
