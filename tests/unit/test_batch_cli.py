"""``aro-tui batch``: results in input order, invalid lines counted, crashes survived."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import psutil
import pytest
from plugin_launch import plugin_children

from aro_tui.cli import main

REPO = Path(__file__).resolve().parents[2]
FAULTY = str(REPO / "tests" / "plugins" / "faulty")
HOSTILE = str(REPO / "tests" / "plugins" / "ui-hostile")


def _results(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_results_come_back_in_input_order_with_a_summary(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(500)))
    out = tmp_path / "out.jsonl"
    status = main(["batch", FAULTY, "echo", str(inputs), "-o", str(out), "--concurrency", "32"])
    assert status == 0
    results = _results(out)
    assert [r["index"] for r in results] == list(range(500))
    assert [r["response"] for r in results] == [{"n": n} for n in range(500)]
    assert all(r["status"] == "ok" and isinstance(r["duration_ms"], float) for r in results)
    summary, notes = capfd.readouterr().err.strip().splitlines()[-2:]
    assert summary.startswith("500 calls, 0 errors; latency p50 ")
    assert " ms, p95 " in summary and "; action p50 " in summary and " calls/s; " in summary
    assert summary.split("; ")[-1].startswith("plugin start ")
    # The faulty plugin prints at import: under the ARO runtime every answer would carry it.
    assert notes.startswith("ARO runtime notes: printed-to-stdout ×500; the first: ")
    assert all(r["runtime_notes"] == ["printed-to-stdout"] for r in results)


def test_invalid_lines_and_plugin_errors_are_counted_not_fatal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"text": "a b"}\n{broken\n\n{}\n')
    out = tmp_path / "out.jsonl"
    plugin = "plugin-python-text"
    assert main(["batch", plugin, "analyze", str(inputs), "-o", str(out), "--no-progress"]) == 1
    first, broken, empty = _results(out)
    assert first["status"] == "ok" and first["line"] == 1
    assert broken["status"] == "invalid_input" and broken["line"] == 2
    assert "line 2" in str(broken["error"])
    assert empty["status"] == "plugin_error" and empty["response"] == {
        "error": "Missing 'text' field"
    }
    assert "3 calls, 2 errors" in capfd.readouterr().err


def test_a_crash_mid_batch_fails_that_call_and_the_rest_run(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n{"crash": true}\n{"n": 3}\n{"n": 4}\n')
    out = tmp_path / "out.jsonl"
    args = ["batch", FAULTY, "crash-if", str(inputs), "-o", str(out), "--concurrency", "1"]
    assert main(args) == 1
    results = _results(out)
    assert [r["status"] for r in results] == ["ok", "crashed", "ok", "ok"]
    assert "exited with code 5" in str(results[1]["error"])
    assert results[3]["response"] == {"n": 4}
    assert "4 calls, 1 error" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("action", "first", "options", "first_error"),
    [
        ("crash-if", '{"crash": true}', [], "exited with code 5 during the call"),
        ("hang", '{"seconds": 60}', ["--timeout", "1"], "no answer within 1 s"),
    ],
)
def test_inputs_queued_behind_a_crash_or_a_timeout_are_sent_again_and_answered(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    action: str,
    first: str,
    options: list[str],
    first_error: str,
) -> None:
    """They were reported "crashed ... during the call" though the plugin never ran them
    (15 of 30 inputs at the default concurrency)."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(first + "\n" + "".join(f'{{"seconds": 0, "n": {n}}}\n' for n in range(30)))
    out = tmp_path / "out.jsonl"
    assert main(["batch", FAULTY, action, str(inputs), "-o", str(out), *options]) == 1
    results = _results(out)
    assert [r["line"] for r in results] == list(range(1, 32))
    assert first_error in str(results[0]["error"])
    assert [r["status"] for r in results[1:]] == ["ok"] * 30
    assert "31 calls, 1 error" in capfd.readouterr().err


def test_an_answer_on_several_lines_is_written_on_one_with_its_numbers_exact(
    tmp_path: Path,
) -> None:
    document = {"id": 123456789012345678901234567890, "text": "two\nlines", "nested": [[1.5]]}
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(json.dumps(document) + "\n" + json.dumps({"n": 1}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["batch", FAULTY, "pretty", str(inputs), "-o", str(out), "--no-progress"]) == 0
    first, second = _results(out)  # two inputs, two lines
    assert first["response"] == document  # json keeps big integers exact; orjson did not
    assert second["response"] == {"n": 1}


def test_a_signal_mid_batch_keeps_the_results_so_far_and_says_how_far_it_got(
    tmp_path: Path,
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"seconds": 0.02}\n' * 400)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", "batch", HOSTILE, "slow", str(inputs), "-o", str(out)],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    deadline_s = time.monotonic() + 30
    while (not out.exists() or out.read_bytes().count(b"\n") < 3) and time.monotonic() < deadline_s:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 128 + signal.SIGTERM
    assert process.stderr is not None
    err = process.stderr.read().decode()
    written = _results(out)
    assert f"stopped after {len(written)} of 400 inputs; their results are on {out}" in err
    assert [result["index"] for result in written] == list(range(len(written)))
    assert all(result["status"] == "ok" for result in written) and 3 <= len(written) < 400


def test_a_reader_that_stops_reading_ends_the_batch_quietly(tmp_path: Path) -> None:
    """`aro-tui batch ... | head`: exit status 141 (as after SIGPIPE), no traceback, and no
    plugin process left."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"bytes": 100000}\n' * 200)
    process = subprocess.Popen(
        [sys.executable, "-m", "aro_tui", "batch", FAULTY, "big", str(inputs), "--no-progress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(50).startswith(b'{"index":0,')
    harness = plugin_children(process.pid)
    process.stdout.close()
    assert process.wait(timeout=30) == 128 + signal.SIGPIPE
    assert b"Traceback" not in process.stderr.read()
    assert all(
        not child.is_running() or child.status() == psutil.STATUS_ZOMBIE for child in harness
    )


@pytest.mark.parametrize("where", ["missing/out.jsonl", "."])
def test_an_output_that_cannot_be_written_is_a_usage_error(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n")
    target = tmp_path / where
    assert main(["batch", FAULTY, "echo", str(inputs), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"aro-tui batch: error: cannot write the results to {target}: " in err


NOOP = str(REPO / "tests" / "plugins" / "noop")


def _batch(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "aro_tui", "batch", "--no-progress", *arguments]


@pytest.mark.parametrize("link", ["none", "symlink", "hard link"])
def test_an_output_that_is_the_input_file_is_refused_and_the_inputs_kept(
    tmp_path: Path, link: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-o` was opened (emptied) before the inputs were read: "0 calls, 0 errors", exit 0."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n{"n": 2}\n')
    output = inputs
    if link != "none":
        output = tmp_path / "out.jsonl"
        if link == "symlink":
            output.symlink_to(inputs)
        else:
            output.hardlink_to(inputs)
    assert main(["batch", NOOP, "echo", str(inputs), "-o", str(output)]) == 2
    assert capsys.readouterr().err == (
        f"aro-tui batch: error: -o {output} is the same file as {inputs}, the inputs: "
        "opening it for the results would erase them\n"
    )
    assert inputs.read_text() == '{"n": 1}\n{"n": 2}\n'


def test_results_that_would_go_to_the_input_file_are_refused(tmp_path: Path) -> None:
    """`-o` from stdin's own file, and `>>` on the input file (results read back as inputs)."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n')
    with inputs.open("rb") as stdin:
        run = subprocess.run(
            _batch(NOOP, "echo", "-", "-o", str(inputs)), cwd=REPO, stdin=stdin, capture_output=True
        )
    assert run.returncode == 2
    assert f"-o {inputs} is the same file as stdin, the inputs" in run.stderr.decode()
    with inputs.open("ab") as stdout:
        run = subprocess.run(
            _batch(NOOP, "echo", str(inputs)), cwd=REPO, stdout=stdout, stderr=subprocess.PIPE
        )
    assert run.returncode == 2
    assert f"stdout is the same file as {inputs}, the inputs" in run.stderr.decode()
    assert inputs.read_text() == '{"n": 1}\n'


def _read_line(stream: IO[bytes], timeout_s: float = 20.0) -> bytes:
    """The next line on ``stream``, failing rather than waiting past ``timeout_s``."""
    ready, _, _ = select.select([stream], [], [], timeout_s)
    assert ready, "no line within the time limit"
    return stream.readline()


def _batch_answering_a_first_line_on_stdin() -> subprocess.Popen[bytes]:
    """``batch noop echo -`` once it has answered ``{"n": 1}``, its stdin still open."""
    process = subprocess.Popen(
        _batch(NOOP, "echo", "-"),
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b'{"n": 1}\n')
    process.stdin.flush()
    first = json.loads(_read_line(process.stdout))
    assert (first["index"], first["line"], first["response"]) == (0, 1, {"n": 1})
    return process


def test_inputs_from_stdin_are_answered_as_they_arrive() -> None:
    process = _batch_answering_a_first_line_on_stdin()
    out, err = process.communicate(b'\n{broken\n{"n": 4}', timeout=30)  # no final newline
    assert process.returncode == 1
    rest = [json.loads(line) for line in out.splitlines()]
    assert [(r["index"], r["line"], r["status"]) for r in rest] == [
        (1, 3, "invalid_input"),
        (2, 4, "ok"),
    ]
    assert "3 calls, 1 error" in err.decode()


def test_a_signal_while_stdin_keeps_the_batch_waiting_stops_it() -> None:
    """The read of stdin happens off the event loop: SIGTERM is not held up until the next
    line comes, and the result already in is reported."""
    process = _batch_answering_a_first_line_on_stdin()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)  # stdin is still open
    assert process.returncode == 128 + signal.SIGTERM
    assert "aro-tui batch: stopped after 1 input; their results are on stdout" in err.decode()


def test_the_help_says_inputs_can_come_from_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    assert "or - to read them from stdin" in " ".join(capsys.readouterr().out.split())


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("where", ["-o", "stdout", "closed stdout"])
def test_results_that_cannot_be_written_are_one_line_and_exit_74(
    tmp_path: Path, where: str
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n' * 3)
    arguments = _batch(NOOP, "echo", str(inputs))
    if where == "-o":
        arguments += ["-o", "/dev/full"]
    if where == "closed stdout":  # as `aro-tui batch ... >&-` in a shell
        arguments = ["sh", "-c", 'exec "$@" >&-', "sh", *arguments]
    with Path("/dev/full").open("wb") as full:
        run = subprocess.run(
            arguments, cwd=REPO, stdout=full if where == "stdout" else None, stderr=subprocess.PIPE
        )
    reason = {
        "-o": "cannot write output to /dev/full: No space left on device",
        "stdout": "cannot write output: No space left on device",
        "closed stdout": "cannot write output: stdout is closed",
    }[where]
    assert (run.returncode, run.stderr.decode()) == (74, f"aro-tui batch: error: {reason}\n")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_write_error_part_way_stops_the_plugin() -> None:
    """`producer | aro-tui batch ... - > full-disk`: the first result fails to be written
    while stdin is still open; the batch ends, its plugin with it."""
    with Path("/dev/full").open("wb") as full:
        process = subprocess.Popen(
            _batch(HOSTILE, "slow", "-"),
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=full,
            stderr=subprocess.PIPE,
        )
    assert process.stdin is not None
    process.stdin.write(b'{"seconds": 0.5}\n')
    process.stdin.flush()
    deadline_s = time.monotonic() + 20
    while not (children := plugin_children(process.pid)):
        assert time.monotonic() < deadline_s, "the plugin never started"
        time.sleep(0.02)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 74
    assert err.decode() == "aro-tui batch: error: cannot write output: No space left on device\n"
    assert all(
        not child.is_running() or child.status() == psutil.STATUS_ZOMBIE for child in children
    )


def test_a_typed_action_is_shown_as_typed_in_the_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The bar read the action's name as Rich markup: `[/x]` ended the batch with a MarkupError,
    and an escape sequence in it reached the terminal."""
    monkeypatch.setenv("FORCE_COLOR", "1")  # draw the bar as on a terminal
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n")
    out = tmp_path / "out.jsonl"
    assert main(["batch", NOOP, "[/x]\x1b]0;pwned\x07", str(inputs), "-o", str(out)]) == 2
    err = capfd.readouterr().err
    assert "noop [/x]␛]0;pwned␇" in err and "pwned\x07" not in err
    assert 'plugin noop has no action "[/x]␛]0;pwned␇"' in err  # and none was sent
    assert out.read_bytes() == b""


async def test_lines_split_across_reads_keep_their_numbers() -> None:
    """stdin arrives in pieces that need not end at a line's end."""
    from aro_tui.commands.batch import input_lines

    async def pieces() -> AsyncIterator[bytes]:
        for piece in [b'{"a"', b": 1}\r\n\n", b"  \n{", b'"b": ', b"2}\n \t", b"{}"]:
            yield piece

    batches = [batch async for batch in input_lines(pieces())]
    assert [line for batch in batches for line in batch] == [
        (1, b'{"a": 1}', b""),
        (4, b'{"b": 2}', b""),
        (5, b"{}", b" \t"),  # what was stripped from its start: its column in an error
    ]


def test_the_summary_writes_long_latencies_without_an_exponent() -> None:
    """A 40 s model call read "latency p50 3.35e+03 ms"."""
    from aro_tui.commands.batch import BatchSummary

    summary = BatchSummary(count=3, ok=3, latencies_ms=[3350.0, 5500.0, 0.0206], wall_s=9.0)
    text = summary.text()
    assert "latency p50 3,350 ms, p95 5,500 ms" in text
    fast = BatchSummary(count=1, ok=1, latencies_ms=[0.0206], wall_s=1.0).text()
    assert "latency p50 0.0206 ms" in fast


def test_the_summarys_percentiles_are_nearest_rank() -> None:
    """p95 of 20 calls was the slowest, and p50 of two calls the larger: one rank too high."""
    from aro_tui.commands.batch import BatchSummary

    twenty = [float(ms) for ms in range(10, 201, 10)]
    summary = BatchSummary(count=20, ok=20, latencies_ms=twenty, wall_s=3.0).as_dict()
    assert (summary["latency_p50_ms"], summary["latency_p95_ms"]) == (100.0, 190.0)
    two = BatchSummary(count=2, ok=2, latencies_ms=[5.0, 1.0], wall_s=1.0).as_dict()
    assert two["latency_p50_ms"] == 1.0


def test_a_slow_batch_says_how_many_calls_a_second_not_zero() -> None:
    """Four model calls over 18 s read "0 calls/s" (and 0.2 in --json)."""
    from aro_tui.commands.batch import BatchSummary

    slow = BatchSummary(count=4, ok=4, latencies_ms=[4718.0] * 4, wall_s=18.0)
    assert slow.text().endswith("; 0.222 calls/s")
    assert slow.as_dict()["calls_per_s"] == 0.222
    fast = BatchSummary(count=12_345, ok=12_345, latencies_ms=[0.1], wall_s=1.0)
    assert fast.text().endswith("; 12,345 calls/s")
    # Trailing zeros kept, no exponent ("2 calls/s", "9.26e-05 calls/s").
    two = BatchSummary(count=2, ok=2, latencies_ms=[469.0] * 2, wall_s=1.0)
    assert two.text().endswith("; 2.00 calls/s")
    rare = BatchSummary(count=1, ok=1, latencies_ms=[1.0], wall_s=10_800.0)
    assert rare.text().endswith("; 0.000093 calls/s")


def test_a_bom_first_and_bytes_that_are_not_utf8_are_read_as_such(tmp_path: Path) -> None:
    inputs = tmp_path / "windows.jsonl"
    bom = b"\xef\xbb\xbf"  # line 3's: another file joined with cat
    inputs.write_bytes(bom + b'{"n": 1}\r\n{"n": "\xff"}\r\n' + bom + b'{"n": 3}\r\n')
    out = tmp_path / "out.jsonl"
    assert main(["batch", FAULTY, "echo", str(inputs), "-o", str(out)]) == 1
    first, bad, third = _results(out)
    assert (first["status"], first["response"]) == ("ok", {"n": 1})
    assert bad["status"] == "invalid_input"
    assert bad["error"] == "line 2 is not UTF-8: byte 0xff at offset 7"
    assert third["status"] == "ok"


def test_inputs_from_a_pipe_are_read_as_they_arrive_and_a_missing_file_is_named(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A FIFO or <(...) was refused as "not a file"; a missing file was called "not a file"."""
    import os
    import threading

    fifo = tmp_path / "inputs.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("w") as writer:
            writer.write("".join(json.dumps({"n": n}) + "\n" for n in range(3)))

    threading.Thread(target=feed, daemon=True).start()
    out = tmp_path / "out.jsonl"
    assert main(["batch", NOOP, "echo", str(fifo), "-o", str(out), "--no-progress"]) == 0
    assert [r["response"] for r in _results(out)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    capfd.readouterr()
    assert main(["batch", NOOP, "echo", str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl does not exist" in capfd.readouterr().err
    assert main(["batch", NOOP, "echo", str(tmp_path)]) == 2
    assert "is a folder, not a file of inputs" in capfd.readouterr().err


def test_stderr_that_is_not_a_terminal_gets_no_blank_progress_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n')
    assert main(["batch", NOOP, "echo", str(inputs), "-o", str(tmp_path / "out.jsonl")]) == 0
    assert capfd.readouterr().err.startswith("1 call, 0 errors;")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_inputs_file_that_cannot_be_read_is_a_usage_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """It ended batch with a PermissionError traceback, exit 1."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n")
    inputs.chmod(0)
    assert main(["batch", NOOP, "echo", str(inputs)]) == 2
    assert f"cannot read {inputs}: Permission denied" in capfd.readouterr().err


def test_calls_per_second_leave_out_the_plugins_start_which_is_given_apart(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A model plugin's start (its imports, seconds) was counted in its calls per second: one
    call after a 1 s start read "0.9 calls/s" however fast the call was."""
    from tests.functional.helpers import write_plugin_folder

    source = (
        "import time\n"
        "time.sleep(1.0)  # a slow import, as torch's\n"
        "def aro_plugin_info():\n"
        "    return {'name': 'slow-start', 'actions': ['noop']}\n"
        "def aro_action_noop(input_json):\n"
        "    return '{}'\n"
    )
    plugin = write_plugin_folder(tmp_path, "slow-start", source)
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("{}\n" * 4)
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(plugin), "noop", str(inputs), "-o", str(out)]) == 0
    summary = capfd.readouterr().err.strip().splitlines()[-1]
    rate, start = summary.split("; ")[-2:]
    assert float(rate.removesuffix(" calls/s").replace(",", "")) > 10
    assert start.startswith("plugin start ") and start.endswith(" ms")
    assert float(start.removeprefix("plugin start ").removesuffix(" ms").replace(",", "")) >= 1000


def test_a_line_holding_only_a_bom_is_blank_and_skipped(tmp_path: Path) -> None:
    """Once its BOM was taken off such a line was empty, yet it was reported invalid_input
    (a BOM-only file: 1 error, exit 1) where blank lines are skipped."""
    from aro_tui.commands.batch import _count_lines

    bom = b"\xef\xbb\xbf"
    only_a_bom = tmp_path / "bom.jsonl"
    only_a_bom.write_bytes(bom)
    out = tmp_path / "out.jsonl"
    assert main(["batch", NOOP, "echo", str(only_a_bom), "-o", str(out)]) == 0
    assert out.read_bytes() == b""
    joined = tmp_path / "joined.jsonl"  # files joined with cat, one of them empty
    joined.write_bytes(b'{"n": 1}\r\n' + bom + b"\r\n" + bom + b' {"n": 3}\r\n' + bom)
    assert main(["batch", NOOP, "echo", str(joined), "-o", str(out)]) == 0
    results = _results(out)
    assert [(r["index"], r["line"], r["response"]) for r in results] == [
        (0, 1, {"n": 1}),
        (1, 3, {"n": 3}),
    ]
    assert _count_lines(joined) == 2  # the progress bar's total, and "stopped after N of M"


def test_dash_for_output_means_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`-o -` wrote a file named `-`, where `-` means stdin for the inputs."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n{"n": 2}\n')
    run = subprocess.run(
        _batch(NOOP, "echo", str(inputs), "-o", "-"), cwd=tmp_path, capture_output=True
    )
    assert run.returncode == 0
    assert [json.loads(line)["response"] for line in run.stdout.splitlines()] == [
        {"n": 1},
        {"n": 2},
    ]
    assert list(tmp_path.iterdir()) == [inputs]
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    assert "results file, or - for stdout" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("where", ["-o", "stdout"])
def test_finished_results_reach_the_file_while_the_batch_runs(tmp_path: Path, where: str) -> None:
    """A file (or a redirected stdout) is block-buffered: with 0.5 s calls it showed no line
    for the whole batch, and a batch killed with SIGKILL left none of its finished results."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"seconds": 0.2}\n' * 200)  # 40 s of calls, in order
    out = tmp_path / "out.jsonl"
    out.touch()
    arguments = _batch(HOSTILE, "slow", str(inputs))
    if where == "-o":
        arguments += ["-o", str(out)]
    with out.open("ab") as stdout:
        process = subprocess.Popen(
            arguments,
            cwd=REPO,
            stdout=stdout if where == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        deadline_s = time.monotonic() + 15
        while out.read_bytes().count(b"\n") < 3:
            assert time.monotonic() < deadline_s, "no 3 results within 15 s"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(timeout=10)
    written = _results(out)
    assert 3 <= len(written) < 200
    assert [result["index"] for result in written] == list(range(len(written)))
    assert all(result["status"] == "ok" for result in written)


@pytest.mark.parametrize(
    ("action", "suggestion"),
    [("nosuchaction", ""), ("ech", "; did you mean echo?")],
)
def test_an_action_the_plugin_lacks_stops_the_batch_before_any_line_is_sent(
    action: str, suggestion: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A mistyped action ran every line, each answered "Unknown action": 10,000 lines, 10,000
    errors. It is a usage error once the plugin has started and said what it has."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n' * 1000)
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"earlier": "results"}\n')  # a CI rerun with a typo emptied them
    assert main(["batch", NOOP, action, str(inputs), "-o", str(out)]) == 2
    assert capfd.readouterr().err == (
        f'aro-tui batch: error: plugin noop has no action "{action}" '
        f"(its actions: echo, noop, passthrough){suggestion}\n"
    )
    assert out.read_bytes() == b'{"earlier": "results"}\n'


def test_a_batch_replaces_what_its_output_file_held(tmp_path: Path) -> None:
    """-o is opened without emptying it (see above): this run's results replace the last
    run's, also when there are none."""
    out = tmp_path / "out.jsonl"
    inputs = tmp_path / "in.jsonl"
    out.write_bytes(b'{"stale": 1}\n' * 50)
    inputs.write_text('{"n": 1}\n{"n": 2}\n')
    assert main(["batch", NOOP, "echo", str(inputs), "-o", str(out), "--no-progress"]) == 0
    assert [r["response"] for r in _results(out)] == [{"n": 1}, {"n": 2}]
    inputs.write_text("")
    assert main(["batch", NOOP, "echo", str(inputs), "-o", str(out), "--no-progress"]) == 0
    assert out.read_bytes() == b""


def test_an_undeclared_action_function_or_a_dashed_name_runs(tmp_path: Path) -> None:
    """What the harness can run is not refused: a function aro_plugin_info() leaves out, and
    an action named with a dash for a function named with an underscore."""
    out = tmp_path / "out.jsonl"
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"n": 1}\n')
    for action in ("undeclared", "crash-if"):
        assert main(["batch", FAULTY, action, str(inputs), "-o", str(out), "--no-progress"]) == 0
        assert [r["status"] for r in _results(out)] == ["ok"]


def test_an_invalid_line_is_placed_by_the_files_line_and_column_alone(tmp_path: Path) -> None:
    """It read "line 6 is not valid JSON: unexpected end of data: line 1 column 6 (char 5)":
    two line numbers, orjson's always 1."""
    inputs = tmp_path / "in.jsonl"
    bom = "\ufeff"
    inputs.write_text('{"n": 1}\n\n\n\n\n{"a":\n   {"a" x}\n' + bom + ' {bad\n{"é": x}')
    out = tmp_path / "out.jsonl"
    assert main(["batch", NOOP, "echo", str(inputs), "-o", str(out), "--no-progress"]) == 1
    assert [(r["line"], r.get("error")) for r in _results(out)] == [
        (1, None),
        (6, "line 6, column 6: not valid JSON: unexpected end of data"),
        (7, "line 7, column 9: not valid JSON: unexpected character, expected ':' after key"),
        (8, "line 8, column 4: not valid JSON: unexpected character, expected a string key"),
        (9, "line 9, column 7: not valid JSON: unexpected character, expected a JSON value"),
    ]


def test_json_that_orjson_refuses_but_a_plugin_reads_is_sent(tmp_path: Path) -> None:
    """`1e999` is JSON (Python's json reads it as inf) and so is a lone surrogate escape;
    the editor sent them, batch refused them as "not valid JSON". NaN is still refused."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"a": 1e999}\n"\\ud800"\n[NaN]\n')
    out = tmp_path / "out.jsonl"
    assert main(["batch", NOOP, "passthrough", str(inputs), "-o", str(out), "--no-progress"]) == 1
    results = _results(out)
    # Sent, both: the surrogate's echo is a protocol error (no UTF-8 text holds it), not a
    # line refused unsent.
    assert [r["status"] for r in results] == ["ok", "protocol_error", "invalid_input"]
    assert "1e999" in out.read_text().splitlines()[0]
    assert "not valid JSON" in str(results[2]["error"])
